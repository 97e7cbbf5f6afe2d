"""Committee packs (service.application.export): workbook, CSV, JSON and maps match the round
result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from service import create_app
from service.application import export
from tests.service.conftest import make_tokens
from tests.service.test_explication import demo_payload

FORMULA_NAME = '=HYPERLINK("http://exemple.invalid","cliquez")'
TEXT_COLUMNS = {
    "département": str,
    "code commune": str,
    "codes motifs": str,
    "rangs nationaux": str,
}


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A committed real round on SQLite (15 bundled structures, one override, one odd name)."""
    try:
        import service.application.pipeline  # noqa: F401
    except ImportError as exc:  # pragma: no cover
        pytest.skip(f"pipeline unavailable: {exc}")
    url = f"sqlite:///{tmp_path_factory.mktemp('export') / 'store.sqlite3'}"
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    client = app.test_client()
    tokens = make_tokens(app.extensions["allocator.db"])
    docs = demo_payload(n=15)["structures"]
    docs[0] = {**docs[0], "nom": FORMULA_NAME}
    for doc in docs:
        assert (
            client.put(
                f"/v1/structures/{doc['idPG']}", json=doc, headers=tokens["portail"]
            ).status_code
            == 201
        )
    rid = client.post(
        "/v1/rounds", json={"mois": "2021-07", "quota": 10}, headers=tokens["agence"]
    ).get_json()["id"]
    client.patch(
        f"/v1/rounds/{rid}",
        json={"idPG": docs[4]["idPG"], "nombre": 1, "motif": "arbitrage du comité"},
        headers=tokens["agence"],
    )
    view = client.post(f"/v1/rounds/{rid}/commit", headers=tokens["agence"]).get_json()
    assert view["statut"] == "committed"
    pack = export.load_round(app.extensions["allocator.db"], rid)
    yield {"url": url, "view": view, "pack": pack, "locked": docs[4]["idPG"]}
    app.extensions["allocator.db"].dispose()


def test_workbook_matches_the_result(stored: dict[str, Any], tmp_path: Path) -> None:
    pack, view = stored["pack"], stored["view"]
    paths = export.export_round(pack, tmp_path)
    assert [p.name for p in paths] == [
        f"tour_{view['id']}.xlsx",
        f"tour_{view['id']}_decisions.csv",
        f"tour_{view['id']}_synthese.csv",
        f"tour_{view['id']}.json",
    ]
    sheets = pd.read_excel(paths[0], sheet_name=None, dtype=TEXT_COLUMNS)
    names = list(sheets)
    assert names[:2] == [export.SUMMARY_SHEET, export.ROUND_SHEET]
    decisions = {d["idPG"]: d for d in view["resultat"]["decisions"]}
    request = {s.idPG: s for s in pack.request.structures}
    seen = set()
    for name in names[2:]:
        df = sheets[name]
        assert list(df.columns) == list(export.DECISION_COLUMNS)
        codes = set(df["département"])
        assert len(codes) == 1 and name.startswith(codes.pop())
        for row in df.to_dict("records"):
            d = decisions[row["idPG"]]
            s = request[row["idPG"]]
            seen.add(row["idPG"])
            assert row["attribués ce tour"] == d["nombreConseillersAttribues"]
            assert row["total après le tour"] == d["nombreConseillersCoselec"]
            assert row["codes motifs"] == " ".join(d["motifs"])
            assert row["demandés (total)"] == s.nombreConseillersSouhaites
            assert row["note du projet"] == (50.0 if s.qualiteProjet is None else s.qualiteProjet)
            assert row["structure"] == s.nom
            assert row["code commune"] == d["explication"]["territoire"]["codeCommune"]
            assert row["verrou du comité"] == ("oui" if row["idPG"] == stored["locked"] else "non")
            assert row["explication courte"].startswith(f"{d['nombreConseillersAttribues']} poste")
            assert "décision du comité" in row["explication courte"]
            if row["idPG"] == stored["locked"]:
                assert row["motif du comité"] == "arbitrage du comité"
    assert seen == set(decisions)
    summary = sheets[export.SUMMARY_SHEET]
    assert summary["postes attribués ce tour"].sum() == view["resultat"]["totaux"]["attribues"]
    assert summary["structures candidates"].sum() == len(decisions)
    meta = sheets[export.ROUND_SHEET]
    tour = dict(zip(meta["rubrique"], meta["valeur"], strict=True))
    assert tour["tour n°"] == view["id"] and tour["validé par"] == view["validePar"]
    assert tour["empreinte des données (entreeSha256)"] == view["resultat"]["entreeSha256"]

    wb = load_workbook(paths[0])
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
    assert any(c.value == FORMULA_NAME for ws in wb.worksheets for r in ws.iter_rows() for c in r)


def test_csv_and_json_match(stored: dict[str, Any], tmp_path: Path) -> None:
    pack, view = stored["pack"], stored["view"]
    paths = export.export_round(pack, tmp_path, xlsx=False)
    df = pd.read_csv(paths[0], sep=";", encoding="utf-8-sig", dtype=TEXT_COLUMNS)
    assert list(df.columns) == list(export.DECISION_COLUMNS)
    result = {d["idPG"]: d for d in view["resultat"]["decisions"]}
    assert sorted(df["idPG"]) == sorted(result)
    for row in df.to_dict("records"):
        assert row["attribués ce tour"] == result[row["idPG"]]["nombreConseillersAttribues"]
    assert "'" + FORMULA_NAME in set(df["structure"])  # neutralised for spreadsheets
    document = json.loads(paths[2].read_text(encoding="utf-8"))
    assert [r["idPG"] for r in document["decisions"]] == sorted(result)
    assert document["decisions"][0]["structure"] == FORMULA_NAME
    assert sum(r["postes attribués ce tour"] for r in document["synthese"]) == sum(
        d["nombreConseillersAttribues"] for d in result.values()
    )


def test_cli_round_export(stored: dict[str, Any], tmp_path: Path) -> None:
    from service.cli.main import main

    rid = stored["view"]["id"]
    result = CliRunner().invoke(
        main,
        ["round", "export", str(rid), "--xlsx", "--out", str(tmp_path)],
        env={"ALLOCATOR_DATABASE_URL": stored["url"]},
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"tour_{rid}.xlsx").is_file()
    missing = CliRunner().invoke(
        main, ["round", "export", "9999"], env={"ALLOCATOR_DATABASE_URL": stored["url"]}
    )
    assert missing.exit_code == 2 and "9999" in missing.output


def test_maps(stored: dict[str, Any], tmp_path: Path) -> None:
    pack = stored["pack"]
    rows = export.decision_rows(pack)
    dep = next(r["département"] for r in rows if r["attribués ce tour"] > 0)
    paths = export.write_maps(pack, tmp_path, departements=[dep])
    assert len(paths) == 5
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before, after = export.existing_after(pack)
    assert sum(after.values()) - sum(before.values()) == sum(r["attribués ce tour"] for r in rows)
