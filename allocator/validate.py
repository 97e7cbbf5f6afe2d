"""Solver-free validator: the executable specification of a feasible allocation.

``check_feasible`` re-derives every rule from the domain objects alone (it shares no code with
the model except the apportionment used for fair shares), so a bug in the model cannot hide
itself. ``allocate`` runs it before returning; tests and the service run it too.
"""

from __future__ import annotations

from dataclasses import dataclass

from allocator import programme
from allocator.domain import (
    AllocationResult,
    Applicant,
    AvisPrefet,
    RoundInput,
    RoundPolicy,
    Status,
)


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: ``rule`` is a stable code, ``message`` gives the numbers."""

    rule: str
    message: str
    id_pg: int | None = None


def _cents(eur: float) -> int:
    return round(eur * 100)


def _eligible(a: Applicant, policy: RoundPolicy) -> bool:
    if a.type not in policy.eligible_types or a.quality < policy.min_quality:
        return False
    return not (a.avis_prefet is AvisPrefet.NEGATIF and policy.prefet_negatif == "exclure")


def check_feasible(
    round_input: RoundInput, policy: RoundPolicy, result: AllocationResult
) -> list[Violation]:
    """Check ``result`` against every hard rule of the round; empty list = feasible.

    Rules: one decision per applicant in ascending ``id_pg``; ``total = already_granted +
    granted`` with ``granted >= 0`` (grants never withdrawn); request; structure cap; eligibility;
    locks; quota; national envelope; budget; département caps. An INFEASIBLE result must carry
    conflicts and no decision.
    """
    if result.status is Status.INFEASIBLE:
        return _infeasible_violations(result)
    applicants = sorted(round_input.applicants, key=lambda a: a.id_pg)
    ids = [d.id_pg for d in result.decisions]
    if ids != [a.id_pg for a in applicants]:
        return [Violation("decisions", "decisions must be one per applicant, in ascending id_pg")]
    found: list[Violation] = []
    for a, dec in zip(applicants, result.decisions, strict=True):
        found.extend(_decision_violations(a, dec.granted, dec.total, policy))
    grants = [(a, dec.granted) for a, dec in zip(applicants, result.decisions, strict=True)]
    found.extend(_total_violations(round_input, policy, grants))
    found.extend(_departement_violations(round_input, policy, grants))
    return found


def _infeasible_violations(result: AllocationResult) -> list[Violation]:
    """An INFEASIBLE result names its conflicts and grants nothing."""
    found = []
    if not result.conflicts:
        found.append(Violation("conflicts", "INFEASIBLE result without conflicting rules"))
    if result.decisions:
        found.append(Violation("decisions", "INFEASIBLE result must not carry decisions"))
    return found


def _decision_violations(a: Applicant, g: int, total: int, policy: RoundPolicy) -> list[Violation]:
    """One applicant's rules: no withdrawal, total, request, structure cap, eligibility, lock."""
    found = []
    if g < 0:
        found.append(
            Violation("deja_attribues", f"structure {a.id_pg}: {g} < 0 (retrait)", a.id_pg)
        )
    if total != a.already_granted + g:
        found.append(
            Violation(
                "total",
                f"structure {a.id_pg}: total {total} != {a.already_granted} + {g}",
                a.id_pg,
            )
        )
    if a.already_granted + g > a.requested and g > 0:
        found.append(
            Violation(
                "demande",
                f"structure {a.id_pg}: {a.already_granted} + {g} > demande {a.requested}",
                a.id_pg,
            )
        )
    cap = policy.max_posts_per_structure
    if cap is not None and g > 0 and a.already_granted + g > cap:
        found.append(
            Violation(
                "plafond_structure",
                f"structure {a.id_pg}: total {a.already_granted + g} > plafond {cap}",
                a.id_pg,
            )
        )
    if g > 0 and not _eligible(a, policy):
        found.append(
            Violation(
                "eligibilite",
                f"structure {a.id_pg}: {g} postes à une structure non éligible",
                a.id_pg,
            )
        )
    if a.locked is not None and g != a.locked:
        found.append(Violation("verrou", f"structure {a.id_pg}: {g} != verrou {a.locked}", a.id_pg))
    return found


def _total_violations(
    round_input: RoundInput, policy: RoundPolicy, grants: list[tuple[Applicant, int]]
) -> list[Violation]:
    """The round's totals: quota, national envelope, budget."""
    found = []
    granted_total = sum(g for _a, g in grants)
    spend = sum(_cents(a.cost_eur) * g for a, g in grants)
    if granted_total > round_input.quota:
        found.append(Violation("quota", f"{granted_total} postes > quota {round_input.quota}"))
    envelope_left = policy.national_envelope - round_input.programme_consumed
    if granted_total > max(0, envelope_left):
        found.append(
            Violation(
                "enveloppe", f"{granted_total} postes > enveloppe restante {max(0, envelope_left)}"
            )
        )
    if policy.budget_eur is not None:
        left = _cents(policy.budget_eur) - _cents(round_input.budget_consumed_eur)
        if spend > left:
            found.append(
                Violation("budget", f"{spend / 100:.2f} € > budget restant {left / 100:.2f} €")
            )
    return found


def _departement_violations(
    round_input: RoundInput, policy: RoundPolicy, grants: list[tuple[Applicant, int]]
) -> list[Violation]:
    """Département caps under "part_equitable": posts of the round within the fair share left."""
    if policy.departement_cap != "part_equitable":
        return []
    per_dept: dict[str, int] = {}
    for a, g in grants:
        per_dept[a.departement] = per_dept.get(a.departement, 0) + g
    shares = {t.code: t.fair_share for t in round_input.departements}
    if all(v is None for v in shares.values()):
        computed = programme.fair_shares(
            {t.code: t.need for t in round_input.departements}, policy.national_envelope
        )
        shares = {code: computed.get(code, 0) for code in shares}
    found = []
    for t in sorted(round_input.departements, key=lambda t: t.code):
        room = max(0, (shares[t.code] or 0) - t.existing)
        if per_dept.get(t.code, 0) > room:
            found.append(
                Violation(
                    "part_departement",
                    f"département {t.code}: {per_dept[t.code]} > part restante {room}",
                )
            )
    return found
