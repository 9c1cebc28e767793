"""The training half of the HTML report: curves, the data's cleaning and split, a confusion matrix per
split, per-class accuracy and the worst held-out examples with their inputs and the model's answer.

Sections are HTML fragments that :func:`converters.report.write_html_report` places before the
parity sections. Plots use matplotlib's Agg ``Figure`` (no pyplot state), imported on first use.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from converters.dataset import Dataset, Tensors
from converters.validate import confusion_matrix
from edge_sdk._lazy import require

__all__ = ["TrainingSummary", "summarize_training", "training_sections"]

_PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class TrainingSummary:
    """Everything the training sections show, computed once from the model and its data."""

    labels: tuple[str, ...]
    history: Sequence[Mapping[str, float]]
    best_epoch: int
    cleaning: str
    split: str
    confusion: dict[str, list[list[int]]]  # per split, Keras
    worst: list[dict[str, Any]]  # test samples with the lowest score for their true label


def summarize_training(trained: Any, dataset: Dataset, tensors: Mapping[str, Tensors], worst: int = 12) -> TrainingSummary:
    from converters.train import predict

    labels = tuple(trained.preprocessing.labels)
    confusion: dict[str, list[list[int]]] = {}
    test_scores = None
    for part in _PARTS:
        if part not in tensors or len(tensors[part]) == 0:
            continue
        scores = predict(trained, tensors[part].inputs)
        confusion[part] = confusion_matrix(tensors[part].labels, scores.argmax(-1), len(labels)).tolist()
        if part == "test":
            test_scores = scores
    examples: list[dict[str, Any]] = []
    if test_scores is not None and worst > 0:
        test = tensors["test"]
        truth_scores = test_scores[np.arange(len(test)), test.labels]
        order = np.argsort(truth_scores, kind="stable")[:worst]
        samples = {s.row: s for s in dataset.samples("test")}
        for index in order:
            row = int(test.rows[index])
            sample = samples[row]
            examples.append({
                "row": row,
                "image_bgr": sample.image_bgr if "image" in trained.spec.modalities else None,
                "text": sample.text if "text" in trained.spec.modalities else None,
                "sensor": sample.sensor if "sensor" in trained.spec.modalities else None,
                "label": labels[int(test.labels[index])],
                "answer": labels[int(test_scores[index].argmax())],
                "confidence": float(test_scores[index].max()),
                "truth_score": float(truth_scores[index]),
            })
    return TrainingSummary(labels=labels, history=list(trained.history), best_epoch=int(trained.best_epoch),
                           cleaning=dataset.manifest.report.summary(), split=dataset.split.summary(),
                           confusion=confusion, worst=examples)


def training_sections(summary: TrainingSummary) -> str:
    """HTML: training curves, data, confusion per split, per-class accuracy, worst examples."""
    parts = [
        "<h2>Training</h2>",
        f"<p>{len(summary.history)} epochs, best (restored) epoch {summary.best_epoch}.</p>",
        f'<img alt="training curves" src="data:image/png;base64,{_curves_png(summary)}">' if summary.history else "",
        "<h2>Data</h2>",
        f"<pre>{html.escape(summary.cleaning)}\n{html.escape(summary.split)}</pre>",
    ]
    if summary.confusion:
        parts += ["<h2>Confusion per split (Keras)</h2>",
                  f'<img alt="confusion per split" src="data:image/png;base64,{_confusions_png(summary)}">',
                  "<h2>Per-class accuracy (Keras)</h2>", _per_class_table(summary)]
    if summary.worst:
        parts += ["<h2>Worst held-out examples</h2>",
                  "<p>Test samples with the lowest score for their true label.</p>", _worst_table(summary)]
    return "".join(parts)


def _per_class_table(summary: TrainingSummary) -> str:
    head = "".join(f"<th>{p}</th>" for p in summary.confusion)
    rows = []
    for index, label in enumerate(summary.labels):
        cells = []
        for matrix in summary.confusion.values():
            total = sum(matrix[index])
            cells.append(f"<td>{matrix[index][index] / total:.3f} ({total})</td>" if total else "<td>-</td>")
        rows.append(f"<tr><td>{html.escape(label)}</td>{''.join(cells)}</tr>")
    return f"<table><tr><th>label</th>{head}</tr>{''.join(rows)}</table><p>accuracy (samples)</p>"


def _worst_table(summary: TrainingSummary) -> str:
    import cv2

    rows = []
    for example in summary.worst:
        image = example["image_bgr"]
        thumb = ""
        if image is not None:
            scale = max(1, 96 // max(image.shape[:2]))
            big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
            ok, png = cv2.imencode(".png", big)
            thumb = f'<img alt="row {example["row"]}" src="data:image/png;base64,{base64.b64encode(png.tobytes()).decode()}">' \
                if ok else ""
        inputs = []
        if example["text"] is not None:
            inputs.append(f"text: {html.escape(str(example['text']))}")
        if example["sensor"]:
            inputs.append(", ".join(f"{html.escape(k)}={v:g}" for k, v in example["sensor"].items()))
        rows.append(
            f"<tr><td>{example['row']}</td><td>{thumb}</td><td>{'<br>'.join(inputs)}</td>"
            f"<td>{html.escape(example['label'])}</td><td>{html.escape(example['answer'])} "
            f"({example['confidence']:.2f})</td><td>{example['truth_score']:.3f}</td></tr>"
        )
    return ("<table><tr><th>row</th><th>image</th><th>inputs</th><th>true</th><th>answer</th>"
            f"<th>score of true</th></tr>{''.join(rows)}</table>")


def _figure(width: float, height: float) -> Any:
    require("matplotlib", "HTML conversion reports")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=90, layout="constrained")


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _curves_png(summary: TrainingSummary) -> str:
    figure = _figure(9, 3.2)
    loss_ax, acc_ax = figure.subplots(1, 2)
    epochs = [h["epoch"] for h in summary.history]
    for key, ax, name in (("loss", loss_ax, "train loss"), ("val_loss", loss_ax, "val loss"),
                          ("accuracy", acc_ax, "train accuracy"), ("val_accuracy", acc_ax, "val accuracy")):
        values = [h.get(key) for h in summary.history]
        if all(v is not None for v in values):
            ax.plot(epochs, values, label=name)
    for ax, title in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        ax.axvline(summary.best_epoch, color="grey", linestyle=":", label="best epoch")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7)
    return _png(figure)


def _confusions_png(summary: TrainingSummary) -> str:
    count = len(summary.confusion)
    figure = _figure(3.6 * count, 3.4)
    axes = figure.subplots(1, count, squeeze=False)[0]
    for ax, (part, matrix) in zip(axes, summary.confusion.items(), strict=True):
        ax.imshow(matrix, cmap="Blues")
        ax.set_title(f"{part} ({sum(map(sum, matrix))})", fontsize=9)
        ax.set_xticks(range(len(summary.labels)), summary.labels, rotation=45, fontsize=7)
        ax.set_yticks(range(len(summary.labels)), summary.labels, fontsize=7)
        ax.set_xlabel("predicted", fontsize=8)
        peak = max((max(row) for row in matrix), default=0)
        for r, values in enumerate(matrix):
            for c, n in enumerate(values):
                ax.text(c, r, str(n), ha="center", va="center", fontsize=6, color="white" if n > peak / 2 else "black")
    return _png(figure)
