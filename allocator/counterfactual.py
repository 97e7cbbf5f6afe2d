"""Counterfactuals verified by the greedy itself: would another score give one more post?

:func:`override_gives_more` answers "does an overridden greedy give an applicant one more
post?" from the base run's trace when it can; :func:`rerun_gives_more` re-runs the greedy
otherwise. On top of them: the verification of the closed-form scores of the laminar model
(:func:`verified_score`, ties included) and the bounded search off it (:func:`knapsack_scores`).
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass

from allocator.domain import SolverConfig
from allocator.errors import InternalError
from allocator.exchange import SCORE_GRID, Move, priority_at
from allocator.greedy import GreedyOutcome, greedy, greedy_from
from allocator.model import (
    Model,
    access_coefficient,
    access_marginals,
    budget_rule,
    group_marginal,
    lock_counts,
)


def override_gives_more(
    m: Model,
    base: GreedyOutcome,
    override: tuple[int, tuple[int, ...], int],
    current: int,
) -> bool | None:
    """Does ``greedy(m, override)`` give applicant ``i0`` more than ``current`` posts? Without
    re-running it when the answer follows from the base run; ``None`` when it does not.

    The greedy grants, at each step, the lexicographically smallest key
    ``(−(h_i[x_i] + G_g(count_g) + G_d(count_d)), created_i, id_i, x_i)`` over the posts still
    open (a post of a group or département enters its heap with the marginal common to all its
    members, so the three heap levels order posts exactly like this key). When the override only
    raises ``i0``'s coefficients (``h'_i0 ≥ h_i0`` term by term) and does not lower its bound, the
    overridden run takes the base run's step as long as that step's key is smaller than ``i0``'s
    own next key: both runs coincide up to the first step ``t*`` where ``i0``'s key is smaller
    (the divergence), and at ``t*`` the overridden run grants ``i0`` its post ``x_i0(t*) + 1``.
    Grants are never withdrawn, so when ``x_i0(t*) = current`` the answer is *yes*; when no
    divergence happens before the quota is spent the answer is *no*; otherwise (an earlier post
    of ``i0`` pulled forward) the overridden run is continued from the state at ``t*`` instead
    of from the locks. A budget (skipped posts are not in the trace), the knapsack path, a lower
    coefficient or bound return ``None``: the caller re-runs. Exactness against the full re-run
    is a property test (``tests/allocator``).
    """
    i0, hq0, u0 = override
    if m.knapsack or m.budget_free_cents is not None or m.lock[i0] is not None:
        return None
    hq_base, u_base = m.hq[i0], m.upper[i0]
    if u0 < u_base or any(hq0[k] < hq_base[k] for k in range(u_base)):
        return None
    g0, d0 = m.app_group[i0], m.app_dept[i0]
    gcoef, gexist = m.group_coef[g0], m.group_existing[g0]
    dcoef, dexist = m.dept_coef[d0], m.dept_territories[d0].existing
    cap = m.dept_cap[d0]
    dcap = m.free_quota + m.locked_posts + 1 if cap is None else cap
    created0, id0 = m.created[i0], m.ids[i0]
    gcount, dcount = lock_counts(m)
    g_n, d_n = gcount[g0], dcount[d0]
    x0 = 0
    app_group = m.app_group
    gm = group_marginal(gcoef, gexist, g_n)
    dm = group_marginal(dcoef, dexist, d_n)
    trace = base.trace
    index = trace_index(m, base)
    # i0's own key changes only at the steps of its département (its EPCI-part and itself are
    # in it): between two such steps it is fixed, and the first base step it beats is found by
    # bisection on the trace's priorities, which never increase.
    start = 0
    for step in (*index.dept_steps.get(d0, ()), len(trace)):
        if x0 < u0 and d_n < dcap:
            last = min(step, len(trace) - 1)
            t = index.first_beaten(m, start, last, hq0[x0] + gm + dm, (created0, id0, x0))
            if t is not None:
                if x0 == current:
                    return True
                return _resumed(m, base, override, t, current).x[i0] > current
        if step == len(trace):
            break
        start = step + 1
        i = trace[step][0]
        if i == i0:
            x0 += 1
        if app_group[i] == g0:
            g_n += 1
            gm = group_marginal(gcoef, gexist, g_n)
        d_n += 1
        dm = group_marginal(dcoef, dexist, d_n)
    if base.quota_used_up or x0 >= u0 or d_n >= dcap:
        return False
    # The base run stopped with quota left because no post was open: i0's extra post is.
    if x0 == current:
        return True
    return _resumed(m, base, override, len(base.trace), current).x[i0] > current


@dataclass(frozen=True, slots=True)
class TraceIndex:
    """A base run's trace indexed for :func:`override_gives_more`.

    ``neg_priority[t] = −p_t``; ``monotone``: the trace's priorities never increase (the
    greedy grants the best open post and a grant only lowers priorities, so this holds; checked
    anyway, a linear scan otherwise); ``dept_steps[d]``: the steps granting a post of
    département ``d``, ascending.
    """

    trace: tuple[tuple[int, int, int], ...]
    neg_priority: tuple[int, ...]
    monotone: bool
    dept_steps: dict[int, tuple[int, ...]]

    def first_beaten(
        self, m: Model, start: int, last: int, priority: int, tie: tuple[str, int, int]
    ) -> int | None:
        """First step ``t`` in ``[start, last]`` whose key ``(−p_t, created, id, k)`` is larger
        than ``(−priority, *tie)``, or ``None``."""
        if start > last:
            return None
        trace, created, ids = self.trace, m.created, m.ids
        if not self.monotone:
            for t in range(start, last + 1):
                i, k, p = trace[t]
                if (-priority, *tie) < (-p, created[i], ids[i], k):
                    return t
            return None
        # −p is non-decreasing: steps with p > priority, then p == priority (ties), then p <
        equal = bisect.bisect_left(self.neg_priority, -priority, start, last + 1)
        lower = bisect.bisect_right(self.neg_priority, -priority, equal, last + 1)
        for t in range(equal, lower):
            i, k, _p = trace[t]
            if tie < (created[i], ids[i], k):
                return t
        return lower if lower <= last else None


def trace_index(m: Model, base: GreedyOutcome) -> TraceIndex:
    """``base.trace_index``, built once per base run (of model ``m``)."""
    if base.trace_index is not None:
        return base.trace_index
    trace = base.trace
    neg = tuple(-p for _i, _k, p in trace)
    steps: dict[int, list[int]] = {}
    app_dept = m.app_dept
    for t, (i, _k, _p) in enumerate(trace):
        steps.setdefault(app_dept[i], []).append(t)
    index = TraceIndex(
        trace=trace,
        neg_priority=neg,
        monotone=all(a <= b for a, b in itertools.pairwise(neg)),
        dept_steps={d: tuple(v) for d, v in steps.items()},
    )
    object.__setattr__(base, "trace_index", index)  # derived from the frozen run: a memo
    return index


def _resumed(
    m: Model,
    base: GreedyOutcome,
    override: tuple[int, tuple[int, ...], int],
    t: int,
    current: int,
) -> GreedyOutcome:
    """The overridden greedy continued from the base run's state after ``t`` steps, stopped as
    soon as ``i0`` holds more than ``current`` posts."""
    x = [v or 0 for v in m.lock]
    for i, _k, _p in base.trace[:t]:
        x[i] += 1
    return greedy_from(m, override, x, m.free_quota - t, stop_above=(override[0], current))


def rerun_gives_more(
    m: Model, i: int, score: float, current: int, base: GreedyOutcome | None = None
) -> bool:
    """Would applicant ``i`` get more than ``current`` posts with this score? A greedy re-run,
    skipped when the base run already decides it exactly (:func:`override_gives_more`)."""
    a = m.applicants[i]
    coef = access_coefficient(score, a.avis_prefet, m.policy, m.cofunding[i])
    hq = tuple(access_marginals(coef, a.gains))
    eligible = score >= m.policy.min_quality
    upper = m.cap_upper[i] if eligible else 0
    override = (i, hq, upper)
    if base is not None:
        known = override_gives_more(m, base, override, current)
        if known is not None:
            return known
    # grants are never withdrawn: the run may stop as soon as the answer is yes
    return greedy(m, override=override, stop_above=(i, current)).x[i] > current


def _tie_floor(m: Model, i: int, n: int, current: int, base: GreedyOutcome | None) -> int:
    """Lowest score below ``n`` that still gives one more post through the tie-break.

    The exchange argument finds the smallest score with a *strictly* better move; at an exact
    tie (quantised priorities equal) the published order (earlier ``createdAt``, then ``idPG``)
    may already favour this applicant, so lower scores can win too. One re-run tells whether the
    score just below wins; only then is the tie band bisected (winning is monotone in the score).
    """
    lo = max(0, math.ceil(m.policy.min_quality * SCORE_GRID))
    if n <= lo or not rerun_gives_more(m, i, (n - 1) / SCORE_GRID, current, base):
        return n
    return _lowest_winning(m, i, lo, n - 1, current, base)


def _lowest_winning(
    m: Model, i: int, lo: int, hi: int, current: int, base: GreedyOutcome | None
) -> int:
    """Bisection on the score grid for the lowest score in ``[lo, hi]`` whose re-run gives one
    more post, ``hi`` being known to win (exact when winning is monotone in the score)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if rerun_gives_more(m, i, mid / SCORE_GRID, current, base):
            hi = mid
        else:
            lo = mid + 1
    return lo


