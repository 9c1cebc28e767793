"""Wrapping a third-party .tflite into a bundle by describing its inputs and outputs (no TensorFlow).

The "third-party" models are built here with the flatbuffer schema that ai-edge-litert ships:
image (1, 4, 4, 3) -> MEAN over H, W -> scores (1, 3); sensor (1, 2) -> RESHAPE -> sensor_copy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ai_edge_litert")

from edge_sdk.bundle import ModelInfo, read_bundle
from edge_sdk.bundle.wrap import (
    InputDescription,
    OutputDescription,
    read_tensor_details,
    wrap_from_spec_file,
    wrap_tflite,
)
from edge_sdk.errors import BundleError
from edge_sdk.preprocess import ImageSpec, SensorChannel, SensorSpec, TokenizerSpec


def tiny_tflite(signature: bool = True, image_dtype: str = "float32") -> bytes:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    def tensor(name: str, shape: tuple[int, ...], dtype: int, buffer: int = 0, quant: tuple[float, int] | None = None) -> object:
        t = s.TensorT()
        t.name, t.shape, t.type, t.buffer = name, list(shape), dtype, buffer
        if quant is not None:
            t.quantization = s.QuantizationParametersT()
            t.quantization.scale, t.quantization.zeroPoint = [quant[0]], [quant[1]]
        return t

    def buffer(data: np.ndarray | None = None) -> object:
        b = s.BufferT()
        if data is not None:
            b.data = np.frombuffer(data.tobytes(), dtype=np.uint8)
        return b

    def op(opcode: int, inputs: list[int], outputs: list[int]) -> object:
        o = s.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = opcode, inputs, outputs
        return o

    def code(builtin: int) -> object:
        c = s.OperatorCodeT()
        c.builtinCode, c.deprecatedBuiltinCode, c.version = builtin, min(builtin, 127), 1
        return c

    uint8 = image_dtype == "uint8"
    image_type = s.TensorType.UINT8 if uint8 else s.TensorType.FLOAT32
    tensors = [
        tensor("image", (1, 4, 4, 3), image_type, quant=(1.0, 0) if uint8 else None),
        tensor("sensor", (1, 2), s.TensorType.FLOAT32),
        tensor("axes", (2,), s.TensorType.INT32, buffer=1),
        tensor("scores", (1, 3), image_type, quant=(1.0, 0) if uint8 else None),
        tensor("new_shape", (2,), s.TensorType.INT32, buffer=2),
        tensor("sensor_copy", (1, 2), s.TensorType.FLOAT32),
    ]
    mean = op(0, [0, 2], [3])
    mean.builtinOptionsType = s.BuiltinOptions.ReducerOptions
    mean.builtinOptions = s.ReducerOptionsT()
    subgraph = s.SubGraphT()
    subgraph.tensors, subgraph.inputs, subgraph.outputs = tensors, [0, 1], [3, 5]
    subgraph.operators = [mean, op(1, [1, 4], [5])]
    model = s.ModelT()
    model.version, model.subgraphs = 3, [subgraph]
    model.operatorCodes = [code(s.BuiltinOperator.MEAN), code(s.BuiltinOperator.RESHAPE)]
    model.buffers = [buffer(), buffer(np.array([1, 2], np.int32)), buffer(np.array([1, 2], np.int32))]
    if signature:
        sig = s.SignatureDefT()
        sig.signatureKey, sig.subgraphIndex = "serving_default", 0
        sig.inputs = [_map(s, "image", 0), _map(s, "sensor", 1)]
        sig.outputs = [_map(s, "scores", 3), _map(s, "sensor_copy", 5)]
        model.signatureDefs = [sig]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _map(s: object, name: str, index: int) -> object:
    m = s.TensorMapT()  # type: ignore[attr-defined]
    m.name, m.tensorIndex = name, index
    return m


IMAGE = InputDescription("image", ImageSpec(width=4, height=4, color_order="RGB", mean=(127.5,) * 3, std=(127.5,) * 3), "image")
SENSOR = InputDescription("sensor", SensorSpec((SensorChannel("distance_cm", "cm", 100.0, 50.0), SensorChannel("lux"))), "sensor")
SCORES = OutputDescription(("red", "green", "blue"), name="scores")
EMBEDDING = OutputDescription(role="embedding", name="sensor_copy")


@pytest.fixture
def model_path(tmp_path: Path) -> Path:
    path = tmp_path / "third_party.tflite"
    path.write_bytes(tiny_tflite())
    return path


def test_wrapped_bundle_carries_the_description_and_still_loads_as_a_plain_model(model_path: Path, tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    out = tmp_path / "wrapped.tflite"
    manifest = wrap_tflite(model_path, out, [IMAGE, SENSOR], [SCORES, EMBEDDING], ModelInfo("colours", "2"))
    bundle = read_bundle(out)
    assert bundle.manifest == manifest
    assert bundle.flatbuffer == model_path.read_bytes()
    assert manifest.quantization == "external"
    image = manifest.input("image")
    assert (image.shape, image.dtype, image.quantization) == ((1, 4, 4, 3), "float32", None)
    assert image.preprocess.mean == (127.5, 127.5, 127.5)
    assert manifest.input("sensor").preprocess.names == ["distance_cm", "lux"]
    assert manifest.scores_output.labels == ("red", "green", "blue")
    assert [o.role for o in manifest.outputs] == ["scores", "embedding"]
    assert bundle.assets["labels_scores.txt"] == b"red\ngreen\nblue\n"

    interpreter = Interpreter(model_path=str(out))  # the appended archive is ignored
    runner = interpreter.get_signature_runner()
    image_in = np.full((1, 4, 4, 3), 2.0, np.float32)
    out_tensors = runner(image=image_in, sensor=np.array([[1.0, 2.0]], np.float32))
    np.testing.assert_allclose(out_tensors["scores"], [[2.0, 2.0, 2.0]])


def test_uint8_model_quantization_is_read_from_the_flatbuffer(tmp_path: Path) -> None:
    path = tmp_path / "u8.tflite"
    path.write_bytes(tiny_tflite(image_dtype="uint8"))
    inputs, _ = read_tensor_details(path.read_bytes())
    assert inputs["image"].dtype == "uint8" and inputs["image"].quantization.scale == 1.0
    manifest = wrap_tflite(path, tmp_path / "b.tflite", [IMAGE, SENSOR], [SCORES], ModelInfo("u8"))
    assert manifest.input("image").quantization.zero_point == 0
    assert manifest.scores_output.dtype == "uint8"


def test_model_without_signature_is_named_by_tensor_names(tmp_path: Path) -> None:
    path = tmp_path / "nosig.tflite"
    path.write_bytes(tiny_tflite(signature=False))
    inputs, outputs = read_tensor_details(path.read_bytes())
    assert sorted(inputs) == ["image", "sensor"] and sorted(outputs) == ["scores", "sensor_copy"]


def test_unknown_input_name_is_refused_listing_the_models_inputs(model_path: Path, tmp_path: Path) -> None:
    wrong = InputDescription("image", IMAGE.preprocess, name="img")
    with pytest.raises(BundleError, match=r"the model has no input named 'img'. The model's inputs: \['image', 'sensor'\]"):
        wrap_tflite(model_path, tmp_path / "b.tflite", [wrong, SENSOR], [SCORES], ModelInfo("x"))


def test_image_size_that_does_not_fit_is_refused(model_path: Path, tmp_path: Path) -> None:
    wrong = InputDescription("image", ImageSpec(width=8, height=8), name="image")
    with pytest.raises(
        BundleError,
        match=r"input 'image' \(image\): the description gives shape \(1, 8, 8, 3\) \(height=8, width=8, 3 channels, NHWC\)\. "
        r"Got from the model: \(1, 4, 4, 3\)",
    ):
        wrap_tflite(model_path, tmp_path / "b.tflite", [wrong, SENSOR], [SCORES], ModelInfo("x"))


def test_sensor_channel_count_that_does_not_fit_is_refused(model_path: Path, tmp_path: Path) -> None:
    wrong = InputDescription("sensor", SensorSpec((SensorChannel("distance_cm"),)), name="sensor")
    with pytest.raises(BundleError, match=r"shape \(1, 1\) \(1 channels \['distance_cm'\]\). Got from the model: \(1, 2\)"):
        wrap_tflite(model_path, tmp_path / "b.tflite", [IMAGE, wrong], [SCORES], ModelInfo("x"))


def test_label_count_that_does_not_fit_is_refused(model_path: Path, tmp_path: Path) -> None:
    wrong = OutputDescription(("a", "b"), name="scores")
    with pytest.raises(BundleError, match=r"output 'scores': expected one score per label, 2 labels. Got from the model: shape \(1, 3\)"):
        wrap_tflite(model_path, tmp_path / "b.tflite", [IMAGE, SENSOR], [wrong], ModelInfo("x"))


def test_undescribed_input_is_refused(model_path: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"model inputs \['sensor'\] are not described"):
        wrap_tflite(model_path, tmp_path / "b.tflite", [IMAGE], [SCORES], ModelInfo("x"))


def test_unnamed_description_needs_a_single_input_model(model_path: Path, tmp_path: Path) -> None:
    unnamed = InputDescription("image", IMAGE.preprocess)
    with pytest.raises(BundleError, match=r"an unnamed input description needs a model with one input. Name it"):
        wrap_tflite(model_path, tmp_path / "b.tflite", [unnamed, SENSOR], [SCORES], ModelInfo("x"))


def test_role_and_preprocessing_must_agree(model_path: Path, tmp_path: Path) -> None:
    wrong = InputDescription("text", IMAGE.preprocess, name="image")
    with pytest.raises(BundleError, match=r"input 'image' \(text\): preprocessing must be a TokenizerSpec. Got: ImageSpec"):
        wrap_tflite(model_path, tmp_path / "b.tflite", [wrong, SENSOR], [SCORES], ModelInfo("x"))
    text = InputDescription("text", TokenizerSpec(("<pad>", "<unk>", "red"), max_length=2), name="sensor")
    with pytest.raises(BundleError, match=r"input 'sensor' \(text\): dtype must be one of \('int32', 'int64'\). Got: float32"):
        wrap_tflite(model_path, tmp_path / "b.tflite", [IMAGE, text], [SCORES], ModelInfo("x"))


def test_a_bundle_is_not_wrapped_twice(model_path: Path, tmp_path: Path) -> None:
    first = tmp_path / "first.tflite"
    wrap_tflite(model_path, first, [IMAGE, SENSOR], [SCORES], ModelInfo("x"))
    with pytest.raises(BundleError, match=r"is already a bundle"):
        wrap_tflite(first, tmp_path / "second.tflite", [IMAGE, SENSOR], [SCORES], ModelInfo("x"))


def test_missing_file_is_a_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"cannot read model .*nope.tflite"):
        wrap_tflite(tmp_path / "nope.tflite", tmp_path / "b.tflite", [IMAGE], [SCORES], ModelInfo("x"))


def _with_two_signatures(flatbuffer: bytes) -> bytes:
    """The tiny model with a second SignatureDef over the same subgraph (as an encoder/decoder pair would be)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    model = s.ModelT.InitFromObj(s.Model.GetRootAs(flatbuffer, 0))
    second = s.SignatureDefT()
    second.signatureKey, second.subgraphIndex = "sensor_only", 0
    second.inputs = [_map(s, "image", 0), _map(s, "reading", 1)]
    second.outputs = [_map(s, "copy", 5)]
    model.signatureDefs.append(second)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_a_model_with_tflite_metadata_is_wrapped_untouched_and_its_labels_fill_in(tmp_path: Path) -> None:
    import io
    import zipfile

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:  # what TFLite metadata's associated files look like
        z.writestr("labelmap.txt", "red\ngreen\nblue\n")
    stock = tmp_path / "stock.tflite"
    stock.write_bytes(tiny_tflite() + archive.getvalue())
    out = tmp_path / "wrapped.tflite"
    manifest = wrap_tflite(stock, out, [IMAGE, SENSOR], [OutputDescription(name="scores")], ModelInfo("stock"))
    assert manifest.scores_output.labels == ("red", "green", "blue")
    assert read_bundle(out).flatbuffer == stock.read_bytes()  # the original bytes, metadata and all


