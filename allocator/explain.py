"""Per-applicant explanations: motifs, priorities, ranks, cut-off and a verified counterfactual.

Priorities
----------
Every potential post (applicant ``i``, its k-th post of the round) has a priority: the marginal
gain ``h_i'(k) + G_e'(X_e) + G_d'(X_d)`` it adds. Granted posts show the priority *at grant
time* (the greedy grants posts by decreasing priority, so these are the national ranking);
posts not granted show it *at the final state* (what the post would add as the next one of its
groups). Locked posts are not ranked; they show the final-state value, for information. The
round's *cut-off* is the priority of the last post granted (the lowest granted).

Counterfactual score
--------------------
``h_i`` is linear in the quality factor, so the smallest score giving one more post has a closed
form: by M♮-concavity the greedy's allocation ``x`` stops being optimal exactly when a single
move ``x + e_i`` or ``x + e_i − e_j`` becomes strictly improving, and then *every* optimum gives
``i`` more posts. For each ``j`` the move's gain is ``h_i'(x_i)(s) − T_j`` with ``T_j`` the loss
of ``j``'s last post net of the group terms the move changes (same EPCI-part: groups cancel; same
département: the EPCI terms; otherwise both levels). The smallest score on a 0.01 grid with
``h_i'(x_i)(s) > min_j T_j`` (and ``s ≥ min_quality``) is then verified by re-running the greedy
with that score (``SolverConfig.counterfactual_reruns`` of them, closest to their current score
first). A larger request is judged the same way, assuming the extra post would gain as much as the
last requested one (an optimistic estimate: gains are non-increasing). An exact tie at 100 is
decided by one re-run (the published order may favour the applicant there).

The closed form holds for the greedy of the laminar model only (``details.counterfactual.nested``).
Off it — a binding budget with unequal costs (knapsack), or an applicant whose new score or
request would change how the budget enters the round — nothing is stated as exact: on the
knapsack path a score is given only when a greedy re-run with it verifies one more post (a
winning score above the current one, not a threshold; mode "monotone" only, a bounded number of
re-runs), and a larger request is not judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from allocator import motifs
from allocator.counterfactual import (
    knapsack_scores,
    same_round_with,
    tie_at_max_score,
    verified_score,
)
from allocator.domain import Explanation, SolverConfig
from allocator.exchange import (
    SCORE_GRID,
    ExchangeIndex,
    Holders,
    Move,
    holders,
    min_score,
    one_more,
    priority_at,
)
from allocator.greedy import GreedyOutcome
from allocator.model import SCALE, Model, counts, quality_factor
from allocator.results import (
    CostDetails,
    CounterfactualDetails,
    DecisionDetails,
    DepartementDetails,
    EpciDetails,
    NextPost,
)

_LIMIT_MOTIF = {
    "quota": motifs.QUOTA_EPUISE,
    "envelope": motifs.ENVELOPPE_NATIONALE_EPUISEE,
    "budget": motifs.BUDGET_EPUISE,
}
_HARD_INELIGIBLE = frozenset({motifs.TYPE_NON_ELIGIBLE, motifs.AVIS_PREFET_NEGATIF})


def _limit_motifs(
    m: Model,
    i: int,
    free_granted: int,
    dcount: list[int],
    outcome: GreedyOutcome | None,
    budget_left: int | None,
) -> list[str]:
    """Why the applicant's next post was not granted (one limit, plus lost ranking if shared)."""
    d = m.app_dept[i]
    cap = m.dept_cap[d]
    if cap is not None and dcount[d] >= cap:
        return [motifs.PART_DEPARTEMENT_ATTEINTE]
    if outcome is not None and outcome.skipped_budget[i]:
        return [motifs.BUDGET_EPUISE]
    if free_granted >= m.free_quota and m.limits:
        return [_LIMIT_MOTIF[m.limits[0]], motifs.PRIORITE_INSUFFISANTE]
    if budget_left is not None and budget_left < m.cost_cents[i]:
        return [motifs.BUDGET_EPUISE]
    return [motifs.PRIORITE_INSUFFISANTE]


@dataclass(frozen=True, slots=True)
class _RoundState:
    """The final state of the round, shared by every explanation: posts per EPCI-part and per
    département, free posts granted, quota and budget (cents) left after them."""

    gcount: list[int]
    dcount: list[int]
    free_granted: int
    quota_left: int
    budget_left: int | None


def _round_state(m: Model, x: tuple[int, ...]) -> _RoundState:
    gcount, dcount = counts(m, x)
    free_granted = sum(v for j, v in enumerate(x) if m.lock[j] is None)
    spent = sum(m.cost_cents[j] * v for j, v in enumerate(x) if m.lock[j] is None)
    return _RoundState(
        gcount=gcount,
        dcount=dcount,
        free_granted=free_granted,
        quota_left=max(0, m.free_quota - free_granted),
        budget_left=None if m.budget_free_cents is None else m.budget_free_cents - spent,
    )


