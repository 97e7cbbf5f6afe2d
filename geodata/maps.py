"""Choropleth maps (PNG) of need and coverage, per département or per commune of a département.

Rendering uses matplotlib's Agg canvas on a fresh :class:`matplotlib.figure.Figure` (no pyplot
global state, no display): safe in a web worker or a CLI. Polygons are the bundled simplified
2018 IGN shapes (≈200 m), reprojected explicitly to Lambert-93 for the métropole and to the local
projection of each DROM (drawn as insets on the national map). Labels are in French: the maps
are shown to the committees.

Indicators
----------
- ``need``: fragile population as a share of the population (%);
- ``coverage``: existing advisors hosted per 10,000 fragile inhabitants;
- ``accessibility``: E2SFCA advisors per 10,000 fragile inhabitants within reach (straight-line
  proxy, no road network);
- ``without_advisor``: share of the fragile population with no advisor within reach (%).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from geodata import layers
from geodata.access import AccessParams
from geodata.diagnostic import diagnostic_table
from geodata.errors import GeodataError

INDICATORS: dict[str, tuple[str, str, str]] = {
    "need": ("Population fragile (% de la population)", "OrRd", "pct_fragile"),
    "coverage": ("Conseillers hébergés pour 10 000 hab. fragiles", "Blues", "advisors_per_10k"),
    "accessibility": (
        "Conseillers accessibles pour 10 000 hab. fragiles (E2SFCA, distance à vol d'oiseau)",
        "Greens",
        "accessibility_10k",
    ),
    "without_advisor": (
        "Population fragile sans conseiller à portée (%)",
        "Purples",
        "pct_without",
    ),
}


def _values(table: pd.DataFrame, indicator: str) -> pd.Series:
    if indicator not in INDICATORS:
        raise GeodataError(f"indicator must be one of {sorted(INDICATORS)}, got {indicator!r}")
    pop = table["population"].where(table["population"] > 0)
    column = {
        "pct_fragile": table["fragile_population"] / pop * 100,
        "advisors_per_10k": table["advisors_per_10k_fragile"],
        "accessibility_10k": table["accessibility_10k"],
        "pct_without": table["share_without_advisor"] * 100,
    }[INDICATORS[indicator][2]]
    return column.astype(float)


def _draw(ax, gdf: gpd.GeoDataFrame, values: pd.Series, cmap: str, norm: Normalize) -> None:
    data = gdf.assign(_v=gdf["_key"].map(values).astype(float))
    missing = data["_v"].isna()
    if (~missing).any():
        data[~missing].plot(
            ax=ax, column="_v", cmap=cmap, norm=norm, linewidth=0.1, edgecolor="white"
        )
    if missing.any():
        data[missing].plot(ax=ax, color="lightgrey", hatch="//", linewidth=0.1, edgecolor="white")
    ax.set_axis_off()


def _save(fig: Figure, path: str | Path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(out, dpi=120)
    return out


def _finish(
    fig: Figure, ax, norm: Normalize, cmap: str, label: str, title: str, path: str | Path
) -> Path:
    """Horizontal colour bar, title, PNG file."""
    fig.colorbar(
        ScalarMappable(norm=norm, cmap=cmap),
        ax=ax,
        orientation="horizontal",
        fraction=0.04,
        pad=0.01,
        label=label,
    )
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def map_departements(
    path: str | Path,
    indicator: str = "need",
    existing: Mapping[str, int] | None = None,
    params: AccessParams | None = None,
) -> Path:
    """National choropleth per département (métropole + DROM insets), written as PNG.

    Parameters
    ----------
    path
        Output PNG file (parent folders are created).
    indicator
        ``need``, ``coverage``, ``accessibility`` or ``without_advisor``.
    existing, params
        As for :func:`geodata.diagnostic.diagnostic_table`.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    values = _values(diagnostic_table(None, existing, params=params), indicator)
    label, cmap, _ = INDICATORS[indicator]
    return map_departement_values(path, values, label, cmap, title=f"{label} — par département")


def map_communes(
    path: str | Path,
    departement: str,
    indicator: str = "need",
    existing: Mapping[str, int] | None = None,
    params: AccessParams | None = None,
) -> Path:
    """Choropleth of the communes of one département, in its local projection, as PNG.

    Communes without polygon (the 7 re-created after 2018) are not drawn; communes without
    value are hatched grey.

    Parameters
    ----------
    path
        Output PNG file.
    departement
        Département code (``"01"``, ``"2A"``, ``"974"``...).
    indicator
        ``need``, ``coverage``, ``accessibility`` or ``without_advisor``.
    existing, params
        As for :func:`geodata.diagnostic.diagnostic_table`.

    Returns
    -------
    pathlib.Path
    """
    table = diagnostic_table(departement, existing, level="commune", params=params)
    values = _values(table, indicator)
    label, cmap, _ = INDICATORS[indicator]
    deps = layers._departements(layers.DATA_DIR / "departements_2026.csv")
    nom = dict(zip(deps["code"], deps["nom"], strict=True)).get(departement, departement)
    return map_commune_values(
        path,
        departement,
        values,
        label,
        cmap,
        title=f"{label} — communes, {nom} ({departement})",
    )


def diagnostic_maps(
    out_dir: str | Path,
    departement: str | None = None,
    existing: Mapping[str, int] | None = None,
    params: AccessParams | None = None,
    indicators: tuple[str, ...] = tuple(INDICATORS),
) -> list[Path]:
    """Write one PNG per indicator: national per département, or per commune of ``departement``.

    Files are named ``carte_<indicator>_national.png`` or ``carte_<indicator>_<dep>.png``.

    Returns
    -------
    list of pathlib.Path
        The written files, in the order of ``indicators``.
    """
    out = Path(out_dir)
    paths = []
    for ind in indicators:
        if departement is None:
            paths.append(map_departements(out / f"carte_{ind}_national.png", ind, existing, params))
        else:
            paths.append(
                map_communes(
                    out / f"carte_{ind}_{departement}.png", departement, ind, existing, params
                )
            )
    return paths


