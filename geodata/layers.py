"""Loaders of the bundled layers, one per source, validated at the boundary.

Every loader reads only from ``geodata/data`` (or from an explicit ``path``, for tests), checks
the required columns, checks codes INSEE (5-character strings, ``2A``/``2B`` kept), re-keys
older codes to COG 2026 through ``communes_codes_historiques_2026.csv`` with a
:class:`~geodata.errors.RekeyedCodeWarning`, and rejects unknown codes with
:class:`~geodata.errors.UnknownCommuneCode`. Geometries are checked to be in EPSG:4326 (as
shipped) and are reprojected *explicitly* for distances and areas:

======================  ==========  ====================================
zone                    EPSG        projection
======================  ==========  ====================================
métropole (incl. Corse)  2154       RGF93 / Lambert-93
971 Guadeloupe, 972      5490       RGAF09 / UTM 20N
973 Guyane               2972       RGFG95 / UTM 22N
974 La Réunion           2975       RGR92 / UTM 40S
976 Mayotte              4471       RGM04 / UTM 38S
======================  ==========  ====================================

Parsing is pure, slow-ish work: each file is read once per process (``functools.cache``) and
public loaders hand out copies, so callers may mutate what they get. The projected commune layer
and the referential of codes are also kept across processes by :mod:`geodata.cache`.

Imports: pandas, pyproj and geopandas are imported by the functions that use them, so that the
allocation path (:func:`known_codes`, :func:`code_history_map`, cached tables) stays light.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from geodata import cache as disk_cache
from geodata.checks import check_columns, check_geodataframe
from geodata.codes import check_code_series, departement_code, rekey_series
from geodata.errors import GeodataError

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd
    from pyproj import Transformer

DATA_DIR = Path(__file__).parent / "data"

SOURCE_CRS = "EPSG:4326"
METRO_EPSG = 2154
#: Projected CRS per zone code (``metro`` or a DROM département).
ZONE_EPSG: dict[str, int] = {
    "metro": METRO_EPSG,
    "971": 5490,
    "972": 5490,
    "973": 2972,
    "974": 2975,
    "976": 4471,
}
DROM = ("971", "972", "973", "974", "976")
COM = ("975", "977", "978", "984", "986", "987", "988", "989")

# The history file maps two old codes to two communes each (an old "ancien-code" reused later
# for a commune associée/déléguée); the named commune is the more specific match, so it wins.
_HISTORY_TYPE_PRIORITY = {
    "commune-deleguee": 0,
    "commune-associee": 0,
    "arrondissement-municipal": 0,
    "ancien-code": 1,
}


# --------------------------------------------------------------------------- projections


def zone_of_departement(departement: str) -> str:
    """Projection zone of a département: ``"metro"`` or the DROM code; raises for a COM."""
    if departement in ZONE_EPSG:
        return departement
    if departement in COM:
        raise GeodataError(f"département {departement!r} is a COM: no projected CRS, no geometry")
    return "metro"


def local_crs(departement: str) -> int:
    """EPSG code of the projected CRS used for distances and areas in ``departement``."""
    return ZONE_EPSG[zone_of_departement(departement)]


def to_local_crs(gdf: gpd.GeoDataFrame, departement: str, name: str = "gdf") -> gpd.GeoDataFrame:
    """Reproject a EPSG:4326 GeoDataFrame to the local projected CRS of ``departement``."""
    check_geodataframe(gdf, name, crs=SOURCE_CRS)
    return gdf.to_crs(epsg=local_crs(departement))


@cache
def _transformer(epsg: int) -> Transformer:
    from pyproj import Transformer

    return Transformer.from_crs(SOURCE_CRS, f"EPSG:{epsg}", always_xy=True)


def project_lonlat(lon: np.ndarray, lat: np.ndarray, epsg: int) -> tuple[np.ndarray, np.ndarray]:
    """Project WGS84 longitude/latitude (degrees) to ``EPSG:epsg`` metres."""
    x, y = _transformer(epsg).transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.asarray(x), np.asarray(y)


# --------------------------------------------------------------------------- readers


def _path(path: str | Path | None, default: str) -> Path:
    return Path(path) if path is not None else DATA_DIR / default


def _read_csv(path: Path, code_columns: Iterable[str], required: Iterable[str]) -> pd.DataFrame:
    # Code columns as str: a numeric read would drop leading zeros (01001 -> 1001) and choke
    # on 2A/2B; the check below would then reject the codes.
    import pandas as pd

    df = pd.read_csv(path, dtype=dict.fromkeys(code_columns, str))
    return check_columns(df, required, path.name)


@cache
def _code_history(path: Path) -> pd.DataFrame:
    df = _read_csv(path, ["code_ancien", "code_insee"], ["code_ancien", "type", "code_insee"])
    check_code_series(df["code_ancien"], path.name)
    check_code_series(df["code_insee"], path.name)
    return df


def load_code_history(path: str | Path | None = None) -> pd.DataFrame:
    """``communes_codes_historiques_2026.csv``: ``code_ancien, nom_ancien, type, code_insee``."""
    return _code_history(_path(path, "communes_codes_historiques_2026.csv")).copy()


def _history_map(known: frozenset[str]) -> dict[str, str]:
    h = _code_history(DATA_DIR / "communes_codes_historiques_2026.csv")
    h = h[[c not in known for c in h["code_ancien"].tolist()]]
    rank = h["type"].map(_HISTORY_TYPE_PRIORITY).fillna(2)
    h = h.assign(_rank=rank).sort_values(["code_ancien", "_rank", "code_insee"])
    h = h.drop_duplicates("code_ancien")
    return dict(zip(h["code_ancien"], h["code_insee"], strict=True))


def _build_codes() -> dict[str, np.ndarray]:
    known = _communes_raw(DATA_DIR / "communes_2026.parquet")["code_insee"].tolist()
    history = _history_map(frozenset(known))
    return {
        "known": np.array(known, dtype=str),
        "old": np.array(list(history), dtype=str),
        "new": np.array(list(history.values()), dtype=str),
    }


def _decode_codes(arrays: dict[str, np.ndarray]) -> tuple[frozenset[str], dict[str, str]]:
    old, new = arrays["old"].tolist(), arrays["new"].tolist()
    return frozenset(arrays["known"].tolist()), dict(zip(old, new, strict=True))


@cache
def shared_codes() -> tuple[frozenset[str], dict[str, str]]:
    """The referential of codes, from the disk cache when present (no pandas needed then)."""
    return disk_cache.cached_arrays("codes", None, DATA_DIR, _build_codes, _decode_codes)


@cache
def code_history_map() -> dict[str, str]:
    """``{code_ancien: code_insee_2026}`` from the bundled history (old codes only)."""
    return shared_codes()[1]


COMMUNE_COLUMNS = (
    "code_insee",
    "nom",
    "zone",
    "departement",
    "departement_nom",
    "region",
    "region_nom",
    "epci_siren",
    "epci_nom",
    "population",
    "codes_postaux",
    "longitude",
    "latitude",
)


@cache
def _communes_raw(path: Path) -> pd.DataFrame:
    import pandas as pd

    df = pd.read_parquet(path)
    check_columns(df, COMMUNE_COLUMNS, path.name)
    check_code_series(df["code_insee"], path.name)
    dup = df["code_insee"][df["code_insee"].duplicated()]
    if len(dup):
        raise GeodataError(f"{path.name}: duplicated code_insee {sorted(set(dup))[:10]}")
    return df


@cache
def known_codes() -> frozenset[str]:
    """The COG 2026 codes INSEE (métropole, DROM and COM)."""
    return shared_codes()[0]


def _rekey(df: pd.DataFrame, column: str, source: str) -> pd.DataFrame:
    codes = rekey_series(df[column], known_codes(), code_history_map(), source, stacklevel=5)
    if codes is df[column]:
        return df
    return df.assign(**{column: codes})


# The ``shared_*`` readers return the one frame the process caches (read-only: modules of the
# package read it in place); the public ``load_*`` functions return copies a caller may change.
@cache
def shared_communes(path: Path) -> pd.DataFrame:
    if path == DATA_DIR / "communes_2026.parquet":
        return disk_cache.cached_frame("communes", None, DATA_DIR, lambda: _build_communes(path))
    return _build_communes(path)


def _build_communes(path: Path) -> pd.DataFrame:
    df = _communes_raw(path).copy()
    df["population"] = df["population"].fillna(0).astype("int64")
    lon = df["longitude"].to_numpy(float).copy()
    lat = df["latitude"].to_numpy(float).copy()
    source = np.where(np.isnan(lon), "", "centroide").astype(object)
    programme = (df["zone"] != "com").to_numpy()
    # 7 communes re-created after 2018 have no polygon: take the comparateur's point when it
    # has one, else the mean centroid of the communes sharing a postal code (same canton).
    missing = np.isnan(lon) & programme
    if missing.any():
        comp = shared_comparateur(DATA_DIR / "insee_comparateur_communes_2024.csv")
        comp = comp.dropna(subset=["lat", "lng"]).drop_duplicates("code_insee_2026")
        comp_pos = {c: k for k, c in enumerate(comp["code_insee_2026"].tolist())}
        comp_lng, comp_lat = comp["lng"].to_numpy(float), comp["lat"].to_numpy(float)
        codes = df["code_insee"].tolist()
        postal = [str(v).split(";") for v in df["codes_postaux"].tolist()]
        wanted = {cp for i in np.flatnonzero(missing) for cp in postal[i]}
        by_cp: dict[str, list[int]] = {}
        for j, cps in enumerate(postal):
            if not np.isnan(lon[j]):
                for cp in set(cps) & wanted:
                    by_cp.setdefault(cp, []).append(j)
        for i in np.flatnonzero(missing):
            code = codes[i]
            if code in comp_pos:
                lon[i], lat[i] = comp_lng[comp_pos[code]], comp_lat[comp_pos[code]]
                source[i] = "comparateur"
                continue
            same = sorted({j for cp in postal[i] for j in by_cp.get(cp, ())})
            if same:
                lon[i], lat[i] = lon[same].mean(), lat[same].mean()
                source[i] = "code_postal"
    x = np.full(len(df), np.nan)
    y = np.full(len(df), np.nan)
    zone = df["departement"].map(
        lambda d: d if d in ZONE_EPSG else ("com" if d in COM else "metro")
    )
    epsg = zone.map(lambda z: ZONE_EPSG.get(z, 0)).to_numpy()
    for code in sorted(set(epsg) - {0}):
        sel = (epsg == code) & ~np.isnan(lon)
        x[sel], y[sel] = project_lonlat(lon[sel], lat[sel], int(code))
    df["x"], df["y"] = x, y
    df["crs_epsg"] = epsg
    df["zone_calcul"] = zone.to_numpy()
    df["position_source"] = source
    df.loc[~programme, "position_source"] = "aucune_com"
    return df


def load_communes(path: str | Path | None = None) -> pd.DataFrame:
    """``communes_2026.parquet`` (34,969 communes COG 2026) with projected positions.

    Adds ``x, y`` (metres, in ``crs_epsg``: Lambert-93 for métropole, the local projection
    overseas; NaN for the COM), ``zone_calcul`` (``metro``, a DROM code, or ``com``) and
    ``position_source`` (``centroide``, ``comparateur`` or ``code_postal`` for the 7 re-created
    communes without polygon, ``aucune_com`` for the COM). ``population`` is int (0 when null).
    """
    return shared_communes(_path(path, "communes_2026.parquet")).copy()


def _contours(path: Path, required: tuple[str, ...], key: str) -> gpd.GeoDataFrame:
    import geopandas as gpd

    gdf = gpd.read_parquet(path)
    check_geodataframe(gdf, path.name, crs=SOURCE_CRS, required=required)
    check_code_series(gdf[key], path.name) if key == "code_insee" else None
    return gdf


@cache
def shared_commune_contours(path: Path) -> gpd.GeoDataFrame:
    gdf = _contours(path, ("code_insee", "departement", "region", "epci_siren"), "code_insee")
    return _rekey(gdf, "code_insee", path.name)


def load_commune_contours(path: str | Path | None = None) -> gpd.GeoDataFrame:
    """Simplified commune polygons (EPSG:4326, ≈200 m), métropole + DROM; no COM."""
    return shared_commune_contours(_path(path, "communes_2026_contours_simplifies.parquet")).copy()


@cache
def shared_departement_contours(path: Path) -> gpd.GeoDataFrame:
    return _contours(path, ("code", "nom"), "code")


def load_departement_contours(path: str | Path | None = None) -> gpd.GeoDataFrame:
    """101 département polygons (EPSG:4326)."""
    return shared_departement_contours(_path(path, "departements_contours.parquet")).copy()


@cache
def _region_contours(path: Path) -> gpd.GeoDataFrame:
    return _contours(path, ("code", "nom"), "code")


def load_region_contours(path: str | Path | None = None) -> gpd.GeoDataFrame:
    """18 région polygons (EPSG:4326)."""
    return _region_contours(_path(path, "regions_contours.parquet")).copy()


@cache
def _departements(path: Path) -> pd.DataFrame:
    return _read_csv(path, ["code", "region", "chef_lieu"], ["code", "nom", "region", "zone"])


def load_departements(path: str | Path | None = None) -> pd.DataFrame:
    """``departements_2026.csv``: 101 départements + 8 COM codes (``code, nom, region, zone``)."""
    return _departements(_path(path, "departements_2026.csv")).copy()


def programme_departements() -> dict[str, str]:
    """``{code: nom}`` of the programme's départements: the métropole and the five DROM."""
    deps = _departements(DATA_DIR / "departements_2026.csv")
    deps = deps[~deps["code"].isin(COM)]
    return dict(zip(deps["code"], deps["nom"], strict=True))


