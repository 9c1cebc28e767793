"""``edge-sdk init-train MANIFEST``: a starting training config from a manifest's columns.

Roles are guessed from the values, never from the seek names alone: a column of paths that end in
an image suffix feeds the image; a numeric column is a sensor (its unit from a ``_cm``-style
suffix); a column named like a label (``label``, ``class``, ``target``...) or else the last text
column with few distinct values is the label; a remaining column of multi-word strings is the text.
The result is a YAML file with every choice written out and commented, for the user to edit.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from converters.errors import DataError
from converters.manifest import read_table
from edge_sdk.errors import InputError
from edge_sdk.preprocess import read_image
from edge_sdk.preprocess.text import split_words

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["first_image_size", "guess_roles", "init_config_text"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm")
_LABEL_NAMES = ("label", "labels", "class", "category", "target", "y", "answer", "digit")
_GROUP_NAMES = ("group", "recording", "recording_id", "session", "subject", "scan_id", "source")
_UNIT = re.compile(r"_(cm|mm|m|c|f|k|pct|percent|hz|lux|v|a|w|ms|s|g|kg|deg|dps|hpa|pa|db|ppm|rpm)$", re.IGNORECASE)
_UNIT_NAMES = {"pct": "%", "percent": "%", "c": "C", "f": "F", "k": "K", "deg": "degrees"}


def guess_roles(frame: pd.DataFrame) -> dict[str, object]:
    """{"image": col|None, "text": col|None, "label": col, "sensors": [col...], "group": col|None}."""
    pd = _pandas()
    columns = [str(c) for c in frame.columns]
    numeric, images, texts = [], [], []
    for name in columns:
        values = frame[name].astype(str).str.strip()
        filled = values[values != ""]
        if len(filled) and pd.to_numeric(filled, errors="coerce").notna().all():
            numeric.append(name)
        elif len(filled) and filled.str.lower().str.endswith(_IMAGE_SUFFIXES).mean() > 0.9:
            images.append(name)
        else:
            texts.append(name)
    lowered = {c.lower(): c for c in columns}
    label = next((lowered[n] for n in _LABEL_NAMES if n in lowered), None)
    if label is None:
        few = [c for c in texts if frame[c].nunique() <= max(2, len(frame) // 5)]
        if not few:
            raise DataError(f"no column looks like a label. Expected one named {', '.join(_LABEL_NAMES)} or a text "
                            f"column with few distinct values. Got columns: {columns}")
        label = few[-1]
    group = next((lowered[n] for n in _GROUP_NAMES if n in lowered and lowered[n] != label), None)
    sensors = [c for c in numeric if c not in (label, group)]
    text_columns = [c for c in texts if c not in (label, group)]
    text = max(text_columns, key=lambda c: _mean_words(frame[c]), default=None)
    return {"image": images[0] if images else None, "text": text, "label": label, "sensors": sensors, "group": group}


def first_image_size(manifest: str | Path, column: str, frame: pd.DataFrame | None = None) -> tuple[int, int]:
    """(width, height) of the manifest's first readable image."""
    source = Path(manifest)
    table = frame if frame is not None else read_table(source)
    for value in table[column].astype(str):
        if value.strip():
            try:
                image = read_image(str(source.parent / value.strip()))
            except InputError:
                continue
            return int(image.shape[1]), int(image.shape[0])
    raise DataError(f"{source}: no readable image in column {column!r} to take the image size from")


def init_config_text(manifest: str | Path, relative_to: str | Path | None = None) -> str:
    """The YAML of a starting config for this manifest (``relative_to``: where the config will live)."""
    source = Path(manifest)
    frame = read_table(source)
    roles = guess_roles(frame)
    base = Path(relative_to).resolve() if relative_to is not None else None
    shown = source.resolve()
    if base is not None:
        try:
            shown = shown.relative_to(base)
        except ValueError:
            pass
    lines = [
        f"# Training config for {source.name} ({len(frame)} rows), written by edge-sdk init-train.",
        "# Edit freely: unknown keys are rejected, so a typo fails with its line number.",
        f"manifest: {shown}",
        f"label: {roles['label']}   # {frame[str(roles['label'])].nunique()} distinct values",
        "inputs:",
    ]
    image, text, sensors = roles["image"], roles["text"], roles["sensors"]
    if image is not None:
        width, height = first_image_size(source, str(image), frame)
        lines.append(f"  image: {{column: {image}, size: [{width}, {height}], color_order: RGB}}"
                     "   # size: of the first image; every image is resized to it")
    if text is not None:
        lines.append(f"  text: {{column: {text}, max_length: null, length_percentile: 99, lowercase: true, "
                     "min_count: 1, vocabulary_size: null}   # max_length null: from the data's lengths")
    if sensors:
        lines.append("  sensors:")
        for name in sensors:  # type: ignore[attr-defined]
            unit = _UNIT.search(name)
            unit_text = _UNIT_NAMES.get(unit.group(1).lower(), unit.group(1)) if unit else ""
            lines.append(f"    - {{column: {name}, unit: \"{unit_text}\", normalization: standard}}")
    modalities = [m for m, on in (("image", image), ("text", text), ("sensor", sensors)) if on]
    if not modalities:
        raise DataError(f"{source}: no column looks like an image path, a text or a number to learn from. "
                        f"Got columns: {[str(c) for c in frame.columns]}")
    fusion = "attention" if image is not None and text is not None else "concat"
    group = roles["group"] or "auto"
    lines += [
        f"model: {{preset: pi-small, fusion: {fusion}, rnn: lstm}}   # presets: pi-tiny, pi-small, pi-base",
        "training: {epochs: 30, batch_size: 64, learning_rate: 0.003, patience: 6, seed: 0, deterministic: true}",
        "cleaning:   # per problem: fail (stop and name the rows) or drop (skip them, counted in the report)",
        "  missing_image: fail",
        "  unreadable_image: fail",
        "  empty_text: fail",
        "  bad_sensor: fail",
        "  unknown_label: fail",
        f"split: {{val: 0.1, test: 0.1, group: {group}}}   # group: a column kept on one side; auto: by image path",
    ]
    return "\n".join(lines) + "\n"


def _mean_words(values: pd.Series) -> float:
    sample = values.astype(str).head(200)
    return float(sum(len(split_words(v)) for v in sample)) / max(1, len(sample))


def _pandas() -> Any:
    from edge_sdk._lazy import require

    return require("pandas", "reading data manifests")
