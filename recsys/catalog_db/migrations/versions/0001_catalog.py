"""Postings, seekers, deleted users and the change sequence.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "postings",
        sa.Column("job_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("company", sa.Text(), nullable=False),
        sa.Column("company_id", sa.BigInteger(), nullable=False),
        sa.Column("employer_id", sa.String(200), nullable=True),
        sa.Column("city", sa.String(200), nullable=False),
        sa.Column("state", sa.String(100), nullable=False),
        sa.Column("country", sa.String(100), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("remote", sa.Boolean(), nullable=False),
        sa.Column("seniority", sa.SmallInteger(), nullable=False),
        sa.Column("job_zone", sa.SmallInteger(), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("salary_min", sa.Float(), nullable=True),
        sa.Column("salary_max", sa.Float(), nullable=True),
        sa.Column("employer_rating", sa.Float(), nullable=True),
        sa.Column("posted_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("occupation", sa.String(16), nullable=True),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.Column("encoder_fingerprint", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("job_id", name="pk_postings"),
        sa.UniqueConstraint("external_id", name="uq_postings_external_id"),
    )
    op.create_index("ix_postings_employer_id", "postings", ["employer_id"])
    op.create_index("ix_postings_seq", "postings", ["seq"])
    op.create_index("ix_postings_status_seq", "postings", ["status", "seq"])
    op.create_table(
        "catalog_sequence",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_catalog_sequence"),
    )
    op.bulk_insert(
        sa.table(
            "catalog_sequence", sa.column("name", sa.String), sa.column("value", sa.BigInteger)
        ),
        [{"name": "postings", "value": 0}],
    )
    op.create_table(
        "seekers",
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("location", sa.String(200), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("seniority", sa.SmallInteger(), nullable=True),
        sa.Column("expected_salary", sa.Float(), nullable=True),
        sa.Column("wants_remote", sa.Boolean(), nullable=False),
        sa.Column("relocate", sa.Boolean(), nullable=False),
        sa.Column("discoverable", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("content_hash", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_seekers"),
    )
    op.create_table(
        "deleted_users",
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_deleted_users"),
    )


def downgrade() -> None:
    op.drop_table("deleted_users")
    op.drop_table("seekers")
    op.drop_table("catalog_sequence")
    op.drop_index("ix_postings_status_seq", "postings")
    op.drop_index("ix_postings_seq", "postings")
    op.drop_index("ix_postings_employer_id", "postings")
    op.drop_table("postings")
