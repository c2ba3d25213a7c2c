"""Employer API keys: made here, shown once, stored only as their SHA-256.

A key is `rk_` plus 32 random bytes (`secrets.token_urlsafe`), so a plain SHA-256 is enough to
store it: there is nothing to guess that a slow hash would protect. A key is found by its hash
(a unique index), and the stored hash is compared in constant time before it is trusted.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from sqlalchemy import Engine, select, update

from recsys.catalog_db.schema import employer_keys

KEY_PREFIX = "rk_"


@dataclass(frozen=True)
class NewKey:
    """A key just made: `key` is its only copy, the database keeps the hash."""

    key_id: str
    employer_id: str
    key: str


def key_hash(key: str) -> str:
    """The hex SHA-256 a key is stored and looked up by."""
    return hashlib.sha256(key.encode()).hexdigest()


class EmployerKeyTable:
    """Create, verify, list and revoke the API keys of employers."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def create(self, employer_id: str, now: datetime, label: str = "") -> NewKey:
        """A new key for `employer_id`; the caller shows `key` once, it is not kept."""
        if not employer_id.strip():
            raise ValueError("an employer key needs a non-empty employer id")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        key_id = "k" + secrets.token_hex(8)
        with self.engine.begin() as conn:
            conn.execute(
                employer_keys.insert().values(
                    key_id=key_id,
                    employer_id=employer_id,
                    key_hash=key_hash(key),
                    label=label,
                    created_at=now,
                    revoked_at=None,
                )
            )
        return NewKey(key_id, employer_id, key)

    def verify(self, key: str) -> str | None:
        """The employer id the key belongs to, or None for an unknown or revoked key."""
        digest = key_hash(key)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(employer_keys.c.key_hash, employer_keys.c.employer_id).where(
                    employer_keys.c.key_hash == digest, employer_keys.c.revoked_at.is_(None)
                )
            ).first()
        if row is None or not hmac.compare_digest(row.key_hash, digest):
            return None
        return str(row.employer_id)

    def revoke(self, key_id: str, now: datetime) -> bool:
        """End a key; True when it was live (revoking twice is harmless)."""
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(employer_keys)
                .where(employer_keys.c.key_id == key_id, employer_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            ).rowcount
        return bool(changed)

    def frame(self, employer_id: str | None = None) -> pd.DataFrame:
        """Every key (revoked ones too), oldest first, without the hashes."""
        columns = [c for c in employer_keys.c if c.name != "key_hash"]
        query = select(*columns).order_by(employer_keys.c.created_at, employer_keys.c.key_id)
        if employer_id is not None:
            query = query.where(employer_keys.c.employer_id == employer_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return pd.DataFrame(rows, columns=[c.name for c in columns])
