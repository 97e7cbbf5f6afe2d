"""The numbers a round needs, per applicant and per territory: the engine's geodata input.

:func:`round_geodata` turns applicant sites (seat commune, type, optional served communes) into
plain numbers: service area, fragile population ``P_i``, existing offer ``E_i`` and marginal
gains (see :mod:`geodata.areas`), plus the need and existing advisors of every département and
EPCI part. Nothing geometric leaves this module.

The work is shared by modules, each caching what it computes:

- :mod:`geodata.context`: the programme communes, their need and their groups (départements,
  régions, EPCI, EPCI parts) with the sums of every group;
- :mod:`geodata.state`: the E2SFCA state of the existing advisors;
- :mod:`geodata.catchments`: the communes within the catchment radius of a commune;
- :mod:`geodata.area_rules`: the re-keyed codes and the service area of each applicant type;
- :mod:`geodata.area_sums`: the sums over every applicant's area (:mod:`geodata.sums`).

The context, the catchments and the state of the bundled 2021 advisors under the default
parameters are kept on disk across processes (:mod:`geodata.cache`); in a process they are built
or loaded once. A warm call needs numpy only: pandas, scipy and pyproj are imported when
something must be computed. This module checks the arguments and assembles the output.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from geodata import layers
from geodata.access import AccessParams
from geodata.area_rules import area_of, area_positions, rekey_all
from geodata.area_sums import AreaSums, area_sums
from geodata.areas import check_type, marginal_gains_many
from geodata.catchments import catchment_query, default_catchments
from geodata.context import RoundContext, catchment_trees, codes_of, round_context
from geodata.round_types import ApplicantGeo, ApplicantSite, RoundGeodata, TerritoryNeed
from geodata.state import RoundState, existing_key_of, round_state

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ApplicantGeo",
    "ApplicantSite",
    "RoundGeodata",
    "TerritoryNeed",
    "commune_indicators",
    "prepare_cache",
    "round_geodata",
    "service_area",
]


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
    seats, served = rekey_all([site])
    ctx = round_context()
    return area_positions(ctx, type, ctx.pos[seats[0]], served[0], params)[1]


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
    params = _checked_arguments(sites, params)
    seats, served = rekey_all(sites)
    state = round_state(existing_key_of(existing), params)
    ctx = round_context()

    pos = ctx.pos
    seat_pos = np.fromiter((pos[c] for c in seats), np.intp, len(seats))
    how: list[str] = []
    keys: list[Any] = []
    for s, seat, area in zip(sites, seat_pos.tolist(), served, strict=True):
        h, k = area_of(ctx, s.type, seat, area)
        how.append(h)
        keys.append(k)
    sums = area_sums(ctx, state, how, keys, seat_pos, params)
    gains = marginal_gains_many(
        sums.fragile.tolist(),
        sums.served.tolist(),
        [s.max_posts for s in sites],
        params.capacity,
    )
    rows = _rows(sites, seats, seat_pos, ctx, state, sums, gains)
    dep_coverage = state.dep_coverage_10k
    return RoundGeodata(
        applicants=tuple(_applicant(row, dep_coverage) for row in rows),
        departements=state.departements,
        epcis=state.epcis,
        existing_total=state.existing_total,
        existing_unlocated=state.existing_unlocated,
        existing_source=state.existing_source,
        params=params,
    )


def _checked_arguments(sites: Sequence[ApplicantSite], params: AccessParams | None) -> AccessParams:
    """The parameters (defaults when ``None``), once the sites and parameters are checked."""
    params = params or AccessParams()
    if not isinstance(params, AccessParams):
        raise TypeError(f"'params' should be an AccessParams, got {type(params)}")
    for s in sites:
        if not isinstance(s, ApplicantSite):
            raise TypeError(f"'sites' should hold ApplicantSite, got {type(s)}")
        check_type(s.type)
        if isinstance(s.max_posts, bool) or not isinstance(s.max_posts, int) or s.max_posts < 0:
            raise ValueError(f"id_pg {s.id_pg}: max_posts must be an int >= 0, got {s.max_posts!r}")
    return params


class _Row(NamedTuple):
    """Everything one applicant's output is made of: its seat's values, then its area's sums."""

    site: ApplicantSite
    seat_code: str
    departement: str
    region: str
    epci: str | None
    zrr: str
    score: float
    access_commune: float
    fs_commune: int
    p_i: float
    e_i: float
    advisors: int
    lacking: float
    population: int
    n_communes: int
    fallback_fragile: float
    france_services: int
    any_fallback: bool
    reasons: tuple[str, ...]
    codes: tuple[str, ...]
    gains: tuple[float, ...]


