"""Store functions: structures, préfet opinions, tokens, programme, idempotency keys.

Domain-service functions shared by the HTTP views and the CLI. They take an open
:class:`sqlalchemy.orm.Session` (see :mod:`service.store.db` for the transaction rules), never
commit,
and raise the typed errors of :mod:`service.contract.errors` or
:class:`service.contract.schemas.InvalidRequest`.
Documents are stored without personal contact data: only the fields of
:class:`service.contract.documents.StructureDocument` ever reach the database.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.contract.documents import (
    MAX_ID,
    SERVER_FIELDS,
    STATUTS_PORTAIL,
    AvisPrefetBody,
    StructureDocument,
)
from service.contract.errors import Conflict, NotFound
from service.contract.schemas import FieldError, InvalidRequest
from service.store.models import (
    STATUTS_EN_ATTENTE,
    ApiToken,
    AvisPrefetRow,
    CoselecRow,
    IdempotencyKey,
    Programme,
    Structure,
    UiSession,
    utcnow,
)

ROLES = ("portail", "agence", "analyste", "admin")


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


# -- tokens -----------------------------------------------------------------------------------


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(session: Session, role: str, label: str = "") -> str:
    """Create an API token for ``role``; return the raw token (only its hash is stored)."""
    if role not in ROLES:
        raise InvalidRequest(
            [FieldError("role", f"rôle inconnu {role!r} ; attendu : {', '.join(ROLES)}")]
        )
    raw = "cn_" + secrets.token_urlsafe(32)
    session.add(ApiToken(token_sha256=hash_token(raw), role=role, label=label[:200]))
    session.flush()
    return raw


def find_token(session: Session, raw: str) -> ApiToken | None:
    """The active token whose hash matches ``raw``, or ``None``."""
    return session.scalars(
        select(ApiToken).where(
            ApiToken.token_sha256 == hash_token(raw), ApiToken.revoked_at.is_(None)
        )
    ).one_or_none()


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token, revoked ones included, by id (``allocator token list``)."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(session: Session, token_id: int, now: datetime) -> tuple[ApiToken, bool]:
    """Revoke a token and end its review-page sessions; return ``(token, newly_revoked)``.

    Revoking a revoked token changes nothing (its revocation date is kept). An unknown id is a
    :class:`NotFound`.
    """
    row = session.get(ApiToken, token_id, with_for_update=True) if 0 < token_id <= MAX_ID else None
    if row is None:
        raise NotFound(f"Aucun jeton n° {token_id}.")
    session.execute(delete(UiSession).where(UiSession.token_id == token_id))
    if row.revoked_at is not None:
        return row, False
    row.revoked_at = now
    session.flush()
    return row, True


# -- structures ------------------------------------------------------------------------------


def _document(doc: StructureDocument) -> dict[str, Any]:
    """The stored document: the portal's own fields (history, status and locks live apart)."""
    return doc.model_dump(
        mode="json", exclude_none=True, exclude={"prefet", "statut", *SERVER_FIELDS}
    )


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


#: Why each server-controlled field is refused (French, shown to the caller).
_SERVER_FIELD_REASONS = {
    "verrou": "champ fixé par le service : un verrou ne se pose que par un arbitrage du comité "
    "sur un tour",
    "coselec": "historique des décisions fixé par le service (tours validés) ; un historique "
    "antérieur s'importe par POST /v1/structures/import-historique (rôle admin)",
}


def server_field_errors(doc: StructureDocument, allowed: tuple[str, ...] = ()) -> list[FieldError]:
    """One error per :data:`~service.contract.documents.SERVER_FIELDS` field ``doc`` carries (but
    ``allowed``), naming it and saying why."""
    return [
        FieldError(
            name,
            _SERVER_FIELD_REASONS.get(name, "champ de la vue de la structure, fixé par le service"),
        )
        for name in doc.server_fields(allowed)
    ]


def refuse_server_fields(errors: list[FieldError]) -> None:
    if errors:
        raise InvalidRequest(errors, detail="Le document contient des champs fixés par le service.")


