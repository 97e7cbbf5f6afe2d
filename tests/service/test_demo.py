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
