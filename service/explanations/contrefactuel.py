"""Part 6 of a letter: what would have changed the outcome."""

from __future__ import annotations

from typing import Any

from service.explanations.legal import TITRE_CONTREFACTUEL
from service.explanations.reading import Lecture
from service.explanations.tour import Calcul, Profil
from service.explanations.wording import ligne_du_tour, nombre


def contrefactuel_valeurs(p: Profil, v: Lecture) -> dict[str, Any]:
    """The ``contrefactuel`` part (its values; part 6 of ``texte`` is written from them)."""
    priorities, granted, seuil = v.priorities, v.granted, v.seuil
    nxt_priority = priorities[granted] if granted < len(priorities) else None
    ecart = (
        None
        if nxt_priority is None or seuil is None or p.locked
        else round(seuil - nxt_priority, 6)
    )
    return {
        "titre": TITRE_CONTREFACTUEL,
        "noteMinimale": v.score_min,
        "noteActuelle": v.note,
        "verifie": bool(v.verified),
        "prioritesEmboitees": bool(v.nested),
        "demandePlusGrande": v.larger,
        "prioritePosteSuivant": nxt_priority,
        "seuil": seuil,
        "ecartAuSeuil": ecart,
    }


#: Why no exact score threshold is known for an applicant (``details.counterfactual.nested``
#: false): the round is a knapsack, or (a laminar round) reaching the minimum score would change
#: how the budget limits it.
_SANS_SEUIL_KNAPSACK = (
    "- Le budget en euros de ce tour, avec des postes qui n'ont pas tous le même coût pour "
    "l'État, fait du calcul un problème de « sac à dos » : l'attribution n'y suit pas une liste "
    "de priorités emboîtées, et une note plus haute ne garantit pas un poste de plus. Aucun "
    "seuil exact de note n'est connu pour obtenir un poste de plus dans ce tour.\n"
)
_SANS_SEUIL_ELIGIBILITE = (
    "- Une note atteignant la note minimale rendrait votre projet éligible, et ses postes "
    "changeraient la façon dont le budget en euros limite le tour : aucun seuil exact de note "
    "n'est connu pour obtenir un poste dans ce tour.\n"
)


def contrefactuel_texte(
    c: Calcul,
    p: Profil,
    score: Any,
    larger: Any,
    verified: bool,
    suivant: bool,
    note: float,
    nested: bool,
    departemental: bool,
) -> str:
    """The heading and first lines of part 6 (before the gap to the round's threshold).

    ``nested``: the engine's closed form holds for this applicant (laminar model, greedy): a
    score is then a threshold and its absence means that even 100 would not do. Otherwise a
    score is stated only as verified by a re-run, and its absence as "no threshold known".
    """
    text = f"## 6. {TITRE_CONTREFACTUEL}\n\n"
    if p.locked:
        return text + (
            "- Votre attribution a été fixée par le comité de sélection : seule sa décision "
            "pouvait la changer.\n"
        )
    if p.type_non_eligible:
        return text + (
            "- Ce type de structure n'est pas éligible dans ce tour : aucune note ni aucune "
            "demande n'aurait changé le résultat.\n"
        )
    if p.avis_negatif:
        return text + (
            "- Seul un avis du préfet non défavorable aurait rendu la candidature éligible dans "
            "ce tour.\n"
        )
    if p.satisfaite:
        return text + _demande_satisfaite(larger)
    if score is not None:
        return text + _avec_note(p, score, note, verified, nested)
    if p.plafond:
        return text + (
            "- Le plafond de postes par structure vous a arrêté : seul un plafond plus élevé "
            "aurait changé le résultat.\n"
        )
    if not suivant:
        return text
    if not nested:
        return text + (_SANS_SEUIL_KNAPSACK if not c.laminar else _SANS_SEUIL_ELIGIBILITE)
    if p.part_dep:
        return text + (
            "- Le département a atteint sa part équitable : aucune note n'aurait suffi dans "
            "ce tour.\n"
        )
    if departemental:
        return text + (
            "- Même avec la note maximale de 100, votre structure n'aurait pas obtenu de poste "
            "de plus dans ce tour. Elle agit à l'échelle du département : ses postes n'ont pas "
            "de composante « répartition dans le département », réservée aux structures "
            "rattachées à une intercommunalité ; avec les seules composantes « accès » et "
            "« équilibre entre départements », même à la note maximale, votre poste suivant ne "
            "peut prendre la place d'aucun poste attribué.\n"
        )
    return text + (
        "- Même avec la note maximale de 100, votre structure n'aurait pas obtenu de poste de "
        "plus dans ce tour : même à la note maximale, la priorité de votre poste suivant "
        "(accès + répartition + équilibre) ne lui permet de prendre la place d'aucun poste "
        "attribué.\n"
    )