def _rows(
    sites: Sequence[ApplicantSite],
    seats: list[str],
    seat_pos: np.ndarray,
    ctx: RoundContext,
    state: RoundState,
    sums: AreaSums,
    gains: Sequence[tuple[float, ...]],
) -> Iterator[_Row]:
    """One :class:`_Row` per site, from plain Python values (``tolist``) of the arrays."""
    columns = zip(
        sites,
        seats,
        ctx.departement[seat_pos].tolist(),
        ctx.region[seat_pos].tolist(),
        ctx.epci[seat_pos].tolist(),
        ctx.zrr[seat_pos].tolist(),
        ctx.score[seat_pos].tolist(),
        state.access_10k[seat_pos].tolist(),
        ctx.france_services[seat_pos].tolist(),
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
    return itertools.starmap(_Row, columns)


def _indicators(r: _Row, dep_coverage: Mapping[str, float]) -> dict[str, object]:
    """Plain values for explanations (listed in :func:`round_geodata`)."""
    p_i = r.p_i
    return {
        "score_global": None if math.isnan(r.score) else r.score,
        "accessibility_10k_commune": r.access_commune,
        "accessibility_10k_area": r.e_i / p_i * 1e4 if p_i > 0 else None,
        "advisors_in_area": r.advisors,
        "coverage_10k_area": r.advisors / p_i * 1e4 if p_i > 0 else None,
        "coverage_10k_departement": dep_coverage.get(r.departement),
        "share_without_advisor_area": r.lacking / p_i if p_i > 0 else None,
        "population_area": r.population,
        "n_communes": r.n_communes,
        "need_fallback_share": r.fallback_fragile / p_i if p_i > 0 else 0.0,
        "need_fallback_reasons": list(r.reasons),
        "france_services_commune": r.fs_commune,
        "epci_part": f"{r.departement}:{r.epci}" if r.epci else None,
    }


def _applicant(r: _Row, dep_coverage: Mapping[str, float]) -> ApplicantGeo:
    """The output of one site (the EPCI is not said for types DEPARTEMENT and REGION)."""
    return ApplicantGeo(
        id_pg=r.site.id_pg,
        code_commune=r.seat_code,
        departement=r.departement,
        region=r.region,
        epci=None if r.site.type in ("DEPARTEMENT", "REGION") else r.epci,
        service_area=r.codes,
        fragile_population=r.p_i,
        existing_offer=r.e_i,
        gains=r.gains,
        zrr=r.zrr,
        france_services=r.france_services,
        need_fallback=r.any_fallback,
        indicators=_indicators(r, dep_coverage),
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
    state = round_state(existing_key_of(existing), params)
    t = round_context().table
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


def prepare_cache() -> list[str]:
    """Build (or load) every disk-cache entry a fresh ``allocator allocate`` reads.

    For install scripts and after a data update: the first round then starts warm. Returns the
    names of the entries now available (none when the cache is off, ``geodata.cache``).
    The process's memoised values are dropped first, so that the entries are read from, or
    written to, the current cache folder.
    """
    memos = (
        round_context,
        catchment_trees,
        round_state,
        default_catchments,
        catchment_query,
        codes_of,
    )
    for memo in (*memos, layers.shared_codes, layers.reference_names):
        memo.cache_clear()
    round_context()
    round_state(None, AccessParams())
    default_catchments()
    layers.reference_names()
    layers.shared_codes()
    return ["context", "state", "catchments", "names", "codes"]