def check_portal_document(doc: StructureDocument, current_statut: str | None) -> None:
    """Refuse a portal document that carries what only the committee or the service decides.

    A :data:`~service.contract.documents.SERVER_FIELDS` field with a value (``verrou``,
    ``coselec``...)
    and a ``statut`` outside :data:`~service.contract.documents.STATUTS_PORTAIL` are refused by
    name;
    a committee status equal to the stored one (``current_statut``) is an echo and changes
    nothing. Structures with their history come in through the admin import
    (:func:`service.application.cycle.import_structure`).
    """
    errors = server_field_errors(doc)
    if (
        doc.statut is not None
        and doc.statut not in STATUTS_PORTAIL
        and doc.statut != current_statut
    ):
        errors.append(
            FieldError(
                "statut",
                f"le statut {doc.statut} résulte d'une décision du comité ; le portail peut "
                f"seulement indiquer {', '.join(STATUTS_PORTAIL)}",
            )
        )
    refuse_server_fields(errors)


def _norm_avis(avis: str | None) -> str | None:
    return "NÉGATIF" if avis == "NEGATIF" else avis


#: Collectivités d'outre-mer: in the COG but outside the programme's data.
COM_PREFIXES = ("975", "977", "978", "984", "986", "987", "988", "989")


@functools.cache
def _known_codes() -> frozenset[str]:
    from geodata import layers

    return frozenset(layers.known_codes()) | frozenset(layers.code_history_map())


def check_communes(doc: StructureDocument) -> None:
    """Refuse commune codes that the bundled COG (2026 or former codes) does not know.

    Checked when an application is stored, so that one bad document cannot block a whole round.
    """
    codes = [("codeCommune", doc.codeCommune)] + [
        (f"communesDesservies[{i}]", c) for i, c in enumerate(doc.communesDesservies or ())
    ]
    errors = []
    for champ, code in codes:
        if code.startswith(COM_PREFIXES):
            errors.append(
                FieldError(
                    champ, f"commune d'une collectivité d'outre-mer, hors programme : {code}"
                )
            )
        elif code not in _known_codes():
            errors.append(FieldError(champ, f"code commune inconnu : {code}"))
    if errors:
        raise InvalidRequest(errors)


def check_siret(session: Session, doc: StructureDocument) -> None:
    """A SIRET already held by another ``idPG`` is a conflict, as on the real platform."""
    if doc.siret is None:
        return
    holder = session.scalar(
        select(Structure.id_pg).where(Structure.siret == doc.siret, Structure.id_pg != doc.idPG)
    )
    if holder is not None:
        raise Conflict(
            f"Le SIRET {doc.siret} est déjà utilisé par la structure idPG {holder}.",
            [FieldError("siret", f"SIRET déjà utilisé par la structure idPG {holder}")],
        )


