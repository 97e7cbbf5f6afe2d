"""Store functions: structures, préfet opinions, programme (and, re-exported from
:mod:`service.store.access`, tokens, idempotency keys and review-page sessions).

Domain-service functions shared by the HTTP views and the CLI. They take an open
:class:`sqlalchemy.orm.Session` (see :mod:`service.store.db` for the transaction rules) and plain
values, never commit, and raise the typed errors of :mod:`service.contract.errors` or
:class:`service.contract.schemas.InvalidRequest`. The store knows no API schema: portal documents
are validated by :mod:`service.application.structures`, which hands it
:class:`StructureValues`; only the fields of
:class:`service.contract.documents.StructureDocument` ever reach the database (documents are
stored without personal contact data).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from allocator.programme import opinion_spelling
from service.contract.errors import Conflict, NotFound
from service.contract.vocabulary import SERVER_FIELDS

# Access control is re-exported: this module is the store's one facade.
from service.store.access import (  # noqa: F401
    PURGE_BATCH,
    RESERVE_ATTEMPTS,
    ROLES,
    Replay,
    Reservation,
    chunks,
    close_ui_session,
    complete_idempotency_key,
    create_token,
    find_token,
    hash_token,
    list_tokens,
    open_ui_session,
    purge_expired,
    release_idempotency_key,
    reserve_idempotency_key,
    revoke_token,
    ui_session_token,
)
from service.store.models import (
    STATUTS_EN_ATTENTE,
    AvisPrefetRow,
    CoselecRow,
    Programme,
    Structure,
    utcnow,
)


def iso(dt: datetime | None) -> str | None:
    """ISO-8601 in UTC (SQLite returns naive datetimes: they were stored as UTC)."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def canonical_sha256(value: Any) -> str:
    """SHA-256 of the canonical JSON of ``value`` (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# -- structures ------------------------------------------------------------------------------


def without_server_fields(document: dict[str, Any]) -> dict[str, Any]:
    """A stored document without the :data:`~service.contract.documents.SERVER_FIELDS`.

    Stores written before issue 14 may hold a portal ``verrou`` in a document: it is no lock
    (only committee overrides of a round are), so rounds and views never see it.
    """
    return {k: v for k, v in document.items() if k not in SERVER_FIELDS}


#: Coselec entries that are decisions: written by a committed round (``round_id``), a history
#: import (the 2021 file: ``round_id`` of its round; the admin import: ``attribues`` set) or a
#: hand-back of posts (``attribues`` < 0). Entries that a portal document carried before issue 14
#: have neither: they are kept (the table is append-only) but ignored everywhere, so that no
#: portal value ever becomes a grant or an existing advisor.
RECORDED_DECISION = or_(CoselecRow.round_id.is_not(None), CoselecRow.attribues.is_not(None))


@dataclass(frozen=True)
class StructureValues:
    """A structure's columns as the store writes them: plain values, built from a validated
    portal document by :func:`service.application.structures.structure_values`."""

    id_pg: int
    siret: str | None
    type: str
    nom: str
    code_commune: str
    #: the new status (``None``: CREEE on creation, unchanged on update)
    statut: str | None
    #: the stored document (the portal's own fields)
    document: dict[str, Any]


@dataclass(frozen=True)
class PrefetValues:
    """A préfet opinion as the store writes it (``inserted_at`` ``None``: now)."""

    avis: str | None
    nombre: int | None
    commentaire: str | None
    inserted_at: datetime | None = None


def siret_holder(session: Session, siret: str, id_pg: int) -> int | None:
    """The ``idPG`` of another structure holding ``siret``, if any."""
    return session.scalar(
        select(Structure.id_pg).where(Structure.siret == siret, Structure.id_pg != id_pg)
    )


def create_structure(
    session: Session,
    values: StructureValues,
    prefet: Sequence[PrefetValues],
    auteur: str,
    now: datetime,
) -> Structure:
    """Insert a new structure and its relayed préfet opinions (``values.statut`` or CREEE)."""
    row = Structure(
        id_pg=values.id_pg,
        siret=values.siret,
        type=values.type,
        nom=values.nom,
        code_commune=values.code_commune,
        statut=values.statut or "CREEE",
        document=values.document,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    flush_structure(session, values.id_pg)  # the history rows reference it
    for p in prefet:
        session.add(
            AvisPrefetRow(
                id_pg=values.id_pg,
                avis=opinion_spelling(p.avis),
                nombre=p.nombre,
                commentaire=p.commentaire,
                inserted_at=p.inserted_at or now,
                auteur=auteur[:64],
            )
        )
    return row


def update_structure(row: Structure, values: StructureValues, now: datetime) -> None:
    """Apply a portal update to a stored structure: its status when given and different, its
    columns and document when the document or the SIRET changed (then ``updated_at``)."""
    if values.statut is not None and values.statut != row.statut:
        row.statut = values.statut
    if row.document != values.document or row.siret != values.siret:
        row.siret = values.siret
        row.type = values.type
        row.nom = values.nom
        row.code_commune = values.code_commune
        row.document = values.document
        row.updated_at = now


def flush_structure(session: Session, id_pg: int) -> None:
    """Flush; a unique-key race (same idPG or SIRET written concurrently) is a 409."""
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(
            f"Écriture concurrente sur la structure idPG {id_pg} ou son SIRET ; réessayez."
        ) from None


def get_structure_row(session: Session, id_pg: int, *, for_update: bool = False) -> Structure:
    row = session.get(Structure, id_pg, with_for_update=for_update or None)
    if row is None:
        raise NotFound(f"Aucune structure idPG {id_pg}.")
    return row


def get_structure(session: Session, id_pg: int) -> dict[str, Any]:
    """The structure view of ``GET /v1/structures/{idPG}``."""
    return structure_view(session, get_structure_row(session, id_pg))


def prefet_entries(session: Session, id_pg: int) -> list[AvisPrefetRow]:
    return list(
        session.scalars(
            select(AvisPrefetRow).where(AvisPrefetRow.id_pg == id_pg).order_by(AvisPrefetRow.id)
        )
    )


def coselec_entries(session: Session, id_pg: int) -> list[CoselecRow]:
    """The structure's decisions, oldest first (:data:`RECORDED_DECISION` only)."""
    return list(
        session.scalars(
            select(CoselecRow)
            .where(CoselecRow.id_pg == id_pg, RECORDED_DECISION)
            .order_by(CoselecRow.id)
        )
    )


