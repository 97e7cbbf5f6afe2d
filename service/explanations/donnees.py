"""Part 3 of a letter: the data processed and their sources (R311-3-1-2 2°)."""

from __future__ import annotations

from typing import Any

from service.explanations.legal import ACCESSIBLES, TITRE_DONNEES
from service.explanations.reading import Lecture
from service.explanations.tour import Calcul
from service.explanations.wording import (
    cle_texte,
    est_pluriel,
    euros,
    ligne_du_tour,
    nombre,
    nombre_memo,
    oui_non,
    pluriel,
    postes,
    une_ligne,
)


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
    return ligne_du_tour(c.lignes, key, _avis_texte, prefet, synthetique)


def _avis_texte(prefet: Any, synthetique: bool) -> str:
    return (
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
    )


def cout_texte(
    cof_eur: float | None, cof_part: float | None, standard: Any, state: Any, cofunding: Any
) -> str:
    """The line of part 3 on the post's standard cost, the host's co-funding and the State's
    cost (per post; the engine's ``details.cost``, read by :class:`Lecture`)."""
    text = (
        f"- Coût d'un poste : coût standard {euros(standard)} (barème de l'appel selon le type "
        "de structure et le territoire)"
    )
    if cof_eur is None and cof_part is None:
        return text + f" ; aucun cofinancement déclaré : coût pour l'État {euros(state)}.\n\n"
    declared = (
        f"{euros(cof_eur)} par poste"
        if cof_eur is not None
        else f"{nombre((cof_part or 0.0) * 100, 1)} % du coût standard"
    )
    return (
        text + f" ; cofinancement déclaré par votre structure : {declared}, soit "
        f"{euros(cofunding)} par poste ; coût pour l'État : {euros(state)} "
        "par poste (jamais négatif) — source : votre candidature.\n\n"
    )


def donnees_valeurs(c: Calcul, v: Lecture) -> dict[str, Any]:
    """The ``donnees`` part: each datum with its sources."""
    prefet, note_defaut, note_synth = v.prefet, v.note_defaut, v.note_synth
    return {
        "demande": {"valeur": v.souhaites, "sources": ["candidature"]},
        "dejaAttribues": {"valeur": v.already, "sources": ["historique_coselec"]},
        "noteProjet": {
            "valeur": v.note,
            "parDefaut": note_defaut,
            "synthetique": note_synth,
            "sources": [
                "note_par_defaut"
                if note_defaut
                else "synthetique"
                if note_synth
                else "instructeur_anct"
            ],
        },
        "avisPrefet": {
            "valeur": v.avis,
            "nombreSuggere": None if prefet is None else prefet.nombreConseillersPrefet,
            "commentaire": None if prefet is None else prefet.commentairePrefet,
            "synthetique": v.prefet_synth,
            "sources": ["synthetique" if v.prefet_synth else "prefet"],
        },
        "communeSiege": {
            "code": v.code,
            "nom": v.nom,
            "departement": v.dep_territoire,
            "sources": ["S1"],
        },
        "zoneDesservie": {
            "communes": v.communes,
            "population": v.pop_zone,
            "sources": ["candidature", "S1"],
        },
        "populationFragile": {"valeur": v.population, "sources": ["S1", "S3", "S7"]},
        "indiceFragilite": {
            "valeur": v.score,
            "echelle": "100 = moyenne de la région",
            "millesime": c.s3_millesime,
            "repli": v.repli_flag,
            "motifsRepli": v.repli,
            "sources": ["S3"],
        },
        "conseillersExistants": {
            "zone": v.advisors,
            "epci": v.epci_existing,
            "departement": v.dep_existing,
            "offreAPortee": v.offre,
            "origine": c.origine,
            "etatAu": c.etat_au,
            "sources": list(c.existing_sources),
        },
        "accessibilite": {
            "zone": v.acc_zone,
            "communeSiege": v.acc_commune,
            "partSansConseiller": v.sans_conseiller,
            "methode": "E2SFCA",
            "sources": ["calcul"],
        },
        "zrr": {"declare": v.est_zrr, "reference": v.zrr, "sources": ["candidature", "S8"]},
        "qpv": {"declare": v.qpv, "sources": ["candidature"]},
        "franceServices": {
            "declare": v.label_fs,
            "sitesDansLaZone": v.fs,
            "millesime": c.s6_millesime,
            "sources": ["candidature", "S6"],
        },
        "cofinancement": {
            "declareEur": v.cof_eur,
            "declarePart": v.cof_part,
            "coutStandardParPosteEur": v.standard,
            "cofinancementParPosteEur": v.cof,
            "coutEtatParPosteEur": v.state,
            "sources": ["candidature", "calcul"],
        },
        "sourcesCitees": [{"numero": n, "source": i} for n, i in c.sources_citees],
        "titre": TITRE_DONNEES,
    }