def _ranks(
    m: Model, outcome: GreedyOutcome | None
) -> tuple[list[list[int]], list[list[int]], float | None]:
    """National rank and priority at grant time of each granted post; the round's cut-off."""
    ranks: list[list[int]] = [[] for _ in range(m.n)]
    at_grant: list[list[int]] = [[] for _ in range(m.n)]
    cutoff: float | None = None
    if outcome is not None:
        for rank, (i, _k, p) in enumerate(outcome.trace, start=1):
            ranks[i].append(rank)
            at_grant[i].append(p)
        cutoff = outcome.trace[-1][2] / SCALE if outcome.trace else None
    return ranks, at_grant, cutoff


@dataclass(slots=True)
class _Counterfactuals:
    """The counterfactual answers being built: scores (hundredths; ``None``: none), the move
    each score beats, larger-request answers, and which applicants are verified or off the
    closed form (``unsure``). ``nested``: the closed form holds for this result."""

    nested: bool
    scores: dict[int, int | None] = field(default_factory=dict)
    moves: dict[int, Move] = field(default_factory=dict)
    larger: dict[int, bool | None] = field(default_factory=dict)
    tied_at_max: list[int] = field(default_factory=list)  # no strictly better move, a tie at 100
    verified: set[int] = field(default_factory=set)
    unsure: set[int] = field(default_factory=set)


def _closed_form(
    m: Model, x: tuple[int, ...], outcome: GreedyOutcome | None, state: _RoundState
) -> _Counterfactuals:
    """Scores and larger-request answers by the exchange argument (before any verification)."""
    # The closed form (exchange argument) is exact for the greedy of the laminar model only.
    cf = _Counterfactuals(nested=outcome is not None and not m.knapsack)
    if outcome is None:
        return cf
    h = holders(m, x, state.gcount, state.dcount)
    index = ExchangeIndex(h) if state.budget_left is None else None
    for i in range(m.n):
        if m.lock[i] is not None or _HARD_INELIGIBLE.intersection(m.ineligible[i]):
            continue
        if x[i] < m.cap_upper[i]:
            move = _next_post_move(m, i, h, state, index)
            cf.scores[i], tied = min_score(m, i, m.applicants[i].gains[x[i]], move)
            cf.moves[i] = move
            if tied:
                cf.tied_at_max.append(i)
        elif x[i] == m.remaining[i] and x[i] > 0 and not m.ineligible[i]:
            cf.larger[i] = _larger_request(m, i, x, h, state, index, cf.nested)
    return cf


def _next_post_move(
    m: Model, i: int, h: Holders, state: _RoundState, index: ExchangeIndex | None
) -> Move:
    return one_more(m, i, h, state.gcount, state.dcount, state.quota_left, state.budget_left, index)


def _larger_request(
    m: Model,
    i: int,
    x: tuple[int, ...],
    h: Holders,
    state: _RoundState,
    index: ExchangeIndex | None,
    nested: bool,
) -> bool | None:
    """Would one more post asked (gaining as much as the last) be granted? ``None``: unknown."""
    cap = m.policy.max_posts_per_structure
    if cap is not None and m.applicants[i].already_granted + x[i] + 1 > cap:
        return False  # the structure cap: true on every path
    if not nested or not same_round_with(m, i, m.upper[i] + 1):
        return None  # off the nested structure: not known
    move = _next_post_move(m, i, h, state, index)
    last = m.hq[i][-1]
    if move.add or (move.threshold is not None and last > move.threshold):
        return True
    if move.threshold is not None and last == move.threshold:
        return None  # an exact tie: the published order decides
    return False


def _verify(
    m: Model,
    x: tuple[int, ...],
    outcome: GreedyOutcome | None,
    config: SolverConfig,
    cf: _Counterfactuals,
) -> None:
    """Verify the closed-form scores by greedy re-runs (or search them, on the knapsack path)."""
    if outcome is not None and m.knapsack:
        cf.scores = knapsack_scores(m, x, outcome, config, cf.scores, cf.verified)
    elif cf.nested:
        assert outcome is not None
        _verify_nested(m, x, outcome, config, cf)


def _verify_nested(
    m: Model,
    x: tuple[int, ...],
    outcome: GreedyOutcome,
    config: SolverConfig,
    cf: _Counterfactuals,
) -> None:
    scores = cf.scores
    for i in [i for i in scores if m.upper[i] == 0]:
        # A score reaching the minimum makes the applicant eligible: with a budget, its
        # posts may change how the budget enters the round (then the closed form is void).
        if not same_round_with(m, i, m.cap_upper[i]):
            scores[i] = None
            cf.unsure.add(i)
    for i in cf.tied_at_max:
        if i not in cf.unsure:
            scores[i] = tie_at_max_score(m, i, cf.moves[i], x[i], outcome)
            if scores[i] is not None:
                cf.verified.add(i)

    def distance(i: int) -> tuple[int, int]:
        n = scores[i]
        assert n is not None
        return n - round(m.applicants[i].quality * SCORE_GRID), m.ids[i]

    to_verify = sorted(
        (i for i, n in scores.items() if n is not None and i not in cf.verified), key=distance
    )[: config.counterfactual_reruns]
    for i in to_verify:
        n = scores[i]
        assert n is not None
        threshold = cf.moves[i].threshold
        tie_below = (
            threshold is not None
            and n > 0
            and (priority_at(m, i, m.applicants[i].gains[x[i]], n - 1) == threshold)
        )
        scores[i] = verified_score(m, i, n, x[i], tie_below, outcome)
        cf.verified.add(i)


