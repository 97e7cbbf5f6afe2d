"""Does an overridden greedy give an applicant one more post? Answered from the base run.

Used to verify counterfactual scores and requests (``allocator.explain``) without re-running
the whole greedy when the answer follows from the base run's trace.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass

from allocator.greedy import GreedyOutcome, greedy_from
from allocator.model import Model, group_marginal, lock_counts


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
