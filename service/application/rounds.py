"""Monthly rounds on the store: draft, lock/override, commit, read.

Shared by the HTTP views and the ``allocator round`` commands. Solving is slow compared with a
transaction, so no solve ever runs inside one:

- :func:`draft_round` reads the pending structures (read transaction), builds the contract's
  :class:`~service.contract.schemas.RoundRequest`, solves, then stores the input snapshot and the
  result;
- :func:`override_round` sets or lifts a committee lock: a lock outside its structure's bound
  (:func:`service.application.locks.lock_bound`) is refused before any solve, one the round's
  rules cannot honour with the other locks (an INFEASIBLE re-solve) is refused after it, and
  nothing is written then; otherwise it re-solves with the locks and writes only if the draft
  did not change meanwhile (optimistic ``version`` check, 409 otherwise). Each arbitration (lock
  set or lifted, author, date, motif) is kept in the round's history (``arbitrages``);
- :func:`commit_round` is ONE write transaction: round and programme rows locked, structures
  checked against the snapshot (a draft made stale by another commit or a portal update is
  refused), one coselec entry per structure appended, statuses moved, the national envelope
  consumed (a CHECK constraint forbids over-consumption), the round marked committed with a
  compare-and-set. Two concurrent commits of one round: exactly one succeeds, the other gets 409.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Result, select, update
from sqlalchemy.orm import Session

import geodata
from service.application import cycle, pipeline, posts, replay
from service.application.locks import check_lock, compte, proposal_moves
from service.application.round_views import arbitrages, round_summary, round_view
from service.contract.errors import Conflict, NotFound
from service.contract.schemas import (
    ExistantIn,
    FieldError,
    InvalidRequest,
    PolitiqueIn,
    RoundRequest,
    stored_request,
)
from service.explanations import letters as explication
from service.explanations.levels import niveau_explication
from service.explanations.wording import pluriel
from service.store import repository as store
from service.store.db import Database
from service.store.models import (
    ROUND_COMMITTED,
    ROUND_DRAFT,
    STATUTS_EN_ATTENTE,
    CoselecRow,
    Round,
    Structure,
    utcnow,
)

SNAPSHOT_FORMAT = 1


def solve(
    request: RoundRequest,
    *,
    extra_existing: Mapping[str, int] | None = None,
    locks: Mapping[int, int] | None = None,
    programme_consumed: int | None = None,
    niveau: str = "complete",
) -> dict[str, Any]:
    """Solve one round through :func:`service.application.pipeline.run_round`.

    ``programme_consumed``: the store's consumption of the national envelope when the store is
    the single source (:class:`service.application.cycle.ExistingState`), else ``None``.
    """
    try:
        return pipeline.run_round(
            request,
            extra_existing=extra_existing,
            locks=locks,
            programme_consumed=programme_consumed,
            niveau=niveau,
        )
    except (geodata.UnknownCommuneCode, geodata.CommuneOutsideProgramme) as exc:
        # Bad input, never a 5xx: codes the pipeline could not attach to a field.
        raise InvalidRequest(
            [FieldError("(corps)", f"codes commune hors des données du programme : {exc}")]
        ) from None


def allocate(db: Database, request: RoundRequest, niveau: str = "complete") -> dict[str, Any]:
    """Stateless round (``POST /v1/allocate``) against the store's existing advisors
    (:func:`with_store_existing`). ``niveau``: the level of the decisions' explanations
    (``complete``, or ``compacte``: the opening paragraph and the numbers,
    :func:`service.explanations.levels.compacte`)."""
    niveau_explication(niveau)
    request, extra, consumed = with_store_existing(db, request)
    return solve(request, extra_existing=extra, programme_consumed=consumed, niveau=niveau)


def with_store_existing(
    db: Database, request: RoundRequest
) -> tuple[RoundRequest, dict[str, int] | None, int | None]:
    """A stateless request (``POST /v1/allocate``, ``POST /v1/scenarios``) told about the store's
    existing advisors: ``(request, extra_existing, programme_consumed)``.

    A request with ``conseillersExistants`` brings its own and is taken as it is. Otherwise each
    post counts once (rule in :mod:`service.application.cycle`): once the 2021 history is imported
    the store
    is the single source (sent as the request's ``conseillersExistants``, with the envelope the
    store has consumed), else the bundled 2021 advisors plus the posts of committed rounds.
    """
    if request.conseillersExistants is not None:
        return request, None, None
    with db.read() as s:
        state = existing_for_round(s)
    if state.full is None:
        return request, state.extra, None
    existing = [ExistantIn.model_validate(e) for e in state.as_request_list() or []]
    return request.model_copy(update={"conseillersExistants": existing}), None, state.consumed


def existing_for_round(session: Session) -> cycle.ExistingState:
    """Existing advisors of the store for a round
    (:class:`service.application.cycle.ExistingState`).

    ``full`` (history imported: the store is the single source, sent as the request's
    ``conseillersExistants``) or ``extra`` (legacy: posts of committed rounds, net of posts
    returned to the pool, added to the bundled 2021 advisors). Each post counts once; the rule
    is documented in :mod:`service.application.cycle`.
    """
    return cycle.existing_state(session)


def _environment() -> dict[str, Any]:
    """Code, solver and parameters of a solve, stored with the snapshot
    (``service.application.replay``)."""
    return replay.environment()


# -- reads ------------------------------------------------------------------------------------


def _rowcount(result: Result[Any]) -> int:
    """Rows an ``UPDATE`` matched (its result is a cursor result)."""
    return cast("CursorResult[Any]", result).rowcount


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


def shown_request(db: Database, view: Mapping[str, Any]) -> tuple[dict[str, Any], RoundRequest]:
    """The round's snapshot and the request its structures are shown from (review page, ``round
    show``): the engine's stored request; for an imported 2021 committee, which keeps none, its
    structures' stored documents (without the server's fields) under the committee's quota."""
    snapshot = get_round_snapshot(db, view["id"])
    if "request" in snapshot:
        return snapshot, stored_request(snapshot["request"])
    ids = [int(d["idPG"]) for d in view["resultat"]["decisions"]]
    with db.read() as s:
        docs = [
            store.without_server_fields(r.document)
            for r in s.scalars(
                select(Structure).where(Structure.id_pg.in_(ids)).order_by(Structure.id_pg)
            )
        ]
    return snapshot, stored_request({"quota": view["quota"], "structures": docs})


