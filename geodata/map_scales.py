"""Colour scales of the maps: quantile classes, continuous norms, French numbers in legends.

Indicator maps use quantile classes (:func:`class_breaks`); maps of given values keep a
continuous scale (:func:`norm_for`) unless asked. A layer that takes one value everywhere is not
given a scale at all (:func:`is_flat`, :func:`constant_value`): :mod:`geodata.maps` says the
value instead. Pure functions of the values, apart from the colours read from matplotlib.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import Normalize

#: Number of quantile classes of the indicator maps.
CLASSES = 5


def fr_number(value: float, decimals: int = 0) -> str:
    """``1234.5`` → ``1 234,5`` (narrow no-break space for thousands, decimal comma)."""
    text = f"{value:,.{decimals}f}".replace(",", "\u202f").replace(".", ",")
    return "0" if text.lstrip("-").strip("0,\u202f") == "" else text


@dataclass(frozen=True)
class Classes:
    """Classes of a colour scale: ``[lowest, breaks[0]]``, ``(breaks[0], breaks[1]]``, ...

    ``breaks`` are strictly increasing data values, the last one the maximum; ``counts`` the
    number of values in each class (none is empty).
    """

    lowest: float
    breaks: tuple[float, ...]
    counts: tuple[int, ...]

    def index(self, values: np.ndarray) -> np.ndarray:
        """Class of each value (values outside ``[lowest, max]`` go to the nearest class)."""
        idx = np.searchsorted(np.asarray(self.breaks), values, side="left")
        return np.minimum(idx, len(self.breaks) - 1)

    def labels(self) -> list[str]:
        """Legend labels: French numbers, the narrowest class shown with two significant
        digits of its width (at most 3 decimals), and each class's count."""
        bounds = [self.lowest, *self.breaks]
        gaps = np.diff(np.unique(bounds))
        decimals = int(min(3, max(0, np.ceil(1 - np.log10(gaps.min()))))) if len(gaps) else 0
        shown = [fr_number(b, decimals) for b in bounds]
        first = shown[0] if bounds[0] == bounds[1] else f"{shown[0]} – {shown[1]}"
        ranges = [first] + [f"{shown[i]} – {shown[i + 1]}" for i in range(1, len(self.breaks))]
        return [f"{r}  ({n})" for r, n in zip(ranges, self.counts, strict=True)]


def constant_value(values: pd.Series | np.ndarray) -> float | None:
    """The one value a layer takes where it has one, or ``None`` when it varies (or is empty)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if len(finite) and finite.min() == finite.max():
        return float(finite[0])
    return None


def class_breaks(values: pd.Series | np.ndarray, k: int = CLASSES) -> Classes | None:
    """Quantile classes of the finite ``values`` (``None`` when fewer than two distinct values).

    Breaks are data values (inverted CDF), so every class holds at least one value; ties merge
    classes, down to two (the minimum, and the rest) when the values differ. When at least
    ``1/k`` of the values sit at the minimum (no advisor: 0), that value is a class of its own
    and the other ``k − 1`` classes are quantiles of the values above it: otherwise a mass of
    zeros would swallow most classes.
    """
    v = np.sort(np.asarray(values, dtype=float))
    v = v[np.isfinite(v)]
    if len(v) == 0 or v[0] == v[-1]:
        return None
    floor = v[0]
    above = v[v > floor]
    if np.mean(v == floor) >= 1 / k:
        qs = np.quantile(above, np.arange(1, k) / (k - 1), method="inverted_cdf")
        breaks = np.unique(np.concatenate([[floor], qs]))
    else:
        breaks = np.unique(np.quantile(v, np.arange(1, k + 1) / k, method="inverted_cdf"))
    if len(breaks) == 1:  # ties merged every class: the minimum and the rest, at least
        breaks = np.array([floor, v[-1]])
    breaks[-1] = v[-1]
    idx = np.searchsorted(breaks, v, side="left")
    counts = np.bincount(idx, minlength=len(breaks))
    return Classes(float(floor), tuple(float(b) for b in breaks), tuple(int(c) for c in counts))


def class_colours(cmap: str, classes: Classes) -> list[tuple[float, float, float, float]]:
    """One colour per class, from light to dark (the lightest tint of the map is skipped)."""
    n = len(classes.breaks)
    return [matplotlib.colormaps[cmap](x) for x in np.linspace(0.15, 0.95, n)]


def norm_for(values: pd.Series, diverging: bool, zero_based: bool = False) -> Normalize:
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


def scale_of(
    shown: pd.Series, diverging: bool, zero_based: bool, classes: bool
) -> tuple[Normalize | None, Classes | None]:
    """The colour scale of a layer that varies: quantile classes, or a continuous norm."""
    if classes:
        return None, class_breaks(shown)
    return norm_for(shown, diverging, zero_based), None


def is_flat(shown: pd.Series) -> tuple[bool, float | None]:
    """Whether the layer is constant (or empty) over the area drawn, and its value."""
    value = constant_value(shown)
    return value is not None or not np.isfinite(shown.to_numpy(dtype=float)).any(), value
