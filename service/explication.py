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
:func:`service.pipeline.result_to_contract` (proposal); :func:`explain_round` runs again at commit
(:func:`service.rounds.commit_round`) with the committee's metadata, and the committed
explanation is what the portal reads (``GET /v1/structures/{idPG}/explication``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from allocator import motifs as motif_codes
from service.schemas import RoundRequest, StructureIn

#: The engine keys of a decision's ``explication`` (kept as they are, next to ours).
ENGINE_KEYS = ("priorites", "rangs", "seuil", "details", "territoire")
#: The keys this module adds to each decision's ``explication``.
PART_KEYS = (
    "mention",
    "contribution",
    "donnees",
    "parametres",
    "operations",
    "contrefactuel",
    "texte",
    "resume",
)
#: Version of the wording and structure below (bumped when the explanation's shape changes).
FORMAT_EXPLICATION = 1

DECIDEUR = "le comité de sélection de l'Agence nationale de la cohésion des territoires (ANCT)"
CONTACT_ANCT = (
    "Agence nationale de la cohésion des territoires, programme Conseiller numérique, "
    "20 avenue de Ségur, TSA 10717, 75334 Paris Cedex 07"
)
CONTACT_CADA = (
    "Commission d'accès aux documents administratifs (CADA), 20 avenue de Ségur, TSA 50730, "
    "75334 Paris Cedex 07 — www.cada.fr"
)
REFERENCES_LEGALES = (
    "Code des relations entre le public et l'administration, article L311-3-1",
    "Code des relations entre le public et l'administration, article R311-3-1-1",
    "Code des relations entre le public et l'administration, article R311-3-1-2",
    "Code des relations entre le public et l'administration, articles L342-1 et R343-1 (CADA)",
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


def source_ref(*ids: str) -> str:
    """Short references of the given sources (``"source S3 : La MedNum, …"``)."""
    refs = ", ".join(f"{i} : {SOURCES[i].court}" for i in ids)
    return ("sources " if len(ids) > 1 else "source ") + refs


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
        "« optimal » : optimum exact lorsqu'un budget en euros rend le problème non emboîté",
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
    "time_limit_s": "limite de temps du solveur (secondes)",
    "workers": "nombre de fils de calcul (sans effet sur le résultat)",
    "seed": "graine du solveur (le résultat n'en dépend pas : aucune part de hasard)",
    "counterfactual_reruns": (
        "nombre de scénarios « et si » vérifiés en recalculant le tour (les plus proches du "
        "seuil d'abord)"
    ),
}


# -- formatting ---------------------------------------------------------------------------------

NBSP = "\u202f"


def nombre(value: float | int | None, decimales: int = 0) -> str:
    """French number formatting: ``1 234,5`` (narrow no-break space), ``—`` for ``None``."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return "oui" if value else "non"
    text = f"{value:,.{decimales}f}"
    return text.replace(",", NBSP).replace(".", ",")


def _postes(n: int) -> str:
    return f"{n} poste" + ("s" if abs(n) > 1 else "")


def _oui_non(value: object) -> str:
    if value is None:
        return "non renseigné"
    return "oui" if value else "non"


# -- reference names (static bundled data, cached per process) ----------------------------------


@cache
def _noms() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Names of communes, départements and EPCI (COG 2026, source S1)."""
    import geodata

    communes = geodata.load_communes()
    deps = geodata.load_departements()
    epcis = geodata.load_epci()
    return (
        dict(zip(communes["code_insee"], communes["nom"], strict=True)),
        dict(zip(deps["code"], deps["nom"], strict=True)),
        dict(zip(epcis["epci_siren"].astype(str), epcis["nom"], strict=True)),
    )


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
        """From :func:`service.rounds.round_view` (``verrous`` as a list with ``idPG``)."""
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


def _etat_conseillers(origine: str | None, meta: RoundMeta | None) -> str:
    date = (meta.cree_le or "")[:10] if meta else ""
    quand = f"au {date}" if date else "à la date du calcul"
    if origine == "requete" and meta is not None and meta.round_id is not None:
        return f"conseillers en poste enregistrés dans le registre du service {quand}"
    if origine == "requete":
        return (
            "conseillers en poste transmis avec la demande de calcul (état fourni par l'appelant)"
        )
    if origine == "historique_2021":
        return (
            "conseillers des structures validées par les comités de sélection du 24 mars au "
            f"19 mai 2021 ({source_ref('S5')})"
        )
    return (
        "conseillers des structures validées par les comités de 2021 "
        f"({source_ref('S5')}), plus les postes attribués par les tours validés du registre "
        f"{quand}"
    )


def _existing_sources(origine: str | None, meta: RoundMeta | None) -> list[str]:
    if origine == "historique_2021":
        return ["S5"]
    if origine == "requete":
        stored = meta is not None and meta.round_id is not None
        return ["S5", "tours_valides"] if stored else ["requete"]
    return ["S5", "tours_valides"]


# -- the parts ----------------------------------------------------------------------------------


def _mention() -> dict[str, Any]:
    lignes = [
        "Cette décision a été prise sur le fondement d'un traitement algorithmique "
        "(article L311-3-1 du code des relations entre le public et l'administration).",
        f"Finalité du traitement : {FINALITE}.",
        "Vous avez le droit d'obtenir la communication des règles définissant ce traitement et "
        "des principales caractéristiques de sa mise en œuvre à votre égard : degré et mode de "
        "contribution du traitement à la décision, données traitées et leurs sources, "
        "paramètres et leur pondération appliqués à votre situation, opérations effectuées "
        "(article R311-3-1-2). Les rubriques ci-dessous les donnent déjà ; la description "
        "générale de l'algorithme est publique (notice, GET /v1/notice).",
        f"Pour en faire la demande, écrivez à : {CONTACT_ANCT}, en indiquant l'identifiant de "
        "votre candidature (idPG).",
        "En cas de refus ou d'absence de réponse dans un délai d'un mois, vous pouvez saisir "
        f"dans les deux mois la {CONTACT_CADA}, avant tout recours contentieux.",
    ]
    return {
        "titre": "Information sur le traitement algorithmique",
        "finalite": FINALITE,
        "droit": "communication des règles et des principales caractéristiques du traitement",
        "modalites": CONTACT_ANCT,
        "recours": CONTACT_CADA,
        "references": list(REFERENCES_LEGALES),
        "lignes": lignes,
    }


def _contribution(
    decision: Mapping[str, Any], meta: RoundMeta | None, lock: Mapping[str, Any] | None
) -> dict[str, Any]:
    granted = int(decision["nombreConseillersAttribues"])
    locked = motif_codes.VERROUILLE in decision.get("motifs", ()) or lock is not None
    statut = meta.statut if meta is not None else STATUT_PROPOSITION
    proposition: int | None
    if not locked:
        proposition = granted
    elif lock is not None and lock.get("proposition") is not None:
        proposition = int(lock["proposition"])
    else:
        proposition = None
    tour = (
        None
        if meta is None
        else {"id": meta.round_id, "numero": None if meta.round_id is None else str(meta.round_id)}
    )
    lignes = [
        "L'algorithme est une aide à la décision : il calcule une proposition (combien de postes "
        f"pour chaque structure et pourquoi) ; {DECIDEUR} l'examine, peut la modifier en fixant "
        "le nombre de postes d'une structure avec un motif écrit, puis décide. Aucune décision "
        "n'est prise automatiquement."
    ]
    if meta is not None and meta.round_id is not None:
        lignes.append(
            f"Tour d'attribution n° {meta.round_id}"
            + (f" (mois {meta.mois})" if meta.mois else "")
            + (f", préparé par {meta.auteur}" if meta.auteur else "")
            + (f" le {meta.cree_le[:10]}" if meta.cree_le else "")
            + "."
        )
    derogation = None
    if locked:
        derogation = {
            "nombre": granted,
            "motif": None if lock is None else lock.get("motif"),
            "auteur": None if lock is None else lock.get("auteur"),
            "date": None if lock is None else lock.get("date"),
            "propositionAlgorithme": proposition,
        }
        phrase = (
            f"Le comité a fixé à {_postes(granted)} l'attribution de ce tour pour votre structure"
        )
        if proposition is not None:
            phrase += f" (l'algorithme proposait {_postes(proposition)})"
        if lock is not None and lock.get("motif"):
            phrase += f", motif : « {lock['motif']} »"
        if lock is not None and lock.get("auteur"):
            phrase += f" ({lock['auteur']}" + (
                f", {str(lock['date'])[:10]})" if lock.get("date") else ")"
            )
        lignes.append(phrase + ".")
    if statut == STATUT_VALIDE:
        assert meta is not None
        qui = f" par {meta.valide_par}" if meta.valide_par else ""
        quand = f" le {meta.valide_le[:10]}" if meta.valide_le else ""
        if locked:
            lignes.append(
                f"Décision validée{qui}{quand} : {_postes(granted)} attribué(s) par ce tour, "
                "nombre fixé par le comité."
            )
        else:
            lignes.append(
                f"Décision validée{qui}{quand} : le comité a retenu la proposition de "
                f"l'algorithme, soit {_postes(granted)} attribué(s) par ce tour."
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
    return {
        "titre": "Rôle de l'algorithme dans la décision",
        "mode": "aide à la décision",
        "decideur": DECIDEUR,
        "statut": statut,
        "tour": tour,
        "mois": None if meta is None else meta.mois,
        "preparePar": None if meta is None else meta.auteur,
        "prepareLe": None if meta is None else meta.cree_le,
        "validePar": None if meta is None or statut != STATUT_VALIDE else meta.valide_par,
        "valideLe": None if meta is None or statut != STATUT_VALIDE else meta.valide_le,
        "propositionAlgorithme": proposition,
        "decision": granted if statut == STATUT_VALIDE else None,
        "derogation": derogation,
        "lignes": lignes,
    }


def _donnees(
    s: StructureIn,
    decision: Mapping[str, Any],
    expl: Mapping[str, Any],
    sources: Mapping[str, Any],
    meta: RoundMeta | None,
) -> dict[str, Any]:
    from service.pipeline import DEFAULT_QUALITY

    t = expl.get("territoire") or {}
    ind = t.get("indicateurs") or {}
    det = expl.get("details") or {}
    dep = det.get("departement") or {}
    epci = det.get("epci")
    prefet = s.prefet[-1] if s.prefet else None
    origine = (sources.get("conseillersExistants") or {}).get("origine")
    acc = sources.get("accessibilite") or {}
    etat = _etat_conseillers(origine, meta)
    note_defaut = s.qualiteProjet is None
    note = DEFAULT_QUALITY if note_defaut else float(s.qualiteProjet)  # type: ignore[arg-type]
    note_synth = s.is_synthetic("qualiteProjet") and not note_defaut
    prefet_synth = s.is_synthetic("prefet") and prefet is not None
    code = t.get("codeCommune") or s.codeCommune
    methode_acc = (
        "accessibilité à deux étages (E2SFCA) : conseillers à portée pour 10 000 personnes "
        f"fragiles ; temps de trajet estimé par la distance à vol d'oiseau × "
        f"{nombre(acc.get('detour'), 1)} à {nombre(acc.get('vitesseKmh'))} km/h (pas de réseau "
        "routier)"
    )
    d: dict[str, Any] = {
        "demande": {"valeur": s.nombreConseillersSouhaites, "sources": ["candidature"]},
        "dejaAttribues": {"valeur": s.already_granted, "sources": ["historique_coselec"]},
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
            "valeur": None if prefet is None else prefet.avisPrefet,
            "nombreSuggere": None if prefet is None else prefet.nombreConseillersPrefet,
            "commentaire": None if prefet is None else prefet.commentairePrefet,
            "synthetique": prefet_synth,
            "sources": ["synthetique" if prefet_synth else "prefet"],
        },
        "communeSiege": {
            "code": code,
            "nom": nom_commune(code),
            "departement": t.get("departement"),
            "sources": ["S1"],
        },
        "zoneDesservie": {
            "communes": t.get("communesDesservies"),
            "population": ind.get("population_area"),
            "sources": ["candidature", "S1"],
        },
        "populationFragile": {"valeur": t.get("populationFragile"), "sources": ["S1", "S3", "S7"]},
        "indiceFragilite": {
            "valeur": ind.get("score_global"),
            "echelle": "100 = moyenne de la région",
            "millesime": SOURCES["S3"].millesime,
            "repli": t.get("indicateurRepli"),
            "motifsRepli": ind.get("need_fallback_reasons") or [],
            "sources": ["S3"],
        },
        "conseillersExistants": {
            "zone": ind.get("advisors_in_area"),
            "epci": None if epci is None else epci.get("existing"),
            "departement": dep.get("existing"),
            "offreAPortee": t.get("offreExistante"),
            "origine": origine,
            "etatAu": None if meta is None else meta.cree_le,
            "sources": _existing_sources(origine, meta),
        },
        "accessibilite": {
            "zone": ind.get("accessibility_10k_area"),
            "communeSiege": ind.get("accessibility_10k_commune"),
            "partSansConseiller": ind.get("share_without_advisor_area"),
            "methode": "E2SFCA",
            "sources": ["calcul"],
        },
        "zrr": {"declare": s.estZRR, "reference": t.get("zrr"), "sources": ["candidature", "S8"]},
        "qpv": {"declare": s.qpvStatut, "sources": ["candidature"]},
        "franceServices": {
            "declare": s.estLabelliseFranceServices,
            "sitesDansLaZone": t.get("franceServices"),
            "millesime": SOURCES["S6"].millesime,
            "sources": ["candidature", "S6"],
        },
    }
    cost = det.get("cost") or {}
    d["cofinancement"] = {
        "declareEur": s.cofinancementEur,
        "declarePart": s.cofinancementPart,
        "coutStandardParPosteEur": cost.get("standard_eur"),
        "cofinancementParPosteEur": cost.get("cofunding_eur"),
        "coutEtatParPosteEur": cost.get("state_eur"),
        "sources": ["candidature", "calcul"],
    }
    fs_in = bool(acc.get("franceServicesIncluses"))
    repli = d["indiceFragilite"]["motifsRepli"]
    lignes = [
        f"Demande : {_postes(s.nombreConseillersSouhaites)} au total, dont "
        f"{_postes(s.already_granted)} déjà attribué(s) par des décisions antérieures "
        "(source : votre candidature et l'historique du comité).",
        f"Note du projet : {nombre(note, 1)}/100 — "
        + (
            f"note par défaut ({nombre(DEFAULT_QUALITY)}) : le projet n'avait pas été noté."
            if note_defaut
            else "note SYNTHÉTIQUE (données de démonstration, graine fixe), pas une note réelle."
            if note_synth
            else "note attribuée par l'instructeur de l'ANCT (qualiteProjet)."
        ),
        (
            "Avis du préfet : aucun avis reçu (sans effet sur le calcul)."
            if prefet is None
            else f"Avis du préfet : {prefet.avisPrefet or 'non renseigné'}"
            + (
                f", {_postes(prefet.nombreConseillersPrefet)} suggéré(s)"
                if prefet.nombreConseillersPrefet is not None
                else ""
            )
            + (f" (« {prefet.commentairePrefet} »)" if prefet.commentairePrefet else "")
            + (
                " — avis SYNTHÉTIQUE (données de démonstration, graine fixe), pas un avis réel."
                if prefet_synth
                else " — source : le préfet de département, via le portail."
            )
        ),
        f"Commune siège : {d['communeSiege']['nom']} ({code}) ; zone desservie : "
        f"{nombre(t.get('communesDesservies'))} commune(s), "
        f"{nombre(ind.get('population_area'))} habitants ({source_ref('S1')}).",
        f"Personnes éloignées du numérique dans la zone (estimation) : "
        f"{nombre(t.get('populationFragile'))} — population INSEE × indice de fragilité "
        "numérique × facteur régional (chômage, ZRR), calibré sur les 13 millions de personnes "
        f"éloignées du numérique visées par le programme ({source_ref('S1', 'S3', 'S7')}).",
        f"Indice de fragilité numérique de la commune siège : "
        f"{nombre(ind.get('score_global'), 1)} (100 = moyenne de la région) — "
        f"{source_ref('S3')}, {SOURCES['S3'].millesime}"
        + (
            f" ; valeur de repli utilisée pour une partie de la zone ({', '.join(repli)})"
            if repli
            else ""
        )
        + ".",
        f"Conseillers déjà présents : {nombre(ind.get('advisors_in_area'))} dans la zone, "
        + (f"{nombre(epci.get('existing'))} dans l'intercommunalité, " if epci is not None else "")
        + f"{nombre(dep.get('existing'))} dans le département ; offre à portée : "
        f"{nombre(t.get('offreExistante'), 1)} conseiller(s)-équivalent(s) — état : {etat}.",
        f"Accessibilité : {nombre(ind.get('accessibility_10k_area'), 2)} conseiller(s) "
        f"accessible(s) pour 10 000 personnes fragiles de la zone — {methode_acc}"
        + ("; les France Services comptent comme une offre partielle" if fs_in else "")
        + ".",
        f"Zone de revitalisation rurale (ZRR) : déclaration de la structure "
        f"« {_oui_non(s.estZRR)} », classement de la commune siège « {t.get('zrr', 'inconnu')} » "
        f"({source_ref('S8')}). Quartier prioritaire (QPV) : déclaration "
        f"« {s.qpvStatut or 'non renseigné'} » (hors calcul). France Services : labellisation "
        f"déclarée « {s.estLabelliseFranceServices or 'non renseigné'} », "
        f"{nombre(t.get('franceServices'))} site(s) dans la zone ({source_ref('S6')}).",
    ]
    if cost:
        lignes.append(_cost_line(s, cost))
    d["titre"] = "Données utilisées et leurs sources"
    d["lignes"] = lignes
    return d


def _euros(value: float | None) -> str:
    return nombre(value, 0 if value is None or float(value).is_integer() else 2) + " €"


def _cost_line(s: StructureIn, cost: Mapping[str, Any]) -> str:
    """The post's standard cost, the host's co-funding and the State's cost (per post)."""
    standard, state = cost.get("standard_eur"), cost.get("state_eur")
    text = f"Coût d'un poste : coût standard {_euros(standard)} (barème de l'appel selon le type "
    text += "de structure et le territoire)"
    if s.cofinancementEur is None and s.cofinancementPart is None:
        return text + f" ; aucun cofinancement déclaré : coût pour l'État {_euros(state)}."
    declared = (
        f"{_euros(s.cofinancementEur)} par poste"
        if s.cofinancementEur is not None
        else f"{nombre((s.cofinancementPart or 0.0) * 100, 1)} % du coût standard"
    )
    return (
        text + f" ; cofinancement déclaré par votre structure : {declared}, soit "
        f"{_euros(cost.get('cofunding_eur'))} par poste ; coût pour l'État : {_euros(state)} "
        "par poste (jamais négatif) — source : votre candidature."
    )


def _binding_rules(
    s: StructureIn,
    decision: Mapping[str, Any],
    det: Mapping[str, Any],
    policy: Mapping[str, Any],
    report: Mapping[str, Any],
    note: float,
) -> list[dict[str, Any]]:
    from allocator.model import QUALITY_FLOOR

    found = set(decision.get("motifs", ()))
    dep = det.get("departement") or {}
    binding = report.get("binding") or {}
    rules = [
        {
            "code": "DEMANDE",
            "libelle": "postes restant à attribuer sur la demande",
            "valeur": det.get("remaining_request"),
            "contraignante": motif_codes.DEMANDE_SATISFAITE in found,
        },
        {
            "code": "NOTE_MINIMALE",
            "libelle": "note minimale du projet",
            "valeur": policy.get("min_quality"),
            "contraignante": motif_codes.SCORE_INSUFFISANT in found,
        },
        {
            "code": "PLANCHER_NOTE",
            "libelle": "note plancher du calcul (une note plus basse compte pour ce plancher)",
            "valeur": QUALITY_FLOOR,
            "contraignante": note < QUALITY_FLOOR and motif_codes.SCORE_INSUFFISANT not in found,
        },
        {
            "code": "PLAFOND_STRUCTURE",
            "libelle": "plafond de postes par structure",
            "valeur": policy.get("max_posts_per_structure"),
            "contraignante": motif_codes.PLAFOND_STRUCTURE in found,
        },
        {
            "code": "PART_DEPARTEMENT",
            "libelle": "postes encore possibles dans le département sous sa part équitable",
            "valeur": dep.get("cap_room"),
            "contraignante": motif_codes.PART_DEPARTEMENT_ATTEINTE in found,
        },
        {
            "code": "QUOTA",
            "libelle": "quota du tour",
            "valeur": report.get("quota"),
            "contraignante": motif_codes.QUOTA_EPUISE in found
            or (bool(binding.get("quota")) and motif_codes.PRIORITE_INSUFFISANTE in found),
        },
        {
            "code": "ENVELOPPE",
            "libelle": "enveloppe nationale restante",
            "valeur": report.get("envelope_remaining"),
            "contraignante": motif_codes.ENVELOPPE_NATIONALE_EPUISEE in found,
        },
        {
            "code": "BUDGET",
            "libelle": "budget restant du tour (euros)",
            "valeur": report.get("budget_remaining_eur"),
            "contraignante": motif_codes.BUDGET_EPUISE in found,
        },
    ]
    return rules


def _parametres(
    s: StructureIn,
    decision: Mapping[str, Any],
    expl: Mapping[str, Any],
    report: Mapping[str, Any],
    note: float,
) -> dict[str, Any]:
    det = expl.get("details") or {}
    policy = report.get("policy") or {}
    dep = det.get("departement") or {}
    epci = det.get("epci")
    fair = dep.get("fair_share")
    existing = dep.get("existing")
    posts = dep.get("posts_round")
    reste = None if fair is None or existing is None else fair - existing - (posts or 0)
    rules = _binding_rules(s, decision, det, policy, report, note)
    poids = {
        "acces": policy.get("weight_access"),
        "repartition": policy.get("weight_distribution"),
        "equilibre": policy.get("weight_balance"),
    }
    penalise = (
        policy.get("prefet_negatif") == "penaliser"
        and bool(s.prefet)
        and s.prefet[-1].avisPrefet in ("NÉGATIF", "NEGATIF")
    )
    dep_code = dep.get("code")
    cofinancement = _cofunding_params(decision, det, policy, report)
    lignes = [
        f"Poids des trois composantes de la priorité : accès {nombre(poids['acces'], 2)}, "
        f"répartition dans le département {nombre(poids['repartition'], 2)}, équilibre entre "
        f"départements {nombre(poids['equilibre'], 2)}.",
        f"Facteur qualité de votre projet : {nombre(det.get('quality_factor'), 3)} "
        f"(note {nombre(note, 1)}/100"
        + (
            ", multipliée par la pénalité d'avis défavorable "
            + nombre(policy.get("prefet_penalty"), 2)
            if penalise
            else ""
        )
        + ").",
        f"Quota du tour : {_postes(int(report.get('quota') or 0))} ; enveloppe nationale "
        f"restante : {nombre(report.get('envelope_remaining'))} postes sur "
        f"{nombre(policy.get('national_envelope'))}.",
        f"Département {nom_departement(dep_code)} ({dep_code}) : part équitable de l'enveloppe "
        f"nationale {nombre(fair)} postes (répartition selon le besoin, méthode de Webster) ; "
        f"{nombre(existing)} conseiller(s) déjà présent(s) ; {nombre(posts)} poste(s) attribué(s) "
        f"par ce tour ; "
        + (
            f"reste sous la part équitable après ce tour : {nombre(reste)}"
            if reste is None or reste >= 0
            else f"part équitable dépassée de {nombre(-reste)}"
        )
        + (
            " (plafond départemental appliqué)."
            if policy.get("departement_cap") == "part_equitable"
            else " (repère, pas un plafond dans ce tour)."
        ),
    ]
    lignes.extend(cofinancement.pop("lignes"))
    for r in rules:
        if r["contraignante"]:
            lignes.append(
                f"Règle contraignante pour vous : {r['libelle']} ({nombre(r['valeur'])})."
            )
    if not any(r["contraignante"] for r in rules):
        lignes.append("Aucun plafond ni plancher n'a limité votre attribution.")
    return {
        "titre": "Paramètres appliqués à votre situation",
        "poids": poids,
        "facteurQualite": det.get("quality_factor"),
        "penaliteAvisPrefet": policy.get("prefet_penalty") if penalise else None,
        "quota": report.get("quota"),
        "quotaEffectif": report.get("effective_quota"),
        "enveloppeNationale": policy.get("national_envelope"),
        "enveloppeRestante": report.get("envelope_remaining"),
        "departement": {
            "code": dep_code,
            "nom": nom_departement(dep_code),
            "besoin": dep.get("need"),
            "partEquitable": fair,
            "dejaPresents": existing,
            "attribuesCeTour": posts,
            "resteSurPartEquitable": reste,
            "plafond": dep.get("cap_room"),
        },
        "epci": None
        if epci is None
        else {
            "code": epci.get("code"),
            "besoin": epci.get("need"),
            "dejaPresents": epci.get("existing"),
            "attribuesCeTour": epci.get("posts_round"),
        },
        "regles": {
            r["code"]: {"valeur": r["valeur"], "contraignante": r["contraignante"]} for r in rules
        },
        "reglesContraignantes": [r["code"] for r in rules if r["contraignante"]],
        "cofinancement": cofinancement,
        "lignes": lignes,
    }


#: French names of the engine's binding constraints (``rapport.binding_constraints``).
CONTRAINTES = {
    "quota": "le quota de postes",
    "envelope": "l'enveloppe nationale",
    "budget": "le budget",
}


def _cofunding_params(
    decision: Mapping[str, Any],
    det: Mapping[str, Any],
    policy: Mapping[str, Any],
    report: Mapping[str, Any],
) -> dict[str, Any]:
    """The co-funding rule, factor and money of this decision, with the round's budget."""
    cost = det.get("cost") or {}
    granted = int(decision["nombreConseillersAttribues"])
    regle = policy.get("cofunding_priority") or "neutre"
    facteur = det.get("cofunding_factor", 1.0)
    state, cof = cost.get("state_eur"), cost.get("cofunding_eur")
    budget = policy.get("budget_eur")
    binding = report.get("binding_constraints")
    cap = (report.get("cofunding") or {}).get("priority_cap")
    lignes = []
    if regle == "prioritaire":
        lignes.append(
            "Règle du cofinancement « prioritaire » : la composante « accès » de vos postes est "
            f"multipliée par {nombre(facteur, 3)} = min({nombre(cap, 1)}, "
            "coût standard / coût pour l'État) (1 sans cofinancement)."
        )
    else:
        lignes.append(
            "Règle du cofinancement « neutre » : le cofinancement ne change pas la priorité de "
            "vos postes (le besoin d'abord) ; il réduit seulement leur coût pour l'État."
        )
    if cost:
        lignes.append(
            f"Coût pour l'État des postes attribués par ce tour ({granted}) : "
            f"{_euros((state or 0) * granted)}"
            f" ; cofinancement : {_euros((cof or 0) * granted)}."
        )
    if budget is not None:
        lignes.append(f"Budget du tour : {_euros(budget)} (coût pour l'État des postes attribués).")
    if binding:
        lignes.append(
            "Ce qui a arrêté le tour : " + " et ".join(CONTRAINTES.get(b, b) for b in binding) + "."
        )
    return {
        "regle": regle,
        "facteur": facteur,
        "coutStandardParPosteEur": cost.get("standard_eur"),
        "cofinancementParPosteEur": cof,
        "coutEtatParPosteEur": state,
        "coutEtatCeTourEur": None if state is None else state * granted,
        "cofinancementCeTourEur": None if cof is None else cof * granted,
        "budgetTourEur": budget,
        "contraintesLiantes": binding,
        "lignes": lignes,
    }


def _operations(
    s: StructureIn,
    decision: Mapping[str, Any],
    expl: Mapping[str, Any],
    report: Mapping[str, Any],
    note: float,
    n_granted_round: int,
) -> dict[str, Any]:
    det = expl.get("details") or {}
    policy = report.get("policy") or {}
    found = list(decision.get("motifs", ()))
    granted = int(decision["nombreConseillersAttribues"])
    locked = motif_codes.VERROUILLE in found
    t = expl.get("territoire") or {}
    dep = det.get("departement") or {}
    epci = det.get("epci")
    gains = list(det.get("gains") or [])
    q = det.get("quality_factor")
    f_cof = det.get("cofunding_factor", 1.0)
    w_a = policy.get("weight_access") or 0.0
    priorities = list(expl.get("priorites") or [])
    ranks = list(expl.get("rangs") or [])
    seuil = expl.get("seuil")
    nxt = det.get("next_post")
    hard = [
        m
        for m in found
        if m
        in (
            motif_codes.TYPE_NON_ELIGIBLE,
            motif_codes.AVIS_PREFET_NEGATIF,
            motif_codes.SCORE_INSUFFISANT,
        )
    ]

    # 1. eligibility
    types = policy.get("eligible_types") or []
    avis = s.prefet[-1].avisPrefet if s.prefet else None
    elig_lignes = [
        f"Type de structure {s.type} : "
        + ("éligible." if s.type in types else "non éligible dans ce tour."),
        f"Note du projet {nombre(note, 1)} "
        + (
            f"≥ note minimale {nombre(policy.get('min_quality'), 1)} : condition remplie."
            if motif_codes.SCORE_INSUFFISANT not in found
            else f"< note minimale {nombre(policy.get('min_quality'), 1)} : condition non remplie."
        ),
        "Avis du préfet : "
        + (
            "aucun avis (neutre)."
            if avis is None
            else "favorable."
            if avis == "POSITIF"
            else (
                "défavorable : la candidature est écartée (règle « exclure »)."
                if motif_codes.AVIS_PREFET_NEGATIF in found
                else "défavorable : l'apport du projet est pénalisé (règle « penaliser »)."
                if policy.get("prefet_negatif") == "penaliser"
                else "défavorable."
            )
        ),
        "Résultat : "
        + (
            "candidature éligible."
            if not hard
            else "candidature non éligible ("
            + " ; ".join(MOTIF_LIBELLES.get(m, m) for m in hard)
            + ")."
        ),
    ]
    steps = [
        {
            "etape": "eligibilite",
            "titre": "Éligibilité",
            "eligible": not hard,
            "motifs": hard,
            "lignes": elig_lignes,
        }
    ]

    # 2. need and coverage
    access = [round(w_a * (q or 0.0) * f_cof * g, 6) for g in gains]
    need_lignes = [
        f"Votre zone compte {nombre(t.get('populationFragile'))} personnes éloignées du "
        f"numérique et une offre déjà à portée de {nombre(t.get('offreExistante'), 1)} "
        "conseiller(s)-équivalent(s).",
    ]
    if gains:
        need_lignes.append(
            "Personnes nouvellement à portée d'un conseiller avec chaque poste demandé dans ce "
            "tour (rendements décroissants) : "
            + ", ".join(f"poste {k + 1} : {nombre(g, 1)}" for k, g in enumerate(gains))
            + "."
        )
        need_lignes.append(
            f"Composante « accès » = poids {nombre(w_a, 2)} × facteur qualité {nombre(q, 3)} × "
            + (f"facteur cofinancement {nombre(f_cof, 3)} × " if f_cof != 1.0 else "")
            + "personnes nouvellement à portée : "
            + ", ".join(f"poste {k + 1} : {nombre(a, 1)}" for k, a in enumerate(access))
            + "."
        )
    else:
        need_lignes.append("Aucun poste n'était à calculer pour votre structure dans ce tour.")
    steps.append(
        {
            "etape": "besoin_couverture",
            "titre": "Besoin et couverture existante",
            "populationFragile": t.get("populationFragile"),
            "offreExistante": t.get("offreExistante"),
            "gains": gains,
            "composanteAcces": access,
            "lignes": need_lignes,
        }
    )

    # 3. balance between départements
    w_d = policy.get("weight_balance") or 0.0
    dep_code = dep.get("code")
    bal_lignes = [
        f"Département {nom_departement(dep_code)} ({dep_code}) : besoin estimé "
        f"{nombre(dep.get('need'))} personnes fragiles, {nombre(dep.get('existing'))} "
        f"conseiller(s) déjà présent(s), part équitable {nombre(dep.get('fair_share'))} postes ; "
        f"ce tour y attribue {nombre(dep.get('posts_round'))} poste(s).",
        "Composante « équilibre » d'un poste = poids × besoin du département / (conseillers "
        "présents + postes déjà attribués par le tour + 1/2) : elle baisse à chaque poste "
        "attribué dans le département (méthode de Sainte-Laguë).",
    ]
    if nxt is not None:
        bal_lignes.append(
            f"Pour votre poste suivant : {nombre(w_d, 2)} × {nombre(dep.get('need'))} / "
            f"({nombre(dep.get('existing'))} + {nombre(dep.get('posts_round'))} + 1/2) = "
            f"{nombre(nxt.get('balance'), 1)}."
        )
    steps.append(
        {
            "etape": "equilibre_departements",
            "titre": "Équilibre entre départements",
            "departement": dep_code,
            "composanteSuivante": None if nxt is None else nxt.get("balance"),
            "lignes": bal_lignes,
        }
    )

    # 4. within the département
    w_e = policy.get("weight_distribution") or 0.0
    if epci is None:
        dist_lignes = [
            "Votre structure agit à l'échelle du département (ou au-delà) : pas de composante "
            "intercommunale."
        ]
    else:
        nom = nom_epci((epci.get("code") or ":").split(":", 1)[1]) or epci.get("code")
        dist_lignes = [
            f"Intercommunalité {nom} (partie dans le département) : besoin estimé "
            f"{nombre(epci.get('need'))} personnes fragiles, {nombre(epci.get('existing'))} "
            f"conseiller(s) déjà présent(s) ; ce tour y attribue "
            f"{nombre(epci.get('posts_round'))} poste(s).",
            "Composante « répartition » d'un poste = poids × besoin de l'intercommunalité / "
            "(conseillers présents + postes attribués par le tour + 1/2).",
        ]
        if nxt is not None:
            dist_lignes.append(
                f"Pour votre poste suivant : {nombre(w_e, 2)} × {nombre(epci.get('need'))} / "
                f"({nombre(epci.get('existing'))} + {nombre(epci.get('posts_round'))} + 1/2) = "
                f"{nombre(nxt.get('distribution'), 1)}."
            )
    steps.append(
        {
            "etape": "repartition_departement",
            "titre": "Répartition au sein du département",
            "epci": None if epci is None else epci.get("code"),
            "composanteSuivante": None if nxt is None else nxt.get("distribution"),
            "lignes": dist_lignes,
        }
    )

    # 5. national ranking and tie-break
    rank_lignes = [
        "Priorité d'un poste = accès + répartition + équilibre. Tous les postes possibles de "
        "toutes les structures sont classés par priorité décroissante et le tour attribue les "
        f"premiers ({_postes(n_granted_round)} attribués par ce tour, verrous compris). Les "
        "égalités exactes sont départagées par la date de dépôt (la plus ancienne d'abord), puis "
        "par l'identifiant idPG, puis par le rang du poste dans la demande.",
    ]
    rows = []
    for k, p in enumerate(priorities):
        row: dict[str, Any] = {"poste": k + 1, "priorite": p, "attribue": k < granted}
        if not locked and k < len(ranks):
            row["rang"] = ranks[k]
        rows.append(row)
    for row in rows:
        if locked:
            etat = "attribué (nombre fixé par le comité)" if row["attribue"] else "non attribué"
        elif row["attribue"]:
            etat = f"attribué, rang national {row['rang']}" if "rang" in row else "attribué"
        else:
            etat = "non attribué"
        rank_lignes.append(
            f"Poste {row['poste']} : priorité {nombre(row['priorite'], 1)} — {etat}."
        )
    if seuil is not None:
        rank_lignes.append(
            f"Seuil du tour (priorité du dernier poste attribué) : {nombre(seuil, 1)}."
        )
    if locked:
        rank_lignes.append(
            "Votre attribution a été fixée par le comité : vos postes ne sont pas classés "
            "(priorités données à titre indicatif)."
        )
    rank_lignes.append(
        f"Résultat : {_postes(granted)} attribué(s) par ce tour, total "
        f"{nombre(decision.get('nombreConseillersCoselec'))} sur "
        f"{nombre(s.nombreConseillersSouhaites)} demandé(s) ; motifs : "
        + " ; ".join(MOTIF_LIBELLES.get(m, m) for m in found)
        + "."
    )
    steps.append(
        {
            "etape": "classement_departage",
            "titre": "Classement national et départage",
            "postes": rows,
            "rangs": ranks,
            "seuil": seuil,
            "lignes": rank_lignes,
        }
    )
    return {
        "titre": "Opérations effectuées",
        "etapes": steps,
    }


def _contrefactuel(
    s: StructureIn, decision: Mapping[str, Any], expl: Mapping[str, Any], note: float
) -> dict[str, Any]:
    det = expl.get("details") or {}
    cf = det.get("counterfactual") or {}
    found = set(decision.get("motifs", ()))
    granted = int(decision["nombreConseillersAttribues"])
    priorities = list(expl.get("priorites") or [])
    seuil = expl.get("seuil")
    score = cf.get("min_quality")
    larger = cf.get("larger_request_would_help")
    verified = bool(cf.get("verified"))
    nxt_priority = priorities[granted] if granted < len(priorities) else None
    ecart = (
        None
        if nxt_priority is None or seuil is None or motif_codes.VERROUILLE in found
        else round(seuil - nxt_priority, 6)
    )
    lignes: list[str] = []
    if motif_codes.VERROUILLE in found:
        lignes.append(
            "Votre attribution a été fixée par le comité de sélection : seule sa décision "
            "pouvait la changer."
        )
    elif motif_codes.TYPE_NON_ELIGIBLE in found:
        lignes.append(
            "Ce type de structure n'est pas éligible dans ce tour : aucune note ni aucune "
            "demande n'aurait changé le résultat."
        )
    elif motif_codes.AVIS_PREFET_NEGATIF in found:
        lignes.append(
            "Seul un avis du préfet non défavorable aurait rendu la candidature éligible dans "
            "ce tour."
        )
    elif motif_codes.DEMANDE_SATISFAITE in found:
        lignes.append("Votre demande est entièrement satisfaite.")
        if larger is True:
            lignes.append(
                "Une demande plus importante aurait pu vous valoir un poste de plus (estimation "
                "optimiste : le poste supplémentaire apporterait autant que votre dernier poste "
                "demandé)."
            )
        elif larger is False:
            lignes.append(
                "Un poste de plus n'aurait pas été attribué même avec une demande plus grande."
            )
    elif score is not None:
        if motif_codes.SCORE_INSUFFISANT in found:
            lignes.append(
                f"Avec une note d'au moins {nombre(score, 2)} (au lieu de {nombre(note, 2)}), "
                "votre projet aurait été éligible et aurait obtenu un poste de plus."
            )
        else:
            lignes.append(
                f"Avec une note de projet d'au moins {nombre(score, 2)} (au lieu de "
                f"{nombre(note, 2)}), votre structure aurait obtenu un poste de plus dans ce tour."
            )
        lignes.append(
            "Ce seuil a été vérifié en recalculant le tour avec cette note."
            if verified
            else "Ce seuil découle d'un calcul exact sur le modèle (propriété des priorités "
            "emboîtées) ; il n'a pas été recalculé individuellement."
        )
    elif granted < len(priorities) or motif_codes.PLAFOND_STRUCTURE in found:
        if motif_codes.PLAFOND_STRUCTURE in found:
            lignes.append(
                "Le plafond de postes par structure vous a arrêté : seul un plafond plus élevé "
                "aurait changé le résultat."
            )
        elif motif_codes.PART_DEPARTEMENT_ATTEINTE in found:
            lignes.append(
                "Le département a atteint sa part équitable : aucune note n'aurait suffi dans "
                "ce tour."
            )
        else:
            lignes.append(
                "Même avec la note maximale de 100, votre structure n'aurait pas obtenu de poste "
                "de plus dans ce tour : la priorité dépend surtout du besoin de votre territoire "
                "et des conseillers déjà présents."
            )
    if ecart is not None and ecart >= 0 and motif_codes.DEMANDE_SATISFAITE not in found:
        lignes.append(
            f"Votre poste suivant avait une priorité de {nombre(nxt_priority, 1)}, soit "
            f"{nombre(ecart, 1)} sous le seuil du tour ({nombre(seuil, 1)})."
        )
    lignes.append(
        "Cette analyse n'utilise aucune donnée propre aux autres candidats : seul le seuil du "
        "tour est commun à tous."
    )
    return {
        "titre": "Ce qui aurait changé le résultat",
        "noteMinimale": score,
        "noteActuelle": note,
        "verifie": verified,
        "demandePlusGrande": larger,
        "prioritePosteSuivant": nxt_priority,
        "seuil": seuil,
        "ecartAuSeuil": ecart,
        "lignes": lignes,
    }


def _resume(s: StructureIn, decision: Mapping[str, Any], contribution: Mapping[str, Any]) -> str:
    granted = int(decision["nombreConseillersAttribues"])
    found = [m for m in decision.get("motifs", ()) if m != motif_codes.ACCORDE]
    who = {
        STATUT_VALIDE: "décision du comité",
        STATUT_BROUILLON: "proposition, tour en brouillon",
        STATUT_PROPOSITION: "proposition de l'algorithme",
    }[contribution["statut"]]
    text = (
        f"{_postes(granted)} attribué(s) par ce tour (total "
        f"{decision.get('nombreConseillersCoselec')} sur {s.nombreConseillersSouhaites} "
        f"demandé(s)) — {who}"
    )
    if found:
        text += " ; " + " ; ".join(MOTIF_LIBELLES.get(m, m) for m in found)
    der = contribution.get("derogation")
    if der and der.get("motif"):
        text += f" ; motif du comité : « {der['motif']} »"
    return text + "."


def render_text(expl: Mapping[str, Any], titre: str = "") -> str:
    """The explanation as French text (Markdown), from its parts' ``lignes``."""
    out = [f"# {titre}" if titre else "# Explication de la décision", ""]
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
                out.extend(f"- {line}" for line in st["lignes"])
                out.append("")
        else:
            out.extend(f"- {line}" for line in part["lignes"])
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def titre(nom: str | None, id_pg: object) -> str:
    """Title of a decision's explanation."""
    if nom:
        return f"Explication de la décision — {nom} (idPG {id_pg})"
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
    from service.pipeline import DEFAULT_QUALITY

    expl = dict(decision.get("explication") or {})
    engine = {k: expl[k] for k in ENGINE_KEYS if k in expl}
    lock = None if meta is None else meta.verrous.get(int(decision["idPG"]))
    contribution = _contribution(decision, meta, lock)
    out: dict[str, Any] = {**engine, "mention": _mention(), "contribution": contribution}
    note = DEFAULT_QUALITY if structure.qualiteProjet is None else float(structure.qualiteProjet)
    if "details" in engine:
        report = result.get("rapport") or {}
        sources = result.get("sources") or {}
        if n_granted is None:
            n_granted = _granted_total(result)
        out["donnees"] = _donnees(structure, decision, engine, sources, meta)
        out["parametres"] = _parametres(structure, decision, engine, report, note)
        out["operations"] = _operations(structure, decision, engine, report, note, n_granted)
        out["contrefactuel"] = _contrefactuel(structure, decision, engine, note)
    out["resume"] = _resume(structure, decision, contribution)
    out["texte"] = render_text(out, titre(structure.nom, structure.idPG))
    # The wording lives in ``texte`` only (the parts keep the values): results stay compact.
    for key in PART_KEYS:
        part = out.get(key)
        if isinstance(part, dict):
            part.pop("lignes", None)
            for step in part.get("etapes", ()):
                step.pop("lignes", None)
    return out


def explain_round(
    result: Mapping[str, Any], request: RoundRequest, meta: RoundMeta | None = None
) -> dict[int, dict[str, Any]]:
    """``{idPG: explication}`` for every decision of a round result (ascending idPG)."""
    by_id = {s.idPG: s for s in request.structures}
    n_granted = _granted_total(result)
    return {
        int(d["idPG"]): explain_decision(d, by_id[int(d["idPG"])], result, meta, n_granted)
        for d in result.get("decisions", ())
        if int(d["idPG"]) in by_id
    }


def attach(
    result: dict[str, Any], request: RoundRequest, meta: RoundMeta | None = None
) -> dict[str, Any]:
    """Replace each decision's ``explication`` by the full explanation (in place; returned)."""
    explained = explain_round(result, request, meta)
    for d in result.get("decisions", ()):
        if int(d["idPG"]) in explained:
            d["explication"] = explained[int(d["idPG"])]
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
    if expl.get("resume"):
        first = body.find("\n")
        resume = f'<p class="resume">{html.escape(expl["resume"])}</p>'
        body = body[:first] + "\n" + resume + body[first:] if first >= 0 else body + resume
    return page_html(title, body)


def explain_committed(row: Any, committed_by: str, committed_at: Any) -> dict[int, dict[str, Any]]:
    """Explanations of a round being committed (``row`` a :class:`service.models.Round`).

    Called by :func:`service.rounds.commit_round` inside its transaction: the round's stored
    result and request snapshot, plus who commits, when, and the committee's locks with their
    reasons.
    """
    from service import store

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
    request = RoundRequest.model_validate(row.snapshot["request"])
    return explain_round(row.result, request, meta)
