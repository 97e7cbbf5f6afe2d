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
from service.contract.responses import RoundList, RoundOut, RoundResult, StructureOut, TerritoireOut
from service.contract.schemas import (
    FieldError,
    InvalidRequest,
    RoundRequest,
    parse_round_request,
)
from service.explanations.levels import NIVEAU_COMPACT, NIVEAU_COMPLET, NIVEAUX
from service.http.operations import (
    CONFLICT,
    ID_PG,
    ROUND_ID,
    Param,
    operation,
    path_param,
    problem_reply,
    reply,
)
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
#: Who may read: every role (and ``admin``).
READERS = ("portail", "agence", "analyste")

#: ``POST /v1/allocate?explication=``: the level of the decisions' explanations.
EXPLICATION = Param(
    "explication",
    "query",
    {"type": "string", "enum": list(NIVEAUX), "default": NIVEAU_COMPLET},
    "niveau des explications des décisions. « complete » (par défaut, comme avant ce "
    "paramètre) : la lettre entière de chaque décision (texte, mention, contribution, "
    "données, paramètres, opérations, contrefactuel, essentiel, résumé, et les valeurs du "
    "moteur). « compacte » : pour chaque décision, le paragraphe d'ouverture de la lettre "
    "(essentiel), le résumé d'une ligne, les priorités, rangs et seuil du moteur et le "
    "contrefactuel, aux mêmes valeurs qu'au niveau complet, et explicationComplete, le "
    "chemin où GET /v1/structures/{idPG}/explication sert la lettre de la dernière décision "
    "validée de la structure (404 tant qu'aucun tour la concernant n'est validé) ; le "
    "résultat porte alors niveauExplication = « compacte ». Un tour sans état n'est pas "
    "enregistré : la lettre entière de cette proposition s'obtient en renvoyant la même "
    "requête avec explication=complete (même résultat, hors durée de calcul). Toute autre "
    "valeur : 422 nommant le paramètre.",
)
#: Every form of a territory code (``service.application.territoires.CODE_RE``, any level), in
#: a fixed order (shortest first, then by text: the same document from every process).
TERRITORY_CODE_PATTERN = (
    "^("
    + "|".join(sorted({p.pattern for p in territoires.CODE_RE.values()}, key=lambda p: (len(p), p)))
    + ")$"
)
NIVEAU = path_param(
    "niveau", "niveau", {"type": "string", "enum": ["departement", "epci", "commune"]}, None
)
CODE = path_param(
    "code",
    "code",
    {"type": "string", "pattern": TERRITORY_CODE_PATTERN},
    "code du département, SIREN de l'EPCI ou code commune "
    "(la forme dépend du niveau : 422 nommant « code » sinon)",
)


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
@operation(
    "Tour sans état : requête de tour → résultat (docs/CONTRACT.md)",
    {"200": reply(RoundResult, "résultat du tour")},
    body=RoundRequest,
    params=[EXPLICATION],
)
@requires(*READERS)
@idempotent
def allocate() -> Response:
    """Stateless round: contract request → contract result (explanations at the level asked)."""
    niveau = _niveau_explication()
    request = parse_round_request(json_body(), max_structures())
    return json_response(rounds.allocate(db(), request, niveau))


@bp.put(f"/structures/<{ID}:id_pg>")
@operation(
    "Créer ou mettre à jour une candidature (idempotent) ; verrou, coselec, statut "
    "de comité et champs de la vue refusés (422 nommant le champ)",
    {
        "200": reply(StructureOut, "structure mise à jour"),
        "201": reply(StructureOut, "structure créée"),
        **CONFLICT,
    },
    body=StructureDocument,
    params=[ID_PG],
)
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
@operation(
    "Importer une structure avec son historique de décisions antérieur au service "
    "(migration ; statut et coselec admis, jamais de verrou)",
    {
        "201": reply(StructureOut, "structure et historique importés"),
        "409": problem_reply("idPG ou SIRET déjà présent, ou enveloppe insuffisante"),
    },
    body=StructureDocument,
)
@requires()
@idempotent
def import_structure() -> Response:
    """Admin-only migration path: a structure with the committee history decided before the
    service (:func:`service.application.history.import_structure`)."""
    doc = parse_model(StructureDocument, json_body())
    view = history.import_structure(db(), doc, author=principal().name)
    return json_response(view, 201, {"Location": f"/v1/structures/{doc.idPG}"})


