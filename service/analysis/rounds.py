"""The rounds an analysis starts from: the bundled national case, a prepared round, a solved round.

Notebooks and benchmarks run a model through these functions, never through the application's
pipeline directly; they wrap the one pipeline the CLI (``allocator allocate``) and the HTTP API
(``POST /v1/allocate``) use (:mod:`service.application.pipeline`), so an analysis solves
exactly the service's rounds.

- :func:`national_request` — the bundled national case (every 2021 host in one round);
- :func:`prepare` / :func:`load` — the geodata numbers of a round's applicants, computed once
  for every policy solved on them (scenario variants, robustness draws);
- :func:`run` — one round solved as the service solves it, with its summary, canonical JSON and
  equity metrics (:class:`RoundRun`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geodata
from service.analysis import metrics, runs
from service.application import pipeline
from service.application.history import DEMO_SEED, portal_documents
from service.contract.schemas import RoundRequest, parse_round_request


def national_request(quota: int | None = None, seed: int = DEMO_SEED) -> dict[str, Any]:
    """The national case: every bundled 2021 host (1,443 with a commune code) in one round.

    The whole first wave applies at once against an empty programme (``conseillersExistants``
    is ``[]``); the quota defaults to 70 % of what public hosts ask, as in
    :func:`service.application.history.demo_request`. Synthetic fields (scores, préfet opinions,
    submission times) come from :func:`service.application.history.portal_documents` with the
    same fixed seed.
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


def prepare(
    request: RoundRequest,
    *,
    extra_existing: Mapping[str, int] | None = None,
    programme_consumed: int | None = None,
) -> pipeline.PreparedRound:
    """The geodata numbers of the round's applicants (the policy-independent part of a round).

    ``extra_existing`` and ``programme_consumed`` as in
    :func:`service.application.pipeline.run_round`.
    """
    return pipeline.prepare_round(
        request, extra_existing=extra_existing, programme_consumed=programme_consumed
    )


def load(payload: Any) -> pipeline.PreparedRound:
    """A round request document (e.g. :func:`national_request`) validated and prepared."""
    return prepare(parse_round_request(payload))


@dataclass(frozen=True)
class RoundRun:
    """One round solved as the service solves it.

    Attributes
    ----------
    request
        The validated request.
    prepared
        Its prepared round (``prepared.existing``: the advisors it was solved against).
    result
        The contract's result, JSON-ready (as ``POST /v1/allocate`` returns it).
    """

    request: RoundRequest
    prepared: pipeline.PreparedRound
    result: dict[str, Any]

    def summary(self) -> str:
        """The short human summary the CLI prints (French numbers)."""
        return pipeline.result_summary(self.result, self.request)

    def json(self) -> str:
        """The canonical JSON of the result (the CLI's and the API's bytes)."""
        return pipeline.dumps(self.result)

    def equity(self) -> dict[str, Any]:
        """Equity metrics before/after the round (:func:`service.analysis.metrics.round_equity`)."""
        return metrics.round_equity(self.result, self.prepared.existing)

    def grants(self) -> dict[int, int]:
        """Posts granted by idPG (every structure, ascending idPG; :func:`runs.grants`)."""
        return runs.grants(self.result)


def run(request: RoundRequest) -> RoundRun:
    """Solve ``request`` as :func:`service.application.pipeline.run_round` does (same result)."""
    prepared = prepare(request)
    return RoundRun(request, prepared, pipeline.solve_prepared(prepared))
