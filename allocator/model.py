r"""The allocation model: consistency check → bounds → greedy → objective.

Formulation
-----------
**Sets.**
``I`` applicants (keyed by ``id_pg``); ``D`` départements (``RoundInput.departements``); ``E``
EPCI-parts, i.e. the part of an EPCI inside one département (``Territory.code`` =
``"DEPT:SIREN"``, from ``RoundInput.epcis``). ``I_e`` / ``I_d`` are the applicants of EPCI-part
``e`` / département ``d``; an applicant whose ``epci`` is ``None`` (types DEPARTEMENT, REGION)
belongs to its département but to no EPCI-part. The family {i} ⊂ e ⊂ d ⊂ nation is *laminar*.

**Parameters.**
``r_i = max(0, requested_i − already_granted_i)`` remaining request; ``g_i[k]`` (k < r_i) the
fragile inhabitants gaining access with the applicant's k-th post of the round (non-increasing);
``q_i = max(quality_i, QUALITY_FLOOR) / 100``, times ``policy.prefet_penalty`` when the préfet's
opinion is NÉGATIF and ``policy.prefet_negatif == "penaliser"``; ``need_t`` and ``H_t``
(``Territory.existing``) for t ∈ D ∪ E; ``c_i`` the State's cost of one post in euros (the
standard cost ``s_i`` of the host's type and territory minus its co-funding, ``0 ≤ c_i ≤ s_i``);
``φ_i`` the co-funding factor (``cofunding_factor``: 1 under ``cofunding_priority == "neutre"``,
``min(COFUNDING_PRIORITY_CAP, s_i / c_i)`` under "prioritaire"); ``L_i`` a lock.
Weights ``w_a, w_e, w_d`` = ``policy.weight_access / weight_distribution / weight_balance``.

**Variables.** ``x_i ∈ ℤ``, the posts granted to ``i`` by this round; ``X_e = Σ_{i∈I_e} x_i``,
``X_d = Σ_{i∈I_d} x_i``.

**Bounds** (one function per rule family below): ``0 ≤ x_i ≤ u_i`` with ``u_i = r_i`` (request),
lowered to ``max(0, cap − already_granted_i)`` by ``policy.max_posts_per_structure`` (structure
cap),
and set to 0 when ineligible (type not in ``eligible_types``; ``quality < min_quality``; préfet
NÉGATIF under ``"exclure"`` — a missing opinion is neutral). A lock sets ``x_i = L_i``.

**Constraints.**
(C1) ``Σ_i x_i ≤ quota``; (C2) ``Σ_i x_i ≤ national_envelope − programme_consumed``;
(C3) ``Σ_i c_i x_i ≤ budget_eur − budget_consumed_eur`` when a budget is set;
(C4) ``X_d ≤ max(0, fair_share_d − H_d)`` for every d when ``departement_cap == "part_equitable"``.

**Objective.** Maximise

.. math::

    F(x) = \sum_i h_i(x_i) + \sum_e G_e(X_e) + \sum_d G_d(X_d),\quad
    h_i(a) = \sum_{k<a} w_a q_i \varphi_i g_i[k],\quad
    G_t(a) = w_t\,need_t \sum_{k<a} \frac{1}{H_t + k + 1/2}

(access, distribution within the département, balance between départements: the latter is the
Sainte-Laguë priority on what the territory will hold). Every term is concave in a group sum of a
laminar family, so ``F`` is M♮-concave and, without (C3) or with equal costs, the greedy below is
optimal, nested (house-monotone) and explainable as a priority list.

**Co-funding.** A host's co-funding lowers ``c_i``, which only matters through (C3). Under
"neutre" (the default) ``φ_i = 1``: the ranking is need first, and when only the quota (or the
envelope) binds the allocation is exactly the one without any co-funding. Under "prioritaire"
``φ_i`` scales the applicant's *own* access term by the share of the standard cost the State
saves (capped: a fully co-funded post counts ``COFUNDING_PRIORITY_CAP`` times, not infinitely).
``h_i`` stays concave and the group terms are untouched, so the structure stays laminar and every
guarantee above holds — for an objective that now favours hosts able to pay.

**Integers.** All marginal gains are quantised once, ``round(value × SCALE)`` as Python ints
(``access_marginals``, ``group_marginal``); rounding is monotone, so concavity survives; the greedy,
the certificate (``allocator.solve``) and the explanations all use these same integers, hence ties
are exact and results byte-deterministic. ``F`` in the result is ``F_int / SCALE``.

**Greedy.** Start from the locks; repeatedly grant the post of largest marginal gain
``h_i'(x_i) + G_e'(X_e) + G_d'(X_d)``; ties by the filing instant ``created_at`` (the earlier
first, ISO-8601 times compared as instants with their UTC offsets; a time without offset is
read as UTC; no ``created_at`` ranks last, see ``filing_key``), then ``id_pg``, then ``k``. A
post whose cost exceeds the remaining budget is skipped (and, since the budget only shrinks, so
is every later post of that applicant). Hierarchical heaps (per
EPCI-part, per département, national) give ``O(log n)`` per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from allocator.domain import Applicant, RoundInput, RoundPolicy, Territory
from allocator.inputs import (
    BACKENDS,
    COFUNDING_RULES,
    DEPARTEMENT_CAP_RULES,
    MODES,
    PREFET_RULES,
    check_input,
)
from allocator.rules import (
    COFUNDING_PRIORITY_CAP,
    MAX_COEFFICIENT,
    MISSING_FILING_KEY,
    QUALITY_FLOOR,
    SCALE,
    access_coefficient,
    access_marginals,
    budget_rule,
    cofunding_factor,
    departement_cap_bound,
    eligibility_motifs,
    fair_shares,
    filing_key,
    group_marginal,
    lock_bound,
    quality_factor,
    request_bound,
    structure_cap_bound,
)

__all__ = [
    # the rules and the checks, re-exported: the formulation names them all
    "BACKENDS",
    "COFUNDING_PRIORITY_CAP",
    "COFUNDING_RULES",
    "DEPARTEMENT_CAP_RULES",
    "MAX_COEFFICIENT",
    "MISSING_FILING_KEY",
    "MODES",
    "PREFET_RULES",
    "QUALITY_FLOOR",
    "SCALE",
    "FreeProblem",
    "Model",
    "access_coefficient",
    "access_marginals",
    "budget_rule",
    "build_model",
    "check_input",
    "cofunding_factor",
    "counts",
    "departement_cap_bound",
    "eligibility_motifs",
    "fair_shares",
    "filing_key",
    "free_problem",
    "group_marginal",
    "lock_bound",
    "lock_counts",
    "objective",
    "objective_terms",
    "quality_factor",
    "request_bound",
    "structure_cap_bound",
]


# --------------------------------------------------------------------------------------------
# The model: plain lists indexed by applicant / EPCI-part / département (ascending keys)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Model:
    """Everything the greedy, the backends and the explanations read (built by ``build_model``).

    Applicants are indexed in ascending ``id_pg``; départements and EPCI-parts in ascending code.
    Applicants without EPCI each get a *virtual* group of zero weight (``group_is_epci`` False) so
    that the three-level structure stays uniform.
    """

    policy: RoundPolicy
    applicants: tuple[Applicant, ...]
    ids: tuple[int, ...]
    app_dept: tuple[int, ...]
    app_group: tuple[int, ...]
    remaining: tuple[int, ...]  # r_i
    cap_upper: tuple[int, ...]  # r_i lowered by the structure cap (eligibility ignored)
    upper: tuple[int, ...]  # u_i
    ineligible: tuple[tuple[str, ...], ...]
    lock: tuple[int | None, ...]
    access_coef: tuple[float, ...]
    hq: tuple[tuple[int, ...], ...]  # h_i'(k) for k < r_i
    cost_cents: tuple[int, ...]  # c_i, the State's cost (net of co-funding)
    standard_cents: tuple[int, ...]  # s_i, the standard cost before co-funding
    cofunding: tuple[float, ...]  # φ_i
    created: tuple[str, ...]  # filing_key(created_at): the tie-break key
    dept_territories: tuple[Territory, ...]
    dept_coef: tuple[float, ...]
    dept_cap: tuple[int | None, ...]
    dept_fair_share: tuple[int | None, ...]
    group_codes: tuple[str, ...]
    group_territories: tuple[Territory | None, ...]
    group_dept: tuple[int, ...]
    group_coef: tuple[float, ...]
    group_existing: tuple[int, ...]
    group_is_epci: tuple[bool, ...]
    quota: int
    envelope_remaining: int
    programme_consumed: int
    budget_remaining_cents: int | None
    effective_quota: int  # min(quota, envelope remaining)
    locked_posts: int
    free_quota: int  # posts the greedy may still grant after the locks (budget folded in)
    budget_free_cents: int | None  # budget left after the locks
    limits: tuple[str, ...]  # which of quota / envelope / budget sets free_quota (ties: all)
    knapsack: bool  # a binding budget with unequal costs: the laminar structure is lost

    @property
    def n(self) -> int:
        return len(self.ids)

    def dept_marginal(self, d: int, count: int) -> int:
        return group_marginal(self.dept_coef[d], self.dept_territories[d].existing, count)

    def epci_marginal(self, g: int, count: int) -> int:
        return group_marginal(self.group_coef[g], self.group_existing[g], count)


def _cents(eur: float) -> int:
    return round(eur * 100)


class _Groups(NamedTuple):
    """The EPCI-parts (and virtual groups) of a round: each applicant's key, the sorted codes and
    their territories (``None`` for a virtual group)."""

    keys: tuple[str, ...]
    codes: tuple[str, ...]
    territories: tuple[Territory | None, ...]


def _groups(applicants: tuple[Applicant, ...], round_input: RoundInput) -> _Groups:
    """Group every applicant in its EPCI-part; one without EPCI gets a virtual group of its own."""
    epcis = {t.code: t for t in round_input.epcis}
    # Virtual groups are keyed "DEPT:#id_pg" so they sort after no real SIREN collides.
    keys = tuple(
        f"{a.departement}:{a.epci}" if a.epci is not None else f"{a.departement}:#{a.id_pg}"
        for a in applicants
    )
    codes = tuple(sorted(set(keys)))
    return _Groups(keys, codes, tuple(epcis.get(code) for code in codes))


class _Bounds(NamedTuple):
    remaining: tuple[int, ...]
    cap_upper: tuple[int, ...]
    upper: tuple[int, ...]
    ineligible: tuple[tuple[str, ...], ...]
    lock: tuple[int | None, ...]


def _bounds(applicants: tuple[Applicant, ...], policy: RoundPolicy) -> _Bounds:
    """``u_i`` from the request, the structure cap and eligibility; the locks ``L_i``."""
    remaining = tuple(request_bound(a) for a in applicants)
    cap_upper = []
    for a, r in zip(applicants, remaining, strict=True):
        cap = structure_cap_bound(a, policy)
        cap_upper.append(r if cap is None else min(r, cap))
    ineligible = tuple(eligibility_motifs(a, policy) for a in applicants)
    upper = tuple(0 if bad else c for bad, c in zip(ineligible, cap_upper, strict=True))
    lock = tuple(lock_bound(a) for a in applicants)
    return _Bounds(remaining, tuple(cap_upper), upper, ineligible, lock)


class _Coefficients(NamedTuple):
    cofunding: tuple[float, ...]
    access_coef: tuple[float, ...]
    hq: tuple[tuple[int, ...], ...]
    cost_cents: tuple[int, ...]
    standard_cents: tuple[int, ...]


def _coefficients(applicants: tuple[Applicant, ...], policy: RoundPolicy) -> _Coefficients:
    """``φ_i``, the quantised access marginals ``h_i'`` and the costs ``c_i``, ``s_i`` (cents)."""
    cofunding = tuple(cofunding_factor(a, policy) for a in applicants)
    access_coef = tuple(
        access_coefficient(a.quality, a.avis_prefet, policy, f)
        for a, f in zip(applicants, cofunding, strict=True)
    )
    hq = tuple(
        tuple(access_marginals(c, a.gains)) for c, a in zip(access_coef, applicants, strict=True)
    )
    cost_cents = tuple(_cents(a.cost_eur) for a in applicants)
    standard_cents = tuple(
        c if a.standard_cost_eur is None else _cents(a.standard_cost_eur)
        for a, c in zip(applicants, cost_cents, strict=True)
    )
    return _Coefficients(cofunding, access_coef, hq, cost_cents, standard_cents)


