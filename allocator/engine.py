"""``allocate``: consistency check → model → greedy → certificate → explanations → validation.

Determinism: applicants are sorted by ``id_pg`` and territories by code before anything is
built; ties are broken by the published order of ``allocator.model``; backends are used only to
*certify* (compare objective values) except in mode "optimal" off the laminar structure. The
result depends on neither the order of the input nor the number of workers, apart from
``SolverReport.wall_seconds`` / ``workers``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time

from allocator.canonical import canonical_input, policy_echo
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
    QUALITY_FLOOR,
    SCALE,
    FreeProblem,
    Model,
    build_model,
    free_problem,
    objective,
)
from allocator.report import binding_constraints, guarantees, infeasible_report, round_report
from allocator.results import RoundReport
from allocator.solve import FLOAT_TOLERANCE, ORTOOLS_VERSION, BackendSolution, solve, solve_flow
from allocator.validate import check_feasible

__all__ = ["allocate", "binding_constraints", "canonical_input", "policy_echo"]


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
    outcome = greedy(m)
    monotone_value = objective(m, outcome.x)
    fp = free_problem(m)
    if not m.knapsack:
        return _certified_greedy(m, fp, config, outcome, monotone_value)
    return _knapsack(m, fp, policy, config, outcome, monotone_value)


def _certified_greedy(
    m: Model, fp: FreeProblem, config: SolverConfig, outcome: GreedyOutcome, value: int
) -> _Solved:
    """The laminar path: the greedy is optimal, a backend proves it (anything else is a bug)."""
    cert = solve(
        m,
        fp,
        config.backend,
        time_limit_s=config.time_limit_s,
        workers=config.workers,
        seed=config.seed,
        with_budget=False,
    )
    _certify(m, value, cert)
    x = outcome.x
    return _Solved(Status.OPTIMAL, x, value, outcome, x, value, cert, value, float(value), 0.0)


def _knapsack(
    m: Model,
    fp: FreeProblem,
    policy: RoundPolicy,
    config: SolverConfig,
    outcome: GreedyOutcome,
    monotone_value: int,
) -> _Solved:
    """A binding budget with unequal costs is a knapsack: only a MIP gives the optimum. It
    bounds the greedy, or replaces it in mode "optimal" when its solution is better."""
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
    monotone_x = outcome.x
    optimum = cert.objective if cert.proven_optimal else None
    bound = cert.bound
    best_known = max(monotone_value, cert.objective or monotone_value)
    use_mip = (
        policy.mode == "optimal" and cert.x is not None and (cert.objective or 0) > monotone_value
    )
    chosen: GreedyOutcome | None = outcome
    if use_mip:
        assert cert.x is not None and cert.objective is not None
        x, value, chosen = cert.x, cert.objective, None
    else:
        x, value = monotone_x, monotone_value
    gap: float | None
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
    _check_mip_not_below_greedy(cert, monotone_value)
    if optimum is not None:
        optimum = max(optimum, monotone_value)
    return _Solved(status, x, value, chosen, monotone_x, monotone_value, cert, optimum, bound, gap)


def _check_mip_not_below_greedy(cert: BackendSolution, monotone_value: int) -> None:
    """A proven MIP optimum below a feasible greedy value is a bug."""
    if (
        cert.objective is not None
        and cert.proven_optimal
        and cert.objective
        < monotone_value - (0 if cert.exact else FLOAT_TOLERANCE * max(1.0, abs(monotone_value)))
    ):
        raise InternalError(
            f"{cert.backend} proven optimum {cert.objective} < "
            f"a feasible greedy value {monotone_value}"
        )


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
        Rules and weights (echoed in ``result.report.policy``).
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
            report=infeasible_report(m, policy),
        )
    solved = _decide(m, policy, config)
    decisions = _decisions(m, solved, config)
    report = _solved_report(round_input, policy, config, m, solved)
    result = AllocationResult(
        status=solved.status,
        decisions=decisions,
        objective=solved.value / SCALE,
        best_bound=None if solved.bound is None else solved.bound / SCALE,
        gap=solved.gap,
        solver=_solver_report(config, solved.cert.backend, start, dict(solved.cert.parameters)),
        input_sha256=digest,
        report=report,
    )
    violations = check_feasible(round_input, policy, result)
    if violations:
        raise InternalError(
            "allocation breaks the rules: " + "; ".join(v.message for v in violations)
        )
    return result


def _decisions(m: Model, solved: _Solved, config: SolverConfig) -> tuple[Decision, ...]:
    """One decision per applicant (ascending ``id_pg``), with its explanation."""
    x = solved.x
    explanations = explain(m, x, solved.outcome, config)
    return tuple(
        Decision(
            id_pg=m.ids[i],
            granted=x[i],
            total=m.applicants[i].already_granted + x[i],
            explanation=e,
        )
        for i, e in enumerate(explanations)
    )


def _neutral_ranking(
    round_input: RoundInput, policy: RoundPolicy, m: Model
) -> tuple[Model | None, tuple[int, ...] | None]:
    """What the co-funding bonus changes: the need-first priority list of the same round
    (``(None, None)`` when no applicant gets a bonus)."""
    if all(f == 1.0 for f in m.cofunding):
        return None, None
    neutral_model = build_model(
        round_input, dataclasses.replace(policy, cofunding_priority="neutre")
    )
    return neutral_model, greedy(neutral_model).x


def _solved_report(
    round_input: RoundInput, policy: RoundPolicy, config: SolverConfig, m: Model, solved: _Solved
) -> RoundReport:
    """The report of a round with an allocation, its guarantees priced."""
    cert = solved.cert
    # The best objective known: the proven optimum, the allocation returned, or the MIP's
    # incumbent at its node limit (deterministic; one cut by the wall clock is dropped).
    best = max(
        v
        for v in (solved.monotone_value, solved.value, solved.optimum, cert.objective)
        if v is not None
    )
    neutral_model, neutral = _neutral_ranking(round_input, policy, m)
    kept = guarantees(
        m,
        solved.x,
        solved.monotone_x,
        from_greedy=solved.outcome is not None,
        house_monotone=_house_monotone(round_input, policy, config, m, solved),
        optimal=solved.status is Status.OPTIMAL,
        monotone_value=solved.monotone_value,
        best=best,
        cert=cert,
        neutral=neutral,
        neutral_model=neutral_model,
    )
    return round_report(
        m, solved.x, policy, solved.monotone_value, solved.optimum, solved.bound, cert, kept, best
    )
