"""The embedded Alembic migrations match the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from service.db import Database
from service.models import Base


def test_upgrade_matches_models_and_downgrades(db_url: str) -> None:
    db = Database(db_url)
    assert db.current_revision() is None and not db.is_up_to_date()
    db.upgrade()
    db.upgrade()  # idempotent
    assert db.is_up_to_date()
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    cfg = db.alembic_config()
    with db.write_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert db.current_revision() is None
    db.dispose()
