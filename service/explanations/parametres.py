"""Part 4 of a letter: the parameters applied to the applicant (R311-3-1-2 3°)."""

from __future__ import annotations

from typing import Any

from service.explanations.tour import Calcul, Profil
from service.explanations.wording import nombre


def regles_contraignantes(
    c: Calcul, p: Profil, plancher: bool, remaining: Any, cap_room: Any
) -> tuple[tuple[str, ...], str]:
    """The binding rules (codes, in the engine's order) and their lines, then a blank line."""
    codes: list[str] = []
    lignes: list[str] = []
    if p.satisfaite:
        codes.append("DEMANDE")
        lignes.append(
            "- Règle contraignante pour vous : postes restant à attribuer sur la demande "
            f"({nombre(remaining)}).\n"
        )
    if p.score_insuffisant:
        codes.append("NOTE_MINIMALE")
        lignes.append(c.regle_note)
    if plancher:
        codes.append("PLANCHER_NOTE")
        lignes.append(c.regle_plancher)
    if p.plafond:
        codes.append("PLAFOND_STRUCTURE")
        lignes.append(c.regle_plafond)
    if p.part_dep:
        codes.append("PART_DEPARTEMENT")
        lignes.append(
            "- Règle contraignante pour vous : postes encore possibles dans le département sous "
            f"sa part équitable ({nombre(cap_room)}).\n"
        )
    if p.quota:
        codes.append("QUOTA")
        lignes.append(c.regle_quota)
    if p.enveloppe:
        codes.append("ENVELOPPE")
        lignes.append(c.regle_enveloppe)
    if p.budget:
        codes.append("BUDGET")
        lignes.append(c.regle_budget)
    if not codes:
        lignes.append("- Aucun plafond ni plancher n'a limité votre attribution.\n")
    lignes.append("\n")
    return tuple(codes), "".join(lignes)


NOMBRES = frozenset((int, float))
