"""Scenario comparison: a baseline round and N policy variants solved on the same applicants.

Analysts compare policies before a round (other quotas, weights, envelope rules, eligibility,
fairness modes). One call prepares the round once — the geodata numbers of the applicants
(service areas, need, existing offer, marginal gains:
:func:`service.application.pipeline.prepare_round`) —
and re-runs only the engine for every variant (:func:`service.application.pipeline.solve_prepared`).
The CLI (``allocator scenario compare``), the HTTP API (``POST /v1/scenarios``) and the
notebooks call :func:`compare` / :func:`compare_payload`; nothing is computed twice.

What a comparison holds (JSON keys in French, like the contract)
----------------------------------------------------------------
- ``base`` and every ``variantes[j]``: effective policy (contract names), status, posts,
  State cost (``coutEtatEur``), objective and its terms, equity metrics before/after
  (:func:`service.analysis.metrics.round_equity`: share of posts away from the need-proportional
  split,
  need-weighted Gini and Theil of posts per 10,000 fragile inhabitants across départements,
  fragile population with an advisor within reach).
- per variant, ``changements`` (policy fields and quota that differ from the baseline),
  ``ecarts`` (differences of the totals and metrics), ``structures`` (every structure whose
  grant moved, with its motifs, the priority of the first differing post and the round's
  cut-off before/after, a ``mecanisme`` code and the ``causes``: the changed fields that move
  this structure the same way when changed alone, or whose reversion alone shrinks its move —
  ``["interaction"]`` when none does; see :class:`Attribution`) and
  ``departements`` (posts of the round against each département's fair share).
- ``prixEquite``: for every fairness rule active in the baseline (``poidsEquilibre``,
  ``poidsRepartition``, ``plafondDepartement == "part_equitable"``), the baseline re-solved with
  the rule switched off, and its price — see :func:`price_of_rule`.

Determinism: same inputs → same comparison (no timings in it; structures sorted by ``ecart``
then ``idPG``, départements by code).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    WithJsonSchema,
)

import geodata
from allocator import RoundPolicy, SolverConfig, motifs
from service.analysis import metrics
from service.application.adapter import POLICY_FIELDS, policy_from_request
from service.application.history import DEMO_SEED, portal_documents
from service.application.pipeline import PreparedRound, prepare_round, solve_prepared
from service.contract.schemas import (
    DEFAULT_MAX_SCENARIO_STRUCTURES,
    DEFAULT_MAX_STRUCTURES,
    FieldError,
    InvalidRequest,
    PolitiqueIn,
    Posts,
    RoundRequest,
    check_structure_count,
    field_errors,
    parse_model,
    parse_round_request,
)

#: Most variants one comparison may hold (HTTP and CLI alike): 20 national variants with their
#: causes and fairness prices stay under a minute on 2 cores.
MAX_VARIANTS = 20

#: Solver configuration of scenario runs: the engine's defaults without the counterfactual
#: re-runs (they only *verify* each applicant's closed-form counterfactual score, which a
#: comparison does not show; grants, priorities and motifs are identical).
DEFAULT_CONFIG = SolverConfig(counterfactual_reruns=0)

_CONTRACT_NAMES = {engine: contract for contract, engine in POLICY_FIELDS.items()}


@dataclass(frozen=True)
class FairnessRule:
    """A fairness rule of the policy, how to tell it is on, and its "switched off" value."""

    champ: str
    libelle: str
    off: Any

    def active(self, politique: Mapping[str, Any]) -> bool:
        value = politique.get(self.champ)
        return value != self.off and value is not None


FAIRNESS_RULES: tuple[FairnessRule, ...] = (
    FairnessRule(
        "poidsEquilibre", "équilibre entre départements (Sainte-Laguë sur le besoin)", 0.0
    ),
    FairnessRule("poidsRepartition", "répartition entre EPCI au sein du département", 0.0),
    FairnessRule("plafondDepartement", "plafond à la part équitable du département", "aucun"),
)

#: Motif present on one side only → mechanism code of a moved structure (first match wins).
_MECHANISMS: tuple[tuple[str, str], ...] = (
    (motifs.VERROUILLE, "VERROU"),
    (motifs.TYPE_NON_ELIGIBLE, "ELIGIBILITE"),
    (motifs.AVIS_PREFET_NEGATIF, "AVIS_PREFET"),
    (motifs.SCORE_INSUFFISANT, "SCORE_MINIMUM"),
    (motifs.PLAFOND_STRUCTURE, "PLAFOND_STRUCTURE"),
    (motifs.PART_DEPARTEMENT_ATTEINTE, "PART_DEPARTEMENT"),
    (motifs.BUDGET_EPUISE, "BUDGET"),
    (motifs.ENVELOPPE_NATIONALE_EPUISEE, "ENVELOPPE_NATIONALE"),
)

METHODE = (
    "Chaque variante est résolue sur les mêmes candidatures et les mêmes données territoriales "
    "que la base (calculées une fois). Équité : part des postes hors répartition proportionnelle "
    "au besoin, Gini et Theil (pondérés par le besoin) des postes pour 10 000 habitants fragiles "
    "entre départements, population fragile ayant un conseiller à portée (E2SFCA, distance à vol "
    "d'oiseau). Causes : champs modifiés qui, changés seuls, déplacent la structure dans le même "
    "sens, ou dont le seul retour à la base réduit son écart. Prix d'une règle d'équité : la "
    "base résolue sans la règle ; perteX = X sans la règle − X avec (perteObjectif >= 0 : "
    "l'objectif sans la règle, de sa solution moins de celle de la base ; négatif pour la "
    "couverture : la règle en fait gagner) ; gainGini, gainTheil, gainPartHorsBesoin > 0 : la "
    "règle rend la répartition plus équitable."
)


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """A policy variant: ``politique`` overrides the baseline's fields; ``quota`` its quota."""

    nom: str
    politique: Mapping[str, Any] = field(default_factory=dict)
    quota: int | None = None


