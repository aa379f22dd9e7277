"""Stratified train / validation / test splits in which no normalised text crosses a boundary.

Rows are grouped by their normalised-text key and whole groups are assigned to one split, so
near-duplicates never leak from train into evaluation. Groups are sorted by key before the seeded
split, so the result depends on the data's content and the seed only, never on row order.
A frozen test split (from the dataset store) is reused as is; its texts are removed from the
rows that train and validation are drawn from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from model_registry.data import LABEL_COLUMN, TEXT_COLUMN
from model_registry.text import normalised_key

log = logging.getLogger(__name__)


class SplitLeakage(AssertionError):
    """A normalised text occurs in more than one split (a bug, never expected)."""


@dataclass(frozen=True)
class Splits:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    #: Rows dropped from train/validation because their text is in the frozen test split.
    removed_overlap: int = 0

    def sizes(self) -> dict[str, int]:
        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test),
        }


def _keys(df: pd.DataFrame) -> pd.Series:
    return df[TEXT_COLUMN].map(normalised_key)


def _split_groups(df: pd.DataFrame, share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``df`` by normalised-text group, stratified on the group's (first) label."""
    frame = df.assign(_key=_keys(df)).sort_values(["_key", LABEL_COLUMN], kind="stable")
    groups = frame.groupby("_key", sort=True)[LABEL_COLUMN].first()
    _, held_keys = train_test_split(
        groups.index.to_numpy(), test_size=share, stratify=groups.to_numpy(), random_state=seed
    )
    held = set(held_keys)
    in_held = frame["_key"].isin(held)
    clean = frame.drop(columns="_key")
    return (
        clean[~in_held].reset_index(drop=True),
        clean[in_held].reset_index(drop=True),
    )


def make_splits(
    df: pd.DataFrame,
    frozen_test: pd.DataFrame | None = None,
    *,
    seed: int = 20240607,
    validation_share: float = 0.15,
    test_share: float = 0.15,
) -> Splits:
    """Split ``df`` (validated rows) into train / validation / test; see the module docstring."""
    data = df[[TEXT_COLUMN, LABEL_COLUMN]]
    removed = 0
    if frozen_test is None:
        rest, test = _split_groups(data, test_share, seed)
    else:
        test = frozen_test[[TEXT_COLUMN, LABEL_COLUMN]].reset_index(drop=True)
        in_test = _keys(data).isin(set(_keys(test)))
        removed = int(in_test.sum())
        rest = data[~in_test]
        if removed:
            log.info("removed %d rows whose text is in the frozen test split", removed)
    train, validation = _split_groups(rest, validation_share / (1.0 - test_share), seed)
    splits = Splits(train=train, validation=validation, test=test, removed_overlap=removed)
    check_no_leakage(splits)
    return splits


def check_no_leakage(splits: Splits) -> None:
    """Raise ``SplitLeakage`` when a normalised text is in two splits (runs even under -O)."""
    keys = {name: set(_keys(part)) for name, part in _parts(splits).items()}
    for first, second in (("train", "validation"), ("train", "test"), ("validation", "test")):
        shared = keys[first] & keys[second]
        if shared:
            raise SplitLeakage(f"{len(shared)} normalised texts in both {first} and {second}")


def _parts(splits: Splits) -> dict[str, pd.DataFrame]:
    return {"train": splits.train, "validation": splits.validation, "test": splits.test}
