"""A throwaway PostgreSQL database per test run, on the real server at RECSYS_TEST_POSTGRES_URL.

The default is the local server on 127.0.0.1:5432 as user postgres. Tests skip when no server
answers, except under CI=true where a missing PostgreSQL is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

ADMIN_URL = os.environ.get(
    "RECSYS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def throwaway_database() -> Iterator[str]:
    """Create a fresh database, yield its URL, drop it afterwards."""
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"recsys_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        reason = str(exc).splitlines()[0]
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true needs PostgreSQL at {ADMIN_URL}: {reason}")
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