def tie_at_max_score(
    m: Model, i: int, move: Move, current: int, base: GreedyOutcome | None
) -> int | None:
    """The score of an applicant whose next post ties exactly with the exchange threshold at
    100 (no strictly better move exists): one re-run at 100 says whether the published order
    gives it the post. If so, the lowest score is where its priority first reaches the
    threshold (below, it is strictly lower: no post), found on the priority alone and
    confirmed by one re-run (a full bisection by re-runs otherwise; winning is monotone in the
    score on the laminar model)."""
    lo = max(0, math.ceil(m.policy.min_quality * SCORE_GRID))
    hi = 100 * SCORE_GRID
    if lo > hi or move.threshold is None:
        return None
    if not rerun_gives_more(m, i, hi / SCORE_GRID, current, base):
        return None
    gain, threshold = m.applicants[i].gains[current], move.threshold
    a, b = lo, hi  # the lowest score whose priority reaches the threshold (b does)
    while a < b:
        mid = (a + b) // 2
        if priority_at(m, i, gain, mid) >= threshold:
            b = mid
        else:
            a = mid + 1
    if a == hi or rerun_gives_more(m, i, a / SCORE_GRID, current, base):
        return a
    return _lowest_winning(m, i, a + 1, hi, current, base)


def verified_score(
    m: Model,
    i: int,
    n: int,
    current: int,
    tie_below: bool = True,
    base: GreedyOutcome | None = None,
) -> int | None:
    """Verify the closed-form score ``n`` of the laminar model by a greedy re-run.

    ``tie_below``: the score just below ``n`` ties with the threshold, so the tie-break may
    already give the post there (checked by :func:`_tie_floor`).
    """
    if rerun_gives_more(m, i, n / SCORE_GRID, current, base):
        return _tie_floor(m, i, n, current, base) if tie_below else n
    raise InternalError(
        f"counterfactual for structure {m.ids[i]}: score {n / SCORE_GRID} predicted by the "
        "exchange argument does not give one more post in the laminar model"
    )


