"""A partition reads its rows, and of a Parquet file only the row groups that hold them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from model_orchestration import bulk_scoring
from model_orchestration.storage import FolderArea

ROWS = 4_500
ROW_GROUP = 1_000
COLUMNS = ("doc_id", "text")


@pytest.fixture
def area(tmp_path: Path) -> FolderArea:
    frame = pd.DataFrame(
        {
            "doc_id": [f"doc-{i:05d}" for i in range(ROWS)],
            "text": [f"text number {i}" for i in range(ROWS)],
            "other": range(ROWS),
        }
    )
    pq.write_table(pa.Table.from_pandas(frame), tmp_path / "a.parquet", row_group_size=ROW_GROUP)
    frame.to_csv(tmp_path / "a.csv", index=False)
    return FolderArea(tmp_path)


@pytest.mark.parametrize(
    ("start", "stop"),
    [
        (0, 1_000),
        (0, 250),
        (900, 1_100),
        (1_000, 2_000),
        (1_999, 4_001),
        (4_000, 4_500),
        (0, 4_500),
    ],
)
@pytest.mark.parametrize("name", ["a.parquet", "a.csv"])
def test_rows_are_the_slice_of_the_whole_file(
    area: FolderArea, name: str, start: int, stop: int
) -> None:
    whole = bulk_scoring.read_frame(area, name, COLUMNS)
    rows = bulk_scoring.read_rows(area, name, COLUMNS, start, stop)
    pd.testing.assert_frame_equal(rows, whole.iloc[start:stop].reset_index(drop=True))


def test_only_the_row_groups_that_hold_the_rows_are_decoded(
    area: FolderArea, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[list[int]] = []
    read_row_groups = pq.ParquetFile.read_row_groups

    def recording(self: pq.ParquetFile, row_groups: list[int], **kwargs: Any) -> pa.Table:
        decoded.append(list(row_groups))
        return read_row_groups(self, row_groups, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", recording)
    bulk_scoring.read_rows(area, "a.parquet", COLUMNS, 1_500, 2_600)
    assert decoded == [[1, 2]]


def test_a_missing_column_is_named(area: FolderArea) -> None:
    with pytest.raises(KeyError, match="nope"):
        bulk_scoring.read_rows(area, "a.parquet", ("doc_id", "nope"), 0, 10)
