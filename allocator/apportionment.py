"""Exact apportionment methods: Webster/Sainte-Laguë (divisor) and Hamilton (largest remainder).

Used for each département's fair share of the national envelope from its need, and by the
need-proportional baseline. Arithmetic is exact, so the result never depends on floating-point
rounding: Webster scales the float weights (dyadic rationals) by their common power-of-two
denominator into Python integers, Hamilton uses ``fractions.Fraction``; exact ties are broken by
key (ascending string order), which makes every result a deterministic function of the mapping's
*content*.
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Mapping
from fractions import Fraction

from allocator.errors import InvalidInput


def _checked_weights(weights: Mapping[str, float], seats: int) -> dict[str, Fraction]:
    if isinstance(seats, bool) or not isinstance(seats, int) or seats < 0:
        raise InvalidInput(f"seats: must be an integer >= 0, got {seats!r}")
    exact: dict[str, Fraction] = {}
    for key in sorted(weights):
        w = weights[key]
        if not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            raise InvalidInput(f"weights[{key!r}]: must be a finite number >= 0, got {w!r}")
        exact[key] = Fraction(w)
    if seats > 0 and not any(exact.values()):
        raise InvalidInput(f"weights: all zero, cannot apportion {seats} seats")
    return exact


def _integer_weights(weights: Mapping[str, float], seats: int) -> dict[str, int]:
    """The weights as integers with exactly the same ratios (keys in ascending order).

    A finite float is ``n / 2**k``: multiplying every weight by the largest denominator gives
    integers, and the cross-multiplied comparisons of :class:`_Priority` stay exact while costing
    integer products instead of fraction arithmetic.
    """
    exact = _checked_weights(weights, seats) if seats > 0 else {k: Fraction(0) for k in weights}
    common = max((w.denominator for w in exact.values()), default=1)
    return {key: w.numerator * (common // w.denominator) for key, w in exact.items()}


class _Priority:
    """Webster priority ``w / (a + 1/2)`` of a key holding ``a`` seats; heap order = best first.

    Compared by exact cross-multiplication ``w1 (2 a2 + 1)`` vs ``w2 (2 a1 + 1)``, then by key.
    """

    __slots__ = ("held", "key", "weight")

    def __init__(self, key: str, weight: int, held: int) -> None:
        self.key = key
        self.weight = weight
        self.held = held

    def __lt__(self, other: _Priority) -> bool:
        left = self.weight * (2 * other.held + 1)
        right = other.weight * (2 * self.held + 1)
        if left != right:
            return left > right  # larger priority first in a min-heap
        return self.key < other.key


def webster_capped(
    weights: Mapping[str, float], seats: int, caps: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Webster apportionment with optional upper caps (a key never gets more than its cap).

    The result is the highest-averages form of the divisor method, which yields exactly the
    Sainte-Laguë apportionment when no cap binds: every key ``k`` holding ``a`` seats offers its
    next seat at priority ``w_k / (a + 1/2)``, and the ``seats`` best offers win (exact ties by
    ascending key); a key at its cap, or of weight 0, offers nothing more. Seats left when every
    key is capped or has weight 0 are not distributed: the result may sum to less than ``seats``.

    Cost: O(K log K) for K keys whatever ``seats`` (see :func:`_divisor_start`), not O(seats):
    a divisor search grants at once every offer above a threshold, and only the last ≤ K seats
    are handed out one at a time from a priority queue.

    Parameters
    ----------
    weights
        Non-negative finite weights by key.
    seats
        Number of seats to apportion (>= 0).
    caps
        Optional maximum number of seats per key (missing = uncapped).

    Returns
    -------
    dict[str, int]
        Seats per key, keys in ascending order.
    """
    exact = _integer_weights(weights, seats)
    caps = caps or {}
    held = {key: 0 for key in sorted(exact)}
    live = {
        key: (w, min(caps.get(key, seats), seats))
        for key, w in exact.items()
        if w > 0 and caps.get(key, seats) > 0
    }
    held.update(_divisor_start(live, seats))
    heap = [_Priority(key, w, held[key]) for key, (w, cap) in live.items() if held[key] < cap]
    heapq.heapify(heap)
    for _ in range(seats - sum(held.values())):
        if not heap:
            break
        best = heapq.heappop(heap)
        held[best.key] += 1
        if held[best.key] < live[best.key][1]:
            heapq.heappush(heap, _Priority(best.key, best.weight, held[best.key]))
    return held


