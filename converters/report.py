"""Parity reports for people: a plain-text table and an HTML page with confusion matrices.

Input is ``{model name: [ParityReport, ...]}`` (one report per quantization mode). The HTML is a
single file: plots are PNGs drawn with matplotlib's Agg backend and embedded as base64.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from converters.validate import ParityReport
from edge_sdk._lazy import require

__all__ = ["format_table", "write_html_report"]

_COLUMNS = (
    ("model", 12), ("mode", 13), ("keras acc", 9), ("tflite acc", 10), ("agree", 7), ("max err", 8),
    ("mean err", 9), ("size KB", 8), ("ms 1T", 7), ("ms 2T", 7), ("ops", 5), ("float ops", 9),
)  # fmt: skip


def format_table(reports: Mapping[str, Sequence[ParityReport]]) -> str:
    """One row per model and mode; a fixed-width table for a terminal."""
    model_width = max([len(_COLUMNS[0][0]), *(len(name) for name in reports)])
    columns = (("model", model_width), *_COLUMNS[1:])
    lines = ["  ".join(name.rjust(width) if i > 1 else name.ljust(width) for i, (name, width) in enumerate(columns))]
    lines.append("-" * len(lines[0]))
    for model_name, model_reports in reports.items():
        for r in model_reports:
            cells = (
                model_name, r.mode, f"{r.keras_accuracy:.4f}", f"{r.tflite_accuracy:.4f}", f"{r.top1_agreement:.4f}",
                f"{r.max_abs_score_error:.4f}", f"{r.mean_abs_score_error:.5f}", f"{r.size_bytes / 1024:.1f}",
                _latency(r, "1"), _latency(r, "2"), str(sum(r.op_counts.values())), str(sum(r.float_ops.values())),
            )  # fmt: skip
            lines.append(
                "  ".join(c.rjust(w) if i > 1 else c.ljust(w) for i, (c, (_, w)) in enumerate(zip(cells, columns)))
            )
    return "\n".join(lines)


def write_html_report(path: str | Path, reports: Mapping[str, Sequence[ParityReport]], title: str = "Conversion report",
                      training_html: str = "") -> Path:
    """Write a self-contained HTML page: the table, the training sections when given (see
    :func:`converters.training_report.training_sections`), then per model and mode the confusion
    matrices, the op set and any op left in float."""
    sections = []
    for model_name, model_reports in reports.items():
        for r in model_reports:
            plot = _confusion_png(r, f"{model_name} / {r.mode}")
            float_ops = ", ".join(f"{op} x{n}" for op, n in r.float_ops.items()) or "none"
            ops = ", ".join(f"{op} x{n}" for op, n in sorted(r.op_counts.items()))
            sections.append(
                f"<h2>{html.escape(model_name)} / {html.escape(r.mode)}</h2>"
                f"<p>TFLite accuracy {r.tflite_accuracy:.4f} (Keras {r.keras_accuracy:.4f}), agreement "
                f"{r.top1_agreement:.4f}, {r.samples} held-out samples, {r.size_bytes / 1024:.1f} KB, "
                f"builtin ops only: {'yes' if r.builtin_only else '<b>no</b>'}</p>"
                f'<img alt="confusion matrices" src="data:image/png;base64,{plot}">'
                f"<p><b>Ops in float:</b> {html.escape(float_ops)}</p>"
                f"<details><summary>op set</summary><p>{html.escape(ops)}</p></details>"
            )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:70em}pre{background:#f6f6f6;padding:1em}"
        "img{max-width:100%}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
        "font-size:0.9em}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><pre>{html.escape(format_table(reports))}</pre>{training_html}"
        f"{''.join(sections)}</body></html>"
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page)
    return target


def _latency(report: ParityReport, threads: str) -> str:
    value = report.latency_ms.get(threads)
    return f"{value:.2f}" if value is not None else "-"


def _confusion_png(report: ParityReport, title: str) -> str:
    # A Figure without pyplot: no global state, no GUI backend, safe in threads and tests.
    require("matplotlib", "HTML conversion reports")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 4), dpi=90, layout="constrained")
    axes = figure.subplots(1, 2)
    for ax, matrix, name in zip(axes, (report.confusion_keras, report.confusion_tflite), ("Keras", "TFLite")):
        image = ax.imshow(matrix, cmap="Blues")
        ax.set_title(f"{name}: {title}", fontsize=9)
        ax.set_xticks(range(len(report.labels)), report.labels, rotation=45, fontsize=8)
        ax.set_yticks(range(len(report.labels)), report.labels, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        peak = max((max(row) for row in matrix), default=0)
        for row, values in enumerate(matrix):
            for col, count in enumerate(values):
                ax.text(col, row, str(count), ha="center", va="center", fontsize=8,
                        color="white" if count > peak / 2 else "black")  # fmt: skip
        figure.colorbar(image, ax=ax, shrink=0.8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
