"""The public notice of the allocation algorithm, generated from the code's own policy objects.

Article L312-1-3 of the code des relations entre le public et l'administration asks
administrations to publish the rules of the main algorithmic processing they use for individual
decisions; article R311-3-1-2 lists what an applicant may obtain. This notice is built from the
objects the engine actually runs with, so it cannot drift from the code:

- every field of :class:`allocator.RoundPolicy` with its default and the request key that sets
  it (``service.application.adapter.POLICY_FIELDS``), worded by
  :data:`service.explanations.legal.POLICY_DOCS`;
- every field of :class:`allocator.SolverConfig`, :class:`geodata.AccessParams` and
  :class:`geodata.NeedParams` with its default;
- the model's constants (quality floor, default score, cost per post, capacity of an advisor);
- the motif codes of :mod:`allocator.motifs` with their French wording;
- the data sources of ``DATA.md`` (:data:`service.explanations.legal.SOURCES`).

A field without a French description is rendered with :data:`UNDOCUMENTED` (and the tests fail).
The notice is a list of blocks rendered to Markdown or HTML (:func:`render`), so both formats say
the same thing.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

UNDOCUMENTED = "NON DOCUMENTÉ"
FORMATS = ("md", "html")

ACCESS_DOCS: dict[str, str] = {
    "detour": "rapport entre la distance par la route et la distance à vol d'oiseau",
    "speed_kmh": "vitesse moyenne de déplacement (km/h) pour estimer un temps de trajet",
    "steps": (
        "paliers de temps de trajet (minutes) et poids d'accessibilité associés ; poids nul "
        "au-delà du dernier palier"
    ),
    "include_france_services": "compter les France Services comme une offre complémentaire",
    "france_services_weight": "équivalent en conseillers d'une France Services, si comptée",
    "capacity": "personnes fragiles qu'un conseiller peut accompagner (C)",
}
NEED_DOCS: dict[str, str] = {
    "national_total": "nombre national de personnes éloignées du numérique (calibrage)",
    "unemployment_exponent": "élasticité du facteur régional au taux de chômage relatif (β)",
    "zrr_weight": "poids supplémentaire de la part de population régionale en ZRR (γ)",
}

Block = tuple[Any, ...]


# -- value formatting -----------------------------------------------------------------------------


def valeur(value: Any) -> str:
    """A default value as shown in the notice (French decimals, enum values, ``aucun``)."""
    from service.explanations.wording import nombre

    if value is None:
        return "aucun"
    if isinstance(value, bool):
        return "oui" if value else "non"
    if hasattr(value, "value") and isinstance(value.value, str):
        return value.value
    if isinstance(value, int):
        return nombre(value)
    if isinstance(value, float):
        text = f"{value:.6f}".rstrip("0").rstrip(".")
        whole, _, frac = text.partition(".")
        return nombre(int(whole)) + ("," + frac if frac else "")
    if isinstance(value, (tuple, list)):
        if value and all(isinstance(v, (tuple, list)) for v in value):
            return " ; ".join("(" + ", ".join(valeur(x) for x in v) + ")" for v in value)
        return ", ".join(valeur(v) for v in value)
    return str(value)


def _fields(cls: type) -> list[tuple[str, Any]]:
    out = []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:  # pragma: no cover - every policy object has defaults
            default = None
        out.append((f.name, default))
    return out


# -- content --------------------------------------------------------------------------------------


def _policy_keys() -> dict[str, str]:
    from service.application.adapter import POLICY_FIELDS

    return {target: key for key, target in POLICY_FIELDS.items()}


def policy_rows() -> list[list[str]]:
    """One row per :class:`allocator.RoundPolicy` field: name, request key, label, default, text."""
    from allocator import RoundPolicy
    from service.explanations.legal import POLICY_DOCS

    keys = _policy_keys()
    rows = []
    for name, default in _fields(RoundPolicy):
        label, text = POLICY_DOCS.get(name, (UNDOCUMENTED, UNDOCUMENTED))
        key = keys.get(name)
        rows.append(
            [
                f"`{name}`",
                f"`politique.{key}`" if key else "(non modifiable par requête)",
                label,
                valeur(default),
                text,
            ]
        )
    return rows


def _simple_rows(cls: type, docs: dict[str, str]) -> list[list[str]]:
    return [
        [f"`{name}`", docs.get(name, UNDOCUMENTED), valeur(default)]
        for name, default in _fields(cls)
    ]


def blocks() -> list[Block]:
    """The notice as blocks: ``("h", level, text)``, ``("p", text)``, ``("ul", items)``,
    ``("table", headers, rows)``; one function per part, in the notice's order."""
    parts = (
        _introduction,
        _purpose,
        _data,
        _eligibility,
        _need_and_coverage,
        _priority,
        _allocation,
        _cost,
        _parameters,
        _motifs,
        _guarantees,
        _rights,
    )
    return [block for part in parts for block in part()]