def programme_departement(value: str) -> str:
    """The code of the programme département named by ``value`` (code or name).

    The one check of a département given by a user (command line): see
    :func:`geodata.codes.departement_code`; raises :class:`~geodata.errors.UnknownDepartement`.
    """
    return departement_code(value, programme_departements())


@cache
def _regions(path: Path) -> pd.DataFrame:
    return _read_csv(path, ["code", "chef_lieu"], ["code", "nom", "zone"])


def load_regions(path: str | Path | None = None) -> pd.DataFrame:
    """``regions_2026.csv``: 18 régions + COM pseudo-régions (``code, nom, zone``)."""
    return _regions(_path(path, "regions_2026.csv")).copy()


@cache
def _epcis(path: Path) -> pd.DataFrame:
    df = _read_csv(path, ["epci_siren"], ["epci_siren", "nom", "type"])
    bad = ~df["epci_siren"].str.fullmatch(r"\d{9}").fillna(False).astype(bool)
    if bad.any():
        raise GeodataError(f"{path.name}: malformed SIREN {df['epci_siren'][bad].tolist()[:10]}")
    return df


def load_epcis(path: str | Path | None = None) -> pd.DataFrame:
    """``epci_2026.csv``: 1,255 EPCI (DGCL 2026 perimeters), keyed by 9-digit ``epci_siren``."""
    return _epcis(_path(path, "epci_2026.csv")).copy()


