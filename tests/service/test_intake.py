"""``allocator structures import``: the portal's export into the store (issue 16, real intake).

Parsing and mapping (no store), the command on a temporary store (SQLite and PostgreSQL), the
same refusals as ``PUT /v1/structures/{idPG}``, all-or-nothing and idempotence as properties,
and the README's monthly cycle run line by line on a fresh store with the real engine.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import re
import shlex
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from service.application import intake, portal_file
from service.application.history import import_history, import_structure
from service.cli.main import main
from service.contract.documents import StructureDocument
from service.contract.schemas import MAX_POST_COST_EUR, InvalidRequest, StructureIn
from service.store import repository as store
from service.store.db import Database
from service.store.models import AvisPrefetRow, Structure
from tests.service.conftest import structure_doc, synthetic_siret

ROOT = Path(__file__).resolve().parents[2]
CODES = ("01283", "01004", "75056", "2A004", "97411", "13055", "59350")


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The store the CLI uses (``ALLOCATOR_DATABASE_URL``), migrated, on SQLite and PostgreSQL."""
    monkeypatch.setenv("ALLOCATOR_DATABASE_URL", db_url)
    monkeypatch.delenv("ALLOCATOR_ENV", raising=False)
    db = Database(db_url)
    db.upgrade()
    yield db
    db.dispose()


@pytest.fixture
def sqlite_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("ALLOCATOR_DATABASE_URL", url)
    monkeypatch.delenv("ALLOCATOR_ENV", raising=False)
    db = Database(url)
    db.upgrade()
    yield db
    db.dispose()


def write_csv(path: Path, rows: list[Mapping[str, Any]], *, bom: bool = False) -> Path:
    """A ``;`` CSV with the union of the rows' keys as header (first-seen order)."""
    header: list[str] = []
    for r in rows:
        header += [k for k in r if k not in header]
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, delimiter=";", lineterminator="\n")
        w.writeheader()
        w.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
    return path


def flat(id_pg: int, **changes: Any) -> dict[str, Any]:
    """An export line (text cells) for a valid application; ``changes`` override cells."""
    row = portal_file.export_row(
        {k: v for k, v in structure_doc(id_pg).items() if k not in ("contact", "location")}
    )
    row = {k: v for k, v in row.items() if v != ""}
    row.update(changes)
    return row


def dump(db: Database) -> Any:
    """Everything an import may write: structures (all columns) and préfet opinions."""
    with db.read() as s:
        structures = [
            (r.id_pg, r.siret, r.type, r.nom, r.code_commune, r.statut, r.document, r.updated_at)
            for r in s.scalars(select(Structure).order_by(Structure.id_pg))
        ]
        opinions = [
            (p.id, p.id_pg, p.avis, p.nombre, p.commentaire)
            for p in s.scalars(select(AvisPrefetRow).order_by(AvisPrefetRow.id))
        ]
    return structures, opinions


def import_json(path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    res = run("structures", "import", str(path), "--format", "json", *extra)
    return res.exit_code, json.loads(res.stdout)


# -- values ----------------------------------------------------------------------------------


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_french_decimal_round_trip(x: float) -> None:
    text = portal_file.format_decimal(x)
    assert "." not in text and "e" not in text.lower()
    assert portal_file.parse_decimal(text) == x


@given(st.integers(0, 10**6), st.integers(0, 999))
def test_decimal_with_a_point_is_refused(units: int, decimals: int) -> None:
    """``1.500`` means 1,500 in French notation and 1.5 in English: refused, never guessed."""
    with pytest.raises(ValueError, match="virgule décimale"):
        portal_file.parse_decimal(f"{units}.{decimals}")
    assert portal_file.parse_decimal(f"{units},{decimals}") == float(f"{units}.{decimals}")


def test_decimal_thousands_separated_by_spaces() -> None:
    assert portal_file.parse_decimal("12 500,50") == 12500.5
    assert portal_file.parse_decimal("12\u202f500") == 12500.0
    for bad in ("12 50", "1,2,3", "7e3", "NaN", "inf", "", "72,"):
        with pytest.raises(ValueError):
            portal_file.parse_decimal(bad)


@given(st.text(max_size=8))
def test_booleans_are_strict(text: str) -> None:
    words = {"oui": True, "true": True, "1": True, "non": False, "false": False, "0": False}
    if text.casefold() in words:
        assert portal_file.parse_boolean(text) is words[text.casefold()]
    else:
        with pytest.raises(ValueError, match="oui, non, true, false, 1 ou 0"):
            portal_file.parse_boolean(text)


@given(st.text(alphabet="0123456789٠١٢٣", min_size=1, max_size=6))
def test_integers_are_ascii_digits_only(text: str) -> None:
    if text.isascii():
        assert portal_file.parse_integer(text) == int(text)
    else:
        with pytest.raises(ValueError, match="nombre entier attendu"):
            portal_file.parse_integer(text)


def test_column_mapping_covers_every_document_field() -> None:
    """A field added to the portal's document must get a column (or this test says which)."""
    flat_names = {c.name for c in portal_file.COLUMNS if c.entry is None}
    assert flat_names | {"prefet", "coselec"} == set(StructureDocument.model_fields)
    assert set(portal_file.REQUIRED_COLUMNS) == {
        name for name, f in StructureDocument.model_fields.items() if f.is_required()
    }


# -- documents round-trip through the flat file ----------------------------------------------

_text = (
    st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=30)
    .map(str.strip)
    .filter(bool)
)


