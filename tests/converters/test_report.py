"""Printed and HTML parity reports."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from converters.report import format_table, write_html_report
from converters.validate import ParityReport


def _report(mode: str, agreement: float) -> ParityReport:
    return ParityReport(
        mode=mode, samples=10, labels=("left", "right"), keras_accuracy=0.9, tflite_accuracy=0.8,
        top1_agreement=agreement, max_abs_score_error=0.03, mean_abs_score_error=0.004, size_bytes=40960,
        op_counts={"CONV_2D": 3, "SOFTMAX": 1}, float_ops={"SOFTMAX": 1} if mode == "int8" else {},
        builtin_only=True, latency_ms={"1": 1.25, "2": 0.75},
        confusion_keras=[[5, 0], [1, 4]], confusion_tflite=[[4, 1], [1, 4]],
    )  # fmt: skip


REPORTS = {"attention": [_report("float32", 1.0), _report("int8", 0.9)], "concat": [_report("int8", 0.95)]}


def test_table_has_one_row_per_model_and_mode() -> None:
    table = format_table(REPORTS)
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["model", "mode", "keras"]
    assert len(lines) == 2 + 3
    assert re.search(r"attention\s+int8\s+0.9000\s+0.8000\s+0.9000\s+0.0300\s+0.00400\s+40.0\s+1.25\s+0.75\s+4\s+1", table)


def test_html_report_embeds_one_confusion_plot_per_model_and_mode(tmp_path: Path) -> None:
    path = write_html_report(tmp_path / "sub" / "report.html", REPORTS, title="Seek <toolchain>")
    page = path.read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 3
    assert base64.b64decode(images[0])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Seek &lt;toolchain&gt;" in page
    assert "Ops in float:</b> SOFTMAX x1" in page
