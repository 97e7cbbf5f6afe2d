"""Part 5 of a letter: the operations performed (R311-3-1-2 4°), with the applicant's numbers:
eligibility, need and coverage, balance between départements, allocation within the
département, national ranking and tie-break."""

from __future__ import annotations

from typing import Any

from service.explanations.legal import TITRE_OPERATIONS
from service.explanations.reading import Lecture
from service.explanations.tour import Calcul, Profil
from service.explanations.wording import ligne_du_tour, nombre, nombre_memo, par_poste, pluriel


def operations_part(buf: list[str], c: Calcul, p: Profil, v: Lecture) -> dict[str, Any]:
    """Part 5 of ``texte`` (appended to ``buf``) and the ``operations`` part."""
    eligibilite = (v.type_structure, v.note_1, v.avis, p)  # 5.1: a few texts per round
    buf.append(c.eligibilite.get(eligibilite) or _eligibilite(c, p, v, eligibilite))
    gains, access = _besoin(buf, c, v)
    _territoires(buf, c, v)
    buf.append(c.classement)
    rows, ranks = _classement(buf, p, v)
    granted, total, souhaites = v.granted, v.total, v.souhaites
    # (a few distinct texts per round; ints only in keys, as 2 and 2.0 are equal keys)
    entiers = type(total) is int and type(souhaites) is int
    resultat = ("resultat", granted, total, souhaites, p) if entiers else None
    buf.append(ligne_du_tour(c.lignes, resultat, _resultat_texte, p, granted, total, souhaites))
    return {
        "titre": TITRE_OPERATIONS,
        "etapes": [
            {
                "etape": "eligibilite",
                "titre": "Éligibilité",
                "eligible": not p.hard,
                "motifs": list(p.hard),
            },
            {
                "etape": "besoin_couverture",
                "titre": "Besoin et couverture existante",
                "populationFragile": v.population,
                "offreExistante": v.offre,
                "gains": gains,
                "composanteAcces": access,
            },
            {
                "etape": "equilibre_departements",
                "titre": "Équilibre entre départements",
                "departement": v.dep_code,
                "composanteSuivante": v.balance,
            },
            {
                "etape": "repartition_departement",
                "titre": "Répartition au sein du département",
                "epci": v.epci_code,
                "composanteSuivante": v.distribution,
            },
            {
                "etape": "classement_departage",
                "titre": "Classement national et départage",
                "postes": rows,
                "rangs": ranks,
                "seuil": v.seuil,
            },
        ],
    }


def _eligibilite(c: Calcul, p: Profil, v: Lecture, key: tuple[Any, ...]) -> str:
    """5.1 eligibility (kept in ``c.eligibilite`` under ``key``)."""
    type_structure, note_1, avis = v.type_structure, v.note_1, v.avis
    text = c.eligibilite[key] = (
        f"## 5. {TITRE_OPERATIONS}\n\n### 5.1. Éligibilité\n\n- Type de structure "
        f"{type_structure} : "
        + ("éligible.\n" if type_structure in c.eligible_types else "non éligible dans ce tour.\n")
        + f"- Note du projet {note_1}"
        + (c.note_non_remplie if p.score_insuffisant else c.note_remplie)
        + (
            "- Avis du préfet : aucun avis (neutre).\n"
            if avis is None
            else "- Avis du préfet : favorable.\n"
            if avis == "POSITIF"
            else "- Avis du préfet : défavorable : la candidature est écartée (règle "
            "« exclure »).\n"
            if p.avis_negatif
            else c.avis_negatif
        )
        + (
            "- Résultat : candidature non éligible (" + p.hard_texte + ").\n"
            if p.hard
            else "- Résultat : candidature éligible.\n"
        )
    )
    return text