def _introduction() -> list[Block]:
    """The title and what the notice is (with the code's version)."""
    from service.explanations.legal import NOTICE_TITRE

    return [
        ("h", 1, NOTICE_TITRE),
        (
            "p",
            "Ce document décrit les règles du traitement algorithmique qui prépare les "
            "décisions d'attribution des postes de conseillers numériques financés par l'État "
            "(article L312-1-3 du code des relations entre le public et l'administration). Il "
            "est produit automatiquement à partir du code en service (version "
            f"{_package_version()}) : les paramètres et leurs valeurs par défaut ci-dessous "
            "sont ceux que le programme applique réellement.",
        ),
    ]


def _purpose() -> list[Block]:
    """1. Purpose of the processing and its part in the decision."""
    from service.explanations.legal import DECIDEUR, FINALITE

    return [
        ("h", 2, "1. Finalité et rôle dans la décision"),
        (
            "ul",
            [
                f"Finalité : {FINALITE}.",
                "Aide à la décision : l'algorithme calcule une proposition (nombre de postes par "
                f"structure et justification) ; {DECIDEUR} l'examine, peut fixer le nombre "
                "de postes d'une structure avec un motif écrit, puis décide. Aucune décision "
                "n'est prise automatiquement.",
                "Chaque structure reçoit l'explication de sa décision. Elle s'ouvre sur un "
                "paragraphe court : ce qui était demandé, ce qui est attribué et qui l'a décidé, "
                "la ou les deux raisons qui ont décidé, et ce que la structure peut faire "
                "ensuite ; suivent les données et leurs sources (numérotées S1, S2, … dans "
                "chaque lettre), les paramètres appliqués à sa situation, les opérations "
                "effectuées avec ses propres chiffres, et ce qui aurait changé le résultat (GET "
                "/v1/structures/{idPG}/explication).",
            ],
        ),
    ]


def _data() -> list[Block]:
    """2. Data processed and their sources."""
    from service.explanations.legal import SOURCES, SOURCES_INTERNES

    return [
        ("h", 2, "2. Données traitées et leurs sources"),
        (
            "table",
            ["source", "données", "version", "millésime", "licence"],
            [[s.id, s.libelle, f"`{s.version}`", s.millesime, s.licence] for s in SOURCES.values()],
        ),
        (
            "p",
            "Données propres à chaque candidature (codes utilisés dans les explications) :",
        ),
        ("ul", [f"`{code}` : {text}" for code, text in SOURCES_INTERNES.items()]),
        (
            "p",
            "Aucune donnée personnelle n'est traitée : les champs de contact transmis par le "
            "portail sont ignorés et jamais conservés dans les résultats. Les données de "
            "démonstration (notes de projet, avis du préfet, dates de dépôt) sont synthétiques.",
        ),
    ]


def _eligibility() -> list[Block]:
    """3. Rules of calculation; 3.1. Eligibility."""
    from allocator.programme import DEFAULT_QUALITY

    return [
        ("h", 2, "3. Règles de calcul"),
        ("h", 3, "3.1. Éligibilité"),
        (
            "ul",
            [
                "Le type de structure doit figurer parmi les types éligibles du tour.",
                "La note du projet (0 à 100) doit atteindre la note minimale du tour ; un projet "
                f"non noté reçoit la note par défaut {valeur(DEFAULT_QUALITY)}.",
                "Un avis défavorable du préfet écarte la candidature (règle « exclure ») ou "
                "réduit l'apport du projet (règle « penaliser ») ; une absence d'avis est neutre.",
                "Une structure ne reçoit jamais plus que sa demande, ni plus que le plafond par "
                "structure s'il existe ; les postes déjà attribués ne sont jamais retirés.",
            ],
        ),
    ]


