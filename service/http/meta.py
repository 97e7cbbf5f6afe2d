"""Unauthenticated endpoints: liveness, readiness, the OpenAPI document and its HTML page."""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.contract.errors import Unavailable
from service.http.openapi import build_spec, render_docs
from service.http.web import db, json_response

bp = Blueprint("meta", __name__)


@bp.get("/health")
def health() -> Response:
    """200 as long as the process answers (no database access)."""
    return json_response({"status": "ok"})


@bp.get("/ready")
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
def openapi() -> Response:
    return json_response(build_spec())


@bp.get("/docs")
def docs() -> Response:
    return Response(render_docs(build_spec()), mimetype="text/html")
