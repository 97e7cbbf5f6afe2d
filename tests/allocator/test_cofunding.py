"""Host co-funding: State cost vs standard cost, budget vs quota binding, the priority switch."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocator import (
    BUDGET_EPUISE,
    Applicant,
    InvalidInput,
    RoundInput,
    RoundPolicy,
    SolverConfig,
    Status,
    allocate,
    canonical_input,
    check_feasible,
)
from allocator.model import COFUNDING_PRIORITY_CAP, build_model, cofunding_factor
from tests.allocator.helpers import app, grants, round_of, rounds

SCALE = int(os.environ.get("ALLOCATOR_HYPOTHESIS_SCALE", "1"))
#: Access only: results are easy to check by hand.
ACCESS_ONLY = RoundPolicy(weight_distribution=0.0, weight_balance=0.0)
PRIORITAIRE = dataclasses.replace(ACCESS_ONLY, cofunding_priority="prioritaire")


def examples(n: int) -> settings:
    return settings(
        deadline=None, max_examples=n * SCALE, suppress_health_check=[HealthCheck.too_slow]
    )


def solve(round_input: RoundInput, policy: RoundPolicy = ACCESS_ONLY, config=SolverConfig()):
    result = allocate(round_input, policy, config)
    assert check_feasible(round_input, policy, result) == []
    return result


def cofunded(a: Applicant, share: float) -> Applicant:
    """``a`` with a co-funding of ``share`` of its standard cost (its current ``cost_eur``)."""
    if share <= 0:
        return a
    standard = a.cost_eur
    return dataclasses.replace(
        a, standard_cost_eur=standard, cost_eur=round(standard * (1 - share), 2)
    )


# ------------------------------------------------------------------- which constraint binds
def test_quota_binds_when_the_budget_is_ample():
    policy = dataclasses.replace(ACCESS_ONLY, budget_eur=1_000_000.0)
    r = solve(round_of([app(1, (3.0, 2.0)), app(2, (1.0,))], quota=2), policy)
    assert grants(r) == {1: 2, 2: 0}
    assert r.report.to_dict()["binding_constraints"] == ["quota"]
    assert r.report.to_dict()["money"] == {
        "posts": 2,
        "state_cost_eur": 100_000.0,
        "standard_cost_eur": 100_000.0,
        "cofunding_eur": 0.0,
    }


def test_budget_binds_with_equal_costs_and_cofunding_moves_it_to_the_quota():
    applicants = [app(1, (3.0, 2.0)), app(2, (1.0, 1.0))]
    policy = dataclasses.replace(ACCESS_ONLY, budget_eur=100_000.0)
    r = solve(round_of(applicants, quota=3), policy)
    assert grants(r) == {1: 2, 2: 0}
    report = r.report.to_dict()
    assert report["binding_constraints"] == ["budget"] and report["limits"] == ["budget"]
    assert r.status is Status.OPTIMAL and r.report.to_dict()["laminar"] is True
    # Every host pays half: the same budget now pays for 4 posts, so the quota (3) binds.
    half = [cofunded(a, 0.5) for a in applicants]
    r2 = solve(round_of(half, quota=3), policy)
    assert grants(r2) == {1: 2, 2: 1}
    assert r2.report.to_dict()["binding_constraints"] == ["quota"]
    money = r2.report.to_dict()["money"]
    assert money == {
        "posts": 3,
        "state_cost_eur": 75_000.0,
        "standard_cost_eur": 150_000.0,
        "cofunding_eur": 75_000.0,
    }
    assert money["state_cost_eur"] + money["cofunding_eur"] == money["standard_cost_eur"]


def test_both_bind_and_demand_exhausted_binds_nothing():
    policy = dataclasses.replace(ACCESS_ONLY, budget_eur=100_000.0)
    r = solve(round_of([app(1, (3.0, 2.0, 1.0))], quota=2), policy)
    assert r.report.to_dict()["binding_constraints"] == ["quota", "budget"]
    r = solve(round_of([app(1, (3.0,))], quota=5), policy)
    assert r.report.to_dict()["binding_constraints"] == []


def _knapsack_round(share_of_first: float = 0.0) -> RoundInput:
    first = app(1, (100.0,), cost_eur=70_000.0, departement="971", epci=None)
    return round_of([cofunded(first, share_of_first), app(2, (60.0,)), app(3, (60.0,))], quota=5)


def test_knapsack_reports_guarantees_lost_and_their_price():
    policy = dataclasses.replace(ACCESS_ONLY, budget_eur=100_000.0)
    r = solve(_knapsack_round(), policy)
    assert grants(r) == {1: 1, 2: 0, 3: 0}
    assert r.status is Status.FEASIBLE and r.report.to_dict()["laminar"] is False
    assert r.report.to_dict()["binding_constraints"] == ["budget"]
    g = r.report.to_dict()["guarantees"]
    assert set(g["lost"]) == {"optimal", "budget_monotone", "priority_list"}
    assert {"house_monotone", "cofunding_neutral", "deterministic"} <= set(g["kept"])
    price = g["prices"]["optimal_vs_monotone"]
    assert price["objective"] == r.report.to_dict()["price_of_monotonicity"] == 10.0
    assert price["relative"] == pytest.approx(10.0 / 60.0)
    assert price["monotone"]["posts"] == 1 and price["monotone"]["state_cost_eur"] == 70_000.0
    assert price["optimum"]["posts"] == 2 and price["optimum"]["state_cost_eur"] == 100_000.0
    assert r.decisions[1].explanation.motifs == (BUDGET_EPUISE,)


def test_knapsack_optimal_mode_trades_monotonicity_for_optimality():
    policy = dataclasses.replace(ACCESS_ONLY, budget_eur=100_000.0, mode="optimal")
    r = solve(_knapsack_round(), policy)
    assert grants(r) == {1: 0, 2: 1, 3: 1} and r.status is Status.OPTIMAL
    g = r.report.to_dict()["guarantees"]
    assert "optimal" in g["kept"]
    assert {"house_monotone", "priority_list", "budget_monotone"} <= set(g["lost"])
    assert g["prices"]["optimal_vs_monotone"]["objective"] == 10.0


def test_cofunding_that_equalises_costs_restores_the_laminar_structure():
    """The 971 host pays 20,000 EUR a post: all posts cost the State 50,000 EUR again."""
    policy = dataclasses.replace(ACCESS_ONLY, budget_eur=100_000.0)
    r = solve(_knapsack_round(20_000 / 70_000), policy)
    assert r.report.to_dict()["laminar"] is True and r.status is Status.OPTIMAL
    assert grants(r) == {1: 1, 2: 1, 3: 0}
    assert r.report.to_dict()["guarantees"]["lost"] == []
    cost = r.decisions[0].explanation.details.to_dict()["cost"]
    assert cost == {"state_eur": 50_000.0, "standard_eur": 70_000.0, "cofunding_eur": 20_000.0}


def test_fully_cofunded_posts_do_not_use_the_budget():
    policy = dataclasses.replace(ACCESS_ONLY, budget_eur=0.0)
    r = solve(round_of([cofunded(app(1, (1.0, 1.0)), 1.0), app(2, (5.0,))], quota=5), policy)
    assert grants(r) == {1: 2, 2: 0}
    assert r.report.to_dict()["money"]["state_cost_eur"] == 0.0
    assert r.report.to_dict()["money"]["cofunding_eur"] == 100_000.0
    assert r.report.to_dict()["binding_constraints"] == ["budget"]


# ---------------------------------------------------------------- neutral: need first
def _with_cofunding(draw: st.DrawFn, round_input: RoundInput) -> RoundInput:
    shares = st.sampled_from([0.0, 0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
    return dataclasses.replace(
        round_input,
        applicants=tuple(cofunded(a, draw(shares)) for a in round_input.applicants),
    )


@examples(60)
@given(st.data(), rounds(budget=False), st.booleans())
def test_neutral_cofunding_changes_nothing_when_only_the_quota_binds(data, case, ample_budget):
    """Under "neutre", without a binding budget, co-funding leaves every grant unchanged."""
    round_input, policy = case
    if ample_budget:  # a budget that pays every requested post at the standard cost
        total = sum(a.cost_eur * a.requested for a in round_input.applicants)
        policy = dataclasses.replace(policy, budget_eur=total + 1.0)
    with_cof = _with_cofunding(data.draw, round_input)
    plain = allocate(round_input, policy)
    other = allocate(with_cof, policy)
    assert check_feasible(with_cof, policy, other) == []
    assert other.status is plain.status
    if plain.status is Status.INFEASIBLE:
        return
    assert grants(other) == grants(plain)
    assert [d.explanation.priorities for d in other.decisions] == [
        d.explanation.priorities for d in plain.decisions
    ]
    assert "budget" not in other.report.to_dict()["binding_constraints"]
    money = other.report.to_dict()["money"]
    assert money["state_cost_eur"] + money["cofunding_eur"] == pytest.approx(
        money["standard_cost_eur"]
    )
    plain_money = plain.report.to_dict()["money"]
    assert money["standard_cost_eur"] == pytest.approx(plain_money["state_cost_eur"])


@examples(30)
@given(st.data(), rounds(budget=False, locks=False))
def test_prioritaire_stays_house_monotone_and_certified(data, case):
    """φ_i scales only the applicant's own concave term: nested greedy, OR-Tools certificate."""
    round_input, policy = case
    policy = dataclasses.replace(policy, cofunding_priority="prioritaire")
    round_input = _with_cofunding(data.draw, round_input)
    small = allocate(round_input, policy)
    big = allocate(dataclasses.replace(round_input, quota=round_input.quota + 1), policy)
    assert small.status is Status.OPTIMAL and big.status is Status.OPTIMAL
    for a, b in zip(small.decisions, big.decisions, strict=True):
        assert b.granted >= a.granted


