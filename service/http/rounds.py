"""``/v1`` endpoints of the monthly cycle: thin views over :mod:`service.application.cycle`,
:mod:`service.application.posts` and :mod:`service.application.replay` (parse, authorise, call,
serialise).

=================================================  =======  ======  ========
endpoint                                           portail  agence  analyste
=================================================  =======  ======  ========
POST /v1/rounds/mensuel                            -        oui     -
POST /v1/rounds/import-historique                  -        oui     -
GET  /v1/rounds/{id}/rejeu                         -        oui     oui
GET  /v1/programme                                 oui      oui     oui
GET  /v1/structures/{idPG}/postes[/{n}]            oui      oui     oui
POST /v1/structures/{idPG}/postes/{n}/evenements   oui      -       -
POST /v1/structures/{idPG}/demandes                oui      -       -
GET  /v1/postes/echeances                          -        oui     oui
POST /v1/postes/echeances                          -        oui     -
=================================================  =======  ======  ========

(``admin`` may do everything.) Time comes from ``app.config["CLOCK"]`` (a callable returning an
aware UTC datetime; default :func:`service.store.models.utcnow`) so that tests freeze it.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, request

from service.application import cycle, demandes, history, monthly, posts, replay
from service.contract.documents import (
    DemandeBody,
    EcheancesQuery,
    EventBody,
    MonthlyRoundBody,
    ProgrammeQuery,
    parse_model,
    parse_query,
)
from service.contract.responses import (
    DemandeOut,
    EcheancesAppliedOut,
    EcheancesOut,
    ImportHistoriqueOut,
    MonthlyRoundOut,
    PosteDetailOut,
    PosteOut,
    PostesOut,
    ProgrammeOut,
    ReplayOut,
)
from service.http.operations import CONFLICT, ID_PG, NUMERO, ROUND_ID, operation, reply
from service.http.web import (
    clock,
    db,
    idempotent,
    json_body,
    json_response,
    principal,
    requires,
    route_id,
)

bp = Blueprint("v1_cycle", __name__, url_prefix="/v1")


def now() -> datetime:
    """The application's clock (``CLOCK`` in the config, tests freeze it): :func:`web.clock`."""
    return clock()


def _date_arg() -> datetime:
    args = request.args.copy()
    if not args.get("date"):  # absent or empty: now
        args.pop("date", None)
    return parse_query(EcheancesQuery, args).date or now()


@bp.post("/rounds/mensuel")
@operation(
    "Préparer le tour du mois (cadence mensuelle, quota par défaut)",
    {"201": reply(MonthlyRoundOut, "brouillon créé"), **CONFLICT},
    body=MonthlyRoundBody,
)
@requires("agence")
@idempotent
def post_monthly_round() -> Response:
    body = parse_model(MonthlyRoundBody, json_body())
    view = monthly.draft_monthly(
        db(), mois=body.mois, quota=body.quota, politique=body.politique, author=principal().name
    )
    return json_response(view, 201, {"Location": f"/v1/rounds/{view['id']}"})


@bp.post("/rounds/import-historique")
@operation(
    "Importer les comités 2021 (fichier embarqué) comme historique validé",
    {
        "200": reply(ImportHistoriqueOut, "historique déjà importé"),
        "201": reply(ImportHistoriqueOut, "historique importé"),
        **CONFLICT,
    },
)
@requires("agence")
def post_import_history() -> Response:
    summary = history.import_history(db(), author=principal().name)
    return json_response(summary, 201 if summary["importe"] else 200)


@bp.get("/rounds/<int:round_id>/rejeu")
@operation(
    "Rejouer un tour depuis son instantané : certificat de reproductibilité",
    {"200": reply(ReplayOut, "certificat")},
    params=[ROUND_ID],
)
@requires("agence", "analyste")
def get_replay(round_id: int) -> Response:
    route_id(round_id, "tour")
    return json_response(replay.replay_round(db(), round_id))


@bp.get("/programme")
@operation(
    "État du programme : enveloppe, postes par état, coûts par tour et département",
    {"200": reply(ProgrammeOut, "état du programme")},
    query=ProgrammeQuery,
    errors=("422",),
)
@requires("portail", "agence", "analyste")
def get_programme() -> Response:
    duree = parse_query(ProgrammeQuery, request.args).duree
    return json_response(cycle.programme_state(db(), duree_mois=duree))


@bp.get("/structures/<int:id_pg>/postes")
@operation(
    "Postes de la structure (état, échéances) et ses demandes",
    {"200": reply(PostesOut, "postes et demandes")},
    params=[ID_PG],
)
@requires("portail", "agence", "analyste")
def get_posts(id_pg: int) -> Response:
    route_id(id_pg, "structure")
    return json_response(posts.list_posts(db(), id_pg, now()))


@bp.get("/structures/<int:id_pg>/postes/<int:numero>")
@operation(
    "Un poste de la structure et son historique d'événements",
    {"200": reply(PosteDetailOut, "poste")},
    params=[ID_PG, NUMERO],
)
@requires("portail", "agence", "analyste")
def get_post(id_pg: int, numero: int) -> Response:
    route_id(id_pg, "structure")
    route_id(numero, "poste")
    return json_response(posts.get_post(db(), id_pg, numero, now()))


@bp.post("/structures/<int:id_pg>/postes/<int:numero>/evenements")
@operation(
    "Signaler un événement du poste (candidat présenté, contrat signé, fin...)",
    {"201": reply(PosteOut, "événement appliqué"), **CONFLICT},
    body=EventBody,
    params=[ID_PG, NUMERO],
)
@requires("portail")
@idempotent
def post_event(id_pg: int, numero: int) -> Response:
    route_id(id_pg, "structure")
    route_id(numero, "poste")
    body = parse_model(EventBody, json_body())
    view = posts.report_event(
        db(),
        id_pg,
        numero,
        type_=body.type,
        now=now(),
        date=body.date,
        commentaire=body.commentaire,
        auteur=principal().name,
    )
    return json_response(view, 201)


@bp.post("/structures/<int:id_pg>/demandes")
@operation(
    "Demander des postes supplémentaires (AJOUT) ou en rendre (RESTITUTION)",
    {"201": reply(DemandeOut, "demande enregistrée"), **CONFLICT},
    body=DemandeBody,
    params=[ID_PG],
)
@requires("portail")
@idempotent
def post_demande(id_pg: int) -> Response:
    route_id(id_pg, "structure")
    body = parse_model(DemandeBody, json_body())
    view = demandes.file_request(
        db(),
        id_pg,
        type_=body.type,
        nombre=body.nombre,
        motif=body.motif,
        now=now(),
        auteur=principal().name,
    )
    return json_response(view, 201)


@bp.get("/postes/echeances")
@operation(
    "Échéances dépassées des postes à une date",
    {"200": reply(EcheancesOut, "alertes")},
    query=EcheancesQuery,
    empty_as_absent=("date",),
    errors=("422",),
)
@requires("agence", "analyste")
def get_deadlines() -> Response:
    return json_response(posts.deadlines(db(), _date_arg()))


@bp.post("/postes/echeances")
@operation(
    "Appliquer les échéances : signaler les réexamens, rendre les postes vacants",
    {"200": reply(EcheancesAppliedOut, "échéances appliquées")},
)
@requires("agence")
def post_deadlines() -> Response:
    return json_response(posts.apply_deadlines(db(), now(), principal().name))