FRAGILITE_SCORES = (
    "acces_information",
    "acces_interfaces_numeriques",
    "competences_administratives",
    "competences_numeriques_scolaires",
    "global_acces",
    "global_competences",
    "score_global",
)


@cache
def shared_fragilite(path: Path) -> pd.DataFrame:
    df = _read_csv(path, ["code_insee"], ["code_insee", *FRAGILITE_SCORES])
    return _rekey(df, "code_insee", path.name)


def load_fragilite(path: str | Path | None = None) -> pd.DataFrame:
    """MedNum fragility index per commune (région-normalised, 100 = région average)."""
    return shared_fragilite(_path(path, "fragilite_numerique_communes_2026.csv")).copy()


@cache
def shared_comparateur(path: Path) -> pd.DataFrame:
    df = _read_csv(
        path,
        ["code_insee_2024", "code_insee_2026"],
        [
            "code_insee_2026",
            "lat",
            "lng",
            "population_2021",
            "pop_15_64_chomage_2021",
            "pop_15_64_active_2021",
        ],
    )
    return _rekey(df, "code_insee_2026", path.name)


def load_comparateur(path: str | Path | None = None) -> pd.DataFrame:
    """INSEE comparateur de territoires 2024 (unemployment 15-64, populations, lat/lng)."""
    return shared_comparateur(_path(path, "insee_comparateur_communes_2024.csv")).copy()