@bp.get(f"/structures/<{ID}:id_pg>")
@operation(
    "Lire une candidature : statut, dotation, historique, explication",
    {"200": reply(StructureOut, "structure")},
    params=[ID_PG],
)
@requires(*READERS)
def get_structure(id_pg: int) -> Response:
    route_id(id_pg, "structure")
    with db().read() as s:
        return json_response(store.get_structure(s, id_pg))


@bp.post(f"/structures/<{ID}:id_pg>/avis-prefet")
@operation(
    "Enregistrer l'avis du préfet",
    {"201": reply(StructureOut, "avis enregistré")},
    body=AvisPrefetBody,
    params=[ID_PG],
)
@requires("portail", "agence")
@idempotent
def post_avis_prefet(id_pg: int) -> Response:
    route_id(id_pg, "structure")
    body = parse_model(AvisPrefetBody, json_body())
    with db().write() as s:
        view = structures.record_avis_prefet(s, id_pg, body, principal().name)
    return json_response(view, 201)


@bp.post("/rounds")
@operation(
    "Préparer un tour (brouillon) sur les structures en attente",
    {"201": reply(RoundOut, "brouillon créé"), **CONFLICT},
    body=RoundDraftBody,
)
@requires("agence")
@idempotent
def post_round() -> Response:
    body = parse_model(RoundDraftBody, json_body())
    view = rounds.draft_round(
        db(), mois=body.mois, quota=body.quota, politique=body.politique, author=principal().name
    )
    return json_response(view, 201, {"Location": f"/v1/rounds/{view['id']}"})


@bp.get("/rounds")
@operation("Lister les tours", {"200": reply(RoundList, "tours")})
@requires("agence", "analyste")
def list_rounds() -> Response:
    return json_response({"rounds": rounds.list_rounds(db())})


@bp.get(f"/rounds/<{ID}:round_id>")
@operation("Lire un tour", {"200": reply(RoundOut, "tour")}, params=[ROUND_ID])
@requires("agence", "analyste")
def get_round(round_id: int) -> Response:
    route_id(round_id, "tour")
    return json_response(rounds.get_round(db(), round_id))


@bp.patch(f"/rounds/<{ID}:round_id>")
@operation(
    "Arbitrer une structure : poser un verrou dans ses bornes ({idPG, nombre, "
    "motif}) ou le lever ({idPG, lever: true, motif}), puis recalculer",
    {"200": reply(RoundOut, "tour recalculé"), **CONFLICT},
    body=RoundOverrideBody,
    params=[ROUND_ID],
)
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
@operation(
    "Valider un tour (une transaction ; immuable ensuite)",
    {"200": reply(RoundOut, "tour validé"), **CONFLICT},
    body=RoundCommitBody,
    body_required=False,
    params=[ROUND_ID],
)
@requires("agence")
@idempotent
def commit_round(round_id: int) -> Response:
    route_id(round_id, "tour")
    parse_model(RoundCommitBody, json_body(optional=True))
    return json_response(rounds.commit_round(db(), round_id, author=principal().name))


@bp.get("/territoires/<any(departement, epci, commune):niveau>/<code>")
@operation(
    "Diagnostic d'un territoire : besoin, couverture, accessibilité, dotations",
    {"200": reply(TerritoireOut, "diagnostic")},
    params=[NIVEAU, CODE],
    errors=("422", "503"),
)
@requires(*READERS)
def get_territoire(niveau: str, code: str) -> Response:
    return json_response(territoires.diagnostic(db(), niveau, code))
