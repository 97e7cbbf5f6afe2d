"""Store functions of access control: API tokens, ``Idempotency-Key`` replays, review-page
sessions.

Like :mod:`service.store.repository` (which re-exports them: the store's one facade), they take an
open :class:`sqlalchemy.orm.Session`, never commit, and raise the typed errors of
:mod:`service.contract.errors` or :class:`service.contract.schemas.InvalidRequest`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.contract.errors import Conflict, NotFound
from service.contract.schemas import MAX_ID, FieldError, InvalidRequest
from service.store.models import ApiToken, IdempotencyKey, UiSession

ROLES = ("portail", "agence", "analyste", "admin")


def chunks(items: Sequence[int], n: int) -> Iterable[Sequence[int]]:
    """``items`` in slices of ``n`` (bounded ``IN (...)`` lists)."""
    for i in range(0, len(items), n):
        yield items[i : i + n]


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
    for chunk in chunks(ids, 500):
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
