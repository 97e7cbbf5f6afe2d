"""Geodata: bundled territorial layers, need, existing coverage and accessibility.

Public entry point for the engine: :func:`round_geodata` (plain numbers per applicant and per
territory, no geometry). Diagnostics: :func:`geodata.diagnostic.diagnostic_table` and the maps
of :mod:`geodata.maps` (imported on demand: they pull matplotlib).
"""

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
)
from geodata.layers import (
    load_all,
    load_code_history,
    load_commune_contours,
    load_communes,
    load_comparateur,
    load_departement_contours,
    load_departements,
    load_epci,
    load_epcis,
    load_fragilite,
    load_france_services,
    load_region_contours,
    load_regions,
    load_structures_2021,
    load_zrr,
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
    "load_epci",
    "load_epcis",
    "load_fragilite",
    "load_france_services",
    "load_region_contours",
    "load_regions",
    "load_structures_2021",
    "load_zrr",
    "marginal_gains",
    "resolve_existing",
    "round_geodata",
    "service_area",
]
