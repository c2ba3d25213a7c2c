"""Time helpers shared by the backends: an injectable clock and explicit UTC conversions."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

#: Seconds since the epoch; stores take one so tests can expire TTLs without sleeping.
Clock = Callable[[], float]

system_clock: Clock = time.time


def to_millis(moment: datetime) -> int:
    """Epoch milliseconds of `moment`; a naive datetime is read as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def from_millis(ms: int) -> datetime:
    """The UTC datetime of epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