class _VariantIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    # "base" names the baseline (refused, as duplicates are: :func:`parse_scenarios`).
    nom: Annotated[
        str,
        Field(min_length=1, max_length=80),
        WithJsonSchema(
            {"type": "string", "minLength": 1, "maxLength": 80, "pattern": "^[^\\u0000]*$"}
            | {"not": {"const": "base"}}
        ),
    ]
    politique: PolitiqueIn | None = None
    quota: Posts | None = None


class ScenariosIn(BaseModel):
    """Body of ``POST /v1/scenarios`` and file of ``allocator scenario compare``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    requete: RoundRequest
    variantes: Annotated[list[_VariantIn], Field(min_length=1, max_length=MAX_VARIANTS)]
    prixEquite: StrictBool = True
    causes: StrictBool = True


def parse_scenarios(payload: Any, max_structures: int = DEFAULT_MAX_STRUCTURES) -> ScenariosIn:
    """Validate a scenarios document; raise :class:`InvalidRequest` naming every bad field.

    The request holds at most ``max_structures`` structures and :data:`MAX_VARIANTS` variants.
    """
    if isinstance(payload, dict):
        check_structure_count(payload.get("requete"), max_structures, "requete.structures")
    doc: ScenariosIn = parse_model(ScenariosIn, payload)
    names = [v.nom for v in doc.variantes]
    dup = sorted({n for n in names if names.count(n) > 1 or n == "base"})
    if dup:
        raise InvalidRequest(
            [FieldError("variantes", f"noms de variantes en double ou réservés : {dup}")]
        )
    return doc


def planned_resolutions(doc: ScenariosIn) -> int:
    """Most solves a comparison of ``doc`` may run (the cache may save some).

    The base and each variant; with ``causes``, each variant changing more than one field
    (policy fields it sets, and its quota) solves each change alone and each reverted alone;
    with ``prixEquite``, each fairness rule once.
    """
    n = 1 + len(doc.variantes)
    if doc.causes:
        for v in doc.variantes:
            fields = 0 if v.politique is None else len(v.politique.model_dump(exclude_none=True))
            k = fields + (v.quota is not None)
            if k > 1:
                n += 2 * k
    if doc.prixEquite:
        n += len(FAIRNESS_RULES)
    return n


def check_batch_size(doc: ScenariosIn, limit: int = DEFAULT_MAX_SCENARIO_STRUCTURES) -> None:
    """Refuse a comparison that may solve more than ``limit`` structures in all (HTTP).

    Structures × :func:`planned_resolutions`; raises :class:`InvalidRequest` (422) naming the
    limit (``ALLOCATOR_MAX_SCENARIO_STRUCTURES``) and the ways to shrink the comparison.
    """
    n, solves = len(doc.requete.structures), planned_resolutions(doc)
    if n * solves > limit:
        raise InvalidRequest(
            [
                FieldError(
                    "variantes",
                    f"comparaison trop lourde : {n} structures × {solves} résolutions prévues "
                    f"= {n * solves} > {limit} (ALLOCATOR_MAX_SCENARIO_STRUCTURES) ; réduire "
                    "les variantes ou les structures, ou désactiver causes ou prixEquite",
                )
            ],
            detail=f"Comparaison trop lourde : au plus {limit} structures résolues en tout.",
        )


def variants_of(doc: ScenariosIn) -> list[Variant]:
    return [
        Variant(
            nom=v.nom,
            politique={} if v.politique is None else v.politique.model_dump(exclude_none=True),
            quota=v.quota,
        )
        for v in doc.variantes
    ]


def national_request(quota: int | None = None, seed: int = DEMO_SEED) -> dict[str, Any]:
    """The national case: every bundled 2021 host (1,443 with a commune code) in one round.

    The whole first wave applies at once against an empty programme (``conseillersExistants``
    is ``[]``); the quota defaults to 70 % of what public hosts ask, as in
    :func:`service.application.history.demo_request`. Synthetic fields (scores, préfet opinions,
    submission
    times) come from :func:`service.application.history.portal_documents` with the same fixed seed.
    """
    table = geodata.load_structures_2021()
    table = table[table["code_insee_2026"].notna()]
    docs = portal_documents(table, seed=seed)
    asked = sum(d["nombreConseillersSouhaites"] for d in docs if d["type"] != "PRIVATE")
    return {
        "quota": quota if quota is not None else round(0.7 * asked),
        "mois": "2021-05",
        "structures": docs,
        "conseillersExistants": [],
    }


def effective_politique(policy: RoundPolicy) -> dict[str, Any]:
    """Every field of ``policy`` under its contract name (``politique``), JSON-ready."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(policy):
        if f.name not in _CONTRACT_NAMES:  # an engine field the contract does not expose
            continue
        value = getattr(policy, f.name)
        if f.name == "eligible_types":
            value = [t.value for t in value]
        out[_CONTRACT_NAMES[f.name]] = value
    return out


