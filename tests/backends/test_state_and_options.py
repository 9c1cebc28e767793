"""Streaming state (reset, fresh), interpreter options (threads, XNNPACK) and goldens on their own interpreter."""

from __future__ import annotations

import numpy as np
import pytest
from backend_models import model_bytes

from edge_sdk.backends import TFLiteBackend, describe_model
from edge_sdk.bundle import read_bundle
from edge_sdk.model import FusionModel
from edge_sdk.runtime import default_bundle_path

ONE = np.ones((1, 2), np.float32)
X = np.array([[0.5, -1.0, 2.0, 3.0]], np.float32)


def _totals(backend: TFLiteBackend, steps: int) -> list[float]:
    return [float(backend.infer({"x": ONE})["total"][0, 0]) for _ in range(steps)]


def test_reset_puts_resource_variables_back_to_their_initial_values() -> None:
    flatbuffer = model_bytes("stateful")
    assert describe_model(flatbuffer).stateful
    with TFLiteBackend(flatbuffer) as backend:
        runner = backend.signature_runner("step")  # handed out before the reset
        assert _totals(backend, 3) == [1.0, 2.0, 3.0]
        backend.reset()
        assert _totals(backend, 2) == [1.0, 2.0]
        assert float(runner.infer({"x": ONE})["total"][0, 0]) == 3.0  # the runner follows, sharing the state
        backend.reset()
        assert float(runner.infer({"x": ONE})["total"][0, 0]) == 1.0


def test_the_runtimes_own_reset_leaves_resource_variables_alone() -> None:
    """Why reset() loads a fresh interpreter for such models: reset_all_variables() is not enough."""
    with TFLiteBackend(model_bytes("stateful")) as backend:
        _totals(backend, 2)
        backend._interpreter.reset_all_variables()
        assert _totals(backend, 1) == [3.0]


def test_reset_of_a_model_without_resource_variables_keeps_its_interpreter() -> None:
    with TFLiteBackend(model_bytes("no_signature")) as backend:
        interpreter = backend._interpreter
        before = backend.infer({"input_x": X})["out_y"]
        backend.reset()
        assert backend._interpreter is interpreter
        np.testing.assert_array_equal(backend.infer({"input_x": X})["out_y"], before)


def test_fresh_is_a_separate_interpreter_with_the_same_options() -> None:
    with TFLiteBackend(model_bytes("stateful"), num_threads=2, xnnpack=False) as backend:
        _totals(backend, 2)
        with backend.fresh() as other:
            assert (other.runtime, other.num_threads, other.xnnpack, other.signature_key) == (
                backend.runtime, 2, False, "step")
            assert _totals(other, 2) == [1.0, 2.0]
        assert _totals(backend, 1) == [3.0]


@pytest.mark.parametrize("xnnpack", [True, False, None])
def test_xnnpack_on_and_off_both_load_and_the_choice_is_reported(xnnpack: bool | None) -> None:
    with TFLiteBackend(model_bytes("no_signature"), num_threads=1, xnnpack=xnnpack) as backend:
        assert backend.xnnpack is xnnpack
        if xnnpack is False:
            assert backend.xnnpack_applied in (False, None)  # None: the runtime cannot tell
        else:  # a float model: every runtime's default delegates it
            assert backend.xnnpack_applied in (True, None)
        np.testing.assert_allclose(backend.infer({"input_x": X})["out_y"], np.maximum(X * 2.0 - 1.0, 0.0))


def test_the_int8_bundle_runs_with_xnnpack_on_and_off() -> None:
    flatbuffer = read_bundle(default_bundle_path()).flatbuffer
    outputs = []
    for xnnpack in (True, False):
        with TFLiteBackend(flatbuffer, xnnpack=xnnpack) as backend:
            tensors = {name: np.zeros(b.shape, b.dtype) for name, b in backend.inputs.items()}
            outputs.append(backend.infer(tensors)["scores"].astype(np.int32))
    assert outputs[0].shape == outputs[1].shape
    assert int(np.max(np.abs(outputs[0] - outputs[1]))) <= 32  # quantization steps; the kernels differ


def test_golden_vectors_run_on_their_own_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[TFLiteBackend] = []
    original = TFLiteBackend.fresh

    def fresh(self: TFLiteBackend) -> TFLiteBackend:
        made.append(original(self))
        return made[-1]

    monkeypatch.setattr(TFLiteBackend, "fresh", fresh)
    with FusionModel.from_bundle(default_bundle_path()) as model:
        assert len(made) == 1 and made[0] is not model.backend
        assert made[0]._interpreter is None  # closed once the goldens passed
        assert model.verify_golden() >= 3 and len(made) == 2 and made[1]._interpreter is None
        assert model.backend._interpreter is not None
