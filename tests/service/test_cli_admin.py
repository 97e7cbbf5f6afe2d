"""``allocator token|db|round`` on a temporary embedded store."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from service.application.structures import upsert_structure
from service.cli.main import main
from service.store.db import Database
from tests.service.conftest import structure_doc


@pytest.fixture
def cli_env(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, fake_solver: Any) -> str:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("ALLOCATOR_DATABASE_URL", url)
    monkeypatch.delenv("ALLOCATOR_ENV", raising=False)
    return url


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_db_upgrade_and_token(cli_env: str) -> None:
    res = run("db", "upgrade")
    assert res.exit_code == 0, res.output
    assert Database(cli_env).is_up_to_date()
    res = run("token", "create", "--role", "agence", "--label", "anct")
    assert res.exit_code == 0
    raw = res.output.strip()
    assert raw.startswith("cn_")
    from service.store import repository as store

    with Database(cli_env).read() as s:
        token = store.find_token(s, raw)
        assert token is not None and token.role == "agence"
    assert run("token", "create", "--role", "roi").exit_code == 2


def test_round_commands(cli_env: str) -> None:
    from service.contract.documents import StructureDocument

    db = Database(cli_env)
    db.upgrade()
    with db.write() as s:
        for i in (1, 2):
            upsert_structure(s, StructureDocument.model_validate(structure_doc(i)))
    res = run("round", "draft", "--mois", "2021-06", "--quota", "3")
    assert res.exit_code == 0, res.output
    assert "tour n° 1" in res.output and "draft" in res.output
    res = run("round", "draft", "--mois", "2021-06", "--quota", "3", "--politique", "{bad")
    assert res.exit_code == 2 and "politique" in res.output
    res = run(
        "round",
        "draft",
        "--mois",
        "2021-06",
        "--quota",
        "3",
        "--politique",
        '{"scoreMinimum": 500}',
    )
    assert res.exit_code == 2 and "politique.scoreMinimum" in res.output
    res = run("round", "override", "1", "--idpg", "2", "--nombre", "0", "--motif", "arbitrage")
    assert res.exit_code == 0, res.output
    assert "verrou idPG 2 = 0 (arbitrage" in res.output
    res = run("round", "show", "1", "--json")
    view = json.loads(res.output)
    assert view["verrous"][0]["auteur"].startswith("cli")
    res = run("round", "commit", "1")
    assert res.exit_code == 0, res.output
    assert "validé" in res.output
    res = run("round", "commit", "1")
    assert res.exit_code == 2 and "déjà validé" in res.output
    res = run("round", "show", "9")
    assert res.exit_code == 2
    res = run("round", "list")
    assert res.exit_code == 0
    assert "committed" in res.output and "2021-06" in res.output


def test_token_list_and_revoke(cli_env: str) -> None:
    from service import create_app

    assert run("db", "upgrade").exit_code == 0
    raw = run("token", "create", "--role", "agence", "--label", "anct").output.strip()
    other = run("token", "create", "--role", "analyste").output.strip()
    listed = run("token", "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.strip().splitlines()
    assert len(lines) == 3  # header + 2 tokens
    assert "agence" in lines[1] and "anct" in lines[1] and "actif" in lines[1]
    assert raw not in listed.output and other not in listed.output
    from service.store import repository as store

    assert store.hash_token(raw) not in listed.output

    app = create_app({"DATABASE_URL": cli_env, "TESTING": True})
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {raw}"}
    assert client.get("/v1/rounds", headers=bearer).status_code == 200
    # A review-page session opened with the token.
    page = client.get("/agence/connexion").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    client.post("/agence/connexion", data={"csrf_token": csrf, "jeton": raw})
    assert client.get("/agence/tours").status_code == 200

    res = run("token", "revoke", "1")
    assert res.exit_code == 0 and "révoqué" in res.output
    assert client.get("/v1/rounds", headers=bearer).status_code == 401
    resp = client.get("/agence/tours")
    assert resp.status_code == 302 and "/agence/connexion" in resp.headers["Location"]
    assert "révoqué le" in run("token", "list").output.splitlines()[1]
    # Revoking again is harmless (same date kept); an unknown id is a French one-liner, exit 2.
    again = run("token", "revoke", "1")
    assert again.exit_code == 0 and "déjà révoqué" in again.output
    for unknown in ("42", str(2**53 - 1)):
        res = CliRunner().invoke(main, ["token", "revoke", unknown])
        assert res.exit_code == 2, res.output
        assert "Aucun jeton" in res.output and "Traceback" not in res.output
    # beyond the ids' range (2^53 - 1, as the API): the range is named, as for every id argument
    res = CliRunner().invoke(main, ["token", "revoke", str(2**70)])
    assert res.exit_code == 2 and "numéro entre 0 et 9007199254740991" in res.output
    app.extensions["allocator.db"].dispose()


def test_db_purge_deletes_expired_keys_and_sessions(cli_env: str) -> None:
    from datetime import timedelta

    import sqlalchemy as sa

    from service.store import repository as store
    from service.store.models import utcnow

    db = Database(cli_env)
    db.upgrade()
    now = utcnow()
    day, hour = timedelta(days=1), timedelta(hours=1)
    with db.write() as s:
        store.create_token(s, "agence", "ancien")
        store.create_token(s, "agence", "actuel")
        old_id, live_id = s.execute(sa.text("SELECT id FROM api_tokens ORDER BY id")).scalars()
        # A reservation purges the expired keys of its own token only: the old ones stay.
        old = store.reserve_idempotency_key(
            s, old_id, "old", "POST", "/p", "a" * 64, now=now - 3 * day, lease=hour
        )
        store.complete_idempotency_key(
            s, old, 200, "{}", None, now=now - 3 * day, ttl=day, max_bytes=100
        )
        store.reserve_idempotency_key(
            s, old_id, "stuck", "POST", "/p", "a" * 64, now=now - 60 * hour, lease=hour
        )
        store.reserve_idempotency_key(
            s, live_id, "live", "POST", "/p", "a" * 64, now=now, lease=hour
        )
        # (opening a session purges the expired ones: the old one is opened last)
        store.open_ui_session(s, live_id, "sid-live", now=now, lifetime=12 * hour)
        store.open_ui_session(s, old_id, "sid-old", now=now - day, lifetime=12 * hour)
    res = run("db", "purge")
    assert res.exit_code == 0, res.output
    assert "2 clés d'idempotence expirées et 1 session expirée" in res.output
    with db.read() as s:
        assert s.execute(sa.text("SELECT key FROM idempotency_keys")).scalars().all() == ["live"]
        assert s.execute(sa.text("SELECT count(*) FROM ui_sessions")).scalar() == 1
    db.dispose()
