"""The E2SFCA state of the existing advisors: who is served, and how much, per commune.

The state of the bundled 2021 advisors under the default parameters is kept on disk across
processes (entry ``state`` of :mod:`geodata.cache`); other states (a run-time mapping of
existing advisors, other parameters) are cached per process (LRU of 16), so a web service
answering many requests on the same state only sums arrays per applicant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from geodata import cache as disk_cache
from geodata import layers
from geodata.access import AccessParams, e2sfca
from geodata.context import GROUPINGS, Groups, catchment_trees, round_context
from geodata.coverage import resolve_existing
from geodata.errors import GeodataError
from geodata.need import NeedParams
from geodata.round_types import TerritoryNeed
from geodata.sums import flat_segments, float_sums, int_sums


def existing_key_of(existing: Mapping[str, int] | None) -> tuple[tuple[str, int], ...] | None:
    """The run-time advisors, checked and re-keyed, as a hashable key (``None``: bundled).

    Called by the public entry points themselves: a re-keying warning points at their caller.
    """
    if existing is None:
        return None
    ex = resolve_existing(existing, stacklevel=4)
    return tuple((str(c), int(n)) for c, n in ex.per_commune.items())


@dataclass(frozen=True)
class RoundState:
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
    ctx = round_context()
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
        demand_trees=catchment_trees(),
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
        flat, starts, lengths = flat_segments(groups.members)
        arrays[f"{g}.advisors"] = int_sums(advisors, flat, starts, lengths)
        if g != "epci_part":
            arrays[f"{g}.served"] = float_sums(res.served, groups.members)
            arrays[f"{g}.lacking"] = float_sums(ctx.fragile, groups.members, ~reachable)
    return arrays


def _territories(groups: Groups, advisors: np.ndarray) -> tuple[TerritoryNeed, ...]:
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


def _decode_state(a: dict[str, np.ndarray]) -> RoundState:
    ctx = round_context()
    n = len(ctx.codes)
    if {len(a[k]) for k in ("advisors", "served", "access_10k", "reachable")} != {n}:
        raise ValueError("inconsistent state arrays")
    deps = _territories(ctx.groups["departement"], a["departement.advisors"])
    return RoundState(
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
def round_state(
    existing_key: tuple[tuple[str, int], ...] | None, params: AccessParams
) -> RoundState:
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
