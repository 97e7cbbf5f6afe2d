"""``allocator token|db|round`` on a temporary embedded store."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from service.cli import main
from service.db import Database
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
    from service import store

    with Database(cli_env).read() as s:
        token = store.find_token(s, raw)
        assert token is not None and token.role == "agence"
    assert run("token", "create", "--role", "roi").exit_code == 2


def test_round_commands(cli_env: str) -> None:
    from service import store
    from service.api_schemas import StructureDocument

    db = Database(cli_env)
    db.upgrade()
    with db.write() as s:
        for i in (1, 2):
            store.upsert_structure(s, StructureDocument.model_validate(structure_doc(i)))
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
