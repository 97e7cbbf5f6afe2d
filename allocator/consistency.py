"""Consistency check, before any solve: the locks against every rule, with the numbers."""

from __future__ import annotations

from allocator import motifs
from allocator.model import Model


def _fmt_eur(cents: int) -> str:
    return f"{cents / 100:.2f}".rstrip("0").rstrip(".") + " €"


def _minimal_excess(
    items: list[tuple[int, int, int]], limit: int
) -> list[tuple[int, int, int]] | None:
    """Fewest items ``(weight, id_pg, lock)`` whose weights sum above ``limit`` (largest first)."""
    chosen, total = [], 0
    for item in sorted(items, key=lambda t: (-t[0], t[1])):
        chosen.append(item)
        total += item[0]
        if total > limit:
            return sorted(chosen, key=lambda t: t[1])
    return None


def _locks_phrase(chosen: list[tuple[int, int, int]]) -> str:
    word = "verrou structure" if len(chosen) == 1 else "verrous structures"
    return word + " " + " + ".join(f"{i} ({v})" for _, i, v in chosen)


def consistency_conflicts(m: Model) -> list[str]:
    """Locks against each rule family; every returned message names a minimal conflicting set.

    Empty list = the locks are compatible with every rule (then a feasible allocation exists:
    granting nothing beyond the locks). Per locked applicant first (request, structure cap,
    eligibility), then the round's totals (quota, envelope, budget, département caps).
    """
    conflicts: list[str] = []
    for i, v in enumerate(m.lock):
        if v:
            conflicts.extend(lock_vs_request(m, i, v))
            conflicts.extend(lock_vs_structure_cap(m, i, v))
            conflicts.extend(lock_vs_eligibility(m, i, v))
    conflicts.extend(locks_vs_quota(m))
    conflicts.extend(locks_vs_envelope(m))
    conflicts.extend(locks_vs_budget(m))
    conflicts.extend(locks_vs_departement_caps(m))
    return conflicts


def lock_vs_request(m: Model, i: int, v: int) -> list[str]:
    """A lock above the applicant's remaining request."""
    a = m.applicants[i]
    if v <= m.remaining[i]:
        return []
    return [
        f"verrou structure {a.id_pg} ({v}) > demande restante {m.remaining[i]} "
        f"({a.requested} demandés − {a.already_granted} déjà attribués)"
    ]


def lock_vs_structure_cap(m: Model, i: int, v: int) -> list[str]:
    """A lock taking the structure's total above ``max_posts_per_structure``."""
    a, cap = m.applicants[i], m.policy.max_posts_per_structure
    if cap is None or a.already_granted + v <= cap:
        return []
    return [
        f"verrou structure {a.id_pg} ({v}) + {a.already_granted} déjà attribués = "
        f"{a.already_granted + v} > plafond par structure {cap}"
    ]


def lock_vs_eligibility(m: Model, i: int, v: int) -> list[str]:
    """A lock on an ineligible applicant: one message per eligibility motif."""
    a = m.applicants[i]
    found = []
    for motif in m.ineligible[i]:
        if motif == motifs.TYPE_NON_ELIGIBLE:
            found.append(f"verrou structure {a.id_pg} ({v}) : type {a.type.value} non éligible")
        elif motif == motifs.AVIS_PREFET_NEGATIF:
            found.append(
                f"verrou structure {a.id_pg} ({v}) : avis du préfet NÉGATIF (politique « exclure »)"
            )
        else:
            found.append(
                f"verrou structure {a.id_pg} ({v}) : score qualité {a.quality:g} "
                f"< minimum {m.policy.min_quality:g}"
            )
    return found


def _locks(m: Model) -> list[tuple[int, int, int]]:
    return [(v, m.ids[i], v) for i, v in enumerate(m.lock) if v]


def locks_vs_quota(m: Model) -> list[str]:
    """(C1): locks summing above the round's quota."""
    chosen = _minimal_excess(_locks(m), m.quota)
    if not chosen:
        return []
    return [f"{_locks_phrase(chosen)} = {sum(c[0] for c in chosen)} > quota {m.quota}"]


def locks_vs_envelope(m: Model) -> list[str]:
    """(C2): locks summing above what remains of the national envelope."""
    chosen = _minimal_excess(_locks(m), m.envelope_remaining)
    if not chosen:
        return []
    return [
        f"{_locks_phrase(chosen)} = {sum(c[0] for c in chosen)} > enveloppe nationale restante "
        f"{m.envelope_remaining} ({m.policy.national_envelope} − "
        f"{m.programme_consumed} consommés)"
    ]


def locks_vs_budget(m: Model) -> list[str]:
    """(C3): locks whose State cost exceeds the remaining budget."""
    if m.budget_remaining_cents is None:
        return []
    costed = [(m.cost_cents[i] * v, m.ids[i], v) for i, v in enumerate(m.lock) if v]
    chosen = _minimal_excess(costed, m.budget_remaining_cents)
    if not chosen:
        return []
    parts = " + ".join(f"{i} ({v} × {_fmt_eur(w // v)})" for w, i, v in chosen)
    word = "verrou structure" if len(chosen) == 1 else "verrous structures"
    return [
        f"{word} {parts} = {_fmt_eur(sum(c[0] for c in chosen))} > budget restant "
        f"{_fmt_eur(m.budget_remaining_cents)}"
    ]


def locks_vs_departement_caps(m: Model) -> list[str]:
    """(C4): locks of a département summing above its remaining fair share."""
    found = []
    for d, cap in enumerate(m.dept_cap):
        if cap is None:
            continue
        in_d = [(v, m.ids[i], v) for i, v in enumerate(m.lock) if v and m.app_dept[i] == d]
        chosen = _minimal_excess(in_d, cap)
        if chosen:
            t = m.dept_territories[d]
            found.append(
                f"{_locks_phrase(chosen)} = {sum(c[0] for c in chosen)} > part restante du "
                f"département {t.code} {cap} (part équitable {m.dept_fair_share[d]} − "
                f"{t.existing} existants)"
            )
    return found
