"""OpenAPI 3.1 document generated from the pydantic schemas, and its server-side HTML rendering.

``build_spec()`` puts every model's JSON Schema under ``components/schemas`` (pydantic's
``models_json_schema`` with a ``#/components/schemas/{model}`` ref template) and describes the
operations below. ``render_docs()`` turns the same document into a self-contained HTML page
(no JavaScript, no CDN: the machines have no internet access).

Every route of the application is an operation here (except static files, the agency's pages
under ``/agence`` and ``/docs``): ``tests/service/test_openapi_coverage.py`` compares the document
with the app's ``url_map``, the views' roles and body models. Request bodies and query strings
are the pydantic models the views validate with; response models (``api_schemas.*Out``) document
the dicts the views build, and ``tests/service/test_schemathesis.py`` checks that they conform.
"""

from __future__ import annotations

import functools
import html
import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from service.analysis.scenarios import ScenariosIn
from service.application.territoires import CODE_RE
from service.contract.documents import (
    MAX_ID,
    AvisPrefetBody,
    EcheancesQuery,
    ProgrammeQuery,
    RoundCommitBody,
    RoundDraftBody,
    RoundOverrideBody,
    StructureDocument,
)
from service.contract.responses import (
    DemandeOut,
    EcheancesAppliedOut,
    EcheancesOut,
    ExplicationOut,
    Health,
    ImportHistoriqueOut,
    MonthlyRoundOut,
    PosteDetailOut,
    PosteOut,
    PostesOut,
    Problem,
    ProgrammeOut,
    ReplayOut,
    RoundList,
    RoundOut,
    RoundResult,
    ScenariosOut,
    StructureOut,
    TerritoireOut,
)
from service.contract.schemas import STORABLE_TEXT_PATTERN, STORABLE_TEXT_RULE, RoundRequest
from service.explanations.levels import NIVEAU_COMPLET, NIVEAUX
from service.http.rounds import DemandeBody, EventBody, MonthlyRoundBody

REF = "#/components/schemas/{model}"
#: Request bodies: the very models the views validate with (``parse_model``).
INPUT_MODELS: list[type[BaseModel]] = [
    RoundRequest,
    StructureDocument,
    AvisPrefetBody,
    RoundDraftBody,
    RoundOverrideBody,
    RoundCommitBody,
    MonthlyRoundBody,
    EventBody,
    DemandeBody,
    ScenariosIn,
]
#: Responses (documentation: the views build plain dicts; schemathesis checks they conform).
OUTPUT_MODELS: list[type[BaseModel]] = [
    RoundResult,
    StructureOut,
    RoundOut,
    RoundList,
    TerritoireOut,
    Health,
    Problem,
    ExplicationOut,
    MonthlyRoundOut,
    ImportHistoriqueOut,
    ReplayOut,
    ProgrammeOut,
    PostesOut,
    PosteOut,
    PosteDetailOut,
    DemandeOut,
    EcheancesOut,
    EcheancesAppliedOut,
    ScenariosOut,
]

ROLES_DOC = {
    "portail": "le portail national (dépôt des candidatures, avis des préfets, simulations)",
    "agence": "l'ANCT (préparation, arbitrage et validation des tours)",
    "analyste": "lecture seule et simulations",
    "admin": "tout",
}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}},
    }


def _json(model: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}},
    }


def _text(description: str, *mimetypes: str, json_model: str | None = None) -> dict[str, Any]:
    """A response in ``mimetypes`` (text documents), optionally also as JSON (``json_model``)."""
    content: dict[str, Any] = {}
    if json_model is not None:
        content["application/json"] = {"schema": {"$ref": REF.format(model=json_model)}}
    for mime in mimetypes:
        content[mime] = {"schema": {"type": "string"}}
    return {"description": description, "content": content}


def _body(model: str, required: bool = True) -> dict[str, Any]:
    return {
        "required": required,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}},
    }


