"""Classify an uploaded CSV: read it strictly, send its texts in chunks, build a result table.

Nothing is dropped silently: every data line of the file ends up in the result table, either
with a verdict or with an ``error`` saying why it was not classified (malformed line, empty text,
a text serving rejected).
"""

from __future__ import annotations

import csv
import io
import logging
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from frontend.serving_client import BadInput, Prediction, ServingClient

logger = logging.getLogger(__name__)

TEXT_COLUMN = "text"
RESULT_COLUMNS = [
    "predicted_label",
    "probability_ai",
    # Empty for a verdict; a reason code (too_short, not_english, ...) when the label is
    # "uncertain": the model cannot judge the text.
    "scope_reason",
    "model_version",
    "prediction_id",
    "error",
]


#: A cell starting with one of these is run as a formula by spreadsheet programs (OWASP "CSV
#: Injection"): ``=HYPERLINK(...)`` leaks data, ``=cmd|...`` ran commands in old Excel. Tab and
#: carriage return count too, since some programs strip them before looking at the cell.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


class CsvProblem(ValueError):
    """The uploaded file as a whole cannot be used; the message says why, in one line."""


@dataclass
class CsvRow:
    """One data line of the uploaded file."""

    line: int
    values: dict[str, str]
    error: str | None = None


@dataclass
class ParsedCsv:
    """The rows of an uploaded CSV and the name of its text column."""

    columns: list[str]
    text_column: str
    rows: list[CsvRow] = field(default_factory=list)

    @property
    def classifiable(self) -> list[CsvRow]:
        return [row for row in self.rows if row.error is None]

    @property
    def problems(self) -> list[CsvRow]:
        return [row for row in self.rows if row.error is not None]


def read_csv(data: bytes, *, max_rows: int) -> ParsedCsv:
    """Parse ``data`` as a UTF-8 CSV with a header holding a ``text`` column."""
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvProblem(
            f"the file is not UTF-8 text (undecodable byte at position {exc.start}); "
            "save it as a UTF-8 CSV"
        ) from exc
    if not content.strip():
        raise CsvProblem("the file is empty")
    csv.field_size_limit(sys.maxsize)
    reader = csv.reader(io.StringIO(content, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader)]
    except csv.Error as exc:
        raise CsvProblem(f"the header line cannot be read as CSV: {exc}") from exc
    text_column = _find_text_column(header)
    text_index = header.index(text_column)
    parsed = ParsedCsv(columns=header, text_column=text_column)
    while True:
        line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # the reader resumes at the next line
            parsed.rows.append(CsvRow(line=line, values={}, error=f"unreadable row: {exc}"))
            if reader.line_num < line:  # no progress: stop rather than loop
                break
            continue
        if not fields:  # a blank line is not a row
            continue
        if len(parsed.rows) >= max_rows:
            raise CsvProblem(
                f"the file has more than {max_rows:,} rows; split it into smaller files"
            )
        row = CsvRow(line=line, values=dict(zip(header, fields, strict=False)))
        if len(fields) != len(header):
            row.error = f"unreadable row: {len(fields)} fields where the header has {len(header)}"
        elif not fields[text_index].strip():
            row.error = "empty text"
        parsed.rows.append(row)
    if not parsed.rows:
        raise CsvProblem("the file has a header but no data rows")
    return parsed


def _find_text_column(header: Sequence[str]) -> str:
    if TEXT_COLUMN in header:
        return TEXT_COLUMN
    for name in header:
        if name.lower() == TEXT_COLUMN:
            return name
    found = ", ".join(f"'{name}'" for name in header) or "none"
    raise CsvProblem(f"the file has no '{TEXT_COLUMN}' column (columns found: {found})")


def classify_texts(
    client: ServingClient,
    texts: Sequence[str],
    *,
    chunk_size: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[Prediction | str]:
    """A prediction or an error message for each text, in order, sent ``chunk_size`` at a time.

    A chunk serving rejects as a whole (4xx) is retried text by text, so one bad text costs only
    its own row. Serving being down or modelless aborts with the client's exception.
    """
    results: list[Prediction | str] = []
    for start in range(0, len(texts), chunk_size):
        chunk = list(texts[start : start + chunk_size])
        try:
            results.extend(client.predict_batch(chunk))
        except BadInput as exc:
            logger.info("batch chunk at %d rejected (%s); retrying one by one", start, exc)
            results.extend(_one_by_one(client, chunk))
        if on_progress is not None:
            on_progress(len(results), len(texts))
    return results


def _one_by_one(client: ServingClient, texts: Sequence[str]) -> list[Prediction | str]:
    answers: list[Prediction | str] = []
    for text in texts:
        try:
            answers.append(client.predict(text))
        except BadInput as exc:
            answers.append(f"rejected by serving: {exc.message}")
    return answers


def result_table(parsed: ParsedCsv, answers: Sequence[Prediction | str]) -> pd.DataFrame:
    """Every data line of the file with its verdict or its error, in file order."""
    classifiable = parsed.classifiable
    if len(answers) != len(classifiable):
        raise ValueError(f"{len(answers)} answers for {len(classifiable)} classifiable rows")
    by_line = {row.line: answer for row, answer in zip(classifiable, answers, strict=True)}
    # A file column named like a result column keeps its values under an "input_" name.
    names = {c: f"input_{c}" if c in RESULT_COLUMNS or c == "line" else c for c in parsed.columns}
    records = []
    for row in parsed.rows:
        record: dict[str, object] = {"line": row.line}
        record.update({names[column]: row.values.get(column, "") for column in parsed.columns})
        answer = by_line.get(row.line, row.error)
        if isinstance(answer, Prediction):
            record.update(
                predicted_label=answer.label,
                probability_ai=round(answer.probability_ai, 4),
                scope_reason="" if answer.judged else (answer.scope_reason or "unknown"),
                model_version=answer.model_version,
                prediction_id=answer.prediction_id,
                error="",
            )
        else:
            record.update(
                predicted_label="",
                probability_ai=None,
                scope_reason="",
                model_version="",
                prediction_id="",
                error=answer,
            )
        records.append(record)
    columns = ["line", *names.values(), *RESULT_COLUMNS]
    return pd.DataFrame.from_records(records, columns=columns)


def neutralise_formula(value: object) -> object:
    """``value`` with a leading apostrophe if a spreadsheet would run it as a formula (a plain
    number such as ``-12.5`` stays as it is); anything else unchanged."""
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_TRIGGERS)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def results_csv(table: pd.DataFrame) -> bytes:
    """The result table as the UTF-8 CSV a person downloads, safe to open in a spreadsheet: no
    cell and no column name (both may come from the uploaded file) can start a formula."""
    safe = table.map(neutralise_formula)
    safe.columns = [str(neutralise_formula(str(column))) for column in table.columns]
    # CRLF line ends (RFC 4180) make the writer quote every cell holding a CR or LF, so a
    # carriage return inside a text cannot split its row in two.
    text: str = safe.to_csv(index=False, lineterminator="\r\n")
    return text.encode("utf-8")