@examples(40)
@given(st.data(), rounds(budget=True, locks=False), st.booleans())
def test_knapsack_greedy_keeps_house_monotonicity(data, case, prioritaire):
    """The guarantee the report keeps under a binding budget: a larger quota removes nothing."""
    round_input, policy = case
    if prioritaire:
        policy = dataclasses.replace(policy, cofunding_priority="prioritaire")
    round_input = _with_cofunding(data.draw, round_input)
    small = allocate(round_input, policy)
    big = allocate(dataclasses.replace(round_input, quota=round_input.quota + 1), policy)
    assert "house_monotone" in small.report.to_dict()["guarantees"]["kept"]
    for a, b in zip(small.decisions, big.decisions, strict=True):
        assert b.granted >= a.granted
    money = small.report.to_dict()["money"]
    assert money["state_cost_eur"] <= policy.budget_eur
    assert money["state_cost_eur"] + money["cofunding_eur"] == pytest.approx(
        money["standard_cost_eur"]
    )


# ------------------------------------------------------------ prioritaire: cheaper first
def test_cofunding_factor_formula():
    policy = RoundPolicy(cofunding_priority="prioritaire")
    base = app(1, (1.0,))
    assert cofunding_factor(base, policy) == 1.0
    assert cofunding_factor(cofunded(base, 0.2), policy) == pytest.approx(1.25)
    assert cofunding_factor(cofunded(base, 0.5), policy) == COFUNDING_PRIORITY_CAP == 2.0
    assert cofunding_factor(cofunded(base, 0.75), policy) == COFUNDING_PRIORITY_CAP
    assert cofunding_factor(cofunded(base, 1.0), policy) == COFUNDING_PRIORITY_CAP
    assert cofunding_factor(cofunded(base, 0.5), RoundPolicy()) == 1.0


