"""The contract's edge of the engine: a round request into ``RoundInput``, a result into JSON.

Two public conversions, everything else is their parts:

- :func:`build_round_input`: a validated request and its geodata numbers
  (:func:`request_geodata`) into the engine's frozen :class:`allocator.RoundInput` (structures
  as applicants, départements with their fair shares, EPCI parts), under the request's policy
  (:func:`policy_from_request`);
- :func:`result_to_contract`: the engine's :class:`allocator.AllocationResult` into the
  contract's round result (``docs/CONTRACT.md``), deterministic byte for byte apart from
  ``solveur.secondes``.

The programme's figures (costs, default score, fair shares) are :mod:`allocator.programme`'s;
the orchestration (prepare, solve, encode) is :mod:`service.application.pipeline`'s.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping
from typing import Any

import geodata
from allocator import (
    AllocationResult,
    Applicant,
    AvisPrefet,
    Decision,
    RoundInput,
    RoundPolicy,
    StructureType,
    Territory,
    programme,
)
from service.contract.schemas import FieldError, InvalidRequest, RoundRequest, StructureIn

#: The contract's ``politique`` fields and the :class:`allocator.RoundPolicy` field each sets.
POLICY_FIELDS = {
    "typesEligibles": "eligible_types",
    "enveloppeNationale": "national_envelope",
    "budgetEur": "budget_eur",
    "scoreMinimum": "min_quality",
    "avisPrefetNegatif": "prefet_negatif",
    "penaliteAvisPrefet": "prefet_penalty",
    "plafondParStructure": "max_posts_per_structure",
    "plafondDepartement": "departement_cap",
    "poidsAcces": "weight_access",
    "poidsRepartition": "weight_distribution",
    "poidsEquilibre": "weight_balance",
    "mode": "mode",
    "cofinancement": "cofunding_priority",
}


def policy_from_request(request: RoundRequest) -> RoundPolicy:
    """The round policy: documented defaults, overridden field by field by ``politique``."""
    if request.politique is None:
        return RoundPolicy()
    changes: dict[str, Any] = {}
    for name, value in request.politique.model_dump(exclude_none=True).items():
        target = POLICY_FIELDS[name]
        if target == "eligible_types":
            value = tuple(StructureType(v) for v in value)
        changes[target] = value
    return dataclasses.replace(RoundPolicy(), **changes)


def existing_map(
    request: RoundRequest, extra_existing: Mapping[str, int] | None
) -> dict[str, int] | None:
    """Advisors already hosted, by code commune; ``None`` = the bundled 2021 state alone."""
    if request.conseillersExistants is not None:
        existing: dict[str, int] = {}
        for e in request.conseillersExistants:
            existing[e.codeCommune] = existing.get(e.codeCommune, 0) + e.nombre
        return existing
    if not extra_existing:
        return None
    existing = dict(geodata.bundled_existing_advisors())
    for code, n in extra_existing.items():
        existing[code] = existing.get(code, 0) + int(n)
    return existing


def _avis(s: StructureIn) -> tuple[AvisPrefet | None, int | None]:
    """The préfet's last opinion (:func:`allocator.programme.prefet_opinion`) and number."""
    if not s.prefet:
        return None, None
    last = s.prefet[-1]
    avis = programme.prefet_opinion(last.avisPrefet)
    return (None if avis is None else AvisPrefet(avis)), last.nombreConseillersPrefet


def _costs(s: StructureIn, cost_zone: str) -> tuple[float, float | None]:
    """The State's cost of one post of ``s`` (:func:`allocator.programme.post_costs`) and its
    standard cost when co-funded, else ``None`` (inputs without co-funding keep their canonical
    hash)."""
    standard, state = programme.post_costs(
        s.type, cost_zone, s.cofinancementEur, s.cofinancementPart
    )
    return state, (standard if state < standard else None)


def request_geodata(request: RoundRequest, existing: dict[str, int] | None) -> geodata.RoundGeodata:
    """The geodata numbers of the request's structures (:func:`geodata.round_geodata`).

    Raises
    ------
    service.contract.schemas.InvalidRequest
        Naming every field that holds an unknown commune code.
    """
    sites = [
        geodata.ApplicantSite(
            id_pg=s.idPG,
            type=s.type,
            code_commune=s.codeCommune,
            communes_desservies=tuple(s.communesDesservies) if s.communesDesservies else None,
            max_posts=max(0, s.nombreConseillersSouhaites - s.already_granted),
        )
        for s in request.structures
    ]
    index = {s.idPG: i for i, s in enumerate(request.structures)}
    try:
        with warnings.catch_warnings():
            # Old codes are re-keyed on purpose; the edge reports them, it does not fail on them.
            warnings.simplefilter("ignore", geodata.RekeyedCodeWarning)
            return geodata.round_geodata(sites, existing=existing)
    except geodata.UnknownCommuneCode as exc:
        codes = set(exc.codes)
        errors = [
            FieldError(
                f"structures[{index[s.idPG]}].codeCommune",
                f"code commune inconnu : {s.codeCommune}",
            )
            for s in request.structures
            if s.codeCommune in codes
        ]
        for s in request.structures:
            for j, c in enumerate(s.communesDesservies or ()):
                if c in codes:
                    errors.append(
                        FieldError(
                            f"structures[{index[s.idPG]}].communesDesservies[{j}]",
                            f"code commune inconnu : {c}",
                        )
                    )
        for j, e in enumerate(request.conseillersExistants or ()):
            if e.codeCommune in codes:
                errors.append(
                    FieldError(
                        f"conseillersExistants[{j}].codeCommune",
                        f"code commune inconnu : {e.codeCommune}",
                    )
                )
        if not errors:
            errors = [FieldError("(corps)", str(exc))]
        raise InvalidRequest(errors) from None


