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

Colour scales
-------------
Indicator maps (:func:`map_departements`, :func:`map_communes`, hence the diagnostic) use
quantile classes (:mod:`geodata.map_scales`): a few outliers (a commune of 300 inhabitants
hosting one advisor is at 280 per 10,000) no longer wash the rest of the map out, and the legend
lists each class with its bounds, written the French way, and its number of territories. Maps of
given values keep a continuous scale unless asked (``classes=True``). A layer that takes one
value everywhere in the area is not drawn as a uniform blank: the file shows the area's outline
and says which value it takes (:func:`constant_text`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from geodata import layers
from geodata.access import AccessParams
from geodata.checks import check_geodataframe
from geodata.diagnostic import diagnostic_table
from geodata.errors import GeodataError
from geodata.map_scales import (
    Classes,
    class_colours,
    constant_value,
    fr_number,
    is_flat,
    scale_of,
)

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


def _draw(
    ax: Axes,
    gdf: gpd.GeoDataFrame,
    values: pd.Series,
    cmap: str,
    norm: Normalize | None,
    classes: Classes | None = None,
) -> None:
    data = gdf.assign(_v=gdf["_key"].map(values).astype(float))
    missing = data["_v"].isna()
    if (~missing).any() and classes is not None:
        colours = class_colours(cmap, classes)
        shown = data[~missing]
        shown.plot(
            ax=ax,
            color=[colours[i] for i in classes.index(shown["_v"].to_numpy())],
            linewidth=0.1,
            edgecolor="white",
        )
    elif (~missing).any():
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
    fig: Figure,
    ax: Axes,
    norm: Normalize | None,
    cmap: str,
    label: str,
    title: str,
    path: str | Path,
    classes: Classes | None = None,
    unit: str = "territoires",
) -> Path:
    """Legend (classes with their bounds) or horizontal colour bar, title, PNG file."""
    if classes is not None:
        handles = [
            Patch(facecolor=c, edgecolor="grey", linewidth=0.3)
            for c in class_colours(cmap, classes)
        ]
        fig.legend(
            handles,
            classes.labels(),
            loc="lower center",
            ncol=len(handles),
            fontsize=8,
            handlelength=1.2,
            columnspacing=1.0,
            title=f"{label} — classes par quantiles (nombre de {unit})",
            title_fontsize=8,
            frameon=False,
        )
    else:
        assert norm is not None
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


#: "in every commune" / "in every département", by the unit of a map.
_EVERY = {"communes": "toutes les communes", "départements": "tous les départements"}


def constant_text(value: float | None, label: str, unit: str) -> str:
    """What a map says instead of a uniform colour (also printed by the command line)."""
    if value is None:
        return f"{label} : aucune valeur dans ces {unit}, pas de carte"
    return (
        f"{label} : {fr_number(value, 1)} dans {_EVERY.get(unit, unit)}, pas d'échelle de couleurs"
    )


def _constant_note(ax: Axes, value: float | None, label: str, unit: str) -> None:
    """Instead of a uniform map: the area in grey and the one value it takes, said in words."""
    head, _, tail = constant_text(value, label, unit).partition(" : ")
    ax.text(
        0.5,
        0.5,
        f"{head} :\n{tail}",
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=10,
        wrap=True,
        bbox={"boxstyle": "round", "facecolor": "white", "edgecolor": "grey"},
    )


def _outline(ax: Axes, gdf: gpd.GeoDataFrame) -> None:
    gdf.plot(ax=ax, color="#eeeeee", edgecolor="#9e9e9e", linewidth=0.2)
    ax.set_axis_off()


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
    return map_departement_values(
        path, values, label, cmap, classes=True, title=f"{label} — par département"
    )


