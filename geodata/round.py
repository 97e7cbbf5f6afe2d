"""The numbers a round needs, per applicant and per territory: the engine's geodata input.

:func:`round_geodata` turns applicant sites (seat commune, type, optional served communes) into
plain numbers: service area, fragile population ``P_i``, existing offer ``E_i`` and marginal
gains (see :mod:`geodata.areas`), plus the need and existing advisors of every département and
EPCI part. Nothing geometric leaves this module.

Caching: the national arrays (positions, need, groups of communes and their sums), the
catchments and the E2SFCA state of the bundled 2021 advisors under the default parameters are
kept on disk across processes (:mod:`geodata.cache`); in a process they are built or loaded
once, and other E2SFCA states are cached per (existing advisors, parameters) (LRU of 16), so a
web service answering many requests on the same state only sums arrays per applicant. A warm
call needs numpy only: pandas, scipy and pyproj are imported when something must be computed.

Float sums over a service area are always ``values[positions].sum()`` (numpy's pairwise
summation) on the area's sorted positions, whether the area is a group summed once for all
applicants, a catchment or an explicit list, so the rounding does not depend on how the work is
shared (integer sums are exact in any order; a one-commune area is its commune's value).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from geodata import cache as disk_cache
from geodata import layers
from geodata.access import AccessParams, e2sfca
from geodata.areas import check_type, marginal_gains_many
from geodata.codes import rekey_codes
from geodata.coverage import resolve_existing
from geodata.errors import CommuneOutsideProgramme, GeodataError
from geodata.national import commune_table, programme_table
from geodata.need import NeedParams

if TYPE_CHECKING:
    import pandas as pd
    from scipy.spatial import cKDTree

COST_ZONES = {
    "971": "971-973",
    "972": "971-973",
    "973": "971-973",
    "974": "974-976",
    "976": "974-976",
}


@dataclass(frozen=True)
class ApplicantSite:
    """One applicant as geodata needs it (input of :func:`round_geodata`).

    Parameters
    ----------
    id_pg
        Portal id.
    type
        ``COMMUNE, EPCI, DEPARTEMENT, REGION, COLLECTIVITE, GIP, PRIVATE``.
    code_commune
        Seat commune (COG 2026, or an older code re-keyed with a warning).
    communes_desservies
        Explicit service area overriding the type's rule, or ``None``.
    max_posts
        Number of marginal gains wanted (posts this round may add), >= 0.
    """

    id_pg: int
    type: str
    code_commune: str
    communes_desservies: tuple[str, ...] | None = None
    max_posts: int = 1


@dataclass(frozen=True)
class ApplicantGeo:
    """Geodata of one applicant (output, same order as the input sites).

    Attributes
    ----------
    id_pg, code_commune
        Portal id; seat commune re-keyed to COG 2026.
    departement, region
        Codes of the seat commune.
    epci
        SIREN of the seat commune's EPCI; ``None`` for types DEPARTEMENT and REGION (and for
        the 4 island communes without EPCI).
    service_area
        Codes INSEE of the served communes, sorted.
    fragile_population
        ``P_i``, fragile inhabitants of the service area.
    existing_offer
        ``E_i``, advisor-equivalents already serving it (catchment-weighted, E2SFCA).
    gains
        ``max_posts`` marginal gains, non-increasing (fragile inhabitants newly reached).
    zrr
        ZRR flag of the seat commune (``oui``/``non``/``partiel``/``inconnu``).
    france_services
        France Services sites in the service area (2024-08-01).
    need_fallback
        Some commune of the area uses a fallback fragility score (see :mod:`geodata.need`).
    cost_zone
        ``metro``, ``971-973`` or ``974-976`` (the State's cost per post differs).
    indicators
        Plain values for explanations (see :func:`round_geodata`).
    """

    id_pg: int
    code_commune: str
    departement: str
    region: str
    epci: str | None
    service_area: tuple[str, ...]
    fragile_population: float
    existing_offer: float
    gains: tuple[float, ...]
    zrr: str
    france_services: int
    need_fallback: bool
    cost_zone: str
    indicators: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TerritoryNeed:
    """Need and existing advisors of a département, or of an EPCI part (``"DEPT:SIREN"``)."""

    code: str
    nom: str
    need: float
    population: int
    existing: int


@dataclass(frozen=True)
class RoundGeodata:
    """Output of :func:`round_geodata`.

    Attributes
    ----------
    applicants
        One :class:`ApplicantGeo` per input site, same order.
    departements
        Every programme département (96 métropole + 5 DROM), sorted by code.
    epcis
        Every EPCI part, keyed ``"DEPT:SIREN"`` (the communes of an EPCI inside one
        département), sorted by key.
    existing_total
        All existing advisors (bundled: 2,138, of which 9 are not placed on the map).
    existing_unlocated
        Existing advisors without a commune (bundled state only).
    existing_source
        ``structures_2021`` or ``runtime``.
    params
        The accessibility parameters used (echoed for replay).
    """

    applicants: tuple[ApplicantGeo, ...]
    departements: tuple[TerritoryNeed, ...]
    epcis: tuple[TerritoryNeed, ...]
    existing_total: int
    existing_unlocated: int
    existing_source: str
    params: AccessParams


# --------------------------------------------------------------------------- sums over areas


def _float_sums(
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


def _int_sums(
    values: np.ndarray, flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """Integer sums of ``values`` over consecutive segments of ``flat`` (exact in any order)."""
    if len(flat) == 0:
        return np.zeros(len(lengths), dtype=values.dtype)
    out = np.add.reduceat(values[flat], np.minimum(starts, len(flat) - 1))
    out[lengths == 0] = 0
    return out


def _segments(areas: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    lengths = np.fromiter((len(a) for a in areas), np.int64, len(areas))
    starts = np.zeros(len(areas), np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    flat = np.concatenate(areas) if len(areas) else np.zeros(0, np.intp)
    return flat.astype(np.intp, copy=False), starts, lengths


# --------------------------------------------------------------------------- context


GROUPINGS = ("departement", "region", "epci", "epci_part")


@dataclass(frozen=True)
class _Groups:
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
class _Context:
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
    groups: dict[str, _Groups]
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
        return _trees()


def _groups(values: np.ndarray) -> dict[str, np.ndarray]:
    order = np.argsort(values, kind="stable")
    sorted_vals = values[order]
    keys, starts = np.unique(sorted_vals, return_index=True)
    bounds = [*starts[1:], len(values)]
    return {str(k): np.sort(order[a:b]) for k, a, b in zip(keys, starts, bounds, strict=True)}


#: String columns with few distinct values, stored as labels + codes (a tenth of the bytes).
_LABELLED = ("reasons", "zones", "departement", "region", "epci", "zrr")


def _build_context() -> dict[str, np.ndarray]:
    """The arrays of :class:`_Context`, from the programme table (stored by the disk cache)."""
    t = programme_table()
    allc = commune_table()
    epci_raw = t["epci_siren"]
    epci = epci_raw.fillna("").to_numpy().astype(str)
    dep = t["departement"].to_numpy().astype(str)
    has_epci = epci != ""
    fragile = t["fragile_population"].to_numpy(float)
    population = t["population"].to_numpy(np.int64)
    fallback = (t["need_fallback"] != "").to_numpy()
    reasons = t["need_fallback"].to_numpy().astype(str)
    france_services = t["france_services"].to_numpy(np.int64)
    part = np.char.add(np.char.add(dep, ":"), epci)
    within = np.flatnonzero(has_epci)
    members = {
        "departement": _groups(dep),
        "region": _groups(t["region"].to_numpy().astype(str)),
        "epci": {k: within[v] for k, v in _groups(epci[has_epci]).items()},
        "epci_part": {k: within[v] for k, v in _groups(part[has_epci]).items()},
    }
    dep_list, epci_list = t["departement"].tolist(), epci_raw.tolist()
    names = {
        "departement": dict(zip(dep_list, t["departement_nom"].tolist(), strict=False)),
        "epci_part": {
            f"{d}:{e}": n
            for d, e, n in zip(dep_list, epci_list, t["epci_nom"].tolist(), strict=True)
            if isinstance(e, str)
        },
    }
    arrays: dict[str, np.ndarray] = {
        "codes": t.index.to_numpy().astype(str),
        "fragile": fragile,
        "population": population,
        "fallback": fallback,
        "reasons": reasons,
        "france_services": france_services,
        "xy": t[["x", "y"]].to_numpy(float),
        "zones": t["zone_calcul"].to_numpy().astype(str),
        "departement": dep,
        "region": t["region"].to_numpy().astype(str),
        "epci": np.array([e if isinstance(e, str) else "" for e in epci_list], dtype=str),
        "epci_none": np.array([not isinstance(e, str) for e in epci_list], dtype=bool),
        "zrr": t["zrr"].to_numpy().astype(str),
        "score": t["score_global"].to_numpy(float),
        "com_codes": np.array(
            sorted(allc.index[~allc["in_programme"].to_numpy()].tolist()), dtype=str
        ),
    }
    for g, groups in members.items():
        keys = list(groups)
        areas = [groups[k] for k in keys]
        flat, starts, lengths = _segments(areas)
        named = names.get(g, {})
        any_fb = _int_sums(fallback.astype(np.int64), flat, starts, lengths) > 0
        arrays |= {
            f"{g}.keys": np.array(keys, dtype=str),
            f"{g}.starts": starts,
            f"{g}.members": flat,
            **disk_cache.encode_texts(f"{g}.names", [named.get(k, "") for k in keys]),
            f"{g}.fragile": _float_sums(fragile, areas),
            f"{g}.population": _int_sums(population, flat, starts, lengths),
            f"{g}.france_services": _int_sums(france_services, flat, starts, lengths),
            f"{g}.fallback_fragile": _float_sums(fragile, areas, fallback),
            f"{g}.any_fallback": any_fb,
            f"{g}.reasons": np.array(
                [
                    "|".join(sorted(set(reasons[a][fallback[a]].tolist()))) if f else ""
                    for a, f in zip(areas, any_fb.tolist(), strict=True)
                ],
                dtype=str,
            ),
        }
    if any("|" in r for r in set(reasons.tolist())):
        raise GeodataError("need_fallback reasons may not contain '|'")
    for name in _LABELLED:
        labels, codes = np.unique(arrays.pop(name), return_inverse=True)
        arrays[f"{name}.labels"] = labels
        arrays[f"{name}.codes"] = codes.astype(np.int32)
    return arrays


def _decode_groups(a: dict[str, np.ndarray], g: str) -> _Groups:
    keys = tuple(a[f"{g}.keys"].tolist())
    flat = a[f"{g}.members"].astype(np.intp, copy=False)
    bounds = zip(
        a[f"{g}.starts"].tolist(), [*a[f"{g}.starts"][1:].tolist(), len(flat)], strict=True
    )
    members = tuple(flat[i:j] for i, j in bounds)
    if len(members) != len(keys) or len(keys) != len(a[f"{g}.fragile"]):
        raise ValueError(f"inconsistent groups {g}")
    names = tuple(disk_cache.decode_texts(a, f"{g}.names"))
    return _Groups(
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


def _decode_context(a: dict[str, np.ndarray]) -> _Context:
    a = a | {name: a[f"{name}.labels"][a[f"{name}.codes"]] for name in _LABELLED}
    codes = a["codes"]
    n = len(codes)
    zone_labels, zone_codes = a["zones.labels"], a["zones.codes"]
    epci = a["epci"].astype(object)
    epci[a["epci_none"]] = None
    ctx = _Context(
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
def _context() -> _Context:
    return disk_cache.cached_arrays(
        "context", NeedParams(), layers.DATA_DIR, _build_context, _decode_context
    )


@cache
def _trees() -> dict[str, cKDTree]:
    from scipy.spatial import cKDTree

    ctx = _context()
    return {z: cKDTree(ctx.xy[m]) for z, m in ctx.zone_members.items()}


# --------------------------------------------------------------------------- E2SFCA state


@dataclass(frozen=True)
class _State:
    advisors: np.ndarray
    served: np.ndarray
    access_10k: np.ndarray
    reachable: np.ndarray
    departements: tuple[TerritoryNeed, ...]
    epcis: tuple[TerritoryNeed, ...]
    existing_total: int
    existing_unlocated: int
    existing_source: str
    dep_coverage_10k: dict[str, float]
    # per grouping: (Σ served, Σ fragile without an advisor within reach, Σ advisors) per group
    group_served: dict[str, np.ndarray]
    group_lacking: dict[str, np.ndarray]
    group_advisors: dict[str, np.ndarray]


def _build_state(
    existing_key: tuple[tuple[str, int], ...] | None, params: AccessParams
) -> dict[str, np.ndarray]:
    ctx = _context()
    if existing_key is None:
        ex = resolve_existing(None)
        per = list(zip(ex.per_commune.index.tolist(), ex.per_commune.tolist(), strict=True))
        total, unlocated, source = ex.total, ex.total - ex.located_total, ex.source
    else:
        # A run-time mapping places every advisor at a commune.
        per = list(existing_key)
        total, unlocated, source = sum(n for _, n in per), 0, "runtime"
    missing = sorted({c for c, _ in per if c not in ctx.pos})
    if missing:
        raise GeodataError(f"existing advisors at codes outside the table: {missing[:10]}")
    advisors = np.zeros(len(ctx.codes), np.int64)
    for c, k in per:
        advisors[ctx.pos[c]] = k
    supply = advisors.astype(float)
    if params.include_france_services:
        supply = supply + params.france_services_weight * ctx.france_services
    # As geodata.access.commune_accessibility: supply at the communes hosting some, in order.
    at = np.flatnonzero(supply > 0)
    res = e2sfca(
        ctx.xy,
        ctx.fragile,
        ctx.xy[at],
        supply[at],
        params,
        demand_zone=ctx.zones,
        supply_zone=ctx.zones[at],
        demand_trees=_trees(),
    )
    reachable = res.reachable
    arrays: dict[str, np.ndarray] = {
        "advisors": advisors,
        "served": res.served,
        "access_10k": res.accessibility_10k,
        "reachable": reachable,
        "existing_total": np.array(total, np.int64),
        "existing_unlocated": np.array(unlocated, np.int64),
        "existing_source": np.array(source, dtype=str),
    }
    for g in GROUPINGS:
        groups = ctx.groups[g]
        flat, starts, lengths = _segments(groups.members)
        arrays[f"{g}.advisors"] = _int_sums(advisors, flat, starts, lengths)
        if g != "epci_part":
            arrays[f"{g}.served"] = _float_sums(res.served, groups.members)
            arrays[f"{g}.lacking"] = _float_sums(ctx.fragile, groups.members, ~reachable)
    return arrays


def _territories(groups: _Groups, advisors: np.ndarray) -> tuple[TerritoryNeed, ...]:
    return tuple(
        TerritoryNeed(code=k, nom=nom, need=need, population=pop, existing=adv)
        for k, nom, need, pop, adv in zip(
            groups.keys,
            groups.names,
            groups.fragile.tolist(),
            groups.population.tolist(),
            advisors.tolist(),
            strict=True,
        )
    )


def _decode_state(a: dict[str, np.ndarray]) -> _State:
    ctx = _context()
    n = len(ctx.codes)
    if {len(a[k]) for k in ("advisors", "served", "access_10k", "reachable")} != {n}:
        raise ValueError("inconsistent state arrays")
    deps = _territories(ctx.groups["departement"], a["departement.advisors"])
    return _State(
        advisors=a["advisors"],
        served=a["served"],
        access_10k=a["access_10k"],
        reachable=a["reachable"],
        departements=deps,
        epcis=_territories(ctx.groups["epci_part"], a["epci_part.advisors"]),
        existing_total=int(a["existing_total"]),
        existing_unlocated=int(a["existing_unlocated"]),
        existing_source=str(a["existing_source"]),
        dep_coverage_10k={
            d.code: (d.existing / d.need * 1e4 if d.need > 0 else float("nan")) for d in deps
        },
        group_served={g: a[f"{g}.served"] for g in GROUPINGS if g != "epci_part"},
        group_lacking={g: a[f"{g}.lacking"] for g in GROUPINGS if g != "epci_part"},
        group_advisors={g: a[f"{g}.advisors"] for g in GROUPINGS},
    )


@lru_cache(maxsize=16)
def _state(existing_key: tuple[tuple[str, int], ...] | None, params: AccessParams) -> _State:
    if existing_key is None and params == AccessParams():
        # The bundled state under the default parameters: what a fresh `allocate` needs.
        return disk_cache.cached_arrays(
            "state",
            ("structures_2021", NeedParams(), params),
            layers.DATA_DIR,
            lambda: _build_state(None, params),
            _decode_state,
        )
    return _decode_state(_build_state(existing_key, params))


# --------------------------------------------------------------------------- catchments


#: Catchment radius of the default parameters: its catchments are precomputed and kept on disk.
DEFAULT_CATCHMENT_RADIUS_M = AccessParams().catchment_radius_m


def _build_catchments(radius_m: float) -> dict[str, np.ndarray]:
    """Every programme commune's catchment (communes within ``radius_m``) as sorted CSR rows.

    One ``query_pairs`` per zone: the pairs at distance <= radius are those that
    ``query_ball_point`` returns for each commune (same tree, same distance test; the tests
    compare both on every commune), plus the commune itself.
    """
    ctx = _context()
    trees = _trees()
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
    if len(indptr) != len(_context().codes) + 1 or indptr[-1] != len(indices):
        raise ValueError("inconsistent catchments")
    return indptr, indices


@cache
def _default_catchments() -> tuple[np.ndarray, np.ndarray]:
    radius_m = DEFAULT_CATCHMENT_RADIUS_M
    return disk_cache.cached_arrays(
        "catchments",
        (NeedParams(), radius_m),
        layers.DATA_DIR,
        lambda: _build_catchments(radius_m),
        _decode_catchments,
    )


def prepare_cache() -> list[str]:
    """Build (or load) every disk-cache entry a fresh ``allocator allocate`` reads.

    For install scripts and after a data update: the first round then starts warm. Returns the
    names of the entries now available (none when the cache is off, ``geodata.cache``).
    The process's memoised values are dropped first, so that the entries are read from, or
    written to, the current cache folder.
    """
    memos = (_context, _trees, _state, _default_catchments, _catchment_query, _codes_of)
    for memo in (*memos, layers._codes, layers.reference_names):
        memo.cache_clear()
    _context()
    _state(None, AccessParams())
    _default_catchments()
    layers.reference_names()
    layers._codes()
    return ["context", "state", "catchments", "names", "codes"]


@lru_cache(maxsize=65_536)
def _catchment_query(position: int, radius_m: float) -> np.ndarray:
    ctx = _context()
    zone = ctx.zones[position]
    members = ctx.zone_members[str(zone)]
    local = _trees()[str(zone)].query_ball_point(ctx.xy[position], radius_m)
    return np.sort(members[np.asarray(local, dtype=np.intp)])


def _catchment(position: int, radius_m: float) -> np.ndarray:
    """Sorted positions of the communes within ``radius_m`` of commune ``position``."""
    if radius_m == DEFAULT_CATCHMENT_RADIUS_M:
        indptr, indices = _default_catchments()
        return indices[indptr[position] : indptr[position + 1]]
    return _catchment_query(position, radius_m)


@lru_cache(maxsize=4_096)
def _codes_of(kind: str, key: str) -> tuple[str, ...]:
    ctx = _context()
    groups = ctx.groups[kind]
    return tuple(ctx.codes[groups.members[groups.index[key]]].tolist())


# --------------------------------------------------------------------------- service areas


class _KnownCodes:
    """The COG 2026 codes, as :func:`geodata.layers.known_codes`: programme communes and COM."""

    __slots__ = ("ctx",)

    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx

    def __contains__(self, code: object) -> bool:
        return code in self.ctx.pos or code in self.ctx.com_codes


class _CodeHistory(Mapping[str, str]):
    """:func:`geodata.layers.code_history_map`, loaded only if some code is an older one."""

    def __getitem__(self, code: str) -> str:
        return layers.code_history_map()[code]

    def __iter__(self) -> Iterator[str]:
        return iter(layers.code_history_map())

    def __len__(self) -> int:
        return len(layers.code_history_map())


def _rekey_all(sites: Sequence[ApplicantSite]) -> tuple[list[str], list[tuple[str, ...] | None]]:
    """Re-key every code of the sites at once: one warning per call, listing all old codes."""
    flat: list[str] = []
    for s in sites:
        flat.append(s.code_commune)
        flat.extend(s.communes_desservies or ())
    ctx = _context()
    # stacklevel 4: the warning points at the caller of round_geodata / service_area.
    new = rekey_codes(flat, _KnownCodes(ctx), _CodeHistory(), "sites", stacklevel=4)
    seats: list[str] = []
    served: list[tuple[str, ...] | None] = []
    i = 0
    for s in sites:
        seats.append(new[i])
        i += 1
        if s.communes_desservies is None:
            served.append(None)
        else:
            n = len(s.communes_desservies)
            served.append(tuple(new[i : i + n]))
            i += n
    outside = sorted({c for c in new if c in ctx.com_codes})
    if outside:
        raise CommuneOutsideProgramme(outside, "sites")
    return seats, served


_GROUP_OF_TYPE = {"DEPARTEMENT": "departement", "REGION": "region", "EPCI": "epci"}


def _area_of(
    ctx: _Context, kind: str, seat: int, served: tuple[str, ...] | None
) -> tuple[str, Any]:
    """How an applicant's area is found: ``("seat", seat)``, ``(grouping, key)``,
    ``("catchment", seat)`` or ``("list", sorted positions)``."""
    if served is not None:
        return "list", tuple(sorted({ctx.pos[c] for c in served}))
    if kind == "COMMUNE":
        return "seat", seat
    grouping = _GROUP_OF_TYPE.get(kind)
    if grouping == "departement":
        return grouping, str(ctx.departement[seat])
    if grouping == "region":
        return grouping, str(ctx.region[seat])
    if grouping == "epci":
        e = ctx.epci[seat]
        return ("seat", seat) if e is None else ("epci", e)
    # COLLECTIVITE, GIP, PRIVATE: seat + catchment of the first decay step.
    return "catchment", seat


def _area_positions(
    ctx: _Context, kind: str, seat: int, served: tuple[str, ...] | None, params: AccessParams
) -> tuple[np.ndarray, tuple[str, ...]]:
    how, key = _area_of(ctx, kind, seat, served)
    if how == "list":
        pos = np.array(key, dtype=np.intp)
    elif how == "seat":
        return np.array([seat], dtype=np.intp), (str(ctx.codes[seat]),)
    elif how == "catchment":
        pos = _catchment(seat, params.catchment_radius_m)
    else:
        groups = ctx.groups[how]
        return groups.members[groups.index[str(key)]], _codes_of(how, str(key))
    return pos, tuple(ctx.codes[pos].tolist())


def service_area(
    type: str,
    code_commune: str,
    communes_desservies: Sequence[str] | None = None,
    params: AccessParams | None = None,
) -> tuple[str, ...]:
    """Codes INSEE served by an applicant (rules in :mod:`geodata.areas`), sorted.

    Raises
    ------
    UnknownCommuneCode, CommuneOutsideProgramme, GeodataError
    """
    params = params or AccessParams()
    check_type(type)
    site = ApplicantSite(
        0, type, code_commune, None if communes_desservies is None else tuple(communes_desservies)
    )
    seats, served = _rekey_all([site])
    ctx = _context()
    return _area_positions(ctx, type, ctx.pos[seats[0]], served[0], params)[1]


# --------------------------------------------------------------------------- entry point


def _existing_key(existing: Mapping[str, int] | None) -> tuple[tuple[str, int], ...] | None:
    if existing is None:
        return None
    ex = resolve_existing(existing, stacklevel=4)
    return tuple((str(c), int(n)) for c, n in ex.per_commune.items())


@dataclass
class _AreaSums:
    """Per-applicant sums over the service areas (arrays aligned on the sites)."""

    fragile: np.ndarray
    served: np.ndarray
    advisors: np.ndarray
    lacking: np.ndarray
    population: np.ndarray
    n_communes: np.ndarray
    fallback_fragile: np.ndarray
    france_services: np.ndarray
    any_fallback: np.ndarray
    reasons: list[tuple[str, ...]]
    codes: list[tuple[str, ...]]


def _area_sums(
    ctx: _Context,
    state: _State,
    how: list[str],
    keys: list[Any],
    seats: np.ndarray,
    params: AccessParams,
) -> _AreaSums:
    """Sums of every applicant's area: seats vectorised, groups precomputed, others once each."""
    n = len(how)
    out = _AreaSums(
        fragile=np.empty(n),
        served=np.empty(n),
        advisors=np.empty(n, np.int64),
        lacking=np.empty(n),
        population=np.empty(n, np.int64),
        n_communes=np.empty(n, np.int64),
        fallback_fragile=np.empty(n),
        france_services=np.empty(n, np.int64),
        any_fallback=np.empty(n, bool),
        reasons=[()] * n,
        codes=[()] * n,
    )
    kinds = np.array(how, dtype=object)

    # A single commune: its own values (a one-element sum is the element itself).
    at = np.flatnonzero(kinds == "seat")
    if len(at):
        s = seats[at]
        frag = ctx.fragile[s]
        fb = ctx.fallback[s]
        out.fragile[at] = frag
        out.served[at] = state.served[s]
        out.advisors[at] = state.advisors[s]
        out.lacking[at] = np.where(state.reachable[s], 0.0, frag)
        out.population[at] = ctx.population[s]
        out.n_communes[at] = 1
        out.fallback_fragile[at] = np.where(fb, frag, 0.0)
        out.france_services[at] = ctx.france_services[s]
        out.any_fallback[at] = fb
        codes = ctx.codes[s].tolist()
        reasons = ctx.reasons[s].tolist()
        for i, c, f, r in zip(at.tolist(), codes, fb.tolist(), reasons, strict=True):
            out.codes[i] = (c,)
            if f:
                out.reasons[i] = (r,)

    # Départements, régions, EPCI: sums computed once per group (context and state).
    for g in ("departement", "region", "epci"):
        at = np.flatnonzero(kinds == g)
        if not len(at):
            continue
        groups = ctx.groups[g]
        gkeys = [str(keys[i]) for i in at.tolist()]
        gi = np.fromiter((groups.index[k] for k in gkeys), np.intp, len(gkeys))
        out.fragile[at] = groups.fragile[gi]
        out.served[at] = state.group_served[g][gi]
        out.advisors[at] = state.group_advisors[g][gi]
        out.lacking[at] = state.group_lacking[g][gi]
        out.population[at] = groups.population[gi]
        out.n_communes[at] = [len(groups.members[j]) for j in gi.tolist()]
        out.fallback_fragile[at] = groups.fallback_fragile[gi]
        out.france_services[at] = groups.france_services[gi]
        out.any_fallback[at] = groups.any_fallback[gi]
        for i, j, k in zip(at.tolist(), gi.tolist(), gkeys, strict=True):
            out.codes[i] = _codes_of(g, k)
            out.reasons[i] = groups.reasons[j]

    # Catchments and explicit lists: each distinct area summed once.
    at = np.flatnonzero((kinds == "catchment") | (kinds == "list"))
    if len(at):
        distinct: dict[tuple[str, Any], int] = {}
        areas: list[np.ndarray] = []
        which = np.empty(len(at), np.intp)
        for j, i in enumerate(at.tolist()):
            area = (how[i], keys[i])
            if area not in distinct:
                distinct[area] = len(areas)
                if how[i] == "list":
                    areas.append(np.array(keys[i], dtype=np.intp))
                else:
                    areas.append(_catchment(keys[i], params.catchment_radius_m))
            which[j] = distinct[area]
        flat, starts, lengths = _segments(areas)
        fb_count = _int_sums(ctx.fallback.astype(np.int64), flat, starts, lengths)
        out.fragile[at] = _float_sums(ctx.fragile, areas)[which]
        out.served[at] = _float_sums(state.served, areas)[which]
        out.advisors[at] = _int_sums(state.advisors, flat, starts, lengths)[which]
        out.lacking[at] = _float_sums(ctx.fragile, areas, ~state.reachable)[which]
        out.population[at] = _int_sums(ctx.population, flat, starts, lengths)[which]
        out.n_communes[at] = lengths[which]
        out.fallback_fragile[at] = _float_sums(ctx.fragile, areas, ctx.fallback)[which]
        out.france_services[at] = _int_sums(ctx.france_services, flat, starts, lengths)[which]
        out.any_fallback[at] = (fb_count > 0)[which]
        all_codes = ctx.codes[flat].tolist()
        bounds = zip(starts.tolist(), lengths.tolist(), strict=True)
        area_codes = [tuple(all_codes[a : a + m]) for a, m in bounds]
        area_reasons = [
            tuple(sorted(set(ctx.reasons[a][ctx.fallback[a]].tolist()))) if f else ()
            for a, f in zip(areas, (fb_count > 0).tolist(), strict=True)
        ]
        for i, w in zip(at.tolist(), which.tolist(), strict=True):
            out.codes[i] = area_codes[w]
            out.reasons[i] = area_reasons[w]
    return out


def round_geodata(
    sites: Sequence[ApplicantSite],
    existing: Mapping[str, int] | None = None,
    params: AccessParams | None = None,
) -> RoundGeodata:
    """Service areas, need, existing offer and marginal gains of a round's applicants.

    Parameters
    ----------
    sites
        The applicants; output in the same order.
    existing
        ``{code_insee: nombre}`` of advisors already in post; **replaces** the bundled 2021
        state (1,450 structures, 2,138 advisors) when given. Older codes are re-keyed with a
        :class:`~geodata.errors.RekeyedCodeWarning`.
    params
        Accessibility and gain parameters; defaults to :class:`~geodata.access.AccessParams`.

    Returns
    -------
    RoundGeodata
        ``indicators`` of each applicant: ``score_global`` (seat, MedNum, within-région),
        ``accessibility_10k_commune`` (seat, E2SFCA), ``accessibility_10k_area``
        (``10^4 E_i / P_i``), ``advisors_in_area`` (hosted), ``coverage_10k_area``,
        ``coverage_10k_departement``, ``share_without_advisor_area``, ``population_area``,
        ``n_communes``, ``need_fallback_share``, ``need_fallback_reasons``,
        ``france_services_commune``, ``epci_part`` (``"DEPT:SIREN"`` or None).

    Raises
    ------
    MalformedCommuneCode, UnknownCommuneCode
        Bad codes in ``sites`` or ``existing`` (all of them listed).
    CommuneOutsideProgramme
        Codes of a COM.
    GeodataError
        Unknown type, negative ``max_posts`` or advisor numbers.
    """
    params = params or AccessParams()
    if not isinstance(params, AccessParams):
        raise TypeError(f"'params' should be an AccessParams, got {type(params)}")
    for s in sites:
        if not isinstance(s, ApplicantSite):
            raise TypeError(f"'sites' should hold ApplicantSite, got {type(s)}")
        check_type(s.type)
        if isinstance(s.max_posts, bool) or not isinstance(s.max_posts, int) or s.max_posts < 0:
            raise ValueError(f"id_pg {s.id_pg}: max_posts must be an int >= 0, got {s.max_posts!r}")
    seats, served = _rekey_all(sites)
    state = _state(_existing_key(existing), params)
    ctx = _context()

    pos = ctx.pos
    seat_pos = np.fromiter((pos[c] for c in seats), np.intp, len(seats))
    how: list[str] = []
    keys: list[Any] = []
    for s, seat, area in zip(sites, seat_pos.tolist(), served, strict=True):
        h, k = _area_of(ctx, s.type, seat, area)
        how.append(h)
        keys.append(k)
    sums = _area_sums(ctx, state, how, keys, seat_pos, params)
    gains = marginal_gains_many(
        sums.fragile.tolist(),
        sums.served.tolist(),
        [s.max_posts for s in sites],
        params.capacity,
    )

    deps = ctx.departement[seat_pos].tolist()
    regions = ctx.region[seat_pos].tolist()
    epcis = ctx.epci[seat_pos].tolist()
    zrrs = ctx.zrr[seat_pos].tolist()
    scores = ctx.score[seat_pos].tolist()
    access_seat = state.access_10k[seat_pos].tolist()
    fs_seat = ctx.france_services[seat_pos].tolist()
    dep_coverage = state.dep_coverage_10k
    columns = zip(
        sites,
        seats,
        deps,
        regions,
        epcis,
        zrrs,
        scores,
        access_seat,
        fs_seat,
        sums.fragile.tolist(),
        sums.served.tolist(),
        sums.advisors.tolist(),
        sums.lacking.tolist(),
        sums.population.tolist(),
        sums.n_communes.tolist(),
        sums.fallback_fragile.tolist(),
        sums.france_services.tolist(),
        sums.any_fallback.tolist(),
        sums.reasons,
        sums.codes,
        gains,
        strict=True,
    )
    out = []
    for (
        s,
        seat_code,
        dep,
        region,
        epci,
        zrr,
        score,
        access_commune,
        fs_commune,
        p_i,
        e_i,
        adv,
        lacking,
        population,
        n_communes,
        fallback_fragile,
        france_services,
        any_fallback,
        reasons,
        codes,
        site_gains,
    ) in columns:
        indicators: dict[str, object] = {
            "score_global": None if math.isnan(score) else score,
            "accessibility_10k_commune": access_commune,
            "accessibility_10k_area": e_i / p_i * 1e4 if p_i > 0 else None,
            "advisors_in_area": adv,
            "coverage_10k_area": adv / p_i * 1e4 if p_i > 0 else None,
            "coverage_10k_departement": dep_coverage.get(dep),
            "share_without_advisor_area": lacking / p_i if p_i > 0 else None,
            "population_area": population,
            "n_communes": n_communes,
            "need_fallback_share": fallback_fragile / p_i if p_i > 0 else 0.0,
            "need_fallback_reasons": list(reasons),
            "france_services_commune": fs_commune,
            "epci_part": f"{dep}:{epci}" if epci else None,
        }
        out.append(
            ApplicantGeo(
                id_pg=s.id_pg,
                code_commune=seat_code,
                departement=dep,
                region=region,
                epci=None if s.type in ("DEPARTEMENT", "REGION") else epci,
                service_area=codes,
                fragile_population=p_i,
                existing_offer=e_i,
                gains=site_gains,
                zrr=zrr,
                france_services=france_services,
                need_fallback=any_fallback,
                cost_zone=COST_ZONES.get(dep, "metro"),
                indicators=indicators,
            )
        )
    return RoundGeodata(
        applicants=tuple(out),
        departements=state.departements,
        epcis=state.epcis,
        existing_total=state.existing_total,
        existing_unlocated=state.existing_unlocated,
        existing_source=state.existing_source,
        params=params,
    )


def commune_indicators(
    existing: Mapping[str, int] | None = None, params: AccessParams | None = None
) -> pd.DataFrame:
    """Per programme commune: need, flags, existing advisors and E2SFCA accessibility.

    Uses the same per-process caches as :func:`round_geodata`. Columns: ``nom, departement,
    departement_nom, region, region_nom, epci_siren, epci_nom, population, score_global,
    need_fallback, fragile_population, zrr, france_services, advisors, advisors_per_10k_fragile,
    accessibility_10k, has_advisor_within_reach, served``; indexed by code INSEE.
    """
    params = params or AccessParams()
    state = _state(_existing_key(existing), params)
    t = _context().table
    cols = [
        "nom",
        "departement",
        "departement_nom",
        "region",
        "region_nom",
        "epci_siren",
        "epci_nom",
        "population",
        "score_global",
        "need_fallback",
        "fragile_population",
        "zrr",
        "france_services",
    ]
    out = t[cols].copy()
    out["advisors"] = state.advisors
    fragile = out["fragile_population"].where(out["fragile_population"] > 0)
    out["advisors_per_10k_fragile"] = out["advisors"] / fragile * 1e4
    out["accessibility_10k"] = state.access_10k
    out["has_advisor_within_reach"] = state.reachable
    out["served"] = state.served
    return out
