"""A user's data manifest (CSV, JSONL or Parquet), checked and cleaned row by row.

One row per sample: an image path (relative to the manifest's folder, or absolute), a text, one
column per sensor channel and a label. Column names are configurable with :class:`ColumnMap`; the
defaults fit the seek world's ``manifest.csv``.

Rows are named by their 0-based position among the data rows of the file (a CSV header is not
counted), the same number pandas gives them and :class:`~converters.dataset.Tensors` keeps as
``rows``, so an error, a cleaning report and a training tensor all point at the same row.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from converters._parallel import parallel_map
from converters.errors import DataError, SpecError
from edge_sdk._lazy import require
from edge_sdk.errors import InputError
from edge_sdk.preprocess import read_image

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CleaningPolicy", "CleaningReport", "ColumnMap", "Manifest", "RowProblem", "load_manifest", "read_table",
]

_log = logging.getLogger(__name__)

Action = Literal["drop", "fail"]
ProblemKind = Literal["missing_image", "unreadable_image", "empty_text", "bad_sensor", "unknown_label"]
PROBLEM_KINDS: tuple[ProblemKind, ...] = (
    "missing_image",
    "unreadable_image",
    "empty_text",
    "bad_sensor",
    "unknown_label",
)
_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
_SHOWN_IN_ERRORS = 5


@dataclass(frozen=True)
class ColumnMap:
    """Which manifest columns hold what. ``image``/``text`` may be None for data without them.

    ``sensors`` are the sensor channel columns, in the order the model's sensor vector uses; their
    names become the channel names in the bundle (what the device's readings are keyed by), so a
    unit in the name (``distance_cm``) is good practice. ``sensor_units`` gives each one's unit.
    """

    image: str | None = "image"
    text: str | None = "text"
    label: str = "label"
    sensors: tuple[str, ...] = ("distance_cm",)
    sensor_units: tuple[str, ...] = ("cm",)
    group: str | None = None  # rows sharing a value stay on one side of the split (a recording, a scan)

    def __post_init__(self) -> None:
        if len(self.sensor_units) != len(self.sensors):
            raise SpecError(
                f"ColumnMap needs one unit per sensor column. "
                f"Got: sensors={self.sensors}, sensor_units={self.sensor_units}"
            )
        names = [c for c in (self.image, self.text, self.label) if c is not None] + list(self.sensors)
        duplicates = sorted(n for n, c in Counter(names).items() if c > 1)
        if duplicates:
            raise SpecError(f"ColumnMap names each column once. Got duplicates: {duplicates}")

    def required(self) -> list[str]:
        """Every column the manifest must have."""
        names = [c for c in (self.image, self.text, self.label) if c is not None] + list(self.sensors)
        return names + ([self.group] if self.group is not None and self.group not in names else [])

    @classmethod
    def for_modalities(cls, modalities: Sequence[str], **names: str) -> ColumnMap:
        """The default (seek) column names of just these modalities: an ``image,label`` manifest needs no text."""
        default = cls()
        return cls(
            image=names.get("image", default.image) if "image" in modalities else None,
            text=names.get("text", default.text) if "text" in modalities else None,
            label=names.get("label", default.label),
            sensors=default.sensors if "sensor" in modalities else (),
            sensor_units=default.sensor_units if "sensor" in modalities else (),
        )

    def units(self) -> dict[str, str]:
        return dict(zip(self.sensors, self.sensor_units, strict=True))


@dataclass(frozen=True)
class CleaningPolicy:
    """What to do with each kind of bad row: ``drop`` it (and report it) or ``fail`` loading.

    Failing is the default: silently training on less data than the user thinks is worse than an
    error that names the rows. ``CleaningPolicy.uniform("drop")`` drops every kind.
    """

    missing_image: Action = field(default="fail", metadata={"help": "empty path, or no file at that path"})
    unreadable_image: Action = field(default="fail", metadata={"help": "the file exists but does not decode"})
    empty_text: Action = field(default="fail", metadata={"help": "missing or whitespace-only text"})
    bad_sensor: Action = field(default="fail", metadata={"help": "missing, non-numeric or non-finite sensor value"})
    unknown_label: Action = field(default="fail", metadata={"help": "empty label, or one outside the declared labels"})

    def __post_init__(self) -> None:
        for kind in PROBLEM_KINDS:
            if getattr(self, kind) not in ("drop", "fail"):
                raise SpecError(
                    f"cleaning policy for {kind} must be 'drop' or 'fail'. Got: {getattr(self, kind)!r}"
                )

    @classmethod
    def uniform(cls, action: Action) -> CleaningPolicy:
        return cls(**{kind: action for kind in PROBLEM_KINDS})


@dataclass(frozen=True)
class RowProblem:
    row: int
    column: str
    kind: ProblemKind
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column!r}: {self.reason}"


@dataclass(frozen=True)
class CleaningReport:
    """What cleaning found: every problem (a row can have several) and which rows were dropped."""

    source: Path
    rows_read: int
    problems: tuple[RowProblem, ...] = ()
    dropped_rows: tuple[int, ...] = ()

    @property
    def rows_kept(self) -> int:
        return self.rows_read - len(self.dropped_rows)

    @property
    def counts(self) -> dict[str, int]:
        """Number of problems of each kind (only kinds that occurred)."""
        return dict(Counter(p.kind for p in self.problems))

    def summary(self, max_rows: int = 10) -> str:
        dropped = len(self.dropped_rows)
        lines = [f"{self.source.name}: {self.rows_read} rows read, {self.rows_kept} kept, {dropped} dropped"]
        for kind, count in sorted(self.counts.items()):
            lines.append(f"  {kind}: {count}")
        for problem in self.problems[:max_rows]:
            lines.append(f"  {problem}")
        if len(self.problems) > max_rows:
            lines.append(f"  ... and {len(self.problems) - max_rows} more")
        return "\n".join(lines)


@dataclass(frozen=True)
class Manifest:
    """A cleaned manifest: one row per usable sample, indexed by its row in the source file.

    ``frame`` has canonical columns: ``image`` (absolute path), ``text``, ``label`` (str),
    ``sensor/<name>`` (float64) for each sensor channel and ``group`` (str) when the ColumnMap names
    a group column; modalities the ColumnMap leaves out are absent.
    """

    source: Path
    columns: ColumnMap
    frame: pd.DataFrame
    report: CleaningReport

    @property
    def rows(self) -> np.ndarray:
        return self.frame.index.to_numpy(dtype=np.int64)

    @property
    def labels(self) -> np.ndarray:
        return self.frame["label"].to_numpy(dtype=object)

    def __len__(self) -> int:
        return len(self.frame)


def load_manifest(
    path: str | Path,
    columns: ColumnMap | None = None,
    policy: CleaningPolicy | None = None,
    labels: Sequence[str] | None = None,
    verify_images: bool = True,
    workers: int | None = None,
    progress: bool = False,
) -> Manifest:
    """Read a manifest by its suffix (.csv, .jsonl/.ndjson, .parquet/.pq) and clean it.

    ``labels``, when given, is the full set of allowed labels; other labels are ``unknown_label``
    problems. ``verify_images`` decodes every image (threads; OpenCV releases the GIL) so an
    unreadable file is caught here rather than mid-training; without it only existence is checked.
    """
    columns = columns or ColumnMap()
    policy = policy or CleaningPolicy()
    source = Path(path)
    raw = _read(source)
    missing = [c for c in columns.required() if c not in raw.columns]
    if missing:
        raise DataError(
            f"{source}: missing column {missing[0]!r}"
            + (f" (and {missing[1:]})" if len(missing) > 1 else "")
            + f". Expected columns: {columns.required()}. Got: {[str(c) for c in raw.columns]}"
        )
    frame, problems = _canonical(raw, columns, source.parent, labels)
    if columns.image is not None:
        problems += _image_problems(frame, columns.image, verify_images, workers, progress)
    problems.sort(key=lambda p: (p.row, PROBLEM_KINDS.index(p.kind)))
    failing = [p for p in problems if getattr(policy, p.kind) == "fail"]
    if failing:
        shown = "; ".join(str(p) for p in failing[:_SHOWN_IN_ERRORS])
        more = f"; ... and {len(failing) - _SHOWN_IN_ERRORS} more" if len(failing) > _SHOWN_IN_ERRORS else ""
        kinds = sorted({p.kind for p in failing})
        raise DataError(
            f"{source}: {len({p.row for p in failing})} bad rows ({', '.join(kinds)}): {shown}{more}. "
            f"Fix them, or drop such rows with the cleaning policy ({', '.join(f'{k}=drop' for k in kinds)})"
        )
    dropped = tuple(sorted({p.row for p in problems}))
    report = CleaningReport(source=source, rows_read=len(raw), problems=tuple(problems), dropped_rows=dropped)
    if dropped:
        _log.warning("%s", report.summary())
    frame = frame.drop(index=list(dropped))
    if len(frame) == 0:
        raise DataError(
            f"{source}: no usable rows. Expected at least 1. Got: {len(raw)} rows read, all dropped"
        )
    return Manifest(source=source, columns=columns, frame=frame, report=report)


def read_table(source: str | Path) -> pd.DataFrame:
    """The manifest's cells as written (CSV cells as strings), before any checking or cleaning."""
    return _read(Path(source))


def _read(source: Path) -> pd.DataFrame:
    pd = require("pandas", "reading data manifests")
    kind = _SUFFIXES.get(source.suffix.lower())
    if kind is None:
        raise DataError(
            f"{source}: unknown manifest format. "
            f"Expected a suffix in {sorted(_SUFFIXES)}. Got: {source.suffix!r}"
        )
    if not source.is_file():
        raise DataError(f"manifest file not found: {source}")
    try:
        if kind == "csv":
            # Everything as text, "" for empty cells: we decide what is missing, not pandas
            # (a text "NA" stays a text) and numbers are parsed per column below.
            return pd.read_csv(source, dtype=str, keep_default_na=False)
        if kind == "jsonl":
            return pd.read_json(source, lines=True, dtype=False)  # dtype=False: no type or date guessing
        return pd.read_parquet(source)
    except (ValueError, OSError, ImportError) as exc:
        raise DataError(f"{source}: cannot read as {kind}: {exc}") from exc


def _shown(value: object) -> str:
    """repr of a cell as the user wrote it: ``nan``, not ``np.float64(nan)``."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _is_blank(value: object) -> bool:
    """Empty, whitespace, None, NaN or pandas' NA."""
    if isinstance(value, str):
        return not value.strip()
    pd = require("pandas", "reading data manifests")
    return bool(pd.api.types.is_scalar(value) and pd.isna(value))


def _canonical(
    raw: pd.DataFrame, columns: ColumnMap, root: Path, labels: Sequence[str] | None
) -> tuple[pd.DataFrame, list[RowProblem]]:
    """Canonical columns plus the problems found in text, sensor and label cells."""
    pd = require("pandas", "reading data manifests")
    raw = raw.reset_index(drop=True)
    frame = pd.DataFrame(index=raw.index)
    problems: list[RowProblem] = []
    if columns.image is not None:
        paths = []
        for row, value in raw[columns.image].items():
            paths.append("" if _is_blank(value) else str(root / str(value).strip()))
            if not paths[-1]:
                problems.append(RowProblem(int(row), columns.image, "missing_image", "image path is empty"))
        frame["image"] = pd.Series(paths, index=raw.index, dtype=object)
    if columns.text is not None:
        texts = []
        for row, value in raw[columns.text].items():
            texts.append("" if _is_blank(value) else str(value))
            if not texts[-1]:
                problems.append(
                    RowProblem(int(row), columns.text, "empty_text", f"text is empty. Got: {_shown(value)}")
                )
        frame["text"] = pd.Series(texts, index=raw.index, dtype=object)
    for name in columns.sensors:
        values = pd.to_numeric(raw[name], errors="coerce").astype("float64")
        for row in np.flatnonzero(~np.isfinite(values.to_numpy())):
            got = raw[name].iloc[row]
            what = "is missing" if _is_blank(got) else "must be a finite number"
            problems.append(
                RowProblem(int(row), name, "bad_sensor", f"sensor value {what}. Got: {_shown(got)}")
            )
        frame[f"sensor/{name}"] = values
    allowed = None if labels is None else set(labels)
    label_values = []
    for row, value in raw[columns.label].items():
        label = "" if _is_blank(value) else str(value).strip()
        label_values.append(label)
        if not label:
            problems.append(
                RowProblem(int(row), columns.label, "unknown_label", f"label is empty. Got: {_shown(value)}")
            )
        elif allowed is not None and label not in allowed:
            problems.append(
                RowProblem(
                    int(row),
                    columns.label,
                    "unknown_label",
                    f"unknown label. Expected one of {list(labels or ())}. Got: {label!r}",
                )
            )
    frame["label"] = pd.Series(label_values, index=raw.index, dtype=object)
    if columns.group is not None:
        # A blank group is a group of its own row: it cannot leak, and dropping it would lose data.
        groups = [f"row {row}" if _is_blank(v) else str(v).strip() for row, v in raw[columns.group].items()]
        frame["group"] = pd.Series(groups, index=raw.index, dtype=object)
    return frame, problems


def _image_problems(
    frame: pd.DataFrame, column: str, verify: bool, workers: int | None, progress: bool
) -> list[RowProblem]:
    problems: list[RowProblem] = []
    to_decode: list[tuple[int, str]] = []
    for row, path in frame["image"].items():
        if not path:
            continue  # already reported as an empty path
        if not Path(path).is_file():
            problems.append(RowProblem(int(row), column, "missing_image", f"image file not found: {path}"))
        elif verify:
            to_decode.append((int(row), path))

    def check(item: tuple[int, str]) -> RowProblem | None:
        row, path = item
        try:
            read_image(path)
        except InputError as exc:
            return RowProblem(row, column, "unreadable_image", f"image file does not decode: {exc}")
        return None

    found = parallel_map(check, to_decode, workers=workers, progress="checking images" if progress else None)
    return problems + [p for p in found if p is not None]
