"""Monthly rounds on the store: draft, lock/override, commit, read.

Shared by the HTTP views and the ``allocator round`` commands. Solving is slow compared with a
transaction, so no solve ever runs inside one:

- :func:`draft_round` reads the pending structures (read transaction), builds the contract's
  :class:`~service.schemas.RoundRequest`, solves, then stores the input snapshot and the result;
- :func:`override_round` reads the draft, re-solves with the locks, then writes only if the draft
  did not change meanwhile (optimistic ``version`` check, 409 otherwise);
- :func:`commit_round` is ONE write transaction: round and programme rows locked, structures
  checked against the snapshot (a draft made stale by another commit or a portal update is
  refused), one coselec entry per structure appended, statuses moved, the national envelope
  consumed (a CHECK constraint forbids over-consumption), the round marked committed with a
  compare-and-set. Two concurrent commits of one round: exactly one succeeds, the other gets 409.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service import store
from service.db import Database
from service.errors import Conflict, NotFound
from service.models import (
    ROUND_COMMITTED,
    ROUND_DRAFT,
    STATUTS_EN_ATTENTE,
    CoselecRow,
    Round,
    Structure,
    utcnow,
)
from service.schemas import FieldError, InvalidRequest, PolitiqueIn, RoundRequest, stored_request

SNAPSHOT_FORMAT = 1


def solve(
    request: RoundRequest,
    *,
    extra_existing: Mapping[str, int] | None = None,
    locks: Mapping[int, int] | None = None,
) -> dict[str, Any]:
    """Solve one round through :func:`service.pipeline.run_round` (imported lazily: heavy)."""
    import geodata
    from service import pipeline

    try:
        return pipeline.run_round(request, extra_existing=extra_existing, locks=locks)
    except (geodata.UnknownCommuneCode, geodata.CommuneOutsideProgramme) as exc:
        # Bad input, never a 5xx: codes the pipeline could not attach to a field.
        raise InvalidRequest(
            [FieldError("(corps)", f"codes commune hors des données du programme : {exc}")]
        ) from None


def allocate(db: Database, request: RoundRequest) -> dict[str, Any]:
    """Stateless round (``POST /v1/allocate``).

    Without ``conseillersExistants`` in the request, the existing advisors are the store's current
    state, each post counted once (rule in :mod:`service.cycle`): the store alone once the 2021
    history is imported, else the bundled 2021 advisors plus the posts of committed rounds.
    """
    extra = None
    if request.conseillersExistants is None:
        with db.read() as s:
            state = existing_for_round(s)
        extra = state.extra
        if state.full is not None:
            from service.schemas import ExistantIn

            request = request.model_copy(
                update={
                    "conseillersExistants": [
                        ExistantIn.model_validate(e) for e in state.as_request_list() or []
                    ]
                }
            )
    return solve(request, extra_existing=extra)


def existing_from_committed(session: Session) -> dict[str, int]:
    """Posts granted by committed rounds, by code commune (legacy ``extra_existing``)."""
    return store.grants_by_commune(session)


def existing_for_round(session: Session) -> Any:
    """Existing advisors of the store for a round (:class:`service.cycle.ExistingState`).

    ``full`` (history imported: the store is the single source, sent as the request's
    ``conseillersExistants``) or ``extra`` (legacy: posts of committed rounds, net of posts
    returned to the pool, added to the bundled 2021 advisors). Each post counts once; the rule
    is documented in :mod:`service.cycle`.
    """
    from service import cycle

    return cycle.existing_state(session)


def _environment() -> dict[str, Any]:
    """Code, solver and parameters of a solve, stored with the snapshot (``service.replay``)."""
    from service import replay

    return replay.environment()


# -- views ------------------------------------------------------------------------------------


def _locks_out(locks: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(locks[k], idPG=int(k)) for k in sorted(locks, key=int)]


def round_view(row: Round) -> dict[str, Any]:
    """The JSON view of a round (``GET /v1/rounds/{id}``)."""
    return {
        "id": row.id,
        "mois": row.mois,
        "quota": row.quota,
        "politique": row.politique,
        "statut": row.status,
        "numero": str(row.id) if row.status == ROUND_COMMITTED else None,
        "auteur": row.author,
        "creeLe": store.iso(row.created_at),
        "modifieLe": store.iso(row.updated_at),
        "valideLe": store.iso(row.committed_at),
        "validePar": row.committed_by,
        "version": row.version,
        "verrous": _locks_out(row.locks or {}),
        "structures": sorted(int(k) for k in row.snapshot.get("structures", {})),
        "programme": row.snapshot.get("programme"),
        "resultat": row.result,
    }


def round_summary(row: Round) -> dict[str, Any]:
    return {
        "id": row.id,
        "mois": row.mois,
        "quota": row.quota,
        "statut": row.status,
        "attribues": int((row.result.get("totaux") or {}).get("attribues", 0)),
        "auteur": row.author,
        "creeLe": store.iso(row.created_at),
        "valideLe": store.iso(row.committed_at),
    }


def _get(session: Session, round_id: int, *, for_update: bool = False) -> Round:
    stmt = select(Round).where(Round.id == round_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).one_or_none()
    if row is None:
        raise NotFound(f"Aucun tour d'attribution n° {round_id}.")
    return row


def get_round(db: Database, round_id: int) -> dict[str, Any]:
    with db.read() as s:
        return round_view(_get(s, round_id))


def get_round_snapshot(db: Database, round_id: int) -> dict[str, Any]:
    """The round's input snapshot (request, existing advisors, fingerprints); set at draft."""
    with db.read() as s:
        return _get(s, round_id).snapshot


