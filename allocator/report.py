"""The round's report (``AllocationResult.report``): limits, binding rules, money, guarantees.

Built from the model and the allocation; typed in ``allocator.results``.
"""

from __future__ import annotations

from allocator.domain import RoundPolicy
from allocator.model import COFUNDING_PRIORITY_CAP, SCALE, Model, counts, objective, objective_terms
from allocator.results import (
    Binding,
    Certificate,
    CofundingSummary,
    Guarantees,
    Money,
    ObjectiveTerms,
    PriceOfCofunding,
    PriceOfMonotonicity,
    RoundReport,
)
from allocator.solve import BackendSolution


def binding(m: Model, x: tuple[int, ...]) -> Binding:
    """Which totals ``x`` reaches (see :class:`allocator.results.Binding`)."""
    total = sum(x)
    spent = sum(c * v for c, v in zip(m.cost_cents, x, strict=True))
    _, dcount = counts(m, x)
    remaining = None if m.budget_remaining_cents is None else m.budget_remaining_cents - spent
    return Binding(
        quota=total >= m.quota,
        envelope=total >= m.envelope_remaining,
        budget=remaining is not None
        and any(
            m.lock[i] is None and x[i] < m.upper[i] and m.cost_cents[i] > remaining
            for i in range(m.n)
        ),
        departement_caps=tuple(
            m.dept_territories[d].code
            for d, cap in enumerate(m.dept_cap)
            if cap is not None and dcount[d] >= cap
        ),
    )


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


def money(m: Model, x: tuple[int, ...] | None) -> Money | None:
    """The posts of ``x`` and their cost (``None`` for no allocation)."""
    if x is None:
        return None
    state = sum(c * v for c, v in zip(m.cost_cents, x, strict=True))
    standard = sum(c * v for c, v in zip(m.standard_cents, x, strict=True))
    return Money(
        posts=sum(x),
        state_cost_eur=state / 100,
        standard_cost_eur=standard / 100,
        cofunding_eur=(standard - state) / 100,
    )


def guarantees(
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
) -> Guarantees:
    """The engine's guarantees kept and lost by this round, with the price of each lost one.

    ``optimal`` — the allocation maximises ``F`` under every rule (proven);
    ``house_monotone`` — raising the quota to this round's from one less removes no post
    (nested greedy; checked at ``quota − 1`` by ``allocator.engine``);
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
    price_monotone = None
    gap_value = (best - monotone_value) / SCALE
    if not kept["optimal"] or not kept["house_monotone"]:
        price_monotone = PriceOfMonotonicity(
            objective=gap_value,
            relative=gap_value / max(1e-12, best / SCALE) if best else 0.0,
            monotone=money(m, monotone_x),
            optimum=money(m, None if cert is None else cert.x),
        )
    price_cofunding = None
    if not kept["cofunding_neutral"] and neutral is not None and neutral_model is not None:
        price_cofunding = PriceOfCofunding(
            # objective of the need-first (neutral) model: what the co-funding bonus costs it
            objective=(objective(neutral_model, neutral) - objective(neutral_model, x)) / SCALE,
            posts_moved=sum(abs(a - b) for a, b in zip(x, neutral, strict=True)) // 2,
            neutral=money(m, neutral),
        )
    return Guarantees(
        kept=tuple(name for name, ok in kept.items() if ok),
        lost=tuple(name for name, ok in kept.items() if not ok),
        optimal_vs_monotone=price_monotone,
        cofunding_neutral=price_cofunding,
    )


def _certificate(cert: BackendSolution | None) -> Certificate | None:
    if cert is None:
        return None
    return Certificate(
        backend=cert.backend,
        proven_optimal=cert.proven_optimal,
        objective=None if cert.objective is None else cert.objective / SCALE,
        parameters=cert.parameters,
    )


def round_report(
    m: Model,
    x: tuple[int, ...],
    policy: RoundPolicy,
    monotone_value: int,
    optimum: int | None,
    bound: float | None,
    cert: BackendSolution | None,
    guarantees: Guarantees | None = None,
    best: int | None = None,
) -> RoundReport:
    """The round's report; ``best`` is the best objective known (at least the greedy's and the
    returned allocation's): the price of monotonicity is ``best`` minus the greedy's."""
    access, distribution, balance = objective_terms(m, x)
    _, dcount = counts(m, x)
    if best is None:
        best = max(v for v in (monotone_value, optimum) if v is not None)
    return RoundReport(
        policy=policy,
        quota=m.quota,
        effective_quota=m.effective_quota,
        envelope_remaining=m.envelope_remaining,
        budget_remaining_eur=None
        if m.budget_remaining_cents is None
        else m.budget_remaining_cents / 100,
        locked_posts=m.locked_posts,
        granted_posts=sum(x),
        limits=m.limits,
        binding=binding(m, x),
        binding_constraints=tuple(binding_constraints(m, x)),
        laminar=not m.knapsack,
        money=money(m, x),
        cofunding=CofundingSummary(
            priority=policy.cofunding_priority,
            priority_cap=COFUNDING_PRIORITY_CAP,
            cofunded_applicants=sum(
                1 for s, c in zip(m.standard_cents, m.cost_cents, strict=True) if s > c
            ),
        ),
        guarantees=guarantees,
        posts_per_departement={
            t.code: dcount[d] for d, t in enumerate(m.dept_territories) if dcount[d]
        },
        fair_shares=None
        if all(v is None for v in m.dept_fair_share)
        else {t.code: m.dept_fair_share[d] for d, t in enumerate(m.dept_territories)},
        objective_terms=ObjectiveTerms(
            access=access / SCALE, distribution=distribution / SCALE, balance=balance / SCALE
        ),
        objective_int=access + distribution + balance,
        monotone_objective=monotone_value / SCALE,
        optimum=None if optimum is None else optimum / SCALE,
        optimum_bound=None if bound is None else bound / SCALE,
        price_of_monotonicity=(best - monotone_value) / SCALE,
        certificate=_certificate(cert),
        scale=SCALE,
    )


def infeasible_report(m: Model, policy: RoundPolicy) -> RoundReport:
    """The report of an INFEASIBLE round: the policy and the quotas, no allocation."""
    return RoundReport(policy=policy, quota=m.quota, effective_quota=m.effective_quota)
