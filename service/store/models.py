"""Persistence model (SQLAlchemy 2): the tables of the embedded store.

Tables
------
``structures``
    One row per application, keyed by the portal's ``idPG``; ``document`` keeps the portal fields
    we use (never ``contact``/``email``/``telephone``: unknown fields are dropped at the edge).
``avis_prefet``
    Préfet opinions, in arrival order (the last one is the one a round uses).
``coselec``
    Append-only decision history: the *total* granted after each decision, the opinion, the
    committee number and date, and the round that made it (``NULL`` for imported history).
``rounds``
    Monthly rounds: parameters, input snapshot, result, committee locks/overrides with their
    reasons, author, timestamps; ``draft`` until committed, immutable afterwards.
``programme``
    A single row: the national envelope and how much of it committed rounds consumed; a CHECK
    constraint keeps ``0 <= consumed <= enveloppe`` and ``version`` counts commits.
``api_tokens``
    Bearer tokens, stored as SHA-256 hex digests, with their role.
``idempotency_keys``
    ``Idempotency-Key`` replays: key per token, method and path, request hash, stored response
    (``NULL`` with ``response_bytes`` set when it was too large to keep) and ``expires_at``: end of
    the lease while the request runs, end of the replay window once it answered (migration 0003).
``ui_sessions``
    Review-page sessions (migration 0003): the SHA-256 of the random session id the signed cookie
    carries, the token that signed in, the absolute expiry. Signing out deletes the row.
``postes``
    One row per granted post (migration 0002): its lifecycle state (see
    :mod:`service.application.posts`),
    grant date, vacancy start, re-assessment flag, return to the pool.
``postes_evenements``
    Append-only log of the lifecycle events reported by the portal (or by the deadline sweep).
``demandes_postes``
    A structure's requests to add posts or to hand posts back (at most one pending at a time).

The schema is created and upgraded by the Alembic migrations of ``service/store/migrations``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from service.contract.vocabulary import STATUTS as STATUTS  # the CHECK constraint's list

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Statuses whose structures a new round considers.
STATUTS_EN_ATTENTE = ("CREEE", "EXAMEN_COMPLEMENTAIRE_COSELEC")

ROUND_DRAFT = "draft"
ROUND_COMMITTED = "committed"


#: Surrogate ids and route keys: BIGINT on PostgreSQL (any id up to 2**53 - 1 in a route is a
#: plain lookup, 404 when unknown; migration 0003), INTEGER on SQLite, whose integers are already
#: 64-bit and where only INTEGER PRIMARY KEY aliases the rowid (autoincrement). Foreign keys take
#: the type of the column they reference.
ID = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """Current time, timezone-aware UTC (stored as such)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Structure(Base):
    __tablename__ = "structures"

    id_pg: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    siret: Mapped[str | None] = mapped_column(String(14), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    nom: Mapped[str] = mapped_column(Text, default="")
    code_commune: Mapped[str] = mapped_column(String(5), index=True)
    statut: Mapped[str] = mapped_column(String(32), index=True)
    document: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        CheckConstraint("statut IN (" + ", ".join(f"'{s}'" for s in STATUTS) + ")", name="statut"),
    )


class AvisPrefetRow(Base):
    __tablename__ = "avis_prefet"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    id_pg: Mapped[int] = mapped_column(ForeignKey("structures.id_pg"), index=True)
    avis: Mapped[str | None] = mapped_column(String(16))
    nombre: Mapped[int | None] = mapped_column(Integer)
    commentaire: Mapped[str | None] = mapped_column(Text)
    inserted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    auteur: Mapped[str] = mapped_column(String(64), default="")


class CoselecRow(Base):
    """One committee decision. Append-only: updates and deletes are refused (see below)."""

    __tablename__ = "coselec"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    id_pg: Mapped[int] = mapped_column(ForeignKey("structures.id_pg"), index=True)
    nombre_conseillers_coselec: Mapped[int] = mapped_column(Integer)
    attribues: Mapped[int | None] = mapped_column(Integer)
    avis: Mapped[str | None] = mapped_column(String(32))
    numero: Mapped[str | None] = mapped_column(String(64))
    inserted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id"), index=True)
    motifs: Mapped[list[Any] | None]
    explication: Mapped[dict[str, Any] | None]


@event.listens_for(CoselecRow, "before_update")
@event.listens_for(CoselecRow, "before_delete")
def _append_only(mapper: Any, connection: Any, target: CoselecRow) -> None:
    raise RuntimeError("the coselec history is append-only")


