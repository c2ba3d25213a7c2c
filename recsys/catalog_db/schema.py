"""The tables of the catalog database (SQLAlchemy Core); Alembic migrations create them.

Every write to `postings` takes the next numbers of `catalog_sequence` first, in the same
transaction. That update locks the counter row until commit, so writers commit in sequence order
and a process that polls `postings.seq > last_seen` never skips a change committed late.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    true,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: posting states; a closed posting is kept (GET still answers) but never recommended.
POSTING_STATUSES: Final[tuple[str, ...]] = ("open", "closed")

postings = Table(
    "postings",
    metadata,
    Column("job_id", BigInteger, primary_key=True, autoincrement=False),
    Column("external_id", String(200), nullable=False, unique=True),
    Column("source", String(100), nullable=False, default="api"),
    Column("title", Text, nullable=False),
    Column("company", Text, nullable=False),
    Column("company_id", BigInteger, nullable=False),
    Column("employer_id", String(200), nullable=True, index=True),
    Column("city", String(200), nullable=False, default=""),
    Column("state", String(100), nullable=False, default=""),
    Column("country", String(100), nullable=False, default="US"),
    Column("lat", Float, nullable=True),
    Column("lon", Float, nullable=True),
    Column("remote", Boolean, nullable=False, default=False),
    Column("seniority", SmallInteger, nullable=False, default=-1),
    Column("job_zone", SmallInteger, nullable=False, default=-1),
    Column("skills", JSON, nullable=False),
    Column("salary_min", Float, nullable=True),
    Column("salary_max", Float, nullable=True),
    Column("employer_rating", Float, nullable=True),
    Column("posted_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("status", String(10), nullable=False, default="open"),
    #: hash of the board-owned fields: an import that changes nothing writes nothing
    Column("content_hash", String(32), nullable=False),
    #: change sequence: set from catalog_sequence on every write
    Column("seq", BigInteger, nullable=False, index=True),
    # Derived data, with the encoder that made it: a restart does not re-embed what is current.
    Column("occupation", String(16), nullable=True),
    Column("embedding", LargeBinary, nullable=True),
    Column("encoder_fingerprint", String(64), nullable=True),
)

catalog_sequence = Table(
    "catalog_sequence",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

seekers = Table(
    "seekers",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("title", Text, nullable=False),
    Column("skills", JSON, nullable=False),
    Column("location", String(200), nullable=False, default=""),
    Column("lat", Float, nullable=True),
    Column("lon", Float, nullable=True),
    Column("seniority", SmallInteger, nullable=True),
    Column("expected_salary", Float, nullable=True),
    Column("wants_remote", Boolean, nullable=False, default=False),
    Column("relocate", Boolean, nullable=False, default=False),
    #: opt-out: employers find a seeker unless they said no (revision 0002 made true the default)
    Column("discoverable", Boolean, nullable=False, default=True, server_default=true()),
    Column("source", String(100), nullable=False, default="api"),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("content_hash", String(32), nullable=False),
)

#: users who asked to be forgotten: training sets drop their rows from then on.
deleted_users = Table(
    "deleted_users",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("deleted_at", DateTime, nullable=False),
)

#: API keys of employers, stored as the SHA-256 of the key (the key itself is shown once).
employer_keys = Table(
    "employer_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("employer_id", String(200), nullable=False, index=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("label", String(200), nullable=False, default=""),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime, nullable=True),
)

Index("ix_postings_status_seq", postings.c.status, postings.c.seq)

#: columns a board owns (the content hash covers these); the rest is bookkeeping or derived.
POSTING_FIELDS: Final[tuple[str, ...]] = (
    "external_id",
    "source",
    "title",
    "company",
    "company_id",
    "employer_id",
    "city",
    "state",
    "country",
    "lat",
    "lon",
    "remote",
    "seniority",
    "job_zone",
    "skills",
    "salary_min",
    "salary_max",
    "employer_rating",
    "posted_at",
    "expires_at",
    "status",
)
SEEKER_FIELDS: Final[tuple[str, ...]] = (
    "title",
    "skills",
    "location",
    "lat",
    "lon",
    "seniority",
    "expected_salary",
    "wants_remote",
    "relocate",
    "discoverable",
    "source",
)
