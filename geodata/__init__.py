"""Geodata: bundled territorial layers, need, existing coverage and accessibility.

Public entry point for the engine: :func:`round_geodata` (plain numbers per applicant and per
territory, no geometry). Diagnostics: :func:`geodata.diagnostic.diagnostic_table` and the maps
of :mod:`geodata.maps` (imported on demand: they pull matplotlib).

The names below are imported on first use (PEP 562): ``import geodata`` costs nothing, and the
allocation path never imports geopandas, shapely, pyproj or matplotlib. Derived national tables
are kept across processes by :mod:`geodata.cache`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from geodata.access import AccessParams, E2SFCAResult, commune_accessibility, e2sfca
    from geodata.areas import APPLICANT_TYPES, marginal_gains
    from geodata.coverage import (
        ExistingAdvisors,
        bundled_existing,
        bundled_existing_advisors,
        resolve_existing,
    )
    from geodata.errors import (
        CommuneOutsideProgramme,
        CRSMismatch,
        GeodataError,
        MalformedCommuneCode,
        MissingColumns,
        RekeyedCodeWarning,
        UnknownCommuneCode,
        UnknownDepartement,
    )
    from geodata.layers import (
        load_all,
        load_code_history,
        load_commune_contours,
        load_communes,
        load_comparateur,
        load_departement_contours,
        load_departements,
        load_epcis,
        load_fragilite,
        load_france_services,
        load_region_contours,
        load_regions,
        load_structures_2021,
        load_zrr,
        programme_departement,
        programme_departements,
    )
    from geodata.need import NeedParams, compute_need
    from geodata.round import (
        ApplicantGeo,
        ApplicantSite,
        RoundGeodata,
        TerritoryNeed,
        round_geodata,
        service_area,
    )

__all__ = [
    "APPLICANT_TYPES",
    "AccessParams",
    "ApplicantGeo",
    "ApplicantSite",
    "CRSMismatch",
    "CommuneOutsideProgramme",
    "E2SFCAResult",
    "ExistingAdvisors",
    "GeodataError",
    "MalformedCommuneCode",
    "MissingColumns",
    "NeedParams",
    "RekeyedCodeWarning",
    "RoundGeodata",
    "TerritoryNeed",
    "UnknownCommuneCode",
    "UnknownDepartement",
    "bundled_existing",
    "bundled_existing_advisors",
    "commune_accessibility",
    "compute_need",
    "e2sfca",
    "load_all",
    "load_code_history",
    "load_commune_contours",
    "load_communes",
    "load_comparateur",
    "load_departement_contours",
    "load_departements",
    "load_epcis",
    "load_fragilite",
    "load_france_services",
    "load_region_contours",
    "load_regions",
    "load_structures_2021",
    "load_zrr",
    "marginal_gains",
    "programme_departement",
    "programme_departements",
    "resolve_existing",
    "round_geodata",
    "service_area",
]

_EXPORTS: dict[str, str] = {
    "AccessParams": "geodata.access",
    "E2SFCAResult": "geodata.access",
    "commune_accessibility": "geodata.access",
    "e2sfca": "geodata.access",
    "APPLICANT_TYPES": "geodata.areas",
    "marginal_gains": "geodata.areas",
    "ExistingAdvisors": "geodata.coverage",
    "bundled_existing": "geodata.coverage",
    "bundled_existing_advisors": "geodata.coverage",
    "resolve_existing": "geodata.coverage",
    "CommuneOutsideProgramme": "geodata.errors",
    "CRSMismatch": "geodata.errors",
    "GeodataError": "geodata.errors",
    "MalformedCommuneCode": "geodata.errors",
    "MissingColumns": "geodata.errors",
    "RekeyedCodeWarning": "geodata.errors",
    "UnknownCommuneCode": "geodata.errors",
    "UnknownDepartement": "geodata.errors",
    "load_all": "geodata.layers",
    "load_code_history": "geodata.layers",
    "load_commune_contours": "geodata.layers",
    "load_communes": "geodata.layers",
    "load_comparateur": "geodata.layers",
    "load_departement_contours": "geodata.layers",
    "load_departements": "geodata.layers",
    "load_epcis": "geodata.layers",
    "load_fragilite": "geodata.layers",
    "load_france_services": "geodata.layers",
    "load_region_contours": "geodata.layers",
    "load_regions": "geodata.layers",
    "load_structures_2021": "geodata.layers",
    "load_zrr": "geodata.layers",
    "programme_departement": "geodata.layers",
    "programme_departements": "geodata.layers",
    "NeedParams": "geodata.need",
    "compute_need": "geodata.need",
    "ApplicantGeo": "geodata.round",
    "ApplicantSite": "geodata.round",
    "RoundGeodata": "geodata.round",
    "TerritoryNeed": "geodata.round",
    "round_geodata": "geodata.round",
    "service_area": "geodata.round",
}

_SUBMODULES = frozenset(
    {
        "access",
        "area_rules",
        "area_sums",
        "areas",
        "cache",
        "catchments",
        "checks",
        "codes",
        "context",
        "coverage",
        "diagnostic",
        "errors",
        "layers",
        "map_scales",
        "maps",
        "national",
        "need",
        "round",
        "round_types",
        "state",
        "sums",
    }
)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"geodata.{name}")
    else:
        raise AttributeError(f"module 'geodata' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, *_SUBMODULES})
