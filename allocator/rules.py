"""The rules of the model, one named function each (the formulation is in ``allocator.model``).

Constants of the integer model, the published tie-break (:func:`filing_key`), the quantised
coefficients shared by the greedy, the certificate and the explanations, and the bounds: one
function per rule family (request, structure cap, eligibility, lock, département cap, budget).
"""

from __future__ import annotations

import datetime
import functools

from allocator import motifs, programme
from allocator.domain import Applicant, AvisPrefet, RoundInput, RoundPolicy, Territory
from allocator.errors import InvalidInput

#: Integer quantisation of every marginal gain (micro fragile inhabitants).
SCALE = 1_000_000
#: Scores below this floor count as this floor in the quality factor (when ``min_quality`` lets
#: such projects in, they still bring *some* access).
QUALITY_FLOOR = 10.0
#: Largest quantised coefficient accepted: keeps flow costs far from int64 overflow even after
#: OR-Tools' cost scaling by the number of nodes.
MAX_COEFFICIENT = 10**14
#: Largest co-funding factor ``φ_i`` under "prioritaire" (reached at half the standard cost
#: co-funded): a post the host pays entirely is not infinitely cheap for the ranking.
COFUNDING_PRIORITY_CAP = 2.0

#: Tie-break key of an applicant without a filing time: after every instant (it ranks last).
MISSING_FILING_KEY = "~"


@functools.lru_cache(maxsize=1 << 16)
def filing_key(created_at: str) -> str:
    """The tie-break key of a filing time ``created_at`` (ISO-8601, or ``""`` when unknown).

    Its instant in UTC as fixed-width text (``"2021-03-01T08:00:00.000000"``), so that the
    string order of keys is the order of instants whatever offset each time was written with
    (``10:00+02:00`` is before ``09:00Z``); a time without an offset is read as UTC. An unknown
    filing time gives :data:`MISSING_FILING_KEY`, after every instant. Raises ``ValueError`` on
    a string that is not an ISO-8601 time.
    """
    if not created_at:
        return MISSING_FILING_KEY
    try:
        when = datetime.datetime.fromisoformat(created_at)
        if when.tzinfo is not None:
            when = when.astimezone(datetime.UTC).replace(tzinfo=None)
    except OverflowError as exc:  # an offset pushing the instant outside years 1-9999
        raise ValueError(str(exc)) from None
    return when.isoformat(timespec="microseconds")


# --------------------------------------------------------------------------------------------
# Coefficients (the quantised marginal gains shared by greedy, certificate and explanations)
# --------------------------------------------------------------------------------------------
def quality_factor(quality: float, avis: AvisPrefet | None, policy: RoundPolicy) -> float:
    """``q_i = max(quality, QUALITY_FLOOR) / 100``, times the préfet penalty under "penaliser"."""
    factor = max(float(quality), QUALITY_FLOOR) / 100.0
    if avis is AvisPrefet.NEGATIF and policy.prefet_negatif == "penaliser":
        factor *= policy.prefet_penalty
    return factor


def cofunding_factor(a: Applicant, policy: RoundPolicy) -> float:
    """``φ_i``: 1 under "neutre"; ``min(COFUNDING_PRIORITY_CAP, s_i / c_i)`` under "prioritaire".

    ``s_i`` is the standard cost (``standard_cost_eur``, default ``cost_eur``) and ``c_i`` the
    State's cost; a post the host funds entirely (``c_i = 0``) gets the cap.
    """
    if policy.cofunding_priority != "prioritaire" or a.standard_cost_eur is None:
        return 1.0
    if a.cost_eur <= 0:
        return COFUNDING_PRIORITY_CAP
    return min(COFUNDING_PRIORITY_CAP, max(1.0, a.standard_cost_eur / a.cost_eur))


def access_coefficient(
    quality: float, avis: AvisPrefet | None, policy: RoundPolicy, cofunding: float = 1.0
) -> float:
    """``w_a · q_i · φ_i · SCALE``: multiply a gain by it and round to get ``h_i'(k)`` as an int."""
    return policy.weight_access * quality_factor(quality, avis, policy) * cofunding * SCALE


def access_marginals(coefficient: float, gains: tuple[float, ...]) -> list[int]:
    """``h_i'(k) = round(w_a q_i g_i[k] · SCALE)``; non-increasing since rounding is monotone."""
    return [round(coefficient * g) for g in gains]