def _twins(share: float) -> RoundInput:
    """Two identical hosts in two départements; the later one (tie-break loser) co-funds."""
    first = app(1, (80.0, 40.0), departement="01", created_at="2021-03-01")
    second = app(2, (80.0, 40.0), departement="02", created_at="2021-03-02")
    return round_of([first, cofunded(second, share)], quota=1)


def test_prioritaire_ranks_the_cofunded_post_higher():
    neutral = solve(_twins(0.25))
    assert grants(neutral) == {1: 1, 2: 0}  # tie: the earlier application
    prio = solve(_twins(0.25), PRIORITAIRE)
    assert grants(prio) == {1: 0, 2: 1}
    p1 = prio.decisions[0].explanation.priorities
    p2 = prio.decisions[1].explanation.priorities
    assert p2[0] == pytest.approx(p1[0] * 4 / 3)  # φ = 50,000 / 37,500
    assert prio.decisions[1].explanation.details.cofunding_factor == pytest.approx(4 / 3)
    g = prio.report.to_dict()["guarantees"]
    assert "cofunding_neutral" in g["lost"]
    assert {"optimal", "house_monotone", "priority_list"} <= set(g["kept"])
    price = g["prices"]["cofunding_neutral"]
    assert price["posts_moved"] == 1 and price["objective"] == 0.0  # a tie in need terms
    assert price["neutral"]["cofunding_eur"] == 0.0
    assert prio.report.to_dict()["cofunding"] == {
        "priority": "prioritaire",
        "priority_cap": COFUNDING_PRIORITY_CAP,
        "cofunded_applicants": 1,
    }


