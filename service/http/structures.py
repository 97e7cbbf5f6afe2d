"""The ``/v1`` endpoints: thin views over :mod:`service.application.rounds`,
:mod:`service.store.repository` and
:mod:`service.application.territoires` (no domain logic here: parse, authorise, call, serialise)."""

from __future__ import annotations

from flask import Blueprint, Response
from flask import request as flask_request

from service.application import history, rounds, structures, territoires
from service.contract.documents import (
    AvisPrefetBody,
    RoundCommitBody,
    RoundDraftBody,
    RoundOverrideBody,
    StructureDocument,
    parse_model,
)
from service.contract.schemas import FieldError, InvalidRequest, parse_round_request
from service.explanations.levels import NIVEAU_COMPACT, NIVEAU_COMPLET, NIVEAUX
from service.http.web import (
    db,
    idempotent,
    json_body,
    json_response,
    max_structures,
    principal,
    requires,
    route_id,
)
from service.store import repository as store

bp = Blueprint("v1", __name__, url_prefix="/v1")

ID = "int"


def _niveau_explication() -> str:
    """``?explication=`` of ``POST /v1/allocate``: the level of the decisions' explanations
    (:data:`service.explanations.levels.NIVEAUX`, ``complete`` when absent); anything else is a 422
    naming the parameter."""
    values = flask_request.args.getlist("explication")
    if not values:
        return NIVEAU_COMPLET
    if len(values) > 1 or values[0] not in NIVEAUX:
        raise InvalidRequest(
            [
                FieldError(
                    "explication",
                    f"valeur non reconnue {', '.join(repr(v) for v in values)} ; valeurs "
                    f"possibles : {NIVEAU_COMPLET} (par défaut), "
                    f"{NIVEAU_COMPACT}",
                )
            ]
        )
    return values[0]


@bp.post("/allocate")
@requires("portail", "agence", "analyste")
@idempotent
def allocate() -> Response:
    """Stateless round: contract request → contract result (explanations at the level asked)."""
    niveau = _niveau_explication()
    request = parse_round_request(json_body(), max_structures())
    return json_response(rounds.allocate(db(), request, niveau))


@bp.put(f"/structures/<{ID}:id_pg>")
@requires("portail")
def put_structure(id_pg: int) -> Response:
    """Create or update an application (idempotent); never a lock, a committee status or
    coselec history (:func:`service.application.structures.check_portal_document`)."""
    route_id(id_pg, "structure")
    payload = json_body()
    if isinstance(payload, dict):
        if "idPG" not in payload:
            payload = {**payload, "idPG": id_pg}
        elif payload["idPG"] != id_pg:
            raise InvalidRequest(
                [
                    FieldError(
                        "idPG", f"idPG {payload['idPG']!r} différent de celui du chemin ({id_pg})"
                    )
                ]
            )
    doc = parse_model(StructureDocument, payload)
    with db().write() as s:
        created, view = structures.upsert_structure(s, doc)
    return json_response(view, 201 if created else 200, {"Location": f"/v1/structures/{id_pg}"})


@bp.post("/structures/import-historique")
@requires()
@idempotent
def import_structure() -> Response:
    """Admin-only migration path: a structure with the committee history decided before the
    service (:func:`service.application.history.import_structure`)."""
    doc = parse_model(StructureDocument, json_body())
    view = history.import_structure(db(), doc, author=principal().name)
    return json_response(view, 201, {"Location": f"/v1/structures/{doc.idPG}"})


@bp.get(f"/structures/<{ID}:id_pg>")
@requires("portail", "agence", "analyste")
def get_structure(id_pg: int) -> Response:
    route_id(id_pg, "structure")
    with db().read() as s:
        return json_response(store.get_structure(s, id_pg))


@bp.post(f"/structures/<{ID}:id_pg>/avis-prefet")
@requires("portail", "agence")
@idempotent
def post_avis_prefet(id_pg: int) -> Response:
    route_id(id_pg, "structure")
    body = parse_model(AvisPrefetBody, json_body())
    with db().write() as s:
        view = structures.record_avis_prefet(s, id_pg, body, principal().name)
    return json_response(view, 201)


@bp.post("/rounds")
@requires("agence")
@idempotent
def post_round() -> Response:
    body = parse_model(RoundDraftBody, json_body())
    view = rounds.draft_round(
        db(), mois=body.mois, quota=body.quota, politique=body.politique, author=principal().name
    )
    return json_response(view, 201, {"Location": f"/v1/rounds/{view['id']}"})


@bp.get("/rounds")
@requires("agence", "analyste")
def list_rounds() -> Response:
    return json_response({"rounds": rounds.list_rounds(db())})


@bp.get(f"/rounds/<{ID}:round_id>")
@requires("agence", "analyste")
def get_round(round_id: int) -> Response:
    route_id(round_id, "tour")
    return json_response(rounds.get_round(db(), round_id))


@bp.patch(f"/rounds/<{ID}:round_id>")
@requires("agence")
def patch_round(round_id: int) -> Response:
    route_id(round_id, "tour")
    body = parse_model(RoundOverrideBody, json_body())
    view = rounds.override_round(
        db(),
        round_id,
        id_pg=body.idPG,
        nombre=body.nombre,
        lever=bool(body.lever),
        motif=body.motif,
        author=principal().name,
    )
    return json_response(view)


@bp.post(f"/rounds/<{ID}:round_id>/commit")
@requires("agence")
@idempotent
def commit_round(round_id: int) -> Response:
    route_id(round_id, "tour")
    parse_model(RoundCommitBody, json_body(optional=True))
    return json_response(rounds.commit_round(db(), round_id, author=principal().name))


@bp.get("/territoires/<any(departement, epci, commune):niveau>/<code>")
@requires("portail", "agence", "analyste")
def get_territoire(niveau: str, code: str) -> Response:
    return json_response(territoires.diagnostic(db(), niveau, code))