def _demande_satisfaite(larger: Any) -> str:
    """Part 6 when the request is fully met: would a larger one have helped."""
    text = "- Votre demande est entièrement satisfaite.\n"
    if larger is True:
        text += (
            "- Une demande plus importante aurait pu vous valoir un poste de plus "
            "(estimation optimiste : le poste supplémentaire apporterait autant que votre "
            "dernier poste demandé).\n"
        )
    elif larger is False:
        text += "- Un poste de plus n'aurait pas été attribué même avec une demande plus grande.\n"
    return text


def _avec_note(p: Profil, score: Any, note: float, verified: bool, nested: bool) -> str:
    """Part 6 with a score that would have given one more post (a threshold when
    ``nested``, else a score verified by re-solving)."""
    text = ""
    if not nested:
        # a score found and verified by re-solving, off the nested structure: not a threshold
        if p.score_insuffisant:
            text += (
                f"- Avec une note de {nombre(score, 2)} (au lieu de {nombre(note, 2)}), votre "
                "projet aurait été éligible et aurait obtenu un poste de plus dans ce tour : "
                "vérifié en recalculant le tour avec cette note.\n"
            )
        else:
            text += (
                f"- Avec une note de projet de {nombre(score, 2)} (au lieu de "
                f"{nombre(note, 2)}), votre structure aurait obtenu un poste de plus dans ce "
                "tour : vérifié en recalculant le tour avec cette note.\n"
            )
        return text + (
            "- Le budget en euros de ce tour, avec des postes qui n'ont pas tous le même coût "
            "pour l'État, fait du calcul un problème de « sac à dos » : l'attribution n'y suit "
            "pas une liste de priorités emboîtées. Cette note n'est donc pas un seuil (une autre "
            "note, même plus haute, pourrait ne pas suffire) et aucun seuil exact n'est connu.\n"
        )
    if p.score_insuffisant:
        text += (
            f"- Avec une note d'au moins {nombre(score, 2)} (au lieu de "
            f"{nombre(note, 2)}), votre projet aurait été éligible et aurait obtenu un "
            "poste de plus.\n"
        )
    else:
        text += (
            f"- Avec une note de projet d'au moins {nombre(score, 2)} (au lieu de "
            f"{nombre(note, 2)}), votre structure aurait obtenu un poste de plus dans "
            "ce tour.\n"
        )
    return text + (
        "- Ce seuil a été vérifié en recalculant le tour avec cette note.\n"
        if verified
        else "- Ce seuil découle d'un calcul exact sur le modèle (propriété des priorités "
        "emboîtées) ; il n'a pas été recalculé individuellement.\n"
    )


def contrefactuel_part(buf: list[str], c: Calcul, p: Profil, v: Lecture) -> dict[str, Any]:
    """Part 6 of ``texte`` (appended to ``buf``: the last one) and the ``contrefactuel`` part."""
    priorities, granted, score_min, larger, note = (
        v.priorities, v.granted, v.score_min, v.larger, v.note
    )  # fmt: skip
    cf = contrefactuel_valeurs(p, v)
    ecart, suivant = cf["ecartAuSeuil"], granted < len(priorities)
    emboite = cf["prioritesEmboitees"]
    departemental = v.epci_t is None
    # without a score to reach (the usual case), a few distinct texts per round
    key = (
        (p, larger is True, larger is False, suivant, emboite, departemental)
        if score_min is None
        else None
    )
    buf.append(
        ligne_du_tour(
            c.lignes,
            key,
            contrefactuel_texte,
            c,
            p,
            score_min,
            larger,
            cf["verifie"],
            suivant,
            note,
            emboite,
            departemental,
        )
    )
    if ecart is not None and ecart >= 0 and not p.satisfaite:
        buf.append(
            f"- Votre poste suivant avait une priorité de {v.priorites[granted]}, soit "
            f"{nombre(ecart, 1)} sous le seuil du tour ({v.seuil_t}).\n"
        )
    # the last line of ``texte`` (no blank line after it)
    buf.append(
        "- Cette analyse n'utilise aucune donnée propre aux autres candidats : seul le seuil du "
        "tour est commun à tous.\n"
    )
    return cf
