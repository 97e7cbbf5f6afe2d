"""``allocate``: consistency check → model → greedy → certificate → explanations → validation.

Determinism: applicants are sorted by ``id_pg`` and territories by code before anything is
built; ties are broken by the published order of ``allocator.model``; backends are used only to
*certify* (compare objective values) except in mode "optimal" off the laminar structure. The
result depends on neither the order of the input nor the number of workers, apart from
``SolverReport.wall_seconds`` / ``workers``.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import time
from dataclasses import asdict, fields
from enum import Enum
from typing import Any

from allocator.consistency import consistency_conflicts
from allocator.domain import (
    AllocationResult,
    Decision,
    RoundInput,
    RoundPolicy,
    SolverConfig,
    SolverReport,
    Status,
)
from allocator.errors import InternalError
from allocator.explain import explain
from allocator.greedy import GreedyOutcome, greedy
from allocator.inputs import check_input
from allocator.model import (
    COFUNDING_PRIORITY_CAP,
    QUALITY_FLOOR,
    SCALE,
    FreeProblem,
    Model,
    build_model,
    counts,
    free_problem,
    objective,
    objective_terms,
)
from allocator.solve import FLOAT_TOLERANCE, ORTOOLS_VERSION, BackendSolution, solve, solve_flow
from allocator.validate import check_feasible

# --------------------------------------------------------------------------------------------
# Canonical input
# --------------------------------------------------------------------------------------------
_SCALARS = (str, int, float, bool, type(None))


def _plain(value: object) -> object:
    """JSON-ready, with floats for float fields so that 72 and 72.0 hash alike."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


_FLOAT_FIELDS = frozenset(
    {
        "quality",
        "cost_eur",
        "standard_cost_eur",
        "need",
        "budget_eur",
        "min_quality",
        "prefet_penalty",
        "weight_access",
        "weight_distribution",
        "weight_balance",
        "budget_consumed_eur",
        "time_limit_s",
    }
)


#: Fields added after the first canonical form, left out while at their default so that the
#: inputs of earlier rounds keep their hash (their replay certificates stay valid).
_LATER_FIELDS: dict[str, object] = {"standard_cost_eur": None, "cofunding_priority": "neutre"}


@functools.cache
def _record_plan(cls: type) -> tuple[tuple[str, int, bool, object], ...]:
    """Per dataclass: ``(field, kind, is_later, default)``; kind 1 = float, 2 = gains, 0 = as is."""
    return tuple(
        (
            f.name,
            1 if f.name in _FLOAT_FIELDS else 2 if f.name == "gains" else 0,
            f.name in _LATER_FIELDS,
            _LATER_FIELDS.get(f.name),
        )
        for f in fields(cls)
    )


def _record(obj: object) -> dict[str, object]:
    out: dict[str, object] = {}
    cls: Any = type(obj)
    for name, kind, later, default in _record_plan(cls):
        value: Any = getattr(obj, name)
        if later and value == default:
            continue
        if kind == 1 and value is not None:
            out[name] = float(value)
        elif kind == 2:
            out[name] = [float(g) for g in value]
        else:
            out[name] = _plain(value)
    return out