def list_rounds(db: Database) -> list[dict[str, Any]]:
    with db.read() as s:
        return [round_summary(r) for r in s.scalars(select(Round).order_by(Round.id))]


# -- draft ------------------------------------------------------------------------------------


def _request_from_snapshot(snapshot: Mapping[str, Any]) -> RoundRequest:
    """The round's request, without any structure ``verrou``: a stateful round's locks are the
    committee's overrides (``Round.locks``) only, whatever a draft stored before issue 14 holds."""
    request = stored_request(snapshot["request"])
    if all(s.verrou is None for s in request.structures):
        return request
    return request.model_copy(
        update={"structures": [s.model_copy(update={"verrou": None}) for s in request.structures]}
    )


def _locks_map(locks: Mapping[str, Any]) -> dict[int, int]:
    return {int(k): int(v["nombre"]) for k, v in locks.items()}


def _draft_payload(
    mois: str,
    quota: int,
    politique: PolitiqueIn | None,
    pending: list[store.PendingStructure],
    existing: cycle.ExistingState,
    prog: dict[str, Any],
) -> dict[str, Any]:
    """The round request of a draft over ``pending`` (:class:`Conflict`: nothing pending, or a
    quota above what remains of the national envelope)."""
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
    return payload


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
    are considered (the monthly cadence of :mod:`service.application.cycle`); ``None`` = all
    pending ones.

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
        pending = [p for p in pending if cycle.received_before(p.document, received_before)]
    extra = existing.extra
    payload = _draft_payload(mois, quota, politique, pending, existing, prog)
    try:
        request = stored_request(payload)
    except ValueError as exc:  # stored documents were validated on the way in
        raise Conflict(f"Documents stockés incohérents : {exc}") from None
    result = solve(request, extra_existing=extra, programme_consumed=existing.consumed)
    snapshot = {
        "format": SNAPSHOT_FORMAT,
        "request": request.model_dump(mode="json", exclude_none=True),
        "extraExisting": extra,
        # the engine's envelope constraint (absent: the existing advisors, stores before it)
        **({"enveloppeConsommee": existing.consumed} if existing.consumed is not None else {}),
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


def override_round(
    db: Database,
    round_id: int,
    *,
    id_pg: int,
    nombre: int | None = None,
    motif: str,
    author: str = "",
    lever: bool = False,
) -> dict[str, Any]:
    """Lock structure ``id_pg`` at ``nombre`` posts of this round, or lift its lock (``lever``),
    with a reason, and re-solve.

    A lock replaces any earlier lock of the same structure and must lie within
    :func:`service.application.locks.lock_bound`; a lock the round's joint rules cannot honour
    (INFEASIBLE re-solve) is refused too: nothing is written then. The re-solve uses the round's
    input snapshot (same structures, same existing advisors) so the only change is the
    committee's. The arbitration
    is appended to the round's history (:func:`arbitrages`).
    """
    if not motif or not motif.strip():
        raise InvalidRequest([FieldError("motif", "le motif est obligatoire")])
    if (nombre is None) == (not lever):
        raise InvalidRequest(
            [FieldError("nombre", "indiquer soit un nombre de postes, soit la levée du verrou")]
        )
    with db.read() as s:
        row = _get(s, round_id)
        if row.status != ROUND_DRAFT:
            raise Conflict(f"Le tour n° {round_id} est validé : il ne peut plus être modifié.")
        snapshot, version, previous = row.snapshot, row.version, row.result
        locks = dict(row.locks or {})
        history = arbitrages(row)
    if str(id_pg) not in snapshot["structures"]:
        raise InvalidRequest(
            [FieldError("idPG", f"la structure idPG {id_pg} ne fait pas partie de ce tour")]
        )
    request = _request_from_snapshot(snapshot)
    now = store.iso(utcnow())
    if lever:
        event = _lift_lock(locks, id_pg)
    else:
        assert nombre is not None
        check_lock(request, id_pg, nombre)
        event = _set_lock(locks, previous, id_pg, nombre, motif, author, now)
    result = solve(
        request,
        extra_existing=snapshot["extraExisting"],
        locks=_locks_map(locks),
        programme_consumed=snapshot.get("enveloppeConsommee"),
    )
    if not lever and result.get("status") == "INFEASIBLE":
        _refuse_infeasible_lock(result, id_pg, nombre or 0)
    moves = proposal_moves(previous, result)
    if not lever:
        # What this lock moved since the previous proposal (shown to the committee).
        locks[str(id_pg)].update(version=version + 1, mouvements=moves)
    history.append(
        {
            **event,
            "motif": motif.strip(),
            "auteur": author[:64],
            "date": now,
            "version": version + 1,
            "mouvements": moves,
        }
    )
    snapshot = {**snapshot, "moteur": _environment(), "arbitrages": history}
    return _store_override(db, round_id, version, locks, result, snapshot)


def _lift_lock(locks: dict[str, Any], id_pg: int) -> dict[str, Any]:
    """Remove the lock of ``id_pg`` from ``locks``; the arbitration's event."""
    lifted = locks.pop(str(id_pg), None)
    if lifted is None:
        raise InvalidRequest(
            [FieldError("idPG", f"la structure idPG {id_pg} n'a pas de verrou dans ce tour")]
        )
    return {"action": "levee", "idPG": id_pg, "nombre": int(lifted["nombre"])}


def _set_lock(
    locks: dict[str, Any],
    previous: Mapping[str, Any],
    id_pg: int,
    nombre: int,
    motif: str,
    author: str,
    now: str | None,
) -> dict[str, Any]:
    """Set the lock of ``id_pg`` in ``locks``; the arbitration's event."""
    # The algorithm's own proposal for this structure, kept across re-locks: the explanation
    # says whether and how the committee departed from it (service.explanations.letters).
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
        "date": now,
        "proposition": proposition,
    }
    return {"action": "verrou", "idPG": id_pg, "nombre": nombre}