def create_structure(
    session: Session, doc: StructureDocument, auteur: str, now: datetime
) -> Structure:
    """Insert a new structure and its relayed préfet opinions (``doc.statut`` or CREEE)."""
    row = Structure(
        id_pg=doc.idPG,
        siret=doc.siret,
        type=doc.type,
        nom=doc.nom,
        code_commune=doc.codeCommune,
        statut=doc.statut or "CREEE",
        document=_document(doc),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    _flush(session, doc.idPG)  # the history rows reference it
    for p in doc.prefet:
        session.add(
            AvisPrefetRow(
                id_pg=doc.idPG,
                avis=_norm_avis(p.avisPrefet),
                nombre=p.nombreConseillersPrefet,
                commentaire=p.commentairePrefet,
                inserted_at=p.insertedAt or now,
                auteur=auteur[:64],
            )
        )
    return row


def upsert_structure(session: Session, doc: StructureDocument) -> tuple[bool, dict[str, Any]]:
    """Create or update an application from the portal (idempotent ``PUT``).

    Returns ``(created, view)``. The document may not carry what the committee or the service
    decides (:func:`check_portal_document`: 422 naming the field). On creation the préfet
    opinions it relays are imported; afterwards they come through :func:`record_avis_prefet`.
    The portal may move a structure only to CREEE, ANNULEE, ABANDON or DOUBLON.
    """
    check_communes(doc)
    row = session.get(Structure, doc.idPG, with_for_update=True)
    check_portal_document(doc, None if row is None else row.statut)
    check_siret(session, doc)
    now = utcnow()
    document = _document(doc)
    if row is None:
        created = True
        row = create_structure(session, doc, "import", now)
    else:
        created = False
        if doc.statut is not None and doc.statut != row.statut:
            row.statut = doc.statut
        if row.document != document or row.siret != doc.siret:
            row.siret = doc.siret
            row.type = doc.type
            row.nom = doc.nom
            row.code_commune = doc.codeCommune
            row.document = document
            row.updated_at = now
    _flush(session, doc.idPG)
    return created, structure_view(session, row)


def _flush(session: Session, id_pg: int) -> None:
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
    session: Session, id_pg: int, body: AvisPrefetBody, auteur: str = ""
) -> dict[str, Any]:
    """Append a préfet opinion (the latest one is what the next round uses)."""
    row = get_structure_row(session, id_pg, for_update=True)
    session.add(
        AvisPrefetRow(
            id_pg=id_pg,
            avis=_norm_avis(body.avisPrefet),
            nombre=body.nombreConseillersPrefet,
            commentaire=body.commentairePrefet,
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
    for chunk in _chunks(ids, 500):
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


def _chunks(items: Sequence[int], n: int) -> Iterable[Sequence[int]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


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
    for chunk in _chunks(ids, 500):
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


# -- idempotency --------------------------------------------------------------------------------
#
# A key is held by one row per (token, key). ``expires_at`` is the end of the lease while the
# request runs (a worker that died leaves the key blocked until then, no longer) and the end of
# the replay window once it answered. An expired row counts as absent. A reservation is its row
# id and reservation time (SQLite may reuse the id of a deleted row; a takeover happens after the
# lease, so at a later time): a worker whose lease ran out and was taken over cannot complete or
# release the new holder's key.

#: Reservation attempts before answering 409 (each lost attempt means another request took the
#: key and gave it back in between).
RESERVE_ATTEMPTS = 5
#: Expired rows deleted per reservation or sign-in (``allocator db purge`` deletes them all).
PURGE_BATCH = 100


@dataclass(frozen=True)
class Replay:
    """A stored response to send again."""

    status_code: int
    body: str
    location: str | None = None


@dataclass(frozen=True)
class Reservation:
    """The key is ours until :func:`complete_idempotency_key` or :func:`release_idempotency_key`
    (exactly one of them, once)."""

    id: int
    created_at: datetime


def _key_row(session: Session, token_id: int, key: str) -> IdempotencyKey | None:
    return session.scalars(
        select(IdempotencyKey)
        .where(IdempotencyKey.token_id == token_id, IdempotencyKey.key == key)
        .with_for_update()
    ).one_or_none()


def _delete_expired(
    session: Session, table: Any, now: datetime, *where: Any, limit: int | None = None
) -> int:
    """Delete the rows of ``table`` (a model with ``id`` and ``expires_at``) expired at ``now``.

    The rows are locked with ``SKIP LOCKED`` (PostgreSQL) before the delete: rows another
    transaction holds are left for later, so that concurrent purges never wait on each other nor
    deadlock (a plain multi-row ``DELETE`` may lock the same rows in different orders).
    """
    stmt = select(table.id).where(table.expires_at <= now, *where)
    if limit is not None:
        stmt = stmt.limit(limit)
    ids = list(session.scalars(stmt.with_for_update(skip_locked=True)))
    for chunk in _chunks(ids, 500):
        session.execute(delete(table).where(table.id.in_(chunk)))
    return len(ids)


def reserve_idempotency_key(
    session: Session,
    token_id: int,
    key: str,
    method: str,
    path: str,
    request_sha256: str,
    *,
    now: datetime,
    lease: timedelta,
) -> Replay | Reservation:
    """Reserve ``key`` for this request (held until ``now + lease``), or return the stored
    response to replay.

    ``request_sha256`` covers the method, the whole path and the body. Raises
    :class:`InvalidRequest` when the key is held for another request, and :class:`Conflict` while
    the first request with that key runs, when its response was too large to keep, or when other
    requests kept taking and releasing the key meanwhile.
    """
    _delete_expired(
        session, IdempotencyKey, now, IdempotencyKey.token_id == token_id, limit=PURGE_BATCH
    )
    for _ in range(RESERVE_ATTEMPTS):
        existing = _key_row(session, token_id, key)
        if existing is not None and _aware(existing.expires_at) <= now:
            session.delete(existing)  # expired: the key is new
            session.flush()
            existing = None
        if existing is None:
            row = IdempotencyKey(
                token_id=token_id,
                key=key,
                method=method,
                path=path[:500],  # for the record; the hash covers the whole path
                request_sha256=request_sha256,
                created_at=now,
                expires_at=now + lease,
            )
            try:
                with session.begin_nested():
                    session.add(row)
            except IntegrityError:
                continue  # a concurrent request took the key: read what it left
            return Reservation(row.id, now)
        return _replay(existing, method, request_sha256)
    raise Conflict(
        "Des requêtes concurrentes utilisent cette clé d'idempotence ; réessayez dans un instant.",
        [FieldError("Idempotency-Key", "clé utilisée par des requêtes concurrentes")],
    )


def _replay(row: IdempotencyKey, method: str, request_sha256: str) -> Replay:
    """What a held key answers to a request with the same key."""
    if (row.method, row.request_sha256) != (method, request_sha256):
        raise InvalidRequest(
            [
                FieldError(
                    "Idempotency-Key",
                    "clé déjà utilisée pour une autre requête "
                    "(méthode, chemin ou corps différents)",
                )
            ],
            detail="Clé d'idempotence réutilisée avec une requête différente.",
        )
    if row.status_code is None:
        raise Conflict("Une requête avec cette clé d'idempotence est en cours de traitement.")
    if row.response_body is None:
        where = (
            f" ; la ressource est à l'adresse {row.response_location}"
            if row.response_location
            else ""
        )
        raise Conflict(
            f"La requête de cette clé d'idempotence a déjà été exécutée (statut "
            f"{row.status_code}), mais sa réponse ({row.response_bytes} octets) dépassait la "
            f"taille conservée : elle ne peut pas être rejouée{where}.",
            [FieldError("Idempotency-Key", "réponse trop volumineuse pour être conservée")],
            headers={"Location": row.response_location} if row.response_location else None,
        )
    return Replay(row.status_code, row.response_body, row.response_location)


def complete_idempotency_key(
    session: Session,
    reservation: Reservation,
    status_code: int,
    body: str,
    location: str | None,
    *,
    now: datetime,
    ttl: timedelta,
    max_bytes: int,
) -> None:
    """Store the response of a reserved key, replayable until ``now + ttl``.

    A body above ``max_bytes`` (UTF-8) is not kept: only its status, size and ``Location``, so
    that a retry learns that the request ran instead of running it again. Nothing happens when
    the reservation is no longer ours (its lease ended and another request took the key).
    """
    size = len(body.encode("utf-8", "surrogatepass"))
    session.execute(
        update(IdempotencyKey)
        .where(_held_by(reservation), IdempotencyKey.status_code.is_(None))
        .values(
            status_code=status_code,
            response_body=body if size <= max_bytes else None,
            response_bytes=size,
            response_location=location[:500] if location else None,
            expires_at=now + ttl,
        )
    )


def release_idempotency_key(session: Session, reservation: Reservation) -> None:
    """Give the key back after an error (a corrected retry may use it)."""
    session.execute(
        delete(IdempotencyKey).where(_held_by(reservation), IdempotencyKey.status_code.is_(None))
    )


def _held_by(reservation: Reservation) -> Any:
    return (IdempotencyKey.id == reservation.id) & (
        IdempotencyKey.created_at == reservation.created_at
    )


def _aware(dt: datetime) -> datetime:
    """SQLite returns naive datetimes: they were stored as UTC."""
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


# -- review-page sessions -----------------------------------------------------------------------


def open_ui_session(
    session: Session, token_id: int, sid: str, *, now: datetime, lifetime: timedelta
) -> None:
    """Record a signed-in session for the random id ``sid`` (only its hash is stored)."""
    _delete_expired(session, UiSession, now, limit=PURGE_BATCH)
    session.add(
        UiSession(
            sid_sha256=hash_token(sid), token_id=token_id, created_at=now, expires_at=now + lifetime
        )
    )
    session.flush()


def ui_session_token(session: Session, sid: str, now: datetime) -> ApiToken | None:
    """The active token of the unexpired session ``sid``, or ``None``."""
    return session.scalars(
        select(ApiToken)
        .join(UiSession, UiSession.token_id == ApiToken.id)
        .where(
            UiSession.sid_sha256 == hash_token(sid),
            UiSession.expires_at > now,
            ApiToken.revoked_at.is_(None),
        )
    ).one_or_none()


def close_ui_session(session: Session, sid: str) -> None:
    """Sign-out: the session's row goes, so that a copy of the cookie no longer works."""
    session.execute(delete(UiSession).where(UiSession.sid_sha256 == hash_token(sid)))


def purge_expired(session: Session, now: datetime) -> tuple[int, int]:
    """``allocator db purge``: delete expired idempotency keys and review-page sessions."""
    return _delete_expired(session, IdempotencyKey, now), _delete_expired(session, UiSession, now)
