"""Which requests an experiment takes: a stable hash of the request id against a traffic share.

Hashing (not a random draw) makes the assignment reproducible from the log alone and the same
on every API replica; salting by the experiment name keeps two experiments independent.
"""

from __future__ import annotations

import hashlib

import numpy as np


def bucket(keys: np.ndarray, salt: str) -> np.ndarray:
    """A uniform value in [0, 1) per key, fixed by (salt, key)."""
    out = np.empty(len(keys), np.float64)
    for i, key in enumerate(np.asarray(keys, dtype=object).tolist()):  # hashing: once per request
        digest = hashlib.blake2b(f"{salt}:{key}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "big") / 2.0**64
    return out


def in_experiment(keys: np.ndarray, share: float, salt: str) -> np.ndarray:
    """True for the keys (request ids) whose bucket falls in the first `share` of traffic."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"experiment traffic share must be in [0, 1], got {share}")
    return bucket(keys, salt) < share
