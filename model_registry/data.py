"""Load a labelled CSV (``text,generated``) without losing or silently fixing anything.

Bytes that are not valid UTF-8 are kept as surrogate escapes so the validator can name the rows
that hold them; nothing is coerced or dropped here.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import pandas as pd

from model_registry.errors import DataValidationError

log = logging.getLogger(__name__)

TEXT_COLUMN = "text"
LABEL_COLUMN = "generated"
REQUIRED_COLUMNS = (TEXT_COLUMN, LABEL_COLUMN)


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
