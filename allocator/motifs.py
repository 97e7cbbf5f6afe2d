"""Stable motif codes of a decision, documented in one place.

Codes are machine-readable and never renamed (the portal and the committee's exports key on
them); French wording is produced at the edge. An applicant's motifs are listed in the order of
``ALL_MOTIFS``.
"""

from __future__ import annotations

#: Something was granted in this round.
ACCORDE = "ACCORDE"
#: The applicant's total reaches its request (nothing more could be granted).
DEMANDE_SATISFAITE = "DEMANDE_SATISFAITE"
#: A committee lock fixed the number of posts of this round.
VERROUILLE = "VERROUILLE"
#: The structure type is not in ``policy.eligible_types``.
TYPE_NON_ELIGIBLE = "TYPE_NON_ELIGIBLE"
#: The préfet's latest opinion is NÉGATIF and the policy excludes such applicants.
AVIS_PREFET_NEGATIF = "AVIS_PREFET_NEGATIF"
#: The project score is below ``policy.min_quality``.
SCORE_INSUFFISANT = "SCORE_INSUFFISANT"
#: ``policy.max_posts_per_structure`` stopped the applicant below its request.
PLAFOND_STRUCTURE = "PLAFOND_STRUCTURE"
#: The département reached its hard cap (fair share minus existing advisors).
PART_DEPARTEMENT_ATTEINTE = "PART_DEPARTEMENT_ATTEINTE"
#: The next post no longer fitted the remaining budget in euros.
BUDGET_EPUISE = "BUDGET_EPUISE"
#: The round's quota was used up before the applicant's next post came up.
QUOTA_EPUISE = "QUOTA_EPUISE"
#: The national envelope (minus posts already consumed) was used up first.
ENVELOPPE_NATIONALE_EPUISEE = "ENVELOPPE_NATIONALE_EPUISEE"
#: The next post's priority ranked below the round's cut-off (it lost the national ranking).
PRIORITE_INSUFFISANTE = "PRIORITE_INSUFFISANTE"

ALL_MOTIFS: tuple[str, ...] = (
    ACCORDE,
    DEMANDE_SATISFAITE,
    VERROUILLE,
    TYPE_NON_ELIGIBLE,
    AVIS_PREFET_NEGATIF,
    SCORE_INSUFFISANT,
    PLAFOND_STRUCTURE,
    PART_DEPARTEMENT_ATTEINTE,
    BUDGET_EPUISE,
    ENVELOPPE_NATIONALE_EPUISEE,
    QUOTA_EPUISE,
    PRIORITE_INSUFFISANTE,
)


def ordered(motifs: set[str] | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Return ``motifs`` in the canonical order of ``ALL_MOTIFS`` (no set order leaks out)."""
    present = frozenset(motifs)
    unknown = present.difference(ALL_MOTIFS)
    if unknown:
        raise ValueError(f"unknown motif codes: {sorted(unknown)}")
    return tuple(m for m in ALL_MOTIFS if m in present)
