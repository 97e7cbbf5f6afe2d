"""The Flask application factory and its configuration layers.

``create_app(test_config=None)`` (re-exported as ``service.create_app``) is the factory (no
module-level app): production runs ``gunicorn -c python:service.gunicorn_conf
'service:create_app()'`` (worker model: :mod:`service.gunicorn_conf`), development
``allocator serve``.

Configuration layers, later ones winning: :data:`DEFAULTS` → ``instance/config.py`` (if present)
→ environment variables prefixed ``ALLOCATOR_`` (``ALLOCATOR_DATABASE_URL``,
``ALLOCATOR_SECRET_KEY``, ``ALLOCATOR_MAX_CONTENT_LENGTH``, ``ALLOCATOR_MAX_STRUCTURES``,
``ALLOCATOR_MAX_SCENARIO_STRUCTURES``, ``ALLOCATOR_ENV``...) → ``test_config``.
The instance folder is ``$ALLOCATOR_INSTANCE_PATH`` or ``./instance``.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from flask import Flask, Response, g, request

from service.schemas import (
    DEFAULT_MAX_SCENARIO_STRUCTURES,
    DEFAULT_MAX_STRUCTURES,
    limit_setting,
)

DEFAULTS: dict[str, Any] = {
    "ENV": "development",
    # Development only; production refuses to start without ALLOCATOR_SECRET_KEY.
    "SECRET_KEY": None,
    # None: SQLite file ``<instance>/allocator.sqlite3``.
    "DATABASE_URL": None,
    # A round of 1,500 whole portal documents is ~2 MB: 16 MB leaves room and stops abuse.
    "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
    # Most structures in one round request (POST /v1/allocate, a scenario comparison): 422 above.
    "MAX_STRUCTURES": DEFAULT_MAX_STRUCTURES,
    # Most structures one scenario comparison may solve in all (structures × planned solves).
    "MAX_SCENARIO_STRUCTURES": DEFAULT_MAX_SCENARIO_STRUCTURES,
    # None: upgrade the embedded SQLite automatically outside production; never otherwise.
    "AUTO_MIGRATE": None,
    "LOG_LEVEL": "INFO",
}
DEV_SECRET = "dev-secret-not-for-production"

log = logging.getLogger("service")


def _normalise_url(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask application.

    Parameters
    ----------
    test_config
        Configuration applied last (tests): e.g. ``{"DATABASE_URL": "sqlite:///..."}``.

    Raises
    ------
    RuntimeError
        In production (``ENV == "production"``) without a secret key.
    """
    from service import api, errors, meta, ui
    from service.db import Database, default_sqlite_url

    instance_path = os.environ.get("ALLOCATOR_INSTANCE_PATH") or os.path.join(
        os.getcwd(), "instance"
    )
    app = Flask(
        __name__, instance_path=os.path.abspath(instance_path), instance_relative_config=True
    )
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("ALLOCATOR")
    if test_config is not None:
        app.config.from_mapping(test_config)

    production = app.config["ENV"] == "production"
    if not app.config.get("SECRET_KEY"):
        if production:
            raise RuntimeError(
                "ALLOCATOR_SECRET_KEY est obligatoire en production (ALLOCATOR_ENV=production)."
            )
        app.config["SECRET_KEY"] = DEV_SECRET
    elif production and app.config["SECRET_KEY"] == DEV_SECRET:
        raise RuntimeError("La clé secrète de développement est interdite en production.")

    for name, default in (
        ("MAX_STRUCTURES", DEFAULT_MAX_STRUCTURES),
        ("MAX_SCENARIO_STRUCTURES", DEFAULT_MAX_SCENARIO_STRUCTURES),
    ):
        try:
            app.config[name] = limit_setting(app.config.get(name), default)
        except ValueError as exc:
            raise RuntimeError(f"ALLOCATOR_{name} : {exc}") from None

    url = app.config.get("DATABASE_URL") or default_sqlite_url(app.instance_path)
    app.config["DATABASE_URL"] = url = _normalise_url(str(url))
    database = Database(url)
    app.extensions["allocator.db"] = database
    auto = app.config.get("AUTO_MIGRATE")
    if auto is None:
        auto = database.is_sqlite and not production
    if auto:
        database.upgrade()

    logging.getLogger("service").setLevel(app.config["LOG_LEVEL"])
    errors.register(app)
    app.register_blueprint(meta.bp)
    app.register_blueprint(api.bp)
    from service import api_transparence  # explanations and public notice (issue 6)

    app.register_blueprint(api_transparence.bp)
    from service import api_cycle

    app.register_blueprint(api_cycle.bp)
    from service import api_scenarios  # scenario comparison (issue 7)

    app.register_blueprint(api_scenarios.bp)
    ui.init_app(app)

    @app.before_request
    def _start_timer() -> None:
        g.t0 = time.perf_counter()

    @app.after_request
    def _log_request(response: Response) -> Response:
        # Method, path, status and duration only: bodies may hold personal data.
        elapsed = (time.perf_counter() - g.get("t0", time.perf_counter())) * 1000
        log.info("%s %s %s %.1f ms", request.method, request.path, response.status_code, elapsed)
        return response

    return app
