"""Scenario comparison: a baseline round and N policy variants solved on the same applicants.

Analysts compare policies before a round (other quotas, weights, envelope rules, eligibility,
fairness modes). One call prepares the round once — the geodata numbers of the applicants
(service areas, need, existing offer, marginal gains:
:func:`service.application.pipeline.prepare_round`) —
and re-runs only the engine for every variant (:func:`service.application.pipeline.solve_prepared`).
The CLI (``allocator scenario compare``), the HTTP API (``POST /v1/scenarios``) and the
notebooks call :func:`compare` / :func:`compare_payload`; nothing is computed twice.

Modules: this one holds the scenarios document's limits (the document itself,
:class:`service.contract.documents.ScenariosIn`, is in the contract), the variants
and the comparison; the runs are :mod:`service.analysis.runs`, the blocks of differences
:mod:`service.analysis.differences`, the tables :mod:`service.analysis.tables` and the maps
:mod:`service.analysis.maps`.

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
  ``["interaction"]`` when none does; see :class:`service.analysis.differences.Attribution`) and
  ``departements`` (posts of the round against each département's fair share).
- ``prixEquite``: for every fairness rule active in the baseline (``poidsEquilibre``,
  ``poidsRepartition``, ``plafondDepartement == "part_equitable"``), the baseline re-solved with
  the rule switched off, and its price — see :func:`service.analysis.differences.price_of_rule`.

Determinism: same inputs → same comparison (no timings in it; structures sorted by ``ecart``
then ``idPG``, départements by code).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from allocator import SolverConfig
from service.analysis.differences import (
    FAIRNESS_RULES,
    Attribution,
    FairnessRule,
    changes,
    diff,
    price_of_rule,
)
from service.analysis.runs import ScenarioRun, ScenarioRunner, effective_politique
from service.application.adapter import policy_from_request
from service.application.pipeline import PreparedRound, prepare_round
from service.contract.documents import MAX_VARIANTS, ScenariosIn, parse_scenarios
from service.contract.schemas import (
    DEFAULT_MAX_SCENARIO_STRUCTURES,
    FieldError,
    InvalidRequest,
    RoundRequest,
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
