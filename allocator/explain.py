"""Per-applicant explanations: motifs, priorities, ranks, cut-off and a verified counterfactual.

Priorities
----------
Every potential post (applicant ``i``, its k-th post of the round) has a priority: the marginal
gain ``h_i'(k) + G_e'(X_e) + G_d'(X_d)`` it adds. Granted posts show the priority *at grant
time* (the greedy grants posts by decreasing priority, so these are the national ranking);
posts not granted show it *at the final state* (what the post would add as the next one of its
groups). Locked posts are not ranked; they show the final-state value, for information. The
round's *cut-off* is the priority of the last post granted (the lowest granted).

Counterfactual score
--------------------
``h_i`` is linear in the quality factor, so the smallest score giving one more post has a closed
form: by M♮-concavity the greedy's allocation ``x`` stops being optimal exactly when a single
move ``x + e_i`` or ``x + e_i − e_j`` becomes strictly improving, and then *every* optimum gives
``i`` more posts. For each ``j`` the move's gain is ``h_i'(x_i)(s) − T_j`` with ``T_j`` the loss
of ``j``'s last post net of the group terms the move changes (same EPCI-part: groups cancel; same
département: the EPCI terms; otherwise both levels). The smallest score on a 0.01 grid with
``h_i'(x_i)(s) > min_j T_j`` (and ``s ≥ min_quality``) is then verified by re-running the greedy
with that score (``SolverConfig.counterfactual_reruns`` of them, closest to their current score
first). A larger request is judged the same way, assuming the extra post would gain as much as the
last requested one (an optimistic estimate: gains are non-increasing). An exact tie at 100 is
decided by one re-run (the published order may favour the applicant there).

The closed form holds for the greedy of the laminar model only (``details.counterfactual.nested``).
Off it — a binding budget with unequal costs (knapsack), or an applicant whose new score or
request would change how the budget enters the round — nothing is stated as exact: on the
knapsack path a score is given only when a greedy re-run with it verifies one more post (a
winning score above the current one, not a threshold; mode "monotone" only, a bounded number of
re-runs), and a larger request is not judged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from allocator import motifs
from allocator.counterfactual import override_gives_more
from allocator.domain import Explanation, SolverConfig
from allocator.errors import InternalError
from allocator.greedy import GreedyOutcome, greedy
from allocator.model import (
    SCALE,
    Model,
    access_coefficient,
    access_marginals,
    budget_rule,
    counts,
    quality_factor,
)

#: Counterfactual scores are searched on this grid (hundredths of a point).
SCORE_GRID = 100
_LIMIT_MOTIF = {
    "quota": motifs.QUOTA_EPUISE,
    "envelope": motifs.ENVELOPPE_NATIONALE_EPUISEE,
    "budget": motifs.BUDGET_EPUISE,
}
_HARD_INELIGIBLE = frozenset({motifs.TYPE_NON_ELIGIBLE, motifs.AVIS_PREFET_NEGATIF})


@dataclass(frozen=True, slots=True)
class _Holders:
    """The free applicants holding at least one post of the round, with their removal losses."""

    idx: np.ndarray
    loss_access: np.ndarray
    loss_epci: np.ndarray
    loss_dept: np.ndarray
    group: np.ndarray
    dept: np.ndarray
    cost: np.ndarray


def _holders(m: Model, x: tuple[int, ...], gcount: list[int], dcount: list[int]) -> _Holders:
    rows = [i for i in range(m.n) if m.lock[i] is None and x[i] > 0]
    return _Holders(
        idx=np.asarray(rows, dtype=np.int64),
        loss_access=np.asarray([m.hq[i][x[i] - 1] for i in rows], dtype=np.int64),
        loss_epci=np.asarray(
            [m.epci_marginal(m.app_group[i], gcount[m.app_group[i]] - 1) for i in rows],
            dtype=np.int64,
        ),
        loss_dept=np.asarray(
            [m.dept_marginal(m.app_dept[i], dcount[m.app_dept[i]] - 1) for i in rows],
            dtype=np.int64,
        ),
        group=np.asarray([m.app_group[i] for i in rows], dtype=np.int64),
        dept=np.asarray([m.app_dept[i] for i in rows], dtype=np.int64),
        cost=np.asarray([m.cost_cents[i] for i in rows], dtype=np.int64),
    )


def _two_smallest(pairs: list[tuple[int, int]]) -> tuple[tuple[int, int] | None, ...]:
    """The smallest ``(value, label)`` and the smallest with another label (or ``None``)."""
    best: tuple[int, int] | None = None
    second: tuple[int, int] | None = None
    for value, label in pairs:
        if best is None or value < best[0]:
            if best is not None and best[1] != label:
                second = best
            best = (value, label)
        elif label != best[1] and (second is None or value < second[0]):
            second = (value, label)
    return best, second


def _min_excluding(ranked: tuple[tuple[int, int] | None, ...], label: int) -> int | None:
    best, second = ranked
    if best is not None and best[1] != label:
        return best[0]
    return None if second is None else second[0]


class _ExchangeIndex:
    """:func:`_one_more`'s minimum over the holders, per applicant in O(1) (no budget).

    The exchange threshold of holder ``j`` for applicant ``i`` is its removal loss ``T_j``:
    ``a_j`` in ``i``'s group; ``a_j + e_j − E_i`` in its département (another group);
    ``a_j + e_j + d_j − E_i − D_i`` elsewhere (``E_i``, ``D_i``: the group's and département's
    gains of ``i``'s post; groups nest in départements). The minimum over ``j ≠ i`` is the
    smallest of three minima — within the group (the two smallest, to leave ``i`` out), within
    the département over other groups (the two smallest of distinct groups), over other
    départements (the two smallest of distinct départements) — computed once per round.
    """

    __slots__ = ("by_dept", "by_group", "outside")

    def __init__(self, h: _Holders) -> None:
        la, le, ld = h.loss_access.tolist(), h.loss_epci.tolist(), h.loss_dept.tolist()
        idx, group, dept = h.idx.tolist(), h.group.tolist(), h.dept.tolist()
        in_group: dict[int, list[tuple[int, int]]] = {}
        in_dept: dict[int, list[tuple[int, int]]] = {}
        everywhere: list[tuple[int, int]] = []
        for k in range(len(idx)):
            in_group.setdefault(group[k], []).append((la[k], idx[k]))
            in_dept.setdefault(dept[k], []).append((la[k] + le[k], group[k]))
            everywhere.append((la[k] + le[k] + ld[k], dept[k]))
        self.by_group = {g: _two_smallest(v) for g, v in in_group.items()}
        self.by_dept = {d: _two_smallest(v) for d, v in in_dept.items()}
        self.outside = _two_smallest(everywhere)

    def threshold(
        self, i: int, g: int, d: int, gain_epci: int, gain_dept: int, capped: bool
    ) -> int | None:
        candidates = []
        ranked = self.by_group.get(g)
        if ranked is not None:
            a = _min_excluding(ranked, i)
            if a is not None:
                candidates.append(a)
        ranked = self.by_dept.get(d)
        if ranked is not None:
            b = _min_excluding(ranked, g)
            if b is not None:
                candidates.append(b - gain_epci)
        if not capped:
            c = _min_excluding(self.outside, d)
            if c is not None:
                candidates.append(c - gain_epci - gain_dept)
        return min(candidates) if candidates else None


@dataclass(frozen=True, slots=True)
class _Move:
    """What one more post of applicant ``i`` must beat: ``add`` = it fits without displacing
    anyone; else ``threshold`` = min_j T_j (``None`` when no exchange is feasible)."""

    add: bool
    threshold: int | None


def _one_more(
    m: Model,
    i: int,
    h: _Holders,
    gcount: list[int],
    dcount: list[int],
    quota_left: int,
    budget_left: int | None,
    index: _ExchangeIndex | None = None,
) -> _Move:
    """``index`` (no budget only) answers the minimum without scanning the holders."""
    g, d = m.app_group[i], m.app_dept[i]
    cap = m.dept_cap[d]
    capped = cap is not None and dcount[d] >= cap
    cost = m.cost_cents[i]
    fits = budget_left is None or budget_left >= cost
    if quota_left > 0 and not capped and fits:
        return _Move(True, None)
    if h.idx.size == 0:
        return _Move(False, None)
    gain_epci = m.epci_marginal(g, gcount[g])
    gain_dept = m.dept_marginal(d, dcount[d])
    if index is not None and budget_left is None:
        return _Move(False, index.threshold(i, g, d, gain_epci, gain_dept, capped))
    same_group = h.group == g
    same_dept = h.dept == d
    threshold = np.where(
        same_group,
        h.loss_access,
        np.where(
            same_dept,
            h.loss_access + h.loss_epci - gain_epci,
            h.loss_access + h.loss_epci + h.loss_dept - gain_epci - gain_dept,
        ),
    )
    valid = h.idx != i
    if capped:
        valid &= same_dept
    if budget_left is not None:
        valid &= budget_left + h.cost - cost >= 0
    if not valid.any():
        return _Move(False, None)
    return _Move(False, int(threshold[valid].min()))


def _priority_at(m: Model, i: int, gain: float, n: int) -> int:
    """Quantised access priority of applicant ``i``'s next post at score ``n`` (hundredths)."""
    a = m.applicants[i]
    coef = access_coefficient(n / SCORE_GRID, a.avis_prefet, m.policy, m.cofunding[i])
    return access_marginals(coef, (gain,))[0]


def _min_score(m: Model, i: int, gain: float, move: _Move) -> tuple[int | None, bool]:
    """Smallest score (hundredths) with a strictly improving move, or None if none <= 100;
    and whether, without one, the move ties exactly at 100 (the published order, not the
    score, then decides whether the applicant wins)."""
    policy = m.policy
    lo = max(0, math.ceil(policy.min_quality * SCORE_GRID))
    if lo > 100 * SCORE_GRID:
        return None, False
    if move.add:
        return lo, False
    if move.threshold is None:
        return None, False
    threshold = move.threshold

    def wins(n: int) -> bool:
        return _priority_at(m, i, gain, n) > threshold

    hi = 100 * SCORE_GRID
    at_max = _priority_at(m, i, gain, hi)
    if at_max <= threshold:
        return None, at_max == threshold
    # wins() is monotone in the score. The priority is about linear in the score above the
    # floor: a guess brackets the answer in a few points of the grid, and the bracket is checked
    # (the lowest winner lies in [a, b] iff b wins and a − 1 does not) before the bisection runs
    # on it; a wrong guess only costs the full bisection.
    per_point = at_max / (100 * SCORE_GRID)
    if per_point > 0:
        guess = math.ceil((threshold + 0.5) / per_point)
        a, b = max(lo, guess - 2), min(hi, max(lo, guess + 2))
        if wins(b) and (a == lo or not wins(a - 1)):
            lo, hi = a, b
    while lo < hi:
        mid = (lo + hi) // 2
        if wins(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo, False


def _rerun_gives_more(
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
    if n <= lo or not _rerun_gives_more(m, i, (n - 1) / SCORE_GRID, current, base):
        return n
    return _lowest_winning(m, i, lo, n - 1, current, base)


def _lowest_winning(
    m: Model, i: int, lo: int, hi: int, current: int, base: GreedyOutcome | None
) -> int:
    """Bisection on the score grid for the lowest score in ``[lo, hi]`` whose re-run gives one
    more post, ``hi`` being known to win (exact when winning is monotone in the score)."""
    while lo < hi:
        mid = (lo + hi) // 2
        if _rerun_gives_more(m, i, mid / SCORE_GRID, current, base):
            hi = mid
        else:
            lo = mid + 1
    return lo


def _tie_at_max_score(
    m: Model, i: int, move: _Move, current: int, base: GreedyOutcome | None
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
    if not _rerun_gives_more(m, i, hi / SCORE_GRID, current, base):
        return None
    gain, threshold = m.applicants[i].gains[current], move.threshold
    a, b = lo, hi  # the lowest score whose priority reaches the threshold (b does)
    while a < b:
        mid = (a + b) // 2
        if _priority_at(m, i, gain, mid) >= threshold:
            b = mid
        else:
            a = mid + 1
    if a == hi or _rerun_gives_more(m, i, a / SCORE_GRID, current, base):
        return a
    return _lowest_winning(m, i, a + 1, hi, current, base)


def _verified_score(
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
    if _rerun_gives_more(m, i, n / SCORE_GRID, current, base):
        return _tie_floor(m, i, n, current, base) if tie_below else n
    raise InternalError(
        f"counterfactual for structure {m.ids[i]}: score {n / SCORE_GRID} predicted by the "
        "exchange argument does not give one more post in the laminar model"
    )


#: Bisection steps after the first verified score of a knapsack counterfactual (bounds the
#: re-runs per applicant: each step is one greedy re-run).
KNAPSACK_BISECTION_STEPS = 3


def _knapsack_scores(
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
        return _rerun_gives_more(m, i, n / SCORE_GRID, current, base)

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


def _same_round_with(m: Model, i: int, upper: int) -> bool:
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


def _limit_motifs(
    m: Model,
    i: int,
    free_granted: int,
    dcount: list[int],
    outcome: GreedyOutcome | None,
    budget_left: int | None,
) -> list[str]:
    """Why the applicant's next post was not granted (one limit, plus lost ranking if shared)."""
    d = m.app_dept[i]
    cap = m.dept_cap[d]
    if cap is not None and dcount[d] >= cap:
        return [motifs.PART_DEPARTEMENT_ATTEINTE]
    if outcome is not None and outcome.skipped_budget[i]:
        return [motifs.BUDGET_EPUISE]
    if free_granted >= m.free_quota and m.limits:
        return [_LIMIT_MOTIF[m.limits[0]], motifs.PRIORITE_INSUFFISANTE]
    if budget_left is not None and budget_left < m.cost_cents[i]:
        return [motifs.BUDGET_EPUISE]
    return [motifs.PRIORITE_INSUFFISANTE]


def explain(
    m: Model, x: tuple[int, ...], outcome: GreedyOutcome | None, config: SolverConfig
) -> tuple[Explanation, ...]:
    """Explain every applicant (ascending ``id_pg``).

    ``outcome`` is the greedy run that produced ``x``, or ``None`` when ``x`` comes from a direct
    solve (mode "optimal" off the laminar structure): then posts have no national rank, there is
    no cut-off and no counterfactual.
    """
    gcount, dcount = counts(m, x)
    free_granted = sum(v for j, v in enumerate(x) if m.lock[j] is None)
    quota_left = max(0, m.free_quota - free_granted)
    spent = sum(m.cost_cents[j] * v for j, v in enumerate(x) if m.lock[j] is None)
    budget_left = None if m.budget_free_cents is None else m.budget_free_cents - spent

    ranks: list[list[int]] = [[] for _ in range(m.n)]
    at_grant: list[list[int]] = [[] for _ in range(m.n)]
    cutoff: float | None = None
    if outcome is not None:
        for rank, (i, _k, p) in enumerate(outcome.trace, start=1):
            ranks[i].append(rank)
            at_grant[i].append(p)
        cutoff = outcome.trace[-1][2] / SCALE if outcome.trace else None

    holders = _holders(m, x, gcount, dcount) if outcome is not None else None
    index = _ExchangeIndex(holders) if holders is not None and budget_left is None else None
    # The closed form (exchange argument) is exact for the greedy of the laminar model only.
    nested = outcome is not None and not m.knapsack
    scores: dict[int, int | None] = {}
    moves: dict[int, _Move] = {}
    larger: dict[int, bool | None] = {}
    tied_at_max: list[int] = []  # no strictly better move at 100, but an exact tie there
    if holders is not None:
        for i in range(m.n):
            a = m.applicants[i]
            if m.lock[i] is not None or _HARD_INELIGIBLE.intersection(m.ineligible[i]):
                continue
            if x[i] < m.cap_upper[i]:
                move = _one_more(m, i, holders, gcount, dcount, quota_left, budget_left, index)
                scores[i], tied = _min_score(m, i, a.gains[x[i]], move)
                moves[i] = move
                if tied:
                    tied_at_max.append(i)
            elif x[i] == m.remaining[i] and x[i] > 0 and not m.ineligible[i]:
                cap = m.policy.max_posts_per_structure
                if cap is not None and a.already_granted + x[i] + 1 > cap:
                    larger[i] = False  # the structure cap: true on every path
                elif not nested or not _same_round_with(m, i, m.upper[i] + 1):
                    larger[i] = None  # off the nested structure: not known
                else:
                    move = _one_more(m, i, holders, gcount, dcount, quota_left, budget_left, index)
                    last = m.hq[i][-1]
                    if move.add or (move.threshold is not None and last > move.threshold):
                        larger[i] = True
                    elif move.threshold is not None and last == move.threshold:
                        larger[i] = None  # an exact tie: the published order decides
                    else:
                        larger[i] = False
    verified: set[int] = set()
    unsure: set[int] = set()  # the closed form does not hold for this applicant
    if outcome is not None and m.knapsack:
        scores = _knapsack_scores(m, x, outcome, config, scores, verified)
    elif nested:
        for i in [i for i in scores if m.upper[i] == 0]:
            # A score reaching the minimum makes the applicant eligible: with a budget, its
            # posts may change how the budget enters the round (then the closed form is void).
            if not _same_round_with(m, i, m.cap_upper[i]):
                scores[i] = None
                unsure.add(i)
        for i in tied_at_max:
            if i not in unsure:
                scores[i] = _tie_at_max_score(m, i, moves[i], x[i], outcome)
                if scores[i] is not None:
                    verified.add(i)
        to_verify = sorted(
            (i for i, n in scores.items() if n is not None and i not in verified),
            key=lambda i: (scores[i] - round(m.applicants[i].quality * SCORE_GRID), m.ids[i]),  # type: ignore[operator]
        )[: config.counterfactual_reruns]
        for i in to_verify:
            n = scores[i]
            assert n is not None
            threshold = moves[i].threshold
            tie_below = (
                threshold is not None
                and n > 0
                and (_priority_at(m, i, m.applicants[i].gains[x[i]], n - 1) == threshold)
            )
            scores[i] = _verified_score(m, i, n, x[i], tie_below, outcome)
            verified.add(i)

    explanations = []
    for i, a in enumerate(m.applicants):
        g, d = m.app_group[i], m.app_dept[i]
        found: list[str] = list(m.ineligible[i])
        if x[i] > 0:
            found.append(motifs.ACCORDE)
        if m.lock[i] is not None:
            found.append(motifs.VERROUILLE)
        if x[i] == m.remaining[i]:
            found.append(motifs.DEMANDE_SATISFAITE)
        elif not m.ineligible[i] and m.lock[i] is None:
            if x[i] >= m.upper[i]:
                found.append(motifs.PLAFOND_STRUCTURE)
            else:
                found.extend(_limit_motifs(m, i, free_granted, dcount, outcome, budget_left))

        next_epci = m.epci_marginal(g, gcount[g])
        next_dept = m.dept_marginal(d, dcount[d])
        n_potential = max(m.upper[i], x[i])
        priorities = []
        for k in range(n_potential):
            if m.lock[i] is None and k < x[i] and outcome is not None:
                priorities.append(at_grant[i][k] / SCALE)
            else:
                priorities.append((m.hq[i][k] + next_epci + next_dept) / SCALE)

        territory = m.dept_territories[d]
        epci = m.group_territories[g]
        counterfactual: dict[str, object] = {
            "min_quality": None if scores.get(i) is None else scores[i] / SCORE_GRID,  # type: ignore[operator]
            "verified": i in verified,
            "larger_request_would_help": larger.get(i),
            # the nested (greedy-optimal) property holds for this result and this applicant:
            # a score is then a threshold, and its absence means that even 100 would not do
            "nested": nested and i not in unsure,
        }
        details: dict[str, object] = {
            "departement": {
                "code": territory.code,
                "need": territory.need,
                "existing": territory.existing,
                "fair_share": m.dept_fair_share[d],
                "cap_room": m.dept_cap[d],
                "posts_round": dcount[d],
            },
            "epci": None
            if epci is None
            else {
                "code": epci.code,
                "need": epci.need,
                "existing": epci.existing,
                "posts_round": gcount[g],
            },
            "quality_factor": quality_factor(a.quality, a.avis_prefet, m.policy),
            "cofunding_factor": m.cofunding[i],
            "cost": {
                "state_eur": m.cost_cents[i] / 100,
                "standard_eur": m.standard_cents[i] / 100,
                "cofunding_eur": (m.standard_cents[i] - m.cost_cents[i]) / 100,
            },
            "gains": list(a.gains),
            "remaining_request": m.remaining[i],
            "upper_bound": m.upper[i],
            "next_post": None
            if x[i] >= len(m.hq[i])
            else {
                "access": m.hq[i][x[i]] / SCALE,
                "distribution": next_epci / SCALE,
                "balance": next_dept / SCALE,
            },
            "counterfactual": counterfactual,
        }
        explanations.append(
            Explanation(
                motifs=motifs.ordered(found),
                priorities=tuple(priorities),
                granted_ranks=tuple(ranks[i]),
                cutoff=cutoff,
                details=details,
            )
        )
    return tuple(explanations)
