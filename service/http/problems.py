"""The one mapping of errors to ``application/problem+json`` (RFC 9457).

Every problem has ``type``, ``title``, ``status``, ``detail`` and ``errors``
(``[{"champ": ..., "message": ...}]``, possibly empty). The typed errors are
:mod:`service.contract.errors`; :func:`register` installs the single handler.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from service.contract.errors import ServiceError
from service.contract.schemas import FieldError, InvalidRequest

log = logging.getLogger("service")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "urn:conseillers-numeriques:probleme:"

#: status -> (type slug, French title) for the problems the service emits.
PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("requete-mal-formee", "Requête mal formée"),
    401: ("non-authentifie", "Authentification requise"),
    403: ("interdit", "Accès refusé"),
    404: ("introuvable", "Ressource introuvable"),
    405: ("methode-non-autorisee", "Méthode non autorisée"),
    406: ("non-acceptable", "Format de réponse non disponible"),
    409: ("conflit", "Conflit avec l'état actuel"),
    413: ("corps-trop-volumineux", "Corps de requête trop volumineux"),
    415: ("type-de-contenu", "Type de contenu non pris en charge"),
    422: ("requete-invalide", "Requête invalide"),
    500: ("erreur-interne", "Erreur interne"),
    503: ("service-indisponible", "Service indisponible"),
}

_WERKZEUG_DETAIL = {
    400: "La requête est mal formée.",
    404: "Aucune ressource à cette adresse.",
    405: "Cette méthode n'est pas autorisée sur cette ressource.",
    413: "Le corps de la requête dépasse la taille maximale autorisée.",
    415: "Le corps doit être du JSON (Content-Type: application/json).",
}


def problem(
    status: int,
    detail: str,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """Build one ``application/problem+json`` response."""
    slug, title = PROBLEMS.get(status, ("erreur", "Erreur"))
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "errors": [{"champ": e.champ, "message": e.message} for e in errors or []],
    }
    if request:
        body["instance"] = request.path
    resp = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_JSON)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def to_problem(exc: BaseException) -> Response:
    """Map any exception to its problem response (the one error mapping of the service)."""
    if isinstance(exc, ServiceError):
        return problem(exc.status, exc.detail, exc.errors, exc.headers)
    if isinstance(exc, InvalidRequest):
        return problem(422, exc.detail, exc.errors)
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        headers = {}
        if status == 405 and exc.response is None:
            allow = dict(exc.get_headers()).get("Allow")
            if allow:
                headers["Allow"] = allow
        detail = _WERKZEUG_DETAIL.get(status) or exc.description or ""
        if status == 413 and current_app.config.get("MAX_CONTENT_LENGTH"):
            limit = current_app.config["MAX_CONTENT_LENGTH"]
            detail = f"{detail[:-1]} : {limit} octets (ALLOCATOR_MAX_CONTENT_LENGTH)."
        return problem(status, detail, headers=headers)
    log.exception("erreur interne sur %s %s", request.method, request.path)
    return problem(500, "Erreur interne du service ; elle a été journalisée.")


def register(app: Flask) -> None:
    """Install the single error handler."""
    app.register_error_handler(Exception, to_problem)
