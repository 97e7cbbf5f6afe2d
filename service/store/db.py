"""Database access: engines, transactions and the embedded Alembic migrations.

One :class:`Database` per application (``app.extensions["allocator.db"]``) or per CLI call.
Store functions take a :class:`sqlalchemy.orm.Session` and never commit: the caller opens

- :meth:`Database.read` for read-only work, and
- :meth:`Database.write` for a write transaction, committed when the block ends and rolled back on
  any exception.

SQLite: a write transaction starts with ``BEGIN IMMEDIATE`` (the database write lock is taken at
the start, so two writers queue on the busy timeout instead of failing half-way with
``database is locked``); reads use deferred transactions in WAL mode. PostgreSQL: READ COMMITTED
plus explicit row locks (``SELECT ... FOR UPDATE``) where a decision depends on what was read.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


def default_sqlite_url(instance_path: str | os.PathLike[str]) -> str:
    """The embedded store: ``<instance>/allocator.sqlite3`` (directory created if needed)."""
    path = Path(instance_path)
    path.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(path / 'allocator.sqlite3').resolve()}"


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit BEGIN is deferred and late).
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        if ":memory:" not in url:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@functools.cache
def _head_revision() -> str | None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


class Database:
    """Engines and session factories for one store URL.

    Parameters
    ----------
    url
        SQLAlchemy URL (``sqlite:///...`` or ``postgresql+psycopg://...``).
    """

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = _sqlite_engine(url, immediate=False)
            self.write_engine = _sqlite_engine(url, immediate=True)
        else:
            options = {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 10}
            options.update(engine_options)
            self.engine = create_engine(url, **options)
            self.write_engine = self.engine
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (rolled back at the end)."""
        with self._read() as session:
            try:
                yield session
            finally:
                session.rollback()

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: committed when the block ends, rolled back on error."""
        with self._write() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()

    # -- migrations -------------------------------------------------------------------------

    def alembic_config(self) -> AlembicConfig:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def upgrade(self, revision: str = "head") -> None:
        """Apply the embedded migrations up to ``revision`` (``allocator db upgrade``)."""
        cfg = self.alembic_config()
        with self.write_engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        return _head_revision()

    def is_up_to_date(self) -> bool:
        return self.current_revision() == self.head_revision()