def list_rounds(db: Database) -> list[dict[str, Any]]:
    with db.read() as s:
        return [round_summary(r) for r in s.scalars(select(Round).order_by(Round.id))]


# -- draft ------------------------------------------------------------------------------------


def _request_from_snapshot(snapshot: Mapping[str, Any]) -> RoundRequest:
    return stored_request(snapshot["request"])


def _locks_map(locks: Mapping[str, Any]) -> dict[int, int]:
    return {int(k): int(v["nombre"]) for k, v in locks.items()}


def draft_round(
    db: Database,
    *,
    mois: str,
    quota: int,
    politique: PolitiqueIn | None = None,
    author: str = "",
    received_before: datetime | None = None,
) -> dict[str, Any]:
    """Draft a round over the pending structures and store its snapshot and result.

    ``received_before``: only applications received before this instant (portal ``createdAt``)
    are considered (the monthly cadence of :mod:`service.cycle`); ``None`` = all pending ones.

    Raises
    ------
    Conflict
        No pending structure, or a quota above what remains of the national envelope.
    InvalidRequest
        Stored data the pipeline rejects (e.g. a commune code unknown to the bundled COG).
    """
    with db.read() as s:
        pending = store.pending_structures(s)
        existing = existing_for_round(s)
        prog = store.programme_view(store.programme(s))
    if received_before is not None:
        from service.cycle import received_before as received

        pending = [p for p in pending if received(p.document, received_before)]
    extra = existing.extra
    if not pending:
        raise Conflict(
            "Aucune structure en attente (statut CREEE ou EXAMEN_COMPLEMENTAIRE_COSELEC)."
        )
    if quota > prog["restant"]:
        raise Conflict(
            f"Le quota {quota} dépasse l'enveloppe nationale restante ({prog['restant']} postes "
            f"sur {prog['enveloppe']}).",
            [FieldError("quota", f"au plus {prog['restant']} postes restent dans l'enveloppe")],
        )
    payload: dict[str, Any] = {
        "quota": quota,
        "mois": mois,
        "structures": [p.document for p in pending],
    }
    if existing.full is not None:
        payload["conseillersExistants"] = existing.as_request_list()
    if politique is not None:
        payload["politique"] = politique.model_dump(mode="json", exclude_none=True)
    try:
        request = stored_request(payload)
    except ValueError as exc:  # stored documents were validated on the way in
        raise Conflict(f"Documents stockés incohérents : {exc}") from None
    result = solve(request, extra_existing=extra)
    snapshot = {
        "format": SNAPSHOT_FORMAT,
        "request": request.model_dump(mode="json", exclude_none=True),
        "extraExisting": extra,
        "structures": {str(p.id_pg): p.fingerprint for p in pending},
        "programme": prog,
        "moteur": _environment(),
    }
    now = utcnow()
    with db.write() as s:
        row = Round(
            mois=mois,
            quota=quota,
            politique=payload.get("politique"),
            status=ROUND_DRAFT,
            snapshot=snapshot,
            result=result,
            locks={},
            author=author[:64],
            created_at=now,
            updated_at=now,
            version=1,
        )
        s.add(row)
        s.flush()
        return round_view(row)