def _refuse_infeasible_lock(result: Mapping[str, Any], id_pg: int, nombre: int) -> None:
    """A lock the round's joint rules cannot honour: refused, nothing written."""
    conflicts = " ; ".join(result.get("conflits", [])) or "règles du tour"
    raise InvalidRequest(
        [
            FieldError(
                "nombre",
                f"verrou refusé pour la structure idPG {id_pg} : {compte(nombre, 'poste')}, "
                f"nombre incompatible avec les règles du tour et les autres verrous "
                f"({conflicts})",
            )
        ],
        detail="Verrou refusé : le tour deviendrait infaisable ; rien n'a été modifié.",
    )


def _store_override(
    db: Database,
    round_id: int,
    version: int,
    locks: dict[str, Any],
    result: dict[str, Any],
    snapshot: dict[str, Any],
) -> dict[str, Any]:
    """Write a re-solved draft if it is still at ``version`` (409 otherwise); its view."""
    with db.write() as s:
        done = s.execute(
            update(Round)
            .where(Round.id == round_id, Round.version == version, Round.status == ROUND_DRAFT)
            .values(
                locks=locks,
                result=result,
                snapshot=snapshot,
                updated_at=utcnow(),
                version=version + 1,
            )
        )
        if _rowcount(done) != 1:
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
        _check_committable(row, round_id, expected_version)
        decisions = row.result["decisions"]
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
        _refuse_stale(s, row, ids, round_id)
        now = utcnow()
        _record_decisions(s, row, decisions, locked, author, now)
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
        if _rowcount(done) != 1:  # pragma: no cover - the row lock makes this unreachable
            raise Conflict(f"Le tour n° {round_id} est déjà validé.")
        s.flush()
        s.refresh(row)
        return round_view(row)


