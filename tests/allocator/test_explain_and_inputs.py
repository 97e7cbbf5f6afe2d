"""Explanations (ranks, cut-off, ties), typed input errors, canonical input, apportionment."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import itertools
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocator import (
    ALL_MOTIFS,
    InvalidInput,
    RoundPolicy,
    SolverConfig,
    Territory,
    allocate,
    canonical_input,
    hamilton,
    webster,
)
from allocator.baselines import first_come_first_served, need_proportional
from tests.allocator.helpers import app, grants, round_of


def test_ranks_are_a_national_priority_list_and_cutoff_is_the_lowest_granted():
    applicants = [
        app(1, (50.0, 40.0, 10.0), epci="200000001"),
        app(2, (45.0, 5.0), epci="200000002"),
        app(3, (30.0,), departement="02", epci=None),
    ]
    r = allocate(round_of(applicants, quota=4))
    ranked = sorted(
        (rank, p)
        for d in r.decisions
        for rank, p in zip(d.explanation.granted_ranks, d.explanation.priorities, strict=False)
    )
    assert [rank for rank, _ in ranked] == [1, 2, 3, 4]
    assert all(a >= b for (_, a), (_, b) in itertools.pairwise(ranked))
    assert r.decisions[0].explanation.cutoff == ranked[-1][1]
    for d in r.decisions:
        granted = d.explanation.granted_ranks
        for p in d.explanation.priorities[len(granted) :]:
            assert p <= d.explanation.cutoff
        assert set(d.explanation.motifs) <= set(ALL_MOTIFS)


def test_exact_ties_broken_by_created_at_then_id_pg():
    earlier = app(9, (10.0,), created_at="2021-03-01T10:00:00Z")
    later = app(3, (10.0,), created_at="2021-03-02T10:00:00Z")
    assert grants(allocate(round_of([later, earlier], quota=1))) == {3: 0, 9: 1}
    same = [app(9, (10.0,)), app(3, (10.0,))]
    assert grants(allocate(round_of(same, quota=1))) == {3: 1, 9: 0}


def test_tie_break_orders_created_at_by_instant_not_by_text():
    """10:00+02:00 is 08:00 UTC: filed before 09:00Z although its text sorts after."""
    east = app(3, (10.0,), created_at="2021-03-01T10:00:00+02:00")
    utc = app(9, (10.0,), created_at="2021-03-01T09:00:00Z")
    assert grants(allocate(round_of([utc, east], quota=1))) == {3: 1, 9: 0}
    east_later = app(3, (10.0,), created_at="2021-03-01T12:00:00+02:00")
    assert grants(allocate(round_of([utc, east_later], quota=1))) == {3: 0, 9: 1}


def test_missing_created_at_ranks_last_in_a_tie():
    missing = app(3, (10.0,), created_at="")
    filed = app(9, (10.0,), created_at="2021-03-01T09:00:00Z")
    assert grants(allocate(round_of([missing, filed], quota=1))) == {3: 0, 9: 1}
    assert first_come_first_served(round_of([missing, filed], quota=1)) == {3: 0, 9: 1}


_OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: datetime.timedelta(minutes=m))


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=datetime.datetime(2020, 1, 2), max_value=datetime.datetime(2030, 1, 1)),
    st.integers(-3 * 3600, 3 * 3600),
    _OFFSETS,
    _OFFSETS,
    st.booleans(),
)
def test_ties_go_to_the_earliest_filing_instant_whatever_the_offsets(
    when, delta_s, offset_a, offset_b, z_suffix
):
    """Two applicants tied on priority: the earlier instant wins, written in any UTC offset
    (the same instant: the smaller idPG)."""
    utc = datetime.UTC
    a_instant = when.replace(tzinfo=utc)
    b_instant = a_instant + datetime.timedelta(seconds=delta_s)

    def written(instant, offset):
        text = instant.astimezone(datetime.timezone(offset)).isoformat()
        return text.replace("+00:00", "Z") if z_suffix else text

    a = app(7, (10.0,), created_at=written(a_instant, offset_a))
    b = app(4, (10.0,), created_at=written(b_instant, offset_b))
    winner = 4 if b_instant <= a_instant else 7
    assert grants(allocate(round_of([a, b], quota=1))) == {4: int(winner == 4), 7: int(winner == 7)}


def test_balance_term_spreads_posts_across_departements():
    deps = (Territory("01", 1000.0, 0), Territory("02", 1000.0, 0))
    applicants = [app(1, (1.0,) * 4), app(2, (1.0,) * 4, departement="02")]
    r = allocate(round_of(applicants, quota=4, departements=deps))
    assert grants(r) == {1: 2, 2: 2}
    assert r.report.to_dict()["posts_per_departement"] == {"01": 2, "02": 2}
    terms = r.report.to_dict()["objective_terms"]
    assert r.objective == pytest.approx(terms["access"] + terms["distribution"] + terms["balance"])


def test_larger_request_would_have_helped():
    r = allocate(round_of([app(1, (100.0,)), app(2, (1.0,))], quota=1))
    assert r.decisions[0].explanation.details.counterfactual.larger_request_would_help is False
    r = allocate(round_of([app(1, (100.0,)), app(2, (1.0,))], quota=3))
    assert r.decisions[0].explanation.details.counterfactual.larger_request_would_help is True


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda ri: dataclasses.replace(ri, applicants=ri.applicants * 2), "duplicate id_pg"),
        (lambda ri: dataclasses.replace(ri, applicants=(app(1, (1.0, 2.0)),)), "non-increasing"),
        (lambda ri: dataclasses.replace(ri, applicants=(app(1, (1.0,), requested=3),)), "gains"),
        (
            lambda ri: dataclasses.replace(ri, applicants=(app(1, (1.0,), departement="99"),)),
            "departement",
        ),
        (lambda ri: dataclasses.replace(ri, applicants=(app(1, (1.0,), epci="999"),)), "epci"),
        (
            lambda ri: dataclasses.replace(ri, applicants=(app(1, (1.0,), quality=101.0),)),
            "quality",
        ),
        (lambda ri: dataclasses.replace(ri, applicants=(app(1, (float("nan"),)),)), "gains[0]"),
        (lambda ri: dataclasses.replace(ri, quota=-1), "quota"),
        (
            lambda ri: dataclasses.replace(ri, applicants=(app(1, (1.0,), created_at="hier"),)),
            "created_at",
        ),
    ],
)
def test_invalid_inputs_name_the_field(change, field):
    with pytest.raises(InvalidInput, match=field.replace("[", r"\[").replace("]", r"\]")):
        allocate(change(round_of([app(1, (1.0,))], quota=1)))


@pytest.mark.parametrize(
    ("policy", "config", "field"),
    [
        (RoundPolicy(mode="fastest"), SolverConfig(), "policy.mode"),
        (RoundPolicy(prefet_negatif="ignorer"), SolverConfig(), "policy.prefet_negatif"),
        (RoundPolicy(weight_access=-1.0), SolverConfig(), "policy.weight_access"),
        (RoundPolicy(), SolverConfig(backend="gurobi"), "config.backend"),
        (RoundPolicy(), SolverConfig(workers=0), "config.workers"),
    ],
)
def test_invalid_policy_and_config(policy, config, field):
    with pytest.raises(InvalidInput, match=field):
        allocate(round_of([app(1, (1.0,))], quota=1), policy, config)


def test_canonical_input_is_stable_and_hashed():
    ri = round_of([app(2, (1.0,), quality=72), app(1, (1.0,))], quota=1)
    same = round_of([app(1, (1.0,)), app(2, (1.0,), quality=72.0)], quota=1)
    assert canonical_input(ri, RoundPolicy(), SolverConfig()) == canonical_input(
        same, RoundPolicy(), SolverConfig()
    )
    assert canonical_input(ri) != canonical_input(dataclasses.replace(ri, quota=2))
    assert canonical_input(ri) == canonical_input(ri, config=SolverConfig(workers=8))
    r = allocate(ri)
    assert r.input_sha256 == hashlib.sha256(canonical_input(ri)).hexdigest()


# ---------------------------------------------------------------------------- apportionment
def test_webster_known_values_and_sum():
    assert webster({"a": 5.0, "b": 3.0, "c": 2.0}, 4) == {"a": 2, "b": 1, "c": 1}
    shares = webster({"a": 53.0, "b": 24.0, "c": 23.0}, 10)
    assert shares == {"a": 6, "b": 2, "c": 2} and sum(shares.values()) == 10
    assert webster({"x": 1.0, "y": 1.0}, 1) == {"x": 1, "y": 0}  # exact tie: by key
    assert webster({"a": 0.0, "b": 2.0}, 3) == {"a": 0, "b": 3}


def test_webster_is_house_monotone_hamilton_is_not():
    weights = {"a": 6.0, "b": 6.0, "c": 2.0}  # the Alabama paradox of Hamilton
    assert hamilton(weights, 10) == {"a": 4, "b": 4, "c": 2}
    assert hamilton(weights, 11) == {"a": 5, "b": 5, "c": 1}
    for seats in range(30):
        small, large = webster(weights, seats), webster(weights, seats + 1)
        assert all(large[k] >= v for k, v in small.items())


def _webster_by_fractions(weights: dict[str, float], seats: int) -> dict[str, int]:
    """The textbook highest-averages loop in exact rationals: the reference of the fast path."""
    held = dict.fromkeys(sorted(weights), 0)
    for _ in range(seats):
        best = min(
            (k for k in held if weights[k] > 0),
            key=lambda k: (-Fraction(weights[k]) / (held[k] + Fraction(1, 2)), k),
        )
        held[best] += 1
    return held


@settings(max_examples=200, deadline=None)
@given(
    weights=st.dictionaries(
        st.text("abcdef", min_size=1, max_size=3),
        st.one_of(
            st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False),
            st.sampled_from([0.0, 1.0, 2.0, 0.5, 1e-300, 5e-324, 1e15]),
        ),
        min_size=1,
        max_size=8,
    ),
    seats=st.integers(0, 40),
)
def test_webster_integer_scaling_equals_exact_fractions(weights, seats):
    """Scaling dyadic float weights to integers keeps comparisons exact, subnormals included."""
    if seats > 0 and not any(weights.values()):
        return
    assert webster(weights, seats) == _webster_by_fractions(weights, seats)


def test_webster_rejects_bad_weights():
    with pytest.raises(InvalidInput):
        webster({"a": -1.0}, 2)
    with pytest.raises(InvalidInput):
        webster({"a": 0.0}, 2)


# -------------------------------------------------------------------------------- baselines
def test_baselines_respect_bounds():
    applicants = [
        app(1, (5.0,) * 3, created_at="2021-01-02"),
        app(2, (1.0,) * 3, created_at="2021-01-01"),
        app(3, (9.0,) * 2, departement="02", epci=None),
    ]
    deps = (Territory("01", 3000.0, 0), Territory("02", 1000.0, 0))
    ri = round_of(applicants, quota=4, departements=deps)
    # 2 filed first, then 1; 3 has no filing time: served last (nothing left)
    assert first_come_first_served(ri) == {1: 1, 2: 3, 3: 0}
    split = need_proportional(ri)
    assert sum(split.values()) == 4 and split[3] == 1 and split[1] > split[2]
