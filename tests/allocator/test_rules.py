"""Per rule family: a feasible, a binding and an infeasible case."""

from __future__ import annotations

import dataclasses

import pytest

from allocator import (
    ACCORDE,
    AVIS_PREFET_NEGATIF,
    BUDGET_EPUISE,
    DEMANDE_SATISFAITE,
    ENVELOPPE_NATIONALE_EPUISEE,
    PART_DEPARTEMENT_ATTEINTE,
    PLAFOND_STRUCTURE,
    PRIORITE_INSUFFISANTE,
    QUOTA_EPUISE,
    SCORE_INSUFFISANT,
    TYPE_NON_ELIGIBLE,
    VERROUILLE,
    AvisPrefet,
    RoundPolicy,
    SolverConfig,
    Status,
    StructureType,
    Territory,
    allocate,
    check_feasible,
)
from tests.allocator.helpers import app, grants, round_of

#: Access only: results are then easy to check by hand.
ACCESS_ONLY = RoundPolicy(weight_distribution=0.0, weight_balance=0.0)


def solve(round_input, policy=ACCESS_ONLY, config=SolverConfig()):
    result = allocate(round_input, policy, config)
    assert check_feasible(round_input, policy, result) == []
    return result


def motifs_of(result, id_pg):
    return next(d.explanation.motifs for d in result.decisions if d.id_pg == id_pg)


# ----------------------------------------------------------------------------------- quota
def test_quota_feasible_everything_granted():
    r = solve(round_of([app(1, (5.0, 4.0)), app(2, (3.0,))], quota=5))
    assert r.status is Status.OPTIMAL and grants(r) == {1: 2, 2: 1}
    assert motifs_of(r, 1) == (ACCORDE, DEMANDE_SATISFAITE)
    assert r.report.to_dict()["binding"]["quota"] is False


def test_quota_binding_grants_highest_priorities():
    r = solve(round_of([app(1, (5.0, 4.0, 1.0)), app(2, (3.0, 2.0))], quota=3))
    assert grants(r) == {1: 2, 2: 1}
    assert motifs_of(r, 1) == (ACCORDE, QUOTA_EPUISE, PRIORITE_INSUFFISANTE)
    assert r.report.to_dict()["binding"]["quota"] is True
    assert r.decisions[0].explanation.cutoff == 3.0 * 0.5  # quality 50 -> factor 0.5


def test_quota_infeasible_locks_named_with_numbers():
    r = solve(
        round_of(
            [app(12, (1.0,) * 3, locked=3), app(17, (1.0,) * 2, locked=2), app(20, (9.0,))], quota=4
        )
    )
    assert r.status is Status.INFEASIBLE and r.decisions == ()
    assert "verrous structures 12 (3) + 17 (2) = 5 > quota 4" in r.conflicts


def test_quota_infeasible_conflict_is_minimal():
    applicants = [app(1, (1.0,) * 5, locked=5), app(2, (1.0,), locked=1), app(3, (1.0,), locked=1)]
    r = solve(round_of(applicants, quota=4))
    assert r.conflicts == ("verrou structure 1 (5) = 5 > quota 4",)


# -------------------------------------------------------------------------------- envelope
def test_envelope_feasible():
    r = solve(round_of([app(1, (1.0,) * 5)], quota=5, programme_consumed=3990))
    assert sum(grants(r).values()) == 5


def test_envelope_binding_before_quota():
    r = solve(round_of([app(1, (1.0,) * 5)], quota=5, programme_consumed=3998))
    assert grants(r) == {1: 2}
    assert r.report.effective_quota == 2 and r.report.binding.envelope is True
    assert motifs_of(r, 1) == (ACCORDE, ENVELOPPE_NATIONALE_EPUISEE, PRIORITE_INSUFFISANTE)


def test_envelope_infeasible():
    r = solve(round_of([app(1, (1.0,) * 3, locked=3)], quota=5, programme_consumed=3998))
    assert r.conflicts == (
        "verrou structure 1 (3) = 3 > enveloppe nationale restante 2 (4000 − 3998 consommés)",
    )


# ---------------------------------------------------------------------------------- budget
def test_budget_feasible():
    policy = dataclasses.replace(ACCESS_ONLY, budget_eur=1_000_000.0)
    r = solve(round_of([app(1, (1.0,) * 3)], quota=5), policy)
    assert grants(r) == {1: 3} and r.status is Status.OPTIMAL


