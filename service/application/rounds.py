"""Monthly rounds on the store: draft, lock/override, commit, read.

Shared by the HTTP views and the ``allocator round`` commands. Solving is slow compared with a
transaction, so no solve ever runs inside one:

- :func:`draft_round` reads the pending structures (read transaction), builds the contract's
  :class:`~service.contract.schemas.RoundRequest`, solves, then stores the input snapshot and the
  result;
- :func:`override_round` sets or lifts a committee lock: a lock outside its structure's bound
  (:func:`lock_bound`) is refused before any solve, one the round's rules cannot honour with the
  other locks (an INFEASIBLE re-solve) is refused after it, and nothing is written then;
  otherwise it re-solves with the locks and writes only if the draft did not change meanwhile
  (optimistic ``version`` check, 409 otherwise). Each arbitration (lock set or lifted, author,
  date, motif) is kept in the round's history (``arbitrages``);
- :func:`commit_round` is ONE write transaction: round and programme rows locked, structures
  checked against the snapshot (a draft made stale by another commit or a portal update is
  refused), one coselec entry per structure appended, statuses moved, the national envelope
  consumed (a CHECK constraint forbids over-consumption), the round marked committed with a
  compare-and-set. Two concurrent commits of one round: exactly one succeeds, the other gets 409.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.contract.errors import Conflict, NotFound
from service.contract.schemas import (
    FieldError,
    InvalidRequest,
    PolitiqueIn,
    RoundRequest,
    stored_request,
)
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
    """Solve one round through :func:`service.application.pipeline.run_round` (imported lazily:
    heavy).

    ``programme_consumed``: the store's consumption of the national envelope when the store is
    the single source (:class:`service.application.cycle.ExistingState`), else ``None``.
    """
    import geodata
    from service.application import pipeline

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
    :func:`service.explanations.letters.compacte`)."""
    from service.explanations import letters as explication

    explication.niveau_explication(niveau)
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
    from service.contract.schemas import ExistantIn

    existing = [ExistantIn.model_validate(e) for e in state.as_request_list() or []]
    return request.model_copy(update={"conseillersExistants": existing}), None, state.consumed


def existing_for_round(session: Session) -> Any:
    """Existing advisors of the store for a round
    (:class:`service.application.cycle.ExistingState`).

    ``full`` (history imported: the store is the single source, sent as the request's
    ``conseillersExistants``) or ``extra`` (legacy: posts of committed rounds, net of posts
    returned to the pool, added to the bundled 2021 advisors). Each post counts once; the rule
    is documented in :mod:`service.application.cycle`.
    """
    from service.application import cycle

    return cycle.existing_state(session)


def _environment() -> dict[str, Any]:
    """Code, solver and parameters of a solve, stored with the snapshot
    (``service.application.replay``)."""
    from service.application import replay

    return replay.environment()


# -- views ------------------------------------------------------------------------------------


def _locks_out(locks: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [dict(locks[k], idPG=int(k)) for k in sorted(locks, key=int)]


def arbitrages(row: Round) -> list[dict[str, Any]]:
    """The round's arbitrations, oldest first: each lock set (``verrou``) or lifted (``levee``).

    Kept in the snapshot (``arbitrages``; the snapshot's other keys are the solve's input, which
    this list is not). Rounds stored before it have their current locks only.
    """
    history = (row.snapshot or {}).get("arbitrages")
    if history is not None:
        return [dict(h) for h in history]
    locks = _locks_out(row.locks or {})
    return [
        {
            "action": "verrou",
            "idPG": v["idPG"],
            "nombre": v["nombre"],
            "motif": v["motif"],
            "auteur": v["auteur"],
            "date": v["date"],
            "version": v.get("version"),
        }
        for v in sorted(locks, key=lambda v: (v.get("version") or 0, v["idPG"]))
    ]


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
        "arbitrages": arbitrages(row),
        "structures": sorted(int(k) for k in row.snapshot.get("structures", {})),
        "programme": row.snapshot.get("programme"),
        "resultat": row.result,
    }


