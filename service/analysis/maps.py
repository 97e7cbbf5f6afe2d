"""Maps of a scenario comparison: PNG choropleths and an interactive HTML map (folium).

:func:`scenario_maps` writes PNG choropleths (:mod:`geodata.maps`) of need, coverage before/after
and each variant's differences. :func:`scenario_map` writes one self-contained HTML file per
call (Leaflet and its plugins are loaded by the page from their usual CDN by folium; the data
are inline). Layers, switchable in the layer control:

- *Besoin*: fragile population as a share of the population (%);
- *Couverture avant*: existing advisors per 10,000 fragile inhabitants;
- *Couverture après (base)* and *après (variante)*: with the round's grants at the hosts' seats;
- *Écart variante − base*: posts of the round, variant minus base (diverging scale).

Hovering a territory shows every number. Polygons are the bundled simplified IGN shapes,
simplified again for the browser (about 500 m for départements, 100 m for communes). The values
come from :func:`service.analysis.tables.departement_table` /
:func:`service.analysis.tables.commune_table`:
nothing is recomputed here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import branca.colormap as cm
import folium
import pandas as pd
from branca.element import Figure

import geodata
from service.analysis.scenarios import Comparison
from service.analysis.tables import commune_table, departement_table

#: Simplification tolerances (degrees) of the shapes sent to the browser.
TOLERANCE_DEPARTEMENTS = 0.005
TOLERANCE_COMMUNES = 0.001

_UNIT = "conseillers / 10 000 hab. fragiles"
_UNIT_PNG = "conseillers pour 10 000 hab. fragiles"


def _clean(value: Any) -> Any:
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float):
        return round(value, 3) if math.isfinite(value) else None
    return value


def _features(gdf: Any, columns: list[str], tolerance: float) -> dict[str, Any]:
    shapes = gdf.geometry.simplify(tolerance, preserve_topology=True)
    features = []
    for (_, row), shape in zip(gdf.iterrows(), shapes, strict=True):
        if shape is None or shape.is_empty:
            continue
        features.append(
            {
                "type": "Feature",
                "properties": {c: _clean(row[c]) for c in columns},
                "geometry": json.loads(json.dumps(shape.__geo_interface__)),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _colormap(values: pd.Series, colors: list[str], caption: str, diverging: bool) -> Any:
    finite = values[values.notna() & values.map(lambda v: math.isfinite(float(v)))]
    if diverging:
        m = float(finite.abs().max()) if len(finite) else 1.0
        lo, hi = -(m or 1.0), m or 1.0
    else:
        lo = float(finite.min()) if len(finite) else 0.0
        hi = float(finite.max()) if len(finite) else 1.0
        hi = hi if hi > lo else lo + 1
    cmap = cm.LinearColormap(colors, vmin=lo, vmax=hi)
    cmap.caption = caption
    return cmap


def _layer(
    fmap: folium.Map,
    data: dict[str, Any],
    column: str,
    name: str,
    colormap: Any,
    fields: list[str],
    aliases: list[str],
    show: bool,
) -> None:
    def style(feature: dict[str, Any]) -> dict[str, Any]:
        v = feature["properties"].get(column)
        return {
            "fillColor": "#d9d9d9" if v is None else colormap(v),
            "color": "white",
            "weight": 0.4,
            "fillOpacity": 0.8,
        }

    group = folium.FeatureGroup(name=name, show=show)
    folium.GeoJson(
        data,
        style_function=style,
        tooltip=folium.GeoJsonTooltip(fields=fields, aliases=aliases, localize=True),
    ).add_to(group)
    group.add_to(fmap)
    colormap.add_to(fmap)


# --------------------------------------------------------------------------------------------
# Interactive HTML map
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Frame:
    """The territories of a map with their values, and how to show them."""

    gdf: Any
    key_fields: list[str]
    key_aliases: list[str]
    tolerance: float
    title: str
    location: list[float]
    zoom: int
    #: ``[[south, west], [north, east]]`` to fit the view to (communes), or ``None``.
    fit: list[list[float]] | None = None


def _departement_frame(comparison: Comparison, variant: str | None) -> _Frame:
    table = departement_table(comparison, variant)
    pop = {d.code: d.population for d in comparison.prepared.geo.departements}
    table["population"] = pd.Series(pop)
    table["pct_fragile"] = table["besoin"] / table["population"] * 100
    shapes = geodata.load_departement_contours().set_index("code")
    gdf = shapes.join(table.drop(columns=["nom"]), how="inner").reset_index()
    return _Frame(
        gdf,
        ["code", "nom", "besoin", "existants", "partEquitable"],
        ["Département", "Nom", "Population fragile", "Existants", "Part équitable"],
        TOLERANCE_DEPARTEMENTS,
        "par département",
        [46.6, 2.4],
        6,
    )


def _commune_frame(comparison: Comparison, variant: str | None, departement: str) -> _Frame:
    table = commune_table(comparison, variant)
    table = table[table["departement"] == departement].rename(
        columns={"fragile_population": "besoin", "advisors": "existants"}
    )
    table["pct_fragile"] = (
        table["besoin"] / table["population"].where(table["population"] > 0) * 100
    )
    shapes = geodata.load_commune_contours()
    shapes = shapes[shapes["departement"] == departement].set_index("code_insee")
    gdf = shapes[["geometry"]].join(table, how="inner").reset_index(names="code")
    if gdf.empty:
        raise ValueError(f"no commune of département {departement!r} to map")
    minx, miny, maxx, maxy = gdf.total_bounds
    return _Frame(
        gdf,
        ["code", "nom", "besoin", "existants"],
        ["Commune", "Nom", "Population fragile", "Existants"],
        TOLERANCE_COMMUNES,
        f"communes du département {departement}",
        [(miny + maxy) / 2, (minx + maxx) / 2],
        9,
        [[miny, minx], [maxy, maxx]],
    )


def _add_layers(fmap: folium.Map, frame: _Frame, variant: str | None) -> None:
    """The five switchable layers (need, coverage before/after base and variant, difference)."""
    gdf = frame.gdf
    columns = [
        *frame.key_fields,
        "pct_fragile",
        "base",
        "variante",
        "ecart",
        "couverture_avant",
        "couverture_base",
        "couverture_variante",
    ]
    data = _features(gdf, columns, frame.tolerance)
    aliases = [
        *frame.key_aliases,
        "Population fragile (%)",
        "Postes du tour (base)",
        f"Postes du tour ({variant or 'base'})",
        "Écart variante − base",
        f"Couverture avant ({_UNIT})",
        "Couverture après (base)",
        "Couverture après (variante)",
    ]
    coverage = pd.concat(
        [gdf["couverture_avant"], gdf["couverture_base"], gdf["couverture_variante"]]
    ).astype(float)
    blues = ["#f7fbff", "#6baed6", "#08306b"]
    layers = [
        ("pct_fragile", "Besoin : population fragile (%)", ["#fff5eb", "#fd8d3c", "#7f2704"], None),
        ("couverture_avant", f"Couverture avant ({_UNIT})", blues, coverage),
        ("couverture_base", "Couverture après le tour (base)", blues, coverage),
        ("couverture_variante", f"Couverture après le tour ({variant})", blues, coverage),
        ("ecart", f"Écart de postes : {variant} − base", ["#b2182b", "#f7f7f7", "#2166ac"], None),
    ]
    for i, (column, name, colors, scale) in enumerate(layers):
        if column in ("couverture_variante", "ecart") and variant is None:
            continue
        values = (scale if scale is not None else gdf[column]).astype(float)
        colormap = _colormap(values, colors, name, diverging=column == "ecart")
        _layer(fmap, data, column, name, colormap, columns, aliases, show=i == 0)


def _add_heading(fmap: folium.Map, title: str, variant: str | None) -> None:
    heading = (
        f"<h4 style='position:fixed;top:8px;left:60px;z-index:9999;background:white;"
        f"padding:4px 8px;margin:0'>Besoin et couverture, {title} — scénario « {variant} » "
        "(distances à vol d'oiseau ; scores et avis préfet synthétiques en démonstration)</h4>"
    )
    root = fmap.get_root()
    if not isinstance(root, Figure):  # pragma: no cover - a folium map is drawn in a Figure
        raise TypeError(f"a folium map's root is a Figure, got {type(root).__name__}")
    root.html.add_child(folium.Element(heading))


def scenario_map(
    comparison: Comparison,
    path: str | Path,
    *,
    variant: str | None = None,
    departement: str | None = None,
    tiles: str | None = None,
) -> Path:
    """Write the interactive map of ``comparison`` (national by département, or the communes
    of ``departement``) for the baseline and ``variant`` (default: the first variant).

    ``tiles`` is a folium base map (e.g. ``"OpenStreetMap"``); none by default: the page then
    needs no tile server, only the polygons.

    Returns
    -------
    pathlib.Path
        The written HTML file.
    """
    if variant is None and comparison.variants:
        variant = comparison.variants[0].nom
    if departement is None:
        frame = _departement_frame(comparison, variant)
    else:
        frame = _commune_frame(comparison, variant, departement)
    fmap = folium.Map(location=frame.location, zoom_start=frame.zoom, tiles=tiles)
    if frame.fit is not None:
        fmap.fit_bounds(frame.fit)
    _add_layers(fmap, frame, variant)
    folium.LayerControl(collapsed=False).add_to(fmap)
    _add_heading(fmap, frame.title, variant)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fmap.save(str(out))
    return out


# --------------------------------------------------------------------------------------------
# PNG choropleths
# --------------------------------------------------------------------------------------------
def scenario_maps(
    comparison: Comparison,
    out_dir: str | Path,
    *,
    variants: Sequence[str] | None = None,
    departement: str | None = None,
) -> list[Path]:
    """PNG choropleths of need, coverage before/after and scenario differences.

    Written under ``out_dir``: ``besoin_departements.png``, ``couverture_avant_departements.png``,
    ``couverture_base_departements.png``, and per variant ``ecart_<nom>_departements.png``
    (posts of the variant minus the base); with ``departement``, the same per commune of that
    département (``*_communes_<dep>.png``).
    """
    out = Path(out_dir)
    names = list(variants) if variants is not None else [r.nom for r in comparison.variants]
    paths = _departement_pngs(comparison, out, names)
    if departement is not None:
        paths += _commune_pngs(comparison, out, names, departement)
    return paths


def _departement_pngs(comparison: Comparison, out: Path, names: Sequence[str]) -> list[Path]:
    from geodata import maps as png

    paths = [
        png.map_departements(out / "besoin_departements.png", "need", comparison.prepared.existing)
    ]
    dep = departement_table(comparison)
    for col, label in (
        ("couverture_avant", "Avant le tour"),
        ("couverture_base", "Après le tour (base)"),
    ):
        paths.append(
            png.map_departement_values(
                out / f"{col}_departements.png", dep[col], f"{label} : {_UNIT_PNG}", "Blues"
            )
        )
    for nom in names:
        paths.append(
            png.map_departement_values(
                out / f"ecart_{_slug(nom)}_departements.png",
                departement_table(comparison, nom)["ecart"],
                f"Postes : variante « {nom} » − base",
                "RdBu",
                diverging=True,
            )
        )
    return paths


def _commune_pngs(
    comparison: Comparison, out: Path, names: Sequence[str], departement: str
) -> list[Path]:
    from geodata import maps as png

    com = commune_table(comparison)
    com = com[com["departement"] == departement]
    paths = [
        png.map_commune_values(
            out / f"besoin_communes_{departement}.png",
            departement,
            com["fragile_population"] / com["population"].where(com["population"] > 0) * 100,
            "Population fragile (% de la population)",
            "OrRd",
        )
    ]
    for col, label in (("couverture_avant", "Avant le tour"), ("couverture_base", "Après")):
        paths.append(
            png.map_commune_values(
                out / f"{col}_communes_{departement}.png",
                departement,
                com[col],
                f"{label} : {_UNIT_PNG}",
                "Blues",
            )
        )
    for nom in names:
        table = commune_table(comparison, nom)
        table = table[table["departement"] == departement]
        paths.append(
            png.map_commune_values(
                out / f"ecart_{_slug(nom)}_communes_{departement}.png",
                departement,
                table["ecart"],
                f"Postes : variante « {nom} » − base",
                "RdBu",
                diverging=True,
            )
        )
    return paths


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
