"""The agency's review page: server-rendered pages over the same functions as the API.

``init_app(app)`` registers the ``ui`` blueprint (``/agence/...``) and the session cookie
settings. The pages call :mod:`service.application.rounds`, :mod:`service.store.repository` and
:mod:`service.analysis.metrics`
exactly as the ``/v1`` views do; nothing of the domain is computed here.

Modules: :mod:`service.ui.auth` (sign-in with an API token, signed session cookie, CSRF),
:mod:`service.ui.present` (tables and labels built from a stored round), :mod:`service.ui.carte`
(choropleth PNG of a proposal, cached per round version), :mod:`service.ui.views` (routes).
"""

from __future__ import annotations

from typing import Any


def init_app(app: Any) -> None:
    """Register the agency pages on ``app`` (a :class:`flask.Flask`)."""
    from service.ui import auth, views

    auth.init_app(app)
    app.register_blueprint(views.bp)
