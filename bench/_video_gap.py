"""Why the demo video scores lower than held-out stills (issue 16), for bench/toolchain.py.

The bundle answers every frame of the demo's seek clip (the scenes ``make demo`` plays, with the
command the demo sends at that frame and the frame's own distance, so no timing enters) four ways:

* ``training_render``: the frame's scene drawn as training draws its stills (64 px, supersample 4);
* ``video_render``: the frame as the clip renders it (192 px, supersample 2), resized by the model's
  own preprocessing as on the device;
* ``codec``: the same frame after the MJPG round trip of the demo's ``seek.avi`` (cv2 decode);
* ``runtime``: that file read by the runtime's own file source (``every_frame``), as ``make demo``
  reads it, through :meth:`FusionModel.prepare` as the pipeline calls it.

Held-out stills of the training distribution (``stills``) are scored the same way beside them.
Misses are broken down by the target's distance to the nearest zone border (in 64 px input pixels;
training keeps target centres 0.04 of the width, 2.56 px, away from a border) and by whether another
shape touches or overlaps the target (closer than training's placement rule allows), with the share
of the target left in view.

``--live`` also runs ``make demo``'s loop itself and sorts its misses by what the runtime fused (a
distance on the wrong side of the blocking threshold, a command for another object).
``python bench/_video_gap.py --ab`` also trains two small attention models side by side, on the
default seek data and on data with touching shapes and no border margin, and scores both int8
bundles on the decoded video: the effect of the training-data fix at a scale that fits a bench.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

from edge_sdk.demo.seek.video import SeekClip, write_clip
from edge_sdk.demo.seek.world import LABELS, Scene, render_scene, sample_scene

_log = logging.getLogger("bench.video_gap")
CONDITIONS = ("training_render", "video_render", "codec", "runtime")
TRAINING_MARGIN_PX = 0.04 * 64  # world._ZONE_MARGIN at the model's 64 px
# The demo's clip (edge_sdk.demo.session.DemoOptions): 60 s at 15 fps, 192 px, seed 0.
DEMO_CLIP = {"seconds": 60.0, "fps": 15.0, "size": 192, "seed": 0}


@dataclass(frozen=True)
class FrameFacts:
    """What a frame's scene says about its target, for sorting the misses."""

    index: int
    label: str
    text: str
    distance_cm: float
    border_px: float | None  # target centre to the nearest zone border, at 64 px; None: no target
    visible: float | None  # share of the target's pixels left in view by shapes drawn over it
    touching: bool  # another shape nearer than training's placement allows (1.05 x the radii)


def frame_facts(clip: SeekClip) -> list[FrameFacts]:
    facts = []
    for index in range(clip.frame_count):
        scene = clip.scene_at(index / clip.fps)
        target = scene.target()
        border = visible = None
        touching = False
        if target is not None:
            border = min(abs(target.x - 1 / 3), abs(target.x - 2 / 3)) * 64
            visible = _visible_share(scene)
            touching = any(math.hypot(target.x - o.x, target.y - o.y) < (target.radius + o.radius) * 1.05
                           for o in scene.shapes if o is not target)
        # the command the demo sends (its wording is the trace's; the scene's own text words it otherwise)
        text = clip.command_at(index / clip.fps)
        facts.append(FrameFacts(index, scene.label, text, scene.distance_cm, border, visible, touching))
    return facts


def _visible_share(scene: Scene) -> float:
    """Pixels the target changes in the full picture over pixels it covers alone (noise off)."""
    target = scene.target()
    assert target is not None

    def draw(shapes: tuple[Any, ...]) -> np.ndarray:
        return render_scene(replace(scene, shapes=shapes), 64, 4, noise_std=0).astype(np.int16)

    others = tuple(s for s in scene.shapes if s is not target)
    seen = np.abs(draw(scene.shapes) - draw(others)).sum(-1) > 0
    covered = np.abs(draw((target,)) - draw(())).sum(-1) > 0
    return float(seen.sum() / max(1, covered.sum()))


