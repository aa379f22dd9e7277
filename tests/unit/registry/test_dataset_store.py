"""Dataset digests are stable content names; the local store round-trips by digest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from model_registry.dataset_store import (
    DatasetNotFound,
    DatasetStore,
    S3DatasetStore,
    dataset_digest,
)
from tests.support.model_fixtures import sample


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return sample(60)


def test_digest_ignores_row_order_but_not_content(data: pd.DataFrame) -> None:
    digest = dataset_digest(data)
    assert len(digest) == 64
    assert dataset_digest(data.sample(frac=1.0, random_state=1)) == digest
    assert dataset_digest(data.copy()) == digest
    changed_text = data.copy()
    changed_text.loc[0, "text"] += " "
    assert dataset_digest(changed_text) != digest
    changed_label = data.copy()
    changed_label.loc[0, "generated"] = 1 - changed_label.loc[0, "generated"]
    assert dataset_digest(changed_label) != digest
    assert dataset_digest(data.iloc[1:]) != digest


def test_local_store_round_trip(tmp_path: Path, data: pd.DataFrame) -> None:
    store = DatasetStore.from_uri(str(tmp_path / "datasets"))
    assert store.latest() is None
    digest = store.put(data)
    assert store.put(data) == digest  # idempotent
    assert store.exists(digest)
    loaded = store.get(digest)
    assert dataset_digest(loaded) == digest
    assert loaded["text"].tolist() == data["text"].tolist()
    store.set_latest(digest)
    assert store.latest() == digest
    assert (tmp_path / "datasets" / f"{digest}.csv.gz").is_file()


def test_unknown_digest(tmp_path: Path) -> None:
    store = DatasetStore.from_uri(str(tmp_path))
    with pytest.raises(DatasetNotFound):
        store.get("0" * 64)
    with pytest.raises(DatasetNotFound):
        store.set_latest("0" * 64)


def test_s3_uri_is_parsed() -> None:
    store = DatasetStore.from_uri("s3://datasets/registry/v1")
    assert isinstance(store, S3DatasetStore)
    assert (store.bucket, store.prefix) == ("datasets", "registry/v1")
    assert store.location("abc") == "s3://datasets/registry/v1/abc.csv.gz"
