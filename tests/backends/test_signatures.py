"""Binding by signature (or by tensor name without one) and one runner per signature on one interpreter.

The models are real TensorFlow conversions (build_models.py); the reference is the runtime's own
Interpreter called directly on a separate interpreter.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest
from backend_models import model_bytes

from edge_sdk.backends import TFLiteBackend, describe_model
from edge_sdk.errors import BackendError, InputError

X = np.array([[0.5, -1.0, 2.0, 3.0]], np.float32)
BIAS = np.array([[1.0, 2.0, 30.0]], np.float32)


def _reference_interpreter(backend: TFLiteBackend, flatbuffer: bytes) -> Any:
    module = importlib.import_module(f"{backend.runtime}.interpreter")
    interpreter = module.Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    return interpreter


def test_several_signatures_and_none_chosen_is_an_error_listing_them() -> None:
    with pytest.raises(BackendError, match=r"the model has 2 signatures and none was chosen: "
                                           r"decode_step: bias, code -> total, y; encode: x -> code\. Pass signature=KEY"):
        TFLiteBackend(model_bytes("two_signatures"))
    with pytest.raises(BackendError, match=r"no signature 'decode'\. Signatures: \['decode_step', 'encode'\]"):
        TFLiteBackend(model_bytes("two_signatures"), signature="decode")


def test_the_named_signature_binds_by_its_input_and_output_names() -> None:
    with TFLiteBackend(model_bytes("two_signatures"), signature="decode_step") as backend:
        assert backend.signature_key == "decode_step"
        assert list(backend.inputs) == ["bias", "code"] and list(backend.outputs) == ["total", "y"]
        code = backend.inputs["code"]
        assert (code.shape, code.dtype, code.quantized) == ((1, 3), np.dtype(np.float32), False)
        assert code.tensor_name == "decode_step_code:0"


def test_runners_per_signature_share_one_interpreter_and_match_a_direct_call() -> None:
    flatbuffer = model_bytes("two_signatures")
    with TFLiteBackend(flatbuffer, signature="encode") as backend:
        encode, decode = backend.signature_runner("encode"), backend.signature_runner("decode_step")
        assert encode is backend.signature_runner(None) and decode is backend.signature_runner("decode_step")
        assert decode.key == "decode_step" and list(decode.inputs) == ["bias", "code"]
        code = backend.infer({"x": X})["code"]
        decoded = decode.infer({"code": code, "bias": BIAS})
        again = encode.infer({"x": X})["code"]  # back to the first signature after the second ran

        reference = _reference_interpreter(backend, flatbuffer)
        expected_code = reference.get_signature_runner("encode")(x=X)["code"]
        expected = reference.get_signature_runner("decode_step")(code=expected_code, bias=BIAS)
        np.testing.assert_array_equal(code, expected_code)
        np.testing.assert_array_equal(again, expected_code)
        for name in ("y", "total"):
            np.testing.assert_array_equal(decoded[name], expected[name])
        with pytest.raises(BackendError, match=r"no signature 'step'\. Signatures: \['decode_step', 'encode'\]"):
            backend.signature_runner("step")


class _CallLog:
    """Stands in for the interpreter wrapper a runner calls, recording what it is asked to do."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped, self.calls = wrapped, []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.wrapped, name)


def test_a_runner_neither_resizes_nor_reallocates_per_call_and_returns_copies() -> None:
    with TFLiteBackend(model_bytes("two_signatures"), signature="encode") as backend:
        runner = backend.signature_runner("decode_step")
        log = _CallLog(runner._calls)
        runner._calls = log
        first = runner.infer({"code": np.ones((1, 3), np.float32), "bias": BIAS})
        runner.infer({"code": np.full((1, 3), 50.0, np.float32), "bias": BIAS})
        assert set(log.calls) == {"SetTensor", "Invoke", "GetTensor"}
        np.testing.assert_array_equal(first["total"], [3.0])  # not overwritten by the second call


def test_the_signature_runner_call_fallback_checks_shapes_instead_of_resizing() -> None:
    with TFLiteBackend(model_bytes("two_signatures"), signature="encode") as backend:
        runner = backend.signature_runner("encode")
        expected = runner.infer({"x": X})["code"]
        runner._calls, runner._call = None, backend._interpreter.get_signature_runner("encode")  # no wrapper calls
        np.testing.assert_array_equal(runner.infer({"x": X})["code"], expected)
        with pytest.raises(InputError, match=r"input 'x' must be float32 of shape \(1, 4\). Got: float32 of shape \(2, 4\)"):
            runner.infer({"x": np.zeros((2, 4), np.float32)})
        with pytest.raises(InputError, match=r"missing model input 'x'. Expected: \['x'\]. Got: \['y'\]"):
            runner.infer({"y": X})


def test_a_model_without_signature_def_binds_its_tensors_by_name() -> None:
    flatbuffer = model_bytes("no_signature")
    description = describe_model(flatbuffer)
    assert description.signatures == {} and not description.has_signature_defs
    assert list(description.inputs) == ["input_x"] and list(description.outputs) == ["out_y"]
    with TFLiteBackend(flatbuffer) as backend:
        assert backend.signature_key is None and backend.signatures == {}
        assert list(backend.inputs) == ["input_x"] and list(backend.outputs) == ["out_y"]
        got = backend.infer({"input_x": X})["out_y"]
        reference = _reference_interpreter(backend, flatbuffer)
        assert reference.get_signature_list() == {}
        reference.set_tensor(reference.get_input_details()[0]["index"], X)
        reference.invoke()
        np.testing.assert_array_equal(got, reference.get_tensor(reference.get_output_details()[0]["index"]))
        np.testing.assert_allclose(got, np.maximum(X * 2.0 - 1.0, 0.0))
        with pytest.raises(InputError, match=r"input 'input_x' must be float32 of shape \(1, 4\). Got: int32"):
            backend.infer({"input_x": X.astype(np.int32)})
    with pytest.raises(BackendError, match=r"no SignatureDef, so no signature 'serving_default': leave signature unset "
                                           r"to bind its tensors by name \(inputs \['input_x'\]\)"):
        TFLiteBackend(flatbuffer, signature="serving_default")


def test_describe_model_lists_every_signature_with_shapes_dtypes_and_quantization() -> None:
    description = describe_model(model_bytes("two_signatures"))
    assert sorted(description.signatures) == ["decode_step", "encode"]
    encode = description.signatures["encode"]
    assert str(encode) == "encode: x -> code"
    x = encode.inputs["x"]
    assert (x.name, x.shape, x.shape_signature, x.dtype, x.scale, x.zero_point) == ("x", (1, 4), (1, 4), np.float32, 0.0, 0)
    assert description.signatures["decode_step"].outputs["total"].shape == (1,)
    assert description.signature("encode") is encode
    with pytest.raises(BackendError, match="2 signatures and none was chosen"):
        description.signature()
    with TFLiteBackend(model_bytes("two_signatures"), signature="encode") as backend:
        assert backend.signatures == dict(description.signatures)


def test_a_closed_backend_and_its_runners_say_so() -> None:
    backend = TFLiteBackend(model_bytes("two_signatures"), signature="encode")
    runner = backend.signature_runner("decode_step")
    backend.close()
    backend.close()
    for call in (lambda: backend.infer({"x": X}), lambda: runner.infer({"code": X[:, :3], "bias": BIAS}), backend.fresh):
        with pytest.raises(BackendError, match="the backend is closed"):
            call()
