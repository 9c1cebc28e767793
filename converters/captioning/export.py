"""Encoder + decoder step -> one bundle with two signatures (``encode``, ``decode_step``), float32 and int8.

``encode`` takes the image (role ``image``) and, for translation, the source sentence (role
``text``) and gives the attention memory, its keys and the decoder's initial state (task ``raw``).
``decode_step`` takes the previous token, the state and the memory (role ``tensor``) and gives the
next-token log-probabilities and the new state; its task ``generate`` names that wiring
(:class:`edge_sdk.tasks.generate.GenerateOptions`) and carries the target vocabulary as labels.
The graphs are the batch-1, RNN-unrolled copies, converted in a child process
(:mod:`converters.captioning._export_worker`): builtin ops only, no WHILE loop. Int8 is calibrated
on real encoder inputs and on decoder-step inputs recorded from teacher-forced Keras runs. Golden
vectors are recorded for both signatures (the step's from a real encoding), and every bundle is
loaded back through :class:`edge_sdk.generator.Generator` before it is kept.
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
from typing import Any, cast

import numpy as np

from converters.captioning.model import state_names
from converters.captioning.train import CaptionTensors, TrainedCaptioner
from converters.convert import _run_worker, calibration_subset
from converters.errors import ConversionError
from converters.tflite_inspect import OpSet, inspect_ops, signature_io
from edge_sdk.bundle import GoldenCase, InputSpec, Manifest, ModelInfo, OutputSpec, SignatureSpec, write_bundle
from edge_sdk.bundle.manifest import QuantMode
from edge_sdk.distribution import version as edge_sdk_version
from edge_sdk.preprocess import TensorSpec

__all__ = ["EXPORT_MODES", "ExportedCaptioner", "export_captioner"]

_log = logging.getLogger(__name__)
EXPORT_MODES = ("float32", "int8")
_SUPPORTED = ("float32", "float16", "dynamic", "int8")
_LOOP_OPS = ("WHILE", "IF", "CALL_ONCE")
_FLOAT_ATOL = 1e-4
_INT8_ATOL_STEPS = 3
_STEP_SAMPLES_PER_ROW = 4


@dataclass(frozen=True)
class ExportedCaptioner:
    """The bundles written (mode -> path), their op counts and sizes."""

    bundles: dict[str, Path]
    op_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)


def export_captioner(
    trained: TrainedCaptioner,
    out_dir: str | Path,
    calibration: CaptionTensors,
    *,
    golden_images_bgr: Sequence[np.ndarray] = (),
    golden_sources: Sequence[str] = (),
    modes: Sequence[str] = EXPORT_MODES,
    name: str = "captioner",
    version: str = "1",
    beam_size: int = 3,
    length_alpha: float = 0.6,
    calibration_samples: int = 300,
    parity: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    timeout_s: float = 1800.0,
) -> ExportedCaptioner:
    """Convert, check and bundle ``trained`` in each mode as ``out_dir/<name>_<mode>.tflite``.

    ``calibration`` rows (training data) calibrate int8. Golden images are raw BGR frames and golden
    sources raw sentences, as the device receives them (a translator needs one source per image).
    ``parity`` (mode -> report) is stored in each bundle's manifest.
    """
    unknown = [m for m in modes if m not in _SUPPORTED]
    if unknown or not modes:
        raise ConversionError(f"modes must be a non-empty subset of {_SUPPORTED}. Got: {list(modes)}")
    if trained.source is not None and len(golden_sources) != len(golden_images_bgr):
        raise ConversionError(f"a translator's golden cases need one source sentence per image. Got: "
                              f"{len(golden_images_bgr)} images, {len(golden_sources)} sources")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    flatbuffers, versions = _convert(trained, modes, calibration, calibration_samples, seed, timeout_s)
    bundles, ops, sizes = {}, {}, {}
    for mode, flat in flatbuffers.items():
        op_set = _check_ops(mode, flat)
        path = out / f"{name}_{mode}.tflite"
        report = {"mode": mode, "size_bytes": len(flat), "op_counts": dict(sorted(op_set.op_counts.items())),
                  "float_ops": dict(sorted(op_set.float_ops.items())), "builtin_only": True,
                  **dict((parity or {}).get(mode, {}))}
        _write(path, flat, mode, trained, report, versions, name, version, golden_images_bgr, golden_sources,
               beam_size, length_alpha)
        bundles[mode], ops[mode], sizes[mode] = path, report["op_counts"], len(flat)
    return ExportedCaptioner(bundles, ops, sizes, versions)


def _convert(trained: TrainedCaptioner, modes: Sequence[str], calibration: CaptionTensors, samples: int, seed: int,
             timeout_s: float) -> tuple[dict[str, bytes], dict[str, str]]:
    with tempfile.TemporaryDirectory(prefix="edge_sdk_captioning_") as tmp:
        work = Path(tmp)
        trained.save(work / "captioner")
        job: dict[str, Any] = {"captioner": str(work / "captioner"), "modes": list(modes), "out_dir": str(work),
                               "calibration_path": None}
        if "int8" in modes:
            job["calibration_path"] = str(work / "calibration.npz")
            arrays: dict[str, Any] = dict(calibration_tensors(trained, calibration, samples, seed))
            np.savez(job["calibration_path"], **arrays)
        (work / "job.json").write_text(json.dumps(job))
        argv = [sys.executable, "-m", "converters.captioning._export_worker", str(work / "job.json")]
        _run_worker(work / "job.json", work, timeout_s, argv=argv)
        versions = json.loads((work / "versions.json").read_text())
        return {m: (work / f"{m}.tflite").read_bytes() for m in modes}, versions


def calibration_tensors(trained: TrainedCaptioner, data: CaptionTensors, samples: int,
                        seed: int = 0) -> dict[str, np.ndarray]:
    """``encode/<input>`` rows from ``data`` and ``decode_step/<input>`` rows recorded from teacher-forced
    Keras runs over them (a few positions per row, the start included), as the converter's worker reads them."""
    rows = np.random.default_rng(seed).permutation(len(data))[:max(1, samples)]
    inputs = data.encoder_inputs(rows)
    encoded_inputs = calibration_subset(inputs, len(rows), seed)
    out = {f"encode/{k}": v for k, v in encoded_inputs.items()}
    encoded = trained.encode(inputs)
    states = {f"state_{s}": encoded[f"init_{s}"] for s in state_names(trained.spec)}
    picks = np.random.default_rng([seed, 1])
    recorded: dict[str, list[np.ndarray]] = {}
    step = trained.step_fn({}, len(rows))  # memory goes in per row below, so nothing is tiled
    for t in range(trained.vocabulary.steps):
        tokens = data.target_in[rows, t]
        live = tokens > 0
        chosen = live & (picks.random(len(rows)) < _STEP_SAMPLES_PER_ROW / trained.vocabulary.steps)
        chosen |= t == 0
        feed = {"token": tokens, **states, "memory": encoded["memory"], "keys": encoded["keys"]}
        for key, values in feed.items():
            recorded.setdefault(key, []).append(np.asarray(values)[chosen])
        if not live.any():
            break
        _, states = step(tokens, {**states, "memory": encoded["memory"], "keys": encoded["keys"]})
    out.update({f"decode_step/{k}": np.concatenate(v).astype(np.int32 if k == "token" else np.float32)
                for k, v in recorded.items()})
    return out