@cache
def shared_zrr(path: Path) -> pd.DataFrame:
    df = _read_csv(path, ["code_insee"], ["code_insee", "zrr"])
    bad = ~df["zrr"].isin(["oui", "non", "partiel"])
    if bad.any():
        raise GeodataError(f"{path.name}: zrr must be oui/non/partiel, got {set(df['zrr'][bad])}")
    return _rekey(df, "code_insee", path.name)


def load_zrr(path: str | Path | None = None) -> pd.DataFrame:
    """ZRR flag per commune (``oui``/``non``/``partiel``; historical: FRR since 2024-07-01)."""
    return shared_zrr(_path(path, "zrr_communes_2026.csv")).copy()


@cache
def shared_france_services(path: Path) -> pd.DataFrame:
    df = _read_csv(
        path,
        ["insee_com", "code_insee_2026", "insee_dep", "code_postal"],
        ["id_fs", "lib_fs", "type_fs", "code_insee_2026", "latitude", "longitude"],
    )
    return _rekey(df, "code_insee_2026", path.name)


def load_france_services(path: str | Path | None = None) -> pd.DataFrame:
    """France Services sites on 2024-08-01 (2,845 sites, keyed by ``code_insee_2026``)."""
    return shared_france_services(_path(path, "france_services_2024-08-01.csv")).copy()


