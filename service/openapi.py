"""OpenAPI 3.1 document generated from the pydantic schemas, and its server-side HTML rendering.

``build_spec()`` puts every model's JSON Schema under ``components/schemas`` (pydantic's
``models_json_schema`` with a ``#/components/schemas/{model}`` ref template) and describes the
operations below. ``render_docs()`` turns the same document into a self-contained HTML page
(no JavaScript, no CDN: the machines have no internet access).
"""

from __future__ import annotations

import functools
import html
import json
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from service.api_schemas import (
    MAX_ID,
    AvisPrefetBody,
    Health,
    Problem,
    RoundCommitBody,
    RoundDraftBody,
    RoundList,
    RoundOut,
    RoundOverrideBody,
    RoundResult,
    StructureDocument,
    StructureOut,
    TerritoireOut,
)
from service.schemas import RoundRequest

REF = "#/components/schemas/{model}"
INPUT_MODELS: list[type[BaseModel]] = [
    RoundRequest,
    StructureDocument,
    AvisPrefetBody,
    RoundDraftBody,
    RoundOverrideBody,
    RoundCommitBody,
]
OUTPUT_MODELS: list[type[BaseModel]] = [
    RoundResult,
    StructureOut,
    RoundOut,
    RoundList,
    TerritoireOut,
    Health,
    Problem,
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


def _body(model: str, required: bool = True) -> dict[str, Any]:
    return {
        "required": required,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}},
    }


ERRORS = {
    "400": _problem("JSON mal formé (NaN/Infinity, caractère NUL...)"),
    "401": _problem("jeton absent ou inconnu"),
    "403": _problem("rôle non autorisé"),
    "413": _problem("corps trop volumineux"),
    "415": _problem("le corps n'est pas du JSON"),
    "422": _problem("requête invalide (champ, valeur, règle)"),
    "503": _problem("service indisponible"),
    "default": _problem("autre erreur (RFC 9457)"),
}


def _op(
    summary: str,
    roles: tuple[str, ...],
    responses: dict[str, Any],
    *,
    body: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
    idempotent: bool = False,
    errors: tuple[str, ...] = (),
) -> dict[str, Any]:
    all_roles = sorted({*roles, "admin"})
    op: dict[str, Any] = {
        "summary": summary,
        "description": "Rôles autorisés : " + ", ".join(all_roles) + ".",
        "security": [{"bearer": []}],
        "x-roles": all_roles,
        "responses": {**responses, **{k: ERRORS[k] for k in ("401", "403", *errors, "default")}},
    }
    parameters = list(params or [])
    if idempotent:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "même clé + même corps → même réponse ; autre corps → 422",
                "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
            }
        )
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


ID_PG = _id("idPG", "identifiant de la structure sur le portail")
ROUND_ID = _id("id", "numéro du tour d'attribution")
NOT_FOUND = {"404": _problem("ressource introuvable")}
CONFLICT = {"409": _problem("conflit avec l'état stocké")}


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
                "Tour sans état : requête de tour → résultat (CONTRACT.md)",
                ("portail", "agence", "analyste"),
                {"200": _json("RoundResult", "résultat du tour")},
                body=_body("RoundRequest"),
                idempotent=True,
                errors=("400", "413", "415", "422"),
            )
        },
        "/v1/structures/{idPG}": {
            "put": _op(
                "Créer ou mettre à jour une candidature (idempotent)",
                ("portail",),
                {
                    "200": _json("StructureOut", "structure mise à jour"),
                    "201": _json("StructureOut", "structure créée"),
                    **CONFLICT,
                },
                body=_body("StructureDocument"),
                params=[ID_PG],
                errors=("400", "413", "415", "422"),
            ),
            "get": _op(
                "Lire une candidature : statut, dotation, historique, explication",
                ("portail", "agence", "analyste"),
                {"200": _json("StructureOut", "structure"), **NOT_FOUND},
                params=[ID_PG],
            ),
        },
        "/v1/structures/{idPG}/avis-prefet": {
            "post": _op(
                "Enregistrer l'avis du préfet",
                ("portail", "agence"),
                {"201": _json("StructureOut", "avis enregistré"), **NOT_FOUND},
                body=_body("AvisPrefetBody"),
                params=[ID_PG],
                idempotent=True,
                errors=("400", "413", "415", "422"),
            )
        },
        "/v1/rounds": {
            "post": _op(
                "Préparer un tour (brouillon) sur les structures en attente",
                ("agence",),
                {"201": _json("RoundOut", "brouillon créé"), **CONFLICT},
                body=_body("RoundDraftBody"),
                idempotent=True,
                errors=("400", "413", "415", "422"),
            ),
            "get": _op(
                "Lister les tours",
                ("agence", "analyste"),
                {"200": _json("RoundList", "tours")},
            ),
        },
        "/v1/rounds/{id}": {
            "get": _op(
                "Lire un tour",
                ("agence", "analyste"),
                {"200": _json("RoundOut", "tour"), **NOT_FOUND},
                params=[ROUND_ID],
            ),
            "patch": _op(
                "Verrouiller / arbitrer une structure (motif obligatoire) et recalculer",
                ("agence",),
                {"200": _json("RoundOut", "tour recalculé"), **NOT_FOUND, **CONFLICT},
                body=_body("RoundOverrideBody"),
                params=[ROUND_ID],
                errors=("400", "413", "415", "422"),
            ),
        },
        "/v1/rounds/{id}/commit": {
            "post": _op(
                "Valider un tour (une transaction ; immuable ensuite)",
                ("agence",),
                {"200": _json("RoundOut", "tour validé"), **NOT_FOUND, **CONFLICT},
                body=_body("RoundCommitBody", required=False),
                params=[ROUND_ID],
                idempotent=True,
                errors=("400", "413", "415", "422"),
            )
        },
        "/v1/territoires/{niveau}/{code}": {
            "get": _op(
                "Diagnostic d'un territoire : besoin, couverture, accessibilité, dotations",
                ("portail", "agence", "analyste"),
                {"200": _json("TerritoireOut", "diagnostic"), **NOT_FOUND},
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
                        "description": "code du département, SIREN de l'EPCI ou code commune",
                        "schema": {"type": "string", "pattern": "^[0-9AB]{2,9}$"},
                    },
                ],
                errors=("422", "503"),
            )
        },
        "/health": {
            "get": {
                "summary": "Le processus répond",
                "security": [],
                "responses": {"200": _json("Health", "en service")},
            }
        },
        "/ready": {
            "get": {
                "summary": "La base est joignable et à jour",
                "security": [],
                "responses": {
                    "200": _json("Health", "prêt"),
                    "503": _problem("base injoignable ou schéma pas à jour"),
                },
            }
        },
    }
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
            "schemas": defs["$defs"],
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "jeton d'API"}
            },
        },
    }


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
        out.append("<ul>")
        for code, resp in op["responses"].items():
            out.append(f"<li><b>{code}</b> {html.escape(resp['description'])}</li>")
        out.append("</ul>")
    out.append("<h2>Schémas</h2>")
    for name, schema in spec["components"]["schemas"].items():
        out.append(f"<h3 id='schema-{html.escape(name)}'>{html.escape(name)}</h3>")
        out.append(_schema_html(schema))
    out.append("</body></html>")
    return "\n".join(out)