def test_budget_binding_equal_costs_stays_laminar_and_optimal():
    policy = dataclasses.replace(ACCESS_ONLY, budget_eur=100_000.0)
    r = solve(round_of([app(1, (3.0, 2.0)), app(2, (1.0, 1.0))], quota=5), policy)
    assert grants(r) == {1: 2, 2: 0}
    assert r.status is Status.OPTIMAL and r.report.to_dict()["laminar"] is True
    assert motifs_of(r, 2) == (BUDGET_EPUISE, PRIORITE_INSUFFISANTE)


def _knapsack_round():
    return round_of(
        [app(1, (100.0,), cost_eur=70_000.0), app(2, (60.0,)), app(3, (60.0,))], quota=5
    )


def test_budget_knapsack_monotone_reports_price_of_monotonicity():
    policy = dataclasses.replace(ACCESS_ONLY, budget_eur=100_000.0)
    r = solve(_knapsack_round(), policy)
    assert grants(r) == {1: 1, 2: 0, 3: 0}
    assert r.status is Status.FEASIBLE and r.report.to_dict()["laminar"] is False
    assert r.objective == 50.0 and r.best_bound == 60.0
    assert r.gap == pytest.approx(10.0 / 60.0)
    assert r.report.to_dict()["price_of_monotonicity"] == 10.0
    assert motifs_of(r, 2) == (BUDGET_EPUISE,)


@pytest.mark.parametrize("backend", ["scip", "cp_sat"])
def test_budget_knapsack_optimal_mode_returns_the_mip_solution(backend):
    policy = dataclasses.replace(ACCESS_ONLY, budget_eur=100_000.0, mode="optimal")
    r = solve(_knapsack_round(), policy, SolverConfig(backend=backend))
    assert grants(r) == {1: 0, 2: 1, 3: 1}
    assert r.status is Status.OPTIMAL and r.objective == 60.0 and r.gap == 0.0
    assert r.solver.backend == backend
    assert (
        r.decisions[0].explanation.granted_ranks == () and r.decisions[0].explanation.cutoff is None
    )


def test_budget_infeasible():
    policy = dataclasses.replace(ACCESS_ONLY, budget_eur=100_000.0)
    r = solve(round_of([app(1, (1.0,) * 3, locked=3)], quota=5), policy)
    assert r.conflicts == ("verrou structure 1 (3 × 50000 €) = 150000 € > budget restant 100000 €",)


# ---------------------------------------------------------------------- département caps
CAPPED = dataclasses.replace(ACCESS_ONLY, departement_cap="part_equitable")


def _two_departements(share_01: int, existing_01: int = 1):
    return (Territory("01", 1000.0, existing_01, share_01), Territory("02", 1000.0, 0, 100))


def test_departement_cap_feasible():
    ri = round_of(
        [app(1, (9.0,) * 3), app(2, (1.0,), departement="02")],
        quota=4,
        departements=_two_departements(10),
    )
    assert grants(solve(ri, CAPPED)) == {1: 3, 2: 1}


def test_departement_cap_binding():
    ri = round_of(
        [app(1, (9.0,) * 5), app(2, (1.0,), departement="02")],
        quota=10,
        departements=_two_departements(3),
    )
    r = solve(ri, CAPPED)
    assert grants(r) == {1: 2, 2: 1}
    assert motifs_of(r, 1) == (ACCORDE, PART_DEPARTEMENT_ATTEINTE)
    assert r.report.to_dict()["binding"]["departement_caps"] == ["01"]


def test_binding_constraints_name_departement_caps_that_stopped_the_round():
    ri = round_of(
        [app(1, (9.0,) * 5), app(2, (1.0,), departement="02")],
        quota=10,
        departements=_two_departements(3),
    )
    assert solve(ri, CAPPED).report.to_dict()["binding_constraints"] == ["departement_caps"]
    # the quota stops the round first (01 is at its cap too): the quota is what binds
    report = solve(dataclasses.replace(ri, quota=2), CAPPED).report.to_dict()
    assert report["binding_constraints"] == ["quota"]
    # a département at its cap without any open post stopped nothing
    done = round_of(
        [app(1, (9.0,) * 2), app(2, (1.0,), departement="02")],
        quota=10,
        departements=_two_departements(3),
    )
    assert solve(done, CAPPED).report.to_dict()["binding_constraints"] == []
    # the budget stops 02 while the cap stops 01: both are named
    budgeted = dataclasses.replace(CAPPED, budget_eur=150_000.0)
    ri = round_of(
        [app(1, (9.0,) * 5), app(2, (1.0,) * 3, departement="02")],
        quota=10,
        departements=_two_departements(3),
    )
    report = solve(ri, budgeted).report.to_dict()
    assert report["binding_constraints"] == ["budget", "departement_caps"]


