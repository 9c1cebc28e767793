"""Loading and cleaning manifests: formats, column maps, and every bad-row path (drop and fail)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from converters.errors import DataError, SpecError
from converters.manifest import CleaningPolicy, ColumnMap, load_manifest
from edge_sdk.demo.seek import LABELS, MANIFEST_COLUMNS

DROP = CleaningPolicy.uniform("drop")
ManifestEditor = Callable[..., Path]  # the edit_manifest fixture (conftest.py)


def _set(row: int, column: str, value: str) -> Callable[[list[dict[str, str]]], None]:
    def change(rows: list[dict[str, str]]) -> None:
        rows[row][column] = value

    return change


def test_seek_manifest_loads_clean_with_default_columns(seek_manifest: Path) -> None:
    manifest = load_manifest(seek_manifest, labels=LABELS)
    assert len(manifest) == 300
    assert manifest.report.rows_read == 300 and manifest.report.rows_kept == 300
    assert manifest.report.problems == () and manifest.report.counts == {}
    assert list(manifest.rows) == list(range(300))
    assert set(manifest.labels) == set(LABELS)
    assert list(manifest.frame.columns) == ["image", "text", "sensor/distance_cm", "label"]
    # image paths are resolved against the manifest's folder
    assert Path(manifest.frame["image"].iloc[0]) == seek_manifest.parent / "images" / "000000.png"
    assert manifest.frame["sensor/distance_cm"].dtype == np.float64


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_jsonl_and_parquet_load_like_csv(small_seek: Path, suffix: str) -> None:
    table = pd.read_csv(small_seek, dtype={"distance_cm": float})
    other = small_seek.with_suffix(suffix)
    if suffix == ".jsonl":
        table.to_json(other, orient="records", lines=True)
    else:
        table.to_parquet(other)
    from_csv, from_other = load_manifest(small_seek), load_manifest(other)
    pd.testing.assert_frame_equal(from_csv.frame, from_other.frame)


def test_unknown_suffix_is_refused(small_seek: Path) -> None:
    other = small_seek.with_suffix(".xlsx")
    other.write_bytes(b"")
    with pytest.raises(DataError, match=r"unknown manifest format\. Expected a suffix in .*Got: '\.xlsx'"):
        load_manifest(other)


def test_missing_manifest_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"manifest file not found: .*nothing\.csv"):
        load_manifest(tmp_path / "nothing.csv")


def test_missing_column_names_column_file_and_columns_present(small_seek: Path) -> None:
    pd.read_csv(small_seek).drop(columns=["text"]).to_csv(small_seek, index=False)
    with pytest.raises(DataError) as info:
        load_manifest(small_seek)
    message = str(info.value)
    assert "missing column 'text'" in message
    assert str(small_seek) in message
    assert "Got: ['image', 'distance_cm', 'label']" in message


def test_custom_column_map_reads_renamed_columns(small_seek: Path) -> None:
    table = pd.read_csv(small_seek).rename(
        columns={"image": "img", "text": "prompt", "label": "y", "distance_cm": "range_m"}
    )
    table["range_m"] = table["range_m"] / 100
    table["battery_v"] = 3.7
    table.to_csv(small_seek, index=False)
    columns = ColumnMap(
        image="img", text="prompt", label="y", sensors=("range_m", "battery_v"), sensor_units=("m", "V")
    )
    manifest = load_manifest(small_seek, columns)
    assert list(manifest.frame.columns) == ["image", "text", "sensor/range_m", "sensor/battery_v", "label"]
    assert columns.units() == {"range_m": "m", "battery_v": "V"}


def test_column_map_without_image_or_text(small_seek: Path) -> None:
    manifest = load_manifest(small_seek, ColumnMap(image=None, text=None))
    assert list(manifest.frame.columns) == ["sensor/distance_cm", "label"]


def test_column_map_needs_a_unit_per_sensor() -> None:
    with pytest.raises(
        SpecError, match=r"one unit per sensor column\. Got: sensors=\('a', 'b'\), sensor_units=\('cm',\)"
    ):
        ColumnMap(sensors=("a", "b"), sensor_units=("cm",))


def test_column_map_rejects_a_column_used_twice() -> None:
    with pytest.raises(SpecError, match=r"names each column once\. Got duplicates: \['text'\]"):
        ColumnMap(sensors=("text",), sensor_units=("",))


def test_cleaning_policy_rejects_unknown_actions() -> None:
    with pytest.raises(SpecError, match=r"policy for empty_text must be 'drop' or 'fail'\. Got: 'skip'"):
        CleaningPolicy(empty_text="skip")  # type: ignore[arg-type]


# -- bad rows: each kind fails by default, naming row and column, and drops when asked ----------


def test_missing_image_file_fails_naming_row_and_column(small_seek: Path) -> None:
    (small_seek.parent / "images" / "000003.png").unlink()
    with pytest.raises(
        DataError,
        match=r"1 bad rows \(missing_image\): row 3, column 'image': image file not found: .*000003\.png",
    ):
        load_manifest(small_seek)


def test_empty_image_path_is_a_missing_image(small_seek: Path, edit_manifest: ManifestEditor) -> None:
    edit_manifest(small_seek, _set(4, "image", ""))
    with pytest.raises(DataError, match="row 4, column 'image': image path is empty"):
        load_manifest(small_seek)


def test_missing_image_file_is_dropped_and_reported(small_seek: Path) -> None:
    (small_seek.parent / "images" / "000003.png").unlink()
    manifest = load_manifest(small_seek, policy=CleaningPolicy(missing_image="drop"))
    report = manifest.report
    assert report.rows_read == 20 and report.rows_kept == 19 and report.dropped_rows == (3,)
    assert report.counts == {"missing_image": 1}
    assert 3 not in manifest.rows
    summary = report.summary()
    assert "manifest.csv: 20 rows read, 19 kept, 1 dropped" in summary
    assert "missing_image: 1" in summary
    assert "row 3, column 'image': image file not found" in summary


def test_unreadable_image_fails_naming_row_and_column(small_seek: Path) -> None:
    (small_seek.parent / "images" / "000005.png").write_bytes(b"not a png at all")
    with pytest.raises(
        DataError, match=r"row 5, column 'image': image file does not decode: .*cannot decode as an image"
    ):
        load_manifest(small_seek)


def test_truncated_png_is_unreadable(small_seek: Path) -> None:
    path = small_seek.parent / "images" / "000006.png"
    path.write_bytes(path.read_bytes()[:60])
    manifest = load_manifest(small_seek, policy=CleaningPolicy(unreadable_image="drop"))
    assert manifest.report.counts == {"unreadable_image": 1} and manifest.report.dropped_rows == (6,)


def test_unreadable_image_is_only_caught_at_tensor_time_without_verification(small_seek: Path) -> None:
    from converters.dataset import fit_preprocessing, make_tensors

    (small_seek.parent / "images" / "000005.png").write_bytes(b"garbage")
    manifest = load_manifest(small_seek, verify_images=False)
    assert manifest.report.problems == ()
    preprocessing = fit_preprocessing(manifest, [0, 1, 2], labels=LABELS, image_size_px=(64, 64))
    with pytest.raises(
        DataError, match=r"manifest\.csv row 5, column 'image': unreadable image: .*cannot decode"
    ):
        make_tensors(manifest, manifest.rows, preprocessing)


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_text_fails_naming_row_and_column(
    small_seek: Path, edit_manifest: ManifestEditor, text: str
) -> None:
    edit_manifest(small_seek, _set(7, "text", text))
    with pytest.raises(DataError, match=rf"row 7, column 'text': text is empty\. Got: '{text}'"):
        load_manifest(small_seek)


def test_text_na_is_a_text_not_a_missing_value(small_seek: Path, edit_manifest: ManifestEditor) -> None:
    edit_manifest(small_seek, _set(7, "text", "NA"))
    assert load_manifest(small_seek).frame.loc[7, "text"] == "NA"


def test_empty_text_is_dropped_and_reported(small_seek: Path, edit_manifest: ManifestEditor) -> None:
    edit_manifest(small_seek, _set(7, "text", ""))
    manifest = load_manifest(small_seek, policy=DROP)
    assert manifest.report.counts == {"empty_text": 1} and manifest.report.dropped_rows == (7,)


@pytest.mark.parametrize(
    ("value", "wording"),
    [
        ("", r"sensor value is missing\. Got: ''"),
        ("nan", r"sensor value must be a finite number\. Got: 'nan'"),
        ("far", r"sensor value must be a finite number\. Got: 'far'"),
        ("inf", r"sensor value must be a finite number\. Got: 'inf'"),
    ],
)
def test_bad_sensor_value_fails_naming_row_and_column(
    small_seek: Path, edit_manifest: ManifestEditor, value: str, wording: str
) -> None:
    edit_manifest(small_seek, _set(2, "distance_cm", value))
    with pytest.raises(DataError, match=rf"row 2, column 'distance_cm': {wording}"):
        load_manifest(small_seek)


def test_nan_sensor_in_parquet_is_dropped(small_seek: Path) -> None:
    table = pd.read_csv(small_seek)
    table.loc[9, "distance_cm"] = math.nan
    parquet = small_seek.with_suffix(".parquet")
    table.to_parquet(parquet)
    manifest = load_manifest(parquet, policy=DROP)
    assert manifest.report.counts == {"bad_sensor": 1} and manifest.report.dropped_rows == (9,)
    assert "row 9, column 'distance_cm': sensor value is missing. Got: nan" in manifest.report.summary()


def test_null_text_in_jsonl_is_empty(small_seek: Path) -> None:
    table = pd.read_csv(small_seek)
    table["text"] = table["text"].astype(object)
    table.loc[11, "text"] = None
    jsonl = small_seek.with_suffix(".jsonl")
    table.to_json(jsonl, orient="records", lines=True)
    with pytest.raises(DataError, match=r"manifest\.jsonl: 1 bad rows \(empty_text\): row 11, column 'text'"):
        load_manifest(jsonl)


def test_unknown_label_fails_when_labels_are_declared(
    small_seek: Path, edit_manifest: ManifestEditor
) -> None:
    edit_manifest(small_seek, _set(8, "label", "sideways"))
    load_manifest(small_seek)  # no declared labels: any label is a label
    with pytest.raises(
        DataError,
        match=r"row 8, column 'label': unknown label\. Expected one of \['left', .*'blocked'\]\. "
        r"Got: 'sideways'",
    ):
        load_manifest(small_seek, labels=LABELS)
    manifest = load_manifest(small_seek, labels=LABELS, policy=CleaningPolicy(unknown_label="drop"))
    assert manifest.report.dropped_rows == (8,) and manifest.report.counts == {"unknown_label": 1}


def test_empty_label_is_an_unknown_label(small_seek: Path, edit_manifest: ManifestEditor) -> None:
    edit_manifest(small_seek, _set(1, "label", ""))
    with pytest.raises(DataError, match=r"row 1, column 'label': label is empty"):
        load_manifest(small_seek)


def test_failure_lists_the_first_bad_rows_and_how_to_drop_them(
    small_seek: Path, edit_manifest: ManifestEditor
) -> None:
    def change(rows: list[dict[str, str]]) -> None:
        for row in range(1, 8):
            rows[row]["text"] = ""
        rows[3]["distance_cm"] = "?"

    edit_manifest(small_seek, change)
    with pytest.raises(DataError) as info:
        load_manifest(small_seek)
    message = str(info.value)
    assert message.startswith(f"{small_seek}: 7 bad rows (bad_sensor, empty_text): row 1, column 'text'")
    assert "row 3, column 'distance_cm'" in message  # problems are listed in row order
    assert "; ... and 3 more." in message  # 8 problems, 5 shown
    assert message.endswith("drop such rows with the cleaning policy (bad_sensor=drop, empty_text=drop)")


def test_policy_applies_per_kind(small_seek: Path, edit_manifest: ManifestEditor) -> None:
    (small_seek.parent / "images" / "000003.png").unlink()
    edit_manifest(small_seek, _set(7, "text", ""))
    with pytest.raises(DataError, match=r"1 bad rows \(empty_text\): row 7"):
        load_manifest(small_seek, policy=CleaningPolicy(missing_image="drop"))
    manifest = load_manifest(small_seek, policy=CleaningPolicy(missing_image="drop", empty_text="drop"))
    assert manifest.report.dropped_rows == (3, 7)
    assert manifest.report.counts == {"missing_image": 1, "empty_text": 1}


def test_a_row_with_two_problems_is_dropped_once(small_seek: Path, edit_manifest: ManifestEditor) -> None:
    def change(rows: list[dict[str, str]]) -> None:
        rows[4]["text"] = ""
        rows[4]["distance_cm"] = ""

    edit_manifest(small_seek, change)
    report = load_manifest(small_seek, policy=DROP).report
    assert report.dropped_rows == (4,) and report.rows_kept == 19 and len(report.problems) == 2


def test_all_rows_dropped_is_an_error(small_seek: Path, edit_manifest: ManifestEditor) -> None:
    def change(rows: list[dict[str, str]]) -> None:
        for row in rows:
            row["text"] = ""

    edit_manifest(small_seek, change)
    with pytest.raises(
        DataError, match=r"no usable rows\. Expected at least 1\. Got: 20 rows read, all dropped"
    ):
        load_manifest(small_seek, policy=DROP)


def test_manifest_columns_match_seek_writer() -> None:
    columns = ColumnMap()
    assert tuple(columns.required()) == ("image", "text", "label", "distance_cm")
    assert set(columns.required()) == set(MANIFEST_COLUMNS)
