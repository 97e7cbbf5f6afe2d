"""The numbers a round needs, per applicant and per territory: the engine's geodata input.

:func:`round_geodata` turns applicant sites (seat commune, type, optional served communes) into
plain numbers: service area, fragile population ``P_i``, existing offer ``E_i`` and marginal
gains (see :mod:`geodata.areas`), plus the need and existing advisors of every département and
EPCI part. Nothing geometric leaves this module.

Caching: the national tables, KD-trees and group indices are built once per process; the
E2SFCA state is cached per (existing advisors, parameters) (LRU of 16), so a web service
answering many requests on the same state only sums arrays per applicant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from geodata import layers
from geodata.access import AccessParams, commune_accessibility
from geodata.areas import CATCHMENT_TYPES, check_type, marginal_gains
from geodata.codes import rekey_codes
from geodata.coverage import ExistingAdvisors, advisors_column, resolve_existing
from geodata.errors import CommuneOutsideProgramme
from geodata.national import commune_table, programme_table

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


# --------------------------------------------------------------------------- caches


@dataclass(frozen=True)
class _Context:
    table: pd.DataFrame
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
    trees: dict[str, cKDTree]
    by_departement: dict[str, np.ndarray]
    by_region: dict[str, np.ndarray]
    by_epci: dict[str, np.ndarray]
    by_epci_part: dict[str, np.ndarray]
    com_codes: frozenset[str]
    departement: np.ndarray
    region: np.ndarray
    epci: np.ndarray  # object: SIREN str or None


def _groups(values: np.ndarray) -> dict[str, np.ndarray]:
    order = np.argsort(values, kind="stable")
    sorted_vals = values[order]
    keys, starts = np.unique(sorted_vals, return_index=True)
    bounds = [*starts[1:], len(values)]
    return {str(k): np.sort(order[a:b]) for k, a, b in zip(keys, starts, bounds, strict=True)}


@cache
def _context() -> _Context:
    t = programme_table()
    zones = t["zone_calcul"].to_numpy().astype(str)
    xy = t[["x", "y"]].to_numpy(float)
    zone_members = {z: np.flatnonzero(zones == z) for z in sorted(set(zones))}
    epci = t["epci_siren"].fillna("").to_numpy().astype(str)
    dep = t["departement"].to_numpy().astype(str)
    has_epci = epci != ""
    by_epci = _groups(epci[has_epci])
    by_epci = {k: np.flatnonzero(has_epci)[v] for k, v in by_epci.items()}
    part = np.char.add(np.char.add(dep, ":"), epci)
    by_part = {k: np.flatnonzero(has_epci)[v] for k, v in _groups(part[has_epci]).items()}
    allc = commune_table()
    return _Context(
        table=t,
        codes=t.index.to_numpy().astype(str),
        pos={c: i for i, c in enumerate(t.index)},
        fragile=t["fragile_population"].to_numpy(float),
        population=t["population"].to_numpy(np.int64),
        fallback=(t["need_fallback"] != "").to_numpy(),
        reasons=t["need_fallback"].to_numpy().astype(str),
        france_services=t["france_services"].to_numpy(np.int64),
        xy=xy,
        zones=zones,
        zone_members=zone_members,
        trees={z: cKDTree(xy[m]) for z, m in zone_members.items()},
        by_departement=_groups(dep),
        by_region=_groups(t["region"].to_numpy().astype(str)),
        by_epci=by_epci,
        by_epci_part=by_part,
        com_codes=frozenset(allc.index[~allc["in_programme"].to_numpy()]),
        departement=dep,
        region=t["region"].to_numpy().astype(str),
        epci=np.array([e if isinstance(e, str) else None for e in t["epci_siren"]], dtype=object),
    )


@dataclass(frozen=True)
class _State:
    advisors: np.ndarray
    served: np.ndarray
    access_10k: np.ndarray
    reachable: np.ndarray
    departements: tuple[TerritoryNeed, ...]
    epcis: tuple[TerritoryNeed, ...]
    existing: ExistingAdvisors
    dep_coverage_10k: dict[str, float]


def _territories(
    ctx: _Context, groups: dict[str, np.ndarray], advisors: np.ndarray, names: dict[str, str]
) -> tuple[TerritoryNeed, ...]:
    return tuple(
        TerritoryNeed(
            code=k,
            nom=names.get(k, ""),
            need=float(ctx.fragile[v].sum()),
            population=int(ctx.population[v].sum()),
            existing=int(advisors[v].sum()),
        )
        for k, v in sorted(groups.items())
    )


@lru_cache(maxsize=16)
def _state(existing_key: tuple[tuple[str, int], ...] | None, params: AccessParams) -> _State:
    ctx = _context()
    existing = (
        resolve_existing(None)
        if existing_key is None
        else ExistingAdvisors(
            per_commune=pd.Series(
                [n for _, n in existing_key],
                index=pd.Index([c for c, _ in existing_key], name="code_insee"),
                dtype="int64",
            ),
            total=sum(n for _, n in existing_key),
            unlocated=pd.DataFrame(),
            source="runtime",
        )
    )
    advisors = advisors_column(ctx.table, existing)
    supply = advisors.astype(float)
    if params.include_france_services:
        supply = supply + params.france_services_weight * ctx.table["france_services"]
    acc = commune_accessibility(ctx.table, supply, params, demand_trees=ctx.trees)
    adv = advisors.to_numpy(np.int64)
    t = ctx.table
    dep_names = dict(zip(t["departement"], t["departement_nom"], strict=False))
    epci_names = {
        f"{d}:{e}": n
        for d, e, n in zip(t["departement"], t["epci_siren"], t["epci_nom"], strict=True)
        if isinstance(e, str)
    }
    deps = _territories(ctx, ctx.by_departement, adv, dep_names)
    return _State(
        advisors=adv,
        served=acc["served"].to_numpy(float),
        access_10k=acc["accessibility_10k"].to_numpy(float),
        reachable=acc["has_advisor_within_reach"].to_numpy(bool),
        departements=deps,
        epcis=_territories(ctx, ctx.by_epci_part, adv, epci_names),
        existing=existing,
        dep_coverage_10k={
            d.code: (d.existing / d.need * 1e4 if d.need > 0 else float("nan")) for d in deps
        },
    )


@lru_cache(maxsize=65_536)
def _catchment(position: int, radius_m: float) -> np.ndarray:
    ctx = _context()
    zone = ctx.zones[position]
    members = ctx.zone_members[zone]
    local = ctx.trees[zone].query_ball_point(ctx.xy[position], radius_m)
    return np.sort(members[np.asarray(local, dtype=np.intp)])


@lru_cache(maxsize=4_096)
def _codes_of(kind: str, key: str) -> tuple[str, ...]:
    ctx = _context()
    groups = {"departement": ctx.by_departement, "region": ctx.by_region, "epci": ctx.by_epci}
    return tuple(ctx.codes[groups[kind][key]].tolist())


# --------------------------------------------------------------------------- service areas


def _rekey_all(sites: Sequence[ApplicantSite]) -> tuple[list[str], list[tuple[str, ...] | None]]:
    """Re-key every code of the sites at once: one warning per call, listing all old codes."""
    flat: list[str] = []
    for s in sites:
        flat.append(s.code_commune)
        flat.extend(s.communes_desservies or ())
    # stacklevel 4: the warning points at the caller of round_geodata / service_area.
    new = rekey_codes(flat, layers.known_codes(), layers.code_history_map(), "sites", stacklevel=4)
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
    ctx = _context()
    outside = sorted({c for c in new if c in ctx.com_codes})
    if outside:
        raise CommuneOutsideProgramme(outside, "sites")
    return seats, served


def _area_positions(
    ctx: _Context, kind: str, seat: int, served: tuple[str, ...] | None, params: AccessParams
) -> tuple[np.ndarray, tuple[str, ...]]:
    if served is not None:
        pos = np.array(sorted({ctx.pos[c] for c in served}), dtype=np.intp)
        return pos, tuple(ctx.codes[pos].tolist())
    if kind == "COMMUNE":
        return np.array([seat], dtype=np.intp), (str(ctx.codes[seat]),)
    if kind == "DEPARTEMENT":
        d = str(ctx.departement[seat])
        return ctx.by_departement[d], _codes_of("departement", d)
    if kind == "REGION":
        r = str(ctx.region[seat])
        return ctx.by_region[r], _codes_of("region", r)
    if kind == "EPCI":
        e = ctx.epci[seat]
        if e is None:
            return np.array([seat], dtype=np.intp), (str(ctx.codes[seat]),)
        return ctx.by_epci[e], _codes_of("epci", e)
    # COLLECTIVITE, GIP, PRIVATE: seat + catchment of the first decay step.
    pos = _catchment(seat, params.catchment_radius_m)
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
    t = ctx.table
    dep_col = ctx.departement
    reg_col = ctx.region
    epci_col = ctx.epci
    zrr_col = t["zrr"].to_numpy()
    score_col = t["score_global"].to_numpy(float)

    out = []
    for s, seat_code, area_codes in zip(sites, seats, served, strict=True):
        seat = ctx.pos[seat_code]
        pos, codes = _area_positions(ctx, s.type, seat, area_codes, params)
        frag = ctx.fragile[pos]
        p_i = float(frag.sum())
        e_i = float(state.served[pos].sum())
        adv = int(state.advisors[pos].sum())
        dep = str(dep_col[seat])
        epci = epci_col[seat]
        fb = ctx.fallback[pos]
        lacking = float(frag[~state.reachable[pos]].sum())
        score = score_col[seat]
        indicators: dict[str, object] = {
            "score_global": None if np.isnan(score) else float(score),
            "accessibility_10k_commune": float(state.access_10k[seat]),
            "accessibility_10k_area": e_i / p_i * 1e4 if p_i > 0 else None,
            "advisors_in_area": adv,
            "coverage_10k_area": adv / p_i * 1e4 if p_i > 0 else None,
            "coverage_10k_departement": state.dep_coverage_10k.get(dep),
            "share_without_advisor_area": lacking / p_i if p_i > 0 else None,
            "population_area": int(ctx.population[pos].sum()),
            "n_communes": len(pos),
            "need_fallback_share": float(frag[fb].sum()) / p_i if p_i > 0 else 0.0,
            "need_fallback_reasons": sorted(set(ctx.reasons[pos][fb].tolist())),
            "france_services_commune": int(ctx.france_services[seat]),
            "epci_part": f"{dep}:{epci}" if epci else None,
        }
        out.append(
            ApplicantGeo(
                id_pg=s.id_pg,
                code_commune=seat_code,
                departement=dep,
                region=str(reg_col[seat]),
                epci=None if s.type in ("DEPARTEMENT", "REGION") else epci,
                service_area=codes,
                fragile_population=p_i,
                existing_offer=e_i,
                gains=marginal_gains(p_i, e_i, s.max_posts, params.capacity),
                zrr=str(zrr_col[seat]),
                france_services=int(ctx.france_services[pos].sum()),
                need_fallback=bool(fb.any()),
                cost_zone=COST_ZONES.get(dep, "metro"),
                indicators=indicators,
            )
        )
    ex = state.existing
    return RoundGeodata(
        applicants=tuple(out),
        departements=state.departements,
        epcis=state.epcis,
        existing_total=ex.total,
        existing_unlocated=ex.total - ex.located_total,
        existing_source=ex.source,
        params=params,
    )


def is_catchment_type(kind: str) -> bool:
    """Whether the type's service area is the seat commune plus its catchment."""
    return check_type(kind) in CATCHMENT_TYPES


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
