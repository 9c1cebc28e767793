"""Two towers -> one bundle with two signatures (``embed_image``, ``embed_text``), float32 and int8.

Each signature has one input (role ``image`` or ``text``, with the preprocessing it was trained
with), one output ``embedding`` and the task ``embed``. The towers are converted as their batch-1,
RNN-unrolled copies in a child process (:mod:`converters.retrieval._export_worker`): builtin ops
only, no WHILE loop (full-int8 calibration of a loop RNN crashes TF 2.21's converter). Golden
vectors are recorded per signature; the parity report compares the converted embeddings with
Keras and, for int8, with the float32 model (cosine, mean and minimum) and gives text-to-image
recall on the held-out pairs for each. Every bundle is loaded back through ``edge_sdk`` before it
is kept.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from converters.convert import INT8_MODES, _run_worker, calibration_subset
from converters.errors import ConversionError
from converters.retrieval.data import PairData
from converters.retrieval.metrics import cosine_stats, recall_at_k, relevance
from converters.retrieval.model import inference_towers
from converters.retrieval.train import TrainedDualEncoder
from converters.tflite_inspect import OpSet, inspect_ops, signature_io
from converters.validate import dequantize, quantize
from edge_sdk.bundle import GoldenCase, InputSpec, Manifest, ModelInfo, OutputSpec, SignatureSpec, write_bundle
from edge_sdk.distribution import version as edge_sdk_version
from edge_sdk.preprocess import Tokenizer, normalize_image, prepare_image

__all__ = ["EXPORT_MODES", "SIGNATURES", "ExportedDualEncoder", "SignatureRunner", "export_dual_encoder"]

_log = logging.getLogger(__name__)
SIGNATURES = {"embed_image": "image", "embed_text": "text"}
EXPORT_MODES = ("float32", "int8")
_FLOAT_ATOL = 1e-4
_INT8_ATOL_STEPS = 3
_LOOP_OPS = ("WHILE", "IF", "CALL_ONCE")


@dataclass(frozen=True)
class ExportedDualEncoder:
    """The bundles written (mode -> path) and the parity report each carries."""

    bundles: dict[str, Path]
    parity: dict[str, dict[str, Any]]
    op_counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"bundles": {m: str(p) for m, p in self.bundles.items()}, "parity": self.parity,
                "op_counts": self.op_counts}


def export_dual_encoder(
    trained: TrainedDualEncoder,
    out_dir: str | Path,
    test: PairData,
    calibration: PairData,
    *,
    golden_images_bgr: Sequence[np.ndarray] = (),
    golden_texts: Sequence[str] = (),
    modes: Sequence[str] = EXPORT_MODES,
    name: str = "dual_encoder",
    version: str = "1",
    calibration_samples: int = 300,
    seed: int = 0,
    timeout_s: float = 1800.0,
) -> ExportedDualEncoder:
    """Convert, check and bundle ``trained`` in each mode as ``out_dir/<name>_<mode>.tflite``.

    ``test`` pairs give the parity report; ``calibration`` pairs (training data) calibrate int8.
    Golden images are raw BGR frames, golden texts raw strings, as the device receives them.
    """
    unknown = [m for m in modes if m not in ("float32", *INT8_MODES)]
    if unknown or not modes:
        raise ConversionError(f"modes must be a non-empty subset of {('float32', *INT8_MODES)}. Got: {list(modes)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    flatbuffers, versions = _convert(trained, modes, calibration, calibration_samples, seed, timeout_s)
    queries, gallery, relevant = _held_out(test)
    keras_text, keras_image = trained.embed_tokens(queries), trained.embed_images(gallery)
    embedded = {mode: _tflite_embeddings(flat, queries, gallery) for mode, flat in flatbuffers.items()}
    bundles, parity, ops = {}, {}, {}
    for mode, flat in flatbuffers.items():
        op_set = _check_ops(mode, flat)
        text_vectors, image_vectors = embedded[mode]
        report: dict[str, Any] = {
            "mode": mode, "test_queries": len(queries), "test_images": len(gallery),
            "keras_t2i": _named(recall_at_k(keras_text, keras_image, relevant)),
            "tflite_t2i": _named(recall_at_k(text_vectors, image_vectors, relevant)),
            "cosine_vs_keras": {"image": cosine_stats(image_vectors, keras_image),
                                "text": cosine_stats(text_vectors, keras_text)},
            "size_bytes": len(flat), "op_counts": dict(sorted(op_set.op_counts.items())),
            "float_ops": dict(sorted(op_set.float_ops.items())), "builtin_only": True,
            "temperature": trained.temperature, "embed_dim": trained.spec.dim,
        }
        if mode != "float32" and "float32" in embedded:
            float_text, float_image = embedded["float32"]
            report["cosine_vs_float32"] = {"image": cosine_stats(image_vectors, float_image),
                                           "text": cosine_stats(text_vectors, float_text)}
            report["float32_t2i"] = _named(recall_at_k(float_text, float_image, relevant))
            report["t2i_r1_drop"] = report["float32_t2i"]["r1"] - report["tflite_t2i"]["r1"]
        path = out / f"{name}_{mode}.tflite"
        _write(path, flat, mode, trained, report, versions, name, version, golden_images_bgr, golden_texts)
        bundles[mode], parity[mode], ops[mode] = path, report, report["op_counts"]
    return ExportedDualEncoder(bundles, parity, ops)


def _convert(trained: TrainedDualEncoder, modes: Sequence[str], calibration: PairData, samples: int, seed: int,
             timeout_s: float) -> tuple[dict[str, bytes], dict[str, str]]:
    image_model, text_model = inference_towers(trained.image_tower, trained.text_tower, trained.spec,
                                               trained.image_size, trained.vocab_size, trained.max_length)
    with tempfile.TemporaryDirectory(prefix="edge_sdk_retrieval_") as tmp:
        work = Path(tmp)
        image_model.save(work / "embed_image.keras")
        text_model.save(work / "embed_text.keras")
        job: dict[str, Any] = {"models": {k: str(work / f"{k}.keras") for k in SIGNATURES}, "modes": list(modes),
                               "out_dir": str(work), "calibration_path": None}
        if any(m in INT8_MODES for m in modes):
            images = calibration_subset({"image": calibration.images.astype(np.float32)}, samples, seed)["image"]
            tokens = calibration_subset({"text": calibration.tokens}, samples, seed, ())["text"]
            job["calibration_path"] = str(work / "calibration.npz")
            np.savez(job["calibration_path"], image=images, text=tokens)
        (work / "job.json").write_text(json.dumps(job))
        argv = [sys.executable, "-m", "converters.retrieval._export_worker", str(work / "job.json")]
        _run_worker(work / "job.json", work, timeout_s, argv=argv)
        versions = json.loads((work / "versions.json").read_text())
        return {m: (work / f"{m}.tflite").read_bytes() for m in modes}, versions


def _check_ops(mode: str, flatbuffer: bytes) -> OpSet:
    """Builtin ops only: no Select TF or custom op, no loop; one subgraph per signature."""
    op_set = inspect_ops(flatbuffer)
    loops = {op: n for op, n in op_set.op_counts.items() if op in _LOOP_OPS}
    if op_set.select_tf_ops or op_set.custom_ops or loops or op_set.subgraphs != len(SIGNATURES):
        raise ConversionError(
            f"the {mode} dual encoder must use builtin ops only in {len(SIGNATURES)} subgraphs. Got: Select TF ops "
            f"{list(op_set.select_tf_ops)}, custom ops {list(op_set.custom_ops)}, control flow {loops}, "
            f"{op_set.subgraphs} subgraphs")
    return op_set


def _held_out(test: PairData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct texts (token ids), distinct images, and which text is relevant to which image."""
    text_ids, first = np.unique(test.text_ids, return_index=True)
    image_ids = np.unique(test.image_ids)
    return test.tokens[first], test.images[image_ids], relevance(text_ids, image_ids, test.text_ids, test.image_ids)


