"""Per-applicant sums over the service areas, each kind of area summed its own way.

A seat commune is its own values; a département, région or EPCI reads the sums computed once
per group (context and state); catchments and explicit lists are summed once per distinct area.
All float sums follow :mod:`geodata.sums`, so the numbers do not depend on the way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from geodata.access import AccessParams
from geodata.catchments import catchment_of
from geodata.context import RoundContext, codes_of
from geodata.state import RoundState
from geodata.sums import flat_segments, float_sums, int_sums


@dataclass
class AreaSums:
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


def area_sums(
    ctx: RoundContext,
    state: RoundState,
    how: list[str],
    keys: list[Any],
    seats: np.ndarray,
    params: AccessParams,
) -> AreaSums:
    """Sums of every applicant's area: seats vectorised, groups precomputed, others once each."""
    n = len(how)
    out = AreaSums(
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
    at = np.flatnonzero(kinds == "seat")
    if len(at):
        _seat_sums(out, at, ctx, state, seats[at])
    for g in ("departement", "region", "epci"):
        at = np.flatnonzero(kinds == g)
        if len(at):
            _group_sums(out, at, g, ctx, state, [str(keys[i]) for i in at.tolist()])
    at = np.flatnonzero((kinds == "catchment") | (kinds == "list"))
    if len(at):
        _distinct_area_sums(out, at, ctx, state, how, keys, params)
    return out


def _seat_sums(
    out: AreaSums, at: np.ndarray, ctx: RoundContext, state: RoundState, s: np.ndarray
) -> None:
    """A single commune: its own values (a one-element sum is the element itself)."""
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


def _group_sums(
    out: AreaSums, at: np.ndarray, g: str, ctx: RoundContext, state: RoundState, gkeys: list[str]
) -> None:
    """Départements, régions, EPCI: sums computed once per group (context and state)."""
    groups = ctx.groups[g]
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
        out.codes[i] = codes_of(g, k)
        out.reasons[i] = groups.reasons[j]


def _distinct_areas(
    at: np.ndarray, how: list[str], keys: list[Any], params: AccessParams
) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct catchments and explicit lists of applicants ``at``, and which is whose."""
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
                areas.append(catchment_of(keys[i], params.catchment_radius_m))
        which[j] = distinct[area]
    return areas, which


def _distinct_area_sums(
    out: AreaSums,
    at: np.ndarray,
    ctx: RoundContext,
    state: RoundState,
    how: list[str],
    keys: list[Any],
    params: AccessParams,
) -> None:
    """Catchments and explicit lists: each distinct area summed once."""
    areas, which = _distinct_areas(at, how, keys, params)
    flat, starts, lengths = flat_segments(areas)
    fb_count = int_sums(ctx.fallback.astype(np.int64), flat, starts, lengths)
    out.fragile[at] = float_sums(ctx.fragile, areas)[which]
    out.served[at] = float_sums(state.served, areas)[which]
    out.advisors[at] = int_sums(state.advisors, flat, starts, lengths)[which]
    out.lacking[at] = float_sums(ctx.fragile, areas, ~state.reachable)[which]
    out.population[at] = int_sums(ctx.population, flat, starts, lengths)[which]
    out.n_communes[at] = lengths[which]
    out.fallback_fragile[at] = float_sums(ctx.fragile, areas, ctx.fallback)[which]
    out.france_services[at] = int_sums(ctx.france_services, flat, starts, lengths)[which]
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
