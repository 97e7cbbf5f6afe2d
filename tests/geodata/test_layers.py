"""Loaders: code checks, re-keying, unknown codes, columns and CRS, on small temporary files."""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from geodata import layers
from geodata.codes import rekey_codes
from geodata.errors import (
    CRSMismatch,
    MalformedCommuneCode,
    MissingColumns,
    RekeyedCodeWarning,
    UnknownCommuneCode,
)


def _zrr_csv(tmp_path: Path, codes: list[str], name: str = "zrr.csv") -> Path:
    path = tmp_path / name
    pd.DataFrame(
        {"code_insee": codes, "nb_codes_source": 1, "nb_codes_source_zrr": 0, "zrr": "non"}
    ).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("bad", ["1001", "0100A", "2C001", "010011", " 1001"])
def test_malformed_codes_rejected(tmp_path: Path, bad: str) -> None:
    path = _zrr_csv(tmp_path, ["01001", bad])
    with pytest.raises(MalformedCommuneCode, match="5-character") as exc:
        layers.load_zrr(path)
    assert exc.value.codes == (bad,)


def test_unknown_code_rejected_with_the_codes(tmp_path: Path) -> None:
    path = _zrr_csv(tmp_path, ["01001", "99999", "98999"])
    with pytest.raises(UnknownCommuneCode) as exc:
        layers.load_zrr(path)
    assert exc.value.codes == ("98999", "99999")
    assert "zrr.csv" in str(exc.value)


def test_old_codes_rekeyed_with_a_warning(tmp_path: Path) -> None:
    # 01039 (Béon) is a commune déléguée of Culoz-Béon (01138); 75101 is Paris 1er.
    path = _zrr_csv(tmp_path, ["01001", "01039", "75101"])
    with pytest.warns(RekeyedCodeWarning, match="01039->01138") as rec:
        df = layers.load_zrr(path)
    assert df["code_insee"].tolist() == ["01001", "01138", "75056"]
    assert rec[0].message.mapping == {"01039": "01138", "75101": "75056"}


def test_corsica_codes_kept_as_strings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = rekey_codes(["2A004", "2B033"], layers.known_codes(), layers.code_history_map(), "t")
    assert out == ["2A004", "2B033"]


def test_missing_columns_named(tmp_path: Path) -> None:
    path = tmp_path / "zrr.csv"
    pd.DataFrame({"code_insee": ["01001"]}).to_csv(path, index=False)
    with pytest.raises(MissingColumns, match=r"\['zrr'\]"):
        layers.load_zrr(path)


def test_check_geodataframe_type_message() -> None:
    with pytest.raises(TypeError, match="'gdf' should be a GeoDataFrame, got <class 'pandas"):
        layers.check_geodataframe(pd.DataFrame({"a": [1]}))


def _square(crs: str | None) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": ["01"], "nom": ["Ain"]}, geometry=[box(0, 0, 1, 1)], crs=crs)


@pytest.mark.parametrize(
    ("crs", "message"),
    [("EPSG:3857", r"is EPSG:3857, expected EPSG:4326"), (None, "has no CRS; expected EPSG:4326")],
)
def test_wrong_crs_rejected(tmp_path: Path, crs: str | None, message: str) -> None:
    path = tmp_path / f"deps_{crs or 'none'}.parquet".replace(":", "_")
    _square(crs).to_parquet(path)
    with pytest.raises(CRSMismatch, match=message):
        layers.load_departement_contours(path)


def test_to_local_crs_projects_per_zone() -> None:
    gdf = _square("EPSG:4326")
    assert layers.to_local_crs(gdf, "974").crs.to_epsg() == 2975
    assert layers.to_local_crs(gdf, "2A").crs.to_epsg() == 2154
    assert layers.local_crs("971") == layers.local_crs("972") == 5490
    assert (layers.local_crs("973"), layers.local_crs("976")) == (2972, 4471)
    with pytest.raises(CRSMismatch):
        layers.to_local_crs(gdf.to_crs(3857), "01")


def test_loaders_return_copies() -> None:
    a = layers.load_departements()
    a.loc[0, "nom"] = "changed"
    assert layers.load_departements().loc[0, "nom"] != "changed"


def test_bundled_layers_validated() -> None:
    all_layers = layers.load_all()
    communes = all_layers["communes"]
    assert len(communes) == 34_969
    assert communes["code_insee"].str.len().eq(5).all()
    assert {"2A004", "2B033", "97411"} <= set(communes["code_insee"])
    prog = communes[communes["zone"] != "com"]
    assert prog[["x", "y"]].notna().all().all()  # incl. the 7 re-created communes
    assert communes.loc[communes["zone"] == "com", "x"].isna().all()
    assert all_layers["commune_contours"].crs.to_epsg() == 4326
    assert len(all_layers["structures_2021"]) == 1450
