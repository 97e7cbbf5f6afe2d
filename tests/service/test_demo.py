"""The main job (README Quick start): a full monthly round on the store from bundled real data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.db import Database
from service.demo import DEMO_MONTH, demo_request, run_demo
from service.rounds import list_rounds


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database(db_url)
    db.upgrade()
    yield db
    db.dispose()


def test_demo_round_is_committed_reproducible_and_idempotent(
    database: Database, tmp_path: Path
) -> None:
    messages: list[str] = []
    result = run_demo(database, out_dir=tmp_path, echo=messages.append)
    request = demo_request()

    assert result["status"] == "OPTIMAL"
    assert result["solveur"]["gap"] == 0.0
    # the quota binds: the round has to choose among the committee's public hosts
    assert result["totaux"]["attribues"] == request["quota"]
    ids = [d["idPG"] for d in result["decisions"]]
    assert ids == sorted(s["idPG"] for s in request["structures"])
    for d in result["decisions"]:
        asked = next(
            s["nombreConseillersSouhaites"] for s in request["structures"] if s["idPG"] == d["idPG"]
        )
        assert 0 <= d["nombreConseillersAttribues"] <= asked
        assert d["avisCoselec"] == ("POSITIF" if d["nombreConseillersAttribues"] else "NÉGATIF")
    assert any("IDENTIQUE" in m for m in messages)
    # scores and préfet opinions of the demo are synthetic, and every explanation says so
    for d in result["decisions"]:
        donnees = d["explication"]["donnees"]
        assert donnees["noteProjet"]["synthetique"] is True
        assert donnees["noteProjet"]["sources"] == ["synthetique"]
        assert donnees["avisPrefet"]["synthetique"] is True
        assert "note SYNTHÉTIQUE" in d["explication"]["texte"]
    for name in ("requete.json", "resultat.json", "certificat.json"):
        assert (tmp_path / name).stat().st_size > 0

    committed: list[dict[str, Any]] = [r for r in list_rounds(database) if r["mois"] == DEMO_MONTH]
    assert [r["statut"] for r in committed] == ["committed"]

    again: list[str] = []
    second = run_demo(database, out_dir=tmp_path, echo=again.append)
    assert any("déjà validé" in m for m in again)
    assert [d["nombreConseillersAttribues"] for d in second["decisions"]] == [
        d["nombreConseillersAttribues"] for d in result["decisions"]
    ]
    assert len([r for r in list_rounds(database) if r["mois"] == DEMO_MONTH]) == 1


def test_demo_prints_its_summary_on_stdout_and_writes_the_rounds_own_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`allocator demo`: the summary is the program's output (stdout), progress and warnings go
    to stderr; requete.json is the round's request (its month, quota and applicants)."""
    import json

    from click.testing import CliRunner

    from service.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALLOCATOR_DATABASE_URL", f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    result = CliRunner().invoke(main, ["demo", "--out", "demo"])
    assert result.exit_code == 0, result.output
    assert "verdict : IDENTIQUE" in result.stdout and "enveloppe nationale" in result.stdout
    assert "historique 2021 importé" in result.stderr
    assert "historique" not in result.stdout and "candidatures" not in result.stdout
    request = json.loads((tmp_path / "demo" / "requete.json").read_text(encoding="utf-8"))
    (committed,) = [
        r
        for r in list_rounds(Database(f"sqlite:///{tmp_path / 'demo.sqlite3'}"))
        if r["mois"] == DEMO_MONTH
    ]
    assert request["mois"] == DEMO_MONTH == "2021-06"
    assert request["quota"] == committed["quota"] == demo_request()["quota"]
    assert len(request["structures"]) == len(demo_request()["structures"])

    again = CliRunner().invoke(main, ["demo", "--out", "demo", "--quota", "5"])
    assert again.exit_code == 0, again.output
    assert "attention : --quota 5 ignoré, le tour validé garde son quota" in again.stderr
    request = json.loads((tmp_path / "demo" / "requete.json").read_text(encoding="utf-8"))
    assert request["quota"] == committed["quota"]  # the round's, not the ignored option
