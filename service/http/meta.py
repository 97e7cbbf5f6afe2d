"""Unauthenticated endpoints: liveness, readiness, the OpenAPI document and its HTML page."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.contract.errors import Unavailable
from service.contract.responses import Health
from service.http.openapi import build_spec, render_docs
from service.http.operations import Reply, operation, problem_reply, reply
from service.http.web import db, json_response

bp = Blueprint("meta", __name__)


@bp.get("/health")
@operation("Le processus répond", {"200": reply(Health, "en service")})
def health() -> Response:
    """200 as long as the process answers (no database access)."""
    return json_response({"status": "ok"})


@bp.get("/ready")
@operation(
    "La base est joignable et à jour",
    {
        "200": reply(Health, "prêt"),
        "503": problem_reply("base injoignable ou schéma pas à jour"),
    },
)
def ready() -> Response:
    """200 when the database answers and its schema is at the migrations' head, 503 otherwise."""
    database = db()
    try:
        with database.read() as s:
            s.execute(text("SELECT 1"))
        up_to_date = database.is_up_to_date()
    except SQLAlchemyError:
        raise Unavailable("Base de données injoignable.") from None
    if not up_to_date:
        raise Unavailable("Schéma de la base pas à jour : lancez « allocator db upgrade ».")
    return json_response({"status": "ready"})


@bp.get("/openapi.json")
@operation(
    "Ce document (OpenAPI 3.1) ; sa version HTML est servie sur /docs",
    {"200": Reply("document OpenAPI", schema={"type": "object"})},
)
def openapi() -> Response:
    return json_response(build_spec(current_app))


@bp.get("/docs")
def docs() -> Response:
    return Response(render_docs(build_spec(current_app)), mimetype="text/html")
