"""Fixtures of the service tests: stores (SQLite and PostgreSQL), apps, tokens, a fake solver.

Storage tests run on a temporary SQLite file and on PostgreSQL (``ALLOCATOR_TEST_POSTGRES_URL``,
default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``), each test in a fresh schema that
is dropped afterwards. PostgreSQL cases are skipped when the server does not answer.

Most HTTP tests use :func:`fake_solve`, a tiny deterministic stand-in for
:func:`service.application.pipeline.run_round` (greedy by idPG) so that store and HTTP behaviour is
tested
independently of the engine; the tests marked with the ``real_pipeline`` fixture use the engine.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from service import create_app
from service.application import rounds
from service.contract.schemas import FieldError, InvalidRequest, RoundRequest, luhn_valid
from service.store import repository as store
from service.store.db import Database

PG_URL = os.environ.get(
    "ALLOCATOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ROLES = ("portail", "agence", "analyste", "admin")
UNKNOWN_CODE = "99999"


def _pg_available() -> bool:
    try:
        engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


PG_AVAILABLE = _pg_available()


@contextlib.contextmanager
def fresh_pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema (dropped afterwards), as a URL with its search_path; skips
    (fails under ``ALLOCATOR_REQUIRE_POSTGRES=1``) when the server does not answer."""
    if not PG_AVAILABLE:
        if os.environ.get("ALLOCATOR_REQUIRE_POSTGRES") == "1":
            pytest.fail(
                f"PostgreSQL required (ALLOCATOR_REQUIRE_POSTGRES=1) but unreachable at {PG_URL}"
            )
        pytest.skip(f"PostgreSQL unavailable at {PG_URL}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema (dropped afterwards), as a URL with its search_path."""
    with fresh_pg_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """Store URL, parametrised over SQLite (temp file) and PostgreSQL (fresh schema)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'store.sqlite3'}"


def fake_solve(
    request: RoundRequest,
    *,
    extra_existing: Mapping[str, int] | None = None,
    locks: Mapping[int, int] | None = None,
    programme_consumed: int | None = None,
    niveau: str = "complete",
) -> dict[str, Any]:
    """Deterministic stand-in for ``pipeline.run_round``: greedy by ascending idPG (its
    explanations at the compact level are those of ``explication.compacte``)."""
    for i, s in enumerate(request.structures):
        if s.codeCommune == UNKNOWN_CODE:
            raise InvalidRequest(
                [
                    FieldError(
                        f"structures[{i}].codeCommune", f"code commune inconnu : {UNKNOWN_CODE}"
                    )
                ]
            )
    locks = dict(locks or {})
    remaining = request.quota - sum(locks.values())
    decisions = []
    for s in sorted(request.structures, key=lambda s: s.idPG):
        room = max(0, s.nombreConseillersSouhaites - s.already_granted)
        if s.idPG in locks:
            granted, motifs = locks[s.idPG], ["VERROU_COMITE"]
        else:
            granted = max(0, min(room, remaining))
            remaining -= granted
            motifs = ["ATTRIBUE"] if granted else ["QUOTA_EPUISE"]
        decisions.append(
            {
                "idPG": s.idPG,
                "nombreConseillersAttribues": granted,
                "nombreConseillersCoselec": s.already_granted + granted,
                "avisCoselec": "POSITIF" if granted else "NÉGATIF",
                "motifs": motifs,
                "explication": {"fake": True},
            }
        )
    granted_total = sum(d["nombreConseillersAttribues"] for d in decisions)
    status = "INFEASIBLE" if granted_total > request.quota else "OPTIMAL"
    result = {
        "status": status,
        "decisions": decisions,
        "totaux": {"attribues": granted_total, "quota": request.quota},
        "solveur": {"nom": "fake", "version": "0", "gap": 0.0, "secondes": 0.0, "graine": 0},
        "entreeSha256": hashlib.sha256(
            json.dumps(request.model_dump(mode="json"), sort_keys=True).encode()
            + json.dumps(sorted((extra_existing or {}).items())).encode()
        ).hexdigest(),
        **({"conflits": ["verrous > quota"]} if status == "INFEASIBLE" else {}),
    }
    if niveau == "compacte":
        from service.explanations.levels import compact_result

        compact_result(result)
    return result


@pytest.fixture
def fake_solver(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace the engine by :func:`fake_solve`; returns the list of recorded calls."""
    calls: list[dict[str, Any]] = []

    def solve(request: RoundRequest, **kwargs: Any) -> dict[str, Any]:
        calls.append({"request": request, **kwargs})
        return fake_solve(request, **kwargs)

    monkeypatch.setattr(rounds, "solve", solve)
    return calls


@pytest.fixture
def real_pipeline() -> None:
    """Skip unless the real engine imports (it is written in parallel)."""
    try:
        import service.application.pipeline  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"pipeline unavailable: {exc}")