class _Limits(NamedTuple):
    envelope_remaining: int
    budget_remaining: int | None
    effective: int
    locked_posts: int
    budget_free: int | None
    free_quota: int
    limits: tuple[str, ...]
    knapsack: bool


def _limits(
    round_input: RoundInput, policy: RoundPolicy, bounds: _Bounds, cost_cents: tuple[int, ...]
) -> _Limits:
    """(C1)-(C3) after the locks: the posts the greedy may still grant and what sets that number."""
    quota = round_input.quota
    lock = bounds.lock
    envelope_remaining = max(0, policy.national_envelope - round_input.programme_consumed)
    budget_remaining = (
        None
        if policy.budget_eur is None
        else _cents(policy.budget_eur) - _cents(round_input.budget_consumed_eur)
    )
    effective = min(quota, envelope_remaining)
    locked_posts = sum(v for v in lock if v is not None)
    budget_free = (
        None
        if budget_remaining is None
        else budget_remaining - sum(c * v for c, v in zip(cost_cents, lock, strict=True) if v)
    )
    candidates = {"quota": quota - locked_posts, "envelope": envelope_remaining - locked_posts}
    budget_posts, knapsack = budget_rule(
        [(c, u) for c, u, v in zip(cost_cents, bounds.upper, lock, strict=True) if v is None],
        budget_free,
        max(0, effective - locked_posts),
    )
    if budget_posts is not None:
        candidates["budget"] = budget_posts
    free_quota = min(candidates.values())
    limits = tuple(name for name, value in candidates.items() if value == free_quota)
    return _Limits(
        envelope_remaining,
        budget_remaining,
        effective,
        locked_posts,
        budget_free,
        free_quota,
        limits,
        knapsack,
    )