def group_marginal(coefficient: float, existing: int, count: int) -> int:
    """``G_t'(count) = round(w_t need_t SCALE / (H_t + count + 1/2))`` (Sainte-Laguë priority)."""
    if coefficient == 0.0:
        return 0
    return round(coefficient / (existing + count + 0.5))


# --------------------------------------------------------------------------------------------
# Bounds: one function per rule family
# --------------------------------------------------------------------------------------------
def request_bound(a: Applicant) -> int:
    """Request: ``x_i ≤ r_i = max(0, requested − already_granted)`` (grants never withdrawn)."""
    return max(0, a.requested - a.already_granted)


def structure_cap_bound(a: Applicant, policy: RoundPolicy) -> int | None:
    """Structure cap on the total: ``x_i ≤ max(0, max_posts_per_structure − already_granted)``."""
    if policy.max_posts_per_structure is None:
        return None
    return max(0, policy.max_posts_per_structure - a.already_granted)


def eligibility_motifs(a: Applicant, policy: RoundPolicy) -> tuple[str, ...]:
    """Eligibility: ``x_i = 0`` when any returned motif applies (type, préfet, minimum score)."""
    found = []
    if a.type not in policy.eligible_types:
        found.append(motifs.TYPE_NON_ELIGIBLE)
    if a.avis_prefet is AvisPrefet.NEGATIF and policy.prefet_negatif == "exclure":
        found.append(motifs.AVIS_PREFET_NEGATIF)
    if a.quality < policy.min_quality:
        found.append(motifs.SCORE_INSUFFISANT)
    return tuple(found)


def lock_bound(a: Applicant) -> int | None:
    """Locks: ``x_i = L_i`` (a committee override), or ``None``."""
    return a.locked


def fair_shares(round_input: RoundInput, policy: RoundPolicy) -> dict[str, int] | None:
    """Each département's fair share of the national envelope.

    The caller's ``Territory.fair_share`` values are used when all are given (``geodata``
    apportions over *every* département); when none is given they are computed here by Webster on
    ``need`` over the départements of the input (only meaningful for a national input). A mix is
    refused. Returns ``None`` when no fair share is known and none is needed.
    """
    given = [t.fair_share for t in round_input.departements]
    if all(v is not None for v in given):
        return {t.code: int(t.fair_share or 0) for t in round_input.departements}
    if any(v is not None for v in given):
        missing = sorted(t.code for t in round_input.departements if t.fair_share is None)
        raise InvalidInput(
            f"departements.fair_share: given for some départements but not for {missing}"
        )
    if policy.departement_cap != "part_equitable":
        return None
    return programme.fair_shares(
        {t.code: t.need for t in round_input.departements}, policy.national_envelope
    )


def departement_cap_bound(
    territory: Territory, share: int | None, policy: RoundPolicy
) -> int | None:
    """Département cap: ``X_d ≤ max(0, fair_share_d − H_d)`` under "part_equitable"."""
    if policy.departement_cap != "part_equitable" or share is None:
        return None
    return max(0, share - territory.existing)


def budget_rule(
    unit_costs: list[tuple[int, int]], budget_free: int | None, room: int
) -> tuple[int | None, bool]:
    """How the budget enters a round: ``(posts it allows, knapsack)``.

    ``unit_costs``: ``(c_i, u_i)`` of every free applicant (the State's cost of one post in
    cents, its bound); ``budget_free`` the budget left after the locks (``None``: no budget);
    ``room`` the posts that the quota and the envelope leave after the locks. Equal costs make
    the budget a number of posts (``budget_free // c``; posts the hosts fund entirely: no
    limit, unless the locks exceed the budget: ``-1``); unequal costs whose ``room`` dearest
    posts exceed the budget make the round a knapsack (the laminar structure is lost).
    """
    if budget_free is None:
        return None, False
    costs = sorted({c for c, u in unit_costs if u > 0})
    if costs == [0]:
        return (-1 if budget_free < 0 else None), False
    if len(costs) == 1:
        return (budget_free // costs[0] if budget_free >= 0 else -1), False
    if not costs:
        return None, False
    spend = sorted((c for c, u in unit_costs for _ in range(min(u, room))), reverse=True)
    return None, sum(spend[:room]) > budget_free
