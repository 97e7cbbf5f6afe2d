"""OpenAPI 3.1 document generated from the routes' declarations, and its server-side HTML page.

Each view of the API declares its operation where it is routed (:func:`service.http.operations.
operation`: summary, responses, request body, parameters; roles and ``Idempotency-Key`` from
``requires``/``idempotent``). ``build_spec(app)`` walks the app's ``url_map`` and builds the
paths from those records, and puts the JSON Schema of every model they name under
``components/schemas`` (pydantic's ``models_json_schema`` with a ``#/components/schemas/{model}``
ref template). ``render_docs()`` turns the same document into a self-contained HTML page (no
JavaScript, no CDN: the machines have no internet access).

A route without a declaration (static files, the agency's pages under ``/agence``, ``/docs``) is
not in the document; ``tests/service/test_openapi_coverage.py`` compares the document with the
app's ``url_map``, the views' roles and body models. Request bodies and query strings are the
pydantic models the views validate with; response models (:mod:`service.contract.responses`)
document the dicts the views build, and ``tests/service/test_schemathesis.py`` checks that they
conform.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from service.contract.responses import Problem
from service.contract.schemas import STORABLE_TEXT_PATTERN, STORABLE_TEXT_RULE
from service.http.operations import Operation, Param, ProblemReply, Reply, operation_of

REF = "#/components/schemas/{model}"
METHODS = ("get", "put", "post", "patch", "delete")

ROLES_DOC = {
    "portail": "le portail national (dépôt des candidatures, avis des préfets, simulations)",
    "agence": "l'ANCT (préparation, arbitrage et validation des tours)",
    "analyste": "lecture seule et simulations",
    "admin": "tout",
}


def _ref(model: type[BaseModel] | str) -> dict[str, str]:
    name = model if isinstance(model, str) else model.__name__
    return {"$ref": REF.format(model=name)}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref(Problem)}},
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
IDEMPOTENCY_KEY = Param(
    "Idempotency-Key",
    "header",
    {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
    "même clé + même corps et mêmes paramètres de requête (explication=…) → même réponse "
    "pendant 24 h (par défaut) ; autre corps ou autres paramètres → 422 ; requête encore en "
    "cours → 409",
)


# -- routes → operations ----------------------------------------------------------------------

_RULE_ARG = re.compile(r"<(?:[^<>]*:)?([A-Za-z_][A-Za-z0-9_]*)>")


def openapi_path(rule: str, op: Operation) -> str:
    """The document's path of a route: each ``<converter:arg>`` becomes ``{name}`` of the path
    parameter declared for ``arg`` (a route argument without one is an error)."""
    names = {p.arg: p.name for p in op.params if p.location == "path"}

    def name(match: re.Match[str]) -> str:
        arg = match.group(1)
        if arg not in names:
            raise LookupError(f"{rule}: paramètre de chemin « {arg} » non déclaré")
        return "{" + names[arg] + "}"

    return _RULE_ARG.sub(name, rule)


def documented_routes(app: Flask) -> Iterator[tuple[str, str, Operation]]:
    """(path, method, operation) of every route whose view declares an operation, in the order
    of the app's ``url_map``."""
    for rule in app.url_map.iter_rules():
        op = operation_of(app.view_functions[rule.endpoint])
        if op is None:
            continue
        for method in METHODS:
            if method.upper() in (rule.methods or ()):
                yield openapi_path(rule.rule, op), method, op