def test_prioritaire_price_in_need_terms():
    """A co-funded host with less need passes a needier one: the price is the need lost."""
    needy = app(1, (100.0,), departement="01")
    rich = cofunded(app(2, (60.0,), departement="02"), 0.5)
    r = solve(round_of([needy, rich], quota=1), PRIORITAIRE)
    assert grants(r) == {1: 0, 2: 1}  # 60 × 2 > 100
    price = r.report.to_dict()["guarantees"]["prices"]["cofunding_neutral"]
    assert price["objective"] == pytest.approx((100.0 - 60.0) * 0.5)  # quality factor 0.5


def test_prioritaire_without_cofunding_is_neutral():
    r = solve(_twins(0.0), PRIORITAIRE)
    assert grants(r) == {1: 1, 2: 0}
    assert "cofunding_neutral" in r.report.to_dict()["guarantees"]["kept"]


def test_prioritaire_counterfactual_score_accounts_for_the_factor():
    r = solve(_twins(0.25), PRIORITAIRE)
    cf = r.decisions[0].explanation.details.to_dict()["counterfactual"]
    # applicant 1 needs q·80 > (4/3)·0.5·80 → q > 2/3 → score 66.67 (verified by a re-run)
    assert cf["min_quality"] == pytest.approx(66.67) and cf["verified"] is True


# ------------------------------------------------------------------- inputs and hashes
def test_invalid_cofunding_inputs():
    with pytest.raises(InvalidInput, match="cofunding_priority"):
        allocate(round_of([app(1)], quota=1), RoundPolicy(cofunding_priority="riches"))
    with pytest.raises(InvalidInput, match="standard_cost_eur"):
        allocate(round_of([app(1, standard_cost_eur=40_000.0)], quota=1))
    with pytest.raises(InvalidInput, match="cost_eur"):
        allocate(round_of([app(1, cost_eur=0.0)], quota=1))
    with pytest.raises(InvalidInput, match="cost_eur"):
        allocate(round_of([app(1, cost_eur=-1.0)], quota=1))


def test_canonical_input_keeps_earlier_hashes():
    """New fields enter the hash only when set: rounds solved before keep their entreeSha256."""
    plain = json.loads(canonical_input(round_of([app(1)], quota=1)))
    assert "standard_cost_eur" not in plain["round"]["applicants"][0]
    assert "cofunding_priority" not in plain["policy"]
    both = json.loads(
        canonical_input(
            round_of([cofunded(app(1), 0.5)], quota=1),
            RoundPolicy(cofunding_priority="prioritaire"),
        )
    )
    assert both["round"]["applicants"][0]["standard_cost_eur"] == 50_000.0
    assert both["policy"]["cofunding_priority"] == "prioritaire"


def test_model_keeps_standard_and_state_costs():
    m = build_model(round_of([cofunded(app(1), 0.3), app(2)], quota=1), PRIORITAIRE)
    assert m.cost_cents == (3_500_000, 5_000_000)
    assert m.standard_cents == (5_000_000, 5_000_000)
    assert m.cofunding[0] == pytest.approx(50 / 35) and m.cofunding[1] == 1.0
