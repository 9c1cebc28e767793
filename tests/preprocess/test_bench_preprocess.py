"""``bench/preprocess.py`` runs and reports every convention and size, table first, JSON last."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_bench_prints_a_table_then_one_json_line() -> None:
    done = subprocess.run([sys.executable, str(REPO / "bench" / "preprocess.py"), "--repeats", "2"], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert lines[0].split()[:4] == ["frame", "input", "convention", "resize"]
    keys = set(figures["prepare_image"])
    for case in ("640x480->128x128", "1280x720->256x256"):
        for convention in ("opencv", "mediapipe"):
            assert {f"{case}/{convention}/{resize}" for resize in ("stretch", "letterbox", "center_crop")} <= keys
    assert all(value > 0 for value in figures["prepare_image"].values())