# -- override ---------------------------------------------------------------------------------


def proposal_moves(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Structures whose posts of this round differ between two results, by ascending idPG.

    Each entry: ``{"idPG", "avant", "apres", "motifs"}`` (``motifs`` of the new result: why).
    """
    old = {
        int(d["idPG"]): int(d["nombreConseillersAttribues"]) for d in before.get("decisions", [])
    }
    moves = []
    for d in after.get("decisions", []):
        i, n = int(d["idPG"]), int(d["nombreConseillersAttribues"])
        if old.get(i, 0) != n:
            moves.append(
                {"idPG": i, "avant": old.get(i, 0), "apres": n, "motifs": d.get("motifs", [])}
            )
    return moves


def override_round(
    db: Database, round_id: int, *, id_pg: int, nombre: int, motif: str, author: str = ""
) -> dict[str, Any]:
    """Lock structure ``id_pg`` at ``nombre`` posts of this round (with a reason) and re-solve.

    The lock replaces any earlier lock of the same structure. The re-solve uses the round's input
    snapshot (same structures, same existing advisors) so the only change is the committee's.
    """
    if not motif or not motif.strip():
        raise InvalidRequest([FieldError("motif", "le motif est obligatoire")])
    with db.read() as s:
        row = _get(s, round_id)
        if row.status != ROUND_DRAFT:
            raise Conflict(f"Le tour n° {round_id} est validé : il ne peut plus être modifié.")
        snapshot, version, previous = row.snapshot, row.version, row.result
        locks = dict(row.locks or {})
    if str(id_pg) not in snapshot["structures"]:
        raise InvalidRequest(
            [FieldError("idPG", f"la structure idPG {id_pg} ne fait pas partie de ce tour")]
        )
    # The algorithm's own proposal for this structure, kept across re-locks: the explanation
    # says whether and how the committee departed from it (service.explication).
    proposition = (locks.get(str(id_pg)) or {}).get(
        "proposition",
        next(
            (
                int(d["nombreConseillersAttribues"])
                for d in previous.get("decisions", [])
                if int(d["idPG"]) == id_pg
            ),
            None,
        ),
    )
    locks[str(id_pg)] = {
        "nombre": nombre,
        "motif": motif.strip(),
        "auteur": author[:64],
        "date": store.iso(utcnow()),
        "proposition": proposition,
    }
    request = _request_from_snapshot(snapshot)
    result = solve(request, extra_existing=snapshot["extraExisting"], locks=_locks_map(locks))
    # What this lock moved since the previous proposal (shown to the committee).
    locks[str(id_pg)].update(version=version + 1, mouvements=proposal_moves(previous, result))
    with db.write() as s:
        done = s.execute(
            update(Round)
            .where(Round.id == round_id, Round.version == version, Round.status == ROUND_DRAFT)
            .values(
                locks=locks,
                result=result,
                snapshot={**snapshot, "moteur": _environment()},
                updated_at=utcnow(),
                version=version + 1,
            )
        )
        if done.rowcount != 1:
            raise Conflict(
                f"Le tour n° {round_id} a été modifié ou validé entre-temps ; relisez-le."
            )
        return round_view(_get(s, round_id))


# -- commit -----------------------------------------------------------------------------------


def commit_round(
    db: Database, round_id: int, *, author: str = "", expected_version: int | None = None
) -> dict[str, Any]:
    """Commit a drafted round in one transaction (see the module docstring).

    ``expected_version``: the version the committee confirmed; another one is a 409 (the draft
    changed after the confirmation page was shown).
    """
    with db.write() as s:
        row = _get(s, round_id, for_update=True)
        if row.status != ROUND_DRAFT:
            raise Conflict(f"Le tour n° {round_id} est déjà validé.")
        if expected_version is not None and row.version != expected_version:
            raise Conflict(
                f"Le tour n° {round_id} a changé depuis la confirmation (version "
                f"{expected_version}, maintenant {row.version}) ; relisez-le avant de valider."
            )
        result = row.result
        if result.get("status") == "INFEASIBLE":
            raise Conflict(
                f"Le tour n° {round_id} est infaisable ; levez les verrous en conflit : "
                + " ; ".join(result.get("conflits", []))
            )
        decisions = result["decisions"]
        granted = sum(int(d["nombreConseillersAttribues"]) for d in decisions)
        prog = store.programme(s, for_update=True)
        if prog.consumed + granted > prog.enveloppe:
            raise Conflict(
                f"Valider ce tour consommerait {granted} postes ; il en reste "
                f"{prog.enveloppe - prog.consumed} dans l'enveloppe nationale."
            )
        ids = [int(d["idPG"]) for d in decisions]
        locked = {
            r.id_pg: r
            for r in s.scalars(select(Structure).where(Structure.id_pg.in_(ids)).with_for_update())
        }
        current = store.fingerprints(s, ids)
        stale = [i for i in ids if current.get(i) != row.snapshot["structures"].get(str(i))]
        if stale:
            shown = ", ".join(str(i) for i in stale[:20])
            raise Conflict(
                f"Le brouillon n° {round_id} est périmé : {len(stale)} structure(s) ont changé "
                f"depuis (idPG {shown}) ; préparez un nouveau tour."
            )
        now = utcnow()
        numero = str(round_id)
        from service import explication  # committed explanations: who, when, overrides

        explications = explication.explain_committed(row, author[:64], now)
        for d in decisions:
            structure = locked[int(d["idPG"])]
            total = int(d["nombreConseillersCoselec"])
            s.add(
                CoselecRow(
                    id_pg=structure.id_pg,
                    nombre_conseillers_coselec=total,
                    attribues=int(d["nombreConseillersAttribues"]),
                    avis=d["avisCoselec"],
                    numero=numero,
                    inserted_at=now,
                    round_id=round_id,
                    motifs=list(d.get("motifs", [])),
                    explication=explications.get(int(d["idPG"]), d.get("explication", {})),
                )
            )
            assert structure.statut in STATUTS_EN_ATTENTE
            # A structure that holds posts stays validated even when this round adds none.
            structure.statut = "VALIDATION_COSELEC" if total > 0 else "REFUS_COSELEC"
            structure.updated_at = now
        from service import posts

        posts.record_round_grants(s, round_id, decisions, now)
        prog.consumed += granted
        prog.version += 1
        prog.updated_at = now
        done = s.execute(
            update(Round)
            .where(Round.id == round_id, Round.status == ROUND_DRAFT)
            .values(
                status=ROUND_COMMITTED,
                committed_at=now,
                committed_by=author[:64],
                updated_at=now,
                version=Round.version + 1,
            )
        )
        if done.rowcount != 1:  # pragma: no cover - the row lock makes this unreachable
            raise Conflict(f"Le tour n° {round_id} est déjà validé.")
        s.flush()
        s.refresh(row)
        return round_view(row)
