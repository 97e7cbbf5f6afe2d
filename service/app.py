"""The Flask application factory and its configuration layers.

``create_app(test_config=None)`` (re-exported as ``service.create_app``) is the factory (no
module-level app): production runs ``gunicorn -c python:service.http.gunicorn_conf
'service:create_app()'`` (worker model: :mod:`service.http.gunicorn_conf`), development
``allocator serve``.

Configuration layers, later ones winning: :data:`DEFAULTS` → ``instance/config.py`` (if present)
→ environment variables prefixed ``ALLOCATOR_`` (``ALLOCATOR_DATABASE_URL``,
``ALLOCATOR_SECRET_KEY``, ``ALLOCATOR_MAX_CONTENT_LENGTH``, ``ALLOCATOR_MAX_STRUCTURES``,
``ALLOCATOR_MAX_SCENARIO_STRUCTURES``, ``ALLOCATOR_ENV``...) → ``test_config``.
The instance folder is ``$ALLOCATOR_INSTANCE_PATH`` or ``./instance``.

``ALLOCATOR_PUBLIC_URL`` is the service's public address, where the letters say the public
notice is (``…/v1/notice``); it is read from the environment (the command line writes letters
too), defaults to ``http://127.0.0.1:8000`` and must be an absolute http or https address.

Behind a TLS-terminating reverse proxy set ``ALLOCATOR_PROXY_FIX`` to the number of proxies: the
app is wrapped in werkzeug's ``ProxyFix`` and trusts their ``X-Forwarded-For``/``-Proto`` (so
that ``request.is_secure`` and the client address are right). Production mode
(``ALLOCATOR_ENV=production``) always marks the session cookie ``Secure``.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from flask import Flask, Response, g, request

from service.contract.schemas import (
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
    # Idempotency-Key: replay window of a stored response (s), lease of a running request (s) —
    # longer than any request, so that only a dead worker's key expires —, and the largest
    # response kept for replay (bytes; a larger one is sent but cannot be replayed).
    "IDEMPOTENCY_TTL": 24 * 3600,
    "IDEMPOTENCY_LEASE": 15 * 60,
    "IDEMPOTENCY_MAX_BYTES": 1024 * 1024,
    # Number of reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted
    # (werkzeug ProxyFix); 0: none (the headers are ignored).
    "PROXY_FIX": 0,
}
#: Settings that must be whole numbers, and their smallest value.
WHOLE_SETTINGS = {
    "IDEMPOTENCY_TTL": 1,
    "IDEMPOTENCY_LEASE": 1,
    "IDEMPOTENCY_MAX_BYTES": 0,
    "PROXY_FIX": 0,
}
DEV_SECRET = "dev-secret-not-for-production"

log = logging.getLogger("service")


def normalise_url(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _check_whole_settings(config: Any) -> None:
    """Refuse to start with a setting of :data:`WHOLE_SETTINGS` that is not a whole number."""
    for name, smallest in WHOLE_SETTINGS.items():
        value = config[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < smallest:
            raise RuntimeError(
                f"ALLOCATOR_{name} doit être un nombre entier supérieur ou égal à {smallest} "
                f"(reçu : {value!r})."
            )


def _check_public_url(production: bool) -> None:
    """Refuse to start with an ``ALLOCATOR_PUBLIC_URL`` the letters could not cite; warn when a
    production service cites the notice at the development default (the letters are written
    by the command line too, which reads the same variable: it is not an app setting)."""
    from service.explanations.legal import (
        DEFAULT_PUBLIC_URL,
        NOTICE_CHEMIN,
        PUBLIC_URL_ENV,
        public_url,
    )

    try:
        url = public_url()
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None
    if production and url == DEFAULT_PUBLIC_URL:
        log.warning(
            "%s n'est pas défini : les lettres citent la notice publique à l'adresse de "
            "développement %s%s.",
            PUBLIC_URL_ENV,
            url,
            NOTICE_CHEMIN,
        )


def forbid_framing(response: Response) -> Response:
    """No page of the service may be shown in a frame (clickjacking): every response says so."""
    csp = response.headers.get("Content-Security-Policy")
    if csp is None:
        response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    elif "frame-ancestors" not in csp:
        response.headers["Content-Security-Policy"] = f"{csp}; frame-ancestors 'none'"
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response


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
    app = _configured_app(test_config)
    production = app.config["ENV"] == "production"
    _check_settings(app, production)
    _trust_proxies(app)
    _open_database(app, production)
    logging.getLogger("service").setLevel(app.config["LOG_LEVEL"])
    register_routes(app)
    _install_hooks(app)
    return app


def _configured_app(test_config: dict[str, Any] | None) -> Flask:
    """The bare app with its configuration layers (:data:`DEFAULTS`, instance file, environment,
    ``test_config``)."""
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
    return app


def _check_settings(app: Flask, production: bool) -> None:
    """Refuse to start on a missing or development secret in production, a setting that is not a
    whole number, an unusable public address or structure limit."""
    if not app.config.get("SECRET_KEY"):
        if production:
            raise RuntimeError(
                "ALLOCATOR_SECRET_KEY est obligatoire en production (ALLOCATOR_ENV=production)."
            )
        app.config["SECRET_KEY"] = DEV_SECRET
    elif production and app.config["SECRET_KEY"] == DEV_SECRET:
        raise RuntimeError("La clé secrète de développement est interdite en production.")

    _check_whole_settings(app.config)
    _check_public_url(production)
    for name, default in (
        ("MAX_STRUCTURES", DEFAULT_MAX_STRUCTURES),
        ("MAX_SCENARIO_STRUCTURES", DEFAULT_MAX_SCENARIO_STRUCTURES),
    ):
        try:
            app.config[name] = limit_setting(app.config.get(name), default)
        except ValueError as exc:
            raise RuntimeError(f"ALLOCATOR_{name} : {exc}") from None


def _trust_proxies(app: Flask) -> None:
    """Behind ``PROXY_FIX`` reverse proxies: trust their ``X-Forwarded-For``/``-Proto``."""
    if app.config["PROXY_FIX"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["PROXY_FIX"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]


def _open_database(app: Flask, production: bool) -> None:
    """The app's :class:`~service.store.db.Database` (``app.extensions["allocator.db"]``),
    upgraded when ``AUTO_MIGRATE`` says so (default: an embedded SQLite outside production)."""
    from service.store.db import Database, default_sqlite_url

    url = app.config.get("DATABASE_URL") or default_sqlite_url(app.instance_path)
    app.config["DATABASE_URL"] = url = normalise_url(str(url))
    database = Database(url)
    app.extensions["allocator.db"] = database
    auto = app.config.get("AUTO_MIGRATE")
    if auto is None:
        auto = database.is_sqlite and not production
    if auto:
        database.upgrade()


def register_routes(app: Flask) -> None:
    """The error handler, the API's blueprints (each view declares its OpenAPI operation:
    :mod:`service.http.operations`) and the agency's pages."""
    from service import ui
    from service.http import meta, problems
    from service.http import rounds as api_cycle
    from service.http import scenarios as api_scenarios  # scenario comparison (issue 7)
    from service.http import structures as api
    from service.http import (
        transparence as api_transparence,
    )  # explanations and public notice (issue 6)

    problems.register(app)
    app.register_blueprint(meta.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(api_transparence.bp)
    app.register_blueprint(api_cycle.bp)
    app.register_blueprint(api_scenarios.bp)
    ui.init_app(app)


def _install_hooks(app: Flask) -> None:
    """Per request: the timer, the storable-text rule on parameters and forms, the access log
    line and the anti-framing headers."""
    from service.http.web import check_request_text

    @app.before_request
    def _start_timer() -> None:
        g.t0 = time.perf_counter()

    app.before_request(check_request_text)

    @app.after_request
    def _log_request(response: Response) -> Response:
        # Method, path, status and duration only: bodies may hold personal data.
        elapsed = (time.perf_counter() - g.get("t0", time.perf_counter())) * 1000
        log.info("%s %s %s %.1f ms", request.method, request.path, response.status_code, elapsed)
        return response

    app.after_request(forbid_framing)
