"""Row buffers with room to grow in place, so that appends leave shared pages shared.

Workers forked from a loaded master share its pages copy-on-write (`recsys.service.workers`).
An append that reallocates a catalog-sized matrix gives every worker a private copy of all of
it; one that writes into spare rows at the end unshares only the pages it writes. Spare rows
cost no memory until written: a large `np.zeros` is mapped lazily by the operating system.
"""

from __future__ import annotations

import numpy as np

#: spare rows kept past the used ones, as a share of them (and at least MIN_SPARE_ROWS)
SPARE_SHARE = 0.25
MIN_SPARE_ROWS = 1_024


def capacity_for(rows: int) -> int:
    """The rows to allocate for `rows` used ones."""
    return int(rows + max(MIN_SPARE_ROWS, rows * SPARE_SHARE))


def with_room(used: np.ndarray, capacity: int | None = None) -> np.ndarray:
    """A buffer whose first `len(used)` rows are `used`, with spare rows after them."""
    n = len(used)
    capacity = capacity_for(n) if capacity is None else max(capacity, n)
    buffer = np.zeros((capacity, *used.shape[1:]), dtype=used.dtype)
    buffer[:n] = used
    return buffer


def append_rows(buffer: np.ndarray, used: int, new: np.ndarray) -> np.ndarray:
    """`new` written after the first `used` rows: into `buffer` itself when it has the room
    (views of the first `used` rows handed out before stay valid and unchanged), else into a
    larger copy. Returns the buffer that now holds them."""
    stop = used + len(new)
    if stop > len(buffer):
        buffer = with_room(buffer[:used], capacity_for(stop))
    buffer[used:stop] = new
    return buffer
