"""`allocator territoire diagnostic`: the table in French, written whole, and readable maps."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from geodata.diagnostic import LABELS_FR, diagnostic_table
from service.cli.main import main


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_diagnostic_table_is_french_and_written_whole_to_csv_and_xlsx(workdir: Path) -> None:
    result = CliRunner().invoke(
        main, ["territoire", "diagnostic", "--departement", "Nord", "--no-maps", "--out", "d"]
    )
    assert result.exit_code == 0, result.output
    expected = diagnostic_table("59")
    labels = [LABELS_FR[c] for c in expected.columns]
    csv = pd.read_csv(
        workdir / "d" / "diagnostic_59.csv",
        sep=";",
        decimal=",",
        encoding="utf-8-sig",
        dtype={"code": str, "EPCI (SIREN)": str},
        index_col="code",
    )
    assert list(csv.columns) == labels and len(csv) == len(expected) > 600
    assert list(csv.index) == list(expected.index)
    assert csv["population fragile"].to_numpy() == pytest.approx(
        expected["fragile_population"].to_numpy(), abs=1e-3
    )
    assert csv["% fragiles sans conseiller à portée"].max() <= 100
    xlsx = pd.read_excel(workdir / "d" / "diagnostic_59.xlsx", dtype={"code": str})
    assert len(xlsx) == len(expected) and list(xlsx.columns) == ["code", *labels]
    # the terminal gets a stated head and where the whole table is, never pandas' "..." cut
    out = result.stdout
    assert "..." not in out and "population fragile" in out and "fragile_population" not in out
    assert f"… 40 premières communes sur {len(expected)} (par code) ; table complète : " in out
    assert "d/diagnostic_59.csv et d/diagnostic_59.xlsx" in out
    assert "59001" in out and "59670" not in out


def test_national_diagnostic_is_printed_whole(workdir: Path) -> None:
    result = CliRunner().invoke(main, ["territoire", "diagnostic", "--no-maps", "--out", "d"])
    assert result.exit_code == 0, result.output
    rows = [
        line for line in result.stdout.splitlines() if line[:3].strip() in diagnostic_table().index
    ]
    assert len(rows) == 101 and "..." not in result.stdout and "premières" not in result.stdout


def test_diagnostic_says_which_layer_is_constant_instead_of_a_blank_map(workdir: Path) -> None:
    result = CliRunner().invoke(main, ["territoire", "diagnostic", "--departement", "59"])
    assert result.exit_code == 0, result.output
    maps = [line for line in result.stderr.splitlines() if line.startswith("carte : ")]
    assert len(maps) == 4
    assert maps[-1] == (
        "carte : out/diagnostic/carte_without_advisor_59.png — Population fragile sans conseiller "
        "à portée (%) : 0 dans toutes les communes, pas d'échelle de couleurs"
    )
    assert all(" — " not in line for line in maps[:-1])
