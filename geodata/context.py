"""The national context of a round: programme communes, their need and their groups.

Built once from :func:`geodata.national.programme_table` and kept on disk across processes
(entry ``context`` of :mod:`geodata.cache`): positions, need, flags, the groups of communes
(départements, régions, EPCI, EPCI parts) and the need-side sums of every group. A warm load
needs numpy only; pandas is imported when the context must be built, scipy when the KD-trees of
the commune positions are first used.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from geodata import cache as disk_cache
from geodata import layers
from geodata.errors import GeodataError
from geodata.national import commune_table, programme_table
from geodata.need import NeedParams
from geodata.sums import flat_segments, float_sums, int_sums

if TYPE_CHECKING:
    import pandas as pd
    from scipy.spatial import cKDTree


GROUPINGS = ("departement", "region", "epci", "epci_part")


@dataclass(frozen=True)
class Groups:
    """Programme communes grouped by a key (sorted keys), with the need-side sums per group."""

    keys: tuple[str, ...]
    index: dict[str, int]
    members: tuple[np.ndarray, ...]
    names: tuple[Any, ...]  # str (None or NaN only for a missing name in the data)
    fragile: np.ndarray
    population: np.ndarray
    france_services: np.ndarray
    fallback_fragile: np.ndarray
    any_fallback: np.ndarray
    reasons: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class RoundContext:
    codes: np.ndarray
    pos: dict[str, int]
    fragile: np.ndarray
    population: np.ndarray
    fallback: np.ndarray
    reasons: np.ndarray
    france_services: np.ndarray
    xy: np.ndarray
    zones: np.ndarray
    zone_members: dict[str, np.ndarray]
    groups: dict[str, Groups]
    com_codes: frozenset[str]
    departement: np.ndarray
    region: np.ndarray
    epci: np.ndarray  # object: SIREN str or None
    zrr: np.ndarray
    score: np.ndarray

    @property
    def table(self) -> pd.DataFrame:
        """:func:`geodata.national.programme_table` (loaded on first use)."""
        return programme_table()

    @property
    def trees(self) -> dict[str, cKDTree]:
        """KD-tree of the commune positions per zone (scipy imported on first use)."""
        return catchment_trees()


def _groups(values: np.ndarray) -> dict[str, np.ndarray]:
    order = np.argsort(values, kind="stable")
    sorted_vals = values[order]
    keys, starts = np.unique(sorted_vals, return_index=True)
    bounds = [*starts[1:], len(values)]
    return {str(k): np.sort(order[a:b]) for k, a, b in zip(keys, starts, bounds, strict=True)}


#: String columns with few distinct values, stored as labels + codes (a tenth of the bytes).
_LABELLED = ("reasons", "zones", "departement", "region", "epci", "zrr")


def _build_context() -> dict[str, np.ndarray]:
    """The arrays of :class:`RoundContext`, from the programme table (stored by the disk cache)."""
    t = programme_table()
    arrays = _commune_arrays(t, commune_table())
    names = _group_names(t)
    for g, groups in _group_members(t).items():
        arrays |= _group_arrays(g, groups, names.get(g, {}), arrays)
    if any("|" in r for r in set(arrays["reasons"].tolist())):
        raise GeodataError("need_fallback reasons may not contain '|'")
    for name in _LABELLED:
        labels, codes = np.unique(arrays.pop(name), return_inverse=True)
        arrays[f"{name}.labels"] = labels
        arrays[f"{name}.codes"] = codes.astype(np.int32)
    return arrays


def _commune_arrays(t: pd.DataFrame, allc: pd.DataFrame) -> dict[str, np.ndarray]:
    """One array per column of the programme communes, and the codes of the COM."""
    epci_list = t["epci_siren"].tolist()
    return {
        "codes": t.index.to_numpy().astype(str),
        "fragile": t["fragile_population"].to_numpy(float),
        "population": t["population"].to_numpy(np.int64),
        "fallback": (t["need_fallback"] != "").to_numpy(),
        "reasons": t["need_fallback"].to_numpy().astype(str),
        "france_services": t["france_services"].to_numpy(np.int64),
        "xy": t[["x", "y"]].to_numpy(float),
        "zones": t["zone_calcul"].to_numpy().astype(str),
        "departement": t["departement"].to_numpy().astype(str),
        "region": t["region"].to_numpy().astype(str),
        "epci": np.array([e if isinstance(e, str) else "" for e in epci_list], dtype=str),
        "epci_none": np.array([not isinstance(e, str) for e in epci_list], dtype=bool),
        "zrr": t["zrr"].to_numpy().astype(str),
        "score": t["score_global"].to_numpy(float),
        "com_codes": np.array(
            sorted(allc.index[~allc["in_programme"].to_numpy()].tolist()), dtype=str
        ),
    }


def _group_members(t: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """Sorted positions of the communes of each group, per grouping (:data:`GROUPINGS`)."""
    epci = t["epci_siren"].fillna("").to_numpy().astype(str)
    dep = t["departement"].to_numpy().astype(str)
    has_epci = epci != ""
    part = np.char.add(np.char.add(dep, ":"), epci)
    within = np.flatnonzero(has_epci)
    return {
        "departement": _groups(dep),
        "region": _groups(t["region"].to_numpy().astype(str)),
        "epci": {k: within[v] for k, v in _groups(epci[has_epci]).items()},
        "epci_part": {k: within[v] for k, v in _groups(part[has_epci]).items()},
    }


def _group_names(t: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Names of the départements and of the EPCI parts (other groups are not named)."""
    dep_list, epci_list = t["departement"].tolist(), t["epci_siren"].tolist()
    return {
        "departement": dict(zip(dep_list, t["departement_nom"].tolist(), strict=False)),
        "epci_part": {
            f"{d}:{e}": n
            for d, e, n in zip(dep_list, epci_list, t["epci_nom"].tolist(), strict=True)
            if isinstance(e, str)
        },
    }


