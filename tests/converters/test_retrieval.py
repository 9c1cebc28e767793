"""The dual encoder end to end: tiny training, one bundle with two signatures, goldens on the device side."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from converters.retrieval.export import SIGNATURES
from converters.tflite_inspect import inspect_ops
from edge_sdk.bundle import read_bundle
from edge_sdk.demo.seek.captions import describe
from edge_sdk.demo.seek.dataset import caption_scenes
from edge_sdk.demo.seek.world import render_scene
from edge_sdk.model import Model

pytestmark = pytest.mark.host

ROOT = Path(__file__).resolve().parents[2]


def test_one_bundle_two_signatures_builtin_ops_only(tiny_dual_encoder: Path) -> None:
    for mode in ("int8", "float32"):
        bundle = read_bundle(tiny_dual_encoder.with_name(f"dual_encoder_{mode}.tflite"))
        manifest = bundle.manifest
        assert manifest.quantization == mode
        assert [s.key for s in manifest.signatures] == ["embed_image", "embed_text"]
        for signature in manifest.signatures:
            (spec_in,) = signature.inputs
            assert spec_in.role == SIGNATURES[signature.key]
            (out,) = signature.outputs
            assert (out.name, out.role, out.shape) == ("embedding", "embedding", (1, 64))
            assert dict(signature.task or {})["kind"] == "embed"
        op_set = inspect_ops(bundle.flatbuffer)
        assert not op_set.select_tf_ops and not op_set.custom_ops and op_set.subgraphs == 2
        assert "WHILE" not in op_set.op_counts
        if mode == "int8":
            assert "FULLY_CONNECTED" in op_set.op_counts and not op_set.float_ops.get("FULLY_CONNECTED")
        golden = {g.signature for g in manifest.golden}
        assert golden == {"embed_image", "embed_text"}


def test_goldens_pass_on_the_device_side_without_tensorflow(tiny_dual_encoder: Path) -> None:
    code = textwrap.dedent(f"""
        import sys
        sys.modules["tensorflow"] = None  # any import of TensorFlow fails
        sys.modules["keras"] = None
        from edge_sdk.model import Model
        counts = []
        for key in ("embed_image", "embed_text"):
            with Model.from_bundle({str(tiny_dual_encoder)!r}, signature=key) as model:
                counts.append(model.verify_golden())
                result = (model.predict(text="a red circle") if key == "embed_text"
                          else model.predict(image=__import__("numpy").zeros((48, 64, 3), "uint8"))).result
                assert result.kind == "embed" and result.dim == 64
        print(counts)
    """)
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[4, 4]"


def test_a_golden_case_belongs_to_its_signature(tiny_dual_encoder: Path, tmp_path: Path) -> None:
    from dataclasses import replace

    from edge_sdk.bundle import write_bundle
    from edge_sdk.errors import BundleError

    bundle = read_bundle(tiny_dual_encoder)
    broken = [replace(g, expected={"embedding": tuple(-x for x in g.expected["embedding"])})
              if g.signature == "embed_text" else g for g in bundle.manifest.golden]
    target = tmp_path / "broken.tflite"
    write_bundle(target, bundle.flatbuffer, replace(bundle.manifest, golden=tuple(broken)), dict(bundle.assets))
    with Model.from_bundle(target, signature="embed_image") as model:  # its own cases still pass
        assert model.verify_golden() == 4
    with pytest.raises(BundleError, match="golden case"):
        Model.from_bundle(target, signature="embed_text")


def test_int8_embeddings_stay_close_to_float(tiny_dual_encoder: Path) -> None:
    parity = read_bundle(tiny_dual_encoder).manifest.parity
    for kind in ("image", "text"):
        assert parity["cosine_vs_float32"][kind]["mean"] > 0.99
        assert parity["cosine_vs_float32"][kind]["min"] > 0.95
    assert set(parity["tflite_t2i"]) == {"r1", "r5"} and abs(parity["t2i_r1_drop"]) <= 1.0
    # and through edge_sdk, on scenes of another seed
    scenes = caption_scenes(20, seed=99)
    vectors = {}
    for mode in ("float32", "int8"):
        path = tiny_dual_encoder.with_name(f"dual_encoder_{mode}.tflite")
        with Model.from_bundle(path, signature="embed_image") as images, \
                Model.from_bundle(path, signature="embed_text") as texts:
            vectors[mode] = (np.stack([images.predict(image=render_scene(s, 32), color_order="RGB").result.vector
                                       for s in scenes]),
                             np.stack([texts.predict(text=describe(s)).result.vector for s in scenes]))
    for f, q in zip(vectors["float32"], vectors["int8"], strict=True):
        assert float(np.min(np.sum(f * q, axis=1))) > 0.95
        np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)


def test_report_says_how_training_went(tiny_dual_encoder: Path) -> None:
    report = json.loads(tiny_dual_encoder.with_name("report.json").read_text())
    assert report["train"]["epochs_run"] == 2 and len(report["history"]) == 2
    assert report["history"][0]["loss"] > 0 and 0 < report["train"]["temperature"] < 1
    assert set(report["bundles"]) == {"float32", "int8"}