def map_communes(
    path: str | Path,
    departement: str,
    indicator: str = "need",
    existing: Mapping[str, int] | None = None,
    params: AccessParams | None = None,
) -> Path:
    """Choropleth of the communes of one département, in its local projection, as PNG.

    Communes without polygon (the 7 re-created after 2018) are not drawn; communes without
    value are hatched grey. Quantile classes; a constant layer is said, not drawn.

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
    values = indicator_values(indicator, departement, existing, params)
    label, cmap, _ = INDICATORS[indicator]
    nom = layers.programme_departements().get(departement, departement)
    return map_commune_values(
        path,
        departement,
        values,
        label,
        cmap,
        classes=True,
        title=f"{label} — communes, {nom} ({departement})",
    )


def indicator_values(
    indicator: str,
    departement: str | None = None,
    existing: Mapping[str, int] | None = None,
    params: AccessParams | None = None,
) -> pd.Series:
    """The values an indicator map draws: per département, or per commune of ``departement``."""
    if departement is None:
        return _values(diagnostic_table(None, existing, params=params), indicator)
    table = diagnostic_table(departement, existing, level="commune", params=params)
    return _values(table, indicator)


def constant_indicators(
    departement: str | None = None,
    existing: Mapping[str, int] | None = None,
    params: AccessParams | None = None,
    indicators: tuple[str, ...] = tuple(INDICATORS),
) -> dict[str, str]:
    """``{indicator: sentence}`` for the indicators whose map is a constant layer (not drawn)."""
    unit = "départements" if departement is None else "communes"
    out = {}
    for ind in indicators:
        values = indicator_values(ind, departement, existing, params)
        value = constant_value(values)
        if value is not None or not np.isfinite(values.to_numpy(dtype=float)).any():
            out[ind] = constant_text(value, INDICATORS[ind][0], unit)
    return out


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
# Additive API for scenario maps (service.analysis.scenarios): the caller computes the values
# (coverage
# after a round, differences between scenarios...) and these functions only draw them.


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
    classes: bool = False,
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
    classes
        Quantile classes listed in a legend (:func:`~geodata.map_scales.class_breaks`)
        instead of a continuous bar.
    title
        Figure title (default: ``label``).

    A layer that is constant (or empty) over the départements is not drawn: the file shows
    their outline and the value in words (:func:`constant_text`).

    Returns
    -------
    pathlib.Path
    """
    series = _as_series(values)
    contours = check_geodataframe(
        layers.shared_departement_contours(layers.DATA_DIR / "departements_contours.parquet"),
        "departements_contours",
        crs=layers.SOURCE_CRS,
    ).assign(_key=lambda d: d["code"])
    shown = series[series.index.isin(contours["_key"])]
    flat, value = is_flat(shown)
    norm, scale = (None, None) if flat else scale_of(shown, diverging, zero_based, classes)
    fig = Figure(figsize=(9, 8))
    ax = fig.add_axes((0.22, 0.12 if scale else 0.08, 0.76, 0.82 if scale else 0.86))
    metro = contours[~contours["code"].isin(layers.DROM)]
    frames = [(ax, metro.to_crs(epsg=layers.METRO_EPSG))]
    for i, dep in enumerate(layers.DROM):
        inset = fig.add_axes((0.01, 0.78 - i * 0.17, 0.18, 0.15))
        inset.set_title(dep, fontsize=8)
        frames.append((inset, layers.to_local_crs(contours[contours["code"] == dep], dep)))
    title = title or f"{label} — par département"
    if flat:
        for frame_ax, frame in frames:
            _outline(frame_ax, frame)
        _constant_note(ax, value, label, "départements")
        fig.suptitle(title, fontsize=10)
        return _save(fig, path)
    for frame_ax, frame in frames:
        _draw(frame_ax, frame, series, cmap, norm, scale)
    return _finish(fig, ax, norm, cmap, label, title, path, scale, "départements")


def map_commune_values(
    path: str | Path,
    departement: str,
    values: Mapping[str, float] | pd.Series,
    label: str,
    cmap: str = "viridis",
    *,
    diverging: bool = False,
    zero_based: bool = False,
    classes: bool = False,
    title: str | None = None,
) -> Path:
    """Choropleth of given values per code INSEE over the communes of one département.

    Same conventions as :func:`map_departement_values` (a constant layer is said, not drawn);
    drawn in the département's local projection (Lambert-93 for the métropole).
    """
    series = _as_series(values)
    contours = layers.shared_commune_contours(
        layers.DATA_DIR / "communes_2026_contours_simplifies.parquet"
    )
    check_geodataframe(contours, "commune_contours", crs=layers.SOURCE_CRS)
    sel = contours[contours["departement"] == departement].assign(_key=lambda d: d["code_insee"])
    if sel.empty:
        raise GeodataError(f"no commune contour for département {departement!r}")
    shown = series[series.index.isin(sel["_key"])]
    flat, value = is_flat(shown)
    norm, scale = (None, None) if flat else scale_of(shown, diverging, zero_based, classes)
    fig = Figure(figsize=(8, 8))
    ax = fig.add_axes((0.02, 0.14, 0.96, 0.8) if scale else (0.02, 0.1, 0.96, 0.84))
    area = layers.to_local_crs(sel, departement)
    title = title or f"{label} — communes ({departement})"
    if flat:
        _outline(ax, area)
        _constant_note(ax, value, label, "communes")
        fig.suptitle(title, fontsize=10)
        return _save(fig, path)
    _draw(ax, area, series, cmap, norm, scale)
    return _finish(fig, ax, norm, cmap, label, title, path, scale, "communes")


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
