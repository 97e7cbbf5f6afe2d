"""Marginal gains: golden values and properties."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.areas import marginal_gains


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