def _besoin(buf: list[str], c: Calcul, v: Lecture) -> tuple[list[Any], list[Any]]:
    """5.2 need and coverage; returns the gains per post and their access components."""
    gains = list(v.gains_in or [])
    if not gains:
        buf.append(
            "\n### 5.2. Besoin et couverture existante\n\n"
            f"- Votre zone compte {v.population_t} personnes éloignées du numérique et une offre "
            f"déjà à portée de {v.offre_t} {v.equivalents}.\n"
            "- Aucun poste n'était à calculer pour votre structure dans ce tour.\n"
        )
        return gains, []
    q, f_cof = v.q, v.f_cof
    factor = c.w_a * (q or 0.0) * f_cof  # the same products, in the same order, per gain
    access = [round(factor * g, 6) for g in gains]
    buf.append(
        "\n### 5.2. Besoin et couverture existante\n\n"
        f"- Votre zone compte {v.population_t} personnes éloignées du numérique et une offre "
        f"déjà à portée de {v.offre_t} {v.equivalents}.\n"
        "- Personnes nouvellement à portée d'un conseiller avec chaque poste demandé dans ce "
        f"tour (rendements décroissants) : {par_poste(gains)}.\n{c.acces}"
        f"{nombre_memo(c.n3, q, 3)} × "
        + (f"facteur cofinancement {nombre_memo(c.n3, f_cof, 3)} × " if f_cof != 1.0 else "")
        + f"personnes nouvellement à portée : {par_poste(access)}.\n"
    )
    return gains, access


def _territoires(buf: list[str], c: Calcul, v: Lecture) -> None:
    """5.3 balance between départements, 5.4 allocation within the département."""
    dep_t, epci_t, suivant = v.dep_t, v.epci_t, v.nxt is not None
    buf.append(dep_t[2])
    if suivant:
        buf.append(f"{dep_t[3]}{nombre_memo(c.n1, v.balance, 1)}.\n")
    if epci_t is None:
        buf.append(
            "\n### 5.4. Répartition au sein du département\n\n- Votre structure agit à l'échelle "
            "du département (ou au-delà) : pas de composante intercommunale.\n"
        )
    else:
        buf.append(epci_t[1])
        if suivant:
            buf.append(f"{epci_t[2]}{nombre_memo(c.n1, v.distribution, 1)}.\n")


def _classement(buf: list[str], p: Profil, v: Lecture) -> tuple[list[dict[str, Any]], list[Any]]:
    """5.5 national ranking and tie-break: each post's priority and rank, the threshold."""
    locked, granted, priorites, seuil = p.locked, v.granted, v.priorites, v.seuil
    ranks = list(v.rangs_in or [])
    rows = []
    n_ranks = 0 if locked else len(ranks)
    for k, prio in enumerate(v.priorities):
        attribue = k < granted
        if k < n_ranks:
            rows.append({"poste": k + 1, "priorite": prio, "attribue": attribue, "rang": ranks[k]})
            etat = f"attribué, rang national {ranks[k]}" if attribue else "non attribué"
        else:
            rows.append({"poste": k + 1, "priorite": prio, "attribue": attribue})
            etat = (
                "non attribué"
                if not attribue
                else "attribué (nombre fixé par le comité)"
                if locked
                else "attribué"
            )
        buf.append(f"- Poste {k + 1} : priorité {priorites[k]} — {etat}.\n")
    if seuil is not None:
        buf.append(f"- Seuil du tour (priorité du dernier poste attribué) : {v.seuil_t}.\n")
    if locked:
        buf.append(
            "- Votre attribution a été fixée par le comité : vos postes ne sont pas classés "
            "(priorités données à titre indicatif).\n"
        )
    return rows, ranks


def _resultat_texte(p: Profil, granted: int, total: Any, souhaites: Any) -> str:
    return (
        f"- Résultat : {pluriel(granted, 'poste attribué', 'postes attribués')} par ce "
        f"tour, total {nombre(total)} sur {pluriel(souhaites, 'demandé')} ; motifs : "
        f"{p.texte}.\n\n"
    )
