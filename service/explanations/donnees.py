"""Part 3 of a letter: the data processed and their sources (R311-3-1-2 2°)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.explanations.tour import Calcul
from service.explanations.wording import cle_texte, euros, ligne_du_tour, nombre, pluriel, une_ligne


def avis_ligne(c: Calcul, prefet: Any, synthetique: bool) -> str:
    """The préfet's opinion (worded once per distinct opinion of the round)."""
    suggested = prefet.nombreConseillersPrefet
    key = (
        cle_texte(
            "avis",
            prefet.avisPrefet,
            suggested,
            prefet.commentairePrefet,
            "synthetique" if synthetique else "",
        )
        if suggested is None or type(suggested) is int
        else None
    )
    return ligne_du_tour(
        c.lignes,
        key,
        lambda: (
            f"- Avis du préfet : {prefet.avisPrefet or 'non renseigné'}"
            + (
                ", " + pluriel(prefet.nombreConseillersPrefet, "poste suggéré", "postes suggérés")
                if prefet.nombreConseillersPrefet is not None
                else ""
            )
            + (f" (« {une_ligne(prefet.commentairePrefet)} »)" if prefet.commentairePrefet else "")
            + (
                " — avis SYNTHÉTIQUE (données de démonstration, graine fixe), pas un avis réel.\n"
                if synthetique
                else " — source : le préfet de département, via le portail.\n"
            )
        ),
    )


def cost_line(
    c: Calcul, cof_eur: float | None, cof_part: float | None, cost: Mapping[str, Any]
) -> str:
    """The post's standard cost, the host's co-funding and the State's cost (per post)."""
    standard, state = cost.get("standard_eur"), cost.get("state_eur")
    text = (
        f"Coût d'un poste : coût standard {euros(standard)} (barème de l'appel selon le type "
        "de structure et le territoire)"
    )
    if cof_eur is None and cof_part is None:
        return text + f" ; aucun cofinancement déclaré : coût pour l'État {euros(state)}."
    declared = (
        f"{euros(cof_eur)} par poste"
        if cof_eur is not None
        else f"{nombre((cof_part or 0.0) * 100, 1)} % du coût standard"
    )
    return (
        text + f" ; cofinancement déclaré par votre structure : {declared}, soit "
        f"{euros(cost.get('cofunding_eur'))} par poste ; coût pour l'État : {euros(state)} "
        "par poste (jamais négatif) — source : votre candidature."
    )