def test_undescribed_outputs_are_kept_as_raw_so_the_contract_is_whole(model_path: Path, tmp_path: Path) -> None:
    manifest = wrap_tflite(model_path, tmp_path / "b.tflite", [IMAGE, SENSOR], [SCORES], ModelInfo("x"))
    assert [(o.name, o.role) for o in manifest.outputs] == [("scores", "scores"), ("sensor_copy", "raw")]
    manifest = wrap_tflite(model_path, tmp_path / "c.tflite", [IMAGE, SENSOR], [], ModelInfo("x"))
    assert {o.role for o in manifest.outputs} == {"raw"}


def test_a_tensor_input_takes_any_shape(model_path: Path, tmp_path: Path) -> None:
    from edge_sdk.preprocess import TensorSpec

    window = InputDescription("tensor", TensorSpec(mean=1.0, std=2.0), "sensor")
    manifest = wrap_tflite(model_path, tmp_path / "b.tflite", [IMAGE, window], [SCORES], ModelInfo("x"))
    spec = manifest.input("tensor")
    assert (spec.name, spec.shape, spec.preprocess) == ("sensor", (1, 2), TensorSpec(1.0, 2.0))
    assert read_bundle(tmp_path / "b.tflite").manifest == manifest


def test_several_signatures_make_one_bundle_with_an_entry_each(tmp_path: Path) -> None:
    from edge_sdk.bundle.wrap import SignatureDescription, wrap_signatures

    path = tmp_path / "two.tflite"
    path.write_bytes(_with_two_signatures(tiny_tflite()))
    reading = InputDescription("sensor", SENSOR.preprocess, "reading")
    with pytest.raises(BundleError, match=r"no signature 'nope'\. Signatures: \['sensor_only', 'serving_default'\]"):
        wrap_signatures(path, tmp_path / "x.tflite", [SignatureDescription([IMAGE, SENSOR], [SCORES], "nope")],
                        ModelInfo("x"))
    manifest = wrap_signatures(path, tmp_path / "b.tflite", [
        SignatureDescription([IMAGE, SENSOR], [SCORES], "serving_default", {"kind": "classify"}),
        SignatureDescription([IMAGE, reading], [OutputDescription(role="embedding", name="copy")], "sensor_only",
                             {"kind": "embed", "outputs": {"embedding": "copy"}}),
    ], ModelInfo("pair"))
    assert [s.key for s in manifest.signatures] == ["serving_default", "sensor_only"]
    assert manifest.signature("sensor_only").task == {"kind": "embed", "outputs": {"embedding": "copy"}, "labels": [],
                                                      "params": {}}
    bundle = read_bundle(tmp_path / "b.tflite")
    assert bundle.manifest == manifest and "serving_default/labels_scores.txt" in bundle.assets


