"""The monthly cycle on the store: cadence, default quota, 2021 history, programme state.

Cadence
-------
A round is held on the **15th of each month** (the call for applications). It considers the
applications *received* up to the end of that day (the portal's ``createdAt``, else the date the
store received the document) that are still pending — statut ``CREEE`` (never assessed, hence
received since the previous round) or ``EXAMEN_COMPLEMENTAIRE_COSELEC`` (complementary review,
including structures asking for more posts, see :mod:`service.application.posts`). Applications
received after
the 15th wait for the next month.

Default quota
-------------
``quota = ceil(restant / mois_restants)``: what remains of the national envelope, spread evenly
over the months left until ``allocator.programme.PROGRAMME_END`` (the month of the round
included; from that month on, everything that remains). Posts a round does not use roll over to
the next months, and posts returned to the pool (:mod:`service.application.posts`) are available
again.

Existing advisors: the single-source rule
-----------------------------------------
Each post counts once. Two states of the store:

- **history imported** (``allocator round import-historique`` ran: committed rounds of origin
  ``historique`` exist): the store is the *only* source. Existing advisors = for every stored
  structure, its current grant (its last POSITIF coselec total, hand-backs and returns to the pool
  included) at its seat commune. Rounds send this map as the request's ``conseillersExistants``,
  which *replaces* the bundled 2021 advisors in the pipeline; the bundled file is not read again.
  The 9 posts of the 7 bundled structures without a commune code cannot be placed: they count in
  the envelope (``programme.consumed``) but not on the map, as in :mod:`geodata.coverage`.
- **no history** (legacy, e.g. tests with hand-made structures): the bundled 2021 advisors plus
  the posts granted by committed engine rounds (``extra_existing`` of the pipeline).

The existing map, hence coverage and E2SFCA accessibility, is recomputed from the store at every
draft: after each commit the next round sees the new posts.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from allocator import programme
from service.application import figures
from service.contract.schemas import FieldError, InvalidRequest, check_mois
from service.store import repository as store
from service.store.db import Database
from service.store.models import (
    ROUND_COMMITTED,
    CoselecRow,
    DemandePostes,
    Poste,
    Round,
    Structure,
)

#: Day of the month of the monthly round (the call for applications).
ROUND_DAY = 15
ORIGINE_HISTORIQUE = "historique"


# -- cadence -------------------------------------------------------------------------------------


def parse_mois(mois: str) -> tuple[int, int]:
    """``"2021-06"`` → ``(2021, 6)``; :class:`InvalidRequest` otherwise (:func:`check_mois`)."""
    try:
        check_mois(mois)
    except ValueError as exc:
        raise InvalidRequest([FieldError("mois", str(exc))]) from None
    return int(mois[:4]), int(mois[5:])


def add_months(mois: str, n: int) -> str:
    y, m = parse_mois(mois)
    k = y * 12 + (m - 1) + n
    return f"{k // 12:04d}-{k % 12 + 1:02d}"


def month_range(first: str, last: str) -> list[str]:
    """Months ``first..last`` inclusive."""
    out = [first]
    while out[-1] < last:
        out.append(add_months(out[-1], 1))
    if out[-1] != last:
        raise InvalidRequest([FieldError("mois", f"intervalle vide : {first}..{last}")])
    return out


def round_date(mois: str) -> datetime:
    """The round's day: the 15th of ``mois``, 00:00 UTC."""
    y, m = parse_mois(mois)
    return datetime(y, m, ROUND_DAY, tzinfo=UTC)


def applications_cutoff(mois: str) -> datetime:
    """Applications received strictly before this instant (end of the 15th, UTC) are in."""
    return round_date(mois) + timedelta(days=1)


def received_at(document: dict[str, Any], fallback: datetime | None = None) -> datetime | None:
    """When an application was received: the portal's ``createdAt``, else ``fallback``."""
    raw = document.get("createdAt")
    if raw:
        dt = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    if fallback is not None and fallback.tzinfo is None:
        return fallback.replace(tzinfo=UTC)
    return fallback


