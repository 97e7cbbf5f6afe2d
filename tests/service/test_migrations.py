"""The embedded Alembic migrations match the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from service.store.db import Database
from service.store.models import Base
from tests.service.conftest import structure_doc


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


MAX_ID = 2**53 - 1

#: Every route family keyed by an id (API and review pages), with an id nobody has.
ID_ROUTES = [
    ("GET", "/v1/structures/{big}", None),
    ("GET", "/v1/structures/{big}/explication", None),
    ("GET", "/v1/structures/{big}/postes", None),
    ("GET", "/v1/structures/1/postes/{big}", None),
    ("GET", "/v1/structures/{big}/postes/1", None),
    (
        "POST",
        "/v1/structures/{big}/avis-prefet",
        {"avisPrefet": "POSITIF", "commentairePrefet": "assez long cette fois"},
    ),
    ("POST", "/v1/structures/1/postes/{big}/evenements", {"type": "CANDIDAT_PRESENTE"}),
    ("POST", "/v1/structures/{big}/demandes", {"type": "AJOUT", "nombre": 1}),
    ("GET", "/v1/rounds/{big}", None),
    ("GET", "/v1/rounds/{big}/rejeu", None),
    ("PATCH", "/v1/rounds/{big}", {"idPG": 1, "nombre": 0, "motif": "arbitrage"}),
    ("POST", "/v1/rounds/{big}/commit", None),
    ("GET", "/agence/tours/{big}", None),
    ("GET", "/agence/tours/{big}/carte.png", None),
    ("GET", "/agence/tours/{big}/validation", None),
    ("GET", "/agence/tours/{big}/telechargements/csv", None),
    ("GET", "/agence/tours/1/structures/{big}", None),
]


@pytest.mark.parametrize("big", [2**31, MAX_ID, 2**64])
def test_unknown_ids_up_to_2_53_are_404_on_every_route(
    app: Any, tokens: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, big: int
) -> None:
    """int4 columns gave a 500 above 2**31 - 1 on PostgreSQL; ids are BIGINT since 0003."""
    monkeypatch.setenv("ALLOCATOR_INSTANCE_PATH", str(tmp_path / "instance"))
    client = app.test_client()
    admin = tokens["admin"]
    client.put("/v1/structures/1", json=structure_doc(1), headers=tokens["portail"])
    assert (
        client.post("/v1/rounds", json={"mois": "2021-06", "quota": 1}, headers=admin).status_code
        == 201
    )
    raw = admin["Authorization"].split()[1]
    page = client.get("/agence/connexion").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert (
        client.post("/agence/connexion", data={"csrf_token": csrf, "jeton": raw}).status_code == 302
    )
    for method, path, body in ID_ROUTES:
        url = path.format(big=big)
        kwargs = {"json": body} if body is not None else {}
        resp = client.open(url, method=method, headers=admin, **kwargs)
        assert resp.status_code == 404, (
            method,
            url,
            resp.status_code,
            resp.get_data(as_text=True)[:300],
        )


def test_0003_widens_ids_and_keeps_the_data(db_url: str) -> None:
    """Upgrading a store holding data from 0002: ids become BIGINT on PostgreSQL (sequences too),
    rows are kept, existing idempotency keys get an expiry, and the downgrade goes back."""
    db = Database(db_url)
    db.upgrade("0002")
    now = "2026-03-02 09:00:00"
    with db.write_engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO api_tokens (token_sha256, role, label, created_at) "
                f"VALUES ('{'a' * 64}', 'agence', 'x', '{now}')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO rounds (mois, quota, status, snapshot, result, locks, author, "
                f"created_at, updated_at, version) VALUES ('2021-06', 1, 'draft', '{{}}', '{{}}', "
                f"'{{}}', 'a', '{now}', '{now}', 1)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO idempotency_keys (token_id, key, method, path, request_sha256, "
                f"status_code, response_body, created_at) VALUES (1, 'done', 'POST', '/p', "
                f"'{'b' * 64}', 201, '{{}}', '{now}'), (1, 'running', 'POST', '/p', "
                f"'{'b' * 64}', NULL, NULL, '{now}')"
            )
        )
    db.upgrade()
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert conn.execute(sa.text("SELECT count(*) FROM rounds")).scalar() == 1
        keys = dict(conn.execute(sa.text("SELECT key, expires_at FROM idempotency_keys")).all())
        assert set(keys) == {"done", "running"} and all(keys.values())
    if not db.is_sqlite:
        with db.engine.begin() as conn:
            types = dict(
                conn.execute(
                    sa.text(
                        "SELECT table_name || '.' || column_name, data_type "
                        "FROM information_schema.columns WHERE table_schema = current_schema()"
                    )
                ).all()
            )
            for column in (
                "api_tokens.id",
                "rounds.id",
                "coselec.id",
                "coselec.round_id",
                "avis_prefet.id",
                "postes.id",
                "postes.numero",
                "postes.round_id",
                "postes_evenements.poste_id",
                "demandes_postes.round_id",
                "idempotency_keys.token_id",
                "ui_sessions.token_id",
            ):
                assert types[column] == "bigint", column
            # The sequence follows: a round id above 2**31 - 1 can still be generated.
            conn.execute(
                sa.text("SELECT setval(pg_get_serial_sequence('rounds', 'id'), 4000000000)")
            )
            new_id = conn.execute(
                sa.text(
                    "INSERT INTO rounds (mois, quota, status, snapshot, result, locks, author, "
                    f"created_at, updated_at, version, origine) VALUES ('2021-07', 1, 'draft', "
                    f"'{{}}', '{{}}', '{{}}', 'a', '{now}', '{now}', 1, 'moteur') RETURNING id"
                )
            ).scalar()
            assert new_id == 4000000001
            conn.execute(sa.text("DELETE FROM rounds WHERE id = 4000000001"))
            conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('rounds', 'id'), 1)"))
    cfg = db.alembic_config()
    with db.write_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM idempotency_keys")).scalar() == 2
    db.dispose()