def test_departement_cap_infeasible():
    ri = round_of([app(1, (9.0,) * 5, locked=3)], quota=10, departements=_two_departements(3)[:1])
    r = solve(ri, CAPPED)
    assert r.conflicts == (
        "verrou structure 1 (3) = 3 > part restante du département 01 2 "
        "(part équitable 3 − 1 existants)",
    )


def test_departement_fair_share_computed_by_webster_when_absent():
    deps = (Territory("01", 3000.0, 0), Territory("02", 1000.0, 0))
    ri = round_of(
        [app(1, (9.0,) * 5), app(2, (1.0,) * 5, departement="02")], quota=5, departements=deps
    )
    r = solve(ri, dataclasses.replace(CAPPED, national_envelope=4))
    assert r.report.to_dict()["fair_shares"] == {"01": 3, "02": 1}
    assert grants(r) == {1: 3, 2: 1}


# ---------------------------------------------------------------------------- eligibility
def test_type_not_eligible_gets_nothing():
    ri = round_of([app(1, (9.0,), type=StructureType.PRIVATE), app(2, (1.0,))], quota=2)
    r = solve(ri)
    assert grants(r) == {1: 0, 2: 1}
    assert motifs_of(r, 1) == (TYPE_NON_ELIGIBLE,)
    assert r.decisions[0].explanation.details.to_dict()["counterfactual"]["min_quality"] is None


def test_type_eligible_when_policy_allows():
    policy = dataclasses.replace(
        ACCESS_ONLY, eligible_types=(*ACCESS_ONLY.eligible_types, StructureType.PRIVATE)
    )
    assert grants(
        solve(round_of([app(1, (9.0,), type=StructureType.PRIVATE)], quota=1), policy)
    ) == {1: 1}


def test_type_infeasible_lock():
    r = solve(round_of([app(1, (9.0,), type=StructureType.PRIVATE, locked=1)], quota=2))
    assert r.conflicts == ("verrou structure 1 (1) : type PRIVATE non éligible",)


# ---------------------------------------------------------------------------------- préfet
def test_prefet_negatif_excluded_and_missing_opinion_neutral():
    ri = round_of(
        [
            app(1, (9.0,), avis_prefet=AvisPrefet.NEGATIF),
            app(2, (1.0,)),
            app(3, (1.0,), avis_prefet=AvisPrefet.POSITIF),
        ],
        quota=3,
    )
    r = solve(ri)
    assert grants(r) == {1: 0, 2: 1, 3: 1}
    assert motifs_of(r, 1) == (AVIS_PREFET_NEGATIF,)


def test_prefet_negatif_penalised_loses_its_lead():
    policy = dataclasses.replace(ACCESS_ONLY, prefet_negatif="penaliser", prefet_penalty=0.5)
    ri = round_of([app(1, (100.0,), avis_prefet=AvisPrefet.NEGATIF), app(2, (60.0,))], quota=1)
    r = solve(ri, policy)
    assert grants(r) == {1: 0, 2: 1}
    assert r.decisions[0].explanation.priorities == (25.0,)  # 100 × 0.5 (quality) × 0.5 (préfet)
    assert r.decisions[0].explanation.details.to_dict()["quality_factor"] == 0.25


def test_prefet_infeasible_lock():
    r = solve(round_of([app(1, (9.0,), avis_prefet=AvisPrefet.NEGATIF, locked=1)], quota=2))
    assert r.conflicts == (
        "verrou structure 1 (1) : avis du préfet NÉGATIF (politique « exclure »)",
    )


# ------------------------------------------------------------------------------- min score
def test_min_score_excludes_and_counterfactual_is_the_threshold():
    ri = round_of([app(1, (9.0,), quality=30.0), app(2, (1.0,))], quota=2)
    r = solve(ri)
    assert grants(r) == {1: 0, 2: 1}
    assert motifs_of(r, 1) == (SCORE_INSUFFISANT,)
    cf = r.decisions[0].explanation.details.to_dict()["counterfactual"]
    assert cf == {
        "min_quality": 40.0,
        "verified": True,
        "larger_request_would_help": None,
        "nested": True,
    }