def received_before(document: dict[str, Any], cutoff: datetime) -> bool:
    """Whether an application counts for a round with this cut-off (no portal date: yes)."""
    at = received_at(document)
    return at is None or at < cutoff


def months_left(mois: str, end: str = programme.PROGRAMME_END) -> int:
    """Rounds left until ``end`` (``mois`` included), at least 1."""
    y, m = parse_mois(mois)
    ye, me = parse_mois(end)
    return max(1, (ye - y) * 12 + (me - m) + 1)


def default_quota(restant: int, mois: str, end: str = programme.PROGRAMME_END) -> int:
    """``ceil(restant / months_left(mois))`` (see the module docstring), never negative."""
    return max(0, math.ceil(max(0, restant) / months_left(mois, end)))


# -- existing advisors ---------------------------------------------------------------------------


def history_imported(session: Session) -> bool:
    """Whether the 2021 committees were imported (then the store is the single source)."""
    n = session.scalar(
        select(func.count(Round.id)).where(
            Round.origine == ORIGINE_HISTORIQUE, Round.status == ROUND_COMMITTED
        )
    )
    return bool(n)


def current_grants(session: Session) -> dict[int, int]:
    """Current grant of every structure holding posts: its last POSITIF decision's total
    (recorded decisions only, :data:`service.store.repository.RECORDED_DECISION`)."""
    grants: dict[int, int] = {}
    for id_pg, n in session.execute(
        select(CoselecRow.id_pg, CoselecRow.nombre_conseillers_coselec)
        .where(CoselecRow.avis == "POSITIF", store.RECORDED_DECISION)
        .order_by(CoselecRow.id)
    ):
        grants[int(id_pg)] = int(n)
    return {k: v for k, v in grants.items() if v > 0}


def store_existing(session: Session) -> dict[str, int]:
    """Advisors hosted according to the store alone, by seat commune (sorted)."""
    grants = current_grants(session)
    out: dict[str, int] = {}
    ids = sorted(grants)
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        for id_pg, code in session.execute(
            select(Structure.id_pg, Structure.code_commune).where(Structure.id_pg.in_(chunk))
        ):
            out[code] = out.get(code, 0) + grants[int(id_pg)]
    return dict(sorted(out.items()))


@dataclasses.dataclass(frozen=True)
class ExistingState:
    """How a round must be told about existing advisors (see the module docstring).

    Exactly one of the two is used: ``full`` (store is the single source: goes into the request's
    ``conseillersExistants``) or ``extra`` (legacy: added to the bundled 2021 advisors).
    ``consumed`` (with ``full`` only): the posts consumed from the national envelope, the
    engine's envelope constraint (:func:`service.application.figures.posts_consumed`: the active
    posts of
    ``full`` plus the 2021 posts without a commune code).
    """

    extra: dict[str, int]
    full: dict[str, int] | None
    consumed: int | None = None

    def as_request_list(self) -> list[dict[str, Any]] | None:
        if self.full is None:
            return None
        return [{"codeCommune": c, "nombre": n} for c, n in self.full.items() if n > 0]


def existing_state(session: Session) -> ExistingState:
    if history_imported(session):
        return ExistingState(
            extra={}, full=store_existing(session), consumed=figures.posts_consumed(session)
        )
    extra = store.grants_by_commune(session)
    # Posts of engine rounds returned to the pool since (service.application.posts) no longer count.
    for code, n in session.execute(
        select(Structure.code_commune, func.count(Poste.id))
        .join(Structure, Structure.id_pg == Poste.id_pg)
        .where(Poste.statut == "RENDU", Poste.round_id.is_not(None))
        .group_by(Structure.code_commune)
    ):
        left = extra.get(code, 0) - int(n)
        if left > 0:
            extra[code] = left
        else:
            extra.pop(code, None)
    return ExistingState(extra=extra, full=None)


# -- programme state and money -------------------------------------------------------------------