def query_parameters(
    model: type[BaseModel], empty_as_absent: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The query parameters of ``model`` (the one the view validates the query string with);
    those named in ``empty_as_absent`` also accept an empty value (as absent)."""
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
        if name in empty_as_absent:
            prop = {"anyOf": [prop, {"type": "string", "maxLength": 0}]}
        out.append({**param, "schema": prop})
    return out


def _response(declared: Reply | ProblemReply) -> dict[str, Any]:
    if isinstance(declared, ProblemReply):
        return _problem(declared.description)
    content: dict[str, Any] = {}
    if declared.model is not None:
        content["application/json"] = {"schema": _ref(declared.model)}
    if declared.schema is not None:
        content["application/json"] = {"schema": dict(declared.schema)}
    for mime in declared.mimetypes:
        content[mime] = {"schema": {"type": "string"}}
    return {"description": declared.description, "content": content}


def document_operation(op: Operation) -> dict[str, Any]:
    """One operation of the document. ``roles=None``: public (no token).

    The problem responses every operation can give are added here: 401/403 with a token, 404
    with a path parameter (unknown id, or one the route does not match), 400/413/415/422 with a
    body, 409/422 with ``Idempotency-Key``, and ``default``.
    """
    parameters = [p.document() for p in op.params]
    if op.query is not None:
        parameters += query_parameters(op.query, op.empty_as_absent)
    codes: list[str] = list(op.errors)
    out: dict[str, Any] = {"summary": op.summary}
    if op.roles is None:
        out["description"] = "Public : sans jeton."
        out["security"] = []
    else:
        out["description"] = "Rôles autorisés : " + ", ".join(op.roles) + "."
        out["security"] = [{"bearer": []}]
        out["x-roles"] = list(op.roles)
        codes += ["401", "403"]
    if any(p.location == "path" for p in op.params):
        codes.append("404")
    if op.body is not None:
        codes += ["400", "413", "415", "422"]
    if op.idempotent:
        parameters.append(IDEMPOTENCY_KEY.document())
        codes += ["409", "422"]
    responses = {code: _response(r) for code, r in op.responses.items()}
    out["responses"] = {
        **responses,
        **{k: ERRORS[k] for k in sorted(set(codes) - set(responses))},
        "default": ERRORS["default"],
    }
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        out["requestBody"] = {
            "required": op.body_required,
            "content": {"application/json": {"schema": _ref(op.body)}},
        }
    return out


def input_models(app: Flask) -> list[type[BaseModel]]:
    """The request bodies of the document: the very models the views validate with."""
    models = [op.body for _, _, op in documented_routes(app) if op.body is not None]
    return list(dict.fromkeys(models))


def output_models(app: Flask) -> list[type[BaseModel]]:
    """The response models of the document (and :class:`Problem`, of every error)."""
    models = [
        r.model
        for _, _, op in documented_routes(app)
        for r in op.responses.values()
        if isinstance(r, Reply) and r.model is not None
    ]
    return list(dict.fromkeys([*models, Problem]))


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``'s routes (built once per app)."""
    cached: dict[str, Any] | None = app.extensions.get("allocator.openapi")
    if cached is None:
        cached = app.extensions["allocator.openapi"] = _build_spec(app)
    return cached


#: The document's reading order: the stateless round, the structures and their posts, the
#: rounds, the programme, scenarios, territories, the notice, then the service itself. A route
#: not listed comes last, in route order (``tests/service/test_openapi_coverage.py`` requires
#: every documented path to be listed).
PATH_ORDER = (
    "/v1/allocate",
    "/v1/structures/import-historique",
    "/v1/structures/{idPG}",
    "/v1/structures/{idPG}/avis-prefet",
    "/v1/structures/{idPG}/explication",
    "/v1/structures/{idPG}/postes",
    "/v1/structures/{idPG}/postes/{numero}",
    "/v1/structures/{idPG}/postes/{numero}/evenements",
    "/v1/structures/{idPG}/demandes",
    "/v1/rounds",
    "/v1/rounds/mensuel",
    "/v1/rounds/import-historique",
    "/v1/rounds/{id}",
    "/v1/rounds/{id}/commit",
    "/v1/rounds/{id}/rejeu",
    "/v1/programme",
    "/v1/postes/echeances",
    "/v1/scenarios",
    "/v1/territoires/{niveau}/{code}",
    "/v1/notice",
    "/health",
    "/ready",
    "/openapi.json",
)


def _reading_order(paths: dict[str, Any]) -> dict[str, Any]:
    rank = {path: i for i, path in enumerate(PATH_ORDER)}
    return dict(sorted(paths.items(), key=lambda item: rank.get(item[0], len(rank))))


def _build_spec(app: Flask) -> dict[str, Any]:
    _, defs = models_json_schema(
        [(m, "validation") for m in input_models(app)]
        + [(m, "serialization") for m in output_models(app)],
        ref_template=REF,
    )
    paths: dict[str, Any] = {}
    for path, method, op in documented_routes(app):
        paths.setdefault(path, {})[method] = document_operation(op)
    paths = _reading_order(paths)
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
