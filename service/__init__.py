"""Service edge: schemas, CLI, Flask application, persistence.

``service.create_app(test_config=None)`` is the application factory (no module-level app):
production runs ``gunicorn -c python:service.http.gunicorn_conf 'service:create_app()'``,
development
``allocator serve``. It lives in :mod:`service.app` with its configuration layers
(:data:`service.app.DEFAULTS`).

The package itself imports nothing heavy: ``allocator allocate`` (the CLI imports
``service.cli.main``) must not pay for Flask, SQLAlchemy or Alembic, so the factory is loaded on
first
access (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from service.app import DEFAULTS, DEV_SECRET, create_app

__all__ = ["DEFAULTS", "DEV_SECRET", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from service import app

        return getattr(app, name)
    raise AttributeError(f"module 'service' has no attribute {name!r}")