def post_costs_eur(
    type_: str,
    code_commune: str,
    cofinancement_eur: float | None = None,
    duree_mois: int | None = None,
    cofinancement_part: float | None = None,
) -> tuple[float, float]:
    """``(standard cost, State's cost)`` of one post of the store: the programme's
    :func:`allocator.programme.convention_costs` (pro rata of the convention's length, co-funding
    deducted); a length outside 1..:data:`allocator.programme.MAX_CONVENTION_MONTHS` is the
    contract's :class:`InvalidRequest` on ``duree``."""
    try:
        return programme.convention_costs(
            type_, code_commune, cofinancement_eur, duree_mois, cofinancement_part
        )
    except ValueError as exc:
        raise InvalidRequest([FieldError("duree", str(exc))]) from None


def departement_shares(envelope: int, existing: dict[str, int] | None) -> dict[str, dict[str, Any]]:
    """Name, need and fair share (:func:`allocator.programme.fair_shares`) of every département."""
    import warnings

    import geodata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", geodata.RekeyedCodeWarning)
        geo = geodata.round_geodata([], existing=existing)
    shares = programme.fair_shares({d.code: d.need for d in geo.departements}, envelope)
    return {
        d.code: {"nom": d.nom, "besoin": d.need, "partEquitable": shares[d.code]}
        for d in geo.departements
    }


def programme_state(
    db: Database, *, duree_mois: int | None = None, with_departements: bool = True
) -> dict[str, Any]:
    """The programme: envelope, posts by lifecycle state, money per round / département.

    Money counts the posts that are not returned to the pool (``RENDU``), at the cost of
    :func:`post_costs_eur`; returned posts are reported apart.
    """
    with db.read() as s:
        prog = store.programme_view(store.programme(s))
        numbers = figures.programme_figures(s)
        imported = history_imported(s)
        ledger = _post_ledger(s, duree_mois)
        rounds_meta = {
            int(rid): (mois, origine, status)
            for rid, mois, origine, status in s.execute(
                select(Round.id, Round.mois, Round.origine, Round.status).where(
                    Round.status == ROUND_COMMITTED
                )
            )
        }
        unplaced_by_round = {
            int(rid): figures.round_unplaced(result)
            for rid, result in s.execute(
                select(Round.id, Round.result).where(
                    Round.origine == ORIGINE_HISTORIQUE, Round.status == ROUND_COMMITTED
                )
            )
        }
        existing = store_existing(s)
        pending_requests = s.scalar(
            select(func.count(DemandePostes.id)).where(DemandePostes.statut == "EN_ATTENTE")
        )
    out: dict[str, Any] = {
        **prog,
        "historiqueImporte": imported,
        "postesAttribues": numbers.attribues,
        "postesNonLocalises": numbers.nonLocalises,
        "postesParStatut": dict(sorted(ledger.by_state.items())),
        "postesActifs": numbers.actifs,
        "postesRendus": numbers.rendus,
        "ecarts": figures.differences(numbers),
        "demandesEnAttente": int(pending_requests or 0),
        "dureeConventionMois": duree_mois,
        "coutEtatEur": round(ledger.total_eur, 2),
        # co-funding of the hosts: State's cost + co-funding = standard cost of the posts held
        "coutStandardEur": round(ledger.standard_eur, 2),
        "cofinancementEur": round(ledger.standard_eur - ledger.total_eur, 2),
        "coutPostesRendusEur": round(ledger.returned_eur, 2),
        "tours": _programme_rounds(ledger.per_round, unplaced_by_round, rounds_meta),
    }
    if with_departements:
        shares = departement_shares(prog["enveloppe"], existing if imported else None)
        out["departements"] = _programme_departements(shares, ledger.per_dep)
    return out


@dataclasses.dataclass
class _PostLedger:
    """The posts of the store, counted and priced by state, round and département."""

    by_state: dict[str, int] = dataclasses.field(default_factory=dict)
    per_round: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    per_dep: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    total_eur: float = 0.0
    standard_eur: float = 0.0
    returned_eur: float = 0.0