def test_min_score_binding_counterfactual_beats_the_cutoff():
    ri = round_of([app(1, (10.0,), quality=50.0), app(2, (8.0,), quality=50.0)], quota=1)
    r = solve(ri)
    assert grants(r) == {1: 1, 2: 0}
    cf = r.decisions[1].explanation.details.to_dict()["counterfactual"]
    # 8 × q > 10 × 0.5  <=>  q > 62.5: the smallest score on the 0.01 grid is 62.51
    assert cf["min_quality"] == 62.51 and cf["verified"] is True
    assert r.decisions[0].explanation.details.counterfactual.larger_request_would_help is False


def test_min_score_infeasible_lock():
    r = solve(round_of([app(1, (9.0,), quality=30.0, locked=1)], quota=2))
    assert r.conflicts == ("verrou structure 1 (1) : score qualité 30 < minimum 40",)


# ----------------------------------------------------------------------------------- locks
def test_lock_forces_a_low_priority_applicant():
    ri = round_of([app(1, (9.0, 9.0)), app(2, (1.0, 1.0), locked=2)], quota=3)
    r = solve(ri)
    assert grants(r) == {1: 1, 2: 2}
    assert motifs_of(r, 2) == (ACCORDE, DEMANDE_SATISFAITE, VERROUILLE)
    assert r.decisions[1].explanation.granted_ranks == ()
    assert r.decisions[0].explanation.granted_ranks == (1,)


def test_lock_zero_blocks_a_high_priority_applicant():
    r = solve(round_of([app(1, (9.0,), locked=0), app(2, (1.0,))], quota=3))
    assert grants(r) == {1: 0, 2: 1}
    assert motifs_of(r, 1) == (VERROUILLE,)


def test_lock_above_remaining_request_is_infeasible():
    r = solve(round_of([app(1, (9.0,), already_granted=2, requested=3, locked=2)], quota=3))
    assert r.conflicts == (
        "verrou structure 1 (2) > demande restante 1 (3 demandés − 2 déjà attribués)",
    )


# ------------------------------------------------------------------------- already granted
def test_already_granted_limits_the_round_and_is_kept():
    r = solve(round_of([app(1, (5.0,), already_granted=2)], quota=3))
    d = r.decisions[0]
    assert (d.granted, d.total) == (1, 3)
    assert DEMANDE_SATISFAITE in d.explanation.motifs


def test_already_fully_granted_gets_nothing_more():
    r = solve(round_of([app(1, (), already_granted=3, requested=3), app(2, (1.0,))], quota=3))
    assert grants(r) == {1: 0, 2: 1}
    assert r.decisions[0].total == 3 and motifs_of(r, 1) == (DEMANDE_SATISFAITE,)


def test_validator_flags_a_withdrawal():
    ri = round_of([app(1, (5.0,), already_granted=2)], quota=3)
    r = allocate(ri, ACCESS_ONLY)
    bad = dataclasses.replace(r.decisions[0], granted=-1, total=1)
    rules = {
        v.rule for v in check_feasible(ri, ACCESS_ONLY, dataclasses.replace(r, decisions=(bad,)))
    }
    assert "deja_attribues" in rules


# --------------------------------------------------------------------------- structure cap
def test_structure_cap_binding():
    policy = dataclasses.replace(ACCESS_ONLY, max_posts_per_structure=2)
    r = solve(round_of([app(1, (5.0,) * 4)], quota=4), policy)
    assert grants(r) == {1: 2}
    assert motifs_of(r, 1) == (ACCORDE, PLAFOND_STRUCTURE)


def test_structure_cap_counts_already_granted():
    policy = dataclasses.replace(ACCESS_ONLY, max_posts_per_structure=2)
    r = solve(round_of([app(1, (5.0,) * 2, already_granted=2)], quota=4), policy)
    assert grants(r) == {1: 0}


def test_structure_cap_infeasible_lock():
    policy = dataclasses.replace(ACCESS_ONLY, max_posts_per_structure=2)
    r = solve(round_of([app(1, (5.0,) * 3, already_granted=1, locked=2)], quota=4), policy)
    assert r.conflicts == (
        "verrou structure 1 (2) + 1 déjà attribués = 3 > plafond par structure 2",
    )


# ------------------------------------------------------------------------- quota edge case
def test_zero_quota_is_an_answer_not_a_failure():
    r = solve(round_of([app(1, (5.0,))], quota=0))
    assert r.status is Status.OPTIMAL and grants(r) == {1: 0}
    assert motifs_of(r, 1) == (QUOTA_EPUISE, PRIORITE_INSUFFISANTE)
