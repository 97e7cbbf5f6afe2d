"""The opening paragraph and the one-line summary of a letter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from allocator import motifs as motif_codes
from service.contract.schemas import StructureIn
from service.contract.vocabulary import TYPES_STRUCTURE
from service.explanations.contribution import proposition_algorithme
from service.explanations.legal import DECIDEUR_COURT, MOTIF_LIBELLES
from service.explanations.meta import QUI, STATUT_BROUILLON, STATUT_VALIDE
from service.explanations.tour import Calcul, Profil, Tour
from service.explanations.wording import (
    date_en_clair,
    est_pluriel,
    extrait,
    ligne_du_tour,
    nombre,
    note_courte,
    pluriel,
    postes,
    une_ligne,
)

# -- the opening paragraph ----------------------------------------------------------------------
#
# What a mayor's office reads first (at most :data:`ESSENTIEL_MOTS_MAX` words): what was asked,
# what is granted and who decided, the one or two reasons that decided it, and what the
# applicant can do next. Written from the decision's own numbers, motifs and contribution (the
# values the legal sections below are written from), never from a computation of its own.

#: The most words the opening paragraph may have (a test checks it on varied decisions).
ESSENTIEL_MOTS_MAX = 120
_PRIORITE_CRITERES = "besoin du territoire, conseillers déjà présents, note du projet"
_RECOURS = "former un recours gracieux auprès de l'ANCT dans les deux mois"
_PAS_ENCORE = (
    "Ce n'est pas encore une décision : vous n'avez rien à faire à ce stade, et seule la "
    "décision du comité pourra être contestée."
)


def raisons_retenues(found: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """The one or two motifs (of the decision's own, in their canonical order) that the opening
    paragraph gives as the reasons: the committee's lock alone, else a fully met request alone,
    else the first two limits (eligibility first, then what stopped the next post)."""
    if motif_codes.VERROUILLE in found:
        return (motif_codes.VERROUILLE,)
    if motif_codes.DEMANDE_SATISFAITE in found:
        return (motif_codes.DEMANDE_SATISFAITE,)
    return tuple([m for m in found if m != motif_codes.ACCORDE][:2])


def _raison(
    code: str,
    c: Calcul | None,
    *,
    granted: int,
    type_structure: Any,
    note: Any,
    lock: Mapping[str, Any] | None,
    proposition: int | None,
) -> str:
    """One reason of the opening paragraph, in everyday words, with the decision's numbers."""
    if code == motif_codes.VERROUILLE:
        text = "le comité a fixé ce nombre lui-même"
        if lock is not None and lock.get("motif"):
            text += f", pour le motif suivant : « {extrait(lock['motif'])} »"
        if proposition is not None and proposition != granted:
            text += f" (l'algorithme proposait {postes(proposition)})"
        return text
    if code == motif_codes.DEMANDE_SATISFAITE:
        if granted > 0:
            return "votre demande est entièrement satisfaite"
        return "vous aviez déjà obtenu tous les postes demandés"
    if code == motif_codes.TYPE_NON_ELIGIBLE:
        label = TYPES_STRUCTURE.get(str(type_structure), une_ligne(type_structure))
        return f"les structures de type « {label} » ne sont pas éligibles à ce tour"
    if code == motif_codes.AVIS_PREFET_NEGATIF:
        return "le préfet a donné un avis défavorable, qui écarte la candidature"
    if c is None:  # a result without the engine's details: its numbers are not known
        return MOTIF_LIBELLES.get(code, une_ligne(code))
    if code == motif_codes.SCORE_INSUFFISANT:
        return (
            f"la note de votre projet ({note_courte(note)}/100) est sous la note minimale du tour "
            f"({note_courte(c.min_quality)}/100)"
        )
    if code == motif_codes.PLAFOND_STRUCTURE:
        return f"une structure ne peut pas détenir plus de {pluriel(c.max_posts, 'poste')} en tout"
    if code == motif_codes.PART_DEPARTEMENT_ATTEINTE:
        return "votre département a déjà reçu toute sa part des postes, partagés selon les besoins"
    if code == motif_codes.BUDGET_EPUISE:
        return "le budget de ce tour ne suffisait pas pour un poste de plus"
    if code == motif_codes.ENVELOPPE_NATIONALE_EPUISEE:
        return "tous les postes que l'État finance pour le programme sont déjà attribués"
    if code == motif_codes.QUOTA_EPUISE:
        if not c.quota:
            return "ce tour n'avait aucun poste à attribuer"
        if c.quota == 1:
            return "le seul poste de ce tour a été attribué"
        return f"les {postes(c.quota)} de ce tour ont tous été attribués"
    if code == motif_codes.PRIORITE_INSUFFISANTE:
        return (
            "votre poste suivant était moins prioritaire que le dernier attribué "
            f"({_PRIORITE_CRITERES})"
        )
    return MOTIF_LIBELLES.get(code, une_ligne(code))


def paragraphe_essentiel(
    tour: Tour,
    c: Calcul | None,
    found: tuple[str, ...],
    *,
    granted: int,
    total: Any,
    souhaites: Any,
    already: Any,
    type_structure: Any,
    note: Any,
    lock: Mapping[str, Any] | None,
    score_min: Any = None,
    nested: bool = True,
) -> str:
    """The opening paragraph of a decision's letter (one line of plain text, no Markdown).

    ``found``: the decision's motifs; ``lock``: the committee's lock of this decision (its
    reason is quoted, shortened); ``score_min`` and ``nested``: the counterfactual score and
    whether it is an exact threshold (part 6 says the same, in full).
    """
    locked = motif_codes.VERROUILLE in found or lock is not None
    statut = tour.statut
    # The paragraph depends on these values alone (and on the round): worded once per distinct
    # tuple. Ints, strings and non-zero floats only (-0.0 == 0.0 but they print differently;
    # 2 == 2.0 print the same here). The score is written only when it is the reason, the
    # counterfactual score only in what a committed decision's applicant can do next.
    if motif_codes.SCORE_INSUFFISANT not in found:
        note = None
    if statut != STATUT_VALIDE:
        score_min = None
    key = (
        (granted, total, souhaites, already, type_structure, note, score_min, nested, found)
        if lock is None
        and type(granted) is int
        and type(total) is int
        and type(souhaites) is int
        and type(already) is int
        and type(type_structure) is str
        and (note is None or (type(note) is float and note == note and note != 0.0))
        and (score_min is None or (type(score_min) is float and score_min == score_min))
        and score_min != 0.0
        else None
    )
    if key is not None:
        text = tour.essentiel.get(key)
        if text is not None:
            return text
    phrases = [f"Vous avez demandé {pluriel(souhaites, 'poste')} de conseiller numérique"]
    if already:
        phrases[0] += f", dont {pluriel(already, 'déjà obtenu', 'déjà obtenus')}"
    phrases[0] += "."
    phrases.append(_phrase_decision(tour, locked, granted))
    if already:
        phrases[-1] = phrases[-1][:-1] + (
            f" : vous en avez désormais {nombre(total)} sur {nombre(souhaites)}."
            if statut == STATUT_VALIDE
            else f" : vous en auriez alors {nombre(total)} sur {nombre(souhaites)}."
        )
    codes = raisons_retenues(found)
    if codes:
        phrases.append(_raisons(codes, c, granted, type_structure, note, locked, lock))
    if statut != STATUT_VALIDE:
        phrases.append(_PAS_ENCORE)
    else:
        phrases.append(
            _suite(c, found, granted=granted, total=total, score_min=score_min, nested=nested)
        )
    text = " ".join(phrases)
    if key is not None:
        tour.essentiel[key] = text
    return text


def _phrase_decision(tour: Tour, locked: bool, granted: int) -> str:
    """The second sentence of the opening paragraph: what is granted, by whom."""
    meta, statut = tour.meta, tour.statut
    decideur = DECIDEUR_COURT[0].upper() + DECIDEUR_COURT[1:]
    n = postes(granted)
    if statut == STATUT_VALIDE:
        assert meta is not None
        quand = f" (décision du {date_en_clair(meta.valide_le)})" if meta.valide_le else ""
        if locked:
            return f"{decideur} a fixé à {n} votre attribution de ce tour{quand}."
        if granted:
            return f"{decideur} vous attribue {n} dans ce tour{quand}."
        return f"{decideur} ne vous attribue pas de poste dans ce tour{quand}."
    if locked:
        if statut == STATUT_BROUILLON:
            return (
                f"{decideur} a fixé à {n} votre attribution de ce tour, qui n'est pas encore "
                "validé."
            )
        return f"Le nombre de postes de ce tour est fixé à {n} par {DECIDEUR_COURT}."
    if granted:
        return f"L'algorithme propose de vous attribuer {n} dans ce tour."
    return "L'algorithme ne propose pas de poste pour vous dans ce tour."


def _raisons(
    codes: tuple[str, ...],
    c: Calcul | None,
    granted: int,
    type_structure: Any,
    note: Any,
    locked: bool,
    lock: Mapping[str, Any] | None,
) -> str:
    """The sentence of the one or two reasons (:func:`raisons_retenues`)."""
    proposition = proposition_algorithme(granted, locked, lock)
    raisons = [
        _raison(
            code,
            c,
            granted=granted,
            type_structure=type_structure,
            note=note,
            lock=lock,
            proposition=proposition,
        )
        for code in codes
    ]
    return ("Raisons : " if len(raisons) > 1 else "Raison : ") + " ; ".join(raisons) + "."


def _suite(
    c: Calcul | None,
    found: tuple[str, ...],
    *,
    granted: int,
    total: Any,
    score_min: Any,
    nested: bool,
) -> str:
    """What the applicant can do after a committed decision: only what is true of it."""
    actions = []
    m = set(found)
    if motif_codes.DEMANDE_SATISFAITE in m:
        if granted > 0:
            actions.append("engager le recrutement de vos conseillers")
    elif motif_codes.TYPE_NON_ELIGIBLE not in m:
        if motif_codes.AVIS_PREFET_NEGATIF in m:
            actions.append("vous rapprocher de la préfecture")
        if motif_codes.VERROUILLE not in m and score_min is not None:
            # an exact threshold on the nested path; else the score a re-run verified (part 6)
            seuil = "d'au moins" if nested else "de"
            actions.append(
                f"améliorer votre projet (une note {seuil} {note_courte(score_min)}/100 aurait "
                "valu un poste de plus)"
            )
        elif motif_codes.SCORE_INSUFFISANT in m and c is not None:
            actions.append(
                f"améliorer votre projet (note minimale du tour : {note_courte(c.min_quality)}/100)"
            )
        if motif_codes.PLAFOND_STRUCTURE not in m:  # the cap would stop a new request too
            actions.append(
                "demander d'autres postes sur le portail pour un prochain tour"
                if total
                else "déposer une nouvelle candidature sur le portail pour un prochain tour"
            )
    actions.append(_RECOURS)
    if len(actions) == 1:
        return f"Vous pouvez {actions[0]}."
    return f"Vous pouvez {', '.join(actions[:-1])} ou {actions[-1]}."


def resume_ligne(
    tour: Tour,
    c: Calcul,
    p: Profil,
    s: StructureIn,
    decision: Mapping[str, Any],
    contribution: Mapping[str, Any],
    granted: int,
    total: Any,
    souhaites: Any,
) -> str:
    """``resume``: one sentence for tables (worded once per distinct input of the round)."""
    der = contribution["derogation"]
    if tour.qui is None or (der and der.get("motif")):
        return resume_sans_calcul(s, decision, contribution)
    # (ints only in keys, as 2 and 2.0 are equal keys)
    entiers = type(total) is int and type(souhaites) is int
    return ligne_du_tour(
        c.lignes,
        ("resume", granted, total, souhaites, p) if entiers else None,
        _resume_texte,
        tour,
        p,
        granted,
        total,
        souhaites,
    )


def _resume_texte(tour: Tour, p: Profil, granted: int, total: Any, souhaites: Any) -> str:
    return f"{resume_tete(granted, total, souhaites)} — {tour.qui}{p.resume}."


def resume_tete(granted: int, total: Any, souhaites: Any) -> str:
    """The start of ``resume``: posts granted by the round, total over the request (as given)."""
    demandes = "demandés" if est_pluriel(souhaites) else "demandé"
    return (
        f"{pluriel(granted, 'poste attribué', 'postes attribués')} par ce tour (total {total} "
        f"sur {souhaites} {demandes})"
    )


def resume_sans_calcul(
    s: StructureIn, decision: Mapping[str, Any], contribution: Mapping[str, Any]
) -> str:
    granted = int(decision["nombreConseillersAttribues"])
    found = [m for m in decision.get("motifs", ()) if m != motif_codes.ACCORDE]
    who = QUI[contribution["statut"]]
    text = (
        resume_tete(granted, decision.get("nombreConseillersCoselec"), s.nombreConseillersSouhaites)
        + f" — {who}"
    )
    if found:
        text += " ; " + " ; ".join(MOTIF_LIBELLES.get(m, m) for m in found)
    der = contribution.get("derogation")
    if der and der.get("motif"):
        text += f" ; motif du comité : « {der['motif']} »"
    return text + "."
