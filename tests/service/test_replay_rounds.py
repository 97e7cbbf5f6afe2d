"""Replay certificates of committed rounds, and commits that fail leave nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from service.application import posts, replay, rounds
from service.application.structures import upsert_structure
from service.cli.main import main
from service.contract.documents import StructureDocument
from service.store import repository as store
from service.store.db import Database
from service.store.models import CoselecRow, Poste, PosteEvenement, Round, Structure
from tests.service.conftest import make_tokens, structure_doc
from tests.service.test_cycle_history import assert_all_replays_identical

ROOT = Path(__file__).resolve().parents[2]


def _seed(db: Database, codes: dict[int, str]) -> None:
    with db.write() as s:
        for id_pg, code in codes.items():
            doc = structure_doc(id_pg, code, nombreConseillersSouhaites=3, qualiteProjet=50 + id_pg)
            upsert_structure(s, StructureDocument.model_validate(doc))


def test_replay_reproduces_committed_rounds(db_url: str, real_pipeline: None) -> None:
    db = Database(db_url)
    db.upgrade()
    _seed(db, {1: "01283", 2: "75056", 3: "13055", 4: "59350"})
    first = rounds.draft_round(db, mois="2021-06", quota=4, author="test")
    rounds.override_round(db, first["id"], id_pg=4, nombre=1, motif="zone prioritaire")
    rounds.commit_round(db, first["id"])
    _seed(db, {5: "01053", 6: "97411"})
    second = rounds.draft_round(db, mois="2021-07", quota=3)
    rounds.commit_round(db, second["id"])
    assert_all_replays_identical(db)

    cert = replay.replay_round(db, first["id"])
    assert cert["solveur"]["nom"] == "OR-Tools" and cert["solveur"]["gap"] == 0.0
    assert cert["environnement"]["codeIdentique"] is True
    assert cert["entreeMoteurSha256"] == cert["entreeMoteurRejoueSha256"]

    # a stored result that was tampered with is caught, decision by decision
    with db.read() as s:
        stored = s.get(Round, second["id"])
        assert stored is not None
        result = stored.result
    result["decisions"][0]["nombreConseillersAttribues"] += 1
    with db.write() as s:
        s.execute(update(Round).where(Round.id == second["id"]).values(result=result))
    bad = replay.replay_round(db, second["id"])
    assert not bad["identique"] and not bad["attributionsIdentiques"]
    assert bad["differences"][0]["idPG"] == result["decisions"][0]["idPG"]
    assert "nombreConseillersAttribues" in bad["differences"][0]["champs"]
    assert "DIFFÉRENT" in replay.certificate_text(bad)
    assert "attributions identiques" not in replay.certificate_text(bad)

    # only the wording of an explanation differs (e.g. a round stored by an older code version):
    # still not identical, but the certificate says the grants are the same
    result["decisions"][0]["nombreConseillersAttribues"] -= 1
    result["decisions"][0]["explication"] = {"texte": "ancienne formulation"}
    with db.write() as s:
        s.execute(update(Round).where(Round.id == second["id"]).values(result=result))
    worded = replay.replay_round(db, second["id"])
    assert not worded["identique"] and worded["attributionsIdentiques"]
    assert worded["differences"][0]["champs"] == ["explication"]
    assert "attributions identiques" in replay.certificate_text(worded)
    db.dispose()


def test_cli_replay_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_pipeline: None
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("ALLOCATOR_DATABASE_URL", url)
    db = Database(url)
    db.upgrade()
    _seed(db, {1: "01283", 2: "75056"})
    view = rounds.draft_round(db, mois="2021-06", quota=2)
    rounds.commit_round(db, view["id"])
    runner = CliRunner()
    res = runner.invoke(main, ["round", "replay", str(view["id"])], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "IDENTIQUE" in res.output and "validateur : conforme" in res.output
    res = runner.invoke(main, ["round", "replay", "--tous", "--json"], catch_exceptions=False)
    assert res.exit_code == 0 and json.loads(res.output)[0]["identique"]
    with db.write() as s:
        row = s.get(Round, view["id"])
        assert row is not None
        result = dict(row.result)
        result["totaux"] = {**result["totaux"], "attribues": 99}
        s.execute(update(Round).where(Round.id == view["id"]).values(result=result))
    res = runner.invoke(main, ["round", "replay", str(view["id"])])
    assert res.exit_code == 1 and "DIFFÉRENT" in res.output
    assert runner.invoke(main, ["round", "replay"]).exit_code == 2
    assert runner.invoke(main, ["round", "replay", "999"]).exit_code == 2
    db.dispose()


def test_replay_http(sqlite_url: str, real_pipeline: None) -> None:
    from service import create_app

    app = create_app({"DATABASE_URL": sqlite_url, "TESTING": True})
    db = app.extensions["allocator.db"]
    tokens = make_tokens(db)
    _seed(db, {1: "01283"})
    client = app.test_client()
    resp = client.post("/v1/rounds/mensuel", json={"mois": "2021-06"}, headers=tokens["agence"])
    assert resp.status_code == 201, resp.get_json()
    rid = resp.get_json()["id"]
    assert resp.get_json()["quota"] == 445
    client.post(f"/v1/rounds/{rid}/commit", headers=tokens["agence"])
    cert = client.get(f"/v1/rounds/{rid}/rejeu", headers=tokens["analyste"]).get_json()
    assert cert["identique"] and cert["roundId"] == rid
    assert client.get(f"/v1/rounds/{rid}/rejeu", headers=tokens["portail"]).status_code == 403
    assert client.get("/v1/rounds/99/rejeu", headers=tokens["agence"]).status_code == 404
    db.dispose()


# -- a failed commit leaves nothing behind -----------------------------------------------------


def _nothing_committed(db: Database, round_id: int) -> None:
    with db.read() as s:
        row = s.get(Round, round_id)
        assert row is not None and row.status == "draft"
        assert s.scalar(select(func.count(CoselecRow.id))) == 0
        assert s.scalar(select(func.count(Poste.id))) == 0
        assert s.scalar(select(func.count(PosteEvenement.id))) == 0
        assert store.programme(s).consumed == 0
        assert set(s.scalars(select(Structure.statut))) == {"CREEE"}


def test_commit_failing_midway_rolls_back(
    db_url: str, fake_solver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(db_url)
    db.upgrade()
    _seed(db, {1: "01283", 2: "75056"})
    view = rounds.draft_round(db, mois="2021-06", quota=4)
    original = posts.record_round_grants

    def explode(session: Any, *args: Any) -> None:
        original(session, *args)
        session.flush()  # posts and coselec rows are written... then the commit fails
        raise RuntimeError("panne au milieu de la validation")

    monkeypatch.setattr(posts, "record_round_grants", explode)
    with pytest.raises(RuntimeError):
        rounds.commit_round(db, view["id"])
    _nothing_committed(db, view["id"])
    monkeypatch.setattr(posts, "record_round_grants", original)
    assert rounds.commit_round(db, view["id"])["statut"] == "committed"
    db.dispose()


KILLED_COMMIT = textwrap.dedent(
    """
    import sys
    from service.application import posts
    from service.application import rounds
    from service.store.db import Database

    url, round_id = sys.argv[1], int(sys.argv[2])
    original = posts.record_round_grants

    def hold(session, *args):
        original(session, *args)
        session.flush()
        print("PRET", flush=True)
        sys.stdin.read()  # blocks until the parent kills this process

    posts.record_round_grants = hold
    rounds.commit_round(Database(url), round_id)
    print("FINI", flush=True)
    """
)


def test_commit_killed_midway_leaves_no_partial_rows(db_url: str, fake_solver: Any) -> None:
    """A process SIGKILLed inside the commit transaction: the database keeps nothing of it."""
    db = Database(db_url)
    db.upgrade()
    _seed(db, {1: "01283", 2: "75056"})
    view = rounds.draft_round(db, mois="2021-06", quota=4)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_COMMIT, db_url, str(view["id"])],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.strip() == "PRET", proc.stderr.read() if proc.stderr else ""
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:  # pragma: no cover - only when an assertion failed early
            proc.kill()
            proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream:
                stream.close()
    _nothing_committed(db, view["id"])
    # the locks of the dead transaction are gone: the commit can be done again
    assert rounds.commit_round(db, view["id"])["statut"] == "committed"
    with db.read() as s:
        assert s.scalar(select(func.count(Poste.id))) == 4
    db.dispose()
