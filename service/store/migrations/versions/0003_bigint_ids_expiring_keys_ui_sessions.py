"""Bounded resources: BIGINT ids, expiring idempotency keys, server-side review-page sessions.

- PostgreSQL: every surrogate id, every foreign key to one and ``postes.numero`` become BIGINT
  (with their sequences), so that a route id up to 2**53 - 1 is a plain lookup (404 when unknown)
  instead of an ``integer out of range`` error. SQLite integers are already 64-bit: nothing to do.
- ``idempotency_keys``: ``expires_at`` (lease end while the request runs, end of the replay window
  once it answered), ``response_bytes`` and ``response_location`` (a response too large to keep
  is recorded by its size and ``Location`` only). Existing keys get an expiry counted from the
  upgrade: 24 h for answered ones, 15 min for running ones (the default TTL and lease).
- ``ui_sessions``: one row per signed-in review-page session (hash of the cookie's random id).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: Autoincremented ids (a sequence each on PostgreSQL).
SERIAL_IDS = (
    "api_tokens",
    "rounds",
    "avis_prefet",
    "coselec",
    "idempotency_keys",
    "postes",
    "postes_evenements",
    "demandes_postes",
)
#: Other columns holding an id: foreign keys to the ids above, and the post number of routes.
ID_COLUMNS = (
    ("coselec", "round_id", True),
    ("idempotency_keys", "token_id", False),
    ("postes", "numero", False),
    ("postes", "round_id", True),
    ("postes_evenements", "poste_id", False),
    ("demandes_postes", "round_id", True),
)


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _retype_ids(type_: type[sa.types.TypeEngine[int]], sequence_type: str) -> None:
    for table in SERIAL_IDS:
        op.alter_column(table, "id", type_=type_(), existing_nullable=False)
        seq = op.get_bind().scalar(sa.text(f"SELECT pg_get_serial_sequence('{table}', 'id')"))
        if seq:
            op.execute(f"ALTER SEQUENCE {seq} AS {sequence_type}")
    for table, column, nullable in ID_COLUMNS:
        op.alter_column(table, column, type_=type_(), existing_nullable=nullable)


def upgrade() -> None:
    if _postgresql():
        _retype_ids(sa.BigInteger, "bigint")

    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("response_bytes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("response_location", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    keys = sa.table(
        "idempotency_keys",
        sa.column("status_code", sa.Integer),
        sa.column("expires_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    op.execute(
        keys.update()
        .where(keys.c.status_code.is_not(None))
        .values(expires_at=now + timedelta(hours=24))
    )
    op.execute(
        keys.update()
        .where(keys.c.status_code.is_(None))
        .values(expires_at=now + timedelta(minutes=15))
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.alter_column(
            "expires_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "ui_sessions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("sid_sha256", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name=op.f("fk_ui_sessions_token_id_api_tokens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ui_sessions")),
        sa.UniqueConstraint("sid_sha256", name=op.f("uq_ui_sessions_sid_sha256")),
    )
    with op.batch_alter_table("ui_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ui_sessions_token_id"), ["token_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_ui_sessions_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    """Back to 0002 (on PostgreSQL this fails if an id above 2**31 - 1 was stored meanwhile)."""
    with op.batch_alter_table("ui_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ui_sessions_expires_at"))
        batch_op.drop_index(batch_op.f("ix_ui_sessions_token_id"))
    op.drop_table("ui_sessions")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_expires_at"))
        batch_op.drop_column("expires_at")
        batch_op.drop_column("response_location")
        batch_op.drop_column("response_bytes")
    if _postgresql():
        _retype_ids(sa.Integer, "integer")
