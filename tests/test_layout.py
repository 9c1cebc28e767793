"""The tree keeps its shape: small modules, and the README's example runs as written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400
# A longer module says why in its first lines, e.g. "# Over 400 lines: one state machine, split it and ..."
_REASON = re.compile(r"^# Over 400 lines: \S", re.MULTILINE)


@pytest.mark.parametrize("package", ["edge_sdk", "firmware_bridge"])
def test_modules_stay_under_400_lines_or_say_why(package: str) -> None:
    too_long = []
    for path in sorted((ROOT / package).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        head = "\n".join(text.splitlines()[:15])
        if text.count("\n") > MAX_LINES and not _REASON.search(head):
            too_long.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert not too_long, f"over {MAX_LINES} lines with no '# Over 400 lines: <reason>' at the top: {too_long}"


def _readme_python_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.DOTALL)
    assert blocks, "the README has no python example"
    return str(blocks[0])


@pytest.mark.slow
def test_readme_python_example_runs_as_written_on_a_real_video(tmp_path: Path) -> None:
    from edge_sdk.demo.seek.video import SeekClip, write_clip

    clip = write_clip(tmp_path / "clip.mp4", SeekClip(seconds=2.0, fps=10.0, size=96, seed=5))
    example = _readme_python_example()
    assert '"camera://0"' in example, "the example opens the camera; the test swaps in a video file"
    code = example.replace('"camera://0"', repr(f"file://{clip.video}"))
    result = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    # stdout is the sink's data, every line JSON; the callback prints to stderr
    printed = re.findall(r"^(left|center|right|absent|blocked) (?:0|1)(?:\.\d+)?$", result.stderr, re.MULTILINE)
    assert len(printed) >= 10, result.stderr[-2000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert sum(line["schema"] == "edge_sdk.result/2" for line in lines) >= 10, result.stdout[:500]


def test_the_device_package_never_names_the_host_package() -> None:
    """Host commands reach the CLI through the ``edge_sdk.commands`` entry point group, not an import."""
    naming = [f"{path.relative_to(ROOT)}:{number}"
              for path in sorted((ROOT / "edge_sdk").rglob("*.py"))
              for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
              if re.search(r"\bconverters\b", line)]
    assert not naming, f"edge_sdk names converters at {naming}"