def standard_variants(request: RoundRequest) -> list[Variant]:
    """A standard set of variants around the request's policy (CLI default, notebooks)."""
    pol = effective_politique(policy_from_request(request))
    out = []
    types = list(pol["typesEligibles"])
    if "PRIVATE" not in types:
        out.append(Variant("hotes_prives_admis", {"typesEligibles": [*types, "PRIVATE"]}))
    out.append(Variant("sans_equilibre", {"poidsEquilibre": 0.0}))
    out.append(Variant("equilibre_double", {"poidsEquilibre": 2 * pol["poidsEquilibre"] or 1.0}))
    out.append(Variant("acces_double", {"poidsAcces": 2 * pol["poidsAcces"] or 1.0}))
    cap = "aucun" if pol["plafondDepartement"] == "part_equitable" else "part_equitable"
    out.append(Variant(f"plafond_{cap}", {"plafondDepartement": cap}))
    out.append(
        Variant(
            "avis_negatif_penalise" if pol["avisPrefetNegatif"] == "exclure" else "avis_exclu",
            {
                "avisPrefetNegatif": "penaliser"
                if pol["avisPrefetNegatif"] == "exclure"
                else "exclure"
            },
        )
    )
    out.append(Variant("quota_plus_10pct", quota=math.ceil(request.quota * 1.1)))
    return out


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScenarioRun:
    """One solved policy on the prepared round.

    Attributes
    ----------
    nom
        ``base``, the variant's name, or ``sans:<champ>`` / ``seul:<champ>`` for the runs made
        for fairness prices and causes.
    politique
        The effective policy (every field, contract names).
    quota
        The quota solved.
    result
        The contract result (:func:`service.application.pipeline.solve_prepared`).
    equity
        :func:`service.analysis.metrics.round_equity` of the result (``None`` when INFEASIBLE).
    """

    nom: str
    politique: dict[str, Any]
    quota: int
    result: dict[str, Any]
    equity: dict[str, Any] | None

    @property
    def solved(self) -> bool:
        return self.result["status"] != "INFEASIBLE"

    def grants(self) -> dict[int, int]:
        """Posts of this round by idPG."""
        return {d["idPG"]: d["nombreConseillersAttribues"] for d in self.result["decisions"]}

    def grants_by_commune(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.result["decisions"]:
            if d["nombreConseillersAttribues"]:
                code = d["explication"]["territoire"]["codeCommune"]
                out[code] = out.get(code, 0) + d["nombreConseillersAttribues"]
        return out

    def grants_by_departement(self) -> dict[str, int]:
        posts = self.result.get("rapport", {}).get("posts_per_departement") or {}
        return {str(k): int(v) for k, v in posts.items()}

    def fair_shares(self) -> dict[str, int]:
        return dict(self.result.get("rapport", {}).get("fair_shares") or {})

    def terms(self) -> dict[str, float]:
        return dict(self.result.get("rapport", {}).get("objective_terms") or {})

    def summary(self) -> dict[str, Any]:
        r = self.result
        out: dict[str, Any] = {
            "nom": self.nom,
            "politique": self.politique,
            "quota": self.quota,
            "statut": r["status"],
            "attribues": r["totaux"]["attribues"] if self.solved else 0,
            "coutEtatEur": r["totaux"]["coutEtatEur"] if self.solved else 0.0,
            "structuresRetenues": sum(
                1 for d in r["decisions"] if d["nombreConseillersAttribues"] > 0
            ),
            "objectif": r["solveur"]["objectif"],
            "termes": self.terms(),
            "equite": self.equity,
        }
        if r.get("conflits"):
            out["conflits"] = list(r["conflits"])
        return out


class ScenarioRunner:
    """Solves policies on one prepared round; identical (politique, quota) are solved once.

    Parameters
    ----------
    prepared
        The round's applicants and their geodata numbers
        (:func:`service.application.pipeline.prepare_round`).
    config
        Solver configuration of every run (default: :data:`DEFAULT_CONFIG`).
    """

    def __init__(self, prepared: PreparedRound, config: SolverConfig | None = None) -> None:
        self.prepared = prepared
        self.config = config or DEFAULT_CONFIG
        self.base_politique = effective_politique(policy_from_request(prepared.request))
        self._cache: dict[str, tuple[dict[str, Any], dict[str, Any] | None]] = {}
        self.solves = 0

    def policy(self, politique: Mapping[str, Any], where: str = "politique") -> RoundPolicy:
        """The engine policy of the baseline overridden by ``politique`` (contract names)."""
        base = self.prepared.request.politique
        merged = {} if base is None else base.model_dump(exclude_none=True)
        merged.update({k: v for k, v in politique.items() if v is not None})
        try:
            pol = PolitiqueIn.model_validate(merged)
        except ValidationError as exc:
            raise InvalidRequest(field_errors(exc, where)) from None
        return policy_from_request(self.prepared.request.model_copy(update={"politique": pol}))

    def run(
        self, nom: str, politique: Mapping[str, Any] | None = None, quota: int | None = None
    ) -> ScenarioRun:
        policy = self.policy(politique or {})
        effective = effective_politique(policy)
        q = self.prepared.request.quota if quota is None else int(quota)
        key = json.dumps([effective, q], sort_keys=True)
        if key not in self._cache:
            result = solve_prepared(self.prepared, policy, quota=q, config=self.config)
            equity = (
                None
                if result["status"] == "INFEASIBLE"
                else metrics.round_equity(result, self.prepared.existing)
            )
            self._cache[key] = (result, equity)
            self.solves += 1
        result, equity = self._cache[key]
        return ScenarioRun(nom=nom, politique=effective, quota=q, result=result, equity=equity)


# --------------------------------------------------------------------------------------------
# Differences
# --------------------------------------------------------------------------------------------
def changes(base: ScenarioRun, other: ScenarioRun) -> list[dict[str, Any]]:
    """Policy fields (contract names) and quota that differ, in the policy's field order."""
    out = [
        {"champ": k, "base": v, "variante": other.politique[k]}
        for k, v in base.politique.items()
        if other.politique[k] != v
    ]
    if other.quota != base.quota:
        out.append({"champ": "quota", "base": base.quota, "variante": other.quota})
    return out


def _mechanism(before: set[str], after: set[str]) -> str:
    for motif, code in _MECHANISMS:
        if (motif in before) != (motif in after):
            return code
    return "PRIORITE"


def _delta(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return b - a


def _equity_deltas(base: ScenarioRun, other: ScenarioRun) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attribues": other.summary()["attribues"] - base.summary()["attribues"],
        "coutEtatEur": other.summary()["coutEtatEur"] - base.summary()["coutEtatEur"],
        "objectif": _delta(base.result["solveur"]["objectif"], other.result["solveur"]["objectif"]),
        "acces": _delta(base.terms().get("access"), other.terms().get("access")),
    }
    if base.equity is not None and other.equity is not None:
        b, o = base.equity["apres"], other.equity["apres"]
        out.update(
            {
                "partHorsBesoin": o["share_away_from_need"] - b["share_away_from_need"],
                "gini": o["gini"] - b["gini"],
                "theil": o["theil"] - b["theil"],
                "populationFragileAPortee": o["fragile_within_reach"] - b["fragile_within_reach"],
            }
        )
    return out


def _priority_at(decision: Mapping[str, Any], k: int) -> float | None:
    priorities = decision["explication"].get("priorites") or []
    return priorities[k] if k < len(priorities) else None


@dataclass(frozen=True)
class Attribution:
    """Runs that attribute a multi-field variant's moves to its fields.

    ``alone[f]``: the baseline with only ``f`` changed; ``without[f]``: the variant with only
    ``f`` reverted to the baseline. A field is a *cause* of a structure's move when changing it
    alone moves the structure the same way, or when reverting it alone shrinks the move.
    """

    alone: Mapping[str, ScenarioRun]
    without: Mapping[str, ScenarioRun]


def structure_moves(
    prepared: PreparedRound,
    base: ScenarioRun,
    other: ScenarioRun,
    attribution: Attribution | None = None,
) -> list[dict[str, Any]]:
    """Every structure whose grant differs between ``base`` and ``other``, with its causes.

    With one changed field, it is the cause of every move. With several, ``attribution`` gives
    the causes (:class:`Attribution`; ``["interaction"]`` when no field qualifies alone); without
    it, ``causes`` is empty.
    """
    if not (base.solved and other.solved):
        return []
    names = {s.idPG: (s.nom, s.type) for s in prepared.request.structures}
    b_dec = {d["idPG"]: d for d in base.result["decisions"]}
    o_dec = {d["idPG"]: d for d in other.result["decisions"]}
    alone = {k: r.grants() for k, r in (attribution.alone if attribution else {}).items()}
    without = {k: r.grants() for k, r in (attribution.without if attribution else {}).items()}
    changed = [c["champ"] for c in changes(base, other)]
    rows = []
    for id_pg in sorted(b_dec):
        bd, od = b_dec[id_pg], o_dec[id_pg]
        b, o = bd["nombreConseillersAttribues"], od["nombreConseillersAttribues"]
        if b == o:
            continue
        sign = 1 if o > b else -1
        if len(changed) == 1:
            causes = list(changed)
        elif attribution is None:
            causes = []
        else:
            causes = [
                f
                for f in changed
                if (f in alone and alone[f] and (alone[f][id_pg] - b) * sign > 0)
                or (f in without and without[f] and (o - without[f][id_pg]) * sign > 0)
            ] or ["interaction"]
        k = min(b, o)
        t = bd["explication"]["territoire"]
        nom, kind = names[id_pg]
        rows.append(
            {
                "idPG": id_pg,
                "nom": nom,
                "type": kind,
                "codeCommune": t["codeCommune"],
                "departement": t["departement"],
                "base": b,
                "variante": o,
                "ecart": o - b,
                "motifsBase": bd["motifs"],
                "motifsVariante": od["motifs"],
                "mecanisme": _mechanism(set(bd["motifs"]), set(od["motifs"])),
                "causes": causes,
                "priorite": {
                    "poste": k + 1,
                    "base": _priority_at(bd, k),
                    "variante": _priority_at(od, k),
                },
                "seuil": {
                    "base": bd["explication"].get("seuil"),
                    "variante": od["explication"].get("seuil"),
                },
            }
        )
    rows.sort(key=lambda r: (r["ecart"], r["idPG"]))
    return rows


def departement_rows(
    prepared: PreparedRound, base: ScenarioRun, other: ScenarioRun
) -> list[dict[str, Any]]:
    """Posts of the round per département against fair shares, base and variant (by code)."""
    b, o = base.grants_by_departement(), other.grants_by_departement()
    bfs, ofs = base.fair_shares(), other.fair_shares()
    rows = []
    for d in prepared.geo.departements:
        pb, po = b.get(d.code, 0), o.get(d.code, 0)
        fb, fo = bfs.get(d.code), ofs.get(d.code)
        rows.append(
            {
                "code": d.code,
                "nom": d.nom,
                "besoin": round(d.need, 1),
                "existants": d.existing,
                "partEquitable": fb,
                "base": pb,
                "variante": po,
                "ecart": po - pb,
                "ecartPartBase": None if fb is None else d.existing + pb - fb,
                "ecartPartVariante": None if fo is None else d.existing + po - fo,
            }
        )
    return rows


def diff(
    prepared: PreparedRound,
    base: ScenarioRun,
    other: ScenarioRun,
    attribution: Attribution | None = None,
) -> dict[str, Any]:
    """The comparison block of ``other`` against ``base``."""
    moves = structure_moves(prepared, base, other, attribution)
    return {
        "nom": other.nom,
        "changements": changes(base, other),
        "resultat": other.summary(),
        "ecarts": _equity_deltas(base, other),
        "gagnants": sum(1 for m in moves if m["ecart"] > 0),
        "perdants": sum(1 for m in moves if m["ecart"] < 0),
        "postesDeplaces": sum(abs(m["ecart"]) for m in moves),
        "structures": moves,
        "departements": departement_rows(prepared, base, other) if other.solved else [],
    }


def price_of_rule(
    prepared: PreparedRound, base: ScenarioRun, off: ScenarioRun, rule: FairnessRule
) -> dict[str, Any]:
    """What a fairness rule costs: the baseline against the baseline without the rule.

    ``perteObjectif`` is ``F_off(x_off) − F_off(x_base)``, the objective *without* the rule
    lost by imposing it (>= 0 up to the solver's gap): for a weight switched off, ``F_off`` is
    the baseline objective minus the rule's term; for the département cap, the same objective.
    ``perteAcces`` is the access term (quality-weighted fragile inhabitants newly reached) lost,
    ``perteCouverture`` the fragile inhabitants with an advisor within reach lost; the equity
    fields are what the rule buys (metric without the rule minus with it: > 0 means the rule
    makes the split fairer). ``sansRegle`` lists who gains and who loses when it is switched off.
    """
    block = diff(prepared, base, off)
    price: dict[str, Any] = {}
    if base.solved and off.solved:
        term = {"poidsEquilibre": "balance", "poidsRepartition": "distribution"}.get(rule.champ)
        bt, ot = base.terms(), off.terms()
        f_off_base = sum(v for k, v in bt.items() if k != term)
        f_off = sum(ot.values())
        price["perteObjectif"] = f_off - f_off_base
        price["perteAcces"] = ot.get("access", 0.0) - bt.get("access", 0.0)
        if base.equity is not None and off.equity is not None:
            b, o = base.equity["apres"], off.equity["apres"]
            price["perteCouverture"] = o["fragile_within_reach"] - b["fragile_within_reach"]
            price["gainPartHorsBesoin"] = o["share_away_from_need"] - b["share_away_from_need"]
            price["gainGini"] = o["gini"] - b["gini"]
            price["gainTheil"] = o["theil"] - b["theil"]
        price["coutEtatEur"] = off.summary()["coutEtatEur"] - base.summary()["coutEtatEur"]
    return {
        "regle": rule.champ,
        "libelle": rule.libelle,
        "valeurBase": base.politique[rule.champ],
        "valeurSansRegle": rule.off,
        "prix": price,
        "sansRegle": block,
    }


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """A scenario comparison: the runs (for maps and tables) and its JSON-ready ``report``."""

    prepared: PreparedRound
    base: ScenarioRun
    variants: tuple[ScenarioRun, ...]
    prices: tuple[tuple[FairnessRule, ScenarioRun], ...]
    report: dict[str, Any]

    def run(self, nom: str) -> ScenarioRun:
        for r in (self.base, *self.variants):
            if r.nom == nom:
                return r
        for _, r in self.prices:
            if r.nom == nom:
                return r
        raise KeyError(f"no scenario named {nom!r}")


def attribute(runner: ScenarioRunner, base: ScenarioRun, run: ScenarioRun) -> Attribution:
    """Solve each changed field alone and each reverted alone (cached: shared runs are free)."""
    alone, without = {}, {}
    overrides = {k: v for k, v in run.politique.items() if v is not None}
    for c in changes(base, run):
        champ = c["champ"]
        if champ == "quota":
            alone[champ] = runner.run(f"seul:{champ}", {}, run.quota)
            without[champ] = runner.run(f"sauf:{champ}", overrides, base.quota)
        else:
            alone[champ] = runner.run(f"seul:{champ}", {champ: c["variante"]})
            reverted = {**overrides, champ: c["base"]}
            without[champ] = runner.run(f"sauf:{champ}", reverted, run.quota)
    return Attribution(
        alone={k: r for k, r in alone.items() if r.solved},
        without={k: r for k, r in without.items() if r.solved},
    )


def compare_prepared(
    prepared: PreparedRound,
    variants: Sequence[Variant],
    *,
    fairness_prices: bool = True,
    causes: bool = True,
    config: SolverConfig | None = None,
    runner: ScenarioRunner | None = None,
) -> Comparison:
    """Compare the baseline (the request's policy and quota) with ``variants``.

    Parameters
    ----------
    prepared
        The prepared round (:func:`service.application.pipeline.prepare_round`).
    variants
        At most :data:`MAX_VARIANTS`, with distinct names (not ``base``).
    fairness_prices
        Also price every fairness rule active in the baseline.
    causes
        Attribute each move to the changed fields by solving each change alone (variants with
        one change need no extra solve).
    config
        Solver configuration of every run.
    runner
        A runner to reuse (its cache of solved policies), else a new one.

    Raises
    ------
    service.contract.schemas.InvalidRequest
        Too many variants, duplicate names, or a variant policy that fails validation.
    """
    if len(variants) > MAX_VARIANTS:
        raise InvalidRequest(
            [FieldError("variantes", f"au plus {MAX_VARIANTS} variantes ; reçu {len(variants)}")]
        )
    names = [v.nom for v in variants]
    if len(set(names)) != len(names) or "base" in names:
        raise InvalidRequest([FieldError("variantes", "noms de variantes en double ou réservés")])
    runner = runner or ScenarioRunner(prepared, config)
    base = runner.run("base")
    runs = []
    blocks = []
    for j, v in enumerate(variants):
        try:
            run = runner.run(v.nom, v.politique, v.quota)
        except InvalidRequest as exc:
            raise InvalidRequest(
                [FieldError(f"variantes[{j}].{e.champ}", e.message) for e in exc.errors]
            ) from None
        runs.append(run)
        attribution = None
        if causes and base.solved and run.solved and len(changes(base, run)) > 1:
            attribution = attribute(runner, base, run)
        blocks.append(diff(prepared, base, run, attribution))
    prices = []
    price_blocks = []
    if fairness_prices and base.solved:
        for rule in FAIRNESS_RULES:
            if rule.active(base.politique):
                off = runner.run(f"sans:{rule.champ}", {rule.champ: rule.off})
                prices.append((rule, off))
                price_blocks.append(price_of_rule(prepared, base, off, rule))
    report = {
        "structures": len(prepared.request.structures),
        "mois": prepared.request.mois,
        "base": base.summary(),
        "variantes": blocks,
        "prixEquite": price_blocks,
        "resolutions": runner.solves,
        "methode": METHODE,
    }
    return Comparison(prepared, base, tuple(runs), tuple(prices), report)


def compare(
    request: RoundRequest,
    variants: Sequence[Variant],
    *,
    extra_existing: Mapping[str, int] | None = None,
    programme_consumed: int | None = None,
    fairness_prices: bool = True,
    causes: bool = True,
    config: SolverConfig | None = None,
) -> Comparison:
    """Prepare the round once (geodata numbers) and compare ``variants`` with the baseline.

    ``extra_existing`` and ``programme_consumed`` as in
    :func:`service.application.pipeline.run_round` (the
    store's state when the request omits ``conseillersExistants``:
    :func:`service.application.rounds.with_store_existing`).
    """
    prepared = prepare_round(
        request, extra_existing=extra_existing, programme_consumed=programme_consumed
    )
    return compare_prepared(
        prepared, variants, fairness_prices=fairness_prices, causes=causes, config=config
    )


def compare_payload(
    payload: Any, *, extra_existing: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """A scenarios document (HTTP body / CLI file) → the comparison report (JSON-ready)."""
    return compare_document(parse_scenarios(payload), extra_existing=extra_existing)


def compare_document(
    doc: ScenariosIn,
    *,
    extra_existing: Mapping[str, int] | None = None,
    programme_consumed: int | None = None,
) -> dict[str, Any]:
    """A validated scenarios document → the comparison report (JSON-ready)."""
    return compare(
        doc.requete,
        variants_of(doc),
        extra_existing=extra_existing,
        programme_consumed=programme_consumed,
        fairness_prices=doc.prixEquite,
        causes=doc.causes,
    ).report


# --------------------------------------------------------------------------------------------
# Tables (notebooks, CSV exports)
# --------------------------------------------------------------------------------------------
def departement_table(comparison: Comparison, variant: str | None = None) -> pd.DataFrame:
    """Per département: need, existing, fair share, posts of the base (and of ``variant``).

    Adds coverage per 10,000 fragile inhabitants before the round, after the base and after the
    variant (``couverture_*``).
    """
    other = comparison.run(variant) if variant else comparison.base
    rows = departement_rows(comparison.prepared, comparison.base, other)
    table = pd.DataFrame(rows).set_index("code")
    need = table["besoin"].where(table["besoin"] > 0)
    table["couverture_avant"] = table["existants"] / need * 1e4
    table["couverture_base"] = (table["existants"] + table["base"]) / need * 1e4
    table["couverture_variante"] = (table["existants"] + table["variante"]) / need * 1e4
    return table


def structure_table(comparison: Comparison, variant: str) -> pd.DataFrame:
    """The moved structures of ``variant`` as a table (one row per structure)."""
    block = next(b for b in comparison.report["variantes"] if b["nom"] == variant)
    rows = [
        {
            **{k: v for k, v in m.items() if k not in ("priorite", "seuil")},
            "causes": ", ".join(m["causes"]),
            "motifsBase": ", ".join(m["motifsBase"]),
            "motifsVariante": ", ".join(m["motifsVariante"]),
            "priorite_base": m["priorite"]["base"],
            "priorite_variante": m["priorite"]["variante"],
        }
        for m in block["structures"]
    ]
    return pd.DataFrame(rows)


def parse_request(payload: Any) -> RoundRequest:
    """Validate a round request (re-exported for the CLI and notebooks)."""
    return parse_round_request(payload)


# --------------------------------------------------------------------------------------------
# Maps (PNG choropleths; the interactive HTML map is service.analysis.maps)
# --------------------------------------------------------------------------------------------
def commune_table(comparison: Comparison, variant: str | None = None) -> pd.DataFrame:
    """Per programme commune: need, advisors before, after the base and after ``variant``.

    Granted posts are placed at the host's seat commune (as existing advisors are); coverage is
    advisors per 10,000 fragile inhabitants of the commune.
    """
    table = geodata.round.commune_indicators(comparison.prepared.existing)[
        ["nom", "departement", "population", "fragile_population", "advisors"]
    ].copy()
    other = comparison.run(variant) if variant else comparison.base
    base = pd.Series(comparison.base.grants_by_commune(), dtype=float)
    var = pd.Series(other.grants_by_commune(), dtype=float)
    table["base"] = base.reindex(table.index).fillna(0.0)
    table["variante"] = var.reindex(table.index).fillna(0.0)
    table["ecart"] = table["variante"] - table["base"]
    fragile = table["fragile_population"].where(table["fragile_population"] > 0)
    table["couverture_avant"] = table["advisors"] / fragile * 1e4
    table["couverture_base"] = (table["advisors"] + table["base"]) / fragile * 1e4
    table["couverture_variante"] = (table["advisors"] + table["variante"]) / fragile * 1e4
    return table


def scenario_maps(
    comparison: Comparison,
    out_dir: Any,
    *,
    variants: Sequence[str] | None = None,
    departement: str | None = None,
) -> list[Any]:
    """PNG choropleths of need, coverage before/after and scenario differences.

    Written under ``out_dir``: ``besoin_departements.png``, ``couverture_avant_departements.png``,
    ``couverture_base_departements.png``, and per variant ``ecart_<nom>_departements.png``
    (posts of the variant minus the base); with ``departement``, the same per commune of that
    département (``*_communes_<dep>.png``).

    Returns
    -------
    list of pathlib.Path
    """
    from pathlib import Path

    from geodata import maps

    out = Path(out_dir)
    names = list(variants) if variants is not None else [r.nom for r in comparison.variants]
    paths = [
        maps.map_departements(out / "besoin_departements.png", "need", comparison.prepared.existing)
    ]
    dep = departement_table(comparison)
    unit = "conseillers pour 10 000 hab. fragiles"
    paths.append(
        maps.map_departement_values(
            out / "couverture_avant_departements.png",
            dep["couverture_avant"],
            f"Avant le tour : {unit}",
            "Blues",
        )
    )
    paths.append(
        maps.map_departement_values(
            out / "couverture_base_departements.png",
            dep["couverture_base"],
            f"Après le tour (base) : {unit}",
            "Blues",
        )
    )
    for nom in names:
        table = departement_table(comparison, nom)
        paths.append(
            maps.map_departement_values(
                out / f"ecart_{_slug(nom)}_departements.png",
                table["ecart"],
                f"Postes : variante « {nom} » − base",
                "RdBu",
                diverging=True,
            )
        )
    if departement is not None:
        com = commune_table(comparison)
        com = com[com["departement"] == departement]
        paths.append(
            maps.map_commune_values(
                out / f"besoin_communes_{departement}.png",
                departement,
                com["fragile_population"] / com["population"].where(com["population"] > 0) * 100,
                "Population fragile (% de la population)",
                "OrRd",
            )
        )
        for col, label in (("couverture_avant", "Avant le tour"), ("couverture_base", "Après")):
            paths.append(
                maps.map_commune_values(
                    out / f"{col}_communes_{departement}.png",
                    departement,
                    com[col],
                    f"{label} : {unit}",
                    "Blues",
                )
            )
        for nom in names:
            table = commune_table(comparison, nom)
            table = table[table["departement"] == departement]
            paths.append(
                maps.map_commune_values(
                    out / f"ecart_{_slug(nom)}_communes_{departement}.png",
                    departement,
                    table["ecart"],
                    f"Postes : variante « {nom} » − base",
                    "RdBu",
                    diverging=True,
                )
            )
    return paths


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
