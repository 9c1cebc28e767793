"""The runtimes' load failures restated as MissingOpError naming the ops (messages as the runtimes print them)."""

from __future__ import annotations

from edge_sdk.backends.flatbuffer import ModelOps
from edge_sdk.backends.load_errors import load_error
from edge_sdk.errors import BackendError, MissingOpError

CUSTOM = ("Encountered unresolved custom op: MatrixDeterminant.\nSee instructions: "
          "https://www.tensorflow.org/lite/guide/ops_custom Node number 58 (MatrixDeterminant) failed to prepare.")
FLEX = ("Select TensorFlow op(s), included in the given model, is(are) not supported by this interpreter. Make sure you "
        "apply/link the Flex delegate before inference. For the Android, it can be resolved by adding "
        '"org.tensorflow:tensorflow-lite-select-tf-ops" dependency. See instructions: '
        "https://www.tensorflow.org/lite/guide/ops_selectNode number 3 (FlexMatrixDeterminant) failed to prepare.")
VERSION = ("Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'. An older version of this builtin might be "
           "supported. Are you using an old TFLite binary with a newer model?\nRegistration failed.\n")


def test_an_unresolved_custom_op_is_named_with_what_to_do() -> None:
    error = load_error("tflite_runtime", CUSTOM + CUSTOM, None)  # tflite-runtime prints its report twice
    assert isinstance(error, MissingOpError) and isinstance(error, BackendError)
    assert (error.kind, error.ops) == ("custom", ("MatrixDeterminant",))
    assert str(error).startswith("the model uses custom op(s) MatrixDeterminant that tflite_runtime does not register")
    assert "re-convert the model with TFLite builtin ops only" in str(error)
    assert str(error).count("Encountered unresolved custom op") == 1


def test_select_tf_ops_are_all_named_from_the_flatbuffer() -> None:
    ops = ModelOps(frozenset({32}), ("FlexMatrixDeterminant", "FlexBitcast", "MyOwnOp"))
    error = load_error("ai_edge_litert", FLEX, ops)
    assert isinstance(error, MissingOpError)
    assert (error.kind, error.ops) == ("select_tf", ("FlexMatrixDeterminant", "FlexBitcast"))
    assert "Select TensorFlow op(s) FlexMatrixDeterminant, FlexBitcast, which ai_edge_litert does not have" in str(error)
    assert "supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]" in str(error)


def test_a_builtin_op_newer_than_the_runtime_says_so() -> None:
    error = load_error("tflite_runtime", VERSION, None)
    assert isinstance(error, MissingOpError)
    assert (error.kind, error.ops) == ("builtin_version", ("FULLY_CONNECTED",))
    assert "builtin op(s) FULLY_CONNECTED version 12, newer than tflite_runtime has" in str(error)


def test_other_failures_stay_a_plain_backend_error() -> None:
    error = load_error("ai_edge_litert", "Node number 2 (CONV_2D) failed to prepare.", None)
    assert type(error) is BackendError
    assert str(error) == "ai_edge_litert cannot load the model: Node number 2 (CONV_2D) failed to prepare."