ERRORS = {
    "400": _problem("JSON mal formé (syntaxe, NaN/Infinity, texte non UTF-8, imbrication)"),
    "401": _problem("jeton absent ou inconnu"),
    "403": _problem("rôle non autorisé"),
    "404": _problem("ressource introuvable"),
    "406": _problem("format de réponse non disponible"),
    "409": _problem(
        "conflit avec l'état stocké (ou clé d'idempotence en cours d'utilisation, ou réponse "
        "trop volumineuse pour être rejouée)"
    ),
    "413": _problem("corps trop volumineux"),
    "415": _problem("le corps n'est pas du JSON"),
    "422": _problem(
        "requête invalide (champ, valeur, règle ; " + STORABLE_TEXT_RULE + " dans le corps, "
        "les paramètres et les formulaires)"
    ),
    "503": _problem("service indisponible"),
    "default": _problem("autre erreur (RFC 9457)"),
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "même clé + même corps et mêmes paramètres de requête (explication=…) → même réponse "
        "pendant 24 h (par défaut) ; autre corps ou autres paramètres → 422 ; requête encore en "
        "cours → 409"
    ),
    "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
}


def _op(
    summary: str,
    roles: tuple[str, ...] | None,
    responses: dict[str, Any],
    *,
    body: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
    idempotent: bool = False,
    errors: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One operation. ``roles=None``: public (no token).

    The problem responses every operation can give are added here: 401/403 with a token, 404
    with a path parameter (unknown id, or one the route does not match), 400/413/415/422 with a
    body, 409/422 with ``Idempotency-Key``, and ``default``.
    """
    parameters = list(params or [])
    codes: list[str] = list(errors)
    op: dict[str, Any] = {"summary": summary}
    if roles is None:
        op["description"] = "Public : sans jeton."
        op["security"] = []
    else:
        all_roles = sorted({*roles, "admin"})
        op["description"] = "Rôles autorisés : " + ", ".join(all_roles) + "."
        op["security"] = [{"bearer": []}]
        op["x-roles"] = all_roles
        codes += ["401", "403"]
    if any(p["in"] == "path" for p in parameters):
        codes.append("404")
    if body is not None:
        codes += ["400", "413", "415", "422"]
    if idempotent:
        parameters.append(IDEMPOTENCY_KEY)
        codes += ["409", "422"]
    op["responses"] = {
        **responses,
        **{k: ERRORS[k] for k in sorted(set(codes) - set(responses))},
        "default": ERRORS["default"],
    }
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = body
    return op


def _id(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    }


def _query(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The query parameters of ``model`` (the one the view validates the query string with)."""
    schema = model.model_json_schema(ref_template=REF)
    out = []
    for name, field in model.model_fields.items():
        prop = dict(schema["properties"][name])
        branches = [b for b in prop.pop("anyOf", []) if b != {"type": "null"}]
        if len(branches) == 1:  # optional X: the parameter is X (absent = default)
            prop.update(branches[0])
        for key in ("title", "default"):
            prop.pop(key, None)
        param: dict[str, Any] = {"name": name, "in": "query", "required": field.is_required()}
        if "description" in prop:
            param["description"] = prop.pop("description")
        out.append({**param, "schema": prop})
    return out


def _echeances_query() -> list[dict[str, Any]]:
    """``?date=``: a date-time, or empty (as absent: now)."""
    params = _query(EcheancesQuery)
    for p in params:
        if p["name"] == "date":
            p["schema"] = {"anyOf": [p["schema"], {"type": "string", "maxLength": 0}]}
    return params


def _format(values: dict[str, str], default: str) -> dict[str, Any]:
    return {
        "name": "format",
        "in": "query",
        "required": False,
        "description": "format de la réponse ("
        + ", ".join(f"{k} = {v}" for k, v in values.items())
        + f") ; sinon selon l'en-tête Accept, par défaut {default}",
        "schema": {"type": "string", "enum": list(values)},
    }


#: ``POST /v1/allocate?explication=``: the level of the decisions' explanations.
EXPLICATION = {
    "name": "explication",
    "in": "query",
    "required": False,
    "description": (
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
        "valeur : 422 nommant le paramètre."
    ),
    "schema": {"type": "string", "enum": list(NIVEAUX), "default": NIVEAU_COMPLET},
}
#: Every form of a territory code (``service.application.territoires.CODE_RE``, any level).
TERRITORY_CODE_PATTERN = (
    "^(" + "|".join(sorted({p.pattern for p in CODE_RE.values()}, key=len)) + ")$"
)
ID_PG = _id("idPG", "identifiant de la structure sur le portail")
ROUND_ID = _id("id", "numéro du tour d'attribution")
NUMERO = _id("numero", "numéro du poste dans la structure (1, 2, ...)")
NOT_FOUND = {"404": ERRORS["404"]}
CONFLICT = {"409": _problem("conflit avec l'état stocké")}
READERS = ("portail", "agence", "analyste")


@functools.cache
def build_spec() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the service."""
    _, defs = models_json_schema(
        [(m, "validation") for m in INPUT_MODELS] + [(m, "serialization") for m in OUTPUT_MODELS],
        ref_template=REF,
    )
    paths: dict[str, Any] = {
        "/v1/allocate": {
            "post": _op(
                "Tour sans état : requête de tour → résultat (docs/CONTRACT.md)",
                READERS,
                {"200": _json("RoundResult", "résultat du tour")},
                body=_body("RoundRequest"),
                params=[EXPLICATION],
                idempotent=True,
            )
        },
        "/v1/structures/import-historique": {
            "post": _op(
                "Importer une structure avec son historique de décisions antérieur au service "
                "(migration ; statut et coselec admis, jamais de verrou)",
                (),
                {
                    "201": _json("StructureOut", "structure et historique importés"),
                    "409": _problem("idPG ou SIRET déjà présent, ou enveloppe insuffisante"),
                },
                body=_body("StructureDocument"),
                idempotent=True,
            )
        },
        "/v1/structures/{idPG}": {
            "put": _op(
                "Créer ou mettre à jour une candidature (idempotent) ; verrou, coselec, statut "
                "de comité et champs de la vue refusés (422 nommant le champ)",
                ("portail",),
                {
                    "200": _json("StructureOut", "structure mise à jour"),
                    "201": _json("StructureOut", "structure créée"),
                    **CONFLICT,
                },
                body=_body("StructureDocument"),
                params=[ID_PG],
            ),
            "get": _op(
                "Lire une candidature : statut, dotation, historique, explication",
                READERS,
                {"200": _json("StructureOut", "structure")},
                params=[ID_PG],
            ),
        },
        "/v1/structures/{idPG}/avis-prefet": {
            "post": _op(
                "Enregistrer l'avis du préfet",
                ("portail", "agence"),
                {"201": _json("StructureOut", "avis enregistré")},
                body=_body("AvisPrefetBody"),
                params=[ID_PG],
                idempotent=True,
            )
        },
        "/v1/structures/{idPG}/explication": {
            "get": _op(
                "Explication de la dernière décision validée de la structure (JSON ou HTML)",
                READERS,
                {
                    "200": _text(
                        "décision, motifs et explication enregistrés à la validation du tour",
                        "text/html",
                        json_model="ExplicationOut",
                    )
                },
                params=[ID_PG, _format({"json": "application/json", "html": "text/html"}, "json")],
                errors=("406",),
            )
        },
        "/v1/structures/{idPG}/postes": {
            "get": _op(
                "Postes de la structure (état, échéances) et ses demandes",
                READERS,
                {"200": _json("PostesOut", "postes et demandes")},
                params=[ID_PG],
            )
        },
        "/v1/structures/{idPG}/postes/{numero}": {
            "get": _op(
                "Un poste de la structure et son historique d'événements",
                READERS,
                {"200": _json("PosteDetailOut", "poste")},
                params=[ID_PG, NUMERO],
            )
        },
        "/v1/structures/{idPG}/postes/{numero}/evenements": {
            "post": _op(
                "Signaler un événement du poste (candidat présenté, contrat signé, fin...)",
                ("portail",),
                {"201": _json("PosteOut", "événement appliqué"), **CONFLICT},
                body=_body("EventBody"),
                params=[ID_PG, NUMERO],
                idempotent=True,
            )
        },
        "/v1/structures/{idPG}/demandes": {
            "post": _op(
                "Demander des postes supplémentaires (AJOUT) ou en rendre (RESTITUTION)",
                ("portail",),
                {"201": _json("DemandeOut", "demande enregistrée"), **CONFLICT},
                body=_body("DemandeBody"),
                params=[ID_PG],
                idempotent=True,
            )
        },
        "/v1/rounds": {
            "post": _op(
                "Préparer un tour (brouillon) sur les structures en attente",
                ("agence",),
                {"201": _json("RoundOut", "brouillon créé"), **CONFLICT},
                body=_body("RoundDraftBody"),
                idempotent=True,
            ),
            "get": _op(
                "Lister les tours",
                ("agence", "analyste"),
                {"200": _json("RoundList", "tours")},
            ),
        },
        "/v1/rounds/mensuel": {
            "post": _op(
                "Préparer le tour du mois (cadence mensuelle, quota par défaut)",
                ("agence",),
                {"201": _json("MonthlyRoundOut", "brouillon créé"), **CONFLICT},
                body=_body("MonthlyRoundBody"),
                idempotent=True,
            )
        },
        "/v1/rounds/import-historique": {
            "post": _op(
                "Importer les comités 2021 (fichier embarqué) comme historique validé",
                ("agence",),
                {
                    "200": _json("ImportHistoriqueOut", "historique déjà importé"),
                    "201": _json("ImportHistoriqueOut", "historique importé"),
                    **CONFLICT,
                },
            )
        },
        "/v1/rounds/{id}": {
            "get": _op(
                "Lire un tour",
                ("agence", "analyste"),
                {"200": _json("RoundOut", "tour")},
                params=[ROUND_ID],
            ),
            "patch": _op(
                "Arbitrer une structure : poser un verrou dans ses bornes ({idPG, nombre, "
                "motif}) ou le lever ({idPG, lever: true, motif}), puis recalculer",
                ("agence",),
                {"200": _json("RoundOut", "tour recalculé"), **CONFLICT},
                body=_body("RoundOverrideBody"),
                params=[ROUND_ID],
            ),
        },
        "/v1/rounds/{id}/commit": {
            "post": _op(
                "Valider un tour (une transaction ; immuable ensuite)",
                ("agence",),
                {"200": _json("RoundOut", "tour validé"), **CONFLICT},
                body=_body("RoundCommitBody", required=False),
                params=[ROUND_ID],
                idempotent=True,
            )
        },
        "/v1/rounds/{id}/rejeu": {
            "get": _op(
                "Rejouer un tour depuis son instantané : certificat de reproductibilité",
                ("agence", "analyste"),
                {"200": _json("ReplayOut", "certificat")},
                params=[ROUND_ID],
            )
        },
        "/v1/programme": {
            "get": _op(
                "État du programme : enveloppe, postes par état, coûts par tour et département",
                READERS,
                {"200": _json("ProgrammeOut", "état du programme")},
                params=_query(ProgrammeQuery),
                errors=("422",),
            )
        },
        "/v1/postes/echeances": {
            "get": _op(
                "Échéances dépassées des postes à une date",
                ("agence", "analyste"),
                {"200": _json("EcheancesOut", "alertes")},
                params=_echeances_query(),
                errors=("422",),
            ),
            "post": _op(
                "Appliquer les échéances : signaler les réexamens, rendre les postes vacants",
                ("agence",),
                {"200": _json("EcheancesAppliedOut", "échéances appliquées")},
            ),
        },
        "/v1/scenarios": {
            "post": _op(
                "Comparer un tour de base et des variantes de politique (sans écriture)",
                ("analyste", "agence"),
                {"200": _json("ScenariosOut", "comparaison")},
                body=_body("ScenariosIn"),
            )
        },
        "/v1/territoires/{niveau}/{code}": {
            "get": _op(
                "Diagnostic d'un territoire : besoin, couverture, accessibilité, dotations",
                READERS,
                {"200": _json("TerritoireOut", "diagnostic")},
                params=[
                    {
                        "name": "niveau",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": ["departement", "epci", "commune"]},
                    },
                    {
                        "name": "code",
                        "in": "path",
                        "required": True,
                        "description": "code du département, SIREN de l'EPCI ou code commune "
                        "(la forme dépend du niveau : 422 nommant « code » sinon)",
                        "schema": {"type": "string", "pattern": TERRITORY_CODE_PATTERN},
                    },
                ],
                errors=("422", "503"),
            )
        },
        "/v1/notice": {
            "get": _op(
                "Notice publique de l'algorithme (Markdown ou HTML)",
                None,
                {"200": _text("notice", "text/markdown", "text/html")},
                params=[_format({"md": "text/markdown", "html": "text/html"}, "md")],
                errors=("406",),
            )
        },
        "/health": {
            "get": _op(
                "Le processus répond",
                None,
                {"200": _json("Health", "en service")},
            )
        },
        "/ready": {
            "get": _op(
                "La base est joignable et à jour",
                None,
                {
                    "200": _json("Health", "prêt"),
                    "503": _problem("base injoignable ou schéma pas à jour"),
                },
            )
        },
        "/openapi.json": {
            "get": _op(
                "Ce document (OpenAPI 3.1) ; sa version HTML est servie sur /docs",
                None,
                {
                    "200": {
                        "description": "document OpenAPI",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            )
        },
    }
    schemas = defs["$defs"]
    _state_storable_text(schemas, paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Allocation des conseillers numériques",
            "version": "1.0.0",
            "description": (
                "Service d'attribution mensuelle des postes de conseillers numériques (ANCT). "
                "Erreurs au format application/problem+json (RFC 9457). Rôles : "
                + "; ".join(f"{k} = {v}" for k, v in ROLES_DOC.items())
                + "."
            ),
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "jeton d'API"}
            },
        },
    }


#: Any JSON value whose strings and keys follow the storable-text rule: the value of a field a
#: body may carry and the service ignores (the portal sends whole documents).
STORABLE_JSON = {
    "description": "toute valeur JSON ; " + STORABLE_TEXT_RULE,
    "anyOf": [
        {"type": ["null", "boolean", "number"]},
        {"type": "string", "pattern": STORABLE_TEXT_PATTERN},
        {"type": "array", "items": {"$ref": REF.format(model="JsonEnregistrable")}},
        {
            "type": "object",
            "propertyNames": {"pattern": STORABLE_TEXT_PATTERN},
            "additionalProperties": {"$ref": REF.format(model="JsonEnregistrable")},
        },
    ],
}


def state_storable_text(node: Any) -> None:
    """State the storable-text rule (``service.contract.schemas.STORABLE_TEXT_RULE``) in a JSON
    Schema, in
    place: every string without a pattern, enum or format gets :data:`STORABLE_TEXT_PATTERN`,
    every object that admits other fields admits only :data:`STORABLE_JSON` ones, under names
    that follow the rule too. The document's schemas are the models' own with this rule."""
    if isinstance(node, list):
        for item in node:
            state_storable_text(item)
        return
    if not isinstance(node, dict):
        return
    types = node.get("type")
    types = types if isinstance(types, list) else [types]
    if "string" in types and not {"pattern", "enum", "const", "format"} & set(node):
        node["pattern"] = STORABLE_TEXT_PATTERN
    if "object" in types and node.get("additionalProperties", True) is True:
        node["additionalProperties"] = {"$ref": REF.format(model="JsonEnregistrable")}
        node["propertyNames"] = {"pattern": STORABLE_TEXT_PATTERN}
    for value in node.values():
        state_storable_text(value)


def _state_storable_text(schemas: dict[str, Any], paths: dict[str, Any]) -> None:
    """:func:`state_storable_text` on every schema and parameter of the document."""
    state_storable_text(schemas)
    for item in paths.values():
        for op in item.values():
            for param in op.get("parameters", []):
                state_storable_text(param["schema"])
    schemas["JsonEnregistrable"] = STORABLE_JSON


def _schema_html(schema: dict[str, Any]) -> str:
    return f"<pre>{html.escape(json.dumps(schema, ensure_ascii=False, indent=2))}</pre>"


def render_docs(spec: dict[str, Any]) -> str:
    """A self-contained HTML page documenting ``spec`` (rendered server-side)."""
    out = [
        "<!doctype html><html lang='fr'><head><meta charset='utf-8'>",
        f"<title>{html.escape(spec['info']['title'])}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;"
        "padding:0 1rem;line-height:1.4}code,pre{background:#f4f4f4}pre{padding:.5rem;"
        "overflow:auto;max-height:30rem}h3{border-top:1px solid #ccc;padding-top:1rem}"
        ".m{display:inline-block;min-width:4.5rem;font-weight:bold}</style></head><body>",
        f"<h1>{html.escape(spec['info']['title'])} <small>v{spec['info']['version']}</small></h1>",
        f"<p>{html.escape(spec['info']['description'])}</p>",
        "<p>Document machine : <a href='/openapi.json'>/openapi.json</a> (OpenAPI 3.1).</p>",
        "<h2>Opérations</h2><ul>",
    ]
    ops = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            anchor = f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", "")
            ops.append((anchor, method, path, op))
            out.append(
                f"<li><a href='#{anchor}'><span class='m'>{method.upper()}</span>"
                f"<code>{html.escape(path)}</code></a> — {html.escape(op.get('summary', ''))}</li>"
            )
    out.append("</ul>")
    for anchor, method, path, op in ops:
        out.append(
            f"<h3 id='{anchor}'><span class='m'>{method.upper()}</span>"
            f"<code>{html.escape(path)}</code></h3>"
        )
        out.append(f"<p>{html.escape(op.get('summary', ''))}</p>")
        if op.get("description"):
            out.append(f"<p>{html.escape(op['description'])}</p>")
        for p in op.get("parameters", []):
            out.append(
                f"<p>paramètre <code>{html.escape(p['name'])}</code> ({p['in']}) : "
                f"{html.escape(p.get('description', ''))}</p>"
            )
        if "requestBody" in op:
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            name = ref.rsplit("/", 1)[-1]
            out.append(f"<p>corps : <a href='#schema-{name}'>{name}</a></p>")
        out.append(
            "<p>authentification : "
            + ("jeton bearer" if op.get("security") else "aucune (public)")
            + "</p><ul>"
        )
        for code, resp in op["responses"].items():
            types = ", ".join(resp.get("content", {}))
            out.append(
                f"<li><b>{code}</b> {html.escape(resp['description'])}"
                + (f" <small>({html.escape(types)})</small>" if types else "")
                + "</li>"
            )
        out.append("</ul>")
    out.append("<h2>Schémas</h2>")
    for name, schema in spec["components"]["schemas"].items():
        out.append(f"<h3 id='schema-{html.escape(name)}'>{html.escape(name)}</h3>")
        out.append(_schema_html(schema))
    out.append("</body></html>")
    return "\n".join(out)
