"""The greedy: posts granted one at a time by decreasing marginal gain (hierarchical heaps).

See the *Greedy* paragraph of ``allocator.model``'s formulation: the order, the tie-break and
the budget skips are published there.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from allocator.model import Model, counts, group_marginal

if TYPE_CHECKING:
    from allocator.counterfactual import TraceIndex


@dataclass(frozen=True, slots=True)
class GreedyOutcome:
    """Result of one greedy run.

    ``trace[t] = (applicant index, k, priority)`` is the (t+1)-th post granted nationally (locks
    excluded); ``skipped_budget[i]`` is True when the applicant's next post was dropped because it
    no longer fitted the budget; ``quota_used_up`` is True when the loop stopped on ``free_quota``.
    """

    x: tuple[int, ...]
    trace: tuple[tuple[int, int, int], ...]
    skipped_budget: tuple[bool, ...]
    quota_used_up: bool
    group_count: tuple[int, ...]
    dept_count: tuple[int, ...]
    budget_left_cents: int | None
    #: the trace indexed for ``counterfactual.override_gives_more``, built on its first use
    trace_index: TraceIndex | None = field(default=None, init=False, repr=False, compare=False)


def greedy(
    m: Model,
    override: tuple[int, tuple[int, ...], int] | None = None,
    stop_above: tuple[int, int] | None = None,
) -> GreedyOutcome:
    """Grant posts one at a time by decreasing marginal gain, from the locks (module docstring).

    Parameters
    ----------
    m
        The model.
    override
        ``(applicant index, h_i' list, u_i)`` replacing one applicant's coefficients and bound,
        used to verify counterfactuals by re-running the very same procedure.
    stop_above
        ``(i, n)``: stop as soon as applicant ``i`` holds more than ``n`` posts (the outcome is
        then partial; see :func:`greedy_from`).
    """
    return greedy_from(m, override, [v or 0 for v in m.lock], m.free_quota, stop_above)


#: Heap entries: ``(-priority, created_at, id_pg, k, payload[, version])``; lower = better.
_AppEntry = tuple[int, str, int, int, int]
_GroupEntry = tuple[int, str, int, int, int, int]


def _overridden(
    m: Model, override: tuple[int, tuple[int, ...], int] | None
) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
    """``(h', u)`` of the model with one applicant's coefficients and bound replaced."""
    hq, upper = m.hq, m.upper
    if override is not None:
        i0, hq0, u0 = override
        hq = (*hq[:i0], hq0, *hq[i0 + 1 :])
        upper = (*upper[:i0], u0, *upper[i0 + 1 :])
    return hq, upper


def _initial_heaps(
    m: Model,
    hq: tuple[tuple[int, ...], ...],
    upper: tuple[int, ...],
    x: list[int],
    counts_now: tuple[list[int], list[int]],
    dcap: list[int],
) -> tuple[list[list[_AppEntry]], list[list[_GroupEntry]], list[_GroupEntry]]:
    """The three heap levels from a state: each free applicant's next post in its group's heap,
    each group's best in its département's heap, each open département's best nationally (a
    group's or département's entry carries the marginal common to all its members)."""
    gcount, dcount = counts_now
    created, ids = m.created, m.ids
    group_heaps: list[list[_AppEntry]] = [[] for _ in range(len(m.group_codes))]
    for i in range(m.n):
        if m.lock[i] is None and x[i] < upper[i]:
            k = x[i]
            group_heaps[m.app_group[i]].append((-hq[i][k], created[i], ids[i], k, i))
    dept_heaps: list[list[_GroupEntry]] = [[] for _ in range(len(m.dept_territories))]
    for g, gheap in enumerate(group_heaps):
        if gheap:
            heapq.heapify(gheap)
            gtop = gheap[0]
            gm = group_marginal(m.group_coef[g], m.group_existing[g], gcount[g])
            dept_heaps[m.group_dept[g]].append((gtop[0] - gm, gtop[1], gtop[2], gtop[3], g, 0))
    national: list[_GroupEntry] = []
    for d, dheap in enumerate(dept_heaps):
        heapq.heapify(dheap)
        if dheap and dcount[d] < dcap[d]:
            dtop = dheap[0]
            dm = group_marginal(m.dept_coef[d], m.dept_territories[d].existing, dcount[d])
            national.append((dtop[0] - dm, dtop[1], dtop[2], dtop[3], d, 0))
    heapq.heapify(national)
    return group_heaps, dept_heaps, national


def greedy_from(
    m: Model,
    override: tuple[int, tuple[int, ...], int] | None,
    x: list[int],
    left: int,
    stop_above: tuple[int, int] | None = None,
) -> GreedyOutcome:
    """The greedy loop (``override`` as in :func:`greedy`) from a state: ``x`` posts already
    granted (locks included), ``left`` posts of the quota still free. From the locks it is
    :func:`greedy`; from a prefix of a run it continues that run (the trace then holds the
    continuation only). No budget skips in the prefix: the state would not record them.
    ``stop_above=(i, n)`` stops the loop as soon as applicant ``i`` holds more than ``n``
    posts (grants are never withdrawn: the question "more than n at the end?" is then
    answered; the outcome is partial)."""
    hq, upper = _overridden(m, override)
    gcount, dcount = counts(m, x)
    skipped = [False] * m.n
    created, ids, gcoef, gexist = m.created, m.ids, m.group_coef, m.group_existing
    dcoef = m.dept_coef
    dexist = [t.existing for t in m.dept_territories]
    # An uncapped département can take every post of the round.
    dcap = [m.free_quota + m.locked_posts + 1 if c is None else c for c in m.dept_cap]
    group_heaps, dept_heaps, national = _initial_heaps(m, hq, upper, x, (gcount, dcount), dcap)
    gver = [0] * len(group_heaps)
    dver = [0] * len(dept_heaps)

    trace: list[tuple[int, int, int]] = []
    budget = m.budget_free_cents
    while left > 0 and national:
        entry = heapq.heappop(national)
        d = entry[4]
        if entry[5] != dver[d]:
            continue  # stale: the département changed since this entry was pushed
        g = dept_heaps[d][0][4]
        gheap = group_heaps[g]
        _, _, _, k, i = heapq.heappop(gheap)
        cost = m.cost_cents[i]
        if budget is not None and cost > budget:
            skipped[i] = True  # the budget only shrinks: none of its later posts can fit either
        else:
            x[i] += 1
            trace.append((i, k, -entry[0]))
            left -= 1
            if stop_above is not None and i == stop_above[0] and x[i] > stop_above[1]:
                break
            if budget is not None:
                budget -= cost
            if k + 1 < upper[i]:
                heapq.heappush(gheap, (-hq[i][k + 1], created[i], ids[i], k + 1, i))
            gcount[g] += 1
            dcount[d] += 1
        gver[g] += 1
        dheap = dept_heaps[d]
        if gheap:
            gtop = gheap[0]
            gm = group_marginal(gcoef[g], gexist[g], gcount[g])
            heapq.heappush(dheap, (gtop[0] - gm, gtop[1], gtop[2], gtop[3], g, gver[g]))
        while dheap and dheap[0][5] != gver[dheap[0][4]]:
            heapq.heappop(dheap)
        dver[d] += 1
        if dheap and dcount[d] < dcap[d]:
            dtop = dheap[0]
            dm = group_marginal(dcoef[d], dexist[d], dcount[d])
            heapq.heappush(national, (dtop[0] - dm, dtop[1], dtop[2], dtop[3], d, dver[d]))

    return GreedyOutcome(
        x=tuple(x),
        trace=tuple(trace),
        skipped_budget=tuple(skipped),
        quota_used_up=left <= 0,
        group_count=tuple(gcount),
        dept_count=tuple(dcount),
        budget_left_cents=budget,
    )