@cache
def shared_structures_2021(path: Path) -> pd.DataFrame:
    df = _read_csv(
        path,
        ["code_insee_source", "code_insee_2026", "insee_dep", "insee_reg", "code_postal", "siret"],
        ["id", "raison_sociale", "type", "nb_cnfs", "code_insee_2026"],
    )
    import pandas as pd

    df["nb_cnfs"] = pd.to_numeric(df["nb_cnfs"], errors="raise").astype("int64")
    if (df["nb_cnfs"] < 0).any():
        raise GeodataError(f"{path.name}: negative nb_cnfs")
    # 7 structures have no code in the source: kept (and reported by geodata.coverage), the
    # codes that are present are checked and re-keyed like everywhere else.
    has_code = df["code_insee_2026"].notna()
    rekeyed = rekey_series(
        df.loc[has_code, "code_insee_2026"],
        known_codes(),
        code_history_map(),
        path.name,
        stacklevel=4,
    )
    df.loc[has_code, "code_insee_2026"] = rekeyed
    return df


def load_structures_2021(path: str | Path | None = None) -> pd.DataFrame:
    """The 1,450 host structures (2,138 posts) validated by the 2021 comités de sélection."""
    return shared_structures_2021(_path(path, "conseillers_numeriques_structures_2021.csv")).copy()


@dataclass(frozen=True)
class ReferenceNames:
    """Names of the bundled referential, as plain dicts (see :func:`reference_names`)."""

    communes: dict[str, str]
    departements: dict[str, str]
    epcis: dict[str, str]


def _build_names() -> dict[str, np.ndarray]:
    communes = _communes_raw(DATA_DIR / "communes_2026.parquet")
    deps = _departements(DATA_DIR / "departements_2026.csv")
    epcis = _epcis(DATA_DIR / "epci_2026.csv")
    columns = {
        "commune_code": communes["code_insee"],
        "commune_nom": communes["nom"],
        "departement_code": deps["code"],
        "departement_nom": deps["nom"],
        "epci_siren": epcis["epci_siren"].astype(str),
        "epci_nom": epcis["nom"],
    }
    out: dict[str, np.ndarray] = {}
    for name, column in columns.items():
        out |= disk_cache.encode_texts(name, column.tolist())
    return out


def _decode_names(arrays: dict[str, np.ndarray]) -> ReferenceNames:
    def pairs(what: str) -> dict[Any, Any]:
        keys = disk_cache.decode_texts(arrays, f"{what}_code" if what != "epci" else "epci_siren")
        return dict(zip(keys, disk_cache.decode_texts(arrays, f"{what}_nom"), strict=True))

    return ReferenceNames(
        communes=pairs("commune"), departements=pairs("departement"), epcis=pairs("epci")
    )


@cache
def reference_names() -> ReferenceNames:
    """Names of the communes (COG 2026, COM included), départements and EPCI, by code.

    The same dicts as ``dict(zip(load_communes()["code_insee"], load_communes()["nom"]))``,
    ``dict(zip(load_departements()["code"], load_departements()["nom"]))`` and
    ``dict(zip(load_epcis()["epci_siren"], load_epcis()["nom"]))``, without pandas when the
    disk cache is warm (for labels in explanations). Shared: treat as read-only.
    """
    return disk_cache.cached_arrays("names", None, DATA_DIR, _build_names, _decode_names)


def load_all() -> dict[str, pd.DataFrame]:
    """Every national layer (cached per process), by name; used by benchmarks and warm-up."""
    return {
        "communes": load_communes(),
        "commune_contours": load_commune_contours(),
        "departement_contours": load_departement_contours(),
        "region_contours": load_region_contours(),
        "code_history": load_code_history(),
        "departements": load_departements(),
        "regions": load_regions(),
        "epcis": load_epcis(),
        "fragilite": load_fragilite(),
        "comparateur": load_comparateur(),
        "zrr": load_zrr(),
        "france_services": load_france_services(),
        "structures_2021": load_structures_2021(),
    }