def predict_conditions(bundle: str | Path, clip: SeekClip, workdir: Path) -> dict[str, list[str]]:
    """The bundle's answer to every frame under each of :data:`CONDITIONS`."""
    import cv2

    from edge_sdk.model import FusionModel
    from edge_sdk.sources.factory import open_frame_source

    paths = write_clip(workdir / "seek.avi", clip)
    answers: dict[str, list[str]] = {name: [] for name in CONDITIONS}
    capture = cv2.VideoCapture(str(paths.video))
    source = open_frame_source({"source": f"file://{paths.video.resolve()}", "playback": "every_frame"})
    with FusionModel.from_bundle(bundle) as model:
        try:
            for frame in clip:
                scene = clip.scene_at(frame.t_s)
                sensor = {"distance_cm": frame.distance_cm}

                def answer(pixels: np.ndarray, order: Any, sensor: dict[str, float] = sensor,
                           text: str = clip.command_at(frame.t_s)) -> str:  # as the demo sends it
                    return str(model.predict(pixels, text, sensor, color_order=order).label)

                answers["training_render"].append(answer(render_scene(scene, size=64), "RGB"))
                answers["video_render"].append(answer(frame.rgb, "RGB"))
                ok, bgr = capture.read()
                if not ok:
                    raise RuntimeError(f"{paths.video}: cv2 could not decode frame {frame.index}")
                answers["codec"].append(answer(bgr, "BGR"))
                decoded = source.read()
                if decoded is None:
                    raise RuntimeError(f"{paths.video}: the runtime's source ended at frame {frame.index}")
                answers["runtime"].append(answer(decoded.pixels, decoded.color_order))
        finally:
            capture.release()
            source.close()
    return answers


def stills_accuracy(bundle: str | Path, samples: int = 2000, seed: int = 7, touching: float = 0.0) -> float:
    """Accuracy on fresh stills drawn as training draws them (``touching``: share with a touching shape)."""
    from edge_sdk.model import FusionModel

    rng = np.random.default_rng(seed)
    correct = 0
    with FusionModel.from_bundle(bundle) as model:
        for _ in range(samples):
            scene = sample_scene(rng, touching=touching)
            got = model.predict(render_scene(scene), scene.text, {"distance_cm": scene.distance_cm}, color_order="RGB")
            correct += got.label == scene.label
    return correct / samples


def miss_kind(fact: FrameFacts) -> str:
    """A miss's bucket: the nearest border first (within 1 px, within training's margin), then touching."""
    if fact.border_px is None or fact.label not in ("left", "center", "right"):
        return "no_target"
    if fact.border_px < 1.0:
        return "border_under_1px"
    if fact.border_px < TRAINING_MARGIN_PX:
        return "border_1_to_2.6px"
    return "touching" if fact.touching else "other"


def breakdown(facts: list[FrameFacts], answers: dict[str, list[str]]) -> dict[str, Any]:
    """Accuracy per condition and the misses of each sorted by :func:`miss_kind`."""
    out: dict[str, Any] = {"frames": len(facts), "frames_by_kind": dict(Counter(miss_kind(f) for f in facts))}
    for name, got in answers.items():
        misses = [f for f, g in zip(facts, got) if g != f.label]
        out[name] = {
            "acc": round(1 - len(misses) / len(facts), 4),
            "misses": len(misses),
            "misses_by_kind": dict(Counter(miss_kind(f) for f in misses)),
            "confusion": dict(Counter(f"{f.label}->{g}" for f, g in zip(facts, got) if g != f.label)),
            "min_visible_of_touching_misses": min((round(f.visible or 0, 2) for f in misses
                                                   if miss_kind(f) == "touching"), default=None),
        }
    touching = [i for i, f in enumerate(facts) if miss_kind(f) == "touching"]
    if touching:
        out["touching_frames_acc"] = round(
            sum(answers["runtime"][i] == facts[i].label for i in touching) / len(touching), 4)
    return out


