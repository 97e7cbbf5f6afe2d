"""Readable diagnostic maps: quantile classes with a legend, and no uniform (blank) map."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geodata import maps
from geodata.map_scales import Classes, class_breaks, constant_value, fr_number

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@given(st.lists(finite, min_size=2, max_size=300), st.integers(2, 7))
def test_quantile_classes_partition_the_values_with_no_empty_class(
    values: list[float], k: int
) -> None:
    classes = class_breaks(np.array(values), k)
    v = np.array(values)
    if v.min() == v.max():
        assert classes is None and constant_value(v) == v[0]
        return
    assert classes is not None and constant_value(v) is None
    breaks = np.array(classes.breaks)
    assert classes.lowest == v.min() and breaks[-1] == v.max()
    assert np.all(np.diff(breaks) > 0) and 2 <= len(breaks) <= k
    assert sum(classes.counts) == len(v) and min(classes.counts) >= 1
    idx = classes.index(v)
    lower = np.concatenate([[-np.inf], breaks[:-1]])
    assert np.all(v <= breaks[idx]) and np.all(v > lower[idx])
    assert len(classes.labels()) == len(breaks)


def test_a_mass_of_zeros_is_a_class_of_its_own_and_outliers_do_not_flatten_the_rest() -> None:
    """Nord's coverage: 590 communes without advisor, a few hosting one for 300 inhabitants."""
    rng = np.random.default_rng(0)
    values = np.concatenate([np.zeros(590), rng.uniform(1, 15, 52), [150, 284]])
    classes = class_breaks(values)
    assert classes is not None
    assert classes.breaks[0] == 0 and classes.counts[0] == 590
    assert len(classes.breaks) == 5 and min(classes.counts[1:]) >= 10
    assert classes.labels()[0] == "0  (590)"


def test_legend_bounds_are_french_numbers_with_enough_decimals() -> None:
    labels = Classes(8.4, (16.2, 17.5, 18.7, 20.1, 1234.5), (1, 1, 1, 1, 1)).labels()
    assert labels[0] == "8,4 – 16,2  (1)"
    assert labels[-1] == "20,1 – 1\u202f234,5  (1)"
    assert fr_number(0.0004, 1) == "0" and fr_number(-2.5, 1) == "-2,5"


def test_nord_coverage_map_is_in_classes_and_its_constant_layer_is_said_not_drawn(
    tmp_path: Path,
) -> None:
    coverage = maps.indicator_values("coverage", "59")
    classes = class_breaks(coverage)
    assert classes is not None and len(classes.breaks) == 5
    assert classes.counts[0] == int((coverage == 0).sum())
    assert min(classes.counts) >= 10  # not one dark commune and 600 white ones
    constant = maps.constant_indicators("59")
    assert constant == {
        "without_advisor": "Population fragile sans conseiller à portée (%) : 0 dans toutes "
        "les communes, pas d'échelle de couleurs"
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = maps.diagnostic_maps(tmp_path, "59", indicators=("coverage", "without_advisor"))
    assert [p.name for p in paths] == ["carte_coverage_59.png", "carte_without_advisor_59.png"]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths)


@pytest.mark.parametrize("values", [{"59001": 3.0, "59002": 3.0}, {}])
def test_a_constant_or_empty_layer_gives_a_panel_that_says_so(
    tmp_path: Path, values: dict[str, float]
) -> None:
    path = maps.map_commune_values(tmp_path / "c.png", "59", values, "Essai", classes=True)
    assert path.read_bytes()[:4] == b"\x89PNG"
    value = constant_value(np.array(list(values.values())))
    text = maps.constant_text(value, "Essai", "communes")
    assert text == (
        "Essai : 3,0 dans toutes les communes, pas d'échelle de couleurs"
        if values
        else "Essai : aucune valeur dans ces communes, pas de carte"
    )
