"""Employer API keys (hashed), and seekers discoverable unless they opt out.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

`seekers.discoverable` and `seekers.relocate` (willing to relocate) exist since 0001; this
revision gives `discoverable` a server default of true. Stored rows keep their value: a false
written under the old default cannot be told apart from an opt-out, so it is not flipped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "employer_keys",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("employer_id", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_employer_keys"),
        sa.UniqueConstraint("key_hash", name="uq_employer_keys_key_hash"),
    )
    op.create_index("ix_employer_keys_employer_id", "employer_keys", ["employer_id"])
    with op.batch_alter_table("seekers") as batch:
        batch.alter_column("discoverable", existing_type=sa.Boolean(), server_default=sa.true())


def downgrade() -> None:
    with op.batch_alter_table("seekers") as batch:
        batch.alter_column("discoverable", existing_type=sa.Boolean(), server_default=None)
    op.drop_index("ix_employer_keys_employer_id", "employer_keys")
    op.drop_table("employer_keys")
