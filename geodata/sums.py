"""Sums of per-commune values over areas (arrays of commune positions).

Float sums over a service area are always ``values[positions].sum()`` (numpy's pairwise
summation) on the area's sorted positions, whether the area is a group summed once for all
applicants, a catchment or an explicit list, so the rounding does not depend on how the work is
shared (integer sums are exact in any order; a one-commune area is its commune's value).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def float_sums(
    values: np.ndarray, areas: Sequence[np.ndarray], mask: np.ndarray | None = None
) -> np.ndarray:
    """``values[pos].sum()`` (``values[pos][mask[pos]].sum()``) of each area, as floats.

    One numpy reduction per area on purpose: a segmented reduction (``np.add.reduceat``) adds
    in another order, so it may round differently from the per-area sum.
    """
    out = np.empty(len(areas))
    for i, pos in enumerate(areas):
        v = values[pos]
        out[i] = (v if mask is None else v[mask[pos]]).sum()
    return out


def int_sums(
    values: np.ndarray, flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """Integer sums of ``values`` over consecutive segments of ``flat`` (exact in any order)."""
    if len(flat) == 0:
        return np.zeros(len(lengths), dtype=values.dtype)
    out = np.add.reduceat(values[flat], np.minimum(starts, len(flat) - 1))
    out[lengths == 0] = 0
    return out


def flat_segments(areas: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lengths = np.fromiter((len(a) for a in areas), np.int64, len(areas))
    starts = np.zeros(len(areas), np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    flat = np.concatenate(areas) if len(areas) else np.zeros(0, np.intp)
    return flat.astype(np.intp, copy=False), starts, lengths
