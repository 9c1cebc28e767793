"""Models whose ops the runtime lacks: MissingOpError names them, says what to do, and the CLI exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from backend_models import model_bytes

from edge_sdk import cli
from edge_sdk.backends import TFLiteBackend, describe_model
from edge_sdk.bundle import read_bundle, write_bundle
from edge_sdk.errors import BackendError, MissingOpError, ModelFormatError
from edge_sdk.runtime import default_bundle_path


def test_a_custom_op_is_named() -> None:
    with pytest.raises(MissingOpError, match=r"the model uses custom op\(s\) MatrixDeterminant that \w+ does not "
                                             r"register\. Run it with a runtime built with those ops, or re-convert") as caught:
        TFLiteBackend(model_bytes("custom_op"))
    assert (caught.value.kind, caught.value.ops) == ("custom", ("MatrixDeterminant",))
    assert isinstance(caught.value, BackendError)


def test_a_select_tf_op_is_named() -> None:
    with pytest.raises(MissingOpError, match=r"Select TensorFlow op\(s\) FlexMatrixDeterminant, which \w+ does not have"):
        TFLiteBackend(model_bytes("select_tf_op"))


def test_a_model_with_missing_ops_can_still_be_described() -> None:
    description = describe_model(model_bytes("custom_op"))
    assert description.custom_ops == ("MatrixDeterminant",)
    signature = description.signature()
    assert list(signature.inputs) == ["m"] and signature.inputs["m"].shape == (2, 2) and len(signature.outputs) == 1


def test_the_cli_exits_2_for_a_bundle_whose_model_needs_missing_ops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = read_bundle(default_bundle_path())
    path = tmp_path / "custom.tflite"
    write_bundle(path, model_bytes("custom_op"), bundle.manifest, bundle.assets)
    assert cli.main(["info", "--verify", str(path)]) == 2
    assert "edge-sdk info: the model uses custom op(s) MatrixDeterminant" in capsys.readouterr().err


@pytest.mark.parametrize("error", [MissingOpError("no such op"), ModelFormatError("not a TFLite flatbuffer")])
def test_the_cli_maps_model_errors_to_exit_2(error: BackendError, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(args: object) -> int:
        raise error

    monkeypatch.setattr(cli, "_cmd_info", fail)
    assert cli.main(["info", "x.tflite"]) == 2
    monkeypatch.setattr(cli, "_cmd_info", lambda args: (_ for _ in ()).throw(BackendError("crashed")))
    assert cli.main(["info", "x.tflite"]) == 1
