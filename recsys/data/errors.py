"""Errors raised when the data folder is missing or malformed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


class DataError(Exception):
    """A data file is missing or does not have the shape we expect; the message names both."""


def read_table(path: Path, required: list[str], *, sep: str = ",", what: str = "") -> pd.DataFrame:
    """Read a CSV/TSV as strings and check its columns, naming the file on any problem."""
    if not path.exists():
        raise DataError(
            f"missing data file {path}: expected {what or 'a table'} with columns {required}. "
            "Set RECSYS_DATA_DIR to the folder laid out as in README.md (Data)."
        )
    try:
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
        raise DataError(f"cannot parse {path}: {exc}") from exc
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path} lacks columns {missing}; found {list(frame.columns)}; "
            f"expected {what or 'a table'} with columns {required}"
        )
    return frame