def miss_figure(path: Path, clip: SeekClip, facts: list[FrameFacts], answers: list[str], count: int = 8) -> Path:
    """A strip of missed frames as the model sees them (64 px, shown 3x), the truth and the answer under each:
    an even share for each kind of miss the bundle makes (a retrained bundle misses absent frames too)."""
    import cv2

    kinds = ("touching", "border_under_1px", "border_1_to_2.6px", "no_target", "other")
    runs = {kind: [f.index for f, a in zip(facts, answers) if a != f.label and miss_kind(f) == kind] for kind in kinds}
    present = [kind for kind in kinds if runs[kind]]
    each = -(-count // max(1, len(present)))  # every kind that missed gets its share, spread over its frames
    picks: list[int] = []
    for kind in present:
        picks += runs[kind][:: max(1, len(runs[kind]) // each)][:each]
    tiles = []
    for index in picks[:count]:
        fact = facts[index]
        pixels = cv2.resize(render_scene(clip.scene_at(index / clip.fps), size=clip.size, supersample=2), (64, 64),
                            interpolation=cv2.INTER_AREA)
        big = cv2.resize(pixels, (192, 192), interpolation=cv2.INTER_NEAREST)[:, :, ::-1].copy()
        for x in (64, 128):  # the zone borders
            cv2.line(big, (x, 0), (x, 191), (255, 255, 255), 1)
        caption = np.full((44, 192, 3), 255, np.uint8)
        where = f"{fact.border_px:.1f}px to border" if fact.border_px is not None else ""
        seen = f", {fact.visible:.0%} seen" if fact.visible is not None and fact.visible < 0.995 else ""
        seen += ", touching" if fact.touching and not seen else ""
        for row, text in enumerate((f"#{index} {' '.join(fact.text.split()[-2:])}",
                                    f"truth {fact.label}, said {answers[index]}", where + seen)):
            cv2.putText(caption, text, (3, 12 + 14 * row), cv2.FONT_HERSHEY_PLAIN, 0.85, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.concatenate([big, caption], axis=0))
    path.parent.mkdir(parents=True, exist_ok=True)
    if not tiles or not cv2.imwrite(str(path), np.concatenate(tiles, axis=1), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"cannot write the miss figure {path}")
    return path


def video_gap(bundle: str | Path, workdir: Path, figure: Path | None = None) -> dict[str, Any]:
    """The bench keys: the four video conditions, held-out stills, and the misses by kind."""
    clip = SeekClip(**DEMO_CLIP)  # type: ignore[arg-type]
    facts = frame_facts(clip)
    answers = predict_conditions(bundle, clip, workdir)
    table = breakdown(facts, answers)
    (workdir / "video_gap.json").write_text(json.dumps({**table, "runtime_answers": answers["runtime"]}, indent=1))
    if figure is not None:
        miss_figure(figure, clip, facts, answers["runtime"])
    runtime = table["runtime"]
    return {
        "video_acc": runtime["acc"],
        "video_stills_acc": table["video_render"]["acc"],
        "video_codec_stills_acc": table["codec"]["acc"],
        "video_training_render_acc": table["training_render"]["acc"],
        "stills_acc": round(stills_accuracy(bundle), 4),
        "stills_touching_acc": round(stills_accuracy(bundle, touching=1.0), 4),
        "video_touching_frames_acc": table.get("touching_frames_acc"),
        "video_misses": runtime["misses"],
        "video_border_misses": {k: runtime["misses_by_kind"].get(k, 0)
                                for k in ("border_under_1px", "border_1_to_2.6px")},
        "video_touching_misses": runtime["misses_by_kind"].get("touching", 0),
        "video_other_misses": runtime["misses_by_kind"].get("other", 0) + runtime["misses_by_kind"].get("no_target", 0),
    }


def live_breakdown(workdir: Path, facts: list[FrameFacts], offline: list[str]) -> dict[str, Any]:
    """``make demo`` itself (realtime video, commands over MQTT, distances over the serial bridge): its misses
    sorted by what the runtime fused (a command the frame no longer had, a distance on the wrong side of
    the blocking threshold) and else by whether the offline answer misses the frame too; every frame
    goes to ``live_frames.jsonl``."""
    from edge_sdk.demo.seek.world import BLOCKED_BELOW_CM
    from edge_sdk.demo.session import DemoOptions, SeekDemo

    options = DemoOptions(seconds=DEMO_CLIP["seconds"], fps=DEMO_CLIP["fps"], size_px=int(DEMO_CLIP["size"]),
                          seed=int(DEMO_CLIP["seed"]), workdir=workdir, dashboard_port=0)
    demo = SeekDemo(options)
    summary = demo.run()
    assert demo.subscriber is not None
    # the demo's own map from a result's frame time to its video time (what its score uses)
    media = demo._media_by_frame_ts  # private, but it is what the demo scores with
    kinds: Counter[str] = Counter()
    stale_text_frames = 0
    with (workdir / "live_frames.jsonl").open("w") as log:
        for receipt in demo.subscriber.receipts():
            media_t_s = media.get(round(receipt.frame_ts, 4))
            index = None if media_t_s is None else round(media_t_s * options.fps)
            if index is None or not 0 <= index < len(facts):
                continue
            fact = facts[index]
            log.write(json.dumps({"frame": index, "label": fact.label, "said": receipt.label, "text": receipt.text,
                                  "truth_text": fact.text, "distance_cm": receipt.distance_cm,
                                  "truth_distance_cm": fact.distance_cm}) + "\n")
            stale = (receipt.text or "").split()[-2:] != fact.text.split()[-2:]  # another colour or shape
            stale_text_frames += stale
            if receipt.label == fact.label:
                continue
            if stale:
                kinds["stale_text"] += 1
            elif (receipt.distance_cm is None) or ((receipt.distance_cm < BLOCKED_BELOW_CM)
                                                   != (fact.distance_cm < BLOCKED_BELOW_CM)):
                kinds["stale_distance"] += 1
            elif offline[index] != fact.label:
                kinds["offline_miss_too"] += 1
            else:
                kinds["other"] += 1
    return {"live_acc": summary["accuracy"], "live_scored": summary["scored"], "live_misses_by_cause": dict(kinds),
            "live_stale_text_frames": stale_text_frames, "live_frames_dropped": summary["frames_dropped"]}


ARMS: dict[str, dict[str, float]] = {"default": {}, "touching": {"touching": 0.3, "zone_margin": 0.0}}


def train_ab(workdir: Path, samples: int, epochs: int, seed: int = 0,
             arms: tuple[str, ...] = ("default", "touching")) -> dict[str, Any]:
    """Attention models trained as ``build-seek-bundle`` trains the shipped one, on default data and on
    data with touching shapes and no border margin (:data:`ARMS`), scored on the video.

    At 20,000 samples, seed 0, the touching arm is the shipped bundle's recipe at 80 epochs (``make
    seek-bundle``) and the default arm the older bundle's at 40 (docs/training.md)."""
    import dataclasses

    from converters.spec import ModelSpec
    from converters.workflow import SEEK_TRAIN_CONFIG, export_bundles, load_dataset, split_tensors, train_on_dataset
    from edge_sdk.demo.seek import write_dataset

    clip = SeekClip(**DEMO_CLIP)  # type: ignore[arg-type]
    facts = frame_facts(clip)
    out: dict[str, Any] = {"ab_samples": samples, "ab_epochs": epochs}
    for arm in arms:
        placement = ARMS[arm]
        data = workdir / arm / "data"
        stamp = data / ".stamp"
        key = json.dumps({"samples": samples, "seed": seed, **placement})
        if not (stamp.is_file() and stamp.read_text() == key):
            write_dataset(data, samples, seed=seed, **placement)  # type: ignore[arg-type]
            stamp.write_text(key)
        dataset = load_dataset(data / "manifest.csv", labels=LABELS, seed=seed, progress=False)
        tensors = split_tensors(dataset, progress=False)
        config = dataclasses.replace(SEEK_TRAIN_CONFIG, epochs=epochs, seed=seed)  # as build-seek-bundle
        trained = train_on_dataset(dataset, ModelSpec(fusion="attention"), config, name=arm, tensors=tensors,
                                   progress=False)
        outcomes = export_bundles(trained, dataset, tensors, workdir / arm / "bundles", ("int8_io_uint8",),
                                  model_name="seek", golden_count=2, latency_runs=5)
        bundle = outcomes[0].bundle_path
        table = breakdown(facts, predict_conditions(bundle, clip, workdir / arm))
        out[f"ab_{arm}_test_int8_acc"] = round(outcomes[0].report.tflite_accuracy, 4)
        out[f"ab_{arm}_stills_acc"] = round(stills_accuracy(bundle), 4)
        out[f"ab_{arm}_video_acc"] = table["runtime"]["acc"]
        out[f"ab_{arm}_video_misses_by_kind"] = table["runtime"]["misses_by_kind"]
        out[f"ab_{arm}_train_s"] = round(trained.train_s, 1)
        _log.info("%s: %s", arm, {k: v for k, v in out.items() if k.startswith(f"ab_{arm}")})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default=str(REPO / "edge_sdk" / "data" / "seek_int8.tflite"))
    parser.add_argument("--workdir", default="work/bench-toolchain/video-gap")
    parser.add_argument("--figure", default="", help="write the strip of missed frames here (PNG)")
    parser.add_argument("--ab", action="store_true", help="also train the two small models and compare them")
    parser.add_argument("--live", action="store_true", help="also run the demo itself and sort its extra misses")
    parser.add_argument("--ab-samples", type=int, default=8000)
    parser.add_argument("--ab-epochs", type=int, default=20)
    parser.add_argument("--ab-arms", default="default,touching", help=f"comma-separated, of {', '.join(ARMS)}")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.ab_arms.split(",")) - set(ARMS) - {""})
    if unknown:
        parser.error(f"--ab-arms: expected names of {', '.join(ARMS)}. Got: {', '.join(unknown)}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    summary = video_gap(args.bundle, work, Path(args.figure) if args.figure else None)
    if args.live:
        clip = SeekClip(**DEMO_CLIP)  # type: ignore[arg-type]
        table = json.loads((work / "video_gap.json").read_text())
        summary.update(live_breakdown(work / "live", frame_facts(clip), table["runtime_answers"]))
    if args.ab:
        summary.update(train_ab(work / "ab", args.ab_samples, args.ab_epochs,
                                arms=tuple(a for a in args.ab_arms.split(",") if a)))
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
