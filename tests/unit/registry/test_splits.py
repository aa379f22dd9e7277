"""Splits are stratified, deterministic, and never let a normalised text cross a boundary."""

from __future__ import annotations

import pandas as pd
import pytest

from model_registry.dataset_store import dataset_digest
from model_registry.splits import SplitLeakage, Splits, check_no_leakage, make_splits
from model_registry.text_normalisation import normalised_key
from tests.support.model_fixtures import sample


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    base = sample(400)
    # Near-duplicates (case / whitespace variants) that must land in the same split.
    variants = base.head(60).assign(text=lambda d: "  " + d["text"].str.upper() + "\n")
    return pd.concat([base, variants], ignore_index=True)


def keys(df: pd.DataFrame) -> set[str]:
    return set(df["text"].map(normalised_key))


def test_normalised_duplicates_never_cross_splits(data: pd.DataFrame) -> None:
    splits = make_splits(data, seed=3)
    assert not keys(splits.train) & keys(splits.validation)
    assert not keys(splits.train) & keys(splits.test)
    assert not keys(splits.validation) & keys(splits.test)
    assert sum(splits.sizes().values()) == len(data)


def test_stratified_shares(data: pd.DataFrame) -> None:
    splits = make_splits(data, seed=3)
    for part in (splits.train, splits.validation, splits.test):
        assert abs(part["generated"].mean() - 0.5) < 0.08
    assert 0.12 < len(splits.test) / len(data) < 0.18


def test_deterministic_and_independent_of_row_order(data: pd.DataFrame) -> None:
    first = make_splits(data, seed=3)
    shuffled = make_splits(data.sample(frac=1.0, random_state=9), seed=3)
    assert dataset_digest(first.test) == dataset_digest(shuffled.test)
    assert dataset_digest(first.train) == dataset_digest(shuffled.train)
    assert dataset_digest(make_splits(data, seed=4).test) != dataset_digest(first.test)


def test_frozen_test_split_is_reused_and_removed_from_training(data: pd.DataFrame) -> None:
    frozen = make_splits(data, seed=3).test
    splits = make_splits(data, frozen, seed=11)
    assert dataset_digest(splits.test) == dataset_digest(frozen)
    assert splits.removed_overlap >= len(frozen)
    assert not keys(splits.train) & keys(frozen)
    assert not keys(splits.validation) & keys(frozen)


def test_leak_check_raises() -> None:
    df = sample(20)
    with pytest.raises(SplitLeakage, match="train and test"):
        check_no_leakage(Splits(train=df, validation=df.iloc[:0], test=df.head(1)))