def make_tokens(database: Database) -> dict[str, dict[str, str]]:
    headers = {}
    with database.write() as s:
        for role in ROLES:
            raw = store.create_token(s, role, f"test-{role}")
            headers[role] = {"Authorization": f"Bearer {raw}"}
    return headers


@pytest.fixture
def app(db_url: str, fake_solver: Any) -> Any:
    """Application on the parametrised store with the fake solver."""
    application = create_app({"DATABASE_URL": db_url, "AUTO_MIGRATE": True, "TESTING": True})
    yield application
    application.extensions["allocator.db"].dispose()


@pytest.fixture
def sqlite_app(sqlite_url: str, fake_solver: Any) -> Any:
    """Application on a temporary SQLite store with the fake solver."""
    application = create_app({"DATABASE_URL": sqlite_url, "TESTING": True})
    yield application
    application.extensions["allocator.db"].dispose()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def tokens(app: Any) -> dict[str, dict[str, str]]:
    return make_tokens(app.extensions["allocator.db"])


@pytest.fixture
def sqlite_client(sqlite_app: Any) -> Any:
    return sqlite_app.test_client()


@pytest.fixture
def sqlite_tokens(sqlite_app: Any) -> dict[str, dict[str, str]]:
    return make_tokens(sqlite_app.extensions["allocator.db"])


def synthetic_siret(n: int, prefix: str = "210") -> str:
    """A valid SIRET (Luhn key, checked by the service's own rule) numbered ``n``."""
    base = f"{prefix}{n:010d}"
    return next(base + d for d in "0123456789" if luhn_valid(base + d))


def structure_doc(id_pg: int, code: str = "01283", **fields: Any) -> dict[str, Any]:
    """A portal structure document (with personal data the service must drop)."""
    doc = {
        "idPG": id_pg,
        "type": "COMMUNE",
        "nom": f"Commune {id_pg}",
        "siret": synthetic_siret(id_pg),
        "codeCommune": code,
        "codePostal": "01100",
        "nombreConseillersSouhaites": 2,
        "qualiteProjet": 70,
        "estZRR": False,
        "qpvStatut": "Non",
        "estLabelliseFranceServices": "NON",
        "contact": {
            "prenom": "Jeanne",
            "nom": "Martin",
            "email": "jeanne.martin@example.org",
            "telephone": "0601020304",
        },
        "location": {"type": "Point", "coordinates": [5.65, 46.25]},
        "createdAt": "2021-05-02T10:00:00Z",
    }
    doc.update(fields)
    return doc


def small_request(quota: int = 3) -> dict[str, Any]:
    """A small contract request on real commune codes."""
    return {
        "quota": quota,
        "mois": "2021-06",
        "structures": [
            {
                "idPG": 1017,
                "type": "COMMUNE",
                "codeCommune": "01283",
                "nombreConseillersSouhaites": 2,
                "qualiteProjet": 72,
            },
            {
                "idPG": 2001,
                "type": "COMMUNE",
                "codeCommune": "75056",
                "nombreConseillersSouhaites": 3,
                "qualiteProjet": 60,
            },
            {
                "idPG": 3002,
                "type": "COMMUNE",
                "codeCommune": "13055",
                "nombreConseillersSouhaites": 2,
                "qualiteProjet": 80,
            },
        ],
    }