def _need_and_coverage() -> list[Block]:
    """3.2. Need and existing coverage (the territorial parameters' defaults)."""
    from geodata.access import AccessParams
    from geodata.need import NeedParams

    access = AccessParams()
    need = NeedParams()
    radii = ", ".join(
        f"{valeur(m)} min ({valeur(round(access.radius_m(m) / 1000, 1))} km)"
        for m, _ in access.steps
    )

    return [
        ("h", 3, "3.2. Besoin et couverture existante"),
        (
            "ul",
            [
                "Personnes éloignées du numérique par commune : population INSEE × indice de "
                "fragilité numérique de La MedNum (100 = moyenne de la région) × facteur "
                "régional, calibré pour totaliser "
                f"{valeur(need.national_total)} personnes. Facteur régional = (chômage régional "
                f"/ chômage national)^{valeur(need.unemployment_exponent)} × (1 + "
                f"{valeur(need.zrr_weight)} × part de la population en ZRR) / (même terme "
                "national).",
                "Zone desservie : la commune (COMMUNE), les communes de l'intercommunalité "
                "(EPCI), du département (DEPARTEMENT) ou de la région (REGION) ; pour les autres "
                f"types, la commune et les communes à moins de {valeur(access.steps[0][0])} "
                "minutes ; ou la liste déclarée par la structure.",
                "Offre existante à portée (méthode E2SFCA, comme l'APL de la DREES) : temps de "
                f"trajet estimé par la distance à vol d'oiseau × {valeur(access.detour)} à "
                f"{valeur(access.speed_kmh)} km/h (pas de réseau routier) ; poids "
                + " ; ".join(f"{valeur(w)} jusqu'à {valeur(m)} min" for m, w in access.steps)
                + f", 0 au-delà (rayons à vol d'oiseau : {radii}).",
                "Personnes nouvellement à portée grâce au k-ième poste d'une zone de P personnes "
                f"fragiles déjà servie par E conseillers-équivalents : P (e^(−(E+k−1)C/P) − "
                f"e^(−(E+k)C/P)) avec C = {valeur(access.capacity)} personnes par conseiller : "
                "chaque poste de plus apporte un peu moins que le précédent.",
            ],
        ),
    ]


def _priority() -> list[Block]:
    """3.3. Priority of each post, and the départements' fair shares."""
    from allocator.model import QUALITY_FLOOR

    return [
        ("h", 3, "3.3. Priorité de chaque poste"),
        (
            "p",
            "Chaque poste possible (structure i, son k-ième poste du tour) reçoit une priorité, "
            "somme de trois composantes :",
        ),
        (
            "ul",
            [
                "accès = poids accès × facteur qualité × personnes nouvellement à portée, où "
                f"facteur qualité = max(note, {valeur(QUALITY_FLOOR)}) / 100 (× la pénalité "
                "d'avis défavorable sous la règle « penaliser ») ;",
                "répartition dans le département = poids répartition × besoin de "
                "l'intercommunalité (partie dans le département) / (conseillers présents + "
                "postes attribués par le tour + 1/2) ;",
                "équilibre entre départements = poids équilibre × besoin du département / "
                "(conseillers présents + postes attribués par le tour + 1/2) (méthode de "
                "Sainte-Laguë).",
            ],
        ),
        (
            "p",
            "Chaque département a une part équitable de l'enveloppe nationale, proportionnelle "
            "à son besoin (méthode de Webster) ; elle est un plafond lorsque le plafond "
            "départemental « part_equitable » est choisi, et le résultat dit quand ces plafonds "
            "ont arrêté le tour (contrainteLiante « plafondDepartement »).",
        ),
    ]


def _allocation() -> list[Block]:
    """3.4. Allocation and tie-breaking."""
    from allocator.model import SCALE
    from service.explanations.legal import DEPARTAGE

    return [
        ("h", 3, "3.4. Attribution et départage"),
        (
            "ul",
            [
                "Les postes sont attribués un par un, à chaque fois au poste de plus forte "
                "priorité, jusqu'à épuisement du quota du tour, de l'enveloppe nationale restante "
                "ou du budget. Le seuil du tour est la priorité du dernier poste attribué.",
                f"{DEPARTAGE} Les calculs sont faits en nombres entiers (valeurs × "
                f"{valeur(SCALE)}) : aucune égalité ne dépend d'arrondis de la machine.",
                "Un verrou du comité fixe le nombre de postes d'une structure pour le tour ; les "
                "autres postes sont recalculés autour de lui. Seul le comité en pose un, avec un "
                "motif, son auteur et sa date ; il reste dans les bornes de la structure (demande "
                "restante, plafond par structure, éligibilité) et peut être levé, avec un motif. "
                "Aucune donnée transmise par le portail ne fixe un nombre de postes.",
            ],
        ),
    ]