# ------------------------------------------------------------------ maps of given values
# Additive API for scenario maps (service.scenarios): the caller computes the values (coverage
# after a round, differences between scenarios...) and these functions only draw them.


def _norm_for(values: pd.Series, diverging: bool, zero_based: bool = False) -> Normalize:
    """Colour scale: data range, centred on 0 (``diverging``) or starting at 0 (``zero_based``,
    for counts such as posts granted)."""
    finite = values[np.isfinite(values)]
    if diverging:
        m = float(np.abs(finite).max()) if len(finite) else 0.0
        m = m if m > 0 else 1.0
        return Normalize(-m, m)
    lo, hi = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    if zero_based:
        lo = min(lo, 0.0)
    return Normalize(lo, hi if hi > lo else lo + 1)


def _as_series(values: Mapping[str, float] | pd.Series) -> pd.Series:
    series = pd.Series(values, dtype=float) if not isinstance(values, pd.Series) else values
    series.index = series.index.astype(str)
    return series.astype(float)


def map_departement_values(
    path: str | Path,
    values: Mapping[str, float] | pd.Series,
    label: str,
    cmap: str = "viridis",
    *,
    diverging: bool = False,
    zero_based: bool = False,
    title: str | None = None,
) -> Path:
    """National choropleth of given values per département code (métropole + DROM insets).

    Parameters
    ----------
    path
        Output PNG file (parent folders are created).
    values
        ``{code département: value}``; départements without a value are hatched grey.
    label
        Colour-bar label (French: the maps are shown to committees).
    cmap
        Matplotlib colour map (use a diverging one, e.g. ``RdBu``, with ``diverging=True``).
    diverging
        Centre the colour scale on 0 (differences between scenarios).
    zero_based
        Start the colour scale at 0 (counts, e.g. posts granted).
    title
        Figure title (default: ``label``).

    Returns
    -------
    pathlib.Path
    """
    series = _as_series(values)
    contours = layers.check_geodataframe(
        layers._departement_contours(layers.DATA_DIR / "departements_contours.parquet"),
        "departements_contours",
        crs=layers.SOURCE_CRS,
    ).assign(_key=lambda d: d["code"])
    norm = _norm_for(series, diverging, zero_based)
    fig = Figure(figsize=(9, 8))
    ax = fig.add_axes((0.22, 0.08, 0.76, 0.86))
    metro = contours[~contours["code"].isin(layers.DROM)]
    _draw(ax, metro.to_crs(epsg=layers.METRO_EPSG), series, cmap, norm)
    for i, dep in enumerate(layers.DROM):
        inset = fig.add_axes((0.01, 0.78 - i * 0.17, 0.18, 0.15))
        _draw(
            inset, layers.to_local_crs(contours[contours["code"] == dep], dep), series, cmap, norm
        )
        inset.set_title(dep, fontsize=8)
    return _finish(fig, ax, norm, cmap, label, title or f"{label} — par département", path)


def map_commune_values(
    path: str | Path,
    departement: str,
    values: Mapping[str, float] | pd.Series,
    label: str,
    cmap: str = "viridis",
    *,
    diverging: bool = False,
    zero_based: bool = False,
    title: str | None = None,
) -> Path:
    """Choropleth of given values per code INSEE over the communes of one département.

    Same conventions as :func:`map_departement_values`; drawn in the département's local
    projection (Lambert-93 for the métropole).
    """
    series = _as_series(values)
    contours = layers._commune_contours(
        layers.DATA_DIR / "communes_2026_contours_simplifies.parquet"
    )
    layers.check_geodataframe(contours, "commune_contours", crs=layers.SOURCE_CRS)
    sel = contours[contours["departement"] == departement].assign(_key=lambda d: d["code_insee"])
    if sel.empty:
        raise GeodataError(f"no commune contour for département {departement!r}")
    norm = _norm_for(series[series.index.isin(sel["_key"])], diverging, zero_based)
    fig = Figure(figsize=(8, 8))
    ax = fig.add_axes((0.02, 0.1, 0.96, 0.84))
    _draw(ax, layers.to_local_crs(sel, departement), series, cmap, norm)
    return _finish(fig, ax, norm, cmap, label, title or f"{label} — communes ({departement})", path)


def map_values(
    path: str | Path,
    values: Mapping[str, float],
    label: str,
    *,
    departement: str | None = None,
    cmap: str = "YlGn",
    title: str | None = None,
) -> Path:
    """Choropleth of given values: per département (national map with DROM insets), or per
    commune of ``departement``; keys without a value are hatched grey. Written as PNG.

    Used for maps of a round's proposal (e.g. posts granted per département or per commune),
    whose values come from the round result rather than from :func:`diagnostic_table`.

    Parameters
    ----------
    path
        Output PNG file (parent folders are created).
    values
        Value per département code (national map) or per code INSEE (commune map).
    label
        Colour-bar label (French: the maps are shown to the committees).
    departement
        ``None`` for the national map, else the département whose communes are drawn.
    cmap, title
        Matplotlib colour map; figure title (default: ``label``).

    Returns
    -------
    pathlib.Path
    """
    if departement is None:
        return map_departement_values(
            path, values, label, cmap, zero_based=True, title=title or label
        )
    return map_commune_values(
        path, departement, values, label, cmap, zero_based=True, title=title or label
    )
