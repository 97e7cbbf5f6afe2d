"""Domain types of the allocation engine: plain, frozen, geometry-free.

Everything the engine needs arrives here as numbers already computed by ``geodata`` and already
validated by the edge (``service``): the engine never reads a file, never parses JSON and never
imports the web or geometry stacks.

Units
-----
- posts: integer numbers of advisors (``conseillers numériques``);
- need: *fragile inhabitants* (people far from digital tools, calibrated nationally to 13 M);
- gains: fragile inhabitants gaining access to an advisor (see ``Applicant.gains``);
- money: euros paid by the State per post over the convention.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from allocator.programme import COST_PER_POST_EUR, DEFAULT_QUALITY, NATIONAL_ENVELOPE

if TYPE_CHECKING:
    from allocator.results import DecisionDetails, RoundReport


class StructureType(enum.StrEnum):
    """Legal category of an applicant, as named by the portal."""

    COMMUNE = "COMMUNE"
    EPCI = "EPCI"
    DEPARTEMENT = "DEPARTEMENT"
    REGION = "REGION"
    COLLECTIVITE = "COLLECTIVITE"
    GIP = "GIP"
    PRIVATE = "PRIVATE"


class AvisPrefet(enum.StrEnum):
    POSITIF = "POSITIF"
    NEGATIF = "NÉGATIF"


class Status(enum.StrEnum):
    """Solver status of a round, as published in the result."""

    OPTIMAL = "OPTIMAL"
    FEASIBLE = "FEASIBLE"
    INFEASIBLE = "INFEASIBLE"


@dataclass(frozen=True, slots=True)
class Applicant:
    """One structure of a round, reduced to what the model uses.

    Parameters
    ----------
    id_pg
        The portal's structure id (unique in a round; the engine's stable key).
    type
        Legal category; eligibility is decided by the policy.
    code_commune, departement, region
        Seat commune (COG 2026) and its département / région codes.
    epci
        SIREN of the EPCI that contains the seat commune, or ``None`` for an applicant whose
        territory is wider than one EPCI (types DEPARTEMENT and REGION).
    requested
        ``nombreConseillersSouhaites``: the *total* number of posts wanted (>= 1).
    already_granted
        Total granted by earlier rounds (last ``coselec`` entry); never withdrawn. The round can
        add at most ``requested - already_granted`` posts.
    quality
        Project score 0-100 given by the instructor (``qualiteProjet``).
    created_at
        ISO-8601 submission time; used only to break exact ties (earlier first).
    gains
        ``gains[k]`` = fragile inhabitants gaining access with the (already_granted + k + 1)-th
        post of this applicant, for k = 0 .. requested - already_granted - 1; non-increasing
        (diminishing returns). Computed by ``geodata`` from the service area and the existing offer.
    cost_eur
        The State's cost of one post for this host (50k mainland public, 70k 971-973, ...),
        net of the host's co-funding; 0 for a post the host funds entirely.
    standard_cost_eur
        The standard cost of one post for this host and territory *before* co-funding, or
        ``None`` when the host declares no co-funding (then it equals ``cost_eur``). The host's
        co-funding per post is ``standard_cost_eur - cost_eur``; it matters to the ranking only
        under ``RoundPolicy.cofunding_priority == "prioritaire"``.
    avis_prefet, nombre_prefet
        The préfet's latest opinion and suggested number, if any.
    locked
        A committee lock/override: the exact number of posts this round must grant, or ``None``.
    """

    id_pg: int
    type: StructureType
    code_commune: str
    departement: str
    region: str
    epci: str | None
    requested: int
    gains: tuple[float, ...]
    quality: float = DEFAULT_QUALITY
    already_granted: int = 0
    created_at: str = ""
    cost_eur: float = COST_PER_POST_EUR["metro"]
    avis_prefet: AvisPrefet | None = None
    nombre_prefet: int | None = None
    locked: int | None = None
    nom: str = ""
    standard_cost_eur: float | None = None


@dataclass(frozen=True, slots=True)
class Territory:
    """Need and existing offer of a département or of an EPCI (within one département).

    ``existing`` counts the advisors already hosted there (bundled history, committed rounds, or
    the request's ``conseillersExistants``); ``fair_share`` is the département's share of the
    national envelope (a divisor-method apportionment of need; ``None`` for EPCIs).
    """

    code: str
    need: float
    existing: int
    fair_share: int | None = None


@dataclass(frozen=True, slots=True)
class RoundPolicy:
    """Every rule and weight of a round, with the defaults of the call for applications.

    All fields are echoed in the result so that a round can be replayed and explained.
    """

    # Hard rules
    eligible_types: tuple[StructureType, ...] = (
        StructureType.COMMUNE,
        StructureType.EPCI,
        StructureType.DEPARTEMENT,
        StructureType.REGION,
        StructureType.COLLECTIVITE,
        StructureType.GIP,
    )
    national_envelope: int = NATIONAL_ENVELOPE
    budget_eur: float | None = None
    min_quality: float = 40.0
    prefet_negatif: str = "exclure"  # "exclure" | "penaliser"
    prefet_penalty: float = 0.5  # factor applied to the applicant's own gains when "penaliser"
    max_posts_per_structure: int | None = None
    departement_cap: str = "aucun"  # "aucun" | "part_equitable" (hard cap at the fair share)
    # Objective weights (see allocator.model for the formulation)
    weight_access: float = 1.0
    weight_distribution: float = 1.0
    weight_balance: float = 1.0
    # Mode: "monotone" (nested greedy, default) or "optimal" (direct solve of the model)
    mode: str = "monotone"
    # Co-funding: "neutre" (default; the ranking ignores it, need first) or "prioritaire" (the
    # access term of a co-funded host is scaled by min(cap, standard cost / State cost), see
    # allocator.model.cofunding_factor). Under both, the State's cost is what the budget counts.
    cofunding_priority: str = "neutre"


@dataclass(frozen=True, slots=True)
class SolverConfig:
    """How to solve and certify; recorded in every result."""

    backend: str = "min_cost_flow"  # certification backend, see allocator.solve
    time_limit_s: float = 30.0
    workers: int = 1
    seed: int = 0
    # Counterfactual scores are computed in closed form for every applicant; this many of them
    # (the closest to the cut-off first) are also verified by re-running the greedy.
    counterfactual_reruns: int = 50


@dataclass(frozen=True, slots=True)
class RoundInput:
    """A whole round: what the engine solves."""

    quota: int
    applicants: tuple[Applicant, ...]
    departements: tuple[Territory, ...]
    epcis: tuple[Territory, ...] = ()
    programme_consumed: int = 0  # posts of the national envelope already consumed
    budget_consumed_eur: float = 0.0
    mois: str = ""


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why an applicant got what it got (machine-readable; French wording is done at the edge)."""

    motifs: tuple[str, ...]
    priorities: tuple[float, ...]  # priority of each potential post of this round, in order
    granted_ranks: tuple[int, ...]  # national rank (1-based) of each granted post
    cutoff: float | None  # priority of the last post granted in the round
    details: DecisionDetails | None = (
        None  # the numbers behind the decision (always set by allocate)
    )


@dataclass(frozen=True, slots=True)
class Decision:
    id_pg: int
    granted: int  # posts granted by this round
    total: int  # already_granted + granted
    explanation: Explanation


@dataclass(frozen=True, slots=True)
class SolverReport:
    name: str
    version: str
    backend: str
    seed: int
    workers: int
    time_limit_s: float
    wall_seconds: float
    parameters: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AllocationResult:
    status: Status
    decisions: tuple[Decision, ...]
    objective: float | None
    best_bound: float | None
    gap: float | None
    solver: SolverReport
    input_sha256: str
    conflicts: tuple[str, ...] = ()  # for INFEASIBLE: the conflicting rules, with their numbers
    report: RoundReport | None = None  # always set by allocate (``report.to_dict()``: JSON)
