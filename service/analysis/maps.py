"""Interactive HTML map (folium) of need, coverage before/after and a scenario's differences.

One self-contained HTML file per call (Leaflet and its plugins are loaded by the page from their
usual CDN by folium; the data are inline). Layers, switchable in the layer control:

- *Besoin*: fragile population as a share of the population (%);
- *Couverture avant*: existing advisors per 10,000 fragile inhabitants;
- *Couverture après (base)* and *après (variante)*: with the round's grants at the hosts' seats;
- *Écart variante − base*: posts of the round, variant minus base (diverging scale).

Hovering a territory shows every number. Polygons are the bundled simplified IGN shapes,
simplified again for the browser (about 500 m for départements, 100 m for communes). The values
come from :func:`service.analysis.scenarios.departement_table` /
:func:`service.analysis.scenarios.commune_table`:
nothing is recomputed here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import branca.colormap as cm
import folium
import pandas as pd

import geodata
from service.analysis.scenarios import Comparison, commune_table, departement_table

#: Simplification tolerances (degrees) of the shapes sent to the browser.
TOLERANCE_DEPARTEMENTS = 0.005
TOLERANCE_COMMUNES = 0.001

_UNIT = "conseillers / 10 000 hab. fragiles"


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
        table = departement_table(comparison, variant)
        pop = {d.code: d.population for d in comparison.prepared.geo.departements}
        table["population"] = pd.Series(pop)
        table["pct_fragile"] = table["besoin"] / table["population"] * 100
        shapes = geodata.load_departement_contours().set_index("code")
        gdf = shapes.join(table.drop(columns=["nom"]), how="inner").reset_index()
        key_fields = ["code", "nom", "besoin", "existants", "partEquitable"]
        key_aliases = ["Département", "Nom", "Population fragile", "Existants", "Part équitable"]
        tolerance = TOLERANCE_DEPARTEMENTS
        title = "par département"
        location, zoom = [46.6, 2.4], 6
    else:
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
        key_fields = ["code", "nom", "besoin", "existants"]
        key_aliases = ["Commune", "Nom", "Population fragile", "Existants"]
        tolerance = TOLERANCE_COMMUNES
        title = f"communes du département {departement}"
        minx, miny, maxx, maxy = gdf.total_bounds
        location, zoom = [(miny + maxy) / 2, (minx + maxx) / 2], 9
    columns = [
        *key_fields,
        "pct_fragile",
        "base",
        "variante",
        "ecart",
        "couverture_avant",
        "couverture_base",
        "couverture_variante",
    ]
    data = _features(gdf, columns, tolerance)
    fields = columns
    aliases = [
        *key_aliases,
        "Population fragile (%)",
        "Postes du tour (base)",
        f"Postes du tour ({variant or 'base'})",
        "Écart variante − base",
        f"Couverture avant ({_UNIT})",
        "Couverture après (base)",
        "Couverture après (variante)",
    ]
    fmap = folium.Map(location=location, zoom_start=zoom, tiles=tiles)
    if departement is not None:
        minx, miny, maxx, maxy = gdf.total_bounds
        fmap.fit_bounds([[miny, minx], [maxy, maxx]])
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
        _layer(fmap, data, column, name, colormap, fields, aliases, show=i == 0)
    folium.LayerControl(collapsed=False).add_to(fmap)
    heading = (
        f"<h4 style='position:fixed;top:8px;left:60px;z-index:9999;background:white;"
        f"padding:4px 8px;margin:0'>Besoin et couverture, {title} — scénario « {variant} » "
        "(distances à vol d'oiseau ; scores et avis préfet synthétiques en démonstration)</h4>"
    )
    fmap.get_root().html.add_child(folium.Element(heading))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fmap.save(str(out))
    return out
