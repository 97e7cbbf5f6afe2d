"""The one wiring of a round: contract request → geodata numbers → engine → contract result.

The HTTP API (``POST /v1/allocate``, rounds) and the notebooks call :func:`run_round`; the CLI
(``allocator allocate``) calls its two halves, :func:`solve_round` then :func:`encoded_round`, which
writes the same result as JSON while building it in two processes. Nothing is computed twice in two
places.

Steps
-----
1. ``policy_from_request``: the request's ``politique`` over ``allocator.RoundPolicy`` defaults.
2. ``geodata.round_geodata``: service areas, need, existing offer and the marginal
   accessibility gains of each applicant (plain numbers; geometry stops there).
3. ``build_round_input``: frozen engine types, départements' fair shares by Webster apportionment
   of the national envelope on need.
4. ``allocator.allocate``: greedy + OR-Tools certificate + validator.
5. ``result_to_contract`` (or ``encoded_round``): the JSON of ``docs/CONTRACT.md``, deterministic
   byte for byte apart from ``solveur.secondes``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import mmap
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import orjson

import geodata
from allocator import (
    AllocationResult,
    Applicant,
    AvisPrefet,
    Decision,
    RoundInput,
    RoundPolicy,
    SolverConfig,
    StructureType,
    Territory,
    allocate,
    webster,
)
from service import speed
from service.contract.schemas import FieldError, InvalidRequest, RoundRequest, StructureIn

#: The State's standard cost of one post over the convention, by host and territory (the call,
#: and the programme's historical variants). Keys are geodata cost zones.
COST_PER_POST_EUR = {"metro": 50_000.0, "971-973": 70_000.0, "974-976": 67_500.0}
COST_PER_POST_PRIVATE_EUR = 32_000.0

#: Score given to an application the instructor has not scored yet: neutral, documented.
DEFAULT_QUALITY = 50.0

_POLICY_FIELDS = {
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
        target = _POLICY_FIELDS[name]
        if target == "eligible_types":
            value = tuple(StructureType(v) for v in value)
        changes[target] = value
    return dataclasses.replace(RoundPolicy(), **changes)


def _existing_map(
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
    if not s.prefet:
        return None, None
    last = s.prefet[-1]
    avis = None
    if last.avisPrefet == "POSITIF":
        avis = AvisPrefet.POSITIF
    elif last.avisPrefet in ("NÉGATIF", "NEGATIF"):
        avis = AvisPrefet.NEGATIF
    return avis, last.nombreConseillersPrefet


def post_costs(
    type_: str,
    cost_zone: str,
    cofinancement_eur: float | None = None,
    cofinancement_part: float | None = None,
) -> tuple[float, float]:
    """``(standard cost, State's cost)`` of one post for this host over the reference convention.

    The standard cost is :data:`COST_PER_POST_EUR` of the host's territory (or
    :data:`COST_PER_POST_PRIVATE_EUR` for a private host); the host's co-funding per post
    (``cofinancementEur``, or ``cofinancementPart`` × the standard cost) is deducted, never
    below zero: a host paying more than the standard cost (a salary complement) saves the State
    the whole standard cost, no more. Co-funding = standard − State's cost.
    """
    base = COST_PER_POST_PRIVATE_EUR if type_ == "PRIVATE" else COST_PER_POST_EUR[cost_zone]
    cofunding = (cofinancement_eur or 0.0) + (cofinancement_part or 0.0) * base
    return base, max(0.0, base - cofunding)


def _state_cost(s: StructureIn, cost_zone: str) -> float:
    return post_costs(s.type, cost_zone, s.cofinancementEur, s.cofinancementPart)[1]


def _standard_if_cofunded(s: StructureIn, cost_zone: str) -> float | None:
    standard, state = post_costs(s.type, cost_zone, s.cofinancementEur, s.cofinancementPart)
    return standard if state < standard else None


def _geodata_for(request: RoundRequest, existing: dict[str, int] | None) -> geodata.RoundGeodata:
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


def departement_fair_shares(
    departements: Sequence[geodata.TerritoryNeed], envelope: int
) -> dict[str, int]:
    """Each département's fair share of the national envelope: Webster apportionment on need.

    The need does not change within a process (it depends on the bundled data only), so the exact
    (rational-arithmetic) apportionment is computed once per envelope and reused.
    """
    return dict(_fair_shares(tuple((d.code, d.need) for d in departements), envelope))


@functools.lru_cache(maxsize=16)
def _fair_shares(
    needs: tuple[tuple[str, float], ...], envelope: int
) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(webster(dict(needs), envelope).items()))


def applicant_terms(s: StructureIn) -> dict[str, Any]:
    """The engine applicant's fields that the structure document alone decides (no geodata).

    Identity, type, request, posts already granted (capped at the request), project score,
    submission time and préfet opinion: what the engine's request, structure-cap and eligibility
    bounds read (:func:`service.application.rounds.lock_bound` states a lock's bound from them).
    """
    avis, nombre = _avis(s)
    return {
        "id_pg": s.idPG,
        "type": StructureType(s.type),
        "nom": s.nom,
        "requested": s.nombreConseillersSouhaites,
        "already_granted": min(s.already_granted, s.nombreConseillersSouhaites),
        "quality": DEFAULT_QUALITY if s.qualiteProjet is None else float(s.qualiteProjet),
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
    holds the
    2021 posts without a commune code.
    """
    locks = dict(locks or {})
    shares = departement_fair_shares(geo.departements, policy.national_envelope)
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
        applicants.append(
            Applicant(
                **applicant_terms(s),
                code_commune=g.code_commune,
                departement=g.departement,
                region=g.region,
                epci=g.epci,
                gains=tuple(g.gains),
                cost_eur=_state_cost(s, g.cost_zone),
                # only when co-funded: inputs without co-funding keep their canonical hash
                standard_cost_eur=_standard_if_cofunded(s, g.cost_zone),
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
    explanation) to each decision; :func:`encode_round` does the same while encoding.
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
    from service.explanations.meta import (
        round_sources,
    )  # the legal explanation of every decision (issue 6)

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


@dataclasses.dataclass(frozen=True)
class SolvedRound:
    """An engine result with what it was computed from; the contract's JSON is built from it.

    ``contract()`` is the result as a dict (:func:`result_to_contract`); :func:`encode_round`
    writes the same result as JSON bytes, building it in several processes.
    """

    request: RoundRequest
    round_input: RoundInput
    result: AllocationResult
    geo: geodata.RoundGeodata

    def contract(self, *, explain: bool = True, niveau: str = "complete") -> dict[str, Any]:
        """:func:`result_to_contract` of this round (a new dict at each call)."""
        return result_to_contract(
            self.request, self.round_input, self.result, self.geo, explain=explain, niveau=niveau
        )

    @functools.cached_property
    def outline(self) -> dict[str, Any]:
        """:func:`contract_outline` of this round (built once; treat it as read-only)."""
        return contract_outline(self.request, self.round_input, self.result, self.geo)


def solve_round(
    request: RoundRequest,
    *,
    extra_existing: Mapping[str, int] | None = None,
    locks: Mapping[int, int] | None = None,
    config: SolverConfig | None = None,
    programme_consumed: int | None = None,
) -> SolvedRound:
    """:func:`run_round` up to the engine's result (the contract's JSON not built yet).

    The command line encodes it with :func:`encode_round`; arguments and errors are those of
    :func:`run_round`.
    """
    policy = policy_from_request(request)
    prepared = prepare_round(
        request, extra_existing=extra_existing, programme_consumed=programme_consumed
    )
    return _solve(prepared, policy, quota=None, locks=locks, config=config)


def run_round(
    request: RoundRequest,
    *,
    extra_existing: Mapping[str, int] | None = None,
    locks: Mapping[int, int] | None = None,
    config: SolverConfig | None = None,
    programme_consumed: int | None = None,
    niveau: str = "complete",
) -> dict[str, Any]:
    """Solve one round and return the contract's result as a JSON-ready dict.

    Parameters
    ----------
    request
        A validated :class:`service.contract.schemas.RoundRequest`.
    extra_existing
        Posts granted by committed rounds, by code commune, added to the bundled 2021 advisors
        when the request does not list ``conseillersExistants`` itself.
    locks
        Committee locks/overrides ``{idPG: posts of this round}`` (take precedence over
        ``verrou`` in the request).
    config
        Solver configuration (defaults: :class:`allocator.SolverConfig`).
    programme_consumed
        Posts already consumed from the national envelope (:func:`build_round_input`;
        ``None``: the existing advisors).
    niveau
        Level of the decisions' explanations (:func:`result_to_contract`).

    Raises
    ------
    service.contract.schemas.InvalidRequest
        For input that is well-formed JSON but wrong for the data (e.g. an unknown commune).
    """
    solved = solve_round(
        request,
        extra_existing=extra_existing,
        locks=locks,
        config=config,
        programme_consumed=programme_consumed,
    )
    return solved.contract(niveau=niveau)


@dataclasses.dataclass(frozen=True)
class PreparedRound:
    """A validated request with its geodata numbers: the policy-independent part of a round.

    Computed once by :func:`prepare_round` and reused by every policy solved on the same
    applicants (scenario variants, robustness draws): only the engine re-runs.

    Attributes
    ----------
    request
        The validated request (its ``politique`` is the baseline policy).
    existing
        Advisors already hosted, by code commune, that the round is solved against
        (``None`` = the bundled 2021 state).
    geo
        Service areas, need, existing offer and marginal gains of the applicants.
    """

    request: RoundRequest
    existing: dict[str, int] | None
    geo: geodata.RoundGeodata
    #: posts already consumed from the envelope (:func:`build_round_input`; None: the existing)
    programme_consumed: int | None = None
    # Engine inputs already built, by (national envelope, locks): a policy enters
    # build_round_input only through the envelope (fair shares, an exact apportionment), and the
    # quota is a plain field of the input.
    _inputs: dict[tuple[Any, ...], RoundInput] = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )


def prepare_round(
    request: RoundRequest,
    *,
    extra_existing: Mapping[str, int] | None = None,
    programme_consumed: int | None = None,
) -> PreparedRound:
    """Steps 1-2 of :func:`run_round` without the policy: the geodata numbers of the applicants.

    Raises
    ------
    service.contract.schemas.InvalidRequest
        For input that is well-formed JSON but wrong for the data (e.g. an unknown commune).
    """
    existing = _existing_map(request, extra_existing)
    return PreparedRound(
        request=request,
        existing=existing,
        geo=_geodata_for(request, existing),
        programme_consumed=programme_consumed,
    )


def prepared_input(
    prepared: PreparedRound,
    policy: RoundPolicy,
    *,
    quota: int | None = None,
    locks: Mapping[int, int] | None = None,
) -> tuple[RoundRequest, RoundInput]:
    """The (request, engine input) of a prepared round under ``policy`` (and another quota).

    Inputs are cached on ``prepared`` (frozen values), so variants that differ only by weights
    or rules share one build.
    """
    request = prepared.request
    if quota is not None and quota != request.quota:
        request = request.model_copy(update={"quota": quota})
    key = (policy.national_envelope, tuple(sorted((locks or {}).items())))
    if key not in prepared._inputs:
        prepared._inputs[key] = build_round_input(
            prepared.request,
            policy,
            prepared.geo,
            locks,
            programme_consumed=prepared.programme_consumed,
        )
    round_input = prepared._inputs[key]
    if round_input.quota != request.quota:
        round_input = dataclasses.replace(round_input, quota=request.quota)
    return request, round_input


def solve_prepared(
    prepared: PreparedRound,
    policy: RoundPolicy | None = None,
    *,
    quota: int | None = None,
    locks: Mapping[int, int] | None = None,
    config: SolverConfig | None = None,
) -> dict[str, Any]:
    """Steps 3-5 of :func:`run_round` on a prepared round: the contract result of ``policy``.

    ``policy`` defaults to the request's own (``policy_from_request``); ``quota`` to the
    request's. ``run_round(r)`` is ``solve_prepared(prepare_round(r))``.
    """
    if policy is None:
        policy = policy_from_request(prepared.request)
    return _solve(prepared, policy, quota=quota, locks=locks, config=config).contract()


def _solve(
    prepared: PreparedRound,
    policy: RoundPolicy,
    *,
    quota: int | None,
    locks: Mapping[int, int] | None,
    config: SolverConfig | None,
) -> SolvedRound:
    request, round_input = prepared_input(prepared, policy, quota=quota, locks=locks)
    result = allocate(round_input, policy, config or SolverConfig())
    return SolvedRound(request, round_input, result, prepared.geo)


def dumps_bytes(result: Any, *, indent: int | None = None, newline: bool = True) -> bytes:
    """Canonical UTF-8 JSON of a result (key order as built, UTF-8 kept, final newline).

    Encoded by orjson: a national round carries a legal explanation per structure (≈75 MB of
    JSON for 5,000 structures), which the standard library's encoder writes about ten times
    slower. Compact by default; ``indent=2`` for files read by people; ``newline=False`` for
    HTTP bodies. Integer keys become
    strings (as the standard encoder does); NaN and infinities never reach here
    (:func:`_clean` maps them to ``null``).
    """
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_APPEND_NEWLINE if newline else 0)
    if indent is not None:
        if indent != 2:
            raise ValueError("orjson indents by 2 spaces only")
        option |= orjson.OPT_INDENT_2
    return orjson.dumps(result, option=option)