def applicant_terms(s: StructureIn) -> dict[str, Any]:
    """The engine applicant's fields that the structure document alone decides (no geodata).

    Identity, type, request, posts already granted (capped at the request), project score,
    submission time and préfet opinion: what the engine's request, structure-cap and eligibility
    bounds read (:func:`service.application.locks.lock_bound` states a lock's bound from them).
    """
    avis, nombre = _avis(s)
    return {
        "id_pg": s.idPG,
        "type": StructureType(s.type),
        "nom": s.nom,
        "requested": s.nombreConseillersSouhaites,
        "already_granted": min(s.already_granted, s.nombreConseillersSouhaites),
        "quality": programme.DEFAULT_QUALITY if s.qualiteProjet is None else float(s.qualiteProjet),
        "created_at": s.createdAt.isoformat() if s.createdAt else "",
        "avis_prefet": avis,
        "nombre_prefet": nombre,
    }


def build_round_input(
    request: RoundRequest,
    policy: RoundPolicy,
    geo: geodata.RoundGeodata,
    locks: Mapping[int, int] | None = None,
    *,
    programme_consumed: int | None = None,
) -> RoundInput:
    """Frozen engine input from the validated request and its geodata numbers.

    ``programme_consumed``: posts already consumed from the national envelope (the engine's
    envelope constraint is ``national_envelope − programme_consumed``). ``None``: every existing
    advisor of the geodata (``geo.existing_total``); a round on a store with the 2021 history
    passes the store's own count (:func:`service.application.figures.posts_consumed`), which also
    holds the 2021 posts without a commune code.
    """
    locks = dict(locks or {})
    shares = programme.fair_shares(
        {d.code: d.need for d in geo.departements}, policy.national_envelope
    )
    departements = tuple(
        Territory(code=d.code, need=d.need, existing=d.existing, fair_share=shares[d.code])
        for d in geo.departements
    )
    epcis = tuple(Territory(code=e.code, need=e.need, existing=e.existing) for e in geo.epcis)
    by_id = {g.id_pg: g for g in geo.applicants}
    applicants = []
    for s in request.structures:
        g = by_id[s.idPG]
        lock = locks.get(s.idPG, s.verrou)
        state_cost, standard_cost = _costs(s, programme.cost_zone(g.departement))
        applicants.append(
            Applicant(
                **applicant_terms(s),
                code_commune=g.code_commune,
                departement=g.departement,
                region=g.region,
                epci=g.epci,
                gains=tuple(g.gains),
                cost_eur=state_cost,
                standard_cost_eur=standard_cost,
                locked=lock,
            )
        )
    return RoundInput(
        quota=request.quota,
        applicants=tuple(sorted(applicants, key=lambda a: a.id_pg)),
        departements=departements,
        epcis=epcis,
        programme_consumed=(
            geo.existing_total if programme_consumed is None else programme_consumed
        ),
        mois=request.mois or "",
    )


_PLAIN = frozenset({int, str, bool, type(None)})


def _clean(value: Any) -> Any:
    """JSON-ready, platform-stable values: floats rounded, tuples as lists, enums as strings.

    Called on every explanation of a national round (≈300,000 values for 5,000 structures), so
    the common types are dispatched on ``type()`` before any ``isinstance``.
    """
    t = type(value)
    if t in _PLAIN:
        return value
    if t is float:
        # finite ⇔ value − value == 0 (inf − inf and NaN − NaN are NaN)
        return round(value, 6) if value - value == 0 else None
    if t is dict:
        return {k if type(k) is str else str(k): _clean(v) for k, v in value.items()}
    if t is list or t is tuple:
        return [_clean(v) for v in value]
    if isinstance(value, float):  # float subclasses (numpy.float64)
        return round(float(value), 6) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _clean(dataclasses.asdict(value))
    if hasattr(value, "value") and isinstance(getattr(value, "value", None), str):
        return value.value
    return value


#: French names of the engine's binding constraints (``rapport.binding_constraints``).
_CONTRAINTES = {
    "quota": "quota",
    "envelope": "enveloppe",
    "budget": "budget",
    "departement_caps": "plafondDepartement",
}


