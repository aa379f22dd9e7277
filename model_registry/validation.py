"""Validate a labelled text dataset with pandera and say exactly which rows break which rule.

Row rules (a row breaking any of them is rejected and listed with every rule it breaks): ``utf8``,
``text_not_empty``, ``label_in_0_1``, ``text_min_length``, ``text_max_length``, ``exact_duplicate``
(a later copy of an earlier text), ``normalised_duplicate`` (same text after NFKC / whitespace /
case normalisation as an earlier row), ``conflicting_labels`` (every copy of a normalised text that
appears with both labels), and for the optional columns, when present, ``domain_format``,
``generator_format``, ``group_id_format`` (a blank value is allowed and gets the default, see
``labelled_csv.with_defaults``). Dataset rules: ``required_columns``, ``class_balance`` (minority
class share of the accepted rows), ``domain_count`` (at most ``MAX_DOMAINS`` domains: each domain
becomes a row of the per-domain evaluation, the gate and the model page). Rows are numbered from 0
(the first data row after the header). Nothing is dropped without being counted in the report.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from model_registry.labelled_csv import (
    DOMAIN_COLUMN,
    GENERATOR_COLUMN,
    GROUP_COLUMN,
    LABEL_COLUMN,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    TEXT_COLUMN,
    with_defaults,
)
from model_registry.text_normalisation import normalised_key

DEFAULT_MIN_CHARS = 50
DEFAULT_MAX_CHARS = 20_000
DEFAULT_MIN_CLASS_SHARE = 0.2
MAX_DOMAINS = 50
#: Optional columns: the pattern a non-blank value must match (bounded length, no spaces).
OPTIONAL_PATTERNS = {
    DOMAIN_COLUMN: re.compile(r"[a-z0-9][a-z0-9_]{0,39}"),
    GENERATOR_COLUMN: re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,63}"),
    GROUP_COLUMN: re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}"),
}

RULE_DESCRIPTIONS = {
    "required_columns": f"the columns {list(REQUIRED_COLUMNS)} must exist",
    "utf8": "text must be valid UTF-8",
    "text_not_empty": "text must be a non-blank string",
    "label_in_0_1": "label must be 0 (human) or 1 (AI)",
    "text_min_length": "text shorter than the minimum length",
    "text_max_length": "text longer than the maximum length",
    "exact_duplicate": "same text as an earlier row",
    "normalised_duplicate": "same normalised text as an earlier row",
    "conflicting_labels": "the same normalised text appears with both labels",
    "domain_format": "domain must be blank or 1-40 of a-z, 0-9, _ (starting with a letter/digit)",
    "generator_format": "generator must be blank or 1-64 of A-Z a-z 0-9 . _ : + -",
    "group_id_format": "group_id must be blank or 1-128 of A-Z a-z 0-9 . _ : + -",
    "class_balance": "minority class share below the minimum",
    "domain_count": f"at most {MAX_DOMAINS} distinct domains",
}


@dataclass(frozen=True)
class Rejection:
    """One broken rule: ``row`` is None for dataset-level rules."""

    row: int | None
    rule: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "rule": self.rule, "detail": self.detail}


@dataclass
class ValidationReport:
    """What validation found. ``accepted`` holds the rows that passed (``text``, ``generated``)."""

    n_rows: int
    accepted: pd.DataFrame
    rejections: list[Rejection] = field(default_factory=list)
    dataset_errors: list[Rejection] = field(default_factory=list)
    limits: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No dataset-level error and no rejected row."""
        return not self.dataset_errors and not self.rejections

    @property
    def usable(self) -> bool:
        """No dataset-level error (rejected rows are counted and left out)."""
        return not self.dataset_errors and len(self.accepted) > 0

    @property
    def rejected_rows(self) -> list[int]:
        return sorted({r.row for r in self.rejections if r.row is not None})

    def rule_counts(self) -> dict[str, int]:
        counts = Counter(r.rule for r in self.rejections)
        return {rule: counts[rule] for rule in RULE_DESCRIPTIONS if counts[rule]}

    def class_counts(self) -> dict[str, int]:
        counts = self.accepted[LABEL_COLUMN].value_counts() if len(self.accepted) else {}
        return {str(label): int(counts.get(label, 0)) for label in (0, 1)}

    def summary_line(self) -> str:
        if self.ok:
            return f"valid: {self.n_rows} rows accepted"
        parts = [f"{r.rule}: {r.detail}" for r in self.dataset_errors]
        if self.rejections:
            counts = ", ".join(f"{k}={v}" for k, v in self.rule_counts().items())
            parts.append(f"{len(self.rejected_rows)} of {self.n_rows} rows rejected ({counts})")
        return "invalid: " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "n_rows": self.n_rows,
            "n_accepted": len(self.accepted),
            "n_rejected_rows": len(self.rejected_rows),
            "class_counts": self.class_counts(),
            "rule_counts": self.rule_counts(),
            "limits": self.limits,
            "dataset_errors": [r.to_dict() for r in self.dataset_errors],
            "rejections": [r.to_dict() for r in self.rejections],
        }

    def to_text(self, max_listed: int = 50) -> str:
        counts = self.class_counts()
        lines = [
            f"rows read: {self.n_rows}   accepted: {len(self.accepted)}   "
            f"rejected rows: {len(self.rejected_rows)}",
            f"accepted per class: human(0)={counts['0']} ai(1)={counts['1']}",
        ]
        for error in self.dataset_errors:
            lines.append(f"DATASET  {error.rule}: {error.detail}")
        for rule, count in self.rule_counts().items():
            lines.append(f"RULE     {rule}: {count} rows ({RULE_DESCRIPTIONS[rule]})")
        for rejection in self.rejections[:max_listed]:
            lines.append(f"row {rejection.row}: {rejection.rule}: {rejection.detail}")
        if len(self.rejections) > max_listed:
            lines.append(f"... {len(self.rejections) - max_listed} more (use --json for all)")
        lines.append(self.summary_line())
        return "\n".join(lines)