def dumps(result: Any, *, indent: int | None = None) -> str:
    """:func:`dumps_bytes` as text."""
    return dumps_bytes(result, indent=indent).decode("utf-8")


#: Below this many decisions a round is explained and encoded in one process.
PARALLEL_MIN_DECISIONS = 1_000

#: Share of the decisions the parent process encodes when a child helps: a bit more than half,
#: as the child also writes its bytes out and exits (measured on 5,000 structures: 0.53 ends
#: both at once, ~15 ms sooner than 0.5).
PARENT_SHARE = 0.53

# Stands for the decisions list while the rest of the result is encoded (a NUL-delimited string
# cannot occur in an encoded result: orjson escapes control characters).
_DECISIONS_SLOT = "\x00decisions\x00"


def _explained_decisions(
    solved: SolvedRound,
    start: int,
    stop: int,
    explain: Callable[[dict[str, Any]], dict[str, Any]],
) -> bytes:
    """Decisions ``start:stop`` with their whole ``explication``, encoded and joined by commas.

    Each decision of the outline gets its engine part (:func:`engine_explication`), then its
    legal explanation, and is encoded at once: nothing of it is kept.
    """
    option = orjson.OPT_NON_STR_KEYS
    geo_by_id = {g.id_pg: g for g in solved.geo.applicants}
    engine = solved.result.decisions
    outline = solved.outline["decisions"]
    parts = []
    with speed.gc_paused():  # the explanations are encoded and dropped: nothing to promote
        for i in range(start, stop):
            d = engine[i]
            decision = {**outline[i], "explication": engine_explication(d, geo_by_id[d.id_pg])}
            decision["explication"] = explain(decision)
            parts.append(orjson.dumps(decision, option=option))
    return b",".join(parts)


