"""National bundled data: calibration, flags, existing state, round_geodata, diagnostic, maps."""

from __future__ import annotations

import math
import warnings

import pytest

from allocator.programme import cost_zone
from geodata import (
    AccessParams,
    ApplicantSite,
    CommuneOutsideProgramme,
    GeodataError,
    MalformedCommuneCode,
    RekeyedCodeWarning,
    UnknownCommuneCode,
    bundled_existing,
    bundled_existing_advisors,
    round_geodata,
    service_area,
)
from geodata.diagnostic import diagnostic_table
from geodata.national import commune_table, programme_table

pytestmark = pytest.mark.slow

RECREATED = {"14666", "15031", "15035", "15047", "15171", "85165", "85212"}
COM = {"975", "977", "978", "984", "986", "987", "988", "989"}


def test_national_need_is_calibrated_to_13_million() -> None:
    t = programme_table()
    assert t["fragile_population"].sum() == pytest.approx(13_000_000, rel=1e-9)
    assert (t["fragile_population"] <= t["population"]).all()


def test_every_programme_commune_has_need_or_a_flag() -> None:
    t = programme_table()
    assert ((t["fragile_population"] > 0) | (t["need_fallback"] != "")).all()
    assert t["fragile_population"].notna().all()
    flagged = t[t["need_fallback"] != ""]
    assert RECREATED <= set(flagged.index)
    assert {"971", "973", "976"} <= set(
        flagged.loc[flagged["need_fallback"] == "indice_absent_departement", "departement"]
    )


def test_com_outside_programme_flagged_without_geometry() -> None:
    t = commune_table()
    com = t[t["departement"].isin(COM)]
    assert len(com) == 94
    assert (com["need_fallback"] == "com_hors_programme").all()
    assert com["fragile_population"].isna().all() and com["x"].isna().all()


def test_bundled_existing_2021() -> None:
    ex = bundled_existing()
    assert ex.total == 2138
    assert len(ex.unlocated) == 7  # structures without a code INSEE: reported, not dropped
    assert ex.located_total == 2138 - int(ex.unlocated["nb_cnfs"].sum())
    assert sum(bundled_existing_advisors().values()) == ex.located_total


ALL_TYPES = ["COMMUNE", "EPCI", "DEPARTEMENT", "REGION", "COLLECTIVITE", "GIP", "PRIVATE"]


def test_round_geodata_service_areas_and_fields() -> None:
    sites = [ApplicantSite(i, t, "01053", None, 3) for i, t in enumerate(ALL_TYPES)]
    sites.append(ApplicantSite(99, "COMMUNE", "01053", ("01053", "01001"), 2))
    res = round_geodata(sites)
    by = {a.id_pg: a for a in res.applicants}
    assert [a.id_pg for a in res.applicants] == [s.id_pg for s in sites]
    t = programme_table()
    assert by[0].service_area == ("01053",)
    epci = t.loc["01053", "epci_siren"]
    assert set(by[1].service_area) == set(t.index[t["epci_siren"] == epci])
    assert len(by[2].service_area) == (t["departement"] == "01").sum()
    assert len(by[3].service_area) == (t["region"] == "84").sum()
    assert "01053" in by[4].service_area and 1 < len(by[4].service_area) < len(by[1].service_area)
    assert by[4].service_area == by[5].service_area == by[6].service_area
    assert by[99].service_area == ("01001", "01053")
    assert by[1].epci == epci and by[2].epci is None and by[3].epci is None
    for a in res.applicants:
        assert a.departement == "01" and a.region == "84" and cost_zone(a.departement) == "metro"
        assert a.fragile_population > 0 and a.existing_offer >= 0
        assert all(b <= g for g, b in zip(a.gains, a.gains[1:], strict=False))
        assert all(isinstance(g, float) for g in a.gains)
    assert len(by[99].gains) == 2 and len(by[0].gains) == 3
    # nesting: commune ⊂ EPCI ⊂ département ⊂ région in need and existing offer
    chain = [by[0], by[1], by[2], by[3]]
    assert [a.fragile_population for a in chain] == sorted(a.fragile_population for a in chain)
    assert [a.existing_offer for a in chain] == sorted(a.existing_offer for a in chain)


def test_round_geodata_territories() -> None:
    res = round_geodata([])
    codes = [d.code for d in res.departements]
    assert len(codes) == 101 and codes == sorted(codes) and {"2A", "2B", "976"} <= set(codes)
    assert sum(d.need for d in res.departements) == pytest.approx(13_000_000)
    assert sum(d.existing for d in res.departements) + res.existing_unlocated == 2138
    assert res.existing_total == 2138 and res.existing_source == "structures_2021"
    assert all(":" in e.code for e in res.epcis)
    assert sum(e.need for e in res.epcis) <= 13_000_000
    dep = {d.code: d for d in res.departements}
    parts = [e for e in res.epcis if e.code.startswith("01:")]
    assert sum(e.need for e in parts) == pytest.approx(dep["01"].need)


