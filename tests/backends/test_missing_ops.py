"""Models whose ops the runtime lacks: MissingOpError names them and says what to do."""

from __future__ import annotations

import pytest
from backend_models import model_bytes

from edge_sdk.backends import TFLiteBackend, describe_model
from edge_sdk.errors import BackendError, MissingOpError


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