#: Bisection steps after the first verified score of a knapsack counterfactual (bounds the
#: re-runs per applicant: each step is one greedy re-run).
KNAPSACK_BISECTION_STEPS = 3


def knapsack_scores(
    m: Model,
    x: tuple[int, ...],
    outcome: GreedyOutcome,
    config: SolverConfig,
    guesses: dict[int, int | None],
    verified: set[int],
) -> dict[int, int | None]:
    """Counterfactual scores off the laminar structure (a binding budget with unequal costs).

    The closed form is only a guess there (the greedy that skips posts the budget cannot pay is
    not optimal, and it need not be monotone in a score): a score is stated only when a re-run
    of the greedy with it gives one more post, and it is then *a* winning score above the
    current one, not a threshold. At most ``config.counterfactual_reruns`` applicants are
    searched (those whose guess is closest to their score first), each with at most
    ``3 + KNAPSACK_BISECTION_STEPS`` re-runs; in mode "optimal" none (the round's answer may be
    the MIP's, which a greedy re-run does not reproduce). Applicants found are added to
    ``verified``; the others get ``None``.
    """
    scores: dict[int, int | None] = dict.fromkeys(guesses)
    if m.policy.mode != "monotone":
        return scores

    def closeness(i: int) -> tuple[bool, int, int]:
        guess = guesses[i]
        current = round(m.applicants[i].quality * SCORE_GRID)
        return (guess is None, 0 if guess is None else max(0, guess - current), m.ids[i])

    for i in sorted(guesses, key=closeness)[: config.counterfactual_reruns]:
        found = _knapsack_score(m, i, guesses[i], x[i], outcome)
        if found is not None:
            scores[i] = found
            verified.add(i)
    return scores


def _knapsack_score(
    m: Model, i: int, guess: int | None, current: int, base: GreedyOutcome
) -> int | None:
    """A score (hundredths) above the applicant's own, verified by a greedy re-run to give it
    one more post; the lowest such score found by a bounded bisection (each probe is a re-run,
    so whatever is returned has been verified), or ``None``."""
    quality = m.applicants[i].quality
    lo = max(math.floor(quality * SCORE_GRID) + 1, math.ceil(m.policy.min_quality * SCORE_GRID))
    hi = 100 * SCORE_GRID
    if lo > hi:
        return None

    def wins(n: int) -> bool:
        return rerun_gives_more(m, i, n / SCORE_GRID, current, base)

    probe = hi if guess is None else min(hi, max(lo, guess))
    if wins(probe):
        hi = probe
    elif probe < hi and wins(hi):
        lo = probe + 1
    else:
        return None
    for _ in range(KNAPSACK_BISECTION_STEPS):
        if lo >= hi:
            break
        mid = (lo + hi) // 2
        if wins(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def same_round_with(m: Model, i: int, upper: int) -> bool:
    """Would the round be solved the same way with applicant ``i``'s bound set to ``upper``?

    With a budget, the bound enters how the budget limits the round (``budget_rule``): a
    newly eligible applicant, or one more post asked, can turn a laminar round into a knapsack
    or change the number of posts the budget allows. Then a greedy re-run on this model is not
    the round's procedure, and no closed-form answer is stated.
    """
    if m.budget_free_cents is None or upper == m.upper[i]:
        return True
    units = [
        (m.cost_cents[j], upper if j == i else m.upper[j]) for j in range(m.n) if m.lock[j] is None
    ]
    room = max(0, m.effective_quota - m.locked_posts)
    budget_posts, knapsack = budget_rule(units, m.budget_free_cents, room)
    free_quota = min(
        m.quota - m.locked_posts,
        m.envelope_remaining - m.locked_posts,
        *(() if budget_posts is None else (budget_posts,)),
    )
    return knapsack == m.knapsack and free_quota == m.free_quota
