"""Load labelled CSVs (``text,generated`` + optional ``domain,generator,group_id``) as they are.

Bytes that are not valid UTF-8 are kept as surrogate escapes so the validator can name the rows
that hold them; nothing is coerced or dropped here. The optional columns get their defaults only
after validation (``with_defaults``): a row without a domain is a student essay
(``contract.DEFAULT_DOMAIN``), a row without a generator is ``human`` or ``unknown`` by its
label, and a row without a group is a group of its own (keyed by its normalised text, so the same
text always gets the same group).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from model_registry import contract
from model_registry.errors import DataValidationError
from model_registry.text_normalisation import normalised_key

log = logging.getLogger(__name__)

TEXT_COLUMN = "text"
LABEL_COLUMN = "generated"
DOMAIN_COLUMN = "domain"
GENERATOR_COLUMN = "generator"
GROUP_COLUMN = "group_id"
REQUIRED_COLUMNS = (TEXT_COLUMN, LABEL_COLUMN)
OPTIONAL_COLUMNS = (DOMAIN_COLUMN, GENERATOR_COLUMN, GROUP_COLUMN)
DATASET_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

HUMAN_GENERATOR = "human"
UNKNOWN_GENERATOR = "unknown"
#: Prefix of the default group id (one group per row, named by the row's normalised text).
TEXT_GROUP_PREFIX = "text:"


def default_generator(label: int) -> str:
    return HUMAN_GENERATOR if int(label) == contract.LABEL_HUMAN else UNKNOWN_GENERATOR


def default_group(text: str) -> str:
    return TEXT_GROUP_PREFIX + normalised_key(text)


def with_defaults(df: pd.DataFrame) -> pd.DataFrame:
    """The five dataset columns, missing or blank optional values filled with their defaults.

    ``df`` holds validated rows (``text`` str, ``generated`` 0/1); other columns are dropped.
    """
    out = pd.DataFrame(
        {
            TEXT_COLUMN: df[TEXT_COLUMN].astype(str).to_numpy(dtype=object),
            LABEL_COLUMN: df[LABEL_COLUMN].astype(int).to_numpy(),
        }
    )
    for column in OPTIONAL_COLUMNS:
        values = df[column] if column in df.columns else pd.Series([None] * len(df))
        out[column] = [str(v).strip() if isinstance(v, str) and v.strip() else None for v in values]
    blank = out[DOMAIN_COLUMN].isna()
    out.loc[blank, DOMAIN_COLUMN] = contract.DEFAULT_DOMAIN
    blank = out[GENERATOR_COLUMN].isna()
    out.loc[blank, GENERATOR_COLUMN] = out.loc[blank, LABEL_COLUMN].map(default_generator)
    blank = out[GROUP_COLUMN].isna()
    out.loc[blank, GROUP_COLUMN] = out.loc[blank, TEXT_COLUMN].map(default_group)
    return out.astype({DOMAIN_COLUMN: object, GENERATOR_COLUMN: object, GROUP_COLUMN: object})


def load_labelled_csv(path: str | Path) -> pd.DataFrame:
    """Read a (optionally gzip-compressed) CSV; every column is read as text (``object``)."""
    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"data file not found: {path}")
    try:
        df = pd.read_csv(
            path,
            dtype=object,
            keep_default_na=False,
            encoding="utf-8",
            encoding_errors="surrogateescape",
            compression="infer",
            quoting=csv.QUOTE_MINIMAL,
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, OSError, EOFError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataValidationError(f"cannot parse {path} as CSV: {reason}") from exc
    log.info("loaded %d rows, columns %s from %s", len(df), list(df.columns), path)
    return df.astype(object)


def load_corpus(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Several labelled CSVs as one frame (rows in file order; columns are the union).

    A file without an optional column leaves it blank for its rows (defaults come later).
    """
    if not paths:
        raise DataValidationError("no data file given")
    frames = [load_labelled_csv(path) for path in paths]
    if len(frames) == 1:
        return frames[0]
    merged = pd.concat(frames, ignore_index=True, sort=False)
    return merged.astype(object).where(merged.notna(), "")