def _post_ledger(s: Session, duree_mois: int | None) -> _PostLedger:
    """Every post row priced at :func:`post_costs_eur` (one cost per host kind and commune)."""
    rows = s.execute(
        select(
            Poste.statut,
            Poste.round_id,
            Structure.type,
            Structure.code_commune,
            Structure.document,
        ).join(Structure, Structure.id_pg == Poste.id_pg)
    ).all()
    ledger = _PostLedger()
    cost_cache: dict[tuple[str, str, float | None, float | None], tuple[float, float]] = {}
    for statut, round_id, type_, code, document in rows:
        ledger.by_state[statut] = ledger.by_state.get(statut, 0) + 1
        cof, part = document.get("cofinancementEur"), document.get("cofinancementPart")
        key = (type_, code, cof, part)
        if key not in cost_cache:
            cost_cache[key] = post_costs_eur(type_, code, cof, duree_mois, part)
        standard, cost = cost_cache[key]
        rid = int(round_id) if round_id is not None else 0
        r = ledger.per_round.setdefault(rid, dict(_NO_ROUND_MONEY))
        d = ledger.per_dep.setdefault(programme.departement_of(code), dict(_NO_DEPARTEMENT_MONEY))
        if statut == "RENDU":
            r["rendus"] += 1
            r["postesRendusEur"] += cost
            d["rendus"] += 1
            ledger.returned_eur += cost
        else:
            r["postes"] += 1
            r["coutEtatEur"] += cost
            r["coutStandardEur"] += standard
            d["postes"] += 1
            d["coutEtatEur"] += cost
            d["coutStandardEur"] += standard
            ledger.total_eur += cost
            ledger.standard_eur += standard
    return ledger


def _programme_rounds(
    per_round: dict[int, dict[str, Any]],
    unplaced_by_round: dict[int, int],
    rounds_meta: dict[int, tuple[Any, Any, Any]],
) -> list[dict[str, Any]]:
    """One entry per round holding posts (``id`` null: admin history imports), by id."""
    tours = []
    for rid in sorted(set(per_round) | set(unplaced_by_round)):
        mois, origine, _ = rounds_meta.get(rid, (None, None, None))
        money = _money(per_round.get(rid) or _NO_ROUND_MONEY)
        unplaced = unplaced_by_round.get(rid, 0)
        tours.append(
            {
                "id": rid or None,
                "mois": mois,
                "origine": origine,
                # granted = active + returned + unplaced, as for the programme
                # (service.application.figures)
                "attribues": money["postes"] + money["rendus"] + unplaced,
                "nonLocalises": unplaced,
                **money,
            }
        )
    return tours


def _programme_departements(
    shares: dict[str, dict[str, Any]], per_dep: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Posts held against the fair share, per département (in the order of ``shares``)."""
    deps = []
    for code, info in shares.items():
        d = per_dep.get(code, _NO_DEPARTEMENT_MONEY)
        held = d["postes"]
        deps.append(
            {
                "departement": code,
                "nom": info["nom"],
                "postes": held,
                "partEquitable": info["partEquitable"],
                "ecart": held - info["partEquitable"],
                "postesPour10000Fragiles": round(held / info["besoin"] * 1e4, 3)
                if info["besoin"] > 0
                else None,
                "rendus": d["rendus"],
                "coutEtatEur": round(d["coutEtatEur"], 2),
                "cofinancementEur": round(d["coutStandardEur"] - d["coutEtatEur"], 2),
            }
        )
    return deps


_NO_ROUND_MONEY = {
    "postes": 0,
    "rendus": 0,
    "coutEtatEur": 0.0,
    "coutStandardEur": 0.0,
    "postesRendusEur": 0.0,
}
_NO_DEPARTEMENT_MONEY = {"postes": 0, "rendus": 0, "coutEtatEur": 0.0, "coutStandardEur": 0.0}


def _money(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "postes": r["postes"],
        "rendus": r["rendus"],
        "coutEtatEur": round(r["coutEtatEur"], 2),
        "cofinancementEur": round(r["coutStandardEur"] - r["coutEtatEur"], 2),
        "coutPostesRendusEur": round(r["postesRendusEur"], 2),
    }
