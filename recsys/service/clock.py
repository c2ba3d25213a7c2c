"""The service's clock: what `now` is for expiry, freshness and the logs (UTC, seconds)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Clock = Callable[[], np.datetime64]


def wall_clock() -> np.datetime64:
    """Now, in UTC: the service serves a board's own postings in real time."""
    return np.datetime64("now", "s")
