"""Part 2 of a letter: the algorithm's contribution to the decision (R311-3-1-2 1°)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from allocator import motifs as motif_codes
from service.explanations.legal import DECIDEUR, DECIDEUR_COURT, TITRE_CONTRIBUTION
from service.explanations.meta import STATUT_BROUILLON, STATUT_VALIDE, RoundMeta
from service.explanations.render import bloc
from service.explanations.tour import Tour
from service.explanations.wording import (
    auteur_en_clair,
    date_en_clair,
    mois_en_clair,
    pluriel,
    postes,
)


def contribution_et_texte(
    tour: Tour, decision: Mapping[str, Any], lock: Mapping[str, Any] | None
) -> tuple[dict[str, Any], str]:
    """The contribution part (values) and the text of parts 1 and 2 (mention, contribution)."""
    meta = tour.meta
    granted = int(decision["nombreConseillersAttribues"])
    locked = motif_codes.VERROUILLE in decision.get("motifs", ()) or lock is not None
    if lock is None:  # everything depends on (granted, locked): built once per round
        key = (granted, locked)
        cached = tour.contributions.get(key)
        if cached is None:
            cached = tour.contributions[key] = contribution_valeurs(tour, granted, locked, None)
        template, texte = cached
        part = dict(template)  # the nested dicts are fresh for every decision
        if meta is not None:
            part["tour"] = dict(template["tour"])
        if locked:
            part["derogation"] = dict(template["derogation"])
        return part, texte
    return contribution_valeurs(tour, granted, locked, lock)


def proposition_algorithme(
    granted: int, locked: bool, lock: Mapping[str, Any] | None
) -> int | None:
    """What the algorithm proposed: the grant itself without a lock, else the proposal the lock
    recorded (``None`` when it recorded none)."""
    if not locked:
        return granted
    if lock is not None and lock.get("proposition") is not None:
        return int(lock["proposition"])
    return None


def contribution_valeurs(
    tour: Tour, granted: int, locked: bool, lock: Mapping[str, Any] | None
) -> tuple[dict[str, Any], str]:
    meta, statut = tour.meta, tour.statut
    proposition = proposition_algorithme(granted, locked, lock)
    derogation = None
    if locked:
        derogation = {
            "nombre": granted,
            "motif": None if lock is None else lock.get("motif"),
            "auteur": None if lock is None else lock.get("auteur"),
            "date": None if lock is None else lock.get("date"),
            "propositionAlgorithme": proposition,
        }
    part = {
        "titre": TITRE_CONTRIBUTION,
        "mode": "aide à la décision",
        "decideur": DECIDEUR,
        "statut": statut,
        "tour": None
        if meta is None
        else {"id": meta.round_id, "numero": None if meta.round_id is None else str(meta.round_id)},
        "mois": None if meta is None else meta.mois,
        "preparePar": None if meta is None else meta.auteur,
        "prepareLe": None if meta is None else meta.cree_le,
        "validePar": None if meta is None or statut != STATUT_VALIDE else meta.valide_par,
        "valideLe": None if meta is None or statut != STATUT_VALIDE else meta.valide_le,
        "propositionAlgorithme": proposition,
        "decision": granted if statut == STATUT_VALIDE else None,
        "derogation": derogation,
    }
    lignes = contribution_lignes(meta, statut, granted, locked, proposition, lock)
    return part, tour.mention + bloc(2, TITRE_CONTRIBUTION, lignes)


def contribution_lignes(
    meta: RoundMeta | None,
    statut: str,
    granted: int,
    locked: bool,
    proposition: int | None,
    lock: Mapping[str, Any] | None,
) -> list[str]:
    lignes = [
        "L'algorithme est une aide à la décision : il calcule une proposition (combien de postes "
        f"pour chaque structure et pourquoi) ; {DECIDEUR} l'examine, peut la modifier en fixant "
        "le nombre de postes d'une structure avec un motif écrit, puis décide. Aucune décision "
        "n'est prise automatiquement."
    ]
    if meta is not None and meta.round_id is not None:
        auteur = auteur_en_clair(meta.auteur)
        lignes.append(
            f"Tour d'attribution n° {meta.round_id}"
            + (f" (mois de {mois_en_clair(meta.mois)})" if meta.mois else "")
            + (", préparé" if meta.auteur or meta.cree_le else "")
            + (f" le {date_en_clair(meta.cree_le)}" if meta.cree_le else "")
            + (f" par {auteur}" if auteur else "")
            + "."
        )
    if locked:
        phrase = (
            f"Le comité a fixé à {postes(granted)} l'attribution de ce tour pour votre structure"
        )
        if proposition is not None:
            phrase += f" (l'algorithme proposait {postes(proposition)})"
        if lock is not None and lock.get("motif"):
            phrase += f", motif : « {lock['motif']} »"
        if lock is not None and (lock.get("auteur") or lock.get("date")):
            qui = auteur_en_clair(lock.get("auteur"))
            phrase += (
                " (enregistré"
                + (f" par {qui}" if qui else "")
                + (f" le {date_en_clair(lock['date'])}" if lock.get("date") else "")
                + ")"
            )
        lignes.append(phrase + ".")
    attribues = pluriel(granted, "poste attribué", "postes attribués")
    if statut == STATUT_VALIDE:
        assert meta is not None
        quand = f" le {date_en_clair(meta.valide_le)}" if meta.valide_le else ""
        qui = auteur_en_clair(meta.valide_par)
        enregistre = f" (validation enregistrée par {qui})" if qui else ""
        if locked:
            lignes.append(
                f"Décision prise par {DECIDEUR_COURT}{quand}{enregistre} : {attribues} par ce "
                "tour, nombre fixé par le comité."
            )
        else:
            lignes.append(
                f"Décision prise par {DECIDEUR_COURT}{quand}{enregistre} : le comité a retenu la "
                f"proposition de l'algorithme, soit {attribues} par ce tour."
            )
    elif statut == STATUT_BROUILLON:
        lignes.append(
            "Ce tour est un brouillon : la proposition n'a pas encore été validée par le comité."
        )
    else:
        lignes.append(
            "Ceci est une proposition calculée sans décision du comité (simulation ou tour non "
            "encore validé)."
        )
    return lignes