def _is_text(value: object) -> TypeGuard[str]:
    return isinstance(value, str)


def _non_blank(value: object) -> bool:
    return _is_text(value) and bool(value.strip())


def _utf8_ok(value: object) -> bool:
    if not _is_text(value):
        return True  # reported by text_not_empty
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _escape(value: str) -> str:
    return value.encode("utf-8", errors="surrogateescape").decode(
        "utf-8", errors="backslashreplace"
    )


def _label_ok(value: object) -> bool:
    return _label_value(value) is not None


def _label_value(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, str) and value.strip() in {"0", "1"}:
        return int(value.strip())
    return None


def _optional_ok(pattern: re.Pattern[str]) -> Any:
    def check(value: object) -> bool:
        if value is None or (isinstance(value, str) and not value.strip()):
            return True
        return isinstance(value, str) and pattern.fullmatch(value.strip()) is not None

    return check


def normalised_keys(texts: pd.Series) -> pd.Series:
    """Normalised-text key per row (None for blank or non-text values)."""
    return texts.map(lambda t: normalised_key(t) if _is_text(t) and t.strip() else None)


def build_schema(min_chars: int, max_chars: int, keys: pd.Series) -> pa.DataFrameSchema:
    """The pandera schema; every check is named after the rule it enforces.

    ``keys`` are the normalised-text keys of the frame being validated (computed once).
    """

    def not_normalised_duplicate(texts: pd.Series) -> pd.Series:
        duplicated = keys.notna() & keys.duplicated(keep="first")
        return ~(duplicated & ~texts.duplicated(keep="first"))

    def no_conflicting_labels(df: pd.DataFrame) -> pd.Series:
        labels = df[LABEL_COLUMN].map(_label_value)
        frame = pd.DataFrame({"key": keys, "label": labels}).dropna()
        n_labels = frame.groupby("key")["label"].nunique()
        return ~keys.isin(set(n_labels[n_labels > 1].index))

    def length(value: object) -> int:
        return len(value) if _is_text(value) else 0

    text_checks = [
        pa.Check(
            lambda v: _is_text(v) and bool(v.strip()), element_wise=True, name="text_not_empty"
        ),
        pa.Check(
            lambda v: not _is_text(v) or not v.strip() or length(v) >= min_chars,
            element_wise=True,
            name="text_min_length",
        ),
        pa.Check(lambda v: length(v) <= max_chars, element_wise=True, name="text_max_length"),
        pa.Check(lambda s: ~(s.duplicated(keep="first") & s.notna()), name="exact_duplicate"),
        pa.Check(not_normalised_duplicate, name="normalised_duplicate"),
    ]
    optional = {
        column: pa.Column(
            None,
            checks=[pa.Check(_optional_ok(pattern), element_wise=True, name=f"{column}_format")],
            required=False,
        )
        for column, pattern in OPTIONAL_PATTERNS.items()
    }
    return pa.DataFrameSchema(
        {
            TEXT_COLUMN: pa.Column(None, checks=text_checks),
            LABEL_COLUMN: pa.Column(
                None, checks=[pa.Check(_label_ok, element_wise=True, name="label_in_0_1")]
            ),
            **optional,
        },
        checks=[pa.Check(no_conflicting_labels, name="conflicting_labels")],
        strict=False,
    )