def build_model(round_input: RoundInput, policy: RoundPolicy) -> Model:
    """Build the bounds and quantised coefficients of a checked round (see module docstring)."""
    applicants = tuple(sorted(round_input.applicants, key=lambda a: a.id_pg))
    depts = tuple(sorted(round_input.departements, key=lambda t: t.code))
    dept_index = {t.code: d for d, t in enumerate(depts)}
    shares = fair_shares(round_input, policy)
    groups = _groups(applicants, round_input)
    group_index = {code: g for g, code in enumerate(groups.codes)}
    bounds = _bounds(applicants, policy)
    coefs = _coefficients(applicants, policy)
    lim = _limits(round_input, policy, bounds, coefs.cost_cents)
    return Model(
        policy=policy,
        applicants=applicants,
        ids=tuple(a.id_pg for a in applicants),
        app_dept=tuple(dept_index[a.departement] for a in applicants),
        app_group=tuple(group_index[k] for k in groups.keys),
        remaining=bounds.remaining,
        cap_upper=bounds.cap_upper,
        upper=bounds.upper,
        ineligible=bounds.ineligible,
        lock=bounds.lock,
        access_coef=coefs.access_coef,
        hq=coefs.hq,
        cost_cents=coefs.cost_cents,
        standard_cents=coefs.standard_cents,
        cofunding=coefs.cofunding,
        created=tuple(filing_key(a.created_at) for a in applicants),
        dept_territories=depts,
        dept_coef=tuple(policy.weight_balance * t.need * SCALE for t in depts),
        dept_cap=tuple(
            departement_cap_bound(t, None if shares is None else shares[t.code], policy)
            for t in depts
        ),
        dept_fair_share=tuple(None if shares is None else shares[t.code] for t in depts),
        group_codes=groups.codes,
        group_territories=groups.territories,
        group_dept=tuple(dept_index[code.partition(":")[0]] for code in groups.codes),
        group_coef=tuple(
            0.0 if t is None else policy.weight_distribution * t.need * SCALE
            for t in groups.territories
        ),
        group_existing=tuple(0 if t is None else t.existing for t in groups.territories),
        group_is_epci=tuple(t is not None for t in groups.territories),
        quota=round_input.quota,
        envelope_remaining=lim.envelope_remaining,
        programme_consumed=round_input.programme_consumed,
        budget_remaining_cents=lim.budget_remaining,
        effective_quota=lim.effective,
        locked_posts=lim.locked_posts,
        free_quota=lim.free_quota,
        budget_free_cents=lim.budget_free,
        limits=lim.limits,
        knapsack=lim.knapsack,
    )


