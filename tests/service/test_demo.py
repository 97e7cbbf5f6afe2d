"""The main job (README Quick start): a full monthly round on the store from bundled real data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.application.history import demo_request
from service.application.rounds import list_rounds
from service.cli.demo import DEMO_MONTH, run_demo
from service.store.db import Database


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

    from service.cli.main import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALLOCATOR_DATABASE_URL", f"sqlite:///{tmp_path / 'demo.sqlite3'}")
    result = CliRunner().invoke(main, ["demo", "--out", "demo"])
    assert result.exit_code == 0, result.output
    assert "verdict : IDENTIQUE" in result.stdout and "Enveloppe nationale" in result.stdout
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


def test_demo_summary_figures_match_the_programme_command(sqlite_url: str, tmp_path: Path) -> None:
    """The demo's closing figures are those of ``allocator programme`` on the same store, with
    the same labels, French numbers and the sentence that explains active vs consumed posts
    (6 posts of the committees before June went to 2021 structures without a commune code)."""
    import re

    from click.testing import CliRunner

    from service.cli.main import main

    nnbsp = "\u202f"
    database = Database(sqlite_url)
    database.upgrade()
    messages: list[str] = []
    run_demo(database, out_dir=tmp_path, echo=messages.append)
    database.dispose()
    summary = "\n".join(messages)
    res = CliRunner().invoke(main, ["programme"], env={"ALLOCATOR_DATABASE_URL": sqlite_url})
    assert res.exit_code == 0, res.output
    programme = res.stdout.splitlines()
    assert programme[:3] == [
        f"Enveloppe nationale : 4{nnbsp}000 postes ; postes consommés : 2{nnbsp}006 ; "
        f"postes restants : 1{nnbsp}994",
        f"Postes attribués : 2{nnbsp}006 ; postes rendus au vivier : 0 ; postes actifs : "
        f"2{nnbsp}000 ; postes non localisés : 6",
        "Postes actifs = postes consommés − 6 postes non localisés : attribués en 2021 à des "
        "structures sans code commune, ils comptent dans l'enveloppe mais pas sur la carte.",
    ]
    for line in programme[:3]:
        assert line in messages
    # before / after the round: the active posts (the advisors on the map), 1 872 + 128
    assert f"avant le tour : 1{nnbsp}872 postes actifs" in summary
    assert f"après le tour : 2{nnbsp}000 postes actifs" in summary
    # French numbers, « demande restante », euros
    assert "128 postes attribués / quota 128 ; demande restante 257" in summary
    assert f"coût pour l'État 6{nnbsp}400{nnbsp}000 € ; cofinancement 0 €" in summary
    # no English number left (the certificate's indented lines hold versions and digests)
    lines = [ln for m in messages for ln in m.splitlines()]
    figures = [ln for ln in lines if not ln.startswith(("  ", "requête"))]
    assert len(figures) > 10 and not any("EUR" in ln for ln in figures)
    assert not [ln for ln in figures if re.search(r"\d\.\d|\d,\d{3}(,|\s*€)", ln)], figures
