"""Captioner and translator: vocabulary, spec, the two-signature bundle, its goldens and Keras/TFLite beam parity.

The bundle tests share the session's tiny bundles (``tiny_captioner``, ``tiny_translator``): real
trainings, conversions and loads, briefly trained, so they check contracts rather than quality
(quality is ``make bench-captioning``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from converters.captioning.model import CaptionerSpec, memory_length, state_names
from converters.captioning.vocab import TargetVocabulary
from converters.errors import ConversionError, DataError, SpecError
from edge_sdk.bundle import Manifest, read_bundle, write_bundle
from edge_sdk.errors import BundleError, InputError
from edge_sdk.preprocess import read_image


def test_the_vocabulary_orders_by_frequency_and_maps_unknown_words() -> None:
    vocab = TargetVocabulary.fit(["a red circle", "a blue circle", "a red square on the left"])
    assert vocab.words[:4] == ("<pad>", "<unk>", "<start>", "<end>")
    assert vocab.words[4:7] == ("a", "circle", "red")
    assert vocab.steps == 7  # the longest caption's 6 words and its end token
    assert vocab.text(vocab.ids("A red CIRCLE")) == "a red circle"
    assert vocab.ids("a green circle") == [vocab.words.index("a"), vocab.unk_id, vocab.words.index("circle")]


def test_teacher_forcing_shifts_by_one_between_start_and_end() -> None:
    vocab = TargetVocabulary.fit(["a red circle", "a square"])
    inputs, targets = vocab.teacher_forcing(["a red circle", "a square"])
    assert inputs.shape == targets.shape == (2, 4)
    a, red, circle, square = (vocab.words.index(w) for w in ("a", "red", "circle", "square"))
    assert inputs.tolist() == [[vocab.start_id, a, red, circle], [vocab.start_id, a, square, 0]]
    assert targets.tolist() == [[a, red, circle, vocab.end_id], [a, square, vocab.end_id, 0]]


def test_a_bad_vocabulary_is_named() -> None:
    with pytest.raises(DataError, match="no texts"):
        TargetVocabulary.fit([])
    with pytest.raises(DataError, match="starts with"):
        TargetVocabulary(("a", "b", "c", "d"), 3)


def test_the_spec_round_trips_and_names_its_state() -> None:
    spec = CaptionerSpec.tiny(rnn="gru", use_source=True)
    assert CaptionerSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert state_names(spec) == ("h",)
    assert state_names(CaptionerSpec.tiny(rnn="lstm")) == ("h", "c")
    image_only = memory_length(CaptionerSpec.tiny(), (32, 32), 0)
    assert memory_length(CaptionerSpec.tiny(use_source=True), (32, 32), 7) == image_only + 7
    assert memory_length(CaptionerSpec.tiny(use_source=True, use_image=False), (32, 32), 7) == 7


@pytest.mark.parametrize(("change", "message"), [
    ({"use_image": False}, "neither"),
    ({"cnn_strides": (2,)}, "same length"),
    ({"rnn": "transformer"}, "'lstm' or 'gru'"),
    ({"dropout": 1.0}, r"\[0, 1\)"),
    ({"rnn_units": 0}, "rnn_units"),
])
def test_a_bad_spec_is_named(change: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        CaptionerSpec.tiny(**change)


def test_export_refuses_unknown_modes_before_any_work(tmp_path: Path) -> None:
    from converters.captioning.export import export_captioner

    with pytest.raises(ConversionError, match="non-empty subset"):
        export_captioner(None, tmp_path, None, modes=("int4",))  # type: ignore[arg-type]


def _report(bundle: Path) -> dict:
    return json.loads((bundle.parent / "report.json").read_text())


@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_one_bundle_two_signatures_builtin_ops_and_no_loop(tiny_captioner: Path, mode: str) -> None:
    from converters.tflite_inspect import inspect_ops

    bundle = read_bundle(tiny_captioner.with_name(f"captioner_{mode}.tflite"))
    signatures = {s.key: s for s in bundle.manifest.signatures}
    assert set(signatures) == {"encode", "decode_step"}
    assert signatures["decode_step"].task["kind"] == "generate"
    assert [i.role for i in signatures["encode"].inputs] == ["image"]
    assert {i.name for i in signatures["decode_step"].inputs} == {"token", "state_h", "state_c", "memory", "keys"}
    ops = inspect_ops(bundle.flatbuffer)
    assert ops.subgraphs == 2
    assert not ops.select_tf_ops and not ops.custom_ops
    assert not {"WHILE", "IF", "CALL_ONCE"} & set(ops.op_counts)
    assert _report(tiny_captioner)["op_counts"][mode] == dict(sorted(ops.op_counts.items()))


def test_tflite_float_beams_equal_the_keras_beams_and_int8_is_measured(tiny_captioner: Path) -> None:
    evaluation = _report(tiny_captioner)["evaluation"]
    assert evaluation["float32"]["beam_parity_vs_keras"] == 1.0
    assert evaluation["float32"]["bleu4"] == pytest.approx(evaluation["keras"]["bleu4"])
    assert 0.0 <= evaluation["int8"]["beam_parity_vs_keras"] <= 1.0
    assert evaluation["int8"]["rows"] == evaluation["keras"]["rows"] > 0


def test_decoder_step_goldens_carry_their_tensors_through_the_manifest(tiny_captioner: Path) -> None:
    manifest = read_bundle(tiny_captioner).manifest
    steps = [g for g in manifest.golden if g.signature == "decode_step"]
    assert len(steps) == 2 and all(g.tensors and set(g.tensors) >= {"token", "memory"} for g in steps)
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_a_wrong_decoder_golden_fails_the_load_naming_its_signature(tiny_captioner: Path, tmp_path: Path) -> None:
    from edge_sdk.generator import Generator

    bundle = read_bundle(tiny_captioner)
    case = next(g for g in bundle.manifest.golden if g.signature == "decode_step")
    memory = case.tensors["memory"]
    assets = {**bundle.assets, memory: _npy(bundle.asset_array(memory) + 0.5)}
    broken = tmp_path / "broken.tflite"
    write_bundle(broken, bundle.flatbuffer, bundle.manifest, assets)
    with pytest.raises(BundleError, match="decode_step"):
        Generator.from_bundle(broken)
    with Generator.from_bundle(broken, verify_golden=False):
        pass


def _npy(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _first_image(bundle: Path) -> np.ndarray:
    return read_image(next((bundle.parent / "data").rglob("*.png")))


def test_the_generator_captions_an_image_with_greedy_and_beam_search(tiny_captioner: Path) -> None:
    from edge_sdk.generator import Generator

    image = _first_image(tiny_captioner)
    with Generator.from_bundle(tiny_captioner) as captioner:
        assert (captioner.mode, captioner.needs_image, captioner.needs_text) == ("caption", True, False)
        beam = captioner.generate(image=image)
        greedy = captioner.generate(image=image, beam_size=1)
        again = captioner.generate(image=image)
    for out in (beam, greedy):
        generation = out.generation
        assert generation.text == " ".join(generation.tokens)
        # a finished hypothesis also scores its end token, which is not among the ids
        assert len(generation.token_log_probs) == len(generation.token_ids) + generation.finished
        assert all(p <= 0 for p in generation.token_log_probs)
        assert out.steps >= 1 and out.encode_ms > 0 and out.decode_ms > 0
    assert beam.generation.beam_size == 3 and greedy.generation.beam_size == 1
    assert again.generation == beam.generation  # the step interpreter's state does not leak between inputs
    json.dumps(beam.to_json(), allow_nan=False)


def test_the_translator_needs_a_sentence_and_reads_both_inputs(tiny_translator: Path) -> None:
    from edge_sdk.generator import Generator

    image = _first_image(tiny_translator)
    with Generator.from_bundle(tiny_translator) as translator:
        assert (translator.mode, translator.needs_image, translator.needs_text) == ("translate", True, True)
        with pytest.raises(InputError):
            translator.generate(image=image)
        out = translator.generate(image=image, text="find the red circle")
        assert out.generation.beam_size == 3
        assert isinstance(out.generation.text, str)
        with pytest.raises(InputError, match="beam_size"):
            translator.generate(image=image, text="find the red circle", beam_size=0)


def test_a_bundle_without_a_decoder_step_is_refused_by_name() -> None:
    from edge_sdk.generator import Generator

    with pytest.raises(BundleError, match="'generate'"):
        Generator.from_bundle("seek")


def test_generating_on_the_device_never_imports_tensorflow(tiny_captioner: Path) -> None:
    code = (
        "import sys, json; from edge_sdk.generator import Generator; from edge_sdk.preprocess import read_image\n"
        f"image = read_image({str(next((tiny_captioner.parent / 'data').rglob('*.png')))!r})\n"
        f"with Generator.from_bundle({str(tiny_captioner)!r}) as g: text = g.generate(image=image).generation.text\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'tf_keras'})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
