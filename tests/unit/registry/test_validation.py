"""Validator rules on hand-made frames: every rejected row is named with the rule it breaks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

from model_registry.labelled_csv import load_labelled_csv
from model_registry.validation import ValidationReport, validate

LONG = "This essay is long enough to pass the minimum length rule of the validator. "


def frame(rows: Sequence[tuple[object, object]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": pd.Series([r[0] for r in rows], dtype=object),
            "generated": pd.Series([r[1] for r in rows], dtype=object),
        }
    )


def balanced(n: int = 4) -> list[tuple[object, object]]:
    return [(f"{LONG}Number {i}.", str(i % 2)) for i in range(n)]


def rules_by_row(report: ValidationReport) -> dict[int | None, set[str]]:
    out: dict[int | None, set[str]] = {}
    for rejection in report.rejections:
        out.setdefault(rejection.row, set()).add(rejection.rule)
    return out


def test_clean_data_is_ok_and_fully_accepted() -> None:
    report = validate(frame(balanced(6)))
    assert report.ok
    assert len(report.accepted) == 6
    assert report.accepted["generated"].tolist() == [0, 1, 0, 1, 0, 1]
    assert report.summary_line() == "valid: 6 rows accepted"


@pytest.mark.parametrize(
    ("bad_row", "rule"),
    [
        (("   ", "1"), "text_not_empty"),
        ((None, "1"), "text_not_empty"),
        ((float("nan"), "0"), "text_not_empty"),
        (("short text", "1"), "text_min_length"),
        (("x" * 30_000, "1"), "text_max_length"),
        ((f"{LONG}label two", "2"), "label_in_0_1"),
        ((f"{LONG}label yes", "yes"), "label_in_0_1"),
        ((f"{LONG}label missing", None), "label_in_0_1"),
        ((f"{LONG}bad byte \udcff", "1"), "utf8"),
    ],
)
def test_row_rules(bad_row: tuple[object, object], rule: str) -> None:
    report = validate(frame([*balanced(4), bad_row]))
    assert not report.ok
    assert rules_by_row(report) == {4: {rule}}
    assert len(report.accepted) == 4
    assert f"row 4: {rule}" in report.to_text()


def test_exact_and_normalised_duplicates_keep_the_first_copy() -> None:
    rows = [
        *balanced(4),
        (f"{LONG}Number 0.", "0"),  # exact copy of row 0
        (f"  {LONG.upper()}number   1. ", "1"),  # same as row 1 after normalisation
    ]
    report = validate(frame(rows))
    assert rules_by_row(report) == {4: {"exact_duplicate"}, 5: {"normalised_duplicate"}}
    assert len(report.accepted) == 4


def test_conflicting_labels_reject_every_copy() -> None:
    rows = [*balanced(4), (f"{LONG}Conflict.", "0"), (f"{LONG}conflict.", "1")]
    report = validate(frame(rows))
    assert rules_by_row(report) == {
        4: {"conflicting_labels"},
        5: {"conflicting_labels", "normalised_duplicate"},
    }


def test_missing_column_is_a_dataset_error() -> None:
    report = validate(pd.DataFrame({"text": [LONG], "label": [1]}))
    assert not report.ok and not report.usable
    assert report.dataset_errors[0].rule == "required_columns"
    assert "generated" in report.summary_line()


def test_class_balance() -> None:
    rows = [(f"{LONG}{i}", "0") for i in range(9)] + [(f"{LONG}ai", "1")]
    report = validate(frame(rows), min_class_share=0.2)
    assert [e.rule for e in report.dataset_errors] == ["class_balance"]
    assert validate(frame(rows), min_class_share=0.1).ok


def test_nothing_dropped_uncounted() -> None:
    rows = [*balanced(6), ("", "1"), (f"{LONG}Number 2.", "0"), (f"{LONG}z", "7")]
    report = validate(frame(rows))
    assert len(report.accepted) + len(report.rejected_rows) == report.n_rows == 9
    as_dict = report.to_dict()
    assert as_dict["n_rejected_rows"] == 3
    assert sum(as_dict["rule_counts"].values()) == len(as_dict["rejections"])


def test_loader_keeps_undecodable_bytes_for_the_validator(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(
        b"text,generated\n"
        + f'"{LONG}fine",0\n'.encode()
        + b'"'
        + LONG.encode()
        + b'bad \xff byte",1\n'
    )
    report = validate(load_labelled_csv(path), min_class_share=0.0)
    assert rules_by_row(report) == {1: {"utf8"}}


def test_loader_errors_are_one_line(tmp_path: Path) -> None:
    from model_registry.errors import DataValidationError

    with pytest.raises(DataValidationError, match="not found"):
        load_labelled_csv(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataValidationError, match="cannot parse"):
        load_labelled_csv(empty)
