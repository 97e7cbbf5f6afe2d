"""The legal explanation of every decision, in French, generated from the round's own data.

A decision on public money taken with the help of an algorithm must be explainable to the
applicant (Code des relations entre le public et l'administration, articles L311-3-1,
R311-3-1-1 and R311-3-1-2). Our engine is *decision support*: the committee decides, and the
explanation says so. For every structure of a round this module builds, from the engine's
machine-readable explanation (``priorites``, ``rangs``, ``seuil``, ``details``, ``territoire``),
the round's report and the request, never from hand-written text per case:

``mention``
    the explicit mention of R311-3-1-1: purpose of the processing, right to obtain its rules and
    main characteristics, how to ask, recourse to the CADA;
``contribution``
    degree and mode of contribution of the algorithm (R311-3-1-2 1°): proposal vs decision, who
    committed the round and when, whether the committee overrode the proposal and why;
``donnees``
    the data processed and their sources (2°), each with its provenance and vintage;
``parametres``
    the parameters and weights applied to the applicant's situation (3°), with the caps and
    floors that were binding for it, the round quota and its département's fair share;
``operations``
    the operations performed (4°), in plain French with the applicant's own numbers:
    eligibility → need and coverage → balance between départements → allocation within the
    département → national ranking and tie-break;
``contrefactuel``
    what would have changed the outcome (verified by the engine by re-solving), without any
    other applicant's data;
``texte`` / ``resume``
    the whole explanation as French text, and one sentence for tables.

Everything is a pure, deterministic function of (round result, request, round metadata): the
same inputs give the same bytes. :func:`attach` runs inside
:func:`service.application.adapter.result_to_contract` (proposal); :func:`explain_round` runs
again at commit
(:func:`service.application.rounds.commit_round`) with the committee's metadata, and the committed
explanation is what the portal reads (``GET /v1/structures/{idPG}/explication``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from operator import itemgetter
from typing import Any

from allocator import motifs as motif_codes
from service import speed
from service.contract.schemas import RoundRequest, StructureIn, stored_request

#: The engine keys of a decision's ``explication`` (kept as they are, next to ours).
ENGINE_KEYS = ("priorites", "rangs", "seuil", "details", "territoire")
#: The keys this module adds to each decision's ``explication``.
PART_KEYS = (
    "mention",
    "contribution",
    "essentiel",
    "donnees",
    "parametres",
    "operations",
    "contrefactuel",
    "texte",
    "resume",
)
#: Version of the wording and structure below (bumped when the explanation's shape changes).
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


# -- formatting ---------------------------------------------------------------------------------

NBSP = "\u202f"
#: ``format`` specifications of :func:`nombre` by number of decimals (the common cases), with
#: and without digit grouping (below 999 in absolute value, no rounding reaches 1,000).
_FORMATS = tuple(f",.{d}f" for d in range(10))
_FORMATS_SIMPLES = tuple(f".{d}f" for d in range(10))
#: Integers up to this magnitude are exact as floats (``f`` formatting goes through a float).
_EXACT_INT = 2**53


def nombre(value: float | int | None, decimales: int = 0) -> str:
    """French number formatting: ``1 234,5`` (narrow no-break space), ``—`` for ``None``."""
    # Fast paths for plain finite floats and ints (tens of calls per decision of a round);
    # every other value goes through the general formatting below, with the same result.
    kind = type(value)
    x: Any = value  # (``type(...) is`` does not narrow for mypy)
    if kind is float:
        if x - x == 0.0 and type(decimales) is int and 0 <= decimales < 10:
            if -999.0 < x < 999.0:  # no digit grouping (no "." either without decimals)
                return format(x, _FORMATS_SIMPLES[decimales]).replace(".", ",")
            return format(x, _FORMATS[decimales]).replace(",", NBSP).replace(".", ",")
    elif kind is int and decimales == 0 and type(decimales) is int:
        if -1000 < x < 1000:
            return str(x)
        if -_EXACT_INT <= x <= _EXACT_INT:
            return format(x, ",").replace(",", NBSP)
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    text = f"{value:,.{decimales}f}"
    return text.replace(",", NBSP).replace(".", ",")


def est_pluriel(value: float | int | None, decimales: int = 0) -> bool:
    """Whether a noun after ``nombre(value, decimales)`` takes the plural: from 2 on, as French
    writes it ("0 poste", "1,5 poste", "2 postes"), judged on the number as it is printed."""
    kind = type(value)
    if kind is int:  # (bool is not int here: "oui"/"non" take no plural)
        return value >= 2 or value <= -2  # type: ignore[operator]
    if value is None or kind is bool:
        return False
    try:
        shown = round(float(value), decimales)
    except (TypeError, ValueError, OverflowError):  # NaN, infinities: printed "—"
        return False
    return shown >= 2.0 or shown <= -2.0


def pluriel(
    value: float | int | None, singulier: str, pluriel: str | None = None, decimales: int = 0
) -> str:
    """``value`` in French (:func:`nombre`) and the words that agree with it: ``pluriel(1,
    "poste")`` is ``1 poste``, ``pluriel(3, "poste attribué", "postes attribués")`` is
    ``3 postes attribués`` (``pluriel`` defaults to ``singulier + "s"``). The one rule of
    agreement of every number of the letters and the notice: never "poste(s)"."""
    mots = (pluriel or singulier + "s") if est_pluriel(value, decimales) else singulier
    return f"{nombre(value, decimales)} {mots}"


#: ``_postes(n)`` for the usual numbers of posts.
_POSTES = tuple(pluriel(n, "poste") for n in range(1001))


def _postes(n: int) -> str:
    """``pluriel(n, "poste")`` (the most frequent agreement: memoised for 0 to 1,000)."""
    if type(n) is int and 0 <= n <= 1000:
        return _POSTES[n]
    return pluriel(n, "poste")


_MOIS = (
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre"
).split()


def date_en_clair(iso: object) -> str:
    """An ISO-8601 date or date-time as a letter writes it: ``1er juillet 2021``, ``15 juillet
    2021`` (the date part as recorded; anything else is returned on one line, unchanged)."""
    text = une_ligne(iso)
    try:
        year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
        if text[4] != "-" or text[7] != "-" or not 1 <= month <= 12 or not 1 <= day <= 31:
            return text
    except (ValueError, IndexError):
        return text
    return f"{'1er' if day == 1 else day} {_MOIS[month - 1]} {year}"


def mois_en_clair(mois: object) -> str:
    """A round's month ``2021-06`` as ``juin 2021`` (anything else on one line, unchanged)."""
    text = une_ligne(mois)
    try:
        year, month = int(text[0:4]), int(text[5:7])
        if len(text) != 7 or text[4] != "-" or not 1 <= month <= 12:
            return text
    except ValueError:
        return text
    return f"{_MOIS[month - 1]} {year}"


#: Who recorded a step of a round, by the role part of the recorded author (``role:label``
#: of an API token, ``cli:<system user>`` on the command line, or a fixed name).
_AUTEURS = {
    "agence": "un agent de l'ANCT",
    "cli": "un agent de l'ANCT (ligne de commande)",
    "admin": "un administrateur du service",
    "analyste": "un analyste du service",
    "portail": "le portail national",
    "démonstration": "la démonstration du service",
    "import-historique": "l'import de l'historique des comités",
}


def auteur_en_clair(auteur: object) -> str | None:
    """Who recorded a step (a round drafted, a lock, a commit), in words for a letter.

    Never the technical id recorded (``cli:root``, ``agence:7``, a token's label): the role in
    words (the id stays in the explanation's data, for the audit). ``None`` when no one is
    recorded; an author of unknown form is "un utilisateur du service".
    """
    if auteur is None or auteur == "":
        return None
    role = str(auteur).split(":", 1)[0]
    return _AUTEURS.get(role, "un utilisateur du service")


def _oui_non(value: object) -> str:
    if value is None:
        return "non renseigné"
    return "oui" if value else "non"


# -- reference names (static bundled data, cached per process) ----------------------------------