def _divisor_start(live: Mapping[str, tuple[int, int]], seats: int) -> dict[str, int]:
    """Seats every key surely holds in :func:`webster_capped`: its offers above a threshold ``t``.

    ``live`` maps each key of positive weight and cap to ``(w, cap)`` (integer weight, cap ≤
    ``seats``). For any ``t``, the offers strictly above ``t`` precede every other offer in the
    greedy's order, so granting them first and continuing one seat at a time gives the same
    result, provided there are at most ``seats`` of them. Key ``k`` has
    ``min(cap, #{j >= 0 : w / (j + 1/2) > t})`` of them.

    Threshold: with Z the keys saturated at ``t`` (all their ``cap`` offers above it; key ``k``
    is once ``t < s_k = w / (cap - 1/2)``) and R the others, ``t = W_R / (seats - C_Z - |R|/2)``
    (``W_R`` their weight, ``C_Z`` the caps of Z). Then the offers above ``t`` number at most
    ``C_Z + Σ_R (w/t + 1/2) - ε < seats`` and at least ``seats - |R|``, so at most K seats are
    left to the queue. Lowering ``t`` only saturates more keys, in decreasing ``s_k``, and each
    saturation lowers ``t`` again: one sweep over the keys sorted by ``s_k`` finds Z. If the
    denominator reaches 0 the previous threshold is kept (it already leaves < K/2 seats).
    Everything is integer arithmetic: ``t = N / D`` with ``N = 2 W_R`` and
    ``D = 2 (seats - C_Z) - |R|``.
    """
    if sum(cap for _, cap in live.values()) <= seats:
        return {key: cap for key, (_, cap) in live.items()}  # every offer is granted
    if 2 * seats <= len(live):
        return {}  # no threshold below every key: the queue hands out these few seats

    def saturates_later(a: str, b: str) -> int:  # s_a < s_b, by cross-multiplication
        (wa, ca), (wb, cb) = live[a], live[b]
        return wa * (2 * cb - 1) - wb * (2 * ca - 1)

    order = sorted(live, key=functools.cmp_to_key(saturates_later), reverse=True)
    rest_weight = sum(w for w, _ in live.values())
    saturated_caps, rest, i = 0, len(order), 0
    threshold: tuple[int, int] | None = None
    while rest > 0:
        den = 2 * (seats - saturated_caps) - rest
        if den <= 0:
            break
        num = 2 * rest_weight
        threshold = (num, den)
        if i == len(order):
            break
        w, cap = live[order[i]]
        if 2 * w * den <= num * (2 * cap - 1):  # the next key is not saturated at t
            break
        rest_weight -= w
        saturated_caps += cap
        rest -= 1
        i += 1
    if threshold is None:
        return {}
    num, den = threshold
    # offers of key k above t = num/den: odd o = 2j + 1 with o * num < 2 w den
    start = {key: min(cap, ((2 * w * den - 1) // num + 1) // 2) for key, (w, cap) in live.items()}
    if sum(start.values()) > seats:  # pragma: no cover - excluded by the bound above
        raise AssertionError("divisor start above the house size")
    return start


def webster(weights: Mapping[str, float], seats: int) -> dict[str, int]:
    """Webster/Sainte-Laguë apportionment of ``seats`` proportionally to ``weights``.

    Exact (rational arithmetic), deterministic ties (ascending key). Keys of weight 0 get 0 seats.

    Parameters
    ----------
    weights
        Non-negative finite weights by key, not all zero when ``seats > 0``.
    seats
        Number of seats (>= 0).

    Returns
    -------
    dict[str, int]
        Seats per key (keys in ascending order), summing to ``seats``.

    Examples
    --------
    >>> webster({"a": 5.0, "b": 3.0, "c": 2.0}, 4)
    {'a': 2, 'b': 1, 'c': 1}
    """
    return webster_capped(weights, seats)


def hamilton(weights: Mapping[str, float], seats: int) -> dict[str, int]:
    """Hamilton (largest remainder) apportionment, exact, ties by ascending key.

    Provided for comparisons: unlike Webster it is not house-monotone (Alabama paradox).
    """
    exact = _checked_weights(weights, seats)
    if seats == 0:
        return {key: 0 for key in exact}
    total = sum(exact.values())
    quotas = {key: w * seats / total for key, w in exact.items()}
    held = {key: math.floor(q) for key, q in quotas.items()}
    left = seats - sum(held.values())
    order = sorted(quotas, key=lambda k: (-(quotas[k] - held[k]), k))
    for key in order[:left]:
        held[key] += 1
    return held
