"""Ids and content hashes: how a board's own keys map to the int64 job ids the index holds."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

#: job ids stay below 2**62 (the API's bound), so they survive any int64 arithmetic.
MAX_JOB_ID = 2**62


def job_id_for(external_id: str) -> int:
    """The job id of a board's posting id: the number itself when it is one, else a stable hash.

    Numeric board ids (LinkedIn's, the API's) stay readable; other keys hash with blake2b, where
    a collision among a billion postings has odds of about 1e-1.
    """
    text = external_id.strip()
    if text.isdigit() and 0 < int(text) < MAX_JOB_ID:
        return int(text)
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % (MAX_JOB_ID - 1) + 1


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def content_hash(record: Mapping[str, Any], fields: Iterable[str]) -> str:
    """A hash of `fields` of one record: equal content gives an equal hash across processes."""
    payload = json.dumps([_plain(record.get(f)) for f in fields], default=str)
    return hashlib.md5(payload.encode(), usedforsecurity=False).hexdigest()