def encode_round(solved: SolvedRound, *, processes: int = 1, niveau: str = "complete") -> bytes:
    """``dumps_bytes(solved.contract(niveau=niveau))``, built in ``processes`` processes.

    The bytes of :func:`encoded_round` joined (the command line writes its parts instead).
    """
    with encoded_round(solved, processes=processes, niveau=niveau) as parts:
        return b"".join(parts)


@contextlib.contextmanager
def encoded_round(
    solved: SolvedRound, *, processes: int = 1, niveau: str = "complete"
) -> Iterator[list[bytes | memoryview]]:
    """The JSON of ``solved.contract()`` as buffers to write in order, built in several processes.

    ``b"".join(parts) == dumps_bytes(solved.contract(niveau=niveau))`` whatever ``processes``:
    with 2 or more (and :func:`service.speed.can_fork`, and at least :data:`PARALLEL_MIN_DECISIONS`
    decisions), a forked child builds, explains and encodes the last decisions while this
    process does the first ones (:data:`PARENT_SHARE`). The decisions' JSON is most of a
    national round's work (≈75 MB for 5,000 structures, mostly legal text), and the two parts
    share nothing but the round (read-only after the fork). The child's part is read in place
    from the file it wrote (the buffers are valid inside the ``with`` block only): writing the
    parts where they go spares two copies of the whole result. ``solved`` is left unchanged.

    Raises
    ------
    RuntimeError
        When the child fails (its traceback is printed on stderr); nothing is yielded then.
    """
    from service.explanations import letters as explication
    from service.explanations.levels import CLE_NIVEAU, NIVEAU_COMPACT

    outline = solved.outline
    n = len(outline["decisions"])
    explain = explication.round_explainer(outline, solved.request, niveau=niveau)
    outer = {**outline, "decisions": _DECISIONS_SLOT}
    if niveau == NIVEAU_COMPACT:  # as explication.attach says it
        outer[CLE_NIVEAU] = niveau
    shell = dumps_bytes(outer)
    slot = orjson.dumps(_DECISIONS_SLOT)
    if shell.count(slot) != 1:  # pragma: no cover - the slot cannot occur elsewhere
        raise RuntimeError("decisions slot not found exactly once in the encoded result")
    before, after = shell.split(slot)
    if processes < 2 or n < PARALLEL_MIN_DECISIONS or not speed.can_fork():
        yield [before, b"[", _explained_decisions(solved, 0, n, explain), b"]", after]
        return
    half = min(n - 1, math.ceil(n * PARENT_SHARE))
    collect = speed.fork_work(lambda: _explained_decisions(solved, half, n, explain))
    try:
        mine = _explained_decisions(solved, 0, half, explain)
    finally:
        theirs = collect()
    view = memoryview(theirs)
    try:
        yield [before, b"[", mine, b"," if mine and view else b"", view, b"]", after]
    finally:
        view.release()
        if isinstance(theirs, mmap.mmap):
            theirs.close()