def counts(m: Model, x: tuple[int, ...] | list[int]) -> tuple[list[int], list[int]]:
    """Posts of the round per EPCI-part (incl. virtual groups) and per département."""
    gcount = [0] * len(m.group_codes)
    dcount = [0] * len(m.dept_territories)
    for i, v in enumerate(x):
        if v:
            gcount[m.app_group[i]] += v
            dcount[m.app_dept[i]] += v
    return gcount, dcount


def objective_terms(m: Model, x: tuple[int, ...] | list[int]) -> tuple[int, int, int]:
    """Exact integer ``(access, distribution, balance)`` terms of ``F_int(x)``."""
    access = sum(sum(m.hq[i][:v]) for i, v in enumerate(x) if v)
    gcount, dcount = counts(m, x)
    distribution = sum(
        m.epci_marginal(g, k) for g, c in enumerate(gcount) if m.group_is_epci[g] for k in range(c)
    )
    balance = sum(m.dept_marginal(d, k) for d, c in enumerate(dcount) for k in range(c))
    return access, distribution, balance


def objective(m: Model, x: tuple[int, ...] | list[int]) -> int:
    """Exact integer objective ``F_int(x)`` (``F = F_int / SCALE``)."""
    return sum(objective_terms(m, x))


def lock_counts(m: Model) -> tuple[list[int], list[int]]:
    """Posts per EPCI-part and per département from the locks alone."""
    gcount = [0] * len(m.group_codes)
    dcount = [0] * len(m.dept_territories)
    for i, v in enumerate(m.lock):
        if v:
            gcount[m.app_group[i]] += v
            dcount[m.app_dept[i]] += v
    return gcount, dcount


