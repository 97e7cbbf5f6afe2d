"""The monthly cycle on the store: cadence, default quota, 2021 history, single-source coverage."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from allocator import programme
from service.application import cycle, replay, rounds
from service.application.history import history_committees, history_documents, import_history
from service.application.monthly import draft_monthly
from service.application.structures import upsert_structure
from service.cli.main import main
from service.contract.documents import StructureDocument
from service.contract.errors import Conflict
from service.contract.schemas import InvalidRequest
from service.store import repository as store
from service.store.db import Database
from service.store.models import CoselecRow, Poste, Round, Structure
from tests.service.conftest import structure_doc

HISTORY_POSTS = 2138
PLACED_POSTS = 2129
PLACED_STRUCTURES = 1443


def assert_all_replays_identical(db: Database) -> None:
    """Every committed round of the store re-solves to the same bytes (certificate checked)."""
    certs = replay.replay_all(db)
    assert certs, "no committed round to replay"
    for c in certs:
        assert c["identique"], replay.certificate_text(c)
        assert c["validateur"]["verdict"] == "conforme"
        assert c["resultatSha256"] == c["resultatRejoueSha256"]


# -- cadence and default quota ------------------------------------------------------------------


def test_cadence_dates() -> None:
    assert cycle.round_date("2021-06") == datetime(2021, 6, 15, tzinfo=UTC)
    assert cycle.applications_cutoff("2021-06") == datetime(2021, 6, 16, tzinfo=UTC)
    assert cycle.month_range("2021-11", "2022-02") == ["2021-11", "2021-12", "2022-01", "2022-02"]
    assert cycle.months_left("2021-03") == 12 and cycle.months_left("2023-01") == 1
    assert cycle.default_quota(1862, "2021-06") == 207  # ceil(1862 / 9)
    assert cycle.received_before(
        {"createdAt": "2021-06-15T23:59:59Z"}, datetime(2021, 6, 16, tzinfo=UTC)
    )
    assert not cycle.received_before(
        {"createdAt": "2021-06-16T00:00:00Z"}, datetime(2021, 6, 16, tzinfo=UTC)
    )
    assert cycle.received_before({}, datetime(2021, 6, 16, tzinfo=UTC))
    for bad in ("2021-13", "21-06", "2021-6"):
        with pytest.raises(InvalidRequest):
            cycle.parse_mois(bad)


@settings(max_examples=200, deadline=None)
@given(
    restant=st.integers(0, 4000),
    start=st.integers(0, 30),
    used=st.lists(st.floats(0, 1), min_size=30, max_size=30),
)
def test_default_quota_spends_exactly_the_envelope(
    restant: int, start: int, used: list[float]
) -> None:
    """Quotas never exceed what remains; the last month's quota is all that remains."""
    mois = cycle.add_months("2020-09", start)
    months = cycle.month_range(mois, max(mois, programme.PROGRAMME_END))
    left = restant
    for k, m in enumerate(months):
        q = cycle.default_quota(left, m)
        assert 0 <= q <= left
        if m >= programme.PROGRAMME_END:
            assert q == left
        left -= int(q * used[k % 30])  # a round may use only part of its quota


# -- history import, single source, monthly rounds ---------------------------------------------


