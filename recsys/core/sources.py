"""The names of recall's candidate sources and the column that tags each candidate with one.

Recall (`recsys.recall.sources`) writes the tag; the reasons, the closed loop and the
marketplace evaluation read it, so the names live here where every layer can see them.
"""

from __future__ import annotations

from typing import Final

import numpy as np

#: source names; the `source` score column holds an index into this tuple.
SOURCES: Final[tuple[str, ...]] = ("title", "item", "popular", "fresh")
#: the column of the candidates that holds each candidate's source
SOURCE_COLUMN: Final[str] = "source"
#: the reason a served job shows for the source that found it (the title search: none extra)
SOURCE_REASONS: Final[dict[int, str]] = {
    1: "like jobs you applied to or viewed",
    2: "popular in your field nearby",
    3: "new in your field nearby",
}


def source_names(codes: np.ndarray) -> np.ndarray:
    """The source names of a `source` column (object array)."""
    return np.asarray(SOURCES, dtype=object)[np.asarray(codes, dtype=np.int64)]
