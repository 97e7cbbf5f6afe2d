"""Marginal gains: golden values and properties."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.areas import marginal_gains, marginal_gains_many


def test_gains_golden() -> None:
    # P = C = 3250, E = 0: x = C / P = 1, gain_k = 3250 (e^{-(k-1)} - e^{-k})
    g = marginal_gains(3250, 0, 3, 3250)
    assert g == pytest.approx(
        (
            3250 * (1 - math.exp(-1)),
            3250 * (math.exp(-1) - math.exp(-2)),
            3250 * (math.exp(-2) - math.exp(-3)),
        )
    )
    assert g[0] == pytest.approx(2054.39, abs=0.01)  # 3250 * 0.632121
    # an existing offer of 1 advisor shifts the curve by one post
    assert marginal_gains(3250, 1, 2, 3250) == pytest.approx(g[1:])


def test_gains_edge_cases() -> None:
    assert marginal_gains(1000, 0, 0, 3250) == ()
    assert marginal_gains(0, 0, 3, 3250) == (0.0, 0.0, 0.0)
    assert all(type(v) is float for v in marginal_gains(10, 0, 2, 3250))
    with pytest.raises(ValueError):
        marginal_gains(100, -1, 2, 3250)
    with pytest.raises(ValueError):
        marginal_gains(100, 0, -1, 3250)


@settings(max_examples=200, deadline=None)
@given(
    p=st.floats(0, 3e6, allow_nan=False),
    e=st.floats(0, 500, allow_nan=False),
    k=st.integers(0, 60),
    c=st.floats(1, 10_000, allow_nan=False),
)
def test_gains_non_increasing_non_negative_bounded(p, e, k, c) -> None:
    g = marginal_gains(p, e, k, c)
    assert len(g) == k
    assert all(v >= 0 for v in g)
    assert all(b <= a for a, b in itertools.pairwise(g))
    assert sum(g) <= p * (1 + 1e-9) + 1e-9


def _bits(values: tuple[float, ...]) -> list[tuple[type, str]]:
    return [(type(v), v.hex()) for v in values]


@settings(max_examples=200, deadline=None)
@given(
    areas=st.lists(
        st.tuples(
            st.one_of(st.floats(0, 3e6), st.sampled_from([0.0, 1e-320, 5e-324, 1e-300, 3250.0])),
            st.one_of(st.floats(0, 500), st.sampled_from([0.0, 1e-12, 1e6])),
            st.integers(0, 12),
        ),
        max_size=30,
    ),
    c=st.floats(1, 10_000),
)
def test_gains_of_many_areas_are_those_of_each_area(areas, c) -> None:
    many = marginal_gains_many(
        [p for p, _, _ in areas], [e for _, e, _ in areas], [k for *_, k in areas], c
    )
    assert [_bits(g) for g in many] == [_bits(marginal_gains(p, e, k, c)) for p, e, k in areas]


def test_gains_of_many_areas_raise_as_one_area() -> None:
    with pytest.raises(ValueError, match="k_max must be >= 0"):
        marginal_gains_many([1.0, 2.0], [0.0, 0.0], [1, -1], 3250)
    with pytest.raises(ValueError, match="existing_offer >= 0"):
        marginal_gains_many([1.0], [-1.0], [1], 3250)
    with pytest.raises(ValueError, match="capacity > 0"):
        marginal_gains_many([1.0], [0.0], [1], 0)
    assert marginal_gains_many([], [], [], 3250) == []
