"""Append new labelled rows to a dataset version without duplicating what it already holds.

Rows are compared by the registry's normalised-text key (the same key validation and the splits
use), so a batch that repeats known essays, or a re-delivered batch, adds nothing. A new row whose
normalised text is already in the dataset with the *other* label is a conflict: it is counted and
left out (the dataset's existing label stands), never silently merged.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from model_registry.labelled_csv import DATASET_COLUMNS, LABEL_COLUMN, TEXT_COLUMN, with_defaults
from model_registry.text_normalisation import normalised_key


@dataclass(frozen=True)
class MergeResult:
    merged: pd.DataFrame
    added: int
    duplicates: int
    conflicts: int

    def to_dict(self) -> dict[str, int]:
        return {
            "rows": len(self.merged),
            "added": self.added,
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
        }


def merge_new_rows(current: pd.DataFrame, new: pd.DataFrame) -> MergeResult:
    """``current`` plus the rows of ``new`` whose normalised text it does not hold yet."""
    columns = list(DATASET_COLUMNS)  # the optional columns (with their defaults) are kept
    current, new = with_defaults(current), with_defaults(new)
    current_keys = current[TEXT_COLUMN].map(normalised_key)
    known = dict(zip(current_keys, current[LABEL_COLUMN].astype(int), strict=True))
    keep: list[bool] = []
    duplicates = conflicts = 0
    for text, label in zip(new[TEXT_COLUMN], new[LABEL_COLUMN].astype(int), strict=True):
        key = normalised_key(text)
        if key in known:
            if known[key] == label:
                duplicates += 1
            else:
                conflicts += 1
            keep.append(False)
            continue
        known[key] = label
        keep.append(True)
    added_rows = new.loc[keep, columns]
    merged = pd.concat([current[columns], added_rows], ignore_index=True)
    merged[LABEL_COLUMN] = merged[LABEL_COLUMN].astype(int)
    return MergeResult(merged, len(added_rows), duplicates, conflicts)
