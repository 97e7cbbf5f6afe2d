"""Initial schema: structures, préfet opinions, coselec history, rounds, programme, tokens.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-26 13:01:44.182792
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('portail', 'agence', 'analyste', 'admin')", name=op.f("ck_api_tokens_role")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_tokens_token_sha256")),
    )
    op.create_table(
        "programme",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("enveloppe", sa.Integer(), nullable=False),
        sa.Column("consumed", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "consumed >= 0 AND consumed <= enveloppe", name=op.f("ck_programme_envelope")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme")),
    )
    op.create_table(
        "rounds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mois", sa.String(length=7), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=False),
        sa.Column("politique", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("locks", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("committed_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("status IN ('draft', 'committed')", name=op.f("ck_rounds_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rounds")),
    )
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rounds_mois"), ["mois"], unique=False)
        batch_op.create_index(batch_op.f("ix_rounds_status"), ["status"], unique=False)

    op.create_table(
        "structures",
        sa.Column("id_pg", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("siret", sa.String(length=14), nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("nom", sa.Text(), nullable=False),
        sa.Column("code_commune", sa.String(length=5), nullable=False),
        sa.Column("statut", sa.String(length=32), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "statut IN ('CREEE', 'VALIDATION_COSELEC', 'EXAMEN_COMPLEMENTAIRE_COSELEC', "
            "'REFUS_COSELEC', 'ANNULEE', 'ABANDON', 'DOUBLON')",
            name=op.f("ck_structures_statut"),
        ),
        sa.PrimaryKeyConstraint("id_pg", name=op.f("pk_structures")),
        sa.UniqueConstraint("siret", name=op.f("uq_structures_siret")),
    )
    with op.batch_alter_table("structures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_structures_code_commune"), ["code_commune"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_structures_statut"), ["statut"], unique=False)

    op.create_table(
        "avis_prefet",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id_pg", sa.BigInteger(), nullable=False),
        sa.Column("avis", sa.String(length=16), nullable=True),
        sa.Column("nombre", sa.Integer(), nullable=True),
        sa.Column("commentaire", sa.Text(), nullable=True),
        sa.Column("inserted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("auteur", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["id_pg"], ["structures.id_pg"], name=op.f("fk_avis_prefet_id_pg_structures")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_avis_prefet")),
    )
    with op.batch_alter_table("avis_prefet", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_avis_prefet_id_pg"), ["id_pg"], unique=False)

    op.create_table(
        "coselec",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id_pg", sa.BigInteger(), nullable=False),
        sa.Column("nombre_conseillers_coselec", sa.Integer(), nullable=False),
        sa.Column("attribues", sa.Integer(), nullable=True),
        sa.Column("avis", sa.String(length=32), nullable=True),
        sa.Column("numero", sa.String(length=64), nullable=True),
        sa.Column("inserted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("round_id", sa.Integer(), nullable=True),
        sa.Column("motifs", sa.JSON(), nullable=True),
        sa.Column("explication", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["id_pg"], ["structures.id_pg"], name=op.f("fk_coselec_id_pg_structures")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_coselec_round_id_rounds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coselec")),
    )
    with op.batch_alter_table("coselec", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_coselec_id_pg"), ["id_pg"], unique=False)
        batch_op.create_index(batch_op.f("ix_coselec_round_id"), ["round_id"], unique=False)

    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name=op.f("fk_idempotency_keys_token_id_api_tokens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("token_id", "key", name="uq_idempotency_keys_token_key"),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index("ix_idempotency_keys_created_at", ["created_at"], unique=False)

    # The programme: 4,000 posts funded by France Relance, none consumed yet.
    programme = sa.table(
        "programme",
        sa.column("id", sa.Integer),
        sa.column("enveloppe", sa.Integer),
        sa.column("consumed", sa.Integer),
        sa.column("version", sa.Integer),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    op.bulk_insert(
        programme,
        [
            {
                "id": 1,
                "enveloppe": 4000,
                "consumed": 0,
                "version": 0,
                "updated_at": datetime(2021, 1, 1, tzinfo=UTC),
            }
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index("ix_idempotency_keys_created_at")

    op.drop_table("idempotency_keys")
    with op.batch_alter_table("coselec", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_coselec_round_id"))
        batch_op.drop_index(batch_op.f("ix_coselec_id_pg"))

    op.drop_table("coselec")
    with op.batch_alter_table("avis_prefet", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_avis_prefet_id_pg"))

    op.drop_table("avis_prefet")
    with op.batch_alter_table("structures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_structures_statut"))
        batch_op.drop_index(batch_op.f("ix_structures_code_commune"))

    op.drop_table("structures")
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rounds_status"))
        batch_op.drop_index(batch_op.f("ix_rounds_mois"))

    op.drop_table("rounds")
    op.drop_table("programme")
    op.drop_table("api_tokens")
