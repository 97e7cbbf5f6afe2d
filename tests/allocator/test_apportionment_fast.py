"""Webster in O(keys · log) whatever the house size, equal to the one-seat-at-a-time reference.

Issue 14: ``politique.enveloppeNationale`` 10^7 took 14 s and 10^19 never ended, because the fair
shares handed the envelope out one seat at a time. The divisor start of
:func:`allocator.apportionment.webster_capped` must give exactly the old result (kept below as the
oracle) with at most one queue step per key.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from allocator import apportionment
from allocator.apportionment import _integer_weights, _Priority, webster, webster_capped


def webster_capped_one_seat_at_a_time(
    weights: Mapping[str, float], seats: int, caps: Mapping[str, int] | None = None
) -> dict[str, int]:
    """The former implementation (O(seats)), kept as the oracle of the fast one."""
    exact = _integer_weights(weights, seats)
    caps = caps or {}
    held = {key: 0 for key in sorted(exact)}
    heap = [_Priority(key, w, 0) for key, w in exact.items() if w > 0 and caps.get(key, seats) > 0]
    heapq.heapify(heap)
    for _ in range(seats):
        if not heap:
            break
        best = heapq.heappop(heap)
        held[best.key] += 1
        if held[best.key] < caps.get(best.key, seats):
            heapq.heappush(heap, _Priority(best.key, best.weight, held[best.key]))
    return held


def _is_highest_averages(
    weights: Mapping[str, float], seats: int, caps: Mapping[str, int], held: Mapping[str, int]
) -> bool:
    """Certificate for any house size: every granted offer precedes every refused one.

    Offer ``(k, j)`` has priority ``w_k / (j + 1/2)``; the greedy order is priority descending,
    then key ascending. ``held`` is the greedy's result iff the last offer granted (over all keys)
    comes before the first offer refused, and no seat is left while an offer remains.
    """

    def rank(key: str, j: int) -> tuple[Fraction, str]:
        return (-Fraction(weights[key]) / (j + Fraction(1, 2)), key)

    live = [k for k in weights if weights[k] > 0 and caps.get(k, seats) > 0]
    granted = [rank(k, held[k] - 1) for k in live if held[k] > 0]
    refused = [rank(k, held[k]) for k in live if held[k] < min(caps.get(k, seats), seats)]
    if any(held[k] for k in weights if k not in live):
        return False
    if any(held[k] > caps.get(k, seats) for k in live):
        return False
    if sum(held.values()) < seats and refused:
        return False
    if sum(held.values()) > seats:
        return False
    return not granted or not refused or max(granted) < min(refused)


KEYS = st.text("abcdefgh", min_size=1, max_size=2)
WEIGHTS = st.one_of(
    st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 1.0, 2.0, 3.0, 0.5, 1e-300, 5e-324, 1e15, 1e300]),
)


@settings(max_examples=300, deadline=None)
@given(
    data=st.data(),
    weights=st.dictionaries(KEYS, WEIGHTS, min_size=1, max_size=12),
    seats=st.one_of(st.integers(0, 60), st.integers(0, 3000)),
)
@example(data=None, weights={"a": 1.0, "b": 1.0, "c": 1.0}, seats=7)  # exact ties at the start
@example(data=None, weights={"a": 6.0, "b": 6.0, "c": 2.0}, seats=11)
def test_webster_capped_fast_equals_one_seat_at_a_time(
    data: st.DataObject | None, weights: dict[str, float], seats: int
) -> None:
    if seats > 0 and not any(weights.values()):
        return
    caps: dict[str, int] = {}
    if data is not None:
        caps = data.draw(st.dictionaries(st.sampled_from(sorted(weights)), st.integers(-1, 400)))
    assert webster_capped(weights, seats, caps) == webster_capped_one_seat_at_a_time(
        weights, seats, caps
    )


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    weights=st.dictionaries(KEYS, WEIGHTS, min_size=1, max_size=12),
    seats=st.one_of(st.integers(10**4, 10**7), st.integers(0, 10**40)),
)
def test_webster_capped_huge_houses_are_highest_averages(
    data: st.DataObject, weights: dict[str, float], seats: int
) -> None:
    if not any(weights.values()):
        return
    caps = data.draw(
        st.dictionaries(
            st.sampled_from(sorted(weights)), st.one_of(st.integers(0, 50), st.integers(0, 10**30))
        )
    )
    held = webster_capped(weights, seats, caps)
    assert _is_highest_averages(weights, seats, caps, held)
    if not caps:
        assert sum(held.values()) == seats


@pytest.mark.parametrize("seats", [10**7, 10**19, 10**100])
def test_huge_envelope_takes_at_most_one_queue_step_per_departement(
    monkeypatch: pytest.MonkeyPatch, seats: int
) -> None:
    """The hole: the fair shares of a 10^7 envelope took 14 s, 10^19 never ended."""
    needs = {f"{d:03d}": float(1000 + 37 * d) for d in range(101)}
    pops = 0
    real_pop = heapq.heappop

    def counted_pop(heap: list[_Priority]) -> _Priority:
        nonlocal pops
        pops += 1
        if pops > len(needs):
            raise AssertionError("more queue steps than départements: O(seats)")
        return real_pop(heap)

    monkeypatch.setattr(apportionment.heapq, "heappop", counted_pop)
    shares = webster(needs, seats)
    assert sum(shares.values()) == seats
    assert _is_highest_averages(needs, seats, {}, shares)