def test_the_spec_file_names_the_key_path_of_a_mistake(model_path: Path, tmp_path: Path) -> None:
    from edge_sdk.bundle.wrap import wrap_from_spec_file
    from edge_sdk.errors import ConfigError

    spec = tmp_path / "spec.yaml"
    cases = {
        "inputs: [{role: image, name: image}]\noutputs: [{name: scores, role: segmentation_mask}]\n":
            r"outputs\[0\]\.role: expected one of 'scores', .* Got: 'segmentation_mask'",
        "inputs: [{role: image}]\nsignatures: [{key: a}]\n": r"either signatures or inputs/outputs/task",
        "model: {nam: x}\ninputs: [{role: image}]\n": r"model\.nam: unknown key\. Valid keys for model: description, name",
        ("inputs: [{role: image, name: image, preprocess: {width: 4, height: 4}}, {role: sensor, name: sensor, "
         "preprocess: {channels: [{name: a}, {name: b}]}}]\ntask: {kind: detect, outputs: {boxes: bbox}}\n"):
            BundleError,
    }
    for text, expected in cases.items():
        spec.write_text(text)
        if isinstance(expected, str):
            with pytest.raises(ConfigError, match=expected):
                wrap_from_spec_file(model_path, tmp_path / "b.tflite", spec)
        else:
            with pytest.raises(expected, match=r"task\.outputs\.boxes: the model has no output 'bbox'"):
                wrap_from_spec_file(model_path, tmp_path / "b.tflite", spec)