def canonical_input(
    round_input: RoundInput,
    policy: RoundPolicy = RoundPolicy(),
    config: SolverConfig = SolverConfig(),
) -> bytes:
    """Stable JSON (UTF-8) of everything that decides the result.

    Applicants sorted by ``id_pg``, territories by code, keys sorted, floats normalised. The
    worker count is left out: it never changes the result. ``AllocationResult.input_sha256`` is
    the SHA-256 of these bytes.
    """
    config_part = _record(config)
    config_part.pop("workers")
    document = {
        "round": {
            "quota": round_input.quota,
            "mois": round_input.mois,
            "programme_consumed": round_input.programme_consumed,
            "budget_consumed_eur": float(round_input.budget_consumed_eur),
            "applicants": [
                _record(a) for a in sorted(round_input.applicants, key=lambda a: a.id_pg)
            ],
            "departements": [
                _record(t) for t in sorted(round_input.departements, key=lambda t: t.code)
            ],
            "epcis": [_record(t) for t in sorted(round_input.epcis, key=lambda t: t.code)],
        },
        "policy": _record(policy),
        "config": config_part,
    }
    return json.dumps(
        document, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def policy_echo(policy: RoundPolicy) -> dict[str, object]:
    """Every policy field, JSON-ready (enums as their values)."""
    plain = _plain(asdict(policy))
    assert isinstance(plain, dict)
    return plain


# --------------------------------------------------------------------------------------------
# Certification
# --------------------------------------------------------------------------------------------
def _certify(m: Model, value: int, cert: BackendSolution) -> None:
    """The greedy must equal the proven optimum of the laminar model; anything else is a bug."""
    if cert.objective is not None and cert.objective > value:
        raise InternalError(
            f"greedy objective {value} < {cert.backend} solution {cert.objective}: "
            "the laminar model is mis-specified"
        )
    if not cert.proven_optimal or cert.bound is None:
        raise InternalError(f"{cert.backend} did not prove optimality of the laminar model")
    tolerance = 0.0 if cert.exact else FLOAT_TOLERANCE * max(1.0, abs(cert.bound))
    if cert.bound > value + tolerance or cert.bound < value - tolerance:
        raise InternalError(
            f"greedy objective {value} != {cert.backend} proven optimum {cert.bound}: "
            "the laminar model is mis-specified"
        )


def _timing_free(m: Model, fp: FreeProblem, cut: BackendSolution) -> BackendSolution:
    """What the engine keeps of a backend answer cut by the wall clock: nothing that depends on
    timing. No solution (the greedy stands), and as bound the optimum of the model without its
    budget row — a relaxation, solved exactly (integer min-cost flow), the same on every run."""
    relaxed = solve_flow(m, fp)
    return BackendSolution(
        cut.backend,
        None,
        None,
        relaxed.bound,
        False,
        True,
        cut.wall_seconds + relaxed.wall_seconds,
        {**cut.parameters, "bound": "relaxation_without_budget"},
        timed_out=True,
    )


def _binding(m: Model, x: tuple[int, ...]) -> dict[str, object]:
    total = sum(x)
    spent = sum(c * v for c, v in zip(m.cost_cents, x, strict=True))
    _, dcount = counts(m, x)
    remaining = None if m.budget_remaining_cents is None else m.budget_remaining_cents - spent
    return {
        "quota": total >= m.quota,
        "envelope": total >= m.envelope_remaining,
        "budget": remaining is not None
        and any(
            m.lock[i] is None and x[i] < m.upper[i] and m.cost_cents[i] > remaining
            for i in range(m.n)
        ),
        "departement_caps": [
            m.dept_territories[d].code
            for d, cap in enumerate(m.dept_cap)
            if cap is not None and dcount[d] >= cap
        ],
    }


def binding_constraints(m: Model, x: tuple[int, ...]) -> list[str]:
    """Which of quota / envelope / budget / département caps stopped the round (``[]``: the
    demand ran out first).

    ``quota`` / ``envelope``: the round granted that many posts. ``budget``: the budget left
    cannot pay the State's cost of any post still open (free applicant below its bound, outside
    a capped département). ``departement_caps``: neither the quota nor the envelope is used up,
    and a post is still open in a département at its fair-share cap (the cap, not the demand,
    stopped it there). Several may bind at once (listed in this order).
    """
    total = sum(x)
    names = []
    if total >= m.quota:
        names.append("quota")
    if total >= m.envelope_remaining:
        names.append("envelope")
    _, dcount = counts(m, x)
    room = [m.n + total + 1 if c is None else c - dcount[d] for d, c in enumerate(m.dept_cap)]
    open_posts = [i for i in range(m.n) if m.lock[i] is None and x[i] < m.upper[i]]
    if m.budget_remaining_cents is not None:
        left = m.budget_remaining_cents - sum(c * v for c, v in zip(m.cost_cents, x, strict=True))
        open_costs = [m.cost_cents[i] for i in open_posts if room[m.app_dept[i]] > 0]
        if open_costs and left < min(open_costs):
            names.append("budget")
    stopped = "quota" in names or "envelope" in names
    if not stopped and any(room[m.app_dept[i]] <= 0 for i in open_posts):
        names.append("departement_caps")
    return names


def _money(m: Model, x: tuple[int, ...] | None) -> dict[str, object] | None:
    if x is None:
        return None
    state = sum(c * v for c, v in zip(m.cost_cents, x, strict=True))
    standard = sum(c * v for c, v in zip(m.standard_cents, x, strict=True))
    return {
        "posts": sum(x),
        "state_cost_eur": state / 100,
        "standard_cost_eur": standard / 100,
        "cofunding_eur": (standard - state) / 100,
    }


def _guarantees(
    m: Model,
    x: tuple[int, ...],
    monotone_x: tuple[int, ...],
    from_greedy: bool,
    house_monotone: bool,
    optimal: bool,
    monotone_value: int,
    best: int,
    cert: BackendSolution | None,
    neutral: tuple[int, ...] | None,
    neutral_model: Model | None,
) -> dict[str, object]:
    """The engine's guarantees kept and lost by this round, with the price of each lost one.

    ``optimal`` — the allocation maximises ``F`` under every rule (proven);
    ``house_monotone`` — raising the quota to this round's from one less removes no post
    (nested greedy; checked at ``quota − 1`` by :func:`_house_monotone`);
    ``budget_monotone`` — a larger budget never removes a post (no knapsack);
    ``priority_list`` — posts are granted in national priority order down to one cut-off;
    ``cofunding_neutral`` — co-funding does not change the ranking (policy "neutre").
    """
    kept = {
        "optimal": optimal,
        "house_monotone": house_monotone,
        "budget_monotone": not m.knapsack,
        "priority_list": from_greedy and not m.knapsack,
        "cofunding_neutral": all(f == 1.0 for f in m.cofunding),
        "deterministic": True,
    }
    prices: dict[str, object] = {}
    gap_value = (best - monotone_value) / SCALE
    if not kept["optimal"] or not kept["house_monotone"]:
        prices["optimal_vs_monotone"] = {
            "objective": gap_value,
            "relative": gap_value / max(1e-12, best / SCALE) if best else 0.0,
            "monotone": _money(m, monotone_x),
            "optimum": _money(m, None if cert is None else cert.x),
        }
    if not kept["cofunding_neutral"] and neutral is not None and neutral_model is not None:
        moved = sum(abs(a - b) for a, b in zip(x, neutral, strict=True)) // 2
        prices["cofunding_neutral"] = {
            # objective of the need-first (neutral) model: what the co-funding bonus costs it
            "objective": (objective(neutral_model, neutral) - objective(neutral_model, x)) / SCALE,
            "posts_moved": moved,
            "neutral": _money(m, neutral),
        }
    return {
        "kept": [name for name, ok in kept.items() if ok],
        "lost": [name for name, ok in kept.items() if not ok],
        "prices": prices,
    }


def _report(
    m: Model,
    x: tuple[int, ...],
    policy: RoundPolicy,
    monotone_value: int,
    optimum: int | None,
    bound: float | None,
    cert: BackendSolution | None,
    guarantees: dict[str, object] | None = None,
    best: int | None = None,
) -> dict[str, object]:
    """The round's report; ``best`` is the best objective known (at least the greedy's and the
    returned allocation's): the price of monotonicity is ``best`` minus the greedy's."""
    access, distribution, balance = objective_terms(m, x)
    _, dcount = counts(m, x)
    if best is None:
        best = max(v for v in (monotone_value, optimum) if v is not None)
    return {
        "policy": policy_echo(policy),
        "quota": m.quota,
        "effective_quota": m.effective_quota,
        "envelope_remaining": m.envelope_remaining,
        "budget_remaining_eur": None
        if m.budget_remaining_cents is None
        else m.budget_remaining_cents / 100,
        "locked_posts": m.locked_posts,
        "granted_posts": sum(x),
        "limits": list(m.limits),
        "binding": _binding(m, x),
        "binding_constraints": binding_constraints(m, x),
        "laminar": not m.knapsack,
        "money": _money(m, x),
        "cofunding": {
            "priority": policy.cofunding_priority,
            "priority_cap": COFUNDING_PRIORITY_CAP,
            "cofunded_applicants": sum(
                1 for s, c in zip(m.standard_cents, m.cost_cents, strict=True) if s > c
            ),
        },
        "guarantees": guarantees,
        "posts_per_departement": {
            t.code: dcount[d] for d, t in enumerate(m.dept_territories) if dcount[d]
        },
        "fair_shares": None
        if all(v is None for v in m.dept_fair_share)
        else {t.code: m.dept_fair_share[d] for d, t in enumerate(m.dept_territories)},
        "objective_terms": {
            "access": access / SCALE,
            "distribution": distribution / SCALE,
            "balance": balance / SCALE,
        },
        "objective_int": access + distribution + balance,
        "monotone_objective": monotone_value / SCALE,
        "optimum": None if optimum is None else optimum / SCALE,
        "optimum_bound": None if bound is None else bound / SCALE,
        "price_of_monotonicity": (best - monotone_value) / SCALE,
        "certificate": None
        if cert is None
        else {
            "backend": cert.backend,
            "proven_optimal": cert.proven_optimal,
            "objective": None if cert.objective is None else cert.objective / SCALE,
            "parameters": cert.parameters,
        },
        "scale": SCALE,
    }


def _solver_report(
    config: SolverConfig, backend: str, start: float, extra: dict[str, object]
) -> SolverReport:
    parameters: dict[str, object] = {
        "scale": SCALE,
        "quality_floor": QUALITY_FLOOR,
        "requested_backend": config.backend,
        "counterfactual_reruns": config.counterfactual_reruns,
        "float_tolerance": FLOAT_TOLERANCE,
    }
    parameters.update(extra)
    return SolverReport(
        name="OR-Tools",
        version=ORTOOLS_VERSION,
        backend=backend,
        seed=config.seed,
        workers=config.workers,
        time_limit_s=float(config.time_limit_s),
        wall_seconds=time.perf_counter() - start,
        parameters=parameters,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Solved:
    """A checked round's allocation (``outcome``: the greedy run that gave it, ``None`` for a
    MIP solution) with the greedy's, the certificate and the bounds."""

    status: Status
    x: tuple[int, ...]
    value: int
    outcome: GreedyOutcome | None
    monotone_x: tuple[int, ...]
    monotone_value: int
    cert: BackendSolution
    optimum: int | None
    bound: float | None
    gap: float | None


def _decide(m: Model, policy: RoundPolicy, config: SolverConfig) -> _Solved:
    """The allocation of a consistent round: the greedy, certified (laminar) or bounded by a
    MIP (knapsack), or the MIP's solution in mode "optimal" when it is better."""
    outcome: GreedyOutcome | None = greedy(m)
    assert outcome is not None
    monotone_x = outcome.x
    monotone_value = objective(m, monotone_x)
    fp = free_problem(m)
    optimum: int | None
    bound: float | None
    gap: float | None

    if not m.knapsack:
        cert = solve(
            m,
            fp,
            config.backend,
            time_limit_s=config.time_limit_s,
            workers=config.workers,
            seed=config.seed,
            with_budget=False,
        )
        _certify(m, monotone_value, cert)
        status, x, value = Status.OPTIMAL, monotone_x, monotone_value
        optimum, bound, gap = monotone_value, float(monotone_value), 0.0
    else:
        # A binding budget with unequal costs is a knapsack: only a MIP gives the optimum.
        backend = config.backend if config.backend in ("scip", "cp_sat") else "scip"
        cert = solve(
            m,
            fp,
            backend,
            time_limit_s=config.time_limit_s,
            workers=config.workers,
            seed=config.seed,
            with_budget=True,
        )
        if cert.timed_out:
            cert = _timing_free(m, fp, cert)
        optimum = cert.objective if cert.proven_optimal else None
        bound = cert.bound
        best_known = max(monotone_value, cert.objective or monotone_value)
        use_mip = (
            policy.mode == "optimal"
            and cert.x is not None
            and (cert.objective or 0) > monotone_value
        )
        if use_mip:
            assert cert.x is not None and cert.objective is not None
            x, value, outcome = cert.x, cert.objective, None
        else:
            x, value = monotone_x, monotone_value
        if bound is None:
            status, gap = Status.FEASIBLE, None
        else:
            tolerance = 0.0 if cert.exact else FLOAT_TOLERANCE * max(1.0, abs(bound))
            bound = max(bound, float(best_known))
            gap = max(0.0, (bound - value) / max(1.0, abs(bound)))
            proven = cert.proven_optimal and bound - value <= tolerance
            status = Status.OPTIMAL if proven else Status.FEASIBLE
            if proven:
                gap = 0.0
        if (
            cert.objective is not None
            and cert.proven_optimal
            and cert.objective
            < monotone_value
            - (0 if cert.exact else FLOAT_TOLERANCE * max(1.0, abs(monotone_value)))
        ):
            raise InternalError(
                f"{cert.backend} proven optimum {cert.objective} < "
                f"a feasible greedy value {monotone_value}"
            )
        if optimum is not None:
            optimum = max(optimum, monotone_value)

    return _Solved(status, x, value, outcome, monotone_x, monotone_value, cert, optimum, bound, gap)


def _house_monotone(
    round_input: RoundInput, policy: RoundPolicy, config: SolverConfig, m: Model, solved: _Solved
) -> bool:
    """Does raising the quota from ``quota − 1`` to this round's remove no post?

    The greedy is nested: at ``quota − 1`` it stops one grant earlier (a prefix of this run),
    so a greedy allocation keeps the guarantee whenever ``quota − 1`` is also decided by the
    greedy: always in mode "monotone", and without a knapsack (a round that is no knapsack at
    ``quota`` is none at ``quota − 1``). In mode "optimal" on the knapsack path, ``quota − 1``
    may be decided by the MIP: it is solved, and the guarantee kept only if its allocation is
    below this one post by post. A MIP allocation never claims it.
    """
    if solved.outcome is None:
        return False
    if policy.mode == "monotone" or not m.knapsack or round_input.quota == 0:
        return True
    below_input = dataclasses.replace(round_input, quota=round_input.quota - 1)
    below = build_model(below_input, policy)
    if consistency_conflicts(below):
        return True  # no allocation at quota − 1: none to lose
    x_below = _decide(below, policy, config).x
    return all(b <= a for a, b in zip(solved.x, x_below, strict=True))


# --------------------------------------------------------------------------------------------
# allocate
# --------------------------------------------------------------------------------------------
def allocate(
    round_input: RoundInput,
    policy: RoundPolicy = RoundPolicy(),
    config: SolverConfig = SolverConfig(),
) -> AllocationResult:
    """Allocate a round's posts: greedy on the laminar concave model, certified by OR-Tools.

    Parameters
    ----------
    round_input
        Applicants, territories, quota and consumption of the programme.
    policy
        Rules and weights (echoed in ``result.report["policy"]``).
    config
        Certification backend, limits, seed, workers.

    Returns
    -------
    AllocationResult
        OPTIMAL (greedy = proven optimum), FEASIBLE (with gap: a binding budget with unequal costs,
        or a time limit) or INFEASIBLE (locks contradict the rules; ``conflicts`` names them).

    Raises
    ------
    InvalidInput
        A malformed input (field, value and rule in the message).
    SolverFailure
        A backend returned an error status.
    InternalError
        The certificate or the validator contradicts the greedy (a modelling bug).
    """
    start = time.perf_counter()
    check_input(round_input, policy, config)
    digest = hashlib.sha256(canonical_input(round_input, policy, config)).hexdigest()
    m = build_model(round_input, policy)

    conflicts = consistency_conflicts(m)
    if conflicts:
        return AllocationResult(
            status=Status.INFEASIBLE,
            decisions=(),
            objective=None,
            best_bound=None,
            gap=None,
            solver=_solver_report(config, "consistency_check", start, {}),
            input_sha256=digest,
            conflicts=tuple(conflicts),
            report={
                "policy": policy_echo(policy),
                "quota": m.quota,
                "effective_quota": m.effective_quota,
            },
        )

    solved = _decide(m, policy, config)
    status, x, value, outcome = solved.status, solved.x, solved.value, solved.outcome
    monotone_x, monotone_value = solved.monotone_x, solved.monotone_value
    optimum, bound, gap, cert = solved.optimum, solved.bound, solved.gap, solved.cert

    # The best objective known: the proven optimum, the allocation returned, or the MIP's
    # incumbent at its node limit (deterministic; one cut by the wall clock is dropped).
    best = max(v for v in (monotone_value, value, optimum, cert.objective) if v is not None)
    explanations = explain(m, x, outcome, config)
    decisions = tuple(
        Decision(
            id_pg=m.ids[i],
            granted=x[i],
            total=m.applicants[i].already_granted + x[i],
            explanation=e,
        )
        for i, e in enumerate(explanations)
    )
    neutral_model: Model | None = None
    neutral: tuple[int, ...] | None = None
    if any(f != 1.0 for f in m.cofunding):
        # What the co-funding bonus changes: the need-first priority list of the same round.
        neutral_model = build_model(
            round_input, dataclasses.replace(policy, cofunding_priority="neutre")
        )
        neutral = greedy(neutral_model).x
    guarantees = _guarantees(
        m,
        x,
        monotone_x,
        from_greedy=outcome is not None,
        house_monotone=_house_monotone(round_input, policy, config, m, solved),
        optimal=status is Status.OPTIMAL,
        monotone_value=monotone_value,
        best=best,
        cert=cert,
        neutral=neutral,
        neutral_model=neutral_model,
    )
    report = _report(m, x, policy, monotone_value, optimum, bound, cert, guarantees, best)
    result = AllocationResult(
        status=status,
        decisions=decisions,
        objective=value / SCALE,
        best_bound=None if bound is None else bound / SCALE,
        gap=gap,
        solver=_solver_report(
            config,
            cert.backend,
            start,
            dict(cert.parameters),
        ),
        input_sha256=digest,
        report=report,
    )
    violations = check_feasible(round_input, policy, result)
    if violations:
        raise InternalError(
            "allocation breaks the rules: " + "; ".join(v.message for v in violations)
        )
    return result