def _check_ops(mode: str, flatbuffer: bytes) -> OpSet:
    """Builtin ops only: no Select TF or custom op, no loop; one subgraph per signature."""
    op_set = inspect_ops(flatbuffer)
    loops = {op: n for op, n in op_set.op_counts.items() if op in _LOOP_OPS}
    if op_set.select_tf_ops or op_set.custom_ops or loops or op_set.subgraphs != 2:
        raise ConversionError(
            f"the {mode} captioner must use builtin ops only in 2 subgraphs (encode, decode_step). Got: Select TF "
            f"ops {list(op_set.select_tf_ops)}, custom ops {list(op_set.custom_ops)}, control flow {loops}, "
            f"{op_set.subgraphs} subgraphs")
    return op_set


def _write(path: Path, flatbuffer: bytes, mode: str, trained: TrainedCaptioner, report: dict[str, Any],
           versions: Mapping[str, str], name: str, version: str, golden_images: Sequence[np.ndarray],
           golden_sources: Sequence[str], beam_size: int, length_alpha: float) -> None:
    signatures = (_encode_signature(flatbuffer, trained), _step_signature(flatbuffer, trained, beam_size, length_alpha))
    task = "translate" if trained.source is not None else "caption"
    manifest = Manifest(
        model=ModelInfo(name, version, f"{task}: {trained.spec.rnn.upper()} decoder with attention over "
                                       f"{trained.memory_rows} memory rows, {len(trained.vocabulary)} target words"),
        signatures=signatures, quantization=cast(QuantMode, mode),
        fusion="encoder_decoder",
        converter={**versions, "edge_sdk": edge_sdk_version(),
                   "route": "encoder + one decoder step: batch 1, RNN unrolled, no loop"},
        parity=report, golden=(), created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    checking = path.with_name(path.name + ".checking")
    try:
        # goldens come from this very flatbuffer on the device's binding: write, record, write again
        write_bundle(checking, flatbuffer, manifest, {})
        golden, assets = _golden(checking, golden_images, golden_sources, _atol(mode, signatures))
        write_bundle(checking, flatbuffer, _with_golden(manifest, golden), assets)
        _check_loads(checking)
        checking.replace(path)
    finally:
        checking.unlink(missing_ok=True)
    _log.info("wrote %s (%s, %d bytes, %d golden cases)", path, mode, len(flatbuffer), len(golden))


def _encode_signature(flatbuffer: bytes, trained: TrainedCaptioner) -> SignatureSpec:
    inputs, outputs = signature_io(flatbuffer, "encode")
    specs = []
    if trained.image is not None:
        info = inputs["image"]
        specs.append(InputSpec("image", "image", info.shape, info.dtype, trained.image,
                               info.quantization))
    if trained.source is not None:
        info = inputs["source"]
        specs.append(InputSpec("source", "text", info.shape, info.dtype, trained.source,
                               info.quantization))
    return SignatureSpec(key="encode", inputs=tuple(specs), outputs=tuple(
        OutputSpec(n, "state" if n.startswith("init_") else "raw", o.shape, o.dtype, (),
                   o.quantization) for n, o in sorted(outputs.items())),
        task={"kind": "raw", "outputs": {}, "labels": [], "params": {"max_elements": 256}})


def _step_signature(flatbuffer: bytes, trained: TrainedCaptioner, beam_size: int, length_alpha: float) -> SignatureSpec:
    inputs, outputs = signature_io(flatbuffer, "decode_step")
    vocab = trained.vocabulary
    states = state_names(trained.spec)
    params = {"encode_signature": "encode", "token_input": "token",
              "state": {f"state_{s}": f"next_{s}" for s in states},
              "initial_state": {f"init_{s}": f"state_{s}" for s in states},
              "memory": {"memory": "memory", "keys": "keys"},
              "start_id": vocab.start_id, "end_id": vocab.end_id, "pad_id": vocab.pad_id,
              "max_length": vocab.steps, "beam_size": beam_size, "length_alpha": length_alpha,
              "mode": "translate" if trained.source is not None else "caption"}
    return SignatureSpec(
        key="decode_step",
        inputs=tuple(InputSpec(n, "tensor", i.shape, i.dtype, TensorSpec(), i.quantization)
                     for n, i in sorted(inputs.items())),
        outputs=tuple(OutputSpec(n, "raw" if n == "log_probs" else "state", o.shape, o.dtype,
                                 (), o.quantization) for n, o in sorted(outputs.items())),
        task={"kind": "generate", "outputs": {"log_probs": "log_probs"}, "labels": list(vocab.words),
              "params": params})


def _atol(mode: str, signatures: Sequence[SignatureSpec]) -> dict[str, float]:
    """Per output name: 3 quantization steps for a quantized output, else a float tolerance."""
    atol = {}
    for signature in signatures:
        for output in signature.outputs:
            q = output.quantization
            atol[output.name] = _INT8_ATOL_STEPS * q.scale if q else (_FLOAT_ATOL if mode == "float32" else 2e-2)
    return atol


def _golden(path: Path, images: Sequence[np.ndarray], sources: Sequence[str],
            atol: Mapping[str, float]) -> tuple[tuple[GoldenCase, ...], dict[str, bytes]]:
    from edge_sdk.generator import Generator

    cases, assets = [], {}
    with Generator.from_bundle(path, verify_golden=False) as generator:
        options, encoder, step = generator.options, generator.encoder, generator.step
        for index, image in enumerate(images):
            source = sources[index] if sources else None
            image_asset = f"golden/encode_{index:03d}.npy"
            assets[image_asset] = _npy(np.ascontiguousarray(image, dtype=np.uint8))
            encoded = encoder.infer(encoder.prepare(image=image if generator.needs_image else None,
                                                    text=source if generator.needs_text else None))
            expected = {name: encoded[name] for name in options.initial_state}
            cases.append(GoldenCase(image_asset if generator.needs_image else None, source, None,
                                    {k: _values(v) for k, v in expected.items()},
                                    max(atol[k] for k in expected), signature="encode"))
            if index:
                continue  # one image's first two decoder steps check the step signature
            state = {name: encoded[output] for output, name in options.initial_state.items()}
            token = options.start_id
            for position in range(2):
                tensors = {options.token_input: np.array([token], np.int32),
                           **{name: encoded[output] for output, name in options.memory.items()}, **state}
                names = {}
                for name, value in tensors.items():
                    names[name] = f"golden/decode_step_{position}_{name}.npy"
                    assets[names[name]] = _npy(np.asarray(value))
                outputs = step.infer(step.prepare(tensors_in=tensors))
                wanted = ["log_probs", *options.state.values()]
                cases.append(GoldenCase(None, None, None, {k: _values(outputs[k]) for k in wanted},
                                        max(atol[k] for k in wanted), signature="decode_step", tensors=names))
                state = {name: outputs[output] for name, output in options.state.items()}
                token = int(np.argmax(outputs["log_probs"]))
    return tuple(cases), assets


def _values(array: np.ndarray) -> tuple[float, ...]:
    return tuple(float(x) for x in np.asarray(array, np.float64).reshape(-1))


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _with_golden(manifest: Manifest, golden: tuple[GoldenCase, ...]) -> Manifest:
    from dataclasses import replace

    return replace(manifest, golden=golden)


def _check_loads(path: Path) -> None:
    """Load both signatures as the device does (contract, task, wiring, golden vectors)."""
    from edge_sdk.generator import Generator

    with Generator.from_bundle(path):
        pass
