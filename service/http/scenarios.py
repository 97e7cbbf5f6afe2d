"""``POST /v1/scenarios``: compare a baseline round with policy variants (analysts, agency).

A thin view over :func:`service.analysis.scenarios.compare_document`: parse, authorise, call,
serialise.
Without ``conseillersExistants`` in the request, the existing advisors are the store's current
state, each post counted once (:func:`service.application.rounds.with_store_existing`), as for
``POST /v1/allocate``. Stateless:
nothing is written to the store. Roles: ``analyste``, ``agence`` (and ``admin``).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app

from service.analysis import scenarios
from service.application import rounds
from service.contract.documents import ScenariosIn, parse_scenarios
from service.contract.responses import ScenariosOut
from service.http.operations import operation, reply
from service.http.web import db, json_body, json_response, max_structures, requires

bp = Blueprint("v1_scenarios", __name__, url_prefix="/v1")


@bp.post("/scenarios")
@operation(
    "Comparer un tour de base et des variantes de politique (sans écriture)",
    {"200": reply(ScenariosOut, "comparaison")},
    body=ScenariosIn,
)
@requires("analyste", "agence")
def post_scenarios() -> Response:
    """Body: ``{"requete": <round request>, "variantes": [{"nom", "politique", "quota"}],
    "prixEquite": true, "causes": true}``; answer: the comparison report."""
    doc = parse_scenarios(json_body(), max_structures())  # 4xx before the store
    scenarios.check_batch_size(doc, current_app.config["MAX_SCENARIO_STRUCTURES"])
    requete, extra, consumed = rounds.with_store_existing(db(), doc.requete)
    doc = doc.model_copy(update={"requete": requete})
    return json_response(
        scenarios.compare_document(doc, extra_existing=extra, programme_consumed=consumed)
    )
