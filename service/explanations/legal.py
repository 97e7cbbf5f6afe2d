"""The legal texts of the letters: who decides, how to appeal, the public data sources, the
notice, the published rules (CRPA articles L311-3-1, R311-3-1-1 and R311-3-1-2), part 1."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from allocator import motifs as motif_codes
from service.explanations.render import bloc

#: Version of the wording and structure of the explanations (bumped when their shape changes).
FORMAT_EXPLICATION = 3

DECIDEUR = "le comité de sélection de l'Agence nationale de la cohésion des territoires (ANCT)"
#: :data:`DECIDEUR` in the opening paragraph of a letter (the acronym is spelt out below it).
DECIDEUR_COURT = "le comité de sélection de l'ANCT"
#: Title of the public notice (:mod:`service.application.notice`), as the letters cite it.
NOTICE_TITRE = "Notice publique de l'algorithme d'attribution des conseillers numériques"
#: Where the service serves the notice, under its public address (:func:`public_url`).
NOTICE_CHEMIN = "/v1/notice"
#: Environment variable of the service's public address (scheme and host, optionally a path
#: prefix), written in the letters before :data:`NOTICE_CHEMIN`.
PUBLIC_URL_ENV = "ALLOCATOR_PUBLIC_URL"
#: Its default: the address ``allocator serve`` listens on (a development or demonstration
#: machine); a production service sets its own (``create_app`` requires it in production).
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
CONTACT_ANCT = (
    "Agence nationale de la cohésion des territoires, programme Conseiller numérique, "
    "20 avenue de Ségur, TSA 10717, 75334 Paris Cedex 07"
)
CONTACT_CADA = (
    "Commission d'accès aux documents administratifs (CADA), 20 avenue de Ségur, TSA 50730, "
    "75334 Paris Cedex 07 — www.cada.fr"
)
#: The administrative court competent for decisions of the ANCT (seat of the authority that
#: decides, article R312-1 of the code de justice administrative).
TRIBUNAL_ADMINISTRATIF = "tribunal administratif de Paris, 7 rue de Jouy, 75181 Paris Cedex 04"
TELERECOURS = "www.telerecours.fr"
#: Months to appeal (article R421-1 of the code de justice administrative).
DELAI_RECOURS_MOIS = 2
REFERENCES_LEGALES = (
    "Code des relations entre le public et l'administration, article L311-3-1",
    "Code des relations entre le public et l'administration, article R311-3-1-1",
    "Code des relations entre le public et l'administration, article R311-3-1-2",
    "Code des relations entre le public et l'administration, articles L342-1 et R343-1 (CADA)",
    "Code des relations entre le public et l'administration, article L411-2 (recours gracieux)",
    "Code de justice administrative, articles R421-1, R421-2 et R421-5 (délai et mention des "
    "voies de recours)",
)
#: The routes and time limits of appeal (voies et délais de recours) of the decision.
VOIES_DE_RECOURS = (
    "Voies et délais de recours : cette décision peut être contestée dans un délai de deux mois "
    "à compter de sa notification, par un recours gracieux adressé à l'"
    f"{CONTACT_ANCT}, ou par un recours contentieux devant le {TRIBUNAL_ADMINISTRATIF}, "
    f"y compris par l'application Télérecours citoyens ({TELERECOURS}).",
    "Le recours gracieux interrompt le délai du recours contentieux, qui court de nouveau à "
    "compter de la réponse de l'administration ; son silence pendant deux mois vaut rejet, et "
    "ce rejet peut lui-même être contesté devant le tribunal administratif dans les deux mois.",
)
FINALITE = (
    "répartir entre les structures candidates les postes de conseillers numériques financés "
    "par l'État, en tenant compte du besoin d'accompagnement au numérique de leur territoire, "
    "des conseillers déjà présents, de la qualité des projets et de l'équilibre entre "
    "départements"
)

#: French wording of every motif code (``allocator.motifs``); a test checks none is missing.
MOTIF_LIBELLES: dict[str, str] = {
    motif_codes.ACCORDE: "au moins un poste est attribué par ce tour",
    motif_codes.DEMANDE_SATISFAITE: "la demande est entièrement satisfaite",
    motif_codes.VERROUILLE: "le nombre de postes de ce tour a été fixé par le comité de sélection",
    motif_codes.TYPE_NON_ELIGIBLE: "ce type de structure n'est pas éligible dans ce tour",
    motif_codes.AVIS_PREFET_NEGATIF: (
        "l'avis du préfet est défavorable et la règle du tour écarte ces candidatures"
    ),
    motif_codes.SCORE_INSUFFISANT: "la note du projet est inférieure à la note minimale du tour",
    motif_codes.PLAFOND_STRUCTURE: "le plafond de postes par structure est atteint",
    motif_codes.PART_DEPARTEMENT_ATTEINTE: (
        "le département a atteint sa part équitable de l'enveloppe nationale"
    ),
    motif_codes.BUDGET_EPUISE: "le budget du tour ne permettait pas un poste de plus",
    motif_codes.ENVELOPPE_NATIONALE_EPUISEE: (
        "l'enveloppe nationale de postes restante était épuisée"
    ),
    motif_codes.QUOTA_EPUISE: "le quota de postes du tour était épuisé",
    motif_codes.PRIORITE_INSUFFISANTE: (
        "la priorité du poste suivant était inférieure au seuil du tour"
    ),
}


@dataclass(frozen=True)
class Source:
    """One public data source (ids and versions as in ``DATA.md``; a test cross-checks them)."""

    id: str
    libelle: str
    version: str
    millesime: str
    licence: str
    court: str = ""


SOURCES: dict[str, Source] = {
    s.id: s
    for s in (
        Source(
            "S1",
            "INSEE, Code officiel géographique et populations légales, via "
            "@etalab/decoupage-administratif",
            "@etalab/decoupage-administratif@6.0.0",
            "COG 2026, EPCI 2026",
            "Licence Ouverte",
            "INSEE, COG et populations légales 2026",
        ),
        Source(
            "S3",
            "La MedNum, Indice de fragilité numérique (extrait fragilite_num_playground, "
            "La MedNum × Data4Good)",
            "7e57426028f54110d5e09ac62a7ed39b858e8391",
            "indice 2020 (données INSEE d'environ 2016-2017)",
            "indice de La MedNum, sans licence de données explicite",
            "La MedNum, indice de fragilité numérique 2020",
        ),
        Source(
            "S5",
            "ANCT, structures d'accueil validées par les comités de sélection de 2021 "
            "(anct-carto/conseillers-numeriques, cnfs.json)",
            "146bea3cb15c13114e6c7451efcf3bf2f634d1bd",
            "comités du 2021-03-24 au 2021-05-19",
            "Licence Ouverte 2.0",
            "ANCT, structures validées en 2021",
        ),
        Source(
            "S6",
            "ANCT, liste des France Services (anct-carto/france_services)",
            "77f42baab04eae687d5eef1acdc79ee395f9562b",
            "2024-08-01",
            "Licence Ouverte 2.0",
            "ANCT, France Services au 2024-08-01",
        ),
        Source(
            "S7",
            "INSEE, base du comparateur de territoires (population, chômage des 15-64 ans)",
            "b9874080432e11b943e93aeae75ee372a024697b",
            "recensement 2021",
            "Licence Ouverte (données INSEE)",
            "INSEE, comparateur de territoires, RP 2021",
        ),
        Source(
            "S8",
            "Classement des communes en zone de revitalisation rurale (ZRR)",
            "be975529543125ed3cbb560e89339034f5b2b052",
            "ZRR avant le passage aux FRR (2024)",
            "données publiques de classement",
            "classement ZRR (avant FRR 2024)",
        ),
    )
}


#: Codes of the non-public sources named in ``donnees[...]["sources"]``.
SOURCES_INTERNES: dict[str, str] = {
    "candidature": "la candidature déposée par la structure sur le portail",
    "historique_coselec": "l'historique des décisions du comité de sélection",
    "instructeur_anct": "la note du projet attribuée par l'instructeur de l'ANCT",
    "note_par_defaut": "la note par défaut d'un projet non encore noté",
    "prefet": "l'avis du préfet de département, transmis par le portail",
    "tours_valides": "les postes attribués par les tours d'attribution déjà validés",
    "requete": "l'état des conseillers en poste transmis avec la demande de calcul",
    "calcul": "un calcul du service à partir des autres données (méthode publiée)",
    "synthetique": "une valeur synthétique (données de démonstration générées avec une graine "
    "fixe), pas une donnée réelle",
}


def source_ref(*ids: str, numeros: Mapping[str, str] | None = None) -> str:
    """Short references of the given sources (``"source S2 : La MedNum, …"``).

    ``numeros``: the number each source has in the letter (:func:`numeros_sources`); without
    it, the ids of ``DATA.md``.
    """
    refs = ", ".join(f"{(numeros or {}).get(i, i)} : {SOURCES[i].court}" for i in ids)
    return ("sources " if len(ids) > 1 else "source ") + refs


def numeros_sources(cited: tuple[str, ...] | list[str]) -> dict[str, str]:
    """The sources of a letter numbered S1, S2, … in order of first citation, without gaps
    (``{id in DATA.md: number in the letter}``)."""
    out: dict[str, str] = {}
    for i in cited:
        if i not in out:
            out[i] = f"S{len(out) + 1}"
    return out


def public_url() -> str:
    """The service's public address (:data:`PUBLIC_URL_ENV`, else :data:`DEFAULT_PUBLIC_URL`),
    without a trailing slash.

    Raises
    ------
    ValueError
        (French message naming the variable) for anything but an absolute ``http`` or
        ``https`` address without query, fragment, credentials or spaces.
    """
    import os
    from urllib.parse import urlsplit

    raw = os.environ.get(PUBLIC_URL_ENV)
    if raw is None or raw == "":
        return DEFAULT_PUBLIC_URL
    url = raw.strip().rstrip("/")
    try:
        parts = urlsplit(url)
        valid = (
            parts.scheme in ("http", "https")
            and bool(parts.hostname)
            and not parts.query
            and not parts.fragment
            and "?" not in url
            and "#" not in url
            and "@" not in parts.netloc
            and not any(ch.isspace() or ord(ch) < 32 for ch in url)
        )
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(
            f"{PUBLIC_URL_ENV} doit être une adresse absolue en http ou https, sans paramètres ni "
            f"fragment (par exemple https://conseillers.exemple.gouv.fr) : reçu {raw!r}."
        )
    return url


def notice_reference(url: str) -> str:
    """How a letter cites the public notice: its title and its public address."""
    return f"« {NOTICE_TITRE} », publiée à l'adresse {url}{NOTICE_CHEMIN}"


#: The published tie-break (``allocator.model.filing_key``), in the letters and the notice.
DEPARTAGE = (
    "Les égalités exactes sont départagées par l'instant de dépôt de la candidature (le plus "
    "ancien d'abord ; les heures sont comparées avec leur décalage horaire, une heure sans "
    "décalage étant lue en temps universel), puis par le plus petit identifiant idPG, puis par "
    "le rang du poste dans la demande. Une candidature sans date de dépôt passe après toutes "
    "celles qui en ont une."
)

#: French label and description of every ``allocator.RoundPolicy`` field. The public notice
#: lists them with their defaults; a test fails when a field is added without an entry here.
POLICY_DOCS: dict[str, tuple[str, str]] = {
    "eligible_types": (
        "types de structures éligibles",
        "les autres types (par défaut les structures privées) ne reçoivent aucun poste",
    ),
    "national_envelope": (
        "enveloppe nationale de postes",
        "nombre total de postes du programme ; un tour n'attribue jamais plus que ce qui reste",
    ),
    "budget_eur": (
        "budget du tour en euros",
        "coût pour l'État des postes attribués (aucun plafond en euros si absent)",
    ),
    "min_quality": (
        "note minimale du projet",
        "un projet noté en dessous n'est pas éligible",
    ),
    "prefet_negatif": (
        "règle en cas d'avis défavorable du préfet",
        "« exclure » : aucun poste ; « penaliser » : l'apport du projet est multiplié par la "
        "pénalité ci-dessous",
    ),
    "prefet_penalty": (
        "pénalité d'un avis défavorable du préfet",
        "facteur appliqué à la composante « accès » quand la règle est « penaliser »",
    ),
    "max_posts_per_structure": (
        "plafond de postes par structure",
        "nombre total de postes qu'une structure peut détenir (aucun plafond si absent)",
    ),
    "departement_cap": (
        "plafond départemental",
        "« aucun », ou « part_equitable » : un département ne dépasse pas sa part équitable "
        "de l'enveloppe nationale, conseillers déjà présents compris",
    ),
    "weight_access": (
        "poids de la composante « accès »",
        "personnes éloignées du numérique nouvellement à portée d'un conseiller, pondérées "
        "par la note du projet",
    ),
    "weight_distribution": (
        "poids de la composante « répartition dans le département »",
        "priorité des intercommunalités selon leur besoin et leurs conseillers déjà présents",
    ),
    "weight_balance": (
        "poids de la composante « équilibre entre départements »",
        "priorité des départements selon leur besoin et leurs conseillers déjà présents",
    ),
    "mode": (
        "mode de calcul",
        "« monotone » : liste de priorités (un quota plus grand ne retire jamais un poste) ; "
        "« optimal » : lorsqu'un budget en euros rend le problème non emboîté, la meilleure "
        "solution trouvée par le solveur si elle dépasse la liste de priorités (optimum exact "
        "lorsqu'il est prouvé)",
    ),
    "cofunding_priority": (
        "effet du cofinancement sur la priorité",
        "« neutre » (par défaut) : le cofinancement déclaré par la structure d'accueil réduit "
        "le coût du poste pour l'État, compté dans le budget du tour, mais ne change pas la "
        "priorité : le besoin d'abord, pour ne pas favoriser les collectivités qui peuvent "
        "payer ; « prioritaire » : la composante « accès » est multipliée par min(2, coût "
        "standard / coût pour l'État)",
    ),
}

#: French label of the ``allocator.SolverConfig`` fields (the notice lists them with defaults).
SOLVER_DOCS: dict[str, str] = {
    "backend": "solveur OR-Tools utilisé pour certifier l'optimalité du résultat",
    "time_limit_s": (
        "limite de temps du solveur (secondes) ; le solveur s'arrête d'abord sur une limite de "
        "travail fixe (nombre de nœuds), qui ne dépend pas de la machine ; une réponse coupée "
        "par la limite de temps n'est pas utilisée : la liste de priorités est retenue, bornée "
        "par l'optimum calculé sans le budget, pour que le résultat ne dépende pas de la vitesse "
        "de la machine"
    ),
    "workers": "nombre de fils de calcul (sans effet sur le résultat)",
    "seed": "graine du solveur (le résultat n'en dépend pas : aucune part de hasard)",
    "counterfactual_reruns": (
        "nombre de scénarios « et si » vérifiés en recalculant le tour (les plus proches du "
        "seuil d'abord) ; avec un budget aux coûts inégaux, nombre de structures pour "
        "lesquelles une note est recherchée par de nouveaux calculs"
    ),
}

#: French names of the engine's binding constraints (``rapport.binding_constraints``).
CONTRAINTES = {
    "quota": "le quota de postes",
    "envelope": "l'enveloppe nationale",
    "budget": "le budget",
    "departement_caps": "les plafonds départementaux (part équitable de l'enveloppe nationale) "
    "des départements où des postes restaient demandés",
}
TITRE_CONTRIBUTION = "Rôle de l'algorithme dans la décision"
TITRE_DONNEES = "Données utilisées et leurs sources"
TITRE_PARAMETRES = "Paramètres appliqués à votre situation"
TITRE_OPERATIONS = "Opérations effectuées"
TITRE_CONTREFACTUEL = "Ce qui aurait changé le résultat"
#: "conseiller-équivalent" and "conseiller accessible", singular and plural (:func:`pluriel`).
EQUIVALENTS = ("conseiller-équivalent", "conseillers-équivalents")
ACCESSIBLES = ("conseiller accessible", "conseillers accessibles")
TITRE_MENTION = "Information sur le traitement algorithmique"


def mention_lignes(url: str) -> tuple[str, ...]:
    """The lines of part 1 (the notice cited by its title and its address under ``url``)."""
    return (
        "Cette décision a été prise sur le fondement d'un traitement algorithmique "
        "(article L311-3-1 du code des relations entre le public et l'administration).",
        f"Finalité du traitement : {FINALITE}.",
        "Vous avez le droit d'obtenir la communication des règles définissant ce traitement et "
        "des principales caractéristiques de sa mise en œuvre à votre égard : degré et mode de "
        "contribution du traitement à la décision, données traitées et leurs sources, "
        "paramètres et leur pondération appliqués à votre situation, opérations effectuées "
        "(article R311-3-1-2). Les rubriques ci-dessous les donnent déjà ; la description "
        f"générale de l'algorithme est publique : {notice_reference(url)}.",
        f"Pour en faire la demande, écrivez à : {CONTACT_ANCT}, en indiquant l'identifiant de "
        "votre candidature (idPG).",
        "En cas de refus ou d'absence de réponse dans un délai d'un mois, vous pouvez saisir "
        f"dans les deux mois la {CONTACT_CADA}, avant tout recours contentieux.",
        *VOIES_DE_RECOURS,
    )


@cache
def mention_bloc(url: str) -> str:
    """Part 1 of ``texte`` for the public address ``url`` (worded once per address)."""
    return bloc(1, TITRE_MENTION, mention_lignes(url))


def mention_valeurs() -> dict[str, Any]:
    return {
        "titre": TITRE_MENTION,
        "finalite": FINALITE,
        "droit": "communication des règles et des principales caractéristiques du traitement",
        "modalites": CONTACT_ANCT,
        "recours": CONTACT_CADA,
        "voiesDeRecours": {
            "delaiMois": DELAI_RECOURS_MOIS,
            "gracieux": CONTACT_ANCT,
            "contentieux": TRIBUNAL_ADMINISTRATIF,
            "teleRecours": TELERECOURS,
        },
        "references": list(REFERENCES_LEGALES),
    }
