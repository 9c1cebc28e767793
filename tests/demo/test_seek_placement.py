"""Seek scenes with touching shapes and targets at zone borders (issue 16's video gap), and the bench
step that sorts the demo video's misses by them."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from edge_sdk.demo.seek import sample_scene
from edge_sdk.demo.seek.video import SeekClip

REPO = Path(__file__).resolve().parents[2]


def _nearest_gap(scene) -> float:  # type: ignore[no-untyped-def]
    """Centre distance over the sum of radii, target to its nearest other shape (inf when alone)."""
    target = scene.target()
    return min((math.hypot(target.x - o.x, target.y - o.y) / (target.radius + o.radius)
                for o in scene.shapes if o is not target), default=math.inf)


def test_default_scenes_keep_shapes_apart_and_targets_off_the_borders() -> None:
    rng = np.random.default_rng(1)
    scenes = [sample_scene(rng, label=("left", "center", "right")[i % 3]) for i in range(300)]
    assert min(_nearest_gap(s) for s in scenes) >= 1.05
    assert min(min(abs(s.target().x - 1 / 3), abs(s.target().x - 2 / 3)) for s in scenes) >= 0.04  # type: ignore[union-attr]


def test_touching_puts_a_distractor_against_the_target_with_its_centre_in_view() -> None:
    rng = np.random.default_rng(2)
    scenes = [sample_scene(rng, label=("left", "center", "right")[i % 3], touching=1.0) for i in range(300)]
    gaps = [_nearest_gap(s) for s in scenes]
    assert max(gaps) <= 1.1 + 1e-9 and sum(g < 1.0 for g in gaps) > 200  # all in contact, most overlapping
    for scene in scenes:
        target = scene.target()
        assert target is not None and scene.label in ("left", "center", "right")
        for other in scene.shapes:
            if other is not target:  # nobody covers the target's centre
                assert math.hypot(target.x - other.x, target.y - other.y) >= 0.9 * other.radius - 1e-9


def test_zone_margin_zero_reaches_the_borders_and_the_defaults_draw_the_same_scenes() -> None:
    rng = np.random.default_rng(3)
    near = [sample_scene(rng, label="center", zone_margin=0.0).target().x for _ in range(400)]  # type: ignore[union-attr]
    assert min(near) < 1 / 3 + 0.01 and max(near) > 2 / 3 - 0.01
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    assert [sample_scene(a) for _ in range(50)] == [sample_scene(b, touching=0.0, zone_margin=0.04) for _ in range(50)]


@pytest.mark.parametrize("bad", [{"touching": 1.5}, {"zone_margin": -0.1}, {"zone_margin": 0.2}])
def test_placement_options_out_of_range_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="touching must be in"):
        sample_scene(np.random.default_rng(0), **bad)


def test_the_bench_step_scores_the_shipped_bundle_on_a_clip_and_sorts_its_misses(tmp_path: Path) -> None:
    sys.path.insert(0, str(REPO / "bench"))
    from _video_gap import CONDITIONS, breakdown, frame_facts, miss_kind, predict_conditions

    clip = SeekClip(seconds=20.0, fps=5.0, size=192, seed=0)  # covers the demo's first occlusion (t 17-20 s)
    facts = frame_facts(clip)
    answers = predict_conditions(REPO / "edge_sdk" / "data" / "seek_int8.tflite", clip, tmp_path)
    table = breakdown(facts, answers)
    assert set(answers) == set(CONDITIONS) and all(len(a) == clip.frame_count for a in answers.values())
    for name in CONDITIONS:
        assert 0.7 < table[name]["acc"] <= 1.0
        assert sum(table[name]["misses_by_kind"].values()) == table[name]["misses"]
    # the runtime's decode of the file answers as cv2's decode of it: the same pixels
    assert answers["runtime"] == answers["codec"]
    assert any(miss_kind(f) == "touching" and f.visible is not None and f.visible < 0.95 for f in facts)


def test_touching_shapes_come_in_scenes_without_the_target_too() -> None:
    """Touching only beside a present target would teach "two shapes touch: it is there"."""
    rng = np.random.default_rng(6)
    for label in ("absent", "left"):
        scenes = [sample_scene(rng, label=label, touching=1.0) for _ in range(100)]
        contact = [any(math.hypot(a.x - b.x, a.y - b.y) <= (a.radius + b.radius) * 1.1 + 1e-9
                       for i, a in enumerate(s.shapes) for b in s.shapes[i + 1:]) for s in scenes]
        assert all(contact) and all(s.label == label for s in scenes), label
