"""Allocation engine: domain types, model, solve, validate, explain (no web, no geometry).

Public API
----------
``allocate(round_input, policy, config) -> AllocationResult``, ``check_feasible``,
``canonical_input``, ``webster`` / ``hamilton``, the domain types, the typed results
(``RoundReport``, ``DecisionDetails``; the nested records in ``allocator.results``), the typed
errors and the motif codes (``allocator.motifs``).
"""

from allocator.apportionment import hamilton, webster
from allocator.domain import (
    AllocationResult,
    Applicant,
    AvisPrefet,
    Decision,
    Explanation,
    RoundInput,
    RoundPolicy,
    SolverConfig,
    SolverReport,
    Status,
    StructureType,
    Territory,
)
from allocator.engine import allocate, canonical_input
from allocator.errors import AllocatorError, InternalError, InvalidInput, SolverFailure
from allocator.motifs import (
    ACCORDE,
    ALL_MOTIFS,
    AVIS_PREFET_NEGATIF,
    BUDGET_EPUISE,
    DEMANDE_SATISFAITE,
    ENVELOPPE_NATIONALE_EPUISEE,
    PART_DEPARTEMENT_ATTEINTE,
    PLAFOND_STRUCTURE,
    PRIORITE_INSUFFISANTE,
    QUOTA_EPUISE,
    SCORE_INSUFFISANT,
    TYPE_NON_ELIGIBLE,
    VERROUILLE,
)
from allocator.results import DecisionDetails, RoundReport
from allocator.validate import Violation, check_feasible

__all__ = [
    "ACCORDE",
    "ALL_MOTIFS",
    "AVIS_PREFET_NEGATIF",
    "BUDGET_EPUISE",
    "DEMANDE_SATISFAITE",
    "ENVELOPPE_NATIONALE_EPUISEE",
    "PART_DEPARTEMENT_ATTEINTE",
    "PLAFOND_STRUCTURE",
    "PRIORITE_INSUFFISANTE",
    "QUOTA_EPUISE",
    "SCORE_INSUFFISANT",
    "TYPE_NON_ELIGIBLE",
    "VERROUILLE",
    "AllocationResult",
    "AllocatorError",
    "Applicant",
    "AvisPrefet",
    "Decision",
    "DecisionDetails",
    "Explanation",
    "InternalError",
    "InvalidInput",
    "RoundInput",
    "RoundPolicy",
    "RoundReport",
    "SolverConfig",
    "SolverFailure",
    "SolverReport",
    "Status",
    "StructureType",
    "Territory",
    "Violation",
    "allocate",
    "canonical_input",
    "check_feasible",
    "hamilton",
    "webster",
]