@st.composite
def documents(draw: Any, id_pg: int | None = None) -> dict[str, Any]:
    """A valid portal document with every kind of column."""
    i = draw(st.integers(0, 10**9)) if id_pg is None else id_pg
    doc: dict[str, Any] = {
        "idPG": i,
        "type": draw(st.sampled_from(["COMMUNE", "EPCI", "DEPARTEMENT", "COLLECTIVITE", "GIP"])),
        "codeCommune": draw(st.sampled_from(CODES)),
        "nombreConseillersSouhaites": draw(st.integers(1, 1000)),
        "nom": draw(st.one_of(st.just(""), _text)),
        "siret": draw(st.one_of(st.none(), st.just(synthetic_siret(i % 10**10)))),
        "qualiteProjet": draw(
            st.one_of(st.none(), st.floats(0, 100), st.integers(0, 100).map(float))
        ),
        "estZRR": draw(st.one_of(st.none(), st.booleans())),
        "qpvStatut": draw(st.one_of(st.none(), st.sampled_from(["Oui", "Non", "Sans objet"]))),
        "estLabelliseFranceServices": draw(st.one_of(st.none(), st.sampled_from(["OUI", "NON"]))),
        "communesDesservies": draw(
            st.one_of(st.none(), st.lists(st.sampled_from(CODES), min_size=1, max_size=3))
        ),
        "createdAt": draw(
            st.one_of(
                st.none(),
                st.datetimes(
                    datetime(2020, 1, 1), datetime(2023, 1, 1), timezones=st.just(UTC)
                ).map(lambda d: d.isoformat().replace("+00:00", "Z")),
            )
        ),
        "synthetique": draw(
            st.one_of(
                st.none(),
                st.lists(
                    st.sampled_from(["qualiteProjet", "prefet", "createdAt", "tout"]),
                    min_size=1,
                    max_size=2,
                ),
            )
        ),
    }
    cofunding = draw(st.sampled_from(["", "eur", "part"]))
    if cofunding == "eur":
        doc["cofinancementEur"] = draw(st.floats(0, MAX_POST_COST_EUR))
    elif cofunding == "part":
        doc["cofinancementPart"] = draw(st.floats(0, 1))
    if draw(st.booleans()):
        doc["prefet"] = [
            {
                "avisPrefet": draw(st.sampled_from(["POSITIF", "NÉGATIF"])),
                "nombreConseillersPrefet": draw(st.one_of(st.none(), st.integers(0, 5))),
                "commentairePrefet": draw(st.one_of(st.none(), _text)),
            }
        ]
    return {k: v for k, v in doc.items() if v is not None}


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents(), min_size=1, max_size=4, unique_by=lambda d: d["idPG"]))
def test_flat_file_round_trip(docs: list[dict[str, Any]]) -> None:
    """Any portal document → export line → the same validated document (CSV with BOM)."""
    with tempfile.TemporaryDirectory() as folder:
        path = portal_file.write_export_csv(docs, Path(folder) / "export.csv")
        table = portal_file.read_export(path)
    assert [line.numero for line in table.lines] == list(range(2, len(docs) + 2))
    for doc, line in zip(docs, table.lines, strict=True):
        assert intake.parse_line(line) == StructureDocument.model_validate(doc)