def test_history_import_then_monthly_rounds(db_url: str, real_pipeline: None) -> None:
    db = Database(db_url)
    db.upgrade()
    out = import_history(db)
    assert out["importe"] and out["structures"] == PLACED_STRUCTURES
    assert [t["date"] for t in out["tours"]] == [
        "2021-03-24",
        "2021-03-31",
        "2021-04-07",
        "2021-04-14",
        "2021-04-21",
        "2021-04-28",
        "2021-05-05",
        "2021-05-19",
    ]
    assert sum(t["postes"] for t in out["tours"]) == HISTORY_POSTS
    assert out["programme"]["consomme"] == HISTORY_POSTS
    # idempotent
    assert not import_history(db)["importe"]
    with db.read() as s:
        assert s.scalar(select(func.count(Structure.id_pg))) == PLACED_STRUCTURES
        assert s.scalar(select(func.count(Round.id))) == 8
        assert s.scalar(select(func.count(Poste.id))) == PLACED_POSTS
        assert s.scalar(select(func.count(CoselecRow.id))) == PLACED_STRUCTURES
        assert store.programme(s).consumed == HISTORY_POSTS
        assert cycle.history_imported(s)
        state = cycle.existing_state(s)
    # the store is the single source: bundled advisors are not added on top
    assert state.extra == {} and state.full is not None
    assert sum(state.full.values()) == PLACED_POSTS
    import geodata

    assert state.full == geodata.bundled_existing_advisors()

    # a monthly round: applications received by the 15th only, default quota
    with db.write() as s:
        for i, (code, created) in enumerate(
            [("01283", "2021-06-02"), ("75056", "2021-06-10"), ("97411", "2021-06-14")]
        ):
            doc = structure_doc(9001 + i, code, createdAt=f"{created}T10:00:00Z")
            upsert_structure(s, StructureDocument.model_validate(doc))
        late = structure_doc(9100, "13055", createdAt="2021-06-20T10:00:00Z")
        upsert_structure(s, StructureDocument.model_validate(late))
    view = draft_monthly(db, mois="2021-06")
    assert view["structures"] == [9001, 9002, 9003]
    assert view["quota"] == 207 and view["cadence"]["quotaParDefaut"]
    snapshot = rounds.get_round_snapshot(db, view["id"])
    existing = snapshot["request"]["conseillersExistants"]
    assert sum(e["nombre"] for e in existing) == PLACED_POSTS  # counted once
    assert snapshot["extraExisting"] == {}
    report = view["resultat"]["rapport"]
    # the engine's envelope is the store's: the 9 unplaced 2021 posts are consumed too
    assert report["envelope_remaining"] == 4000 - HISTORY_POSTS
    assert snapshot["enveloppeConsommee"] == HISTORY_POSTS
    assert snapshot["moteur"]["codeSha256"] == replay.code_sha256()
    granted = view["resultat"]["totaux"]["attribues"]
    assert granted == 6  # every request fits in the quota
    rounds.commit_round(db, view["id"], author="test")

    # the next round sees the new posts; earlier grants are locked in (already granted)
    with db.read() as s:
        after = cycle.existing_state(s).full
    assert after is not None and sum(after.values()) == PLACED_POSTS + granted
    assert after["01283"] == state.full.get("01283", 0) + 2
    view2 = draft_monthly(db, mois="2021-07", quota=1)
    assert view2["structures"] == [9100]
    snap2 = rounds.get_round_snapshot(db, view2["id"])
    assert sum(e["nombre"] for e in snap2["request"]["conseillersExistants"]) == (
        PLACED_POSTS + granted
    )
    rounds.override_round(db, view2["id"], id_pg=9100, nombre=0, motif="arbitrage du comité")
    rounds.commit_round(db, view2["id"])

    prog = cycle.programme_state(db)
    assert prog["consomme"] == HISTORY_POSTS + granted
    assert prog["postesActifs"] == PLACED_POSTS + granted
    assert prog["postesNonLocalises"] == 9
    deps = {d["departement"]: d for d in prog["departements"]}
    assert sum(d["partEquitable"] for d in deps.values()) == 4000
    assert sum(d["postes"] for d in deps.values()) == PLACED_POSTS + granted
    assert abs(sum(t["coutEtatEur"] for t in prog["tours"]) - prog["coutEtatEur"]) < 1e-6
    # 974 is paid 67,500 EUR per post; 36 months cost 1.5x the 24 months of a public host and
    # 2x the 18 months of a private one
    (last,) = [t for t in prog["tours"] if t["id"] == view["id"]]
    assert last["coutEtatEur"] == 2 * 50_000 + 2 * 50_000 + 2 * 67_500
    long = cycle.programme_state(db, duree_mois=36, with_departements=False)
    assert 1.5 * prog["coutEtatEur"] < long["coutEtatEur"] < 2 * prog["coutEtatEur"]

    assert_all_replays_identical(db)
    db.dispose()


def test_history_import_refuses_clashing_store(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    db.upgrade()
    with db.write() as s:
        upsert_structure(s, StructureDocument.model_validate(structure_doc(5)))
    with pytest.raises(Conflict):
        import_history(db)
    with db.read() as s:  # nothing half-imported
        assert s.scalar(select(func.count(Round.id))) == 0
        assert store.programme(s).consumed == 0
    db.dispose()


def test_history_documents_are_storable() -> None:
    docs = history_documents()
    assert len(docs) == PLACED_STRUCTURES
    sirets = [d["siret"] for d in docs if d["siret"]]
    assert len(sirets) == len(set(sirets))
    assert all(d["statut"] == "VALIDATION_COSELEC" for d in docs)
    assert [c["numero"] for c in history_committees()][-1] == "2021-coselec-8"


def test_post_cost_rules() -> None:
    assert cycle.post_costs_eur("COMMUNE", "01283")[1] == 50_000
    assert cycle.post_costs_eur("COMMUNE", "97302")[1] == 70_000
    assert cycle.post_costs_eur("EPCI", "97611")[1] == 67_500
    assert cycle.post_costs_eur("PRIVATE", "97411")[1] == 32_000
    assert cycle.post_costs_eur("PRIVATE", "01283", duree_mois=36)[1] == 64_000
    assert cycle.post_costs_eur("COMMUNE", "2A004", 10_000.0, duree_mois=36)[1] == 60_000
    with pytest.raises(InvalidRequest):
        cycle.post_costs_eur("COMMUNE", "01283", duree_mois=37)[1]


def test_cli_round_draft_default_quota_and_programme(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, fake_solver: Any
) -> None:
    monkeypatch.setenv("ALLOCATOR_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    runner = CliRunner()
    db = Database(f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    db.upgrade()
    with db.write() as s:
        upsert_structure(s, StructureDocument.model_validate(structure_doc(1)))
    res = runner.invoke(main, ["round", "draft", "--mois", "2021-06"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "quota 445" in res.output  # ceil(4000 / 9)
    res = runner.invoke(main, ["round", "commit", "1"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["programme", "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    import json

    state = json.loads(res.output)
    assert state["consomme"] == 2 and state["postesParStatut"] == {"ACCORDE": 2}
    res = runner.invoke(main, ["postes", "liste", "1"], catch_exceptions=False)
    assert json.loads(res.output)["postesLibres"] == 2
    res = runner.invoke(main, ["postes", "echeances", "--date", "2099-01-01"])
    assert res.exit_code == 0 and "RETOUR_AU_VIVIER" in res.output
    res = runner.invoke(main, ["postes", "echeances", "--date", "2099-01-01", "--appliquer"])
    assert res.exit_code == 0 and "2 rendus au vivier" in res.output
    res = runner.invoke(main, ["postes", "demande", "1", "--type", "RESTITUTION", "--nombre", "1"])
    assert res.exit_code == 2 and "postes libres" in res.output
    db.dispose()