def _check_committable(row: Round, round_id: int, expected_version: int | None) -> None:
    """A draft, at the confirmed version, that is not infeasible (:class:`Conflict` otherwise)."""
    if row.status != ROUND_DRAFT:
        raise Conflict(f"Le tour n° {round_id} est déjà validé.")
    if expected_version is not None and row.version != expected_version:
        raise Conflict(
            f"Le tour n° {round_id} a changé depuis la confirmation (version "
            f"{expected_version}, maintenant {row.version}) ; relisez-le avant de valider."
        )
    if row.result.get("status") == "INFEASIBLE":
        raise Conflict(
            f"Le tour n° {round_id} est infaisable ; levez les verrous en conflit : "
            + " ; ".join(row.result.get("conflits", []))
        )


def _refuse_stale(s: Session, row: Round, ids: list[int], round_id: int) -> None:
    """Refuse a draft whose structures changed since it was solved (another commit, a portal
    update): their fingerprints differ from the snapshot's."""
    current = store.fingerprints(s, ids)
    stale = [i for i in ids if current.get(i) != row.snapshot["structures"].get(str(i))]
    if stale:
        shown = ", ".join(str(i) for i in stale[:20])
        changed = pluriel(len(stale), "structure a changé", "structures ont changé")
        raise Conflict(
            f"Le brouillon n° {round_id} est périmé : {changed} depuis (idPG {shown}) ; "
            "préparez un nouveau tour."
        )


def _record_decisions(
    s: Session,
    row: Round,
    decisions: list[dict[str, Any]],
    locked: dict[int, Structure],
    author: str,
    now: datetime,
) -> None:
    """One coselec entry per decision (with its committed explanation: who, when, overrides)
    and the structures' new statuses."""
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
                numero=str(row.id),
                inserted_at=now,
                round_id=row.id,
                motifs=list(d.get("motifs", [])),
                explication=explications.get(int(d["idPG"]), d.get("explication", {})),
            )
        )
        assert structure.statut in STATUTS_EN_ATTENTE
        # A structure that holds posts stays validated even when this round adds none.
        structure.statut = "VALIDATION_COSELEC" if total > 0 else "REFUS_COSELEC"
        structure.updated_at = now
