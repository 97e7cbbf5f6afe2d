"""Need formula on a toy territory (golden values computed by hand) and its properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.errors import GeodataError, MissingColumns
from geodata.need import NeedParams, aggregate, calibrate, compute_need, region_factors


def test_need_golden(toy_need_table: pd.DataFrame) -> None:
    # beta = gamma = 1 keeps the hand computation rational:
    #   R_R1 = (0.10 / 0.20) * (1 + 0.25) / (1 + 0.1) = 25/44
    #   R_R2 = (0.40 / 0.20) * (1 + 0)    / (1 + 0.1) = 80/44
    #   raw: A 1000*1.2*25/44 = 30000/44   B 3000*0.8*25/44 = 60000/44
    #        C 4000*1.0*80/44 = 320000/44  D 2000*1.0*80/44 = 160000/44  (D: fallback 100)
    #   Σ raw = 570000/44, target 5700 → K = 0.44 → need A 300, B 600, C 3200, D 1600.
    params = NeedParams(national_total=5700, unemployment_exponent=1.0, zrr_weight=1.0)
    out = compute_need(toy_need_table, params)
    need = out["fragile_population"]
    assert need.iloc[:4].tolist() == pytest.approx([300, 600, 3200, 1600])
    assert out["region_factor"].iloc[:4].tolist() == pytest.approx([25 / 44] * 2 + [80 / 44] * 2)
    assert out["need_fallback"].tolist() == ["", "", "", "indice_absent", "com_hors_programme"]
    assert np.isnan(need.iloc[4])  # the COM: no need, flagged, never a silent 0
    assert out["in_programme"].tolist() == [True] * 4 + [False]


def test_need_defaults_calibrated_and_ordered(toy_need_table: pd.DataFrame) -> None:
    out = compute_need(toy_need_table, NeedParams(national_total=5700))
    need = out["fragile_population"].iloc[:4]
    assert need.sum() == pytest.approx(5700)
    # Within a région the index orders the fragile share: A (120) above B (80).
    share = need / out["population"].iloc[:4]
    assert share.iloc[0] > share.iloc[1]


def test_zero_score_and_zero_population_are_flagged(toy_need_table: pd.DataFrame) -> None:
    t = toy_need_table.copy()
    t.loc["01002", "score_global"] = 0.0  # "not computed" → département mean (A's 120)
    t.loc["02001", "population"] = 0
    out = compute_need(t, NeedParams(national_total=1000))
    assert out.loc["01002", "need_fallback"] == "indice_nul"
    assert out.loc["01002", "score_used"] == pytest.approx(120.0)
    assert out.loc["02001", "need_fallback"] == "population_nulle"
    assert out.loc["02001", "fragile_population"] == 0


def test_departement_without_any_score_takes_national_mean(toy_need_table) -> None:
    t = toy_need_table.copy()
    t.loc[["02001", "02002"], "score_global"] = np.nan
    out = compute_need(t, NeedParams(national_total=1000))
    # national population-weighted mean of valid scores: (1000*120 + 3000*80) / 4000 = 90
    assert out.loc["02001", "score_used"] == pytest.approx(90.0)
    assert out.loc["02001", "need_fallback"] == "indice_absent_departement"


def test_region_without_unemployment_uses_its_zone(toy_need_table) -> None:
    t = toy_need_table.copy()
    t.loc[["02001", "02002"], ["chomeurs", "actifs"]] = 0.0
    p = t.iloc[:4]
    rf = region_factors(p, NeedParams(unemployment_exponent=1.0, zrr_weight=1.0))
    # R2 takes the métropole rate (here R1's 10 %), which is also the national rate:
    # R_R2 = 1 * (1 + 0) / (1 + 0.1) = 10/11
    assert rf.loc["R2", "unemployment_rate"] == pytest.approx(0.1)
    assert rf.loc["R2", "region_factor_source"] == "zone"
    assert rf.loc["R2", "region_factor"] == pytest.approx(10 / 11)
    # A zone without any figure falls back to the national rate, never to NaN.
    p = p.assign(zone=["metro", "metro", "drom", "drom"])
    rf = region_factors(p, NeedParams())
    assert rf.loc["R2", "region_factor_source"] == "national"
    assert rf["region_factor"].notna().all()


def test_missing_column_rejected(toy_need_table: pd.DataFrame) -> None:
    with pytest.raises(MissingColumns, match="score_global"):
        compute_need(toy_need_table.drop(columns="score_global"))


def test_calibrate_caps_at_population() -> None:
    # Uncapped K = 150/3 = 50 would give 50 > cap 10 to the first; capped → 10 + 140 on the
    # others (K = 140/2 = 70 → 70 each).
    out = calibrate(np.array([1.0, 1.0, 1.0]), np.array([10.0, 100.0, 100.0]), 150.0)
    assert out.tolist() == pytest.approx([10.0, 70.0, 70.0])
    with pytest.raises(GeodataError, match="exceeds the population"):
        calibrate(np.array([1.0]), np.array([10.0]), 11.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.integers(0, 10_000),
            st.floats(0, 5_000),
            st.integers(0, 9),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_aggregate_conserves_totals(rows) -> None:
    t = pd.DataFrame(rows, columns=["epci_siren", "population", "fragile_population", "advisors"])
    g = aggregate(t, "epci_siren")
    assert g["population"].sum() == t["population"].sum()
    assert g["advisors"].sum() == t["advisors"].sum()
    assert g["fragile_population"].sum() == pytest.approx(t["fragile_population"].sum())
    per = g["advisors_per_10k_fragile"]
    positive = g["fragile_population"] > 0
    assert per[positive].tolist() == pytest.approx(
        (g["advisors"] / g["fragile_population"] * 1e4)[positive].tolist()
    )
    assert per[~positive].isna().all()