# --------------------------------------------------------------------------------------------
# The free part of the model, as handed to the OR-Tools backends
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FreeProblem:
    """The model once the locks are fixed: profits per unit, from the locks' counts on.

    ``app_profits[j]`` are the marginal gains of free applicant ``apps[j]`` (at most ``quota``
    units); ``group_profits[g]`` / ``dept_profits[d]`` the marginal gains of the next units of
    EPCI-part / département (the département list is cut at its cap). ``constant`` is
    ``F_int`` of the locks alone.
    """

    apps: tuple[int, ...]
    app_profits: tuple[tuple[int, ...], ...]
    group_profits: tuple[tuple[int, ...], ...]
    dept_profits: tuple[tuple[int, ...], ...]
    quota: int
    budget_cents: int | None
    constant: int


def free_problem(m: Model) -> FreeProblem:
    """Extract the free part of ``m`` (same integer coefficients as the greedy)."""
    quota = max(0, m.free_quota)
    gcount, dcount = lock_counts(m)
    apps = tuple(i for i in range(m.n) if m.lock[i] is None and m.upper[i] > 0)
    app_profits = tuple(m.hq[i][: min(m.upper[i], quota)] for i in apps)
    g_room = [0] * len(m.group_codes)
    d_room = [0] * len(m.dept_territories)
    for i in apps:
        g_room[m.app_group[i]] += m.upper[i]
        d_room[m.app_dept[i]] += m.upper[i]
    group_profits = tuple(
        tuple(m.epci_marginal(g, gcount[g] + k) for k in range(min(room, quota)))
        for g, room in enumerate(g_room)
    )
    dept_profits = []
    for d, room in enumerate(d_room):
        cap = m.dept_cap[d]
        length = min(room, quota) if cap is None else min(room, quota, max(0, cap - dcount[d]))
        dept_profits.append(tuple(m.dept_marginal(d, dcount[d] + k) for k in range(length)))
    return FreeProblem(
        apps=apps,
        app_profits=app_profits,
        group_profits=group_profits,
        dept_profits=tuple(dept_profits),
        quota=quota,
        budget_cents=m.budget_free_cents,
        constant=objective(m, [v or 0 for v in m.lock]),
    )
