"""Part 4 of a letter: the parameters applied to the applicant (R311-3-1-2 3°)."""

from __future__ import annotations

from typing import Any

from allocator.programme import prefet_opinion
from service.explanations.legal import TITRE_PARAMETRES
from service.explanations.reading import Lecture
from service.explanations.tour import Calcul, Profil
from service.explanations.wording import euros, ligne_du_tour, nombre, nombre_memo


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


def parametres_texte(
    buf: list[str], c: Calcul, p: Profil, v: Lecture
) -> tuple[bool, bool, tuple[str, ...]]:
    """Part 4 of ``texte`` (appended to ``buf``); returns what its values need: whether the
    préfet's penalty applies, whether the score floor binds, and the binding rule codes."""
    q, f_cof, note_1, prefets, avis = v.q, v.f_cof, v.note_1, v.prefets, v.avis
    penalise = c.penaliser and bool(prefets) and prefet_opinion(avis) == "NÉGATIF"
    buf.append(c.poids_ligne)
    buf.append(
        f"- Facteur qualité de votre projet : {nombre_memo(c.n3, q, 3)} (note {note_1}/100"
        + (c.penalite if penalise else "")
        + ").\n"
    )
    buf.append(c.quota_ligne)
    buf.append(v.dep_t[1])
    if c.prioritaire:
        buf.append(
            "- Règle du cofinancement « prioritaire » : la composante « accès » de vos postes "
            f"est multipliée par {nombre_memo(c.n3, f_cof, 3)}{c.prioritaire_suite}"
        )
    else:
        buf.append(
            "- Règle du cofinancement « neutre » : le cofinancement ne change pas la priorité "
            "de vos postes (le besoin d'abord) ; il réduit seulement leur coût pour l'État.\n"
        )
    if v.cost:
        buf.append(_cout_ce_tour(c, v.granted, v.state, v.cof))
    buf.append(c.cofinancement_fin)
    # the engine's caps and floors, and whether each one stopped this applicant
    plancher = v.note < c.quality_floor and not p.score_insuffisant
    if p.satisfaite or p.part_dep:
        contraignantes, text = regles_contraignantes(c, p, plancher, v.remaining, v.cap_room)
    else:
        regles = p.regles.get(plancher)
        if regles is None:
            regles = p.regles[plancher] = regles_contraignantes(
                c, p, plancher, v.remaining, v.cap_room
            )
        contraignantes, text = regles
    buf.append(text)
    return penalise, plancher, contraignantes


def _cout_ce_tour(c: Calcul, granted: int, state: Any, cof: Any) -> str:
    """The State's cost and the co-funding of the posts granted (a few texts per round)."""
    # (zero costs become the int 0 here: the text depends on these three numbers only)
    etat, cofinance = state or 0, cof or 0
    key = (
        (granted, etat, cofinance) if type(etat) in NOMBRES and type(cofinance) in NOMBRES else None
    )
    return ligne_du_tour(c.lignes, key, _cout_ce_tour_texte, granted, etat, cofinance)


def _cout_ce_tour_texte(granted: int, etat: Any, cofinance: Any) -> str:
    return (
        f"- Coût pour l'État des postes attribués par ce tour ({granted}) : "
        f"{euros(etat * granted)} ; cofinancement : {euros(cofinance * granted)}.\n"
    )


def parametres_valeurs(
    c: Calcul,
    p: Profil,
    v: Lecture,
    penalise: bool,
    plancher: bool,
    contraignantes: tuple[str, ...],
) -> dict[str, Any]:
    """The ``parametres`` part (after :func:`parametres_texte`, which says what binds)."""
    fair, dep_existing, state, cof, granted = v.fair, v.dep_existing, v.state, v.cof, v.granted
    reste = (
        None if fair is None or dep_existing is None else fair - dep_existing - (v.dep_posts or 0)
    )
    remaining, cap_room = v.remaining, v.cap_room
    return {
        "titre": TITRE_PARAMETRES,
        "poids": dict(c.poids),
        "facteurQualite": v.q,
        "penaliteAvisPrefet": c.prefet_penalty if penalise else None,
        "quota": c.quota,
        "quotaEffectif": c.quota_effectif,
        "enveloppeNationale": c.enveloppe,
        "enveloppeRestante": c.enveloppe_restante,
        "departement": {
            "code": v.dep_code,
            "nom": v.dep_t[0],
            "besoin": v.dep_need,
            "partEquitable": fair,
            "dejaPresents": dep_existing,
            "attribuesCeTour": v.dep_posts,
            "resteSurPartEquitable": reste,
            "plafond": cap_room,
        },
        "epci": None
        if v.epci_t is None
        else {
            "code": v.epci_code,
            "besoin": v.epci_need,
            "dejaPresents": v.epci_existing,
            "attribuesCeTour": v.epci_posts,
        },
        "regles": {
            "DEMANDE": {"valeur": remaining, "contraignante": p.satisfaite},
            "NOTE_MINIMALE": {"valeur": c.min_quality, "contraignante": p.score_insuffisant},
            "PLANCHER_NOTE": {"valeur": c.quality_floor, "contraignante": plancher},
            "PLAFOND_STRUCTURE": {"valeur": c.max_posts, "contraignante": p.plafond},
            "PART_DEPARTEMENT": {"valeur": cap_room, "contraignante": p.part_dep},
            "QUOTA": {"valeur": c.quota, "contraignante": p.quota},
            "ENVELOPPE": {"valeur": c.enveloppe_restante, "contraignante": p.enveloppe},
            "BUDGET": {"valeur": c.budget_restant, "contraignante": p.budget},
        },
        "reglesContraignantes": list(contraignantes),
        "cofinancement": {
            "regle": c.regle_cofinancement,
            "facteur": v.f_cof,
            "coutStandardParPosteEur": v.standard,
            "cofinancementParPosteEur": cof,
            "coutEtatParPosteEur": state,
            "coutEtatCeTourEur": None if state is None else state * granted,
            "cofinancementCeTourEur": None if cof is None else cof * granted,
            "budgetTourEur": c.budget,
            "contraintesLiantes": c.binding,
        },
    }