def current_grant(entries: Sequence[CoselecRow]) -> int:
    """Posts currently granted: the last POSITIF coselec entry is authoritative."""
    for c in reversed(entries):
        if c.avis == "POSITIF":
            return c.nombre_conseillers_coselec
    return 0


def _prefet_out(p: AvisPrefetRow) -> dict[str, Any]:
    return {
        "avisPrefet": p.avis,
        "nombreConseillersPrefet": p.nombre,
        "commentairePrefet": p.commentaire,
        "insertedAt": iso(p.inserted_at),
    }


def _coselec_out(c: CoselecRow) -> dict[str, Any]:
    return {
        "nombreConseillersCoselec": c.nombre_conseillers_coselec,
        "avisCoselec": c.avis,
        "numero": c.numero,
        "insertedAt": iso(c.inserted_at),
        "roundId": c.round_id,
    }


def structure_view(session: Session, row: Structure) -> dict[str, Any]:
    prefet = prefet_entries(session, row.id_pg)
    coselec = coselec_entries(session, row.id_pg)
    explanation = None
    for c in reversed(coselec):
        if c.round_id is not None:
            explanation = {
                "roundId": c.round_id,
                "numero": c.numero,
                "date": iso(c.inserted_at),
                "nombreConseillersAttribues": c.attribues,
                "motifs": c.motifs or [],
                "explication": c.explication or {},
            }
            break
    return {
        **without_server_fields(row.document),
        "idPG": row.id_pg,
        "statut": row.statut,
        "nombreConseillersAttribues": current_grant(coselec),
        "prefet": [_prefet_out(p) for p in prefet],
        "coselec": [_coselec_out(c) for c in coselec],
        "derniereExplication": explanation,
        "creeLe": iso(row.created_at),
        "modifieLe": iso(row.updated_at),
    }


def record_avis_prefet(
    session: Session, id_pg: int, prefet: PrefetValues, auteur: str = ""
) -> dict[str, Any]:
    """Append a préfet opinion (the latest one is what the next round uses)."""
    row = get_structure_row(session, id_pg, for_update=True)
    session.add(
        AvisPrefetRow(
            id_pg=id_pg,
            avis=opinion_spelling(prefet.avis),
            nombre=prefet.nombre,
            commentaire=prefet.commentaire,
            inserted_at=utcnow(),
            auteur=auteur[:64],
        )
    )
    session.flush()
    return structure_view(session, row)


