"""Catchments: the programme communes within a radius of a commune (its first decay step).

The catchments at the default radius are computed for every commune at once and kept on disk
(entry ``catchments`` of :mod:`geodata.cache`, CSR rows); other radii are queried per commune
from the KD-trees of the context (LRU of 65,536).
"""

from __future__ import annotations

from functools import cache, lru_cache

import numpy as np

from geodata import cache as disk_cache
from geodata import layers
from geodata.access import AccessParams
from geodata.context import catchment_trees, round_context
from geodata.need import NeedParams

#: Catchment radius of the default parameters: its catchments are precomputed and kept on disk.
DEFAULT_CATCHMENT_RADIUS_M = AccessParams().catchment_radius_m


def _build_catchments(radius_m: float) -> dict[str, np.ndarray]:
    """Every programme commune's catchment (communes within ``radius_m``) as sorted CSR rows.

    One ``query_pairs`` per zone: the pairs at distance <= radius are those that
    ``query_ball_point`` returns for each commune (same tree, same distance test; the tests
    compare both on every commune), plus the commune itself.
    """
    ctx = round_context()
    trees = catchment_trees()
    n = len(ctx.codes)
    rows = [np.arange(n, dtype=np.int64)]
    cols = [np.arange(n, dtype=np.int64)]
    for zone, members in ctx.zone_members.items():
        pairs = trees[zone].query_pairs(radius_m, output_type="ndarray")
        a, b = members[pairs[:, 0]], members[pairs[:, 1]]
        rows += [a, b]
        cols += [b, a]
    key = np.concatenate(rows) * n + np.concatenate(cols)
    key.sort()
    row, col = np.divmod(key, n)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(row, minlength=n), out=indptr[1:])
    return {"indptr": indptr, "indices": col.astype(np.int32)}


def _decode_catchments(a: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    indptr, indices = a["indptr"], a["indices"].astype(np.intp)
    if len(indptr) != len(round_context().codes) + 1 or indptr[-1] != len(indices):
        raise ValueError("inconsistent catchments")
    return indptr, indices


@cache
def default_catchments() -> tuple[np.ndarray, np.ndarray]:
    radius_m = DEFAULT_CATCHMENT_RADIUS_M
    return disk_cache.cached_arrays(
        "catchments",
        (NeedParams(), radius_m),
        layers.DATA_DIR,
        lambda: _build_catchments(radius_m),
        _decode_catchments,
    )


@lru_cache(maxsize=65_536)
def catchment_query(position: int, radius_m: float) -> np.ndarray:
    ctx = round_context()
    zone = ctx.zones[position]
    members = ctx.zone_members[str(zone)]
    local = catchment_trees()[str(zone)].query_ball_point(ctx.xy[position], radius_m)
    return np.sort(members[np.asarray(local, dtype=np.intp)])


def catchment_of(position: int, radius_m: float) -> np.ndarray:
    """Sorted positions of the communes within ``radius_m`` of commune ``position``."""
    if radius_m == DEFAULT_CATCHMENT_RADIUS_M:
        indptr, indices = default_catchments()
        return indices[indptr[position] : indptr[position + 1]]
    return catchment_query(position, radius_m)
