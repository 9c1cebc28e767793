"""``edge-sdk caption`` and ``edge-sdk translate``: a generate bundle on one file, for quick use.

    edge-sdk caption scene.png --bundle captioner_int8.tflite              # the caption on stdout
    edge-sdk caption clip.mp4 --bundle captioner_int8.tflite --every-s 2  # one line per 2 s of video
    edge-sdk translate --image scene.png --bundle translator_int8.tflite "find the red circle"

``--json`` prints one JSON object per description instead (JSON lines for a video): the text, its
tokens and their log-probabilities, the beam, and the encode and decode times. Exit 2 with one line
on stderr when the bundle is not a generate bundle, does the other task (a translator given no text,
a captioner given text), or the image or video cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edge_sdk.errors import ConfigError, InputError

if TYPE_CHECKING:
    from edge_sdk.generator import Generator

__all__ = ["register", "run_caption", "run_translate"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pnm")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``caption`` and ``translate`` to ``edge-sdk``'s sub-commands."""
    caption = subparsers.add_parser(
        "caption", help="caption an image, or frames of a video, with a generate bundle (captioner)",
        description="Caption IMAGE, or the frames of VIDEO every --every-s seconds of its own time.")
    caption.add_argument("media", metavar="IMAGE|VIDEO", help="an image file (png, jpg...) or a video OpenCV opens")
    _common(caption)
    caption.add_argument("--every-s", type=float, default=1.0,
                         help="a video: caption one frame per this many seconds of video; default %(default)s")
    caption.set_defaults(func=run_caption)

    translate = subparsers.add_parser(
        "translate", help="translate a text command given an image, with a generate bundle (translator)",
        description="Translate TEXT conditioned on IMAGE (the scene the command is about).")
    translate.add_argument("text", help="the sentence to translate: 'find the red circle'")
    translate.add_argument("--image", required=True, help="the image the sentence is about")
    _common(translate)
    translate.set_defaults(func=run_translate)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bundle", "-m", required=True, help="the generate bundle (.tflite with encode and "
                                                             "decode_step signatures)")
    parser.add_argument("--beam", type=int, help="beam width; 1: greedy; default: the bundle's own")
    parser.add_argument("--json", action="store_true", help="print JSON (one object per description)")


def run_caption(args: argparse.Namespace) -> int:
    if args.every_s is not None and not args.every_s > 0:
        raise ConfigError(f"--every-s: expected a positive number of seconds. Got: {args.every_s}")
    path = Path(args.media)
    with _open_generator(args.bundle, wants_text=False) as generator:
        if path.suffix.lower() in IMAGE_SUFFIXES:
            described = generator.generate(image=_read_image(path), beam_size=args.beam)
            _print(described.to_json() if args.json else described.generation.text,
                   {"file": str(path), "mode": "caption"}, args.json)
            return 0
        for t_s, frame in _video_frames(path, args.every_s):
            described = generator.generate(image=frame, beam_size=args.beam)
            if args.json:
                _print(described.to_json(), {"file": str(path), "mode": "caption", "t_s": round(t_s, 3)}, True)
            else:
                print(f"{t_s:8.2f}s  {described.generation.text}", flush=True)
    return 0


def run_translate(args: argparse.Namespace) -> int:
    if not args.text.strip():
        raise InputError("TEXT: expected a sentence to translate. Got: an empty text")
    image = _read_image(Path(args.image))
    with _open_generator(args.bundle, wants_text=True, text=args.text) as generator:
        described = generator.generate(image=image, text=args.text, beam_size=args.beam)
    _print(described.to_json() if args.json else described.generation.text,
           {"file": args.image, "mode": "translate", "source_text": args.text}, args.json)
    return 0


def _print(body: dict[str, Any] | str, head: dict[str, Any], as_json: bool) -> None:
    if as_json:
        assert isinstance(body, dict)
        print(json.dumps({**head, **body}), flush=True)
    else:
        print(body, flush=True)


def _open_generator(path: str, *, wants_text: bool, text: str | None = None) -> Generator:
    """The bundle's generator, after checking that it is a generate bundle doing the task asked for."""
    from edge_sdk.bundle import read_bundle
    from edge_sdk.describe.serving import is_generate_bundle
    from edge_sdk.errors import BundleError
    from edge_sdk.generator import Generator

    bundle = read_bundle(path)
    if not is_generate_bundle(bundle):
        found = {s.key: (s.task or {}).get("kind") for s in bundle.manifest.signatures}
        raise BundleError(f"{path}: expected a generate bundle (a captioner or translator: signatures encode and "
                          f"decode_step, task 'generate'). Got: signatures and tasks {found}")
    generator = Generator.from_bundle(bundle)
    if generator.needs_text and not wants_text:
        generator.close()
        raise InputError(f"{path} is a translator (its encode signature takes a text input): expected "
                         f"`edge-sdk translate --image IMAGE --bundle {path} TEXT`. Got: no text to translate")
    if wants_text and not generator.needs_text:
        generator.close()
        raise InputError(f"{path} is a captioner (its encode signature takes no text input): expected "
                         f"`edge-sdk caption IMAGE --bundle {path}`. Got: a text to translate, {text!r}")
    return generator


def _read_image(path: Path) -> np.ndarray:
    from edge_sdk._lazy import require

    cv2 = require("cv2", "reading images")
    if not path.is_file():
        raise InputError(f"cannot read the image {path}: expected an image file. Got: no such file")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # BGR, what the generator assumes by default
    if image is None:
        raise InputError(f"cannot read the image {path}: expected a file OpenCV can decode (png, jpg, bmp...). "
                         f"Got: {path.stat().st_size} bytes it cannot decode")
    return np.asarray(image)


def _video_frames(path: Path, every_s: float) -> Iterator[tuple[float, np.ndarray]]:
    """``(t_s, BGR frame)`` every ``every_s`` seconds of the video's own time, the first frame first."""
    from edge_sdk._lazy import require

    cv2 = require("cv2", "reading videos")
    if not path.is_file():
        raise InputError(f"cannot read {path}: expected an image or a video file. Got: no such file")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise InputError(f"cannot read {path}: expected an image ({', '.join(IMAGE_SUFFIXES)}) or a video "
                             f"OpenCV can open. Got: a file OpenCV cannot open as a video")
        fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
        index, next_s, read = 0, 0.0, 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            t_s = index / fps if fps > 0 else capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            index += 1
            if t_s + 1e-6 >= next_s:
                read += 1
                next_s = t_s + every_s
                yield t_s, frame
        if read == 0:
            raise InputError(f"cannot read {path}: expected a video with frames. Got: no frame decoded")
    finally:
        capture.release()


if __name__ == "__main__":
    from edge_sdk.cli import main

    sys.exit(main(["caption", *sys.argv[1:]]))