class Round(Base):
    __tablename__ = "rounds"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    mois: Mapped[str] = mapped_column(String(7), index=True)
    quota: Mapped[int] = mapped_column(Integer)
    politique: Mapped[dict[str, Any] | None]
    status: Mapped[str] = mapped_column(String(16), default=ROUND_DRAFT, index=True)
    snapshot: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any]]
    locks: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    author: Mapped[str] = mapped_column(String(64), default="")
    committed_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    committed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: ``moteur`` (solved by the engine) or ``historique`` (imported 2021 committee decisions).
    origine: Mapped[str] = mapped_column(String(16), default="moteur", server_default="moteur")

    __table_args__ = (CheckConstraint("status IN ('draft', 'committed')", name="status"),)


class Programme(Base):
    __tablename__ = "programme"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    enveloppe: Mapped[int] = mapped_column(Integer)
    consumed: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (CheckConstraint("consumed >= 0 AND consumed <= enveloppe", name="envelope"),)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("role IN ('portail', 'agence', 'analyste', 'admin')", name="role"),
    )


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)  # NULL while in progress
    response_body: Mapped[str | None] = mapped_column(Text)  # NULL: running, or too large
    response_bytes: Mapped[int | None] = mapped_column(Integer)
    response_location: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: End of the lease while running; end of the replay window once answered.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    __table_args__ = (
        UniqueConstraint("token_id", "key", name="uq_idempotency_keys_token_key"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )


class UiSession(Base):
    """A review-page session: the cookie holds the random id, the table its hash (0003)."""

    __tablename__ = "ui_sessions"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    sid_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


# -- posts after the grant (migration 0002) ---------------------------------------------------

#: Lifecycle states of a granted post (service.application.posts documents the transitions).
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


class Poste(Base):
    """One granted post of a structure, numbered ``1..n`` within the structure."""

    __tablename__ = "postes"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    id_pg: Mapped[int] = mapped_column(ForeignKey("structures.id_pg"), index=True)
    numero: Mapped[int] = mapped_column(ID)
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id"), index=True)
    statut: Mapped[str] = mapped_column(String(24), index=True)
    accorde_le: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    statut_depuis: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    vacant_depuis: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recrute_le: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    a_reexaminer_depuis: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    rendu_le: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    motif_rendu: Mapped[str | None] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (
        UniqueConstraint("id_pg", "numero", name="uq_postes_id_pg_numero"),
        CheckConstraint(
            "statut IN (" + ", ".join(f"'{s}'" for s in POSTE_STATUTS) + ")", name="statut"
        ),
    )


class PosteEvenement(Base):
    """One lifecycle event of a post. Append-only."""

    __tablename__ = "postes_evenements"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    poste_id: Mapped[int] = mapped_column(ForeignKey("postes.id"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    date: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    enregistre_le: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    auteur: Mapped[str] = mapped_column(String(64), default="")
    statut_avant: Mapped[str | None] = mapped_column(String(24))
    statut_apres: Mapped[str] = mapped_column(String(24))
    commentaire: Mapped[str | None] = mapped_column(Text)


@event.listens_for(PosteEvenement, "before_update")
@event.listens_for(PosteEvenement, "before_delete")
def _events_append_only(mapper: Any, connection: Any, target: PosteEvenement) -> None:
    raise RuntimeError("the post event log is append-only")


class DemandePostes(Base):
    """A structure's request to add posts (next round) or to hand free posts back."""

    __tablename__ = "demandes_postes"

    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    id_pg: Mapped[int] = mapped_column(ForeignKey("structures.id_pg"), index=True)
    type: Mapped[str] = mapped_column(String(16))
    nombre: Mapped[int] = mapped_column(Integer)
    statut: Mapped[str] = mapped_column(String(16))
    motif: Mapped[str] = mapped_column(Text, default="")
    auteur: Mapped[str] = mapped_column(String(64), default="")
    creee_le: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    traitee_le: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    round_id: Mapped[int | None] = mapped_column(ForeignKey("rounds.id"))
    resultat: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        CheckConstraint("type IN ('AJOUT', 'RESTITUTION')", name="type"),
        CheckConstraint("statut IN ('EN_ATTENTE', 'TRAITEE', 'ANNULEE')", name="statut"),
        CheckConstraint("nombre > 0", name="nombre"),
        # At most one pending request per structure, enforced by the database itself.
        Index(
            "uq_demandes_postes_en_attente",
            "id_pg",
            unique=True,
            sqlite_where=text("statut = 'EN_ATTENTE'"),
            postgresql_where=text("statut = 'EN_ATTENTE'"),
        ),
    )