def round_summary(row: Round) -> dict[str, Any]:
    """A round in a list (``GET /v1/rounds``, ``allocator round list``, the rounds page): its
    posts are :func:`service.application.figures.round_granted`, unplaced ones included."""
    from service.application import figures

    return {
        "id": row.id,
        "mois": row.mois,
        "quota": row.quota,
        "statut": row.status,
        "attribues": figures.round_granted(row.result),
        "nonLocalises": figures.round_unplaced(row.result),
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
        from service.application.cycle import received_before as received

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


@dataclass(frozen=True)
class LockBound:
    """The most posts a committee lock may fix for one structure of a round, and why."""

    id_pg: int
    maximum: int
    #: French: the rule that sets ``maximum`` (request left, structure cap, policy eligibility).
    raison: str


def _n(n: int, word: str) -> str:
    """``n`` and ``word`` agreed in number (French: plural from 2)."""
    return f"{n} {word}" + ("s" if abs(n) > 1 else "")


def lock_bound(request: RoundRequest, id_pg: int) -> LockBound:
    """The bound of a lock on structure ``id_pg`` of ``request``: ``0 ≤ nombre ≤ maximum``.

    The engine's per-structure bounds, from the structure document and the round's policy
    (:func:`allocator.model.request_bound`, ``structure_cap_bound``, ``eligibility_motifs`` on
    :func:`service.application.pipeline.applicant_terms`): the request left (posts asked − posts
    already
    granted), the policy's cap per structure, and 0 for an applicant the policy makes ineligible
    (type, préfet's opinion under « exclure », minimum score). A lock within it is refused only
    by the round's joint rules (quota, envelope, budget, département caps, other locks).
    """
    from allocator import Applicant
    from allocator.model import eligibility_motifs, request_bound, structure_cap_bound
    from service.application import pipeline

    structure = next((s for s in request.structures if s.idPG == id_pg), None)
    if structure is None:
        raise InvalidRequest(
            [FieldError("idPG", f"la structure idPG {id_pg} ne fait pas partie de ce tour")]
        )
    terms = pipeline.applicant_terms(structure)
    applicant = Applicant(
        **terms, code_commune=structure.codeCommune, departement="", region="", epci=None, gains=()
    )
    policy = pipeline.policy_from_request(request)
    granted = terms["already_granted"]
    maximum = request_bound(applicant)
    raison = (
        f"demande restante : {_n(terms['requested'], 'demandé')} − {_n(granted, 'déjà attribué')}"
    )
    cap = structure_cap_bound(applicant, policy)
    if cap is not None and cap < maximum:
        maximum = cap
        raison = (
            f"plafond par structure {policy.max_posts_per_structure} − "
            f"{_n(granted, 'déjà attribué')}"
        )
    motifs = eligibility_motifs(applicant, policy)
    if motifs:
        from service.explanations.letters import MOTIF_LIBELLES

        maximum = 0
        raison = "structure non éligible selon la politique du tour : " + " ; ".join(
            MOTIF_LIBELLES.get(m, m) for m in motifs
        )
    return LockBound(id_pg, maximum, raison)


def check_lock(request: RoundRequest, id_pg: int, nombre: int) -> LockBound:
    """Refuse (:class:`InvalidRequest` on ``nombre``) a lock outside :func:`lock_bound`."""
    bound = lock_bound(request, id_pg)
    if not 0 <= nombre <= bound.maximum:
        raise InvalidRequest(
            [
                FieldError(
                    "nombre",
                    f"verrou refusé pour la structure idPG {id_pg} : {_n(nombre, 'poste')}, "
                    f"au plus {_n(bound.maximum, 'poste')} dans ce tour ({bound.raison})",
                )
            ],
            detail="Verrou refusé : rien n'a été modifié.",
        )
    return bound


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
    :func:`lock_bound`; a lock the round's joint rules cannot honour (INFEASIBLE re-solve) is
    refused too: nothing is written then. The re-solve uses the round's input snapshot (same
    structures, same existing advisors) so the only change is the committee's. The arbitration
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
        lifted = locks.pop(str(id_pg), None)
        if lifted is None:
            raise InvalidRequest(
                [FieldError("idPG", f"la structure idPG {id_pg} n'a pas de verrou dans ce tour")]
            )
        event = {"action": "levee", "idPG": id_pg, "nombre": int(lifted["nombre"])}
    else:
        assert nombre is not None
        check_lock(request, id_pg, nombre)
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
        event = {"action": "verrou", "idPG": id_pg, "nombre": nombre}
    result = solve(
        request,
        extra_existing=snapshot["extraExisting"],
        locks=_locks_map(locks),
        programme_consumed=snapshot.get("enveloppeConsommee"),
    )
    if not lever and result.get("status") == "INFEASIBLE":
        conflicts = " ; ".join(result.get("conflits", [])) or "règles du tour"
        raise InvalidRequest(
            [
                FieldError(
                    "nombre",
                    f"verrou refusé pour la structure idPG {id_pg} : {_n(nombre or 0, 'poste')}, "
                    f"nombre incompatible avec les règles du tour et les autres verrous "
                    f"({conflicts})",
                )
            ],
            detail="Verrou refusé : le tour deviendrait infaisable ; rien n'a été modifié.",
        )
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
    with db.write() as s:
        done = s.execute(
            update(Round)
            .where(Round.id == round_id, Round.version == version, Round.status == ROUND_DRAFT)
            .values(
                locks=locks,
                result=result,
                snapshot={**snapshot, "moteur": _environment(), "arbitrages": history},
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
            from service.explanations.letters import pluriel

            changed = pluriel(len(stale), "structure a changé", "structures ont changé")
            raise Conflict(
                f"Le brouillon n° {round_id} est périmé : {changed} depuis (idPG {shown}) ; "
                "préparez un nouveau tour."
            )
        now = utcnow()
        numero = str(round_id)
        from service.explanations import (
            letters as explication,
        )  # committed explanations: who, when, overrides

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
        from service.application import posts

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
