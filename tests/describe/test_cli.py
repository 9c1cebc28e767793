"""``edge-sdk caption`` and ``edge-sdk translate`` on real tiny bundles, in process (main(argv))."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_sdk.cli import main
from edge_sdk.runtime import default_bundle_path


def _first_image(bundle: Path) -> Path:
    return min((bundle.parent / "data" / "images").glob("*.png"))


def test_caption_of_an_image_prints_the_caption(tiny_captioner: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = _first_image(tiny_captioner)
    assert main(["caption", str(image), "--bundle", str(tiny_captioner)]) == 0
    text = capsys.readouterr().out.strip()
    assert text  # real words, if poorly chosen: the bundle is briefly trained
    assert main(["caption", str(image), "--bundle", str(tiny_captioner), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["file"] == str(image) and record["text"] == text == " ".join(record["tokens"])
    assert len(record["token_log_probs"]) >= len(record["tokens"]) and all(v <= 0 for v in record["token_log_probs"])
    assert record["encode_ms"] > 0 and record["decode_ms"] > 0 and record["steps"] >= len(record["tokens"])
    assert main(["caption", str(image), "--bundle", str(tiny_captioner), "--json", "--beam", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["beam_size"] == 1


def test_caption_of_a_video_captions_one_frame_per_interval(tiny_captioner: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    images = sorted((tiny_captioner.parent / "data" / "images").glob("*.png"))[:4]
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (32, 32))
    for image in images:  # 4 scenes of 0.5 s each: 2 s of video at 10 fps
        frame = cv2.resize(cv2.imread(str(image)), (32, 32))
        for _ in range(5):
            writer.write(frame)
    writer.release()
    assert main(["caption", str(video), "--bundle", str(tiny_captioner), "--every-s", "0.5", "--json",
                 "--beam", "2"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["t_s"] for line in lines] == [0.0, 0.5, 1.0, 1.5]
    assert all(line["beam_size"] == 2 and line["text"] == " ".join(line["tokens"]) for line in lines)
    assert main(["caption", str(video), "--bundle", str(tiny_captioner), "--every-s", "1"]) == 0
    plain = capsys.readouterr().out.splitlines()
    assert len(plain) == 2 and plain[0].strip().startswith("0.00s")


def test_translate_prints_the_translation_of_the_text(tiny_translator: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    image = _first_image(tiny_translator)
    argv = ["translate", "--image", str(image), "--bundle", str(tiny_translator), "go to the blue square"]
    assert main([*argv, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["source_text"] == "go to the blue square" and record["mode"] == "translate"
    assert record["text"] == " ".join(record["tokens"]) and record["steps"] >= 1
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == record["text"]


def test_caption_refuses_a_bundle_that_is_not_a_generate_bundle(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "scene.png"
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    assert main(["caption", str(image), "--bundle", str(default_bundle_path())]) == 2
    assert "expected a generate bundle (a captioner or translator" in capsys.readouterr().err


def test_caption_with_a_translator_says_it_needs_text(tiny_translator: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["caption", str(_first_image(tiny_translator)), "--bundle", str(tiny_translator)]) == 2
    err = capsys.readouterr().err
    assert "is a translator" in err and "expected `edge-sdk translate --image IMAGE" in err
    assert "Got: no text to translate" in err


def test_translate_with_a_captioner_says_it_takes_no_text(tiny_captioner: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    image = _first_image(tiny_captioner)
    assert main(["translate", "--image", str(image), "--bundle", str(tiny_captioner), "find the red circle"]) == 2
    err = capsys.readouterr().err
    assert "is a captioner" in err and "Got: a text to translate, 'find the red circle'" in err


def test_translate_refuses_an_empty_text(tiny_translator: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = _first_image(tiny_translator)
    assert main(["translate", "--image", str(image), "--bundle", str(tiny_translator), "  "]) == 2
    assert "expected a sentence to translate. Got: an empty text" in capsys.readouterr().err


def test_unreadable_image_and_video_are_refused(tiny_captioner: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    assert main(["caption", str(broken), "--bundle", str(tiny_captioner)]) == 2
    assert "cannot read the image" in capsys.readouterr().err
    assert main(["caption", str(tmp_path / "missing.jpg"), "--bundle", str(tiny_captioner)]) == 2
    assert "Got: no such file" in capsys.readouterr().err
    video = tmp_path / "broken.mp4"
    video.write_bytes(b"\x00" * 64)
    assert main(["caption", str(video), "--bundle", str(tiny_captioner)]) == 2
    assert "or a video OpenCV can open" in capsys.readouterr().err