@cache
def _noms() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Names of communes, départements and EPCI (COG 2026, source S1).

    :func:`geodata.layers.reference_names`: the same dicts as ``load_communes()`` & co. give,
    read from geodata's disk cache without importing pandas (which alone costs a fresh process
    about half a second). Shared: read only.
    """
    from geodata import layers

    names = layers.reference_names()
    return names.communes, names.departements, names.epcis


def nom_commune(code: str | None) -> str:
    return _noms()[0].get(code or "", code or "—")


def nom_departement(code: str | None) -> str:
    return _noms()[1].get(code or "", code or "—")


def nom_epci(siren: str | None) -> str | None:
    if not siren:
        return None
    return _noms()[2].get(siren, siren)


# -- round metadata -----------------------------------------------------------------------------

STATUT_PROPOSITION = "proposition"
STATUT_BROUILLON = "brouillon"
STATUT_VALIDE = "valide"


@dataclass(frozen=True)
class RoundMeta:
    """What the round itself says about the decision process (``None`` = a stateless proposal).

    Attributes
    ----------
    round_id, mois
        The round (``numero`` of the coselec entries is ``str(round_id)``).
    statut
        ``brouillon`` (drafted, not committed) or ``valide`` (committed by the committee).
    auteur, cree_le
        Who drafted the round and when (ISO-8601): also the date of the existing-advisors state.
    valide_par, valide_le
        Who committed it and when (``None`` while a draft).
    verrous
        Committee locks ``{idPG: {"nombre", "motif", "auteur", "date", "proposition"?}}``.
    """

    round_id: int | None = None
    mois: str | None = None
    statut: str = STATUT_BROUILLON
    auteur: str | None = None
    cree_le: str | None = None
    valide_par: str | None = None
    valide_le: str | None = None
    verrous: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_round_view(cls, view: Mapping[str, Any]) -> RoundMeta:
        """From :func:`service.application.rounds.round_view` (``verrous`` as a list with
        ``idPG``)."""
        return cls(
            round_id=view.get("id"),
            mois=view.get("mois"),
            statut=STATUT_VALIDE if view.get("statut") == "committed" else STATUT_BROUILLON,
            auteur=view.get("auteur"),
            cree_le=view.get("creeLe"),
            valide_par=view.get("validePar"),
            valide_le=view.get("valideLe"),
            verrous={int(v["idPG"]): dict(v) for v in view.get("verrous") or ()},
        )


# -- the round's data sources -------------------------------------------------------------------


def round_sources(request: RoundRequest, geo: Any) -> dict[str, Any]:
    """Provenance of the round's territorial data (``sources`` of the round result).

    ``geo`` is the round's :class:`geodata.RoundGeodata`; only plain numbers are kept, so the
    result stays deterministic and replayable.
    """
    if request.conseillersExistants is not None:
        origine = "requete"
    elif geo.existing_source == "structures_2021":
        origine = "historique_2021"
    else:
        origine = "historique_2021_et_tours_valides"
    p = geo.params
    return {
        "conseillersExistants": {
            "origine": origine,
            "total": int(geo.existing_total),
            "nonLocalises": int(geo.existing_unlocated),
        },
        "accessibilite": {
            "detour": p.detour,
            "vitesseKmh": p.speed_kmh,
            "paliers": [[m, round(w, 6)] for m, w in p.steps],
            "franceServicesIncluses": p.include_france_services,
            "poidsFranceServices": p.france_services_weight,
            "capacite": round(p.capacity, 6),
        },
        "formatExplication": FORMAT_EXPLICATION,
    }


def _etat_cite(origine: str | None, meta: RoundMeta | None) -> tuple[str, ...]:
    """The public sources :func:`_etat_conseillers` cites."""
    if origine == "requete":
        return ()
    return ("S5",)


def _etat_conseillers(
    origine: str | None, meta: RoundMeta | None, numeros: Mapping[str, str] | None = None
) -> str:
    date = (meta.cree_le or "") if meta else ""
    quand = f"au {date_en_clair(date)}" if date else "à la date du calcul"
    if origine == "requete" and meta is not None and meta.round_id is not None:
        return f"conseillers en poste enregistrés dans le registre du service {quand}"
    if origine == "requete":
        return (
            "conseillers en poste transmis avec la demande de calcul (état fourni par l'appelant)"
        )
    if origine == "historique_2021":
        return (
            "conseillers des structures validées par les comités de sélection du 24 mars au "
            f"19 mai 2021 ({source_ref('S5', numeros=numeros)})"
        )
    return (
        "conseillers des structures validées par les comités de 2021 "
        f"({source_ref('S5', numeros=numeros)}), plus les postes attribués par les tours validés "
        f"du registre {quand}"
    )


def _existing_sources(origine: str | None, meta: RoundMeta | None) -> list[str]:
    if origine == "historique_2021":
        return ["S5"]
    if origine == "requete":
        stored = meta is not None and meta.round_id is not None
        return ["S5", "tours_valides"] if stored else ["requete"]
    return ["S5", "tours_valides"]


# -- the parts ----------------------------------------------------------------------------------
#
# A national round explains thousands of decisions, so the wording is built for speed, with the
# same result as writing every part's ``lignes`` and rendering them with :func:`render_text`
# (tests/service/test_explication_fast.py checks the fast paths against the plain ones):
#
# - what all the decisions of a round share (policy, report, sources, metadata, the motif
#   lists) is worded once per round (:class:`_Tour`, :class:`_Calcul`, :class:`_Profil`), what
#   a département or an intercommunality shares once per territory, and a line whose inputs
#   repeat (strings and integers only, or the French text of numbers) once per distinct input;
# - :func:`_explain` reads each input once (several keys at a time) and writes the parts'
#   values and their lines, already as Markdown (``- line``), into one list of pieces joined
#   once into ``texte``;
# - numbers that repeat across decisions (scores, thresholds, costs) are formatted once per
#   value (:func:`_memo`), lists of numbers in one call (:func:`_nombres_1`).

_MENTION_TITRE = "Information sur le traitement algorithmique"


def _mention_lignes(url: str) -> tuple[str, ...]:
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


_CONTRIBUTION_TITRE = "Rôle de l'algorithme dans la décision"
_DONNEES_TITRE = "Données utilisées et leurs sources"
_PARAMETRES_TITRE = "Paramètres appliqués à votre situation"
_OPERATIONS_TITRE = "Opérations effectuées"
_CONTREFACTUEL_TITRE = "Ce qui aurait changé le résultat"
#: "conseiller-équivalent" and "conseiller accessible", singular and plural (:func:`pluriel`).
_EQUIVALENTS = ("conseiller-équivalent", "conseillers-équivalents")
_ACCESSIBLES = ("conseiller accessible", "conseillers accessibles")
_HARD = (
    motif_codes.TYPE_NON_ELIGIBLE,
    motif_codes.AVIS_PREFET_NEGATIF,
    motif_codes.SCORE_INSUFFISANT,
)


def une_ligne(value: object) -> str:
    """``value`` as text on one line: every line break (``str.splitlines``'s, as the Markdown
    reader of :func:`markdown_html` splits) becomes a space, so that a free text written into
    a letter (a structure's name, a comment, a reason) cannot open a heading or a list item."""
    text = str(value)
    lines = text.splitlines()
    return text if len(lines) == 1 and lines[0] == text else " ".join(lines)


def _md(lignes: list[str] | tuple[str, ...]) -> str:
    """Lines as :func:`render_text` writes them: each ``- line``, then a blank line."""
    if not lignes:
        return "\n"
    return "- " + "\n- ".join([une_ligne(x) for x in lignes]) + "\n\n"


def _bloc(n: int, titre: str, lignes: list[str] | tuple[str, ...]) -> str:
    """Part ``n`` of ``texte``: its heading and its lines."""
    return f"## {n}. {titre}\n\n" + _md(lignes)


@cache
def _mention_bloc(url: str) -> str:
    """Part 1 of ``texte`` for the public address ``url`` (worded once per address)."""
    return _bloc(1, _MENTION_TITRE, _mention_lignes(url))


def _mention() -> dict[str, Any]:
    return {
        "titre": _MENTION_TITRE,
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


def _ligne(lignes: dict[Any, str], key: Any, render: Callable[[], str]) -> str:
    """The round's line for ``key``, rendered once (``key`` ``None``: rendered, not kept).

    A round has a few distinct texts for most lines of the explanation: they are kept in the
    round's ``lignes`` by a key of everything they depend on. Callers build no key (``None``)
    for values that compare equal yet print differently (``2`` and ``2.0``, ``-0.0``).
    """
    if key is None:
        return render()
    text = lignes.get(key)
    if text is None:
        text = lignes[key] = render()
    return text


def _memo(cache: dict[float, str], value: Any, decimales: int) -> str:
    """``nombre(value, decimales)``, formatted once per distinct float of the round.

    Only non-zero, non-NaN floats are kept (``-0.0 == 0.0`` but they print differently).
    """
    if type(value) is float:
        text = cache.get(value)
        if text is None:
            text = nombre(value, decimales)
            if value and value == value:
                cache[value] = text
        return text
    return nombre(value, decimales)


# Lists of numbers with one decimal, formatted by one ``str.format`` call when they are all
# finite floats: ``_`` groups digits exactly as ``,`` does (then becomes the narrow no-break
# space), and the text around the numbers holds neither ``_`` nor ``.``.
# (Without grouping when every value is below 999 in absolute value.)
_LISTES_1 = (
    tuple("|".join(["{:.1f}"] * n) for n in range(21)),
    tuple("|".join(["{:_.1f}"] * n) for n in range(21)),
)
_PAR_POSTE_1 = (
    tuple(", ".join(f"poste {k} : {{:.1f}}" for k in range(1, n + 1)) for n in range(21)),
    tuple(", ".join(f"poste {k} : {{:_.1f}}" for k in range(1, n + 1)) for n in range(21)),
)


_FLOAT = {float}


def _floats_finis(values: Any) -> int:
    """0 unless ``values`` are 1 to 20 plain finite floats (not ints, bools or numpy); then
    1 when they are all below 999 in absolute value (no digit grouping), else 2."""
    if len(values) > 20 or set(map(type, values)) != _FLOAT:
        return 0
    total = sum(values)
    if total - total != 0.0:  # an infinite or NaN value (or a sum beyond the float range)
        return 0
    return 1 if -999.0 < min(values) and max(values) < 999.0 else 2


def _nombres_1(values: Any) -> list[str]:
    """``[nombre(v, 1) for v in values]``."""
    if not values:
        return []
    genre = _floats_finis(values)
    if genre == 1:
        return _LISTES_1[0][len(values)].format(*values).replace(".", ",").split("|")
    if genre == 2:
        text = _LISTES_1[1][len(values)].format(*values)
        return text.replace("_", NBSP).replace(".", ",").split("|")
    return [nombre(v, 1) for v in values]


def _par_poste(values: Any) -> str:
    """``poste 1 : 541,7, poste 2 : 3,6``: one value per post, as :func:`nombre` words it."""
    genre = _floats_finis(values)
    if genre == 1:
        return _PAR_POSTE_1[0][len(values)].format(*values).replace(".", ",")
    if genre == 2:
        text = _PAR_POSTE_1[1][len(values)].format(*values)
        return text.replace("_", NBSP).replace(".", ",")
    return ", ".join([f"poste {k} : {nombre(v, 1)}" for k, v in enumerate(values, 1)])


def _key(*values: Any) -> tuple[Any, ...] | None:
    """A cache key for values whose French wording depends on their value alone, else ``None``.

    Strings, ``None``, ints and non-zero floats only: ``-0.0 == 0.0`` but they print
    differently, and other types (``bool``, numpy scalars) are worded by their own rules.
    """
    for v in values:
        kind = type(v)
        if kind is float:
            if not v or v != v:
                return None
        elif kind is not int and kind is not str and v is not None:
            return None
    return values


class _Tour:
    """What the explanations of one round's decisions share (worded once per round)."""

    __slots__ = (
        "_calculs",
        "contributions",
        "default_quality",
        "essentiel",
        "mention",
        "meta",
        "qui",
        "result",
        "statut",
        "url",
    )

    def __init__(self, result: Mapping[str, Any], meta: RoundMeta | None) -> None:
        from allocator.programme import DEFAULT_QUALITY

        self.result = result
        self.meta = meta
        self.default_quality = DEFAULT_QUALITY
        self.statut = meta.statut if meta is not None else STATUT_PROPOSITION
        self.qui = _QUI[self.statut] if self.statut in _QUI else None
        self.url = public_url()
        self.mention = _mention_bloc(self.url)
        #: pieces of the opening paragraphs, by everything they depend on
        self.essentiel: dict[tuple[Any, ...], str] = {}
        #: contribution (values, text) by (posts granted, locked) for decisions without a lock
        self.contributions: dict[tuple[int, bool], tuple[dict[str, Any], str]] = {}
        self._calculs: dict[int, _Calcul] = {}

    def calcul(self, n_granted: int) -> _Calcul:
        c = self._calculs.get(n_granted)
        if c is None:
            c = self._calculs[n_granted] = _Calcul(self, n_granted)
        return c


class _Profil:
    """What a list of motifs implies (flags, French wording), worded once per distinct list.

    A round has a handful of distinct motif lists; every decision with the same list shares
    its profile.
    """

    __slots__ = (
        "avis_negatif",
        "budget",
        "enveloppe",
        "hard",
        "hard_texte",
        "locked",
        "part_dep",
        "plafond",
        "quota",
        "regles",
        "resume",
        "satisfaite",
        "score_insuffisant",
        "texte",
        "type_non_eligible",
    )

    def __init__(self, c: _Calcul, found: tuple[str, ...]) -> None:
        m = set(found)
        self.locked = motif_codes.VERROUILLE in m
        self.hard = [x for x in found if x in _HARD]
        self.texte = c.motifs_texte(found)
        self.hard_texte = c.motifs_texte(self.hard)
        resume = [x for x in found if x != motif_codes.ACCORDE]
        self.resume = " ; " + " ; ".join(MOTIF_LIBELLES.get(x, x) for x in resume) if resume else ""
        self.type_non_eligible = motif_codes.TYPE_NON_ELIGIBLE in m
        self.avis_negatif = motif_codes.AVIS_PREFET_NEGATIF in m
        self.score_insuffisant = motif_codes.SCORE_INSUFFISANT in m
        self.satisfaite = motif_codes.DEMANDE_SATISFAITE in m
        self.plafond = motif_codes.PLAFOND_STRUCTURE in m
        self.part_dep = motif_codes.PART_DEPARTEMENT_ATTEINTE in m
        self.quota = motif_codes.QUOTA_EPUISE in m or (
            c.binding_quota and motif_codes.PRIORITE_INSUFFISANTE in m
        )
        self.enveloppe = motif_codes.ENVELOPPE_NATIONALE_EPUISEE in m
        self.budget = motif_codes.BUDGET_EPUISE in m
        #: (binding rule codes, their lines) by "the score floor binds", when neither the
        #: request nor the département's share (worded with the decision's own numbers) binds
        self.regles: dict[bool, tuple[tuple[str, ...], str]] = {}


class _Calcul:
    """The round's wording of the computed parts (data, parameters, operations, what if)."""

    __slots__ = (
        "acces",
        "accessibilite",
        "avis_negatif",
        "binding",
        "binding_quota",
        "budget",
        "budget_restant",
        "classement",
        "cofinancement_fin",
        "communes",
        "default_quality",
        "departements",
        "deps",
        "eligibilite",
        "eligible_types",
        "enveloppe",
        "enveloppe_restante",
        "epci_textes",
        "epcis",
        "etat",
        "etat_au",
        "etat_ligne",
        "existing_sources",
        "indice",
        "laminar",
        "lignes",
        "max_posts",
        "min_quality",
        "motifs",
        "n1",
        "n2",
        "n3",
        "note_non_remplie",
        "note_par_defaut",
        "note_remplie",
        "numeros",
        "origine",
        "penaliser",
        "penalite",
        "plafond_dep",
        "poids",
        "poids_ligne",
        "population_fragile",
        "prefet_penalty",
        "prioritaire",
        "prioritaire_suite",
        "profils",
        "quality_floor",
        "quota",
        "quota_effectif",
        "quota_ligne",
        "ref_s1",
        "ref_s6",
        "ref_s8",
        "regle_budget",
        "regle_cofinancement",
        "regle_enveloppe",
        "regle_note",
        "regle_plafond",
        "regle_plancher",
        "regle_quota",
        "s3_millesime",
        "s6_millesime",
        "sources_citees",
        "w_a",
        "w_d_texte",
        "w_e_texte",
    )

    def __init__(self, tour: _Tour, n_granted: int) -> None:
        from allocator.model import QUALITY_FLOOR

        result, meta = tour.result, tour.meta
        report = result.get("rapport") or {}
        sources = result.get("sources") or {}
        policy = report.get("policy") or {}
        self.default_quality = tour.default_quality
        self.quality_floor = QUALITY_FLOOR
        self.communes, self.departements, self.epcis = _noms()
        # numbers formatted once per value, by number of decimals; euros
        self.n1: dict[float, str] = {}
        self.n2: dict[float, str] = {}
        self.n3: dict[float, str] = {}
        # lines worded once per distinct input
        self.deps: dict[tuple[Any, ...], tuple[str, str, str, str, str]] = {}
        self.epci_textes: dict[tuple[Any, ...], tuple[str, str, str]] = {}
        self.lignes: dict[tuple[Any, ...], str] = {}
        self.motifs: dict[tuple[Any, ...], str] = {}
        self.profils: dict[tuple[Any, ...], _Profil] = {}
        self.eligibilite: dict[tuple[Any, ...], str] = {}

        # données
        origine = (sources.get("conseillersExistants") or {}).get("origine")
        acc = sources.get("accessibilite") or {}
        self.origine = origine
        # The public sources in the order part 3 cites them, numbered S1, S2, … in the letter.
        self.numeros = numeros = numeros_sources(
            ("S1", "S1", "S3", "S7", "S3", *_etat_cite(origine, meta), "S8", "S6")
        )
        #: ``donnees.sourcesCitees``: each number of the letter and the source in DATA.md
        self.sources_citees = tuple((n, i) for i, n in numeros.items())
        self.etat = _etat_conseillers(origine, meta, numeros)
        self.existing_sources = _existing_sources(origine, meta)
        self.etat_au = None if meta is None else meta.cree_le
        self.s3_millesime = SOURCES["S3"].millesime
        self.s6_millesime = SOURCES["S6"].millesime
        self.ref_s1 = source_ref("S1", numeros=numeros)
        self.ref_s6 = source_ref("S6", numeros=numeros)
        self.ref_s8 = source_ref("S8", numeros=numeros)
        self.population_fragile = (
            " — population INSEE × indice de fragilité numérique × facteur régional (chômage, "
            "ZRR), calibré sur les 13 millions de personnes éloignées du numérique visées par le "
            f"programme ({source_ref('S1', 'S3', 'S7', numeros=numeros)}).\n"
        )
        self.indice = (
            f" (100 = moyenne de la région) — {source_ref('S3', numeros=numeros)}, "
            f"{SOURCES['S3'].millesime}"
        )
        methode_acc = (
            "accessibilité à deux étages (E2SFCA) : conseillers à portée pour 10 000 personnes "
            f"fragiles ; temps de trajet estimé par la distance à vol d'oiseau × "
            f"{nombre(acc.get('detour'), 1)} à {nombre(acc.get('vitesseKmh'))} km/h (pas de "
            "réseau routier)"
        )
        self.accessibilite = (
            " pour 10 000 personnes fragiles de la zone — "
            f"{methode_acc}"
            + (
                "; les France Services comptent comme une offre partielle"
                if bool(acc.get("franceServicesIncluses"))
                else ""
            )
            + ".\n"
        )
        self.etat_ligne = f" — état : {self.etat}.\n"
        self.note_par_defaut = (
            f"note par défaut ({nombre(self.default_quality)}) : le projet n'avait pas été noté."
        )

        # paramètres
        self.poids = {
            "acces": policy.get("weight_access"),
            "repartition": policy.get("weight_distribution"),
            "equilibre": policy.get("weight_balance"),
        }
        self.poids_ligne = (
            f"## 4. {_PARAMETRES_TITRE}\n\n- Poids des trois composantes de la priorité : accès "
            f"{nombre(self.poids['acces'], 2)}, répartition dans le département "
            f"{nombre(self.poids['repartition'], 2)}, équilibre entre départements "
            f"{nombre(self.poids['equilibre'], 2)}.\n"
        )
        self.penaliser = policy.get("prefet_negatif") == "penaliser"
        self.prefet_penalty = policy.get("prefet_penalty")
        self.penalite = ", multipliée par la pénalité d'avis défavorable " + nombre(
            self.prefet_penalty, 2
        )
        self.quota = report.get("quota")
        self.quota_effectif = report.get("effective_quota")
        self.enveloppe = policy.get("national_envelope")
        self.enveloppe_restante = report.get("envelope_remaining")
        self.budget_restant = report.get("budget_remaining_eur")
        self.quota_ligne = (
            f"- Quota du tour : {_postes(int(report.get('quota') or 0))} ; enveloppe nationale "
            f"restante : {pluriel(report.get('envelope_remaining'), 'poste')} sur "
            f"{nombre(policy.get('national_envelope'))}.\n"
        )
        self.plafond_dep = (
            " (plafond départemental appliqué).\n"
            if policy.get("departement_cap") == "part_equitable"
            else " (repère, pas un plafond dans ce tour).\n"
        )
        self.min_quality = policy.get("min_quality")
        self.max_posts = policy.get("max_posts_per_structure")
        self.binding_quota = bool((report.get("binding") or {}).get("quota"))
        #: the round kept the laminar (nested) structure: no knapsack
        self.laminar = report.get("laminar") is not False

        def regle(libelle: str, valeur: Any) -> str:
            return f"- Règle contraignante pour vous : {libelle} ({nombre(valeur)}).\n"

        self.regle_note = regle("note minimale du projet", self.min_quality)
        self.regle_plancher = regle(
            "note plancher du calcul (une note plus basse compte pour ce plancher)", QUALITY_FLOOR
        )
        self.regle_plafond = regle("plafond de postes par structure", self.max_posts)
        self.regle_quota = regle("quota du tour", self.quota)
        self.regle_enveloppe = regle("enveloppe nationale restante", self.enveloppe_restante)
        self.regle_budget = regle("budget restant du tour (euros)", self.budget_restant)

        # cofinancement
        self.regle_cofinancement = policy.get("cofunding_priority") or "neutre"
        self.prioritaire = self.regle_cofinancement == "prioritaire"
        self.budget = policy.get("budget_eur")
        self.binding = report.get("binding_constraints")
        cap = (report.get("cofunding") or {}).get("priority_cap")
        self.prioritaire_suite = (
            f" = min({nombre(cap, 1)}, coût standard / coût pour l'État) (1 sans cofinancement).\n"
        )
        fin: list[str] = []
        if self.budget is not None:
            fin.append(
                f"- Budget du tour : {_euros(self.budget)} (coût pour l'État des postes "
                "attribués).\n"
            )
        if self.binding:
            fin.append(
                "- Ce qui a arrêté le tour : "
                + " et ".join(CONTRAINTES.get(b, b) for b in self.binding)
                + ".\n"
            )
        self.cofinancement_fin = "".join(fin)

        # opérations
        self.eligible_types = policy.get("eligible_types") or []
        min_q = nombre(self.min_quality, 1)
        self.note_remplie = f" ≥ note minimale {min_q} : condition remplie.\n"
        self.note_non_remplie = f" < note minimale {min_q} : condition non remplie.\n"
        self.avis_negatif = (
            "- Avis du préfet : défavorable : l'apport du projet est pénalisé (règle "
            "« penaliser »).\n"
            if self.penaliser
            else "- Avis du préfet : défavorable.\n"
        )
        self.w_a = policy.get("weight_access") or 0.0
        self.acces = f"- Composante « accès » = poids {nombre(self.w_a, 2)} × facteur qualité "
        self.w_d_texte = nombre(policy.get("weight_balance") or 0.0, 2)
        self.w_e_texte = nombre(policy.get("weight_distribution") or 0.0, 2)
        self.classement = (
            "\n### 5.5. Classement national et départage\n\n"
            "- Priorité d'un poste = accès + répartition + équilibre. Tous les postes possibles "
            "de toutes les structures sont classés par priorité décroissante et le tour attribue "
            "les premiers ("
            f"{pluriel(n_granted, 'poste attribué', 'postes attribués')} par ce tour, verrous "
            f"compris). "
            f"{DEPARTAGE}\n"
        )

    def departement(
        self, code: Any, need: Any, existing: Any, fair: Any, posts: Any
    ) -> tuple[str, str, str, str, str]:
        """(name, parameters line, balance lines, next post's balance formula, advisors)."""
        key = (
            (code, need, existing, fair, posts)
            if type(code) is str
            and type(need) is float
            and need
            and type(existing) is int
            and type(fair) is int
            and type(posts) is int
            else _key(code, need, existing, fair, posts)
        )
        found = None if key is None else self.deps.get(key)
        if found is not None:
            return found
        nom = self.departements.get(code or "", code or "—")
        reste = None if fair is None or existing is None else fair - existing - (posts or 0)
        existing_t, posts_t, need_t = nombre(existing), nombre(posts), nombre(need)
        presents = pluriel(existing, "conseiller déjà présent", "conseillers déjà présents")
        part = pluriel(fair, "poste")
        parametres = (
            f"- Département {nom} ({code}) : part équitable de l'enveloppe nationale "
            f"{part} (répartition selon le besoin, méthode de Webster) ; {presents} ; "
            f"{pluriel(posts, 'poste attribué', 'postes attribués')} par ce tour ; "
            + (
                f"reste sous la part équitable après ce tour : {nombre(reste)}"
                if reste is None or reste >= 0
                else f"part équitable dépassée de {nombre(-reste)}"
            )
            + self.plafond_dep
        )
        equilibre = (
            "\n### 5.3. Équilibre entre départements\n\n"
            f"- Département {nom} ({code}) : besoin estimé "
            f"{pluriel(need, 'personne fragile', 'personnes fragiles')}, {presents}, part "
            f"équitable {part} ; ce tour y attribue {pluriel(posts, 'poste')}.\n"
            "- Composante « équilibre » d'un poste = poids × besoin du département / "
            "(conseillers présents + postes déjà attribués par le tour + 1/2) : elle baisse à "
            "chaque poste attribué dans le département (méthode de Sainte-Laguë).\n"
        )
        suivant = (
            f"- Pour votre poste suivant : {self.w_d_texte} × {need_t} / ({existing_t} + "
            f"{posts_t} + 1/2) = "
        )
        found = (nom, parametres, equilibre, suivant, existing_t)
        if key is not None:
            self.deps[key] = found
        return found

    def epci(self, code: Any, need: Any, existing: Any, posts: Any) -> tuple[str, str, str]:
        """(advisors, distribution lines, next post's distribution formula) of an EPCI part."""
        key = (
            (code, need, existing, posts)
            if type(code) is str
            and type(need) is float
            and need
            and type(existing) is int
            and type(posts) is int
            else _key(code, need, existing, posts)
        )
        found = None if key is None else self.epci_textes.get(key)
        if found is not None:
            return found
        siren = (code or ":").split(":", 1)[1]
        nom = (self.epcis.get(siren, siren) if siren else None) or code
        existing_t, need_t, posts_t = nombre(existing), nombre(need), nombre(posts)
        lignes = (
            "\n### 5.4. Répartition au sein du département\n\n"
            f"- Intercommunalité {nom} (partie dans le département) : besoin estimé "
            f"{pluriel(need, 'personne fragile', 'personnes fragiles')}, "
            f"{pluriel(existing, 'conseiller déjà présent', 'conseillers déjà présents')} ; ce "
            f"tour y attribue {pluriel(posts, 'poste')}.\n"
            "- Composante « répartition » d'un poste = poids × besoin de l'intercommunalité / "
            "(conseillers présents + postes attribués par le tour + 1/2).\n"
        )
        suivant = (
            f"- Pour votre poste suivant : {self.w_e_texte} × {need_t} / ({existing_t} + "
            f"{posts_t} + 1/2) = "
        )
        found = (existing_t, lignes, suivant)
        if key is not None:
            self.epci_textes[key] = found
        return found

    def profil(self, found: tuple[str, ...]) -> _Profil:
        p = self.profils.get(found)
        if p is None:
            p = self.profils[found] = _Profil(self, found)
        return p

    def motifs_texte(self, found: list[str] | tuple[str, ...]) -> str:
        """The French wording of motifs, joined with `` ; ``."""
        key = tuple(found)
        text = self.motifs.get(key)
        if text is None:
            text = self.motifs[key] = " ; ".join(MOTIF_LIBELLES.get(m, m) for m in found)
        return text


def _contribution(
    tour: _Tour, decision: Mapping[str, Any], lock: Mapping[str, Any] | None
) -> tuple[dict[str, Any], str]:
    """The contribution part (values) and the text of parts 1 and 2 (mention, contribution)."""
    meta = tour.meta
    granted = int(decision["nombreConseillersAttribues"])
    locked = motif_codes.VERROUILLE in decision.get("motifs", ()) or lock is not None
    if lock is None:  # everything depends on (granted, locked): built once per round
        key = (granted, locked)
        cached = tour.contributions.get(key)
        if cached is None:
            cached = tour.contributions[key] = _contribution_part(tour, granted, locked, None)
        template, texte = cached
        part = dict(template)  # the nested dicts are fresh for every decision
        if meta is not None:
            part["tour"] = dict(template["tour"])
        if locked:
            part["derogation"] = dict(template["derogation"])
        return part, texte
    return _contribution_part(tour, granted, locked, lock)


def _proposition(granted: int, locked: bool, lock: Mapping[str, Any] | None) -> int | None:
    """What the algorithm proposed: the grant itself without a lock, else the proposal the lock
    recorded (``None`` when it recorded none)."""
    if not locked:
        return granted
    if lock is not None and lock.get("proposition") is not None:
        return int(lock["proposition"])
    return None


def _contribution_part(
    tour: _Tour, granted: int, locked: bool, lock: Mapping[str, Any] | None
) -> tuple[dict[str, Any], str]:
    meta, statut = tour.meta, tour.statut
    proposition = _proposition(granted, locked, lock)
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
        "titre": _CONTRIBUTION_TITRE,
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
    lignes = _contribution_lignes(meta, statut, granted, locked, proposition, lock)
    return part, tour.mention + _bloc(2, _CONTRIBUTION_TITRE, lignes)


def _contribution_lignes(
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
            f"Le comité a fixé à {_postes(granted)} l'attribution de ce tour pour votre structure"
        )
        if proposition is not None:
            phrase += f" (l'algorithme proposait {_postes(proposition)})"
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


def _lire(d: Any, champs: tuple[tuple[str, Any], ...]) -> tuple[Any, ...]:
    """``(d.get(key, default), ...)`` for each ``(key, default)`` of ``champs``."""
    return tuple([d.get(k, v) for k, v in champs])


# What each decision's explanation reads from the engine's ``explication``: read at once with
# ``itemgetter`` (C) when the mapping is a dict holding every key, else key by key with ``.get``.
_ENGINE_CHAMPS = tuple((k, None) for k in ("priorites", "rangs", "seuil", "details", "territoire"))
_TERRITOIRE_CHAMPS = tuple(
    (k, None)
    for k in (
        "codeCommune",
        "departement",
        "communesDesservies",
        "populationFragile",
        "offreExistante",
        "zrr",
        "franceServices",
        "indicateurRepli",
        "indicateurs",
    )
)
_INDICATEURS_CHAMPS = tuple(
    (k, None)
    for k in (
        "score_global",
        "accessibility_10k_commune",
        "accessibility_10k_area",
        "advisors_in_area",
        "share_without_advisor_area",
        "population_area",
        "need_fallback_reasons",
    )
)
_DETAILS_CHAMPS = (
    ("departement", None),
    ("epci", None),
    ("quality_factor", None),
    ("cofunding_factor", 1.0),
    ("cost", None),
    ("gains", None),
    ("remaining_request", None),
    ("next_post", None),
    ("counterfactual", None),
)
_DEPARTEMENT_CHAMPS = tuple(
    (k, None) for k in ("code", "need", "existing", "fair_share", "posts_round", "cap_room")
)
_EPCI_CHAMPS = tuple((k, None) for k in ("code", "need", "existing", "posts_round"))
_COUT_CHAMPS = tuple((k, None) for k in ("standard_eur", "state_eur", "cofunding_eur"))
_SUIVANT_CHAMPS = (("balance", None), ("distribution", None))
_CONTREFACTUEL_CHAMPS = tuple(
    (k, None) for k in ("min_quality", "larger_request_would_help", "verified", "nested")
)
_ENGINE_KEYS = itemgetter(*ENGINE_KEYS)
_ENGINE = itemgetter(*(k for k, _ in _ENGINE_CHAMPS))
_TERRITOIRE = itemgetter(*(k for k, _ in _TERRITOIRE_CHAMPS))
_INDICATEURS = itemgetter(*(k for k, _ in _INDICATEURS_CHAMPS))
_DETAILS = itemgetter(*(k for k, _ in _DETAILS_CHAMPS))
_DEPARTEMENT = itemgetter(*(k for k, _ in _DEPARTEMENT_CHAMPS))
_EPCI = itemgetter(*(k for k, _ in _EPCI_CHAMPS))
_COUT = itemgetter(*(k for k, _ in _COUT_CHAMPS))
_SUIVANT = itemgetter(*(k for k, _ in _SUIVANT_CHAMPS))
_CONTREFACTUEL = itemgetter(*(k for k, _ in _CONTREFACTUEL_CHAMPS))
#: The request's fields read by the explanation (pydantic keeps them in the instance's
#: ``__dict__``: read at once there, else attribute by attribute).
_STRUCTURE_CHAMPS = (
    "nom",
    "idPG",
    "type",
    "codeCommune",
    "nombreConseillersSouhaites",
    "qualiteProjet",
    "estZRR",
    "qpvStatut",
    "estLabelliseFranceServices",
    "prefet",
    "cofinancementEur",
    "cofinancementPart",
)
_STRUCTURE = itemgetter(*_STRUCTURE_CHAMPS)


def _explain(
    tour: _Tour,
    decision: Mapping[str, Any],
    s: StructureIn,
    n_granted: int | None,
    compact: bool = False,
) -> dict[str, Any]:
    """:func:`explain_decision` with the wording the round's decisions share (``tour``).

    One function for the five parts: every input is read once, and each part's values and
    lines are written in turn (the lines as the Markdown of ``texte``, into ``buf``).
    ``compact``: :func:`compacte` of the result, without writing what it leaves out (the same
    functions write the opening paragraph, the summary and the counterfactual at both levels).
    """
    expl = decision.get("explication") or {}
    if type(expl) is not dict:
        expl = dict(expl)
    meta = tour.meta
    lock = None if meta is None else meta.verrous.get(int(decision["idPG"]))
    contribution, contribution_texte = _contribution(tour, decision, lock)
    try:  # the engine keys, then ours
        out: dict[str, Any] = dict(zip(ENGINE_KEYS, _ENGINE_KEYS(expl), strict=True))
    except KeyError:
        out = {k: expl[k] for k in ENGINE_KEYS if k in expl}
    out["mention"] = _mention()
    out["contribution"] = contribution
    try:
        s_values = _STRUCTURE(s.__dict__)
    except (AttributeError, KeyError):
        s_values = tuple(getattr(s, k) for k in _STRUCTURE_CHAMPS)
    (
        nom_structure,
        id_pg,
        type_structure,
        code_siege,
        souhaites,
        qualite,
        est_zrr,
        qpv,
        label_fs,
        prefets,
        cof_eur,
        cof_part,
    ) = s_values
    head = f"# {titre(nom_structure, id_pg)}\n\n"
    found = tuple(decision.get("motifs", ()))
    granted = int(decision["nombreConseillersAttribues"])
    total = decision.get("nombreConseillersCoselec")
    already = s.already_granted
    if "details" not in out:
        essentiel = out["essentiel"] = _essentiel(
            tour,
            None,
            found,
            granted=granted,
            total=total,
            souhaites=souhaites,
            already=already,
            type_structure=type_structure,
            note=qualite,
            lock=lock,
        )
        out["resume"] = _resume(s, decision, contribution)
        out["texte"] = (head + essentiel + "\n\n" + contribution_texte).rstrip() + "\n"
        return compacte(out, id_pg) if compact else out
    if n_granted is None:
        n_granted = _granted_total(tour.result)
    c = tour.calcul(n_granted)
    lignes = c.lignes
    p = c.profils.get(found) or c.profil(found)

    # -- the engine's numbers, each read once
    try:
        priorites_in, rangs_in, seuil, det, t = _ENGINE(out)
    except KeyError:
        priorites_in, rangs_in, seuil, det, t = _lire(out, _ENGINE_CHAMPS)
    t = t or {}
    det = det or {}
    try:
        (code_t, dep_territoire, communes, population, offre, zrr, fs, repli_flag, ind) = (
            _TERRITOIRE(t) if type(t) is dict else _lire(t, _TERRITOIRE_CHAMPS)
        )
        zrr_texte = zrr if type(t) is dict else t.get("zrr", "inconnu")
    except KeyError:
        (code_t, dep_territoire, communes, population, offre, zrr, fs, repli_flag, ind) = _lire(
            t, _TERRITOIRE_CHAMPS
        )
        zrr_texte = t.get("zrr", "inconnu")
    ind = ind or {}
    try:
        (score, acc_commune, acc_zone, advisors, sans_conseiller, pop_zone, repli) = (
            _INDICATEURS(ind) if type(ind) is dict else _lire(ind, _INDICATEURS_CHAMPS)
        )
    except KeyError:
        (score, acc_commune, acc_zone, advisors, sans_conseiller, pop_zone, repli) = _lire(
            ind, _INDICATEURS_CHAMPS
        )
    repli = repli or []
    try:
        (dep, epci, q, f_cof, cost, gains_in, remaining, nxt, cf) = (
            _DETAILS(det) if type(det) is dict else _lire(det, _DETAILS_CHAMPS)
        )
    except KeyError:
        (dep, epci, q, f_cof, cost, gains_in, remaining, nxt, cf) = _lire(det, _DETAILS_CHAMPS)
    dep = dep or {}
    try:
        dep_code, dep_need, dep_existing, fair, dep_posts, cap_room = (
            _DEPARTEMENT(dep) if type(dep) is dict else _lire(dep, _DEPARTEMENT_CHAMPS)
        )
    except KeyError:
        dep_code, dep_need, dep_existing, fair, dep_posts, cap_room = _lire(
            dep, _DEPARTEMENT_CHAMPS
        )
    cost = cost or {}
    try:
        standard, state, cof = _COUT(cost) if type(cost) is dict else _lire(cost, _COUT_CHAMPS)
    except KeyError:
        standard, state, cof = _lire(cost, _COUT_CHAMPS)
    cf = cf or {}
    try:
        score_min, larger, verified, nested = (
            _CONTREFACTUEL(cf) if type(cf) is dict else _lire(cf, _CONTREFACTUEL_CHAMPS)
        )
    except KeyError:
        score_min, larger, verified, nested = _lire(cf, _CONTREFACTUEL_CHAMPS)
    if epci is None:
        epci_code = epci_need = epci_existing = epci_posts = None
        epci_t = None
    else:
        try:
            epci_code, epci_need, epci_existing, epci_posts = (
                _EPCI(epci) if type(epci) is dict else _lire(epci, _EPCI_CHAMPS)
            )
        except KeyError:
            epci_code, epci_need, epci_existing, epci_posts = _lire(epci, _EPCI_CHAMPS)
        epci_t = c.epci(epci_code, epci_need, epci_existing, epci_posts)
    if nxt is None:
        balance = distribution = None
    else:
        try:
            balance, distribution = (
                _SUIVANT(nxt) if type(nxt) is dict else _lire(nxt, _SUIVANT_CHAMPS)
            )
        except KeyError:
            balance, distribution = _lire(nxt, _SUIVANT_CHAMPS)
    dep_t = c.departement(dep_code, dep_need, dep_existing, fair, dep_posts)

    # -- numbers worded in several parts, formatted once
    note_defaut = qualite is None
    note = c.default_quality if note_defaut else float(qualite)
    note_1 = _memo(c.n1, note, 1)
    population_t = nombre(population)
    offre_t = nombre(offre, 1)
    equivalents = _EQUIVALENTS[1] if est_pluriel(offre, 1) else _EQUIVALENTS[0]
    seuil_t = _memo(c.n1, seuil, 1)
    priorities = list(priorites_in or [])
    priorites = _nombres_1(priorities)
    prefet = prefets[-1] if prefets else None
    avis = None if prefet is None else prefet.avisPrefet

    # -- 3. data and their sources
    note_synth = s.is_synthetic("qualiteProjet") and not note_defaut
    prefet_synth = s.is_synthetic("prefet") and prefet is not None
    code = code_t or code_siege
    nom = c.communes.get(code or "", code or "—")
    if nested is None:  # a result computed before the engine said it: the round's structure
        nested = c.laminar
    essentiel = out["essentiel"] = _essentiel(
        tour,
        c,
        found,
        granted=granted,
        total=total,
        souhaites=souhaites,
        already=already,
        type_structure=type_structure,
        note=note,
        lock=lock,
        score_min=score_min,
        nested=bool(nested),
    )
    if compact:
        compacted = {k: out[k] for k in COMPACT_KEYS[:3] if k in out}
        compacted["essentiel"] = essentiel
        compacted["resume"] = _resume_part(
            tour, c, p, s, decision, contribution, granted, total, souhaites
        )
        compacted["contrefactuel"] = _contrefactuel_part(
            priorities, granted, seuil, p.locked, score_min, note, verified, nested, larger
        )
        compacted["explicationComplete"] = CHEMIN_EXPLICATION.format(idPG=int(id_pg))
        return compacted
    out["donnees"] = {
        "demande": {"valeur": souhaites, "sources": ["candidature"]},
        "dejaAttribues": {"valeur": already, "sources": ["historique_coselec"]},
        "noteProjet": {
            "valeur": note,
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
            "valeur": avis,
            "nombreSuggere": None if prefet is None else prefet.nombreConseillersPrefet,
            "commentaire": None if prefet is None else prefet.commentairePrefet,
            "synthetique": prefet_synth,
            "sources": ["synthetique" if prefet_synth else "prefet"],
        },
        "communeSiege": {
            "code": code,
            "nom": nom,
            "departement": dep_territoire,
            "sources": ["S1"],
        },
        "zoneDesservie": {
            "communes": communes,
            "population": pop_zone,
            "sources": ["candidature", "S1"],
        },
        "populationFragile": {"valeur": population, "sources": ["S1", "S3", "S7"]},
        "indiceFragilite": {
            "valeur": score,
            "echelle": "100 = moyenne de la région",
            "millesime": c.s3_millesime,
            "repli": repli_flag,
            "motifsRepli": repli,
            "sources": ["S3"],
        },
        "conseillersExistants": {
            "zone": advisors,
            "epci": epci_existing,
            "departement": dep_existing,
            "offreAPortee": offre,
            "origine": c.origine,
            "etatAu": c.etat_au,
            "sources": list(c.existing_sources),
        },
        "accessibilite": {
            "zone": acc_zone,
            "communeSiege": acc_commune,
            "partSansConseiller": sans_conseiller,
            "methode": "E2SFCA",
            "sources": ["calcul"],
        },
        "zrr": {"declare": est_zrr, "reference": zrr, "sources": ["candidature", "S8"]},
        "qpv": {"declare": qpv, "sources": ["candidature"]},
        "franceServices": {
            "declare": label_fs,
            "sitesDansLaZone": fs,
            "millesime": c.s6_millesime,
            "sources": ["candidature", "S6"],
        },
        "cofinancement": {
            "declareEur": cof_eur,
            "declarePart": cof_part,
            "coutStandardParPosteEur": standard,
            "cofinancementParPosteEur": cof,
            "coutEtatParPosteEur": state,
            "sources": ["candidature", "calcul"],
        },
        "sourcesCitees": [{"numero": n, "source": i} for n, i in c.sources_citees],
        "titre": _DONNEES_TITRE,
    }
    buf = [head, essentiel, "\n\n", contribution_texte]
    # demand, project score, préfet opinion: a few distinct texts per round (numbers of posts
    # are written with str(): ints only in keys, as 2 and 2.0 are equal keys)
    key: tuple[Any, ...] | None = (
        ("demande", souhaites, already) if type(souhaites) is int and type(already) is int else None
    )
    buf.append(
        _ligne(
            lignes,
            key,
            lambda: (
                f"## 3. {_DONNEES_TITRE}\n\n- Demande : {_postes(souhaites)} au total, dont "
                f"{pluriel(already, 'poste déjà attribué', 'postes déjà attribués')} par des "
                "décisions antérieures (source : votre candidature et l'historique du comité).\n"
            ),
        )
    )
    buf.append(
        _ligne(
            lignes,
            ("note", note_1, note_defaut, note_synth),
            lambda: (
                f"- Note du projet : {note_1}/100 — "
                + (
                    c.note_par_defaut
                    if note_defaut
                    else "note SYNTHÉTIQUE (données de démonstration, graine fixe), pas une "
                    "note réelle."
                    if note_synth
                    else "note attribuée par l'instructeur de l'ANCT (qualiteProjet)."
                )
                + "\n"
            ),
        )
    )
    buf.append(
        "- Avis du préfet : aucun avis reçu (sans effet sur le calcul).\n"
        if prefet is None
        else _avis_ligne(c, prefet, prefet_synth)
    )
    buf.append(
        f"- Commune siège : {nom} ({code}) ; zone desservie : {pluriel(communes, 'commune')}, "
        f"{pluriel(pop_zone, 'habitant')} ({c.ref_s1}).\n"
        "- Personnes éloignées du numérique dans la zone (estimation) : "
        f"{population_t}{c.population_fragile}"
        "- Indice de fragilité numérique de la commune siège : "
        f"{_memo(c.n1, score, 1)}{c.indice}"
        + (
            f" ; valeur de repli utilisée pour une partie de la zone ({', '.join(repli)}).\n"
            if repli
            else ".\n"
        )
        + f"- Conseillers déjà présents : {nombre(advisors)} dans la zone, "
        + (f"{epci_t[0]} dans l'intercommunalité, " if epci_t is not None else "")
        + f"{dep_t[4]} dans le département ; offre à portée : {offre_t} {equivalents}"
        f"{c.etat_ligne}- Accessibilité : {_memo(c.n2, acc_zone, 2)} "
        + (_ACCESSIBLES[1] if est_pluriel(acc_zone, 2) else _ACCESSIBLES[0])
        + c.accessibilite
    )
    zrr_declare = _oui_non(est_zrr)
    key = (
        ("zrr", zrr_declare, zrr_texte, qpv, label_fs, fs)
        if type(fs) is int and (zrr_texte is None or type(zrr_texte) is str)
        else _key("zrr", zrr_declare, zrr_texte, qpv, label_fs, fs)
    )
    buf.append(
        _ligne(
            lignes,
            key,
            lambda: (
                "- Zone de revitalisation rurale (ZRR) : déclaration de la structure "
                f"« {zrr_declare} », classement de la commune siège « {zrr_texte} » "
                f"({c.ref_s8}). Quartier prioritaire (QPV) : déclaration "
                f"« {qpv or 'non renseigné'} » (hors calcul). France Services : "
                f"labellisation déclarée « {label_fs or 'non renseigné'} », "
                f"{pluriel(fs, 'site')} dans la zone ({c.ref_s6}).\n"
            ),
        )
    )
    if cost:
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
        buf.append(_ligne(lignes, key, lambda: f"- {_cost_line(c, cof_eur, cof_part, cost)}\n\n"))
    else:
        buf.append("\n")

    # -- 4. parameters applied to the applicant
    reste = None if fair is None or dep_existing is None else fair - dep_existing - (dep_posts or 0)
    penalise = c.penaliser and bool(prefets) and avis in ("NÉGATIF", "NEGATIF")
    buf.append(c.poids_ligne)
    buf.append(
        f"- Facteur qualité de votre projet : {_memo(c.n3, q, 3)} (note {note_1}/100"
        + (c.penalite if penalise else "")
        + ").\n"
    )
    buf.append(c.quota_ligne)
    buf.append(dep_t[1])
    if c.prioritaire:
        buf.append(
            "- Règle du cofinancement « prioritaire » : la composante « accès » de vos postes "
            f"est multipliée par {_memo(c.n3, f_cof, 3)}{c.prioritaire_suite}"
        )
    else:
        buf.append(
            "- Règle du cofinancement « neutre » : le cofinancement ne change pas la priorité "
            "de vos postes (le besoin d'abord) ; il réduit seulement leur coût pour l'État.\n"
        )
    if cost:
        # (zero costs become the int 0 here: the text depends on these three numbers only)
        etat, cofinance = state or 0, cof or 0
        key = (
            (granted, etat, cofinance)
            if type(etat) in _NOMBRES and type(cofinance) in _NOMBRES
            else None
        )
        buf.append(
            _ligne(
                lignes,
                key,
                lambda: (
                    f"- Coût pour l'État des postes attribués par ce tour ({granted}) : "
                    f"{_euros(etat * granted)} ; cofinancement : {_euros(cofinance * granted)}.\n"
                ),
            )
        )
    buf.append(c.cofinancement_fin)
    # the engine's caps and floors, and whether each one stopped this applicant
    plancher = note < c.quality_floor and not p.score_insuffisant
    if p.satisfaite or p.part_dep:
        contraignantes, text = _regles(c, p, plancher, remaining, cap_room)
    else:
        regles = p.regles.get(plancher)
        if regles is None:
            regles = p.regles[plancher] = _regles(c, p, plancher, remaining, cap_room)
        contraignantes, text = regles
    buf.append(text)
    out["parametres"] = {
        "titre": _PARAMETRES_TITRE,
        "poids": dict(c.poids),
        "facteurQualite": q,
        "penaliteAvisPrefet": c.prefet_penalty if penalise else None,
        "quota": c.quota,
        "quotaEffectif": c.quota_effectif,
        "enveloppeNationale": c.enveloppe,
        "enveloppeRestante": c.enveloppe_restante,
        "departement": {
            "code": dep_code,
            "nom": dep_t[0],
            "besoin": dep_need,
            "partEquitable": fair,
            "dejaPresents": dep_existing,
            "attribuesCeTour": dep_posts,
            "resteSurPartEquitable": reste,
            "plafond": cap_room,
        },
        "epci": None
        if epci is None
        else {
            "code": epci_code,
            "besoin": epci_need,
            "dejaPresents": epci_existing,
            "attribuesCeTour": epci_posts,
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
            "facteur": f_cof,
            "coutStandardParPosteEur": standard,
            "cofinancementParPosteEur": cof,
            "coutEtatParPosteEur": state,
            "coutEtatCeTourEur": None if state is None else state * granted,
            "cofinancementCeTourEur": None if cof is None else cof * granted,
            "budgetTourEur": c.budget,
            "contraintesLiantes": c.binding,
        },
    }

    # -- 5. operations
    # 5.1 eligibility: a few distinct texts per round
    key = (type_structure, note_1, avis, p)
    text = c.eligibilite.get(key)
    if text is None:
        text = c.eligibilite[key] = (
            f"## 5. {_OPERATIONS_TITRE}\n\n### 5.1. Éligibilité\n\n- Type de structure "
            f"{type_structure} : "
            + (
                "éligible.\n"
                if type_structure in c.eligible_types
                else "non éligible dans ce tour.\n"
            )
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
    buf.append(text)
    # 5.2 need and coverage
    gains = list(gains_in or [])
    if gains:
        factor = c.w_a * (q or 0.0) * f_cof  # the same products, in the same order, per gain
        access = [round(factor * g, 6) for g in gains]
        buf.append(
            "\n### 5.2. Besoin et couverture existante\n\n"
            f"- Votre zone compte {population_t} personnes éloignées du numérique et une offre "
            f"déjà à portée de {offre_t} {equivalents}.\n"
            "- Personnes nouvellement à portée d'un conseiller avec chaque poste demandé dans ce "
            f"tour (rendements décroissants) : {_par_poste(gains)}.\n{c.acces}"
            f"{_memo(c.n3, q, 3)} × "
            + (f"facteur cofinancement {_memo(c.n3, f_cof, 3)} × " if f_cof != 1.0 else "")
            + f"personnes nouvellement à portée : {_par_poste(access)}.\n"
        )
    else:
        access = []
        buf.append(
            "\n### 5.2. Besoin et couverture existante\n\n"
            f"- Votre zone compte {population_t} personnes éloignées du numérique et une offre "
            f"déjà à portée de {offre_t} {equivalents}.\n"
            "- Aucun poste n'était à calculer pour votre structure dans ce tour.\n"
        )
    # 5.3 balance between départements
    buf.append(dep_t[2])
    if nxt is not None:
        buf.append(f"{dep_t[3]}{_memo(c.n1, balance, 1)}.\n")
    # 5.4 within the département
    if epci_t is None:
        buf.append(
            "\n### 5.4. Répartition au sein du département\n\n- Votre structure agit à l'échelle "
            "du département (ou au-delà) : pas de composante intercommunale.\n"
        )
    else:
        buf.append(epci_t[1])
        if nxt is not None:
            buf.append(f"{epci_t[2]}{_memo(c.n1, distribution, 1)}.\n")
    # 5.5 national ranking and tie-break
    buf.append(c.classement)
    locked = p.locked
    ranks = list(rangs_in or [])
    rows = []
    n_ranks = 0 if locked else len(ranks)
    for k, prio in enumerate(priorities):
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
        buf.append(f"- Seuil du tour (priorité du dernier poste attribué) : {seuil_t}.\n")
    if locked:
        buf.append(
            "- Votre attribution a été fixée par le comité : vos postes ne sont pas classés "
            "(priorités données à titre indicatif).\n"
        )
    # (a few distinct texts per round; ints only in keys, as 2 and 2.0 are equal keys)
    entiers = type(total) is int and type(souhaites) is int
    key = ("resultat", granted, total, souhaites, p) if entiers else None
    buf.append(
        _ligne(
            lignes,
            key,
            lambda: (
                f"- Résultat : {pluriel(granted, 'poste attribué', 'postes attribués')} par ce "
                f"tour, total {nombre(total)} sur {pluriel(souhaites, 'demandé')} ; motifs : "
                f"{p.texte}.\n\n"
            ),
        )
    )
    out["operations"] = {
        "titre": _OPERATIONS_TITRE,
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
                "populationFragile": population,
                "offreExistante": offre,
                "gains": gains,
                "composanteAcces": access,
            },
            {
                "etape": "equilibre_departements",
                "titre": "Équilibre entre départements",
                "departement": dep_code,
                "composanteSuivante": balance,
            },
            {
                "etape": "repartition_departement",
                "titre": "Répartition au sein du département",
                "epci": epci_code,
                "composanteSuivante": distribution,
            },
            {
                "etape": "classement_departage",
                "titre": "Classement national et départage",
                "postes": rows,
                "rangs": ranks,
                "seuil": seuil,
            },
        ],
    }

    # -- 6. what would have changed the outcome
    cf = out["contrefactuel"] = _contrefactuel_part(
        priorities, granted, seuil, p.locked, score_min, note, verified, nested, larger
    )
    ecart, suivant = cf["ecartAuSeuil"], granted < len(priorities)
    emboite = cf["prioritesEmboitees"]
    departemental = epci is None
    # without a score to reach (the usual case), a few distinct texts per round
    key = (
        (p, larger is True, larger is False, suivant, emboite, departemental)
        if score_min is None
        else None
    )
    buf.append(
        _ligne(
            lignes,
            key,
            lambda: _contrefactuel_texte(
                c, p, score_min, larger, cf["verifie"], suivant, note, emboite, departemental
            ),
        )
    )
    if ecart is not None and ecart >= 0 and not p.satisfaite:
        buf.append(
            f"- Votre poste suivant avait une priorité de {priorites[granted]}, soit "
            f"{nombre(ecart, 1)} sous le seuil du tour ({seuil_t}).\n"
        )
    # the last line of ``texte`` (no blank line after it)
    buf.append(
        "- Cette analyse n'utilise aucune donnée propre aux autres candidats : seul le seuil du "
        "tour est commun à tous.\n"
    )
    out["resume"] = _resume_part(tour, c, p, s, decision, contribution, granted, total, souhaites)
    # What render_text writes from the parts' lines: every part ends with a blank line but the
    # last, whose last line is a fixed sentence (so ``rstrip`` would not change anything).
    out["texte"] = "".join(buf)
    return out


def _contrefactuel_part(
    priorities: list[Any],
    granted: int,
    seuil: Any,
    locked: bool,
    score_min: Any,
    note: float,
    verified: Any,
    nested: Any,
    larger: Any,
) -> dict[str, Any]:
    """The ``contrefactuel`` part (its values; part 6 of ``texte`` is written from them)."""
    nxt_priority = priorities[granted] if granted < len(priorities) else None
    ecart = (
        None if nxt_priority is None or seuil is None or locked else round(seuil - nxt_priority, 6)
    )
    return {
        "titre": _CONTREFACTUEL_TITRE,
        "noteMinimale": score_min,
        "noteActuelle": note,
        "verifie": bool(verified),
        "prioritesEmboitees": bool(nested),
        "demandePlusGrande": larger,
        "prioritePosteSuivant": nxt_priority,
        "seuil": seuil,
        "ecartAuSeuil": ecart,
    }


def _resume_part(
    tour: _Tour,
    c: _Calcul,
    p: _Profil,
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
        return _resume(s, decision, contribution)
    # (ints only in keys, as 2 and 2.0 are equal keys)
    entiers = type(total) is int and type(souhaites) is int
    return _ligne(
        c.lignes,
        ("resume", granted, total, souhaites, p) if entiers else None,
        lambda: f"{_resume_tete(granted, total, souhaites)} — {tour.qui}{p.resume}.",
    )


def _avis_ligne(c: _Calcul, prefet: Any, synthetique: bool) -> str:
    """The préfet's opinion (worded once per distinct opinion of the round)."""
    suggested = prefet.nombreConseillersPrefet
    key = (
        _key(
            "avis",
            prefet.avisPrefet,
            suggested,
            prefet.commentairePrefet,
            "synthetique" if synthetique else "",
        )
        if suggested is None or type(suggested) is int
        else None
    )
    return _ligne(
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


def _euros(value: float | None) -> str:
    return nombre(value, 0 if value is None or float(value).is_integer() else 2) + " €"


def _cost_line(
    c: _Calcul, cof_eur: float | None, cof_part: float | None, cost: Mapping[str, Any]
) -> str:
    """The post's standard cost, the host's co-funding and the State's cost (per post)."""
    standard, state = cost.get("standard_eur"), cost.get("state_eur")
    text = (
        f"Coût d'un poste : coût standard {_euros(standard)} (barème de l'appel selon le type "
        "de structure et le territoire)"
    )
    if cof_eur is None and cof_part is None:
        return text + f" ; aucun cofinancement déclaré : coût pour l'État {_euros(state)}."
    declared = (
        f"{_euros(cof_eur)} par poste"
        if cof_eur is not None
        else f"{nombre((cof_part or 0.0) * 100, 1)} % du coût standard"
    )
    return (
        text + f" ; cofinancement déclaré par votre structure : {declared}, soit "
        f"{_euros(cost.get('cofunding_eur'))} par poste ; coût pour l'État : {_euros(state)} "
        "par poste (jamais négatif) — source : votre candidature."
    )


def _regles(
    c: _Calcul, p: _Profil, plancher: bool, remaining: Any, cap_room: Any
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


#: French names of the engine's binding constraints (``rapport.binding_constraints``).
CONTRAINTES = {
    "quota": "le quota de postes",
    "envelope": "l'enveloppe nationale",
    "budget": "le budget",
    "departement_caps": "les plafonds départementaux (part équitable de l'enveloppe nationale) "
    "des départements où des postes restaient demandés",
}
_NOMBRES = frozenset((int, float))


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


def _contrefactuel_texte(
    c: _Calcul,
    p: _Profil,
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
    text = f"## 6. {_CONTREFACTUEL_TITRE}\n\n"
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
        text += "- Votre demande est entièrement satisfaite.\n"
        if larger is True:
            text += (
                "- Une demande plus importante aurait pu vous valoir un poste de plus "
                "(estimation optimiste : le poste supplémentaire apporterait autant que votre "
                "dernier poste demandé).\n"
            )
        elif larger is False:
            text += (
                "- Un poste de plus n'aurait pas été attribué même avec une demande plus grande.\n"
            )
        return text
    if score is not None and not nested:
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
    if score is not None:
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


# -- the opening paragraph ----------------------------------------------------------------------
#
# What a mayor's office reads first (at most :data:`ESSENTIEL_MOTS_MAX` words): what was asked,
# what is granted and who decided, the one or two reasons that decided it, and what the
# applicant can do next. Written from the decision's own numbers, motifs and contribution (the
# values the legal sections below are written from), never from a computation of its own.

#: The most words the opening paragraph may have (a test checks it on varied decisions).
ESSENTIEL_MOTS_MAX = 120
#: Words of a committee's reason quoted in the opening paragraph (it is quoted whole in part 2).
_EXTRAIT_MOTS = 15
_PRIORITE_CRITERES = "besoin du territoire, conseillers déjà présents, note du projet"
_RECOURS = "former un recours gracieux auprès de l'ANCT dans les deux mois"
_PAS_ENCORE = (
    "Ce n'est pas encore une décision : vous n'avez rien à faire à ce stade, et seule la "
    "décision du comité pourra être contestée."
)


def _court(value: Any) -> str:
    """A score as the opening paragraph writes it: ``62``, ``62,5``, ``82,79``."""
    if value is None or isinstance(value, bool):
        return nombre(value)
    x = round(float(value), 2)
    return nombre(x, 0 if x.is_integer() else 1 if round(x, 1) == x else 2)


def _extrait(text: object, mots: int = _EXTRAIT_MOTS) -> str:
    """``text`` on one line, cut after ``mots`` words (then ending with ``…``)."""
    words = une_ligne(text).split()
    return " ".join(words[:mots]) + (" …" if len(words) > mots else "")


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
    c: _Calcul | None,
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
            text += f", pour le motif suivant : « {_extrait(lock['motif'])} »"
        if proposition is not None and proposition != granted:
            text += f" (l'algorithme proposait {_postes(proposition)})"
        return text
    if code == motif_codes.DEMANDE_SATISFAITE:
        if granted > 0:
            return "votre demande est entièrement satisfaite"
        return "vous aviez déjà obtenu tous les postes demandés"
    if code == motif_codes.TYPE_NON_ELIGIBLE:
        from service.ui.labels import TYPES

        label = TYPES.get(str(type_structure), une_ligne(type_structure))
        return f"les structures de type « {label} » ne sont pas éligibles à ce tour"
    if code == motif_codes.AVIS_PREFET_NEGATIF:
        return "le préfet a donné un avis défavorable, qui écarte la candidature"
    if c is None:  # a result without the engine's details: its numbers are not known
        return MOTIF_LIBELLES.get(code, une_ligne(code))
    if code == motif_codes.SCORE_INSUFFISANT:
        return (
            f"la note de votre projet ({_court(note)}/100) est sous la note minimale du tour "
            f"({_court(c.min_quality)}/100)"
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
        return f"les {_postes(c.quota)} de ce tour ont tous été attribués"
    if code == motif_codes.PRIORITE_INSUFFISANTE:
        return (
            "votre poste suivant était moins prioritaire que le dernier attribué "
            f"({_PRIORITE_CRITERES})"
        )
    return MOTIF_LIBELLES.get(code, une_ligne(code))


def _essentiel(
    tour: _Tour,
    c: _Calcul | None,
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
    meta, statut = tour.meta, tour.statut
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
    decideur = DECIDEUR_COURT[0].upper() + DECIDEUR_COURT[1:]
    phrases = [f"Vous avez demandé {pluriel(souhaites, 'poste')} de conseiller numérique"]
    if already:
        phrases[0] += f", dont {pluriel(already, 'déjà obtenu', 'déjà obtenus')}"
    phrases[0] += "."
    n = _postes(granted)
    if statut == STATUT_VALIDE:
        assert meta is not None
        quand = f" (décision du {date_en_clair(meta.valide_le)})" if meta.valide_le else ""
        if locked:
            phrases.append(f"{decideur} a fixé à {n} votre attribution de ce tour{quand}.")
        elif granted:
            phrases.append(f"{decideur} vous attribue {n} dans ce tour{quand}.")
        else:
            phrases.append(f"{decideur} ne vous attribue pas de poste dans ce tour{quand}.")
    else:
        if locked:
            phrases.append(
                f"{decideur} a fixé à {n} votre attribution de ce tour, qui n'est pas encore "
                "validé."
                if statut == STATUT_BROUILLON
                else f"Le nombre de postes de ce tour est fixé à {n} par {DECIDEUR_COURT}."
            )
        elif granted:
            phrases.append(f"L'algorithme propose de vous attribuer {n} dans ce tour.")
        else:
            phrases.append("L'algorithme ne propose pas de poste pour vous dans ce tour.")
    if already:
        phrases[-1] = phrases[-1][:-1] + (
            f" : vous en avez désormais {nombre(total)} sur {nombre(souhaites)}."
            if statut == STATUT_VALIDE
            else f" : vous en auriez alors {nombre(total)} sur {nombre(souhaites)}."
        )
    codes = raisons_retenues(found)
    if codes:
        proposition = _proposition(granted, locked, lock)
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
        phrases.append(
            ("Raisons : " if len(raisons) > 1 else "Raison : ") + " ; ".join(raisons) + "."
        )
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


def _suite(
    c: _Calcul | None,
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
                f"améliorer votre projet (une note {seuil} {_court(score_min)}/100 aurait valu un "
                "poste de plus)"
            )
        elif motif_codes.SCORE_INSUFFISANT in m and c is not None:
            actions.append(
                f"améliorer votre projet (note minimale du tour : {_court(c.min_quality)}/100)"
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


_QUI = {
    STATUT_VALIDE: "décision du comité",
    STATUT_BROUILLON: "proposition, tour en brouillon",
    STATUT_PROPOSITION: "proposition de l'algorithme",
}


def _resume_tete(granted: int, total: Any, souhaites: Any) -> str:
    """The start of ``resume``: posts granted by the round, total over the request (as given)."""
    demandes = "demandés" if est_pluriel(souhaites) else "demandé"
    return (
        f"{pluriel(granted, 'poste attribué', 'postes attribués')} par ce tour (total {total} "
        f"sur {souhaites} {demandes})"
    )


def _resume(s: StructureIn, decision: Mapping[str, Any], contribution: Mapping[str, Any]) -> str:
    granted = int(decision["nombreConseillersAttribues"])
    found = [m for m in decision.get("motifs", ()) if m != motif_codes.ACCORDE]
    who = _QUI[contribution["statut"]]
    text = (
        _resume_tete(
            granted, decision.get("nombreConseillersCoselec"), s.nombreConseillersSouhaites
        )
        + f" — {who}"
    )
    if found:
        text += " ; " + " ; ".join(MOTIF_LIBELLES.get(m, m) for m in found)
    der = contribution.get("derogation")
    if der and der.get("motif"):
        text += f" ; motif du comité : « {der['motif']} »"
    return text + "."


def render_text(expl: Mapping[str, Any], titre: str = "") -> str:
    """The explanation as French text (Markdown), from its parts' ``lignes``."""
    out = [f"# {une_ligne(titre)}" if titre else "# Explication de la décision", ""]
    numbered = ("mention", "contribution", "donnees", "parametres", "operations", "contrefactuel")
    for n, key in enumerate(numbered, start=1):
        part = expl.get(key)
        if not part:
            continue
        out.append(f"## {n}. {part['titre']}")
        out.append("")
        if key == "operations":
            for i, st in enumerate(part["etapes"], start=1):
                out.append(f"### {n}.{i}. {st['titre']}")
                out.append("")
                out.extend(f"- {une_ligne(line)}" for line in st["lignes"])
                out.append("")
        else:
            out.extend(f"- {une_ligne(line)}" for line in part["lignes"])
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def titre(nom: str | None, id_pg: object) -> str:
    """Title of a decision's explanation (on one line whatever the name holds)."""
    if nom:
        return f"Explication de la décision — {une_ligne(nom)} (idPG {id_pg})"
    return f"Explication de la décision — structure idPG {id_pg}"


def _granted_total(result: Mapping[str, Any]) -> int:
    return sum(int(d["nombreConseillersAttribues"]) for d in result["decisions"])


def explain_decision(
    decision: Mapping[str, Any],
    structure: StructureIn,
    result: Mapping[str, Any],
    meta: RoundMeta | None = None,
    n_granted: int | None = None,
) -> dict[str, Any]:
    """The full explanation of one decision: the engine keys plus the parts of this module.

    Parameters
    ----------
    decision
        One entry of ``result["decisions"]`` (its ``explication`` holds the engine keys).
    structure
        The request's structure of the same ``idPG``.
    result
        The whole round result (its ``rapport`` and ``sources`` are read).
    meta
        The round's metadata, or ``None`` for a proposal outside any stored round.
    n_granted
        Posts granted by the whole round; computed from ``result`` when not given (pass it when
        explaining every decision of a round, so that the round is summed once, not per decision).
    """
    return _explain(_Tour(result, meta), decision, structure, n_granted)


#: Levels of explanation of a round result (``POST /v1/allocate?explication=``, ``allocator
#: allocate --explication``): the whole letter of every decision (the default), or its opening
#: paragraph and numbers.
NIVEAU_COMPLET = "complete"
NIVEAU_COMPACT = "compacte"
NIVEAUX = (NIVEAU_COMPLET, NIVEAU_COMPACT)
#: What the compact level keeps of a decision's explanation (the values of the full level).
COMPACT_KEYS = ("priorites", "rangs", "seuil", "essentiel", "resume", "contrefactuel")
#: Where the service serves the letter of a structure's latest committed decision.
CHEMIN_EXPLICATION = "/v1/structures/{idPG}/explication"
#: Key of a compact result saying its level (a full result has none: it is as it always was).
CLE_NIVEAU = "niveauExplication"


def compacte(expl: Mapping[str, Any], id_pg: int) -> dict[str, Any]:
    """A decision's explanation at the compact level: the opening paragraph, the one-line
    summary, the engine's numbers and the counterfactual, as the full level has them, and the
    path of the full letter once the structure's decision is committed."""
    out = {k: expl[k] for k in COMPACT_KEYS if k in expl}
    out["explicationComplete"] = CHEMIN_EXPLICATION.format(idPG=int(id_pg))
    return out


def niveau_explication(niveau: str) -> str:
    """``niveau`` if it is one of :data:`NIVEAUX` (else ``ValueError``)."""
    if niveau not in NIVEAUX:
        raise ValueError(f"explanation level must be one of {NIVEAUX}, got {niveau!r}")
    return niveau


def round_explainer(
    result: Mapping[str, Any],
    request: RoundRequest,
    meta: RoundMeta | None = None,
    niveau: str = NIVEAU_COMPLET,
) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """``explain(decision)`` for the decisions of one round, sharing the round's wording.

    :func:`explain_round` in pieces: ``explain(d)`` is ``explain_round(...)[idPG]``. Used to
    explain the decisions of a national round in several processes
    (:func:`service.application.pipeline.encode_round`). ``niveau``: :data:`NIVEAUX` (the compact
    level is
    :func:`compacte` of the full one).
    """
    compact = niveau_explication(niveau) == NIVEAU_COMPACT
    by_id = {s.idPG: s for s in request.structures}
    n_granted = _granted_total(result)
    tour = _Tour(result, meta)

    def explain(decision: Mapping[str, Any]) -> dict[str, Any]:
        return _explain(tour, decision, by_id[int(decision["idPG"])], n_granted, compact)

    return explain


def explain_round(
    result: Mapping[str, Any],
    request: RoundRequest,
    meta: RoundMeta | None = None,
    niveau: str = NIVEAU_COMPLET,
) -> dict[int, dict[str, Any]]:
    """``{idPG: explication}`` for every decision of a round result (ascending idPG)."""
    ids = {s.idPG for s in request.structures}
    explain = round_explainer(result, request, meta, niveau)
    with speed.gc_paused(promote=True):
        return {
            int(d["idPG"]): explain(d) for d in result.get("decisions", ()) if int(d["idPG"]) in ids
        }


def attach(
    result: dict[str, Any],
    request: RoundRequest,
    meta: RoundMeta | None = None,
    niveau: str = NIVEAU_COMPLET,
) -> dict[str, Any]:
    """Replace each decision's ``explication`` by its explanation at ``niveau`` (in place;
    returned). A compact result says so (:data:`CLE_NIVEAU`)."""
    explained = explain_round(result, request, meta, niveau_explication(niveau))
    for d in result.get("decisions", ()):
        if int(d["idPG"]) in explained:
            d["explication"] = explained[int(d["idPG"])]
    if niveau == NIVEAU_COMPACT:
        result[CLE_NIVEAU] = NIVEAU_COMPACT
    return result


def compact_result(result: dict[str, Any]) -> dict[str, Any]:
    """A round result (full level) at the compact level: each decision's explanation is
    :func:`compacte` of its own (in place; returned). The same as :func:`attach` at the
    compact level, for a result already explained (``POST /v1/allocate?explication=compacte``).
    """
    for d in result.get("decisions", ()):
        d["explication"] = compacte(d.get("explication") or {}, d["idPG"])
    result[CLE_NIVEAU] = NIVEAU_COMPACT
    return result


# -- HTML -----------------------------------------------------------------------------------------

_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#161616}h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;"
    "border-bottom:1px solid #ddd}h3{font-size:1rem}.resume{background:#f5f5fe;padding:.75rem;"
    "border-left:4px solid #000091}table{border-collapse:collapse}td,th{border:1px solid #ddd;"
    "padding:.25rem .5rem;text-align:left;vertical-align:top}"
)


def page_html(titre: str, body: str) -> str:
    """A standalone French HTML page (the body is already escaped HTML)."""
    return (
        '<!DOCTYPE html>\n<html lang="fr">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(titre)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def markdown_html(text: str) -> str:
    """HTML of the Markdown subset written by :func:`render_text` (headings, lists), escaped."""
    out: list[str] = []
    in_list = False
    for line in text.splitlines():
        if line.startswith("- "):
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{html.escape(line[2:])}</li>")
            continue
        if in_list:
            out.append("</ul>")
            in_list = False
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")), 6)
            out.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.strip():
            out.append(f"<p>{html.escape(line)}</p>")
    if in_list:
        out.append("</ul>")
    return "\n".join(out)


def render_html(entry: Mapping[str, Any]) -> str:
    """The portal page of a decision (``entry`` as served by the explanation endpoint)."""
    expl = entry.get("explication") or {}
    title = titre(entry.get("nom"), entry.get("idPG"))
    body = markdown_html(expl.get("texte") or f"# {title}\n")
    # a letter that opens with its paragraph needs no summary above it (older ones get theirs)
    if expl.get("resume") and not expl.get("essentiel"):
        first = body.find("\n")
        resume = f'<p class="resume">{html.escape(expl["resume"])}</p>'
        body = body[:first] + "\n" + resume + body[first:] if first >= 0 else body + resume
    return page_html(title, body)


def explain_committed(row: Any, committed_by: str, committed_at: Any) -> dict[int, dict[str, Any]]:
    """Explanations of a round being committed (``row`` a :class:`service.store.models.Round`).

    Called by :func:`service.application.rounds.commit_round` inside its transaction: the round's
    stored
    result and request snapshot, plus who commits, when, and the committee's locks with their
    reasons.
    """
    from service.store import repository as store

    meta = RoundMeta(
        round_id=row.id,
        mois=row.mois,
        statut=STATUT_VALIDE,
        auteur=row.author,
        cree_le=store.iso(row.created_at),
        valide_par=committed_by,
        valide_le=store.iso(committed_at),
        verrous={int(k): v for k, v in (row.locks or {}).items()},
    )
    request = stored_request(row.snapshot["request"])
    return explain_round(row.result, request, meta)