def _group_arrays(
    g: str, groups: dict[str, np.ndarray], named: dict[str, Any], c: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Members (CSR), names and need-side sums of the groups of grouping ``g``.

    ``c`` holds the commune arrays (:func:`_commune_arrays`).
    """
    fragile, fallback, reasons = c["fragile"], c["fallback"], c["reasons"]
    keys = list(groups)
    areas = [groups[k] for k in keys]
    flat, starts, lengths = flat_segments(areas)
    any_fb = int_sums(fallback.astype(np.int64), flat, starts, lengths) > 0
    return {
        f"{g}.keys": np.array(keys, dtype=str),
        f"{g}.starts": starts,
        f"{g}.members": flat,
        **disk_cache.encode_texts(f"{g}.names", [named.get(k, "") for k in keys]),
        f"{g}.fragile": float_sums(fragile, areas),
        f"{g}.population": int_sums(c["population"], flat, starts, lengths),
        f"{g}.france_services": int_sums(c["france_services"], flat, starts, lengths),
        f"{g}.fallback_fragile": float_sums(fragile, areas, fallback),
        f"{g}.any_fallback": any_fb,
        f"{g}.reasons": np.array(
            [
                "|".join(sorted(set(reasons[a][fallback[a]].tolist()))) if f else ""
                for a, f in zip(areas, any_fb.tolist(), strict=True)
            ],
            dtype=str,
        ),
    }


def _decode_groups(a: dict[str, np.ndarray], g: str) -> Groups:
    keys = tuple(a[f"{g}.keys"].tolist())
    flat = a[f"{g}.members"].astype(np.intp, copy=False)
    bounds = zip(
        a[f"{g}.starts"].tolist(), [*a[f"{g}.starts"][1:].tolist(), len(flat)], strict=True
    )
    members = tuple(flat[i:j] for i, j in bounds)
    if len(members) != len(keys) or len(keys) != len(a[f"{g}.fragile"]):
        raise ValueError(f"inconsistent groups {g}")
    names = tuple(disk_cache.decode_texts(a, f"{g}.names"))
    return Groups(
        keys=keys,
        index={k: i for i, k in enumerate(keys)},
        members=members,
        names=names,
        fragile=a[f"{g}.fragile"],
        population=a[f"{g}.population"],
        france_services=a[f"{g}.france_services"],
        fallback_fragile=a[f"{g}.fallback_fragile"],
        any_fallback=a[f"{g}.any_fallback"],
        reasons=tuple(tuple(r.split("|")) if r else () for r in a[f"{g}.reasons"].tolist()),
    )


def _decode_context(a: dict[str, np.ndarray]) -> RoundContext:
    a = a | {name: a[f"{name}.labels"][a[f"{name}.codes"]] for name in _LABELLED}
    codes = a["codes"]
    n = len(codes)
    zone_labels, zone_codes = a["zones.labels"], a["zones.codes"]
    epci = a["epci"].astype(object)
    epci[a["epci_none"]] = None
    ctx = RoundContext(
        codes=codes,
        pos=dict(zip(codes.tolist(), range(n), strict=True)),
        fragile=a["fragile"],
        population=a["population"],
        fallback=a["fallback"],
        reasons=a["reasons"],
        france_services=a["france_services"],
        xy=a["xy"],
        zones=a["zones"],
        zone_members={
            str(z): np.flatnonzero(zone_codes == k) for k, z in enumerate(zone_labels.tolist())
        },
        groups={g: _decode_groups(a, g) for g in GROUPINGS},
        com_codes=frozenset(a["com_codes"].tolist()),
        departement=a["departement"],
        region=a["region"],
        epci=epci,
        zrr=a["zrr"],
        score=a["score"],
    )
    lengths = {
        len(v) for v in (ctx.fragile, ctx.population, ctx.xy, ctx.epci, ctx.score, ctx.reasons)
    }
    if lengths != {n} or len(ctx.pos) != n:
        raise ValueError("inconsistent context arrays")
    return ctx


@cache
def round_context() -> RoundContext:
    return disk_cache.cached_arrays(
        "context", NeedParams(), layers.DATA_DIR, _build_context, _decode_context
    )


@cache
def catchment_trees() -> dict[str, cKDTree]:
    from scipy.spatial import cKDTree

    ctx = round_context()
    return {z: cKDTree(ctx.xy[m]) for z, m in ctx.zone_members.items()}


@lru_cache(maxsize=4_096)
def codes_of(kind: str, key: str) -> tuple[str, ...]:
    ctx = round_context()
    groups = ctx.groups[kind]
    return tuple(ctx.codes[groups.members[groups.index[key]]].tolist())