def money_totals(round_input: RoundInput, result: AllocationResult) -> dict[str, Any]:
    """The round's money: State's cost, standard cost and co-funding of the granted posts.

    ``coutEtatEur + cofinancementEur == coutStandardEur``; ``contrainteLiante`` says which of the
    quota (in posts), the national envelope, the budget (in euros) and the départements' fair-share
    caps (``plafondDepartement``) stopped the round (``"quota+budget"`` when both; ``"aucune"``
    when the demand ran out first; ``None`` for an INFEASIBLE round).
    """
    granted = {d.id_pg: d.granted for d in result.decisions}
    state = standard = 0.0
    for a in round_input.applicants:
        n = granted.get(a.id_pg, 0)
        state += a.cost_eur * n
        standard += (a.cost_eur if a.standard_cost_eur is None else a.standard_cost_eur) * n
    report = result.report
    assert report is not None  # always set by allocate
    budget = report.policy.budget_eur
    binding = report.binding_constraints  # None for an INFEASIBLE round
    remaining = report.budget_remaining_eur  # budget minus earlier consumption
    return {
        "coutEtatEur": _clean(state),
        "coutStandardEur": _clean(standard),
        "cofinancementEur": _clean(standard - state),
        "budgetEur": _clean(budget),
        "budgetRestantEur": None if remaining is None else _clean(remaining - state),
        "contrainteLiante": None
        if binding is None
        else "+".join(_CONTRAINTES[b] for b in binding) or "aucune",
    }


def engine_explication(d: Decision, g: geodata.ApplicantGeo) -> dict[str, Any]:
    """A decision's ``explication`` as the engine gives it (before the legal explanation).

    Priorities, ranks and cut-off, the engine's details (binding rules, counterfactual) and the
    applicant's territory numbers, cleaned for JSON (:func:`_clean`).
    """
    e = d.explanation
    return _clean(
        {
            "priorites": e.priorities,
            "rangs": e.granted_ranks,
            "seuil": e.cutoff,
            "details": None if e.details is None else e.details.to_dict(),
            "territoire": {
                "codeCommune": g.code_commune,
                "departement": g.departement,
                "region": g.region,
                "epci": g.epci,
                "communesDesservies": len(g.service_area),
                "populationFragile": g.fragile_population,
                "offreExistante": g.existing_offer,
                "zrr": g.zrr,
                "franceServices": g.france_services,
                "indicateurRepli": g.need_fallback,
                "indicateurs": g.indicators,
            },
        }
    )


def contract_outline(
    request: RoundRequest,
    round_input: RoundInput,
    result: AllocationResult,
    geo: geodata.RoundGeodata,
) -> dict[str, Any]:
    """The contract's round result without the decisions' ``explication`` (cheap to build).

    Every key of the result, in the contract's order; each decision has its numbers, avis and
    motifs. :func:`result_to_contract` adds :func:`engine_explication` (and the legal
    explanation) to each decision; :func:`service.application.pipeline.encode_round` does the
    same while encoding.
    """
    decisions = [
        {
            "idPG": d.id_pg,
            "nombreConseillersAttribues": d.granted,
            "nombreConseillersCoselec": d.total,
            "avisCoselec": "POSITIF" if d.granted > 0 else "NÉGATIF",
            "motifs": list(d.explanation.motifs),
        }
        for d in result.decisions
    ]
    granted = sum(d.granted for d in result.decisions)
    out: dict[str, Any] = {
        "status": result.status.value,
        "decisions": decisions,
        "totaux": {
            "attribues": granted,
            "quota": request.quota,
            "demandes": sum(s.nombreConseillersSouhaites for s in request.structures),
            **money_totals(round_input, result),
        },
        "solveur": {
            "nom": result.solver.name,
            "version": result.solver.version,
            "backend": result.solver.backend,
            "gap": _clean(result.gap),
            "objectif": _clean(result.objective),
            "borne": _clean(result.best_bound),
            "secondes": round(result.solver.wall_seconds, 3),
            "graine": result.solver.seed,
            "workers": result.solver.workers,
            "parametres": _clean(result.solver.parameters),
        },
        "entreeSha256": result.input_sha256,
    }
    if result.conflicts:
        out["conflits"] = list(result.conflicts)
    out["rapport"] = _clean({} if result.report is None else result.report.to_dict())
    from service.explanations.meta import round_sources

    out["sources"] = _clean(round_sources(request, geo))
    return out


def result_to_contract(
    request: RoundRequest,
    round_input: RoundInput,
    result: AllocationResult,
    geo: geodata.RoundGeodata,
    *,
    explain: bool = True,
    niveau: str = "complete",
) -> dict[str, Any]:
    """The contract's round result (one decision per structure, ascending idPG).

    ``explain=False`` leaves each decision's ``explication`` with the engine's part only
    (:func:`engine_explication`, no legal explanation); ``niveau`` is the level of the legal
    explanation (:data:`service.explanations.levels.NIVEAUX`: ``complete``, or ``compacte``: the
    opening paragraph and the numbers).
    """
    out = contract_outline(request, round_input, result, geo)
    geo_by_id = {g.id_pg: g for g in geo.applicants}
    for d, decision in zip(result.decisions, out["decisions"], strict=True):
        decision["explication"] = engine_explication(d, geo_by_id[d.id_pg])
    if not explain:
        return out
    from service.explanations import letters as explication

    return explication.attach(out, request, niveau=niveau)