class SignatureRunner:
    """One signature of a TFLite model, fed by input name, with per-tensor (de)quantization.

    On the device's own backend (``TFLiteBackend`` bound by signature key), so the parity figures come
    from the binding ``edge-sdk run`` uses: a second signature lives in its own subgraph, which
    ``Interpreter.set_tensor`` (subgraph 0) does not address.
    """

    def __init__(self, flatbuffer: bytes, key: str, num_threads: int = 1) -> None:
        from edge_sdk.backends import TFLiteBackend

        self.backend = TFLiteBackend(flatbuffer, num_threads=num_threads, signature=key)
        self.inputs = {name: _detail(b) for name, b in self.backend.inputs.items()}
        self.outputs = {name: _detail(b) for name, b in self.backend.outputs.items()}

    def run(self, name: str, values: np.ndarray, output: str = "embedding") -> np.ndarray:
        """Outputs for a batch, one invoke per sample (the model has batch 1): (N, ...)."""
        rows = []
        for index in range(len(values)):
            result = self.backend.infer({name: quantize(values[index:index + 1], self.inputs[name])})
            rows.append(np.array(dequantize(result[output], self.outputs[output])[0]))  # own the values
        return np.stack(rows) if rows else np.zeros((0, *self.outputs[output]["shape"][1:]), np.float32)


