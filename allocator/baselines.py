"""Reference allocations for benchmarks and simulations (not used by ``allocate``).

Both baselines respect the same bounds as the engine (eligibility, request, structure cap, locks,
quota, envelope, département caps) by reading ``model.build_model``; they differ only in *how*
they pick posts. They return ``{id_pg: posts granted this round}`` in ascending ``id_pg``.
"""

from __future__ import annotations

from allocator.apportionment import webster_capped
from allocator.domain import RoundInput, RoundPolicy
from allocator.model import build_model, lock_counts


def first_come_first_served(
    round_input: RoundInput, policy: RoundPolicy = RoundPolicy()
) -> dict[int, int]:
    """Serve whole requests in submission order (filing instant, unknown last, then ``id_pg``).

    Each applicant gets as much of its remaining request as the quota, its département's cap and
    the budget (posts that do not fit are skipped) still allow; locks are served first.
    """
    m = build_model(round_input, policy)
    x = [v or 0 for v in m.lock]
    _, dcount = lock_counts(m)
    left = max(0, m.free_quota)
    budget = m.budget_free_cents
    order = sorted(range(m.n), key=lambda i: (m.created[i], m.ids[i]))
    for i in order:
        if m.lock[i] is not None:
            continue
        d = m.app_dept[i]
        room = min(m.upper[i], left)
        cap = m.dept_cap[d]
        if cap is not None:
            room = min(room, max(0, cap - dcount[d]))
        if budget is not None and m.cost_cents[i] > 0:  # a fully co-funded post costs 0
            room = min(room, max(0, budget // m.cost_cents[i]))
            budget -= room * m.cost_cents[i]
        x[i] += room
        dcount[d] += room
        left -= room
    return dict(zip(m.ids, x, strict=True))


def need_proportional(
    round_input: RoundInput, policy: RoundPolicy = RoundPolicy()
) -> dict[int, int]:
    """Split the quota between départements by Webster on need, then inside by Webster on gains.

    Département shares are capped by what their eligible applicants can take (and by the
    département cap); inside a département, applicants are weighted by the total gain of their
    possible posts and capped by their bound. Locks are served first. The euro budget is *not*
    applied (the benchmarks run without one).
    """
    m = build_model(round_input, policy)
    x = [v or 0 for v in m.lock]
    _, dcount = lock_counts(m)
    free = [i for i in range(m.n) if m.lock[i] is None and m.upper[i] > 0]
    room = [0] * len(m.dept_territories)
    for i in free:
        room[m.app_dept[i]] += m.upper[i]
    caps: dict[str, int] = {}
    needs: dict[str, float] = {}
    for d, t in enumerate(m.dept_territories):
        cap = m.dept_cap[d]
        caps[t.code] = room[d] if cap is None else min(room[d], max(0, cap - dcount[d]))
        needs[t.code] = t.need
    seats = max(0, m.free_quota)
    shares = webster_capped(needs, seats, caps) if any(needs.values()) else {c: 0 for c in needs}
    for d, t in enumerate(m.dept_territories):
        members = [i for i in free if m.app_dept[i] == d]
        if not members or not shares[t.code]:
            continue
        weights = {
            f"{m.ids[i]:012d}": float(sum(m.applicants[i].gains[: m.upper[i]])) for i in members
        }
        bounds = {f"{m.ids[i]:012d}": m.upper[i] for i in members}
        if not any(weights.values()):
            continue
        inside = webster_capped(weights, shares[t.code], bounds)
        for i in members:
            x[i] += inside[f"{m.ids[i]:012d}"]
    return dict(zip(m.ids, x, strict=True))