def test_existing_replaces_bundled_and_raises_offer() -> None:
    site = [ApplicantSite(1, "EPCI", "01053", None, 2)]
    none = round_geodata(site, existing={})
    assert none.applicants[0].existing_offer == 0 and none.existing_total == 0
    some = round_geodata(site, existing={"01053": 5})
    assert some.existing_total == 5 and some.existing_source == "runtime"
    assert some.applicants[0].existing_offer > 0
    assert some.applicants[0].gains[0] < none.applicants[0].gains[0]


def test_old_codes_rekeyed_and_bad_codes_rejected() -> None:
    with pytest.warns(RekeyedCodeWarning, match="01039->01138"):
        res = round_geodata([ApplicantSite(1, "COMMUNE", "01039", None, 1)])
    assert res.applicants[0].code_commune == "01138"
    with pytest.raises(UnknownCommuneCode) as exc:
        round_geodata([ApplicantSite(1, "COMMUNE", "99999", None, 1)])
    assert exc.value.codes == ("99999",)
    with pytest.raises(MalformedCommuneCode):
        round_geodata([ApplicantSite(1, "COMMUNE", "1001", None, 1)])
    with pytest.raises(UnknownCommuneCode):
        round_geodata([], existing={"99999": 1})
    with pytest.raises(CommuneOutsideProgramme):
        round_geodata([ApplicantSite(1, "COMMUNE", "97801", None, 1)])
    with pytest.raises(GeodataError, match="applicant type"):
        round_geodata([ApplicantSite(1, "CCAS", "01053", None, 1)])


def test_overseas_applicants() -> None:
    sites = [
        ApplicantSite(1, "COMMUNE", "97101", None, 1),  # Guadeloupe: no index → fallback
        ApplicantSite(2, "GIP", "97411", None, 1),
        ApplicantSite(3, "DEPARTEMENT", "97611", None, 1),
    ]
    a, b, c = round_geodata(sites).applicants
    assert [cost_zone(x.departement) for x in (a, b, c)] == ["971-973", "974-976", "974-976"]
    assert a.need_fallback and c.need_fallback and not b.need_fallback
    assert all(code.startswith("974") for code in b.service_area)


def test_service_area_function_and_catchment_radius() -> None:
    small = service_area("PRIVATE", "01053", params=AccessParams(steps=((5.0, 1.0),)))
    large = service_area("PRIVATE", "01053")
    assert set(small) <= set(large) and "01053" in small


def test_diagnostic_tables() -> None:
    national = diagnostic_table()
    assert len(national) == 101
    assert national["fragile_population"].sum() == pytest.approx(13_000_000)
    assert national["advisors"].sum() == 2138 - 9
    assert national["share_without_advisor"].between(0, 1).all()
    communes = diagnostic_table("2A")
    assert communes.index.str.startswith("2A").all()
    epcis = diagnostic_table("2A", level="epci")
    assert epcis["fragile_population"].sum() == pytest.approx(communes["fragile_population"].sum())
    with pytest.raises(GeodataError, match="unknown département"):
        diagnostic_table("975")


def test_maps_written(tmp_path) -> None:
    from geodata.maps import diagnostic_maps, map_communes, map_departements

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p1 = map_departements(tmp_path / "dep.png", "coverage")
        p2 = map_communes(tmp_path / "sub" / "c.png", "972", "accessibility")
    assert p1.read_bytes()[:4] == b"\x89PNG" and p2.stat().st_size > 1000
    with pytest.raises(GeodataError, match="indicator"):
        map_departements(tmp_path / "x.png", "nope")
    paths = diagnostic_maps(tmp_path / "d", departement="2B", indicators=("need", "coverage"))
    assert [p.name for p in paths] == ["carte_need_2B.png", "carte_coverage_2B.png"]


def test_round_geodata_is_fast_when_warm() -> None:
    import time

    sites = [ApplicantSite(i, ALL_TYPES[i % 7], "01053", None, 4) for i in range(1500)]
    round_geodata(sites)
    t0 = time.perf_counter()
    round_geodata(sites)
    assert time.perf_counter() - t0 < 1.0
    assert not math.isnan(sum(a.fragile_population for a in round_geodata(sites[:3]).applicants))


def test_france_services_as_complementary_offer() -> None:
    site = [ApplicantSite(1, "DEPARTEMENT", "01053", None, 1)]
    base = round_geodata(site, existing={}).applicants[0]
    with_fs = round_geodata(
        site, existing={}, params=AccessParams(include_france_services=True)
    ).applicants[0]
    assert base.existing_offer == 0
    # 24 France Services sites in the Ain, 0.5 advisor-equivalent each; sites near the border
    # also serve neighbouring départements (and theirs serve the Ain): close, not equal.
    assert with_fs.existing_offer == pytest.approx(0.5 * with_fs.france_services, rel=0.1)
    assert with_fs.gains[0] < base.gains[0]


def test_the_programme_s_departement_rule_agrees_with_the_cog() -> None:
    """``allocator.programme.departement_of`` gives every COG commune its own département."""
    from allocator.programme import departement_of
    from geodata import load_communes

    c = load_communes()
    assert [departement_of(code) for code in c["code_insee"]] == list(c["departement"])
