"""Monthly cycle: post lifecycle, post requests, round origin.

Adds ``postes`` (one row per granted post and its lifecycle state), ``postes_evenements``
(append-only event log), ``demandes_postes`` (add / hand back posts; one pending request per
structure, enforced by a partial unique index) and ``rounds.origine`` (``moteur`` for rounds the
engine solved, ``historique`` for imported 2021 committee decisions). Additive only.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

POSTE_STATUTS = (
    "ACCORDE",
    "CANDIDAT_PRESENTE",
    "CANDIDAT_SELECTIONNE",
    "CONTRAT_SIGNE",
    "EN_FORMATION",
    "EN_POSTE",
    "TERMINE",
    "RENDU",
)


def upgrade() -> None:
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("origine", sa.String(length=16), server_default="moteur", nullable=False)
        )

    op.create_table(
        "postes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id_pg", sa.BigInteger(), nullable=False),
        sa.Column("numero", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=True),
        sa.Column("statut", sa.String(length=24), nullable=False),
        sa.Column("accorde_le", sa.DateTime(timezone=True), nullable=False),
        sa.Column("statut_depuis", sa.DateTime(timezone=True), nullable=False),
        sa.Column("vacant_depuis", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recrute_le", sa.DateTime(timezone=True), nullable=True),
        sa.Column("a_reexaminer_depuis", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rendu_le", sa.DateTime(timezone=True), nullable=True),
        sa.Column("motif_rendu", sa.String(length=32), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "statut IN (" + ", ".join(f"'{s}'" for s in POSTE_STATUTS) + ")",
            name=op.f("ck_postes_statut"),
        ),
        sa.ForeignKeyConstraint(
            ["id_pg"], ["structures.id_pg"], name=op.f("fk_postes_id_pg_structures")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_postes_round_id_rounds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postes")),
        sa.UniqueConstraint("id_pg", "numero", name="uq_postes_id_pg_numero"),
    )
    with op.batch_alter_table("postes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_postes_id_pg"), ["id_pg"], unique=False)
        batch_op.create_index(batch_op.f("ix_postes_round_id"), ["round_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_postes_statut"), ["statut"], unique=False)

    op.create_table(
        "postes_evenements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("poste_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enregistre_le", sa.DateTime(timezone=True), nullable=False),
        sa.Column("auteur", sa.String(length=64), nullable=False),
        sa.Column("statut_avant", sa.String(length=24), nullable=True),
        sa.Column("statut_apres", sa.String(length=24), nullable=False),
        sa.Column("commentaire", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["poste_id"], ["postes.id"], name=op.f("fk_postes_evenements_poste_id_postes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postes_evenements")),
    )
    with op.batch_alter_table("postes_evenements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_postes_evenements_poste_id"), ["poste_id"], unique=False
        )

    op.create_table(
        "demandes_postes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id_pg", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("nombre", sa.Integer(), nullable=False),
        sa.Column("statut", sa.String(length=16), nullable=False),
        sa.Column("motif", sa.Text(), nullable=False),
        sa.Column("auteur", sa.String(length=64), nullable=False),
        sa.Column("creee_le", sa.DateTime(timezone=True), nullable=False),
        sa.Column("traitee_le", sa.DateTime(timezone=True), nullable=True),
        sa.Column("round_id", sa.Integer(), nullable=True),
        sa.Column("resultat", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "type IN ('AJOUT', 'RESTITUTION')", name=op.f("ck_demandes_postes_type")
        ),
        sa.CheckConstraint(
            "statut IN ('EN_ATTENTE', 'TRAITEE', 'ANNULEE')", name=op.f("ck_demandes_postes_statut")
        ),
        sa.CheckConstraint("nombre > 0", name=op.f("ck_demandes_postes_nombre")),
        sa.ForeignKeyConstraint(
            ["id_pg"], ["structures.id_pg"], name=op.f("fk_demandes_postes_id_pg_structures")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["rounds.id"], name=op.f("fk_demandes_postes_round_id_rounds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demandes_postes")),
    )
    with op.batch_alter_table("demandes_postes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_demandes_postes_id_pg"), ["id_pg"], unique=False)
        batch_op.create_index(
            "uq_demandes_postes_en_attente",
            ["id_pg"],
            unique=True,
            sqlite_where=sa.text("statut = 'EN_ATTENTE'"),
            postgresql_where=sa.text("statut = 'EN_ATTENTE'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("demandes_postes", schema=None) as batch_op:
        batch_op.drop_index("uq_demandes_postes_en_attente")
        batch_op.drop_index(batch_op.f("ix_demandes_postes_id_pg"))
    op.drop_table("demandes_postes")
    with op.batch_alter_table("postes_evenements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_postes_evenements_poste_id"))
    op.drop_table("postes_evenements")
    with op.batch_alter_table("postes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_postes_statut"))
        batch_op.drop_index(batch_op.f("ix_postes_round_id"))
        batch_op.drop_index(batch_op.f("ix_postes_id_pg"))
    op.drop_table("postes")
    with op.batch_alter_table("rounds", schema=None) as batch_op:
        batch_op.drop_column("origine")