def test_workbook_typed_cells_give_the_csv_documents(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(
        [
            "idPG",
            "type",
            "codeCommune",
            "nombreConseillersSouhaites",
            "qualiteProjet",
            "estZRR",
            "createdAt",
            "siret",
            "communesDesservies",
            "emailContact",
        ]
    )
    ws.append(
        [
            7,
            "COMMUNE",
            "01283",
            2,
            72.5,
            True,
            datetime(2021, 5, 2, 10),
            synthetic_siret(7),
            "01004, 01283",
            "jeanne.martin@example.org",
        ]
    )
    ws.append([8, "EPCI", "01004", 1.0, "64,5", "non", "2021-05-03T09:00:00Z", None, None, None])
    ws.append([None] * 10)  # an empty row is skipped
    ws.append([9, "EPCI", 1283, 1, None, None, None, None, None, None])  # lost leading zero
    wb.save(tmp_path / "export.xlsx")
    table = portal_file.read_export(tmp_path / "export.xlsx")
    assert table.ignored_columns == ("emailContact",)
    assert [line.numero for line in table.lines] == [2, 3, 5]
    first, second = (intake.parse_line(line) for line in table.lines[:2])
    assert first == StructureDocument.model_validate(
        {
            "idPG": 7,
            "type": "COMMUNE",
            "codeCommune": "01283",
            "nombreConseillersSouhaites": 2,
            "qualiteProjet": 72.5,
            "estZRR": True,
            "createdAt": "2021-05-02T10:00:00",
            "siret": synthetic_siret(7),
            "communesDesservies": ["01004", "01283"],
        }
    )
    assert second.qualiteProjet == 64.5 and second.estZRR is False
    assert second.nombreConseillersSouhaites == 1
    with pytest.raises(InvalidRequest) as exc:
        intake.parse_line(table.lines[2])
    assert [e.champ for e in exc.value.errors] == ["codeCommune"]
    assert "'1283'" in exc.value.errors[0].message


# -- the command: file mistakes --------------------------------------------------------------


def _files(tmp: Path) -> dict[str, tuple[Path, str]]:
    """One faulty file per user mistake, with the words its message must hold."""
    good = [flat(1)]
    cases: dict[str, tuple[Path, str]] = {
        "missing": (tmp / "absent.csv", "fichier introuvable"),
        "directory": (tmp, "n'est pas un fichier"),
    }
    (tmp / "export.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    cases["extension"] = (tmp / "export.xls", "extension « .xls » non prise en charge")
    (tmp / "export.txt").write_text("idPG;type\n", encoding="utf-8")
    cases["extension-txt"] = (tmp / "export.txt", "extension « .txt »")
    (tmp / "empty.csv").write_bytes(b"")
    cases["empty"] = (tmp / "empty.csv", "fichier vide")
    (tmp / "bom-only.csv").write_bytes(b"\xef\xbb\xbf\n\n")
    cases["bom-only"] = (tmp / "bom-only.csv", "fichier vide")
    (tmp / "header.csv").write_text(";".join(flat(1)) + "\n", encoding="utf-8")
    cases["header-only"] = (tmp / "header.csv", "aucune candidature")
    missing = write_csv(tmp / "missing.csv", [{k: v for k, v in good[0].items() if k != "type"}])
    cases["required-column"] = (missing, "colonne obligatoire absente de missing.csv : type")
    (tmp / "comma.csv").write_text(
        "idPG,type,codeCommune,nombreConseillersSouhaites\n1,COMMUNE,01283,2\n", encoding="utf-8"
    )
    cases["comma"] = (tmp / "comma.csv", "séparateur « ; » attendu")
    (tmp / "latin1.csv").write_bytes(
        "idPG;type;nom;codeCommune;nombreConseillersSouhaites\n1;COMMUNE;Commune de Péronnas;"
        "01289;1\n".encode("cp1252")
    )
    cases["not-utf8"] = (tmp / "latin1.csv", "n'est pas encodé en UTF-8 (octet 0xE9 ligne 2)")
    (tmp / "disguised.csv").write_bytes(b"PK\x03\x04rest-of-a-zip")
    cases["xlsx-as-csv"] = (tmp / "disguised.csv", "classeur Excel malgré son extension")
    (tmp / "broken.xlsx").write_bytes(b"not a workbook")
    cases["broken-xlsx"] = (tmp / "broken.xlsx", "n'est pas un classeur .xlsx lisible")
    case = write_csv(tmp / "case.csv", [{**good[0], "QualiteProjet": "70"}])
    cases["case"] = (case, "le nom exact du champ est « qualiteProjet »")
    nested = write_csv(tmp / "nested.csv", [{**good[0], "prefet": "POSITIF"}])
    cases["nested"] = (nested, "avisPrefet, nombreConseillersPrefet, commentairePrefet")
    (tmp / "twice.csv").write_text(
        "idPG;type;codeCommune;nombreConseillersSouhaites;nom;nom\n1;COMMUNE;01283;1;a;b\n",
        encoding="utf-8",
    )
    cases["duplicate-column"] = (tmp / "twice.csv", "colonne « nom » en double")
    return cases


@pytest.mark.parametrize(
    "case",
    [
        "missing",
        "directory",
        "extension",
        "extension-txt",
        "empty",
        "bom-only",
        "header-only",
        "required-column",
        "comma",
        "not-utf8",
        "xlsx-as-csv",
        "broken-xlsx",
        "case",
        "nested",
        "duplicate-column",
    ],
)
def test_user_mistake_is_one_french_line_exit_2(
    case: str, sqlite_cli: Database, tmp_path: Path
) -> None:
    path, words = _files(tmp_path)[case]
    before = dump(sqlite_cli)
    res = CliRunner().invoke(main, ["structures", "import", str(path)])
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("fichier refusé : "), res.stderr
    assert words in lines[0]
    assert "Traceback" not in res.output and "Error" not in res.output
    assert dump(sqlite_cli) == before


def test_cp1252_file_is_read_when_asked(sqlite_cli: Database, tmp_path: Path) -> None:
    path, _ = _files(tmp_path)["not-utf8"]
    code, report = import_json(path, "--encodage", "cp1252")
    assert code == 0, report
    with sqlite_cli.read() as s:
        assert store.get_structure(s, 1)["nom"] == "Commune de Péronnas"


# -- the command: lines -----------------------------------------------------------------------


def test_refused_lines_name_line_and_column_in_french(sqlite_cli: Database, tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "export.csv",
        [
            flat(1),
            flat(2, qualiteProjet="72.5"),
            flat(3, estZRR="peut-être", nombreConseillersSouhaites="0"),
            flat(4, communesDesservies="01283,,01004"),
            flat(5, avisPrefet="FAVORABLE"),
            flat(6, codeCommune="99999"),
            flat(7, createdAt="02/05/2021"),
            flat(1),
        ],
    )
    res = run("structures", "import", str(path))
    assert res.exit_code == 2
    out = res.stdout
    expected = [
        r"ligne 2 +idPG 1 +créée",
        r"ligne 3 +idPG 2 +refusée +qualiteProjet : nombre décimal attendu \(virgule décimale",
        r"ligne 4 +idPG 3 +refusée +nombreConseillersSouhaites : doit être ≥ 1\n"
        r" +estZRR : booléen attendu : oui, non, true, false, 1 ou 0 ; reçu « peut-être »\n",
        r"ligne 5 +idPG 4 +refusée +communesDesservies : élément 2 vide",
        r"ligne 6 +idPG 5 +refusée +avisPrefet : valeur non autorisée",
        r"ligne 7 +idPG 6 +refusée +codeCommune : code commune inconnu : 99999",
        r"ligne 8 +idPG 7 +refusée +createdAt : date-heure ISO 8601 attendue",
        r"ligne 9 +idPG 1 +refusée +idPG : idPG 1 déjà présent ligne 2",
    ]
    for pattern in expected:
        assert re.search(pattern, out), (pattern, out)
    assert "8 lignes : 1 créée, 0 mise à jour, 0 inchangée, 7 refusées" in out
    assert "rien n'est écrit" in out
    assert dump(sqlite_cli) == ([], [])


def test_put_and_import_refuse_the_same_documents(
    sqlite_client: Any, sqlite_tokens: Any, sqlite_cli: Database, tmp_path: Path
) -> None:
    """Same validation as ``PUT /v1/structures/{idPG}``: same fields, same French messages."""
    bad: list[tuple[dict[str, Any], dict[str, str]]] = [
        ({"verrou": 2}, {"verrou": "2"}),
        ({"statut": "VALIDATION_COSELEC"}, {"statut": "VALIDATION_COSELEC"}),
        (
            {"coselec": [{"avisCoselec": "POSITIF", "nombreConseillersCoselec": 2}]},
            {"avisCoselec": "POSITIF", "nombreConseillersCoselec": "2"},
        ),
        ({"nombreConseillersAttribues": 3}, {"nombreConseillersAttribues": "3"}),
        ({"creeLe": "2021-01-01"}, {"creeLe": "2021-01-01"}),
        ({"codeCommune": "99999"}, {"codeCommune": "99999"}),
        ({"codeCommune": "98735"}, {"codeCommune": "98735"}),
        ({"qualiteProjet": 150}, {"qualiteProjet": "150"}),
        ({"siret": "123"}, {"siret": "123"}),
        ({"type": "ASSOCIATION"}, {"type": "ASSOCIATION"}),
        (
            {"cofinancementEur": 1000, "cofinancementPart": 0.5},
            {"cofinancementEur": "1000", "cofinancementPart": "0,5"},
        ),
        ({"nombreConseillersSouhaites": 1001}, {"nombreConseillersSouhaites": "1001"}),
    ]
    for k, (changes, cells) in enumerate(bad):
        id_pg = 100 + k
        res = sqlite_client.put(
            f"/v1/structures/{id_pg}",
            json=structure_doc(id_pg, **changes),
            headers=sqlite_tokens["portail"],
        )
        assert res.status_code == 422, (changes, res.get_json())
        put_errors = {
            (portal_file.column_of(e["champ"])[0], e["message"]) for e in res.get_json()["errors"]
        }
        path = write_csv(tmp_path / f"bad{k}.csv", [flat(id_pg, **cells)])
        code, report = import_json(path)
        assert code == 2
        (line,) = report["lignes"]
        assert line["etat"] == "refusée"
        assert {(e["champ"], e["message"]) for e in line["erreurs"]} == put_errors, changes
    assert dump(sqlite_cli) == ([], [])


def test_siret_held_by_another_line_is_refused(sqlite_cli: Database, tmp_path: Path) -> None:
    siret = synthetic_siret(1)
    path = write_csv(tmp_path / "e.csv", [flat(1, siret=siret), flat(2, siret=siret)])
    code, report = import_json(path, "--simulation")
    assert code == 2
    assert [line["etat"] for line in report["lignes"]] == ["créée", "refusée"]
    assert report["lignes"][1]["erreurs"] == [
        {"champ": "siret", "message": "SIRET déjà utilisé par la structure idPG 1"}
    ]


def test_unknown_columns_are_ignored_and_never_echoed_or_stored(
    sqlite_cli: Database, tmp_path: Path
) -> None:
    email, phone = "jeanne.martin@example.org", "0601020304"
    path = write_csv(
        tmp_path / "e.csv",
        [flat(1, emailContact=email, telephone=phone), flat(2, telephone="pas un numéro")],
    )
    for fmt in ("texte", "json"):
        res = run("structures", "import", str(path), "--simulation", "--format", fmt)
        assert res.exit_code == 0, res.output
        assert email not in res.output and phone not in res.output
        assert "emailContact" in res.output and "telephone" in res.output
    res = run("structures", "import", str(path))
    assert res.exit_code == 0
    assert email not in res.output and phone not in res.output
    assert email not in repr(dump(sqlite_cli)) and phone not in repr(dump(sqlite_cli))


def test_dry_run_reports_and_writes_nothing(cli_db: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", [flat(1), flat(2)], bom=True)
    res = run("structures", "import", str(path), "--dry-run")
    assert res.exit_code == 0, res.output
    assert re.search(r"ligne 2 +idPG 1 +créée +Commune 1", res.stdout)
    assert "2 lignes : 2 créées" in res.stdout and "simulation : rien n'est écrit" in res.stdout
    assert dump(cli_db) == ([], [])
    code, report = import_json(path, "--simulation")
    assert (code, report["simulation"], report["ecrit"]) == (0, True, False)
    assert report["compte"] == {
        "lignes": 2,
        "creees": 2,
        "misesAJour": 0,
        "inchangees": 0,
        "refusees": 0,
        "horsAttente": 0,
    }
    assert dump(cli_db) == ([], [])


def test_one_refused_line_writes_nothing(cli_db: Database, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "e.csv", [flat(1), flat(2, verrou="1"), flat(3)])
    code, report = import_json(path)
    assert code == 2 and report["ecrit"] is False
    assert [line["etat"] for line in report["lignes"]] == ["créée", "refusée", "créée"]
    assert dump(cli_db) == ([], [])


def test_reimport_is_unchanged_and_updates_are_reported(cli_db: Database, tmp_path: Path) -> None:
    first = write_csv(
        tmp_path / "e.csv",
        [
            flat(1, avisPrefet="POSITIF", nombreConseillersPrefet="2", commentairePrefet="Avis 1"),
            flat(2),
            flat(3),
        ],
    )
    code, report = import_json(first)
    assert code == 0 and report["ecrit"] is True and report["compte"]["creees"] == 3
    written = dump(cli_db)
    assert len(written[1]) == 1
    code, report = import_json(first)
    assert code == 0 and report["compte"]["inchangees"] == 3
    assert dump(cli_db) == written  # nothing written twice
    second = write_csv(
        tmp_path / "e2.csv",
        [
            flat(
                1,
                avisPrefet="NÉGATIF",
                nombreConseillersPrefet="0",
                commentairePrefet="Avis révisé par le préfet.",
            ),
            flat(2, qualiteProjet="55,5"),
            flat(3),
            flat(4),
        ],
    )
    code, report = import_json(second)
    assert code == 0
    assert [line["etat"] for line in report["lignes"]] == [
        "mise à jour",
        "mise à jour",
        "inchangée",
        "créée",
    ]
    assert report["lignes"][0]["remarques"] == ["nouvel avis du préfet enregistré"]
    with cli_db.read() as s:
        one = store.get_structure(s, 1)
        assert [p["avisPrefet"] for p in one["prefet"]] == ["POSITIF", "NÉGATIF"]
        assert store.get_structure(s, 2)["qualiteProjet"] == 55.5
    code, report = import_json(second)
    assert report["compte"]["inchangees"] == 4


def test_new_prefet_opinion_is_validated_as_avis_prefet(cli_db: Database, tmp_path: Path) -> None:
    assert import_json(write_csv(tmp_path / "a.csv", [flat(1)]))[0] == 0
    path = write_csv(tmp_path / "b.csv", [flat(1, avisPrefet="POSITIF", commentairePrefet="ok")])
    code, report = import_json(path)
    assert code == 2
    assert report["lignes"][0]["erreurs"] == [
        {"champ": "commentairePrefet", "message": "au moins 10 caractères"}
    ]


def test_structure_decided_by_committee_is_flagged_not_pending(
    cli_db: Database, tmp_path: Path
) -> None:
    doc = structure_doc(
        1,
        statut="VALIDATION_COSELEC",
        coselec=[{"avisCoselec": "POSITIF", "nombreConseillersCoselec": 2, "numero": "c1"}],
    )
    import_structure(cli_db, StructureDocument.model_validate(doc), author="admin")
    res = run("structures", "import", str(write_csv(tmp_path / "e.csv", [flat(1), flat(2)])))
    assert res.exit_code == 0
    assert "statut VALIDATION_COSELEC : la structure n'est pas en attente" in res.stdout
    assert res.stdout.count("la structure n'est pas en attente") == 1
    assert "attention : 1 structure du fichier n'est pas en attente" in res.stdout


# -- properties: all or nothing, idempotence -------------------------------------------------


@st.composite
def export_files(draw: Any) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 5))
    return [draw(documents(id_pg=1000 + k)) for k in range(n)]


def test_all_or_nothing_and_idempotent_properties(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For any valid export: a simulation writes nothing; the import creates every line; a
    second import finds every line unchanged and writes nothing; the same file with one bad line
    anywhere writes nothing at all."""
    url = f"sqlite:///{tmp_path / 'p.sqlite3'}"
    monkeypatch.setenv("ALLOCATOR_DATABASE_URL", url)
    db = Database(url)
    db.upgrade()
    runs = itertools.count()

    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(export_files(), st.data())
    def check(docs: list[dict[str, Any]], data: st.DataObject) -> None:
        k = next(runs)
        offset = 10_000 * (k + 1)  # fresh idPGs and SIRETs for each example
        docs = [
            {**d, "idPG": d["idPG"] + offset}
            | ({"siret": synthetic_siret(d["idPG"] + offset)} if "siret" in d else {})
            for d in docs
        ]
        folder = tmp_path / f"run{k}"
        folder.mkdir()
        good = portal_file.write_export_csv(docs, folder / "export.csv")
        before = dump(db)
        with good.open(encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f, delimiter=";"))
        position = data.draw(st.integers(0, len(rows)))
        fault = data.draw(
            st.sampled_from(
                [
                    {"verrou": "1"},
                    {"qualiteProjet": "1.5"},
                    {"codeCommune": "99999"},
                    {"estZRR": "peut-être"},
                    {"statut": "REFUS_COSELEC"},
                ]
            )
        )
        bad_rows = [*rows[:position], {**flat(offset + 999), **fault}, *rows[position:]]
        bad = write_csv(folder / "bad.csv", bad_rows)
        code, report = import_json(bad)
        assert code == 2 and report["ecrit"] is False
        assert dump(db) == before
        code, report = import_json(good, "--simulation")
        assert code == 0 and dump(db) == before
        assert report["compte"]["creees"] == len(docs)
        code, report = import_json(good)
        assert code == 0 and report["compte"]["creees"] == len(docs)
        after = dump(db)
        code, report = import_json(good)
        assert code == 0 and report["compte"]["inchangees"] == len(docs)
        assert dump(db) == after
        with db.read() as s:
            for d in docs:
                view = store.get_structure(s, d["idPG"])
                assert view["statut"] == "CREEE"
                expected = StructureDocument.model_validate(d)
                assert view["nombreConseillersSouhaites"] == expected.nombreConseillersSouhaites
                assert len(view["prefet"]) == len(expected.prefet)

    check()
    db.dispose()


# -- round show -------------------------------------------------------------------------------


def test_round_show_names_commune_departement_request_and_proposal(
    sqlite_cli: Database, tmp_path: Path, fake_solver: Any
) -> None:
    one = flat(1, nom="Commune d'Oyonnax", codeCommune="01283", nombreConseillersSouhaites="3")
    assert run("structures", "import", str(write_csv(tmp_path / "a.csv", [one]))).exit_code == 0
    assert run("round", "draft", "--mois", "2021-06", "--quota", "2").exit_code == 0
    assert run("round", "commit", "1").exit_code == 0
    # structure 1 holds 2 posts and asks for 2 more: its remaining request is 2
    assert run("postes", "demande", "1", "--type", "AJOUT", "--nombre", "2").exit_code == 0
    two = flat(2, nom="CCAS de Bastia", codeCommune="2B033", nombreConseillersSouhaites="2")
    assert run("structures", "import", str(write_csv(tmp_path / "b.csv", [two]))).exit_code == 0
    res = run("round", "draft", "--mois", "2021-07", "--quota", "1")
    assert res.exit_code == 0, res.output
    res = run("round", "override", "2", "--idpg", "2", "--nombre", "0", "--motif", "arbitrage")
    assert res.exit_code == 0, res.output
    res = run("round", "show", "2")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    header = next(line for line in lines if line.startswith("dép."))
    assert header.split() == [
        "dép.",
        "idPG",
        "structure",
        "commune",
        "demande",
        "proposé",
        "verrou",
    ]
    by_id = {line.split()[1]: line for line in lines if re.match(r"^(01|2B) +[12] ", line)}
    assert re.search(r"^01 +1 +Commune d'Oyonnax +Oyonnax \(01283\) +2 +1$", by_id["1"])
    assert re.search(r"^2B +2 +CCAS de Bastia +Bastia \(2B033\) +2 +0 += 0$", by_id["2"])
    # columns are aligned: every row puts its request under the header's
    at = header.index("demande") + len("demande")
    assert {line[at - 1] for line in by_id.values()} == {"2"}
    assert "verrou idPG 2 = 0 (arbitrage" in res.stdout
    shown = run("round", "show", "2", "--retenues").stdout
    assert "Commune d'Oyonnax" in shown and "CCAS de Bastia" not in shown
    view = json.loads(run("round", "show", "2", "--json").stdout)
    assert view["id"] == 2 and view["statut"] == "draft"


def test_round_show_of_an_imported_committee_names_its_structures(sqlite_cli: Database) -> None:
    import_history(sqlite_cli, until="2021-03-25")
    res = run("round", "show", "1")
    assert res.exit_code == 0, res.output
    assert "résultat HISTORIQUE" in res.stdout
    rows = [line for line in res.stdout.splitlines() if re.match(r"^\w\w\w? +\d+ ", line)]
    assert rows and all(re.search(r"\(\w{5}\) +\d+ +\d+$", line) for line in rows)


# -- the sample export and the README's monthly cycle ----------------------------------------


def test_import_history_before_a_date(sqlite_cli: Database) -> None:
    for bad in ("2021-13-01", "19/05/2021", "2021-03-01"):
        res = run("round", "import-historique", "--avant", bad)
        assert res.exit_code == 2, (bad, res.output)
        assert "avant" in res.stderr
    res = run("round", "import-historique", "--avant", "2021-05-19")
    assert res.exit_code == 0, res.output
    assert "tour n° 7 : 2021-coselec-7" in res.stdout and "coselec-8" not in res.stdout


def test_after_the_whole_history_the_sample_is_reported_already_decided(
    sqlite_cli: Database,
) -> None:
    """The issue's own sequence: after the whole 2021 history, the sample's structures (the
    last committee's) are already decided; the import says so instead of staying silent."""
    from service.application import history

    assert run("round", "import-historique").exit_code == 0
    res = run("structures", "import", str(history.SAMPLE_EXPORT))
    assert res.exit_code == 0, res.output
    assert "190 lignes : 0 créée, 0 mise à jour, 190 inchangées, 0 refusée" in res.stdout
    assert res.stdout.count("statut VALIDATION_COSELEC : la structure n'est pas en attente") == 190
    assert (
        "attention : 190 structures du fichier ne sont pas en attente (déjà examinées par le "
        "comité ou retirées) : aucun tour ne les considère" in res.stdout
    )
    code, report = import_json(history.SAMPLE_EXPORT, "--simulation")
    assert code == 0 and report["compte"]["horsAttente"] == 190
    assert {line["statut"] for line in report["lignes"]} == {"VALIDATION_COSELEC"}


def test_sample_export_is_built_from_the_bundled_data(tmp_path: Path) -> None:
    """``docs/exemples/export_portail_2021-06.csv`` is what
    :func:`service.application.history.export_documents`
    gives (``ALLOCATOR_UPDATE_EXAMPLES=1`` rewrites it)."""
    from service.application import history

    fresh = portal_file.write_export_csv(history.export_documents(), tmp_path / "export.csv")
    if os.environ.get("ALLOCATOR_UPDATE_EXAMPLES") == "1":
        history.SAMPLE_EXPORT.write_bytes(fresh.read_bytes())
    assert history.SAMPLE_EXPORT.read_bytes() == fresh.read_bytes()
    table = portal_file.read_export(history.SAMPLE_EXPORT)
    assert len(table.lines) == 190 and table.ignored_columns == ()
    assert all(
        line.cells["synthetique"] == "qualiteProjet,prefet,createdAt" for line in table.lines
    )


def _readme_cycle() -> list[str]:
    """The command lines of the README's monthly cycle block."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## The monthly cycle from the portal's export", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.startswith("allocator ")]


def test_readme_monthly_cycle_on_a_fresh_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, real_pipeline: None
) -> None:
    """Issue 16: on a fresh store, the README's command lines bring the export's applications in
    and the June 2021 round is drafted, shown and committed over them (the real engine)."""
    from service.application.history import demo_request

    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    monkeypatch.setenv("ALLOCATOR_DATABASE_URL", url)
    monkeypatch.delenv("ALLOCATOR_ENV", raising=False)
    monkeypatch.chdir(ROOT)
    commands = _readme_cycle()
    assert [c.split()[1:3] for c in commands] == [
        ["round", "import-historique"],
        ["structures", "import"],
        ["structures", "import"],
        ["round", "draft"],
        ["round", "show"],
        ["round", "commit"],
    ]
    outputs = []
    for line in commands:
        res = run(*shlex.split(line, comments=True)[1:])
        assert res.exit_code == 0, (line, res.output)
        outputs.append(res.stdout)
        if "--simulation" in line:
            assert "190 lignes : 190 créées" in res.stdout and "rien n'est écrit" in res.stdout
    history, _simulated, imported, drafted, shown, committed = outputs
    assert "tour n° 7" in history
    assert "190 créées, 0 mise à jour, 0 inchangée, 0 refusée" in imported
    assert "import enregistré" in imported
    assert "tour n° 8 — mois 2021-06, quota 128" in drafted
    assert "128 postes attribués / quota 128" in drafted
    assert re.search(r"01 +1 +HAUT - BUGEY AGGLOMERATION +Oyonnax \(01283\) +5 +\d", shown)
    assert "tour n° 8 validé : 128 postes attribués" in committed

    db = Database(url)
    from service.application import rounds

    view = rounds.get_round(db, 8)
    snapshot = rounds.get_round_snapshot(db, 8)
    demo = {s["idPG"]: s for s in demo_request()["structures"]}
    assert view["statut"] == "committed" and sorted(view["structures"]) == sorted(demo)
    # the CSV lost nothing: the round saw the demo's documents (SIRETs aside)
    for s in snapshot["request"]["structures"]:
        expected = StructureIn.model_validate(demo[s["idPG"]]).model_dump(
            mode="json", exclude_none=True, exclude={"siret", "coselec"}
        )
        assert {k: v for k, v in s.items() if k not in ("siret", "coselec")} == expected
    decisions = view["resultat"]["decisions"]
    assert sum(d["nombreConseillersAttribues"] for d in decisions) == 128
    for d in decisions:
        s = demo[d["idPG"]]
        assert 0 <= d["nombreConseillersAttribues"] <= s["nombreConseillersSouhaites"]
        if s["type"] == "PRIVATE" or s["prefet"][0]["avisPrefet"] == "NÉGATIF":
            assert d["nombreConseillersAttribues"] == 0, d
        # the export's synthetic labels reach every explanation
        assert d["explication"]["donnees"]["noteProjet"]["synthetique"] is True
    with db.read() as s:
        statuts = {
            r.id_pg: r.statut for r in s.scalars(select(Structure).where(Structure.id_pg.in_(demo)))
        }
    granted = {d["idPG"] for d in decisions if d["nombreConseillersAttribues"] > 0}
    assert statuts == {i: "VALIDATION_COSELEC" if i in granted else "REFUS_COSELEC" for i in demo}
    db.dispose()