def donnees_texte(buf: list[str], c: Calcul, v: Lecture) -> None:
    """Part 3 of ``texte`` (appended to ``buf``): demand, score, opinion, territory, costs."""
    lignes = c.lignes
    souhaites, already, note_1, note_defaut, note_synth = (
        v.souhaites, v.already, v.note_1, v.note_defaut, v.note_synth
    )  # fmt: skip
    # demand, project score, préfet opinion: a few distinct texts per round (numbers of posts
    # are written with str(): ints only in keys, as 2 and 2.0 are equal keys)
    key: tuple[Any, ...] | None = (
        ("demande", souhaites, already) if type(souhaites) is int and type(already) is int else None
    )
    buf.append(ligne_du_tour(lignes, key, _demande_texte, souhaites, already))
    buf.append(
        ligne_du_tour(
            lignes,
            ("note", note_1, note_defaut, note_synth),
            _note_texte,
            c,
            note_1,
            note_defaut,
            note_synth,
        )
    )
    prefet = v.prefet
    buf.append(
        "- Avis du préfet : aucun avis reçu (sans effet sur le calcul).\n"
        if prefet is None
        else avis_ligne(c, prefet, v.prefet_synth)
    )
    buf.append(_territoire_texte(c, v))
    buf.append(_zrr_texte(c, v))
    if v.cost:
        cof_eur, cof_part, standard, state = v.cof_eur, v.cof_part, v.standard, v.state
        key = (
            ("cout", standard, state)
            if cof_eur is None
            and cof_part is None
            and type(standard) is float
            and type(state) is float
            and standard
            and state
            else None
        )
        buf.append(
            ligne_du_tour(lignes, key, cout_texte, cof_eur, cof_part, standard, state, v.cof)
        )
    else:
        buf.append("\n")


def _territoire_texte(c: Calcul, v: Lecture) -> str:
    """The lines of the territory: commune, population, fragility, advisors, accessibility."""
    repli, epci_t, acc_zone = v.repli, v.epci_t, v.acc_zone
    return (
        f"- Commune siège : {v.nom} ({v.code}) ; zone desservie : "
        f"{pluriel(v.communes, 'commune')}, {pluriel(v.pop_zone, 'habitant')} ({c.ref_s1}).\n"
        "- Personnes éloignées du numérique dans la zone (estimation) : "
        f"{v.population_t}{c.population_fragile}"
        "- Indice de fragilité numérique de la commune siège : "
        f"{nombre_memo(c.n1, v.score, 1)}{c.indice}"
        + (
            f" ; valeur de repli utilisée pour une partie de la zone ({', '.join(repli)}).\n"
            if repli
            else ".\n"
        )
        + f"- Conseillers déjà présents : {nombre(v.advisors)} dans la zone, "
        + (f"{epci_t[0]} dans l'intercommunalité, " if epci_t is not None else "")
        + f"{v.dep_t[4]} dans le département ; offre à portée : {v.offre_t} {v.equivalents}"
        f"{c.etat_ligne}- Accessibilité : {nombre_memo(c.n2, acc_zone, 2)} "
        + (ACCESSIBLES[1] if est_pluriel(acc_zone, 2) else ACCESSIBLES[0])
        + c.accessibilite
    )


def _zrr_texte(c: Calcul, v: Lecture) -> str:
    """ZRR, QPV and France Services (a few distinct texts per round)."""
    zrr_declare = oui_non(v.est_zrr)
    zrr_texte, qpv, label_fs, fs = v.zrr_texte, v.qpv, v.label_fs, v.fs
    key = (
        ("zrr", zrr_declare, zrr_texte, qpv, label_fs, fs)
        if type(fs) is int and (zrr_texte is None or type(zrr_texte) is str)
        else cle_texte("zrr", zrr_declare, zrr_texte, qpv, label_fs, fs)
    )
    return ligne_du_tour(c.lignes, key, _zrr_ligne, c, zrr_declare, zrr_texte, qpv, label_fs, fs)


def _zrr_ligne(
    c: Calcul, zrr_declare: str, zrr_texte: Any, qpv: Any, label_fs: Any, fs: Any
) -> str:
    return (
        "- Zone de revitalisation rurale (ZRR) : déclaration de la structure "
        f"« {zrr_declare} », classement de la commune siège « {zrr_texte} » "
        f"({c.ref_s8}). Quartier prioritaire (QPV) : déclaration "
        f"« {qpv or 'non renseigné'} » (hors calcul). France Services : "
        f"labellisation déclarée « {label_fs or 'non renseigné'} », "
        f"{pluriel(fs, 'site')} dans la zone ({c.ref_s6}).\n"
    )


def _demande_texte(souhaites: Any, already: Any) -> str:
    return (
        f"## 3. {TITRE_DONNEES}\n\n- Demande : {postes(souhaites)} au total, dont "
        f"{pluriel(already, 'poste déjà attribué', 'postes déjà attribués')} par des "
        "décisions antérieures (source : votre candidature et l'historique du comité).\n"
    )


def _note_texte(c: Calcul, note_1: str, note_defaut: bool, note_synth: bool) -> str:
    return (
        f"- Note du projet : {note_1}/100 — "
        + (
            c.note_par_defaut
            if note_defaut
            else "note SYNTHÉTIQUE (données de démonstration, graine fixe), pas une note réelle."
            if note_synth
            else "note attribuée par l'instructeur de l'ANCT (qualiteProjet)."
        )
        + "\n"
    )
