"""Accessibility of advisors for the fragile population: enhanced two-step floating catchment.

Method (E2SFCA, as DREES' APL for general practitioners)
--------------------------------------------------------
Demand points are commune centroids ``i`` with fragile population ``P_i``; supply points are
the communes ``j`` hosting ``S_j`` advisors (optionally plus France Services sites, weighted as
a fraction of an advisor). Travel time is a **proxy without a road network**::

    t_ij = d_ij * detour / speed        (d_ij straight-line distance between centroids,
                                          in the zone's projected CRS)

with ``detour = 1.3`` and ``speed = 50 km/h`` by default. A step distance-decay ``w(t)``
weighs the pairs (default: 1 up to 15 min, 2/3 up to 30 min, 1/3 up to 45 min, 0 beyond, i.e.
straight-line radii of 9.6, 19.2 and 28.8 km). Then::

    step 1:  R_j = S_j / Σ_i w(t_ij) P_i          advisors per fragile inhabitant at site j
    step 2:  A_i = Σ_j w(t_ij) R_j                advisors per fragile inhabitant within reach

``A_i × 10,000`` is the published *accessibility* (advisors per 10,000 fragile inhabitants
within reach). ``Σ_i P_i A_i = Σ_j S_j`` for every site with some demand in reach, so
``P_i A_i`` is the commune's share of the advisors (in advisor-equivalents): the *existing
offer* of an area is ``Σ_{i in area} P_i A_i``. A commune "has an advisor within the catchment"
when some site with ``S_j > 0`` lies at ``w(t_ij) > 0``. Supply whose catchment holds no
fragile inhabitant is reported as ``unreached_supply`` (it would otherwise vanish silently).

Zones are computed separately (métropole with Corse in Lambert-93, each DROM in its own
projection): nothing is reachable across the sea. Islands off the mainland coast are reached
straight across the water: one more limit of the proxy. Neighbour search uses
:class:`scipy.spatial.cKDTree` (``sparse_distance_matrix`` up to the last step's radius);
scipy and pandas are imported by the functions that need them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from geodata.errors import GeodataError

if TYPE_CHECKING:
    import pandas as pd
    from scipy.spatial import cKDTree

#: Weighted demand below which a site's catchment counts as empty (people).
MIN_DEMAND = 1e-9

#: Fragile inhabitants one advisor can serve: 13 M fragile people / 4,000 posts.
DEFAULT_CAPACITY = 13_000_000 / 4_000


@dataclass(frozen=True)
class AccessParams:
    """Tunable parameters of the accessibility proxy and of the marginal gains.

    Parameters
    ----------
    detour
        Ratio road distance / straight-line distance (≈1.3 in France).
    speed_kmh
        Average door-to-door speed, km/h.
    steps
        Distance-decay steps ``((minutes_max, weight), ...)``, increasing minutes and
        non-increasing weights in ]0, 1]; weight 0 beyond the last step.
    include_france_services
        Count France Services sites as a complementary offer.
    france_services_weight
        Advisor-equivalents per France Services site when included (its agents help with
        online procedures, a part of an advisor's job).
    capacity
        ``C``, fragile inhabitants one advisor can serve, used by the marginal gains.
    """

    detour: float = 1.3
    speed_kmh: float = 50.0
    steps: tuple[tuple[float, float], ...] = ((15.0, 1.0), (30.0, 2 / 3), (45.0, 1 / 3))
    include_france_services: bool = False
    france_services_weight: float = 0.5
    capacity: float = DEFAULT_CAPACITY

    def __post_init__(self) -> None:
        if self.detour < 1 or self.speed_kmh <= 0 or self.capacity <= 0:
            raise ValueError(
                f"AccessParams: detour >= 1, speed_kmh > 0 and capacity > 0 required, got "
                f"detour={self.detour}, speed_kmh={self.speed_kmh}, capacity={self.capacity}"
            )
        if not self.steps:
            raise ValueError("AccessParams.steps: at least one (minutes, weight) step required")
        minutes = [m for m, _ in self.steps]
        weights = [w for _, w in self.steps]
        if any(b <= a for a, b in itertools.pairwise(minutes)) or minutes[0] <= 0:
            raise ValueError(f"AccessParams.steps: minutes must increase from > 0, got {minutes}")
        if any(not 0 < w <= 1 for w in weights) or any(
            b > a for a, b in itertools.pairwise(weights)
        ):
            raise ValueError(
                f"AccessParams.steps: weights must be in ]0,1], non-increasing, got {weights}"
            )
        if self.france_services_weight < 0:
            raise ValueError("AccessParams.france_services_weight must be >= 0")

    def radius_m(self, minutes: float) -> float:
        """Straight-line radius (metres) reached in ``minutes``."""
        return minutes / 60.0 * self.speed_kmh * 1000.0 / self.detour

    @property
    def max_radius_m(self) -> float:
        """Radius of the last decay step (beyond it the weight is 0)."""
        return self.radius_m(self.steps[-1][0])

    @property
    def catchment_radius_m(self) -> float:
        """Radius of the first decay step: the catchment of a seat commune."""
        return self.radius_m(self.steps[0][0])

    def minutes(self, distance_m: np.ndarray) -> np.ndarray:
        """Travel-time proxy (minutes) of straight-line distances (metres)."""
        return np.asarray(distance_m, float) / 1000.0 * self.detour / self.speed_kmh * 60.0

    def weight(self, distance_m: np.ndarray) -> np.ndarray:
        """Distance-decay weight of straight-line distances (metres)."""
        t = self.minutes(distance_m)
        limits = np.array([m for m, _ in self.steps])
        weights = np.array([w for _, w in self.steps] + [0.0])
        # side="left": a time exactly on a limit still belongs to that step.
        return weights[np.searchsorted(limits, t, side="left")]


@dataclass(frozen=True)
class E2SFCAResult:
    """Per-demand-point output of :func:`e2sfca` (arrays aligned on the demand points).

    Attributes
    ----------
    accessibility
        ``A_i``: advisors per fragile inhabitant within reach.
    reachable
        Some supply > 0 at positive weight.
    served
        ``P_i A_i``: advisor-equivalents serving point ``i``.
    site_ratio
        ``R_j`` per supply point.
    unreached_supply
        Supply lost because its catchment has no demand.
    """

    accessibility: np.ndarray
    reachable: np.ndarray
    served: np.ndarray
    site_ratio: np.ndarray
    unreached_supply: float

    @property
    def accessibility_10k(self) -> np.ndarray:
        """Advisors per 10,000 fragile inhabitants within reach."""
        return self.accessibility * 1e4


def _as_xy(xy: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(xy, float)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"'{name}' should be an (n, 2) array of projected x, y, got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"'{name}' has non-finite coordinates (a commune without position?)")
    return arr


def e2sfca(
    demand_xy: np.ndarray,
    demand: np.ndarray,
    supply_xy: np.ndarray,
    supply: np.ndarray,
    params: AccessParams | None = None,
    *,
    demand_zone: Sequence[str] | np.ndarray | None = None,
    supply_zone: Sequence[str] | np.ndarray | None = None,
    demand_trees: dict[str, cKDTree] | None = None,
) -> E2SFCAResult:
    """Enhanced two-step floating catchment area on projected points (see module docstring).

    Parameters
    ----------
    demand_xy, demand
        Demand points ``(n, 2)`` in metres and their fragile population ``(n,)``.
    supply_xy, supply
        Supply points ``(m, 2)`` in metres and their advisors ``(m,)`` (may be fractional).
    params
        Decay steps, detour and speed.
    demand_zone, supply_zone
        Zone label per point (projections differ between zones; pairs across zones are
        never in reach). ``None``: a single zone.
    demand_trees
        Pre-built ``cKDTree`` per zone over the demand points of that zone, in the order of
        ``np.flatnonzero(demand_zone == zone)`` (a cache for repeated national calls).

    Returns
    -------
    E2SFCAResult
    """
    params = params or AccessParams()
    dxy, dem, dz, sxy, sup, sz = _checked_points(
        demand_xy, demand, supply_xy, supply, demand_zone, supply_zone
    )
    access = np.zeros(len(dxy))
    reach_supply = np.zeros(len(dxy))
    ratio = np.zeros(len(sxy))
    unreached = 0.0
    for zone in sorted(set(sz.tolist())):
        s_idx = np.flatnonzero((sz == zone) & (sup > 0))
        d_idx = np.flatnonzero(dz == zone)
        if len(s_idx) == 0:
            continue
        if len(d_idx) == 0:
            unreached += float(sup[s_idx].sum())
            continue
        tree = demand_trees.get(zone) if demand_trees else None
        si, di, w = _pairs_in_reach(sxy[s_idx], dxy[d_idx], tree, params)
        s_sup = sup[s_idx]
        r, lost = _site_ratios(si, w, dem[d_idx][di], s_sup)
        unreached += lost
        ratio[s_idx] = r
        access[d_idx] += np.bincount(di, weights=w * r[si], minlength=len(d_idx))
        reach_supply[d_idx] += np.bincount(di, weights=w * s_sup[si], minlength=len(d_idx))
    return E2SFCAResult(
        accessibility=access,
        reachable=reach_supply > 0,
        served=access * dem,
        site_ratio=ratio,
        unreached_supply=unreached,
    )


def _checked_points(
    demand_xy: np.ndarray,
    demand: np.ndarray,
    supply_xy: np.ndarray,
    supply: np.ndarray,
    demand_zone: Sequence[str] | np.ndarray | None,
    supply_zone: Sequence[str] | np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checked ``(demand xy, demand, demand zones, supply xy, supply, supply zones)``."""
    dxy = _as_xy(demand_xy, "demand_xy")
    sxy = _as_xy(supply_xy, "supply_xy")
    dem = np.asarray(demand, float)
    sup = np.asarray(supply, float)
    if dem.shape != (len(dxy),) or sup.shape != (len(sxy),):
        raise ValueError("demand/supply lengths must match their coordinates")
    if (
        (dem < 0).any()
        or (sup < 0).any()
        or not (np.isfinite(dem).all() and np.isfinite(sup).all())
    ):
        raise ValueError("demand and supply must be finite and >= 0")
    dz = np.zeros(len(dxy), dtype=object) if demand_zone is None else np.asarray(demand_zone)
    sz = np.zeros(len(sxy), dtype=object) if supply_zone is None else np.asarray(supply_zone)
    if dz.shape != (len(dxy),) or sz.shape != (len(sxy),):
        raise ValueError("zone labels must match the number of points")
    return dxy, dem, dz, sxy, sup, sz


def _pairs_in_reach(
    site_xy: np.ndarray, demand_xy: np.ndarray, demand_tree: cKDTree | None, params: AccessParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(site, demand point, weight)`` of every pair of one zone at a positive weight."""
    from scipy.spatial import cKDTree

    tree = demand_tree if demand_tree is not None else cKDTree(demand_xy)
    pairs = cKDTree(site_xy).sparse_distance_matrix(
        tree, params.max_radius_m, output_type="ndarray"
    )
    # The "ndarray" output keeps zero distances (a site in its own commune), unlike the
    # sparse-matrix outputs that would drop them.
    si, di = pairs["i"].astype(np.intp), pairs["j"].astype(np.intp)
    w = params.weight(pairs["v"])
    keep = w > 0
    return si[keep], di[keep], w[keep]


def _site_ratios(
    si: np.ndarray, w: np.ndarray, pair_demand: np.ndarray, site_supply: np.ndarray
) -> tuple[np.ndarray, float]:
    """Step 1: ``R_j`` per site of a zone, and the supply of the sites without demand."""
    weighted_demand = np.bincount(si, weights=w * pair_demand, minlength=len(site_supply))
    # Below a billionth of an inhabitant a catchment is empty: avoids dividing by
    # subnormal numbers (overflow) and counts that supply as unreached.
    ok = weighted_demand > MIN_DEMAND
    r = np.zeros(len(site_supply))
    r[ok] = site_supply[ok] / weighted_demand[ok]
    return r, float(site_supply[~ok].sum())


def commune_accessibility(
    table: pd.DataFrame,
    supply: pd.Series,
    params: AccessParams | None = None,
    *,
    demand_trees: dict[str, cKDTree] | None = None,
) -> pd.DataFrame:
    """E2SFCA per commune, supply located at the commune centroids.

    Parameters
    ----------
    table
        Programme communes indexed by code INSEE with ``x, y, zone_calcul,
        fragile_population``.
    supply
        Advisors (advisor-equivalents) per code INSEE; codes absent from ``table`` raise.
    params
        Accessibility parameters.
    demand_trees
        Optional cached trees per zone (see :func:`e2sfca`).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``table``: ``accessibility_10k``, ``has_advisor_within_reach``,
        ``served`` (advisor-equivalents serving the commune); ``attrs["unreached_supply"]``.
    """
    import pandas as pd

    for col in ("x", "y", "zone_calcul", "fragile_population"):
        if col not in table.columns:
            raise GeodataError(f"'table' lacks column {col!r}")
    supply = supply[supply > 0]
    missing = supply.index.difference(table.index)
    if len(missing):
        raise GeodataError(f"supply at codes outside the table: {list(missing)[:10]}")
    pos = table.index.get_indexer(supply.index)
    xy = table[["x", "y"]].to_numpy(float)
    zones = table["zone_calcul"].to_numpy()
    res = e2sfca(
        xy,
        table["fragile_population"].to_numpy(float),
        xy[pos],
        supply.to_numpy(float),
        params,
        demand_zone=zones,
        supply_zone=zones[pos],
        demand_trees=demand_trees,
    )
    out = pd.DataFrame(
        {
            "accessibility_10k": res.accessibility_10k,
            "has_advisor_within_reach": res.reachable,
            "served": res.served,
        },
        index=table.index,
    )
    out.attrs["unreached_supply"] = res.unreached_supply
    return out


def share_without_access(
    table: pd.DataFrame, by: str, *, reachable: str = "has_advisor_within_reach"
) -> pd.Series:
    """Share of the fragile population with no advisor within the catchment, per group."""
    import pandas as pd

    fragile = table["fragile_population"].astype(float)
    lacking = fragile.where(~table[reachable].astype(bool), 0.0)
    g = pd.DataFrame({by: table[by], "f": fragile, "l": lacking}).groupby(by, sort=True).sum()
    return (g["l"] / g["f"].where(g["f"] > 0)).rename("share_without_advisor")