def test_wrap_records_goldens_that_catch_a_changed_preprocessing(tmp_path: Path) -> None:
    """A wrapped image model carries golden vectors (a signed update refuses a bundle without any), they pass
    where it was wrapped, and they fail when the bundle's preprocessing no longer matches the recording."""
    import dataclasses

    from edge_sdk.bundle.io import read_bundle, write_bundle
    from edge_sdk.model import FusionModel

    zoo = Path(__file__).parents[1] / "fixtures" / "zoo"
    out = tmp_path / "classifier.tflite"
    wrap_from_spec_file(zoo / "classifier_with_metadata.tflite", out, zoo / "specs" / "classifier_with_metadata.yaml")
    bundle = read_bundle(out)
    assert len(bundle.manifest.golden) == 1 and bundle.manifest.golden[0].image_asset in bundle.assets
    with FusionModel.from_bundle(out) as model:
        assert model.verify_golden() == 1

    image = bundle.manifest.primary.inputs[0]
    flipped = "RGB" if image.preprocess.color_order == "BGR" else "BGR"
    changed = dataclasses.replace(image, preprocess=dataclasses.replace(image.preprocess, color_order=flipped))
    manifest = bundle.manifest.with_primary(inputs=(changed,))
    write_bundle(tmp_path / "changed.tflite", bundle.flatbuffer, manifest, dict(bundle.assets))
    with pytest.raises(BundleError, match="golden case 0 fails"):
        FusionModel.from_bundle(tmp_path / "changed.tflite")