@dataclass(frozen=True)
class PendingStructure:
    """A pending structure as a round sees it (request document + fingerprint)."""

    id_pg: int
    code_commune: str
    document: dict[str, Any]
    fingerprint: str


def pending_structures(session: Session) -> list[PendingStructure]:
    """Structures a new round considers (CREEE or EXAMEN_COMPLEMENTAIRE_COSELEC), by idPG.

    Each document carries the stored préfet opinions and recorded decisions
    (:data:`RECORDED_DECISION`) in portal form, so that the round request is what the portal
    would have sent; it never carries a ``verrou`` (:func:`without_server_fields`): a stateful
    round takes its locks from the committee's overrides only.
    """
    rows = list(
        session.scalars(
            select(Structure)
            .where(Structure.statut.in_(STATUTS_EN_ATTENTE))
            .order_by(Structure.id_pg)
        )
    )
    ids = [r.id_pg for r in rows]
    prefet: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    coselec: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    for chunk in chunks(ids, 500):
        for p in session.scalars(
            select(AvisPrefetRow).where(AvisPrefetRow.id_pg.in_(chunk)).order_by(AvisPrefetRow.id)
        ):
            entry = {
                "avisPrefet": p.avis,
                "nombreConseillersPrefet": p.nombre,
                "commentairePrefet": p.commentaire,
            }
            prefet[p.id_pg].append({k: v for k, v in entry.items() if v is not None})
        for c in session.scalars(
            select(CoselecRow)
            .where(CoselecRow.id_pg.in_(chunk), RECORDED_DECISION)
            .order_by(CoselecRow.id)
        ):
            entry = {
                "nombreConseillersCoselec": c.nombre_conseillers_coselec,
                "avisCoselec": c.avis,
                "numero": c.numero,
            }
            coselec[c.id_pg].append({k: v for k, v in entry.items() if v is not None})
    out = []
    for r in rows:
        document = {
            **without_server_fields(r.document),
            "prefet": prefet[r.id_pg],
            "coselec": coselec[r.id_pg],
        }
        fingerprint = canonical_sha256({"statut": r.statut, "document": document})
        out.append(PendingStructure(r.id_pg, r.code_commune, document, fingerprint))
    return out


def fingerprints(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """Current fingerprints of the given structures (pending ones only)."""
    wanted = set(ids)
    return {p.id_pg: p.fingerprint for p in pending_structures(session) if p.id_pg in wanted}


# -- programme ----------------------------------------------------------------------------------


def programme(session: Session, *, for_update: bool = False) -> Programme:
    """The programme row (national envelope and consumption)."""
    stmt = select(Programme).where(Programme.id == 1)
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).one_or_none()
    if row is None:  # pragma: no cover - the initial migration inserts it
        raise Conflict("Programme non initialisé : lancez « allocator db upgrade ».")
    return row


def programme_view(row: Programme) -> dict[str, Any]:
    return {
        "enveloppe": row.enveloppe,
        "consomme": row.consumed,
        "restant": row.enveloppe - row.consumed,
        "version": row.version,
    }


def grants_by_commune(session: Session) -> dict[str, int]:
    """Posts granted by committed rounds, by the host's code commune."""
    rows = session.execute(
        select(Structure.code_commune, func.sum(CoselecRow.attribues))
        .join(CoselecRow, CoselecRow.id_pg == Structure.id_pg)
        .where(CoselecRow.round_id.is_not(None))
        .group_by(Structure.code_commune)
        .order_by(Structure.code_commune)
    )
    return {code: int(n) for code, n in rows if n}


def structures_in(session: Session, codes: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """Compact list (idPG, statut, code commune, current grant) of structures in ``codes``."""
    stmt = select(Structure).order_by(Structure.id_pg)
    if codes is not None:
        stmt = stmt.where(Structure.code_commune.in_(sorted(set(codes))))
    rows = list(session.scalars(stmt))
    grants: dict[int, int] = {}
    ids = [r.id_pg for r in rows]
    for chunk in chunks(ids, 500):
        for c in session.scalars(
            select(CoselecRow)
            .where(CoselecRow.id_pg.in_(chunk), RECORDED_DECISION)
            .order_by(CoselecRow.id)
        ):
            if c.avis == "POSITIF":
                grants[c.id_pg] = c.nombre_conseillers_coselec
    return [
        {
            "idPG": r.id_pg,
            "nom": r.nom,
            "codeCommune": r.code_commune,
            "statut": r.statut,
            "nombreConseillersAttribues": grants.get(r.id_pg, 0),
        }
        for r in rows
    ]
