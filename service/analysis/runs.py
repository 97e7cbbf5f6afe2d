"""Scenario runs: policies solved on one prepared round, each (politique, quota) solved once.

:class:`ScenarioRunner` overrides the baseline policy of a prepared round
(:func:`service.application.pipeline.prepare_round`) field by field (contract names), solves it
with :func:`service.application.pipeline.solve_prepared` and keeps the contract result with its
equity metrics (:func:`service.analysis.metrics.round_equity`) as a :class:`ScenarioRun`.
Comparisons (:mod:`service.analysis.scenarios`) are built from these runs.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from allocator import RoundPolicy, SolverConfig
from service.analysis import metrics
from service.application.adapter import POLICY_FIELDS, policy_from_request
from service.application.pipeline import PreparedRound, solve_prepared
from service.contract.schemas import InvalidRequest, PolitiqueIn, field_errors

#: Solver configuration of scenario runs: the engine's defaults without the counterfactual
#: re-runs (they only *verify* each applicant's closed-form counterfactual score, which a
#: comparison does not show; grants, priorities and motifs are identical).
DEFAULT_CONFIG = SolverConfig(counterfactual_reruns=0)

_CONTRACT_NAMES = {engine: contract for contract, engine in POLICY_FIELDS.items()}


def grants(result: Mapping[str, Any]) -> dict[int, int]:
    """Posts granted by idPG in a contract round result (every structure, ascending idPG)."""
    return {d["idPG"]: d["nombreConseillersAttribues"] for d in result["decisions"]}


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
        """Posts of this round by idPG (:func:`grants`)."""
        return grants(self.result)

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
