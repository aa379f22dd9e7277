"""Train / validation / test splits grouped by ``group_id`` and stratified by domain and label.

Whole groups go to one split: an original and its AI rewrite, or two near-duplicates, never sit
on both sides of a boundary. Groups are stratified by ``domain|labels`` (the labels a group holds:
``0``, ``1`` or ``0+1``), so every split holds every domain in its share; strata too small to
split are pooled. Groups are sorted before the seeded split, so the result depends on the data's
content and the seed only, never on row order.

A frozen test split (from the dataset store) is reused as is; every row whose normalised text or
group is in it is removed from the rows train and validation are drawn from. When the data holds
a domain the frozen split lacks (new genres were added), test rows for that domain are drawn the
same way and added: the frozen split grows, what it held stays (``Splits.added_test_domains``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from model_registry.labelled_csv import (
    DATASET_COLUMNS,
    DOMAIN_COLUMN,
    GROUP_COLUMN,
    LABEL_COLUMN,
    TEXT_COLUMN,
    with_defaults,
)
from model_registry.text_normalisation import normalised_key

log = logging.getLogger(__name__)

#: A stratum with fewer groups than this is pooled with the other small ones.
MIN_STRATUM_GROUPS = 4


class SplitLeakage(AssertionError):
    """A normalised text or a group occurs in more than one split (a bug, never expected)."""


class SplitFrame(pd.DataFrame):
    """One split: a DataFrame of the five dataset columns, with typed accessors."""

    @property
    def _constructor(self) -> type[SplitFrame]:
        return SplitFrame

    @property
    def texts(self) -> list[str]:
        texts: list[str] = self[TEXT_COLUMN].tolist()
        return texts

    @property
    def labels(self) -> np.ndarray:
        labels: np.ndarray = self[LABEL_COLUMN].to_numpy(dtype=int)
        return labels

    @property
    def domains(self) -> list[str]:
        domains: list[str] = self[DOMAIN_COLUMN].tolist()
        return domains


def split_frame(df: pd.DataFrame) -> SplitFrame:
    full = with_defaults(df) if any(c not in df.columns for c in DATASET_COLUMNS) else df
    return SplitFrame(full[list(DATASET_COLUMNS)].reset_index(drop=True))


@dataclass(frozen=True)
class Splits:
    train: SplitFrame
    validation: SplitFrame
    test: SplitFrame
    #: Rows dropped from train/validation because their text or group is in the frozen test split.
    removed_overlap: int = 0
    #: Domains the frozen test split lacked, for which test rows were drawn and added.
    added_test_domains: tuple[str, ...] = field(default=())

    def sizes(self) -> dict[str, int]:
        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test),
        }


def _keys(df: pd.DataFrame) -> pd.Series:
    return df[TEXT_COLUMN].map(normalised_key)


def _strata(frame: pd.DataFrame) -> pd.Series:
    """One stratum per group: ``domain|labels`` (small strata pooled as ``other``)."""
    by_group = frame.groupby(GROUP_COLUMN, sort=True)
    labels = by_group[LABEL_COLUMN].agg(lambda s: "+".join(str(v) for v in sorted(set(s))))
    domains = by_group[DOMAIN_COLUMN].first()
    strata = domains + "|" + labels
    counts = strata.value_counts()
    small = strata.map(counts) < MIN_STRATUM_GROUPS
    return strata.where(~small, "other")


def _split_groups(df: pd.DataFrame, share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``df`` by group, stratified by domain and label; returns ``(kept, held)``."""
    frame = df.sort_values([GROUP_COLUMN, TEXT_COLUMN], kind="stable")
    strata = _strata(frame)
    stratify = strata.to_numpy() if strata.value_counts().min() >= 2 else None
    _, held_groups = train_test_split(
        strata.index.to_numpy(), test_size=share, stratify=stratify, random_state=seed
    )
    in_held = frame[GROUP_COLUMN].isin(set(held_groups))
    return frame[~in_held].reset_index(drop=True), frame[in_held].reset_index(drop=True)


def make_splits(
    df: pd.DataFrame,
    frozen_test: pd.DataFrame | None = None,
    *,
    seed: int = 20240607,
    validation_share: float = 0.15,
    test_share: float = 0.15,
) -> Splits:
    """Split ``df`` (validated rows) into train / validation / test; see the module docstring."""
    data = split_frame(df)
    removed = 0
    added: tuple[str, ...] = ()
    if frozen_test is None:
        rest, test = _split_groups(data, test_share, seed)
    else:
        test = split_frame(frozen_test)
        in_test = _keys(data).isin(set(_keys(test))) | data[GROUP_COLUMN].isin(
            set(test[GROUP_COLUMN])
        )
        removed = int(in_test.sum())
        rest = data[~in_test]
        if removed:
            log.info("removed %d rows whose text or group is in the frozen test split", removed)
        missing = sorted(set(rest[DOMAIN_COLUMN]) - set(test[DOMAIN_COLUMN]))
        if missing:
            new_domain = rest[DOMAIN_COLUMN].isin(missing)
            kept, extra = _split_groups(rest[new_domain], test_share, seed)
            rest = pd.concat([rest[~new_domain], kept], ignore_index=True)
            test = pd.concat([test, extra], ignore_index=True)
            added = tuple(missing)
            log.info("frozen test split extended with %d rows of %s", len(extra), missing)
    train, validation = _split_groups(rest, validation_share / (1.0 - test_share), seed)
    splits = Splits(
        train=split_frame(train),
        validation=split_frame(validation),
        test=split_frame(test),
        removed_overlap=removed,
        added_test_domains=added,
    )
    check_no_leakage(splits)
    return splits


def check_no_leakage(splits: Splits) -> None:
    """Raise ``SplitLeakage`` when a normalised text or a group is in two splits (even under -O)."""
    parts = {name: split_frame(part) for name, part in _parts(splits).items()}
    for what, values in (
        ("normalised texts", {name: set(_keys(part)) for name, part in parts.items()}),
        ("groups", {name: set(part[GROUP_COLUMN]) for name, part in parts.items()}),
    ):
        for first, second in (("train", "validation"), ("train", "test"), ("validation", "test")):
            shared = values[first] & values[second]
            if shared:
                raise SplitLeakage(f"{len(shared)} {what} in both {first} and {second}")


def _parts(splits: Splits) -> dict[str, pd.DataFrame]:
    return {"train": splits.train, "validation": splits.validation, "test": splits.test}
