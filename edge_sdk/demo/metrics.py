"""Scoring a demo run: decisions against the clip's per-frame ground truth, and delivery latency."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FrameTruth", "Score", "load_truth", "percentile_ms", "score"]


@dataclass(frozen=True)
class FrameTruth:
    labels: tuple[str, ...]  # by frame number
    fps: float

    def label_at(self, media_t_s: float) -> str | None:
        """Ground truth of the frame shown at ``media_t_s`` (None past the end of the clip)."""
        index = round(media_t_s * self.fps)
        return self.labels[index] if 0 <= index < len(self.labels) else None


@dataclass(frozen=True)
class Score:
    scored: int  # decisions matched to a truth frame
    correct: int
    confusion: Mapping[tuple[str, str], int]  # (truth, decision) -> count

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.scored if self.scored else None


def load_truth(path: str | Path, fps: float) -> FrameTruth:
    """The ``.truth.jsonl`` written by :func:`edge_sdk.demo.seek.write_clip`, indexed by frame number."""
    labels: dict[int, str] = {}
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            if line.strip():
                record = json.loads(line)
                labels[int(record["frame"])] = str(record["label"])
    return FrameTruth(tuple(labels[i] for i in range(len(labels))), fps)


def score(decisions: Iterable[tuple[float, str | None]], truth: FrameTruth) -> Score:
    """``decisions``: ``(media_t_s, label)`` pairs; a decision on no truth frame is not scored."""
    confusion: Counter[tuple[str, str]] = Counter()
    for media_t_s, label in decisions:
        expected = truth.label_at(media_t_s)
        if expected is not None:
            confusion[(expected, label or "none")] += 1
    correct = sum(count for (expected, got), count in confusion.items() if expected == got)
    return Score(sum(confusion.values()), correct, dict(confusion))


def percentile_ms(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100), rounded to 0.1 ms; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return round(ordered[rank - 1], 1)
