"""The programme's rules (``allocator.programme``): figures, costs, fair shares."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocator import Applicant, RoundPolicy, StructureType, programme, webster

ZONES = ("metro", "971-973", "974-976")
TYPES = ("COMMUNE", "EPCI", "DEPARTEMENT", "REGION", "GIP", "PRIVATE")

needs_st = st.dictionaries(
    st.from_regex(r"[0-9]{2}", fullmatch=True),
    st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
    min_size=1,
    max_size=12,
)


def test_the_call_s_figures() -> None:
    assert programme.NATIONAL_ENVELOPE == 4_000
    assert programme.COST_PER_POST_EUR == {
        "metro": 50_000.0,
        "971-973": 70_000.0,
        "974-976": 67_500.0,
    }
    assert programme.COST_PER_POST_PRIVATE_EUR == 32_000.0
    assert programme.CONVENTION_MONTHS == {"public": 24, "private": 18}
    assert programme.MAX_CONVENTION_MONTHS == 36
    assert programme.DEFAULT_QUALITY == 50.0


def test_engine_defaults_are_the_programme_s() -> None:
    assert RoundPolicy().national_envelope == programme.NATIONAL_ENVELOPE
    a = Applicant(1, StructureType.COMMUNE, "01283", "01", "84", None, 1, (1.0,))
    assert a.quality == programme.DEFAULT_QUALITY
    assert a.cost_eur == programme.COST_PER_POST_EUR["metro"]


@pytest.mark.parametrize(
    ("code", "departement", "zone"),
    [
        ("01283", "01", "metro"),
        ("2A004", "2A", "metro"),
        ("2B033", "2B", "metro"),
        ("97101", "971", "971-973"),
        ("97302", "973", "971-973"),
        ("97411", "974", "974-976"),
        ("97611", "976", "974-976"),
        ("98714", "987", "metro"),
    ],
)
def test_departement_and_cost_zone(code: str, departement: str, zone: str) -> None:
    assert programme.departement_of(code) == departement
    assert programme.cost_zone(departement) == zone


def test_prefet_opinion_spellings() -> None:
    assert programme.prefet_opinion("POSITIF") == "POSITIF"
    assert programme.prefet_opinion("NÉGATIF") == programme.prefet_opinion("NEGATIF") == "NÉGATIF"
    assert programme.prefet_opinion(None) is programme.prefet_opinion("SANS_AVIS") is None


@given(
    st.sampled_from(TYPES),
    st.sampled_from(ZONES),
    st.none() | st.floats(min_value=0.0, max_value=200_000.0),
    st.none() | st.floats(min_value=0.0, max_value=1.0),
)
def test_post_costs_deduct_the_cofunding_never_below_zero(
    type_: str, zone: str, eur: float | None, part: float | None
) -> None:
    standard, state = programme.post_costs(type_, zone, eur, part)
    expected = (
        programme.COST_PER_POST_PRIVATE_EUR
        if type_ == "PRIVATE"
        else programme.COST_PER_POST_EUR[zone]
    )
    assert standard == expected
    assert 0.0 <= state <= standard
    assert state == max(0.0, standard - ((eur or 0.0) + (part or 0.0) * standard))


@given(
    st.sampled_from(TYPES),
    st.sampled_from(("01283", "97302", "97411", "2A004")),
    st.none() | st.floats(min_value=0.0, max_value=80_000.0),
    st.integers(min_value=1, max_value=programme.MAX_CONVENTION_MONTHS),
)
def test_convention_costs_are_pro_rata(
    type_: str, code: str, eur: float | None, months: int
) -> None:
    zone = programme.cost_zone(programme.departement_of(code))
    reference = programme.post_costs(type_, zone, eur)
    ref_months = programme.CONVENTION_MONTHS["private" if type_ == "PRIVATE" else "public"]
    assert programme.convention_costs(type_, code, eur) == tuple(
        c * ref_months / ref_months for c in reference
    )
    standard, state = programme.convention_costs(type_, code, eur, months)
    assert standard == reference[0] * months / ref_months
    assert state == reference[1] * months / ref_months


@pytest.mark.parametrize("months", [0, -1, programme.MAX_CONVENTION_MONTHS + 1])
def test_convention_length_out_of_range(months: int) -> None:
    with pytest.raises(ValueError, match="durée de convention entre 1 et 36 mois"):
        programme.convention_costs("COMMUNE", "01283", duree_mois=months)


@given(needs_st, st.integers(min_value=0, max_value=10_000))
def test_fair_shares_sum_to_the_envelope(needs: dict[str, float], envelope: int) -> None:
    shares = programme.fair_shares(needs, envelope)
    assert list(shares) == (sorted(needs) if any(needs.values()) else list(needs))
    if any(needs.values()):
        assert sum(shares.values()) == envelope
        assert shares == webster(needs, envelope)
        assert all(shares[code] == 0 for code, need in needs.items() if need == 0)
    else:
        assert set(shares.values()) <= {0}


def test_fair_shares_are_computed_once_and_handed_out_fresh() -> None:
    needs = {"01": 3.0, "02": 1.0}
    first = programme.fair_shares(needs, 4)
    first["01"] = 99
    assert programme.fair_shares(needs, 4) == {"01": 3, "02": 1}
