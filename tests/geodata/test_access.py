"""E2SFCA on a toy line (golden values by hand) and its invariants (Hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.access import AccessParams, commune_accessibility, e2sfca, share_without_access

# 1 km = 1 minute (detour 1, 60 km/h); weight 1 up to 10 min, 1/2 up to 20 min, 0 beyond.
LINE = AccessParams(detour=1.0, speed_kmh=60.0, steps=((10.0, 1.0), (20.0, 0.5)))


def test_e2sfca_golden(toy_line) -> None:
    # Sites: 2 advisors at A (x=0), 1 at C (x=14 km).
    #   site A reaches A (0 km, w 1), B (5, w 1), C (14, w 1/2), not D (40):
    #       Σ w P = 1000 + 3000 + 0.5 * 2000 = 5000      → R_A = 2 / 5000 = 4.0e-4
    #   site C reaches A (14, w 1/2), B (9, w 1), C (0, w 1), not D (26):
    #       Σ w P = 500 + 3000 + 2000 = 5500             → R_C = 1 / 5500
    #   A_A = 4e-4 + 0.5/5500     A_B = 4e-4 + 1/5500     A_C = 0.5 * 4e-4 + 1/5500     A_D = 0
    xy, fragile = toy_line["xy"], toy_line["fragile"]
    res = e2sfca(xy, fragile, xy[[0, 2]], np.array([2.0, 1.0]), LINE)
    expected = [4e-4 + 0.5 / 5500, 4e-4 + 1 / 5500, 2e-4 + 1 / 5500, 0.0]
    assert res.accessibility.tolist() == pytest.approx(expected, rel=1e-12)
    assert res.site_ratio.tolist() == pytest.approx([4e-4, 1 / 5500])
    assert res.reachable.tolist() == [True, True, True, False]
    # P_i A_i distributes the 3 advisors over the communes.
    assert res.served.sum() == pytest.approx(3.0)
    assert res.unreached_supply == 0
    assert res.accessibility_10k[1] == pytest.approx(1e4 * (4e-4 + 1 / 5500))


def test_zones_do_not_mix(toy_line) -> None:
    # Same coordinates, but D is in another zone (another projection): never reached.
    xy, fragile = toy_line["xy"], toy_line["fragile"]
    zones = np.array(["metro", "metro", "metro", "974"])
    # A site at D's position but in zone "metro": D is not reachable, C is 26 km away.
    res = e2sfca(
        xy,
        fragile,
        xy[[3]],
        np.array([1.0]),
        LINE,
        demand_zone=zones,
        supply_zone=np.array(["metro"]),
    )
    assert res.reachable.tolist() == [False, False, False, False]
    assert res.unreached_supply == 1.0
    # The same site in D's zone serves D only (2 km from C in the metro zone is irrelevant).
    site = np.array([[38_000.0, 0.0]])
    res = e2sfca(
        xy, fragile, site, np.array([1.0]), LINE, demand_zone=zones, supply_zone=np.array(["974"])
    )
    assert res.reachable.tolist() == [False, False, False, True]
    assert res.accessibility[3] == pytest.approx(1 / 500)


def test_unreached_supply_is_reported(toy_line) -> None:
    xy = toy_line["xy"]
    res = e2sfca(xy, np.zeros(4), xy[[0]], np.array([3.0]), LINE)
    assert res.unreached_supply == 3.0
    assert res.accessibility.sum() == 0


def test_default_steps_and_radii() -> None:
    p = AccessParams()
    # 15 min at 50 km/h with detour 1.3: 12.5 km by road = 9.615 km straight line.
    assert p.catchment_radius_m == pytest.approx(12_500 / 1.3)
    assert p.max_radius_m == pytest.approx(37_500 / 1.3)
    d = np.array([0.0, 9_000.0, 10_000.0, 20_000.0, 28_000.0, 29_000.0])
    assert p.weight(d).tolist() == pytest.approx([1, 1, 2 / 3, 1 / 3, 1 / 3, 0])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"detour": 0.9},
        {"speed_kmh": 0},
        {"steps": ()},
        {"steps": ((30.0, 1.0), (15.0, 0.5))},
        {"steps": ((15.0, 0.5), (30.0, 1.0))},
        {"capacity": 0},
    ],
)
def test_access_params_validated(kwargs) -> None:
    with pytest.raises(ValueError, match="AccessParams"):
        AccessParams(**kwargs)


def test_commune_accessibility_and_share(toy_line) -> None:
    table = pd.DataFrame(
        {
            "x": toy_line["xy"][:, 0],
            "y": toy_line["xy"][:, 1],
            "zone_calcul": "metro",
            "fragile_population": toy_line["fragile"],
            "departement": ["01", "01", "02", "02"],
        },
        index=["01001", "01002", "02001", "02002"],
    )
    acc = commune_accessibility(table, pd.Series({"01001": 2, "02001": 1}), LINE)
    assert acc["served"].sum() == pytest.approx(3.0)
    share = share_without_access(table.join(acc), "departement")
    # only D (500 of the 2500 fragile inhabitants of "02") lacks an advisor within reach
    assert share.to_dict() == pytest.approx({"01": 0.0, "02": 500 / 2500})


coords = st.floats(0, 40_000, allow_nan=False)
point = st.tuples(coords, coords)


@settings(max_examples=80, deadline=None)
@given(
    demand=st.lists(st.tuples(point, st.floats(0, 10_000)), min_size=1, max_size=12),
    supply=st.lists(st.tuples(point, st.integers(0, 5)), min_size=1, max_size=6),
    extra=st.tuples(point, st.integers(1, 3)),
    which=st.integers(0, 100),
)
def test_adding_an_advisor_never_lowers_accessibility(demand, supply, extra, which) -> None:
    dxy = np.array([p for p, _ in demand])
    dem = np.array([v for _, v in demand])
    sxy = np.array([p for p, _ in supply])
    sup = np.array([float(v) for _, v in supply])
    before = e2sfca(dxy, dem, sxy, sup, AccessParams())
    # one more advisor at an existing site...
    more = sup.copy()
    more[which % len(sup)] += 1
    after = e2sfca(dxy, dem, sxy, more, AccessParams())
    assert (after.accessibility >= before.accessibility - 1e-15).all()
    assert (after.reachable >= before.reachable).all()
    # ...or at a new site
    sxy2 = np.vstack([sxy, np.array(extra[0])])
    after2 = e2sfca(dxy, dem, sxy2, np.append(sup, extra[1]), AccessParams())
    assert (after2.accessibility >= before.accessibility - 1e-15).all()
    # conservation: every advisor is either distributed or reported as unreached
    assert after2.served.sum() + after2.unreached_supply == pytest.approx(sup.sum() + extra[1])
