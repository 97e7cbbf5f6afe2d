"""The exchange argument: the smallest score giving an applicant one more post, in closed form.

By M♮-concavity the greedy's allocation ``x`` stops being optimal exactly when a single move
``x + e_i`` or ``x + e_i − e_j`` becomes strictly improving (see ``allocator.explain``). This
module computes, per applicant, what its next post must beat (:func:`one_more`) and the
smallest score on the grid that beats it (:func:`min_score`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from allocator.model import Model, access_coefficient, access_marginals

#: Counterfactual scores are searched on this grid (hundredths of a point).
SCORE_GRID = 100


@dataclass(frozen=True, slots=True)
class Holders:
    """The free applicants holding at least one post of the round, with their removal losses."""

    idx: np.ndarray
    loss_access: np.ndarray
    loss_epci: np.ndarray
    loss_dept: np.ndarray
    group: np.ndarray
    dept: np.ndarray
    cost: np.ndarray


def holders(m: Model, x: tuple[int, ...], gcount: list[int], dcount: list[int]) -> Holders:
    rows = [i for i in range(m.n) if m.lock[i] is None and x[i] > 0]
    return Holders(
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


class ExchangeIndex:
    """:func:`one_more`'s minimum over the holders, per applicant in O(1) (no budget).

    The exchange threshold of holder ``j`` for applicant ``i`` is its removal loss ``T_j``:
    ``a_j`` in ``i``'s group; ``a_j + e_j − E_i`` in its département (another group);
    ``a_j + e_j + d_j − E_i − D_i`` elsewhere (``E_i``, ``D_i``: the group's and département's
    gains of ``i``'s post; groups nest in départements). The minimum over ``j ≠ i`` is the
    smallest of three minima — within the group (the two smallest, to leave ``i`` out), within
    the département over other groups (the two smallest of distinct groups), over other
    départements (the two smallest of distinct départements) — computed once per round.
    """

    __slots__ = ("by_dept", "by_group", "outside")

    def __init__(self, h: Holders) -> None:
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
class Move:
    """What one more post of applicant ``i`` must beat: ``add`` = it fits without displacing
    anyone; else ``threshold`` = min_j T_j (``None`` when no exchange is feasible)."""

    add: bool
    threshold: int | None


def one_more(
    m: Model,
    i: int,
    h: Holders,
    gcount: list[int],
    dcount: list[int],
    quota_left: int,
    budget_left: int | None,
    index: ExchangeIndex | None = None,
) -> Move:
    """``index`` (no budget only) answers the minimum without scanning the holders."""
    g, d = m.app_group[i], m.app_dept[i]
    cap = m.dept_cap[d]
    capped = cap is not None and dcount[d] >= cap
    cost = m.cost_cents[i]
    fits = budget_left is None or budget_left >= cost
    if quota_left > 0 and not capped and fits:
        return Move(True, None)
    if h.idx.size == 0:
        return Move(False, None)
    gain_epci = m.epci_marginal(g, gcount[g])
    gain_dept = m.dept_marginal(d, dcount[d])
    if index is not None and budget_left is None:
        return Move(False, index.threshold(i, g, d, gain_epci, gain_dept, capped))
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
        return Move(False, None)
    return Move(False, int(threshold[valid].min()))


def priority_at(m: Model, i: int, gain: float, n: int) -> int:
    """Quantised access priority of applicant ``i``'s next post at score ``n`` (hundredths)."""
    a = m.applicants[i]
    coef = access_coefficient(n / SCORE_GRID, a.avis_prefet, m.policy, m.cofunding[i])
    return access_marginals(coef, (gain,))[0]


def min_score(m: Model, i: int, gain: float, move: Move) -> tuple[int | None, bool]:
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
        return priority_at(m, i, gain, n) > threshold

    hi = 100 * SCORE_GRID
    at_max = priority_at(m, i, gain, hi)
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