def result_summary(result: dict[str, Any], request: RoundRequest | None = None) -> str:
    """A short human summary of a round result (stderr of the CLI, logs), numbers the French
    way (:mod:`service.application.figures`); with its ``request``, the round's « demande restante
    »."""
    from service.application import figures

    n = figures.nombre
    t = result["totaux"]
    s = result["solveur"]
    granted = [d for d in result["decisions"] if d["nombreConseillersAttribues"] > 0]
    unplaced = figures.round_unplaced(result)
    demand = (
        f"{figures.FIGURES['demandeRestante'].libelle} "
        f"{n(figures.round_remaining_demand(request.structures))}"
        if request is not None
        else f"postes demandés (déjà attribués compris) {n(t['demandes'])}"
    )
    gap = "—" if s["gap"] is None else figures.decimal_exact(s["gap"])
    lines = [
        f"statut {result['status']} (écart {gap}, {s['backend']}, {n(s['secondes'], 3)} s)",
        f"{n(figures.round_granted(result))} {figures.FIGURES['attribues'].libelle}"
        + (f" (dont {figures.compte(unplaced, 'nonLocalises')})" if unplaced else "")
        + f" / quota {n(t['quota'])} ; {demand}",
        f"{n(len(granted))} structures retenues sur {n(len(result['decisions']))}",
    ]
    if t.get("coutEtatEur") is not None:
        lines.append(
            f"coût pour l'État {figures.euros(t['coutEtatEur'])} ; cofinancement "
            f"{figures.euros(t.get('cofinancementEur') or 0)}"
            + (
                f" ; budget {figures.euros(t['budgetEur'])}"
                if t.get("budgetEur") is not None
                else ""
            )
            + f" ; contrainte liante : {t.get('contrainteLiante')}"
        )
    if result.get("conflits"):
        lines.append("règles en conflit : " + " ; ".join(result["conflits"]))
    return "\n".join(lines)