def _detail(binding: Any) -> dict[str, Any]:
    """A backend binding in the interpreter-detail form ``quantize``/``dequantize`` read."""
    return {"dtype": binding.dtype, "quantization": (binding.scale, binding.zero_point), "shape": binding.shape}


def _tflite_embeddings(flatbuffer: bytes, tokens: np.ndarray, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    text = SignatureRunner(flatbuffer, "embed_text").run("text", tokens)
    image = SignatureRunner(flatbuffer, "embed_image").run("image", images.astype(np.float32))
    return text, image


def _named(recall: Mapping[int, float]) -> dict[str, float]:
    return {f"r{k}": v for k, v in recall.items()}


def _write(path: Path, flatbuffer: bytes, mode: str, trained: TrainedDualEncoder, report: dict[str, Any],
           versions: Mapping[str, str], name: str, version: str, golden_images: Sequence[np.ndarray],
           golden_texts: Sequence[str]) -> None:
    pre = trained.preprocessing
    assert pre.image is not None and pre.text is not None
    signatures, atol = [], {}
    for key, role in SIGNATURES.items():
        inputs, outputs = signature_io(flatbuffer, key)
        tensor_in, tensor_out = inputs[role], outputs["embedding"]
        atol[key] = _INT8_ATOL_STEPS * tensor_out.quantization.scale if tensor_out.quantization else (
            _FLOAT_ATOL if mode == "float32" else 2e-2)
        signatures.append(SignatureSpec(
            key=key,
            inputs=(InputSpec(role, role, tensor_in.shape, tensor_in.dtype,  # type: ignore[arg-type]
                              pre.image if role == "image" else pre.text, tensor_in.quantization),),
            outputs=(OutputSpec("embedding", "embedding", tensor_out.shape, tensor_out.dtype, (),
                                tensor_out.quantization),),
            task={"kind": "embed", "outputs": {"embedding": "embedding"}, "labels": [], "params": {}},
        ))
    golden, assets = _golden(flatbuffer, trained, golden_images, golden_texts, atol)
    assets["vocabulary.txt"] = "\n".join(pre.text.vocabulary).encode() + b"\n"
    manifest = Manifest(
        model=ModelInfo(name, version, f"dual encoder: image and text into one {trained.spec.dim}-d unit sphere"),
        signatures=tuple(signatures), quantization=mode,  # type: ignore[arg-type]
        fusion="dual_encoder",
        converter={**versions, "edge_sdk": edge_sdk_version(), "route": "two towers: batch 1, RNN unrolled"},
        parity=report, golden=golden, created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    checking = path.with_name(path.name + ".checking")
    try:
        write_bundle(checking, flatbuffer, manifest, assets)
        _check_loads(checking)
        checking.replace(path)
    finally:
        checking.unlink(missing_ok=True)
    _log.info("wrote %s (%s, %d bytes, %d golden cases)", path, mode, len(flatbuffer), len(golden))


def _golden(flatbuffer: bytes, trained: TrainedDualEncoder, images: Sequence[np.ndarray], texts: Sequence[str],
            atol: Mapping[str, float]) -> tuple[tuple[GoldenCase, ...], dict[str, bytes]]:
    pre = trained.preprocessing
    assert pre.image is not None and pre.text is not None
    cases, assets = [], {}
    if images:
        runner = SignatureRunner(flatbuffer, "embed_image")
        for index, image in enumerate(images):
            tensor = normalize_image(prepare_image(image, pre.image, "BGR"), pre.image)[None]
            vector = runner.run("image", tensor)[0]
            asset = f"golden/embed_image_{index:03d}.npy"
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(image, dtype=np.uint8), allow_pickle=False)
            assets[asset] = buffer.getvalue()
            cases.append(GoldenCase(asset, None, None, {"embedding": tuple(float(x) for x in vector)},
                                    atol["embed_image"], signature="embed_image"))
    if texts:
        runner = SignatureRunner(flatbuffer, "embed_text")
        tokenizer = Tokenizer(pre.text)
        for text in texts:
            vector = runner.run("text", tokenizer.encode(text)[None])[0]
            cases.append(GoldenCase(None, text, None, {"embedding": tuple(float(x) for x in vector)},
                                    atol["embed_text"], signature="embed_text"))
    return tuple(cases), assets


def _check_loads(path: Path) -> None:
    """Load each signature as the device would (contract, task, its golden vectors)."""
    from edge_sdk.model import Model

    for key in SIGNATURES:
        with Model.from_bundle(path, signature=key):
            pass
