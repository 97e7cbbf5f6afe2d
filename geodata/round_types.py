"""The input and output types of a round's geodata (:func:`geodata.round.round_geodata`).

Plain frozen dataclasses of numbers and codes: nothing geometric, nothing computed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from geodata.access import AccessParams


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
    indicators: dict[str, Any] = field(default_factory=dict)


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
