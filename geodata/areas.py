"""Service areas of applicants and the marginal accessibility gain of each extra post.

Service area by applicant type
------------------------------
==================================  ==================================================
type                                service area
==================================  ==================================================
COMMUNE (and its CCAS)              the seat commune
EPCI (and its CIAS)                 the member communes of the seat commune's EPCI
DEPARTEMENT                         the communes of the seat's département
REGION                              the communes of the seat's région
COLLECTIVITE, GIP, PRIVATE          the seat commune plus its catchment: every commune
                                    whose centroid lies within the first decay step
                                    (15 min by default ≈ 9.6 km straight line)
==================================  ==================================================

An explicit list ``communesDesservies`` overrides the rule (codes re-keyed and checked like
any other). A seat commune without EPCI (4 single-commune islands) gets itself as EPCI area.

Marginal gains
--------------
For an area with fragile population ``P`` already served by ``E`` advisor-equivalents (the
catchment-weighted existing offer ``Σ_{i in area} P_i A_i`` of :mod:`geodata.access`), and
``C`` fragile inhabitants an advisor can serve (default 13 M / 4,000 = 3,250), the fragile
inhabitants reached by ``n`` advisors follow a saturating curve ``P (1 − exp(−n C / P))``
(each advisor reaches ``C`` people drawn from the area, overlaps grow as coverage rises).
The gain of the ``k``-th extra post is the increment::

    gain_k = P (exp(−(E + k − 1) C / P) − exp(−(E + k) C / P)),   k = 1 .. K

≥ 0, strictly decreasing in ``k`` when ``P > 0`` (all 0 when ``P = 0``), summing to at most
``P``: diminishing returns, in fragile inhabitants newly reached.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from geodata.errors import GeodataError

APPLICANT_TYPES = ("COMMUNE", "EPCI", "DEPARTEMENT", "REGION", "COLLECTIVITE", "GIP", "PRIVATE")


def check_type(kind: str) -> str:
    """Return ``kind`` if it is a known applicant type, else raise with the accepted values."""
    if kind not in APPLICANT_TYPES:
        raise GeodataError(
            f"unknown applicant type {kind!r}; expected one of {', '.join(APPLICANT_TYPES)} "
            "(a CCAS comes as COMMUNE, a CIAS as EPCI)"
        )
    return kind


def marginal_gains(
    fragile_population: float, existing_offer: float, k_max: int, capacity: float
) -> tuple[float, ...]:
    """Fragile inhabitants newly reached by each of ``k_max`` extra posts (module docstring).

    Parameters
    ----------
    fragile_population
        ``P`` >= 0 of the service area.
    existing_offer
        ``E`` >= 0, advisor-equivalents already serving the area.
    k_max
        Number of extra posts ``K`` >= 0.
    capacity
        ``C`` > 0, fragile inhabitants one advisor can serve.

    Returns
    -------
    tuple of float
        ``K`` plain floats, non-negative and non-increasing.
    """
    if k_max < 0:
        raise ValueError(f"k_max must be >= 0, got {k_max}")
    if capacity <= 0 or fragile_population < 0 or existing_offer < 0:
        raise ValueError(
            f"need capacity > 0, fragile_population >= 0, existing_offer >= 0; got "
            f"{capacity}, {fragile_population}, {existing_offer}"
        )
    if k_max == 0:
        return ()
    if fragile_population <= 0:
        return (0.0,) * k_max
    x = capacity / fragile_population  # may be inf for a vanishing P
    n = existing_offer + np.arange(k_max, dtype=float)
    # P e^{-(E+k-1)x} (1 - e^{-x}) with expm1 for accuracy when x is small; 0 * inf := 0.
    with np.errstate(invalid="ignore", over="ignore"):
        exponent = np.where(n > 0, n * x, 0.0)
    g = fragile_population * np.exp(-exponent) * -math.expm1(-x)
    # Rounding can only make equal neighbours differ by one ulp; enforce the contract exactly.
    g = np.minimum.accumulate(np.maximum(g, 0.0))
    return tuple(float(v) for v in g)


def marginal_gains_many(
    fragile_population: Sequence[float],
    existing_offer: Sequence[float],
    k_max: Sequence[int],
    capacity: float,
) -> list[tuple[float, ...]]:
    """:func:`marginal_gains` of many areas at once: ``[marginal_gains(P, E, K, C) ...]``.

    The same floating-point operations element by element (so the same values, bit for bit),
    computed on flat arrays instead of one small array per area; the same errors.
    """
    p = np.asarray(fragile_population, dtype=float)
    e = np.asarray(existing_offer, dtype=float)
    k = np.asarray(k_max, dtype=np.int64)
    if not p.shape == e.shape == k.shape or p.ndim != 1:
        raise ValueError("fragile_population, existing_offer and k_max must have one length")
    bad = (k < 0) | (p < 0) | (e < 0)
    if capacity <= 0 or bad.any():
        i = int(np.argmax(bad)) if bad.any() else 0
        marginal_gains(float(p[i]), float(e[i]), int(k[i]), capacity)  # raises
    out: list[tuple[float, ...]] = [()] * len(p)
    zero = np.flatnonzero((k > 0) & ~(p > 0))
    for i, n in zip(zero.tolist(), k[zero].tolist(), strict=True):
        out[i] = (0.0,) * n
    live = np.flatnonzero((k > 0) & (p > 0))
    if not len(live):
        return out
    lp, le, lk = p[live], e[live], k[live]
    with np.errstate(divide="ignore", over="ignore"):
        x = capacity / lp  # may be inf for a vanishing P, as in the scalar version
    # -expm1(-x) of the scalar version is Python's math.expm1: kept per area.
    c = np.array([-math.expm1(-v) for v in x.tolist()])
    starts = np.zeros(len(live), np.int64)
    np.cumsum(lk[:-1], out=starts[1:])
    owner = np.repeat(np.arange(len(live)), lk)
    rank = np.arange(int(lk.sum()), dtype=np.int64) - np.repeat(starts, lk)
    n_posts = le[owner] + rank.astype(float)
    with np.errstate(invalid="ignore", over="ignore"):
        exponent = np.where(n_posts > 0, n_posts * x[owner], 0.0)
    g = lp[owner] * np.exp(-exponent) * c[owner]
    g = np.maximum(g, 0.0)
    # np.minimum.accumulate within each area: rank by rank, on the areas that long.
    for r in range(1, int(lk.max())):
        at = starts[lk > r] + r
        g[at] = np.minimum(g[at], g[at - 1])
    values = g.tolist()
    for i, a, n in zip(live.tolist(), starts.tolist(), lk.tolist(), strict=True):
        out[i] = tuple(values[a : a + n])
    return out