def _detail(rule: str, value: object, min_chars: int, max_chars: int) -> str:
    if rule in {"text_min_length", "text_max_length"} and _is_text(value):
        bound = min_chars if rule == "text_min_length" else max_chars
        return f"{len(value)} chars (bound {bound})"
    if rule == "label_in_0_1":
        return f"label {value!r}"
    if rule.endswith("_format"):
        shown = value if not isinstance(value, str) else _escape(value)[:80]
        return f"{rule.removesuffix('_format')} {shown!r}: {RULE_DESCRIPTIONS[rule]}"
    return RULE_DESCRIPTIONS[rule]


def validate(
    df: pd.DataFrame,
    *,
    min_chars: int = DEFAULT_MIN_CHARS,
    max_chars: int = DEFAULT_MAX_CHARS,
    min_class_share: float = DEFAULT_MIN_CLASS_SHARE,
) -> ValidationReport:
    """Check ``df`` against every rule; return the report (never raises on bad data)."""
    limits = {"min_chars": min_chars, "max_chars": max_chars, "min_class_share": min_class_share}
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    empty = with_defaults(pd.DataFrame({TEXT_COLUMN: [], LABEL_COLUMN: []}))
    if missing:
        error = Rejection(None, "required_columns", f"missing {missing}; found {list(df.columns)}")
        return ValidationReport(len(df), empty, dataset_errors=[error], limits=limits)

    present_optional = [c for c in OPTIONAL_COLUMNS if c in df.columns]
    frame = df[[*REQUIRED_COLUMNS, *present_optional]].reset_index(drop=True).astype(object)
    # Undecodable bytes (kept as surrogate escapes by the loader) are checked here: pandera
    # cannot format such strings, so it sees a backslash-escaped copy of those texts.
    not_utf8 = ~frame[TEXT_COLUMN].map(_utf8_ok)
    rejections = [
        Rejection(int(i), "utf8", RULE_DESCRIPTIONS["utf8"]) for i in frame.index[not_utf8]
    ]
    checked = frame.copy()
    checked.loc[not_utf8, TEXT_COLUMN] = checked.loc[not_utf8, TEXT_COLUMN].map(_escape)
    # Missing values would be skipped by pandera's checks: make them explicit failures.
    checked = checked.map(lambda v: "" if v is None or (isinstance(v, float) and v != v) else v)
    keys = normalised_keys(checked[TEXT_COLUMN])
    try:
        build_schema(min_chars, max_chars, keys).validate(checked, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        for row in cases.itertuples(index=False):
            rule = str(row.check)
            if rule not in RULE_DESCRIPTIONS or pd.isna(row.index):
                raise
            index = int(row.index)
            value = frame.at[index, _rule_column(rule)]
            rejections.append(Rejection(index, rule, _detail(rule, value, min_chars, max_chars)))
    # Dataframe-wide checks are reported once per column: keep one rejection per (row, rule).
    rejections = sorted(
        set(rejections), key=lambda r: (r.row, list(RULE_DESCRIPTIONS).index(r.rule))
    )

    bad_rows = {r.row for r in rejections}
    keep = [i for i in range(len(frame)) if i not in bad_rows]
    kept = frame.loc[keep].reset_index(drop=True)
    kept[LABEL_COLUMN] = kept[LABEL_COLUMN].map(_label_value).astype(int)
    accepted = with_defaults(kept)
    dataset_errors = _class_balance_errors(accepted, min_class_share) + _domain_count_errors(
        accepted
    )
    return ValidationReport(len(frame), accepted, rejections, dataset_errors, limits)


def _rule_column(rule: str) -> str:
    if rule == "label_in_0_1":
        return LABEL_COLUMN
    if rule.endswith("_format"):
        return rule.removesuffix("_format")
    return TEXT_COLUMN


def _domain_count_errors(accepted: pd.DataFrame) -> list[Rejection]:
    n_domains = accepted[DOMAIN_COLUMN].nunique() if len(accepted) else 0
    if n_domains > MAX_DOMAINS:
        return [Rejection(None, "domain_count", f"{n_domains} domains > {MAX_DOMAINS}")]
    return []


def _class_balance_errors(accepted: pd.DataFrame, min_class_share: float) -> list[Rejection]:
    if accepted.empty:
        return [Rejection(None, "class_balance", "no row passed validation")]
    counts = accepted[LABEL_COLUMN].value_counts()
    minority = min(int(counts.get(0, 0)), int(counts.get(1, 0)))
    share = minority / len(accepted)
    if share < min_class_share or minority == 0:
        detail = (
            f"minority class share {share:.3f} < {min_class_share} "
            f"(human={int(counts.get(0, 0))}, ai={int(counts.get(1, 0))})"
        )
        return [Rejection(None, "class_balance", detail)]
    return []