def _motifs_of(
    m: Model, i: int, x: tuple[int, ...], state: _RoundState, outcome: GreedyOutcome | None
) -> tuple[str, ...]:
    """The applicant's motif codes, in the published order."""
    found: list[str] = list(m.ineligible[i])
    if x[i] > 0:
        found.append(motifs.ACCORDE)
    if m.lock[i] is not None:
        found.append(motifs.VERROUILLE)
    if x[i] == m.remaining[i]:
        found.append(motifs.DEMANDE_SATISFAITE)
    elif not m.ineligible[i] and m.lock[i] is None:
        if x[i] >= m.upper[i]:
            found.append(motifs.PLAFOND_STRUCTURE)
        else:
            found.extend(
                _limit_motifs(m, i, state.free_granted, state.dcount, outcome, state.budget_left)
            )
    return motifs.ordered(found)


def _territory_details(
    m: Model, state: _RoundState
) -> tuple[list[DepartementDetails], list[EpciDetails | None]]:
    """Each département's and EPCI-part's numbers, built once and shared by its applicants."""
    departements = [
        DepartementDetails(
            code=t.code,
            need=t.need,
            existing=t.existing,
            fair_share=m.dept_fair_share[d],
            cap_room=m.dept_cap[d],
            posts_round=state.dcount[d],
        )
        for d, t in enumerate(m.dept_territories)
    ]
    epcis = [
        None
        if t is None
        else EpciDetails(code=t.code, need=t.need, existing=t.existing, posts_round=state.gcount[g])
        for g, t in enumerate(m.group_territories)
    ]
    return departements, epcis


def _details_of(
    m: Model,
    i: int,
    x: tuple[int, ...],
    territories: tuple[list[DepartementDetails], list[EpciDetails | None]],
    next_terms: tuple[int, int],
    cf: _Counterfactuals,
) -> DecisionDetails:
    """The numbers behind the decision (``next_terms``: the next post's group terms).

    Built for every applicant of a national round: the records are filled positionally (in
    their field order, named in the comments)."""
    a = m.applicants[i]
    next_epci, next_dept = next_terms
    score = cf.scores.get(i)
    cost, standard = m.cost_cents[i], m.standard_cents[i]
    return DecisionDetails(
        territories[0][m.app_dept[i]],  # departement
        territories[1][m.app_group[i]],  # epci
        quality_factor(a.quality, a.avis_prefet, m.policy),
        m.cofunding[i],
        CostDetails(cost / 100, standard / 100, (standard - cost) / 100),  # state, standard, co-f.
        a.gains,
        m.remaining[i],  # remaining_request
        m.upper[i],  # upper_bound
        None  # next_post: access, distribution, balance
        if x[i] >= len(m.hq[i])
        else NextPost(m.hq[i][x[i]] / SCALE, next_epci / SCALE, next_dept / SCALE),
        CounterfactualDetails(
            None if score is None else score / SCORE_GRID,  # min_quality
            i in cf.verified,  # verified
            cf.larger.get(i),  # larger_request_would_help
            # nested: the greedy-optimal property holds for this result and this applicant: a
            # score is then a threshold, and its absence means that even 100 would not do
            cf.nested and i not in cf.unsure,
        ),
    )


def explain(
    m: Model, x: tuple[int, ...], outcome: GreedyOutcome | None, config: SolverConfig
) -> tuple[Explanation, ...]:
    """Explain every applicant (ascending ``id_pg``).

    ``outcome`` is the greedy run that produced ``x``, or ``None`` when ``x`` comes from a direct
    solve (mode "optimal" off the laminar structure): then posts have no national rank, there is
    no cut-off and no counterfactual.
    """
    state = _round_state(m, x)
    ranks, at_grant, cutoff = _ranks(m, outcome)
    cf = _closed_form(m, x, outcome, state)
    _verify(m, x, outcome, config, cf)
    territories = _territory_details(m, state)
    explanations = []
    for i in range(m.n):
        g, d = m.app_group[i], m.app_dept[i]
        next_epci = m.epci_marginal(g, state.gcount[g])
        next_dept = m.dept_marginal(d, state.dcount[d])
        ranked = m.lock[i] is None and outcome is not None
        priorities = tuple(
            at_grant[i][k] / SCALE
            if ranked and k < x[i]
            else (m.hq[i][k] + next_epci + next_dept) / SCALE
            for k in range(max(m.upper[i], x[i]))
        )
        explanations.append(
            Explanation(
                motifs=_motifs_of(m, i, x, state, outcome),
                priorities=priorities,
                granted_ranks=tuple(ranks[i]),
                cutoff=cutoff,
                details=_details_of(m, i, x, territories, (next_epci, next_dept), cf),
            )
        )
    return tuple(explanations)
