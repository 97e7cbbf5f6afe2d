"""Checks of tables at the boundary: required columns, GeoDataFrame type and CRS.

Used by the loaders of :mod:`geodata.layers` and by the pure functions of :mod:`geodata.need`
and :mod:`geodata.coverage`; pandas, geopandas and pyproj are imported by the checks that use
them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from geodata.errors import CRSMismatch, MissingColumns

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd


def check_columns(df: pd.DataFrame, required: Iterable[str], name: str = "df") -> pd.DataFrame:
    """Raise :class:`~geodata.errors.MissingColumns` unless ``df`` has every required column."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"'{name}' should be a DataFrame, got {type(df)}")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise MissingColumns(name, missing, df.columns)
    return df


def check_geodataframe(
    gdf: Any,
    name: str = "gdf",
    *,
    crs: str | int | None = None,
    required: Iterable[str] = (),
) -> gpd.GeoDataFrame:
    """Check a GeoDataFrame up front, geopandas-style.

    Parameters
    ----------
    gdf
        The object to check.
    name
        Argument name used in messages.
    crs
        Expected CRS (anything :class:`pyproj.CRS` accepts); ``None`` skips the check.
    required
        Required (non-geometry) columns.

    Raises
    ------
    TypeError
        ``'gdf' should be a GeoDataFrame, got <type>``.
    CRSMismatch
        No CRS, or a CRS other than the expected one (both named).
    MissingColumns
    """
    import geopandas as gpd
    from pyproj import CRS

    if not isinstance(gdf, gpd.GeoDataFrame):
        raise TypeError(f"'{name}' should be a GeoDataFrame, got {type(gdf)}")
    if crs is not None:
        expected = CRS.from_user_input(crs)
        if gdf.crs is None:
            raise CRSMismatch(f"'{name}' has no CRS; expected {expected.to_string()}")
        if not CRS.from_user_input(gdf.crs).equals(expected):
            raise CRSMismatch(
                f"CRS mismatch: '{name}' is {CRS.from_user_input(gdf.crs).to_string()}, "
                f"expected {expected.to_string()}"
            )
    check_columns(gdf, required, name)
    return gdf