def _cost() -> list[Block]:
    """3.5. Cost of a post for the State, co-funding and budget."""
    from allocator.model import COFUNDING_PRIORITY_CAP
    from allocator.programme import COST_PER_POST_EUR, COST_PER_POST_PRIVATE_EUR

    return [
        ("h", 3, "3.5. Coût d'un poste pour l'État"),
        (
            "ul",
            [
                f"Employeur public en métropole : {valeur(COST_PER_POST_EUR['metro'])} euros ; "
                f"Guadeloupe, Martinique, Guyane : {valeur(COST_PER_POST_EUR['971-973'])} euros ; "
                f"La Réunion, Mayotte : {valeur(COST_PER_POST_EUR['974-976'])} euros ; "
                f"employeur privé : {valeur(COST_PER_POST_PRIVATE_EUR)} euros (moins le "
                "cofinancement déclaré).",
                "Cofinancement : une structure d'accueil peut déclarer qu'elle prend en charge "
                "une partie du coût de chaque poste, en euros (cofinancementEur) ou en part du "
                "coût standard (cofinancementPart, de 0 à 1), l'un ou l'autre. Le coût pour "
                "l'État est le coût standard moins ce cofinancement, jamais négatif ; coût pour "
                "l'État + cofinancement = coût standard, par poste et dans les totaux.",
                "Un tour peut avoir un budget en euros à côté de son quota en postes : les deux "
                "sont respectés et le résultat dit lequel a arrêté le tour (contrainteLiante). "
                "Lorsque les coûts diffèrent (outre-mer, cofinancements) et que le budget limite "
                "le tour, le calcul devient un problème de sac à dos : en mode « monotone », la "
                "liste de priorités est suivie et un poste qui ne tient plus dans le budget est "
                "sauté (motif BUDGET_EPUISE) ; le résultat indique les garanties conservées et "
                "perdues et l'écart à l'optimum calculé par le solveur (prix de la monotonie).",
                "Effet du cofinancement sur la priorité (paramètre cofunding_priority) : par "
                "défaut « neutre », il ne change pas la priorité, pour que les collectivités qui "
                "peuvent payer ne soient pas favorisées — le besoin d'abord ; avec un budget, un "
                "poste cofinancé coûte moins au budget. En « prioritaire », la composante accès "
                "d'un poste est multipliée par min("
                f"{valeur(COFUNDING_PRIORITY_CAP)}, coût standard / coût pour l'État) ; les "
                "garanties de la section 8 restent vraies pour cette priorité modifiée, et le "
                "résultat chiffre ce qu'elle coûte au regard du besoin.",
            ],
        ),
    ]


def _parameters() -> list[Block]:
    """4.–6. The parameters of a round, of the solver and of the territory, with their defaults."""
    from allocator import SolverConfig
    from geodata.access import AccessParams
    from geodata.need import NeedParams
    from service.explanations.legal import SOLVER_DOCS

    return [
        ("h", 2, "4. Paramètres d'un tour et valeurs par défaut"),
        (
            "p",
            "Chaque tour peut modifier ces paramètres par le champ « politique » de sa demande ; "
            "les valeurs appliquées sont enregistrées avec le résultat.",
        ),
        (
            "table",
            ["paramètre", "clé de la demande", "libellé", "valeur par défaut", "effet"],
            policy_rows(),
        ),
        ("h", 2, "5. Paramètres de calcul du solveur"),
        (
            "table",
            ["paramètre", "rôle", "valeur par défaut"],
            _simple_rows(SolverConfig, SOLVER_DOCS),
        ),
        ("h", 2, "6. Paramètres territoriaux"),
        (
            "table",
            ["paramètre", "rôle", "valeur par défaut"],
            _simple_rows(AccessParams, ACCESS_DOCS) + _simple_rows(NeedParams, NEED_DOCS),
        ),
    ]


def _motifs() -> list[Block]:
    """7. Motif codes of the decisions with their French wording."""
    from allocator import motifs
    from service.explanations.legal import MOTIF_LIBELLES

    return [
        ("h", 2, "7. Motifs des décisions"),
        (
            "table",
            ["code", "signification"],
            [[f"`{m}`", MOTIF_LIBELLES.get(m, UNDOCUMENTED)] for m in motifs.ALL_MOTIFS],
        ),
    ]


def _guarantees() -> list[Block]:
    """8. Guarantees of the result."""
    from allocator import SolverConfig
    from allocator.solve import ORTOOLS_VERSION

    return [
        ("h", 2, "8. Garanties"),
        (
            "ul",
            [
                "Optimalité : la proposition maximise la somme des priorités attribuées ; chaque "
                f"résultat est certifié par un solveur OR-Tools (version {ORTOOLS_VERSION}) et "
                "vérifié par un contrôle indépendant de toutes les règles.",
                "Monotonie : augmenter le quota d'un tour ne retire jamais un poste à personne "
                "(les attributions sont emboîtées).",
                "Ces garanties valent sans budget en euros, ou avec des coûts égaux ; lorsqu'un "
                "budget limite un tour aux coûts inégaux, le résultat liste celles qui restent "
                "vraies (rapport.guarantees) et le prix de celles qui ne le sont plus. La "
                "monotonie n'y est annoncée que si elle est vraie du résultat : en mode "
                "« optimal », le tour est recalculé au quota diminué d'un poste, et aucun poste "
                "de ce calcul ne doit manquer au résultat.",
                "Reproductibilité : la même demande donne le même résultat, à l'octet près "
                "(hors durée de calcul) ; l'empreinte SHA-256 des données d'entrée "
                "(entreeSha256) et tous les paramètres sont enregistrés avec le résultat, qui "
                "peut être rejoué.",
                "Aucune part de hasard : pas de tirage aléatoire, ordre de départage publié.",
                "Explication vérifiée : lorsque le tour suit une liste de priorités emboîtées, "
                "la note de projet qui aurait valu un poste de plus est calculée exactement pour "
                "chaque structure, et vérifiée en recalculant le tour pour les "
                f"{valeur(SolverConfig().counterfactual_reruns)} structures les plus proches du "
                "seuil. Lorsqu'un budget en euros limite un tour aux coûts inégaux, aucune note "
                "n'est présentée comme un seuil : une note n'est donnée que si un nouveau calcul "
                "du tour avec elle a vérifié le poste de plus (recherche limitée au même nombre "
                "de structures), et l'explication dit sinon qu'aucun seuil exact n'est connu.",
                "Les explications n'utilisent aucune donnée propre aux autres candidats : seul "
                "le seuil du tour est commun à tous.",
            ],
        ),
    ]


def _rights() -> list[Block]:
    """9. Rights and remedies, and the legal references."""
    from service.explanations.legal import (
        CONTACT_ANCT,
        CONTACT_CADA,
        REFERENCES_LEGALES,
        VOIES_DE_RECOURS,
    )

    return [
        ("h", 2, "9. Droits et recours"),
        (
            "ul",
            [
                "Toute structure peut obtenir la communication des règles de ce traitement et "
                "de leurs principales caractéristiques de mise en œuvre à son égard (articles "
                f"L311-3-1 et R311-3-1-2) en écrivant à : {CONTACT_ANCT}.",
                "En cas de refus ou d'absence de réponse dans un délai d'un mois, elle peut "
                f"saisir dans les deux mois la {CONTACT_CADA}.",
                *VOIES_DE_RECOURS,
            ],
        ),
        (
            "p",
            f"Références : {' ; '.join(REFERENCES_LEGALES)}. Détail des fichiers de données, "
            "de leurs versions et de leurs empreintes : DATA.md du dépôt.",
        ),
    ]


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("conseillers-numeriques-allocator")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "source"


# -- rendering ------------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(items: Iterable[Block]) -> str:
    out: list[str] = []
    for b in items:
        kind = b[0]
        if kind == "h":
            out += ["#" * b[1] + " " + b[2], ""]
        elif kind == "p":
            out += [b[1], ""]
        elif kind == "ul":
            out += [f"- {item}" for item in b[1]] + [""]
        elif kind == "table":
            headers: Sequence[str] = b[1]
            out.append("| " + " | ".join(headers) + " |")
            out.append("|" + "|".join("---" for _ in headers) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b[2]]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


_CODE = re.compile(r"`([^`]+)`")


def _inline(text: str) -> str:
    return _CODE.sub(r"<code>\1</code>", html.escape(text, quote=False))


def to_html(items: Iterable[Block]) -> str:
    from service.explanations.render import page_html

    out: list[str] = []
    title = "Notice publique"
    for b in items:
        kind = b[0]
        if kind == "h":
            if b[1] == 1:
                title = b[2]
            out.append(f"<h{b[1]}>{_inline(b[2])}</h{b[1]}>")
        elif kind == "p":
            out.append(f"<p>{_inline(b[1])}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in b[1]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{_inline(h)}</th>" for h in b[1])
            rows = "".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in b[2]
            )
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    return page_html(title, "\n".join(out))


@cache
def render(fmt: str = "md") -> str:
    """The notice as Markdown (``md``) or a standalone HTML page (``html``); cached per process."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    items = blocks()
    return to_markdown(items) if fmt == "md" else to_html(items)
