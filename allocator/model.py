r"""The allocation model: consistency check → bounds → greedy → objective.

Formulation
-----------
**Sets.**
``I`` applicants (keyed by ``id_pg``); ``D`` départements (``RoundInput.departements``); ``E``
EPCI-parts, i.e. the part of an EPCI inside one département (``Territory.code`` =
``"DEPT:SIREN"``, from ``RoundInput.epcis``). ``I_e`` / ``I_d`` are the applicants of EPCI-part
``e`` / département ``d``; an applicant whose ``epci`` is ``None`` (types DEPARTEMENT, REGION)
belongs to its département but to no EPCI-part. The family {i} ⊂ e ⊂ d ⊂ nation is *laminar*.

**Parameters.**
``r_i = max(0, requested_i − already_granted_i)`` remaining request; ``g_i[k]`` (k < r_i) the
fragile inhabitants gaining access with the applicant's k-th post of the round (non-increasing);
``q_i = max(quality_i, QUALITY_FLOOR) / 100``, times ``policy.prefet_penalty`` when the préfet's
opinion is NÉGATIF and ``policy.prefet_negatif == "penaliser"``; ``need_t`` and ``H_t``
(``Territory.existing``) for t ∈ D ∪ E; ``c_i`` the State's cost of one post in euros (the
standard cost ``s_i`` of the host's type and territory minus its co-funding, ``0 ≤ c_i ≤ s_i``);
``φ_i`` the co-funding factor (``cofunding_factor``: 1 under ``cofunding_priority == "neutre"``,
``min(COFUNDING_PRIORITY_CAP, s_i / c_i)`` under "prioritaire"); ``L_i`` a lock.
Weights ``w_a, w_e, w_d`` = ``policy.weight_access / weight_distribution / weight_balance``.

**Variables.** ``x_i ∈ ℤ``, the posts granted to ``i`` by this round; ``X_e = Σ_{i∈I_e} x_i``,
``X_d = Σ_{i∈I_d} x_i``.

**Bounds** (one function per rule family below): ``0 ≤ x_i ≤ u_i`` with ``u_i = r_i`` (request),
lowered to ``max(0, cap − already_granted_i)`` by ``policy.max_posts_per_structure`` (structure
cap),
and set to 0 when ineligible (type not in ``eligible_types``; ``quality < min_quality``; préfet
NÉGATIF under ``"exclure"`` — a missing opinion is neutral). A lock sets ``x_i = L_i``.

**Constraints.**
(C1) ``Σ_i x_i ≤ quota``; (C2) ``Σ_i x_i ≤ national_envelope − programme_consumed``;
(C3) ``Σ_i c_i x_i ≤ budget_eur − budget_consumed_eur`` when a budget is set;
(C4) ``X_d ≤ max(0, fair_share_d − H_d)`` for every d when ``departement_cap == "part_equitable"``.

**Objective.** Maximise

.. math::

    F(x) = \sum_i h_i(x_i) + \sum_e G_e(X_e) + \sum_d G_d(X_d),\quad
    h_i(a) = \sum_{k<a} w_a q_i \varphi_i g_i[k],\quad
    G_t(a) = w_t\,need_t \sum_{k<a} \frac{1}{H_t + k + 1/2}

(access, distribution within the département, balance between départements: the latter is the
Sainte-Laguë priority on what the territory will hold). Every term is concave in a group sum of a
laminar family, so ``F`` is M♮-concave and, without (C3) or with equal costs, the greedy below is
optimal, nested (house-monotone) and explainable as a priority list.

**Co-funding.** A host's co-funding lowers ``c_i``, which only matters through (C3). Under
"neutre" (the default) ``φ_i = 1``: the ranking is need first, and when only the quota (or the
envelope) binds the allocation is exactly the one without any co-funding. Under "prioritaire"
``φ_i`` scales the applicant's *own* access term by the share of the standard cost the State
saves (capped: a fully co-funded post counts ``COFUNDING_PRIORITY_CAP`` times, not infinitely).
``h_i`` stays concave and the group terms are untouched, so the structure stays laminar and every
guarantee above holds — for an objective that now favours hosts able to pay.

**Integers.** All marginal gains are quantised once, ``round(value × SCALE)`` as Python ints
(``access_marginals``, ``group_marginal``); rounding is monotone, so concavity survives; the greedy,
the certificate (``allocator.solve``) and the explanations all use these same integers, hence ties
are exact and results byte-deterministic. ``F`` in the result is ``F_int / SCALE``.

**Greedy.** Start from the locks; repeatedly grant the post of largest marginal gain
``h_i'(x_i) + G_e'(X_e) + G_d'(X_d)``; ties by the filing instant ``created_at`` (the earlier
first, ISO-8601 times compared as instants with their UTC offsets; a time without offset is
read as UTC; no ``created_at`` ranks last, see ``filing_key``), then ``id_pg``, then ``k``. A
post whose cost exceeds the remaining budget is skipped (and, since the budget only shrinks, so
is every later post of that applicant). Hierarchical heaps (per
EPCI-part, per département, national) give ``O(log n)`` per step.
"""

from __future__ import annotations

import bisect
import datetime
import functools
import heapq
import itertools
import math
from dataclasses import dataclass, field

from allocator import motifs
from allocator.apportionment import webster
from allocator.domain import (
    Applicant,
    AvisPrefet,
    RoundInput,
    RoundPolicy,
    SolverConfig,
    StructureType,
    Territory,
)
from allocator.errors import InvalidInput

#: Integer quantisation of every marginal gain (micro fragile inhabitants).
SCALE = 1_000_000
#: Scores below this floor count as this floor in the quality factor (when ``min_quality`` lets
#: such projects in, they still bring *some* access).
QUALITY_FLOOR = 10.0
#: Largest quantised coefficient accepted: keeps flow costs far from int64 overflow even after
#: OR-Tools' cost scaling by the number of nodes.
MAX_COEFFICIENT = 10**14

MODES = ("monotone", "optimal")
COFUNDING_RULES = ("neutre", "prioritaire")
#: Largest co-funding factor ``φ_i`` under "prioritaire" (reached at half the standard cost
#: co-funded): a post the host pays entirely is not infinitely cheap for the ranking.
COFUNDING_PRIORITY_CAP = 2.0
PREFET_RULES = ("exclure", "penaliser")
DEPARTEMENT_CAP_RULES = ("aucun", "part_equitable")
BACKENDS = ("min_cost_flow", "scip", "cp_sat", "glop")


# --------------------------------------------------------------------------------------------
# Input checks (preconditions; violations raise InvalidInput)
# --------------------------------------------------------------------------------------------
def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _check_policy(policy: RoundPolicy) -> None:
    if not isinstance(policy, RoundPolicy):
        raise InvalidInput(f"policy: should be a RoundPolicy, got {type(policy).__name__}")
    for t in policy.eligible_types:
        if not isinstance(t, StructureType):
            raise InvalidInput(f"policy.eligible_types: {t!r} is not a StructureType")
    if not _is_int(policy.national_envelope) or policy.national_envelope < 0:
        raise InvalidInput(
            f"policy.national_envelope: must be an int >= 0, got {policy.national_envelope!r}"
        )
    if policy.budget_eur is not None and (not _is_num(policy.budget_eur) or policy.budget_eur < 0):
        raise InvalidInput(
            f"policy.budget_eur: must be None or a finite number >= 0, got {policy.budget_eur!r}"
        )
    if not _is_num(policy.min_quality):
        raise InvalidInput(
            f"policy.min_quality: must be a finite number, got {policy.min_quality!r}"
        )
    if policy.prefet_negatif not in PREFET_RULES:
        raise InvalidInput(
            f"policy.prefet_negatif: must be one of {PREFET_RULES}, got {policy.prefet_negatif!r}"
        )
    if not _is_num(policy.prefet_penalty) or not 0 <= policy.prefet_penalty <= 1:
        raise InvalidInput(
            f"policy.prefet_penalty: must be in [0, 1], got {policy.prefet_penalty!r}"
        )
    cap = policy.max_posts_per_structure
    if cap is not None and (not _is_int(cap) or cap < 0):
        raise InvalidInput(
            f"policy.max_posts_per_structure: must be None or an int >= 0, got {cap!r}"
        )
    if policy.departement_cap not in DEPARTEMENT_CAP_RULES:
        raise InvalidInput(
            f"policy.departement_cap: must be one of {DEPARTEMENT_CAP_RULES}, "
            f"got {policy.departement_cap!r}"
        )
    for name in ("weight_access", "weight_distribution", "weight_balance"):
        w = getattr(policy, name)
        if not _is_num(w) or w < 0:
            raise InvalidInput(f"policy.{name}: must be a finite number >= 0, got {w!r}")
    if policy.mode not in MODES:
        raise InvalidInput(f"policy.mode: must be one of {MODES}, got {policy.mode!r}")
    if policy.cofunding_priority not in COFUNDING_RULES:
        raise InvalidInput(
            f"policy.cofunding_priority: must be one of {COFUNDING_RULES}, "
            f"got {policy.cofunding_priority!r}"
        )


def _check_config(config: SolverConfig) -> None:
    if not isinstance(config, SolverConfig):
        raise InvalidInput(f"config: should be a SolverConfig, got {type(config).__name__}")
    if config.backend not in BACKENDS:
        raise InvalidInput(f"config.backend: must be one of {BACKENDS}, got {config.backend!r}")
    if not _is_num(config.time_limit_s) or config.time_limit_s <= 0:
        raise InvalidInput(f"config.time_limit_s: must be > 0, got {config.time_limit_s!r}")
    if not _is_int(config.workers) or config.workers < 1:
        raise InvalidInput(f"config.workers: must be an int >= 1, got {config.workers!r}")
    if not _is_int(config.seed) or config.seed < 0:
        raise InvalidInput(f"config.seed: must be an int >= 0, got {config.seed!r}")
    if not _is_int(config.counterfactual_reruns) or config.counterfactual_reruns < 0:
        raise InvalidInput(
            "config.counterfactual_reruns: must be an int >= 0, "
            f"got {config.counterfactual_reruns!r}"
        )


def _check_territories(kind: str, territories: tuple[Territory, ...]) -> None:
    seen: set[str] = set()
    for t in territories:
        if not isinstance(t, Territory):
            raise InvalidInput(f"{kind}: should hold Territory objects, got {type(t).__name__}")
        if not isinstance(t.code, str) or not t.code:
            raise InvalidInput(f"{kind}.code: must be a non-empty string, got {t.code!r}")
        if t.code in seen:
            raise InvalidInput(f"{kind}[{t.code}]: duplicate code")
        seen.add(t.code)
        if not _is_num(t.need) or t.need < 0:
            raise InvalidInput(
                f"{kind}[{t.code}].need: must be a finite number >= 0, got {t.need!r}"
            )
        if not _is_int(t.existing) or t.existing < 0:
            raise InvalidInput(
                f"{kind}[{t.code}].existing: must be an int >= 0, got {t.existing!r}"
            )
        if t.fair_share is not None and (not _is_int(t.fair_share) or t.fair_share < 0):
            raise InvalidInput(
                f"{kind}[{t.code}].fair_share: must be None or an int >= 0, got {t.fair_share!r}"
            )


def _check_applicant(a: Applicant, depts: set[str], epcis: set[str]) -> None:
    where = f"applicants[id_pg={a.id_pg}]"
    if not isinstance(a.type, StructureType):
        raise InvalidInput(f"{where}.type: must be a StructureType, got {a.type!r}")
    if a.departement not in depts:
        raise InvalidInput(
            f"{where}.departement: {a.departement!r} is not in round_input.departements"
        )
    if a.epci is not None and f"{a.departement}:{a.epci}" not in epcis:
        raise InvalidInput(
            f"{where}.epci: EPCI-part {a.departement}:{a.epci} is not in round_input.epcis"
        )
    if not _is_int(a.requested) or a.requested < 1:
        raise InvalidInput(f"{where}.requested: must be an int >= 1, got {a.requested!r}")
    if not _is_int(a.already_granted) or a.already_granted < 0:
        raise InvalidInput(
            f"{where}.already_granted: must be an int >= 0, got {a.already_granted!r}"
        )
    if not _is_num(a.quality) or not 0 <= a.quality <= 100:
        raise InvalidInput(f"{where}.quality: must be in [0, 100], got {a.quality!r}")
    if not _is_num(a.cost_eur) or a.cost_eur < 0:
        raise InvalidInput(f"{where}.cost_eur: must be a finite number >= 0, got {a.cost_eur!r}")
    if a.standard_cost_eur is not None and (
        not _is_num(a.standard_cost_eur) or a.standard_cost_eur < a.cost_eur
    ):
        raise InvalidInput(
            f"{where}.standard_cost_eur: must be None or a finite number >= cost_eur "
            f"({a.cost_eur!r}), got {a.standard_cost_eur!r}"
        )
    if a.cost_eur == 0 and a.standard_cost_eur is None:
        raise InvalidInput(
            f"{where}.cost_eur: 0 only for a co-funded post (standard_cost_eur > 0 given)"
        )
    if a.avis_prefet is not None and not isinstance(a.avis_prefet, AvisPrefet):
        raise InvalidInput(
            f"{where}.avis_prefet: must be None or an AvisPrefet, got {a.avis_prefet!r}"
        )
    if a.locked is not None and (not _is_int(a.locked) or a.locked < 0):
        raise InvalidInput(f"{where}.locked: must be None or an int >= 0, got {a.locked!r}")
    if not isinstance(a.created_at, str):
        raise InvalidInput(f"{where}.created_at: must be a string, got {a.created_at!r}")
    try:
        filing_key(a.created_at)
    except ValueError:
        raise InvalidInput(
            f"{where}.created_at: must be an ISO-8601 time (or empty), got {a.created_at!r}"
        ) from None
    remaining = max(0, a.requested - a.already_granted)
    if len(a.gains) != remaining:
        raise InvalidInput(
            f"{where}.gains: needs one gain per remaining post ({a.requested} requested − "
            f"{a.already_granted} already granted = {remaining}), got {len(a.gains)}"
        )
    previous = math.inf
    for k, g in enumerate(a.gains):
        if not _is_num(g) or g < 0:
            raise InvalidInput(f"{where}.gains[{k}]: must be a finite number >= 0, got {g!r}")
        if g > previous:
            raise InvalidInput(
                f"{where}.gains: must be non-increasing (diminishing returns), "
                f"got {g!r} after {previous!r}"
            )
        previous = g


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


def check_input(round_input: RoundInput, policy: RoundPolicy, config: SolverConfig) -> None:
    """Reject malformed inputs before anything is built (``InvalidInput`` names field and value)."""
    if not isinstance(round_input, RoundInput):
        raise InvalidInput(f"round_input: should be a RoundInput, got {type(round_input).__name__}")
    _check_policy(policy)
    _check_config(config)
    if not _is_int(round_input.quota) or round_input.quota < 0:
        raise InvalidInput(f"round_input.quota: must be an int >= 0, got {round_input.quota!r}")
    if not _is_int(round_input.programme_consumed) or round_input.programme_consumed < 0:
        raise InvalidInput(
            "round_input.programme_consumed: must be an int >= 0, "
            f"got {round_input.programme_consumed!r}"
        )
    if not _is_num(round_input.budget_consumed_eur) or round_input.budget_consumed_eur < 0:
        raise InvalidInput(
            "round_input.budget_consumed_eur: must be a finite number >= 0, "
            f"got {round_input.budget_consumed_eur!r}"
        )
    _check_territories("departements", round_input.departements)
    _check_territories("epcis", round_input.epcis)
    depts = {t.code for t in round_input.departements}
    epcis = {t.code for t in round_input.epcis}
    for code in sorted(epcis):
        if code.partition(":")[0] not in depts or ":" not in code:
            raise InvalidInput(
                f"epcis[{code}].code: must be 'DEPT:SIREN' with DEPT in departements"
            )
    ids: set[int] = set()
    for a in round_input.applicants:
        if not isinstance(a, Applicant):
            raise InvalidInput(f"applicants: should hold Applicant objects, got {type(a).__name__}")
        if not _is_int(a.id_pg):
            raise InvalidInput(f"applicants.id_pg: must be an int, got {a.id_pg!r}")
        if a.id_pg in ids:
            raise InvalidInput(f"applicants[id_pg={a.id_pg}]: duplicate id_pg")
        ids.add(a.id_pg)
        _check_applicant(a, depts, epcis)
    _check_magnitudes(round_input, policy)


def _check_magnitudes(round_input: RoundInput, policy: RoundPolicy) -> None:
    top_gain = max((a.gains[0] for a in round_input.applicants if a.gains), default=0.0)
    factor = COFUNDING_PRIORITY_CAP if policy.cofunding_priority == "prioritaire" else 1.0
    if policy.weight_access * factor * top_gain * SCALE > MAX_COEFFICIENT:
        raise InvalidInput(
            f"applicants.gains: {top_gain!r} too large for the integer scale {SCALE}"
        )
    for kind, ts, w in (
        ("departements", round_input.departements, policy.weight_balance),
        ("epcis", round_input.epcis, policy.weight_distribution),
    ):
        for t in ts:
            if 2 * w * t.need * SCALE > MAX_COEFFICIENT:
                raise InvalidInput(
                    f"{kind}[{t.code}].need: {t.need!r} too large for the integer scale"
                )


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
    needs = {t.code: t.need for t in round_input.departements}
    if not any(needs.values()):
        return {code: 0 for code in needs}
    return webster(needs, policy.national_envelope)


def departement_cap_bound(
    territory: Territory, share: int | None, policy: RoundPolicy
) -> int | None:
    """Département cap: ``X_d ≤ max(0, fair_share_d − H_d)`` under "part_equitable"."""
    if policy.departement_cap != "part_equitable" or share is None:
        return None
    return max(0, share - territory.existing)


# --------------------------------------------------------------------------------------------
# The model: plain lists indexed by applicant / EPCI-part / département (ascending keys)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Model:
    """Everything the greedy, the backends and the explanations read (built by ``build_model``).

    Applicants are indexed in ascending ``id_pg``; départements and EPCI-parts in ascending code.
    Applicants without EPCI each get a *virtual* group of zero weight (``group_is_epci`` False) so
    that the three-level structure stays uniform.
    """

    policy: RoundPolicy
    applicants: tuple[Applicant, ...]
    ids: tuple[int, ...]
    app_dept: tuple[int, ...]
    app_group: tuple[int, ...]
    remaining: tuple[int, ...]  # r_i
    cap_upper: tuple[int, ...]  # r_i lowered by the structure cap (eligibility ignored)
    upper: tuple[int, ...]  # u_i
    ineligible: tuple[tuple[str, ...], ...]
    lock: tuple[int | None, ...]
    access_coef: tuple[float, ...]
    hq: tuple[tuple[int, ...], ...]  # h_i'(k) for k < r_i
    cost_cents: tuple[int, ...]  # c_i, the State's cost (net of co-funding)
    standard_cents: tuple[int, ...]  # s_i, the standard cost before co-funding
    cofunding: tuple[float, ...]  # φ_i
    created: tuple[str, ...]  # filing_key(created_at): the tie-break key
    dept_territories: tuple[Territory, ...]
    dept_coef: tuple[float, ...]
    dept_cap: tuple[int | None, ...]
    dept_fair_share: tuple[int | None, ...]
    group_codes: tuple[str, ...]
    group_territories: tuple[Territory | None, ...]
    group_dept: tuple[int, ...]
    group_coef: tuple[float, ...]
    group_existing: tuple[int, ...]
    group_is_epci: tuple[bool, ...]
    quota: int
    envelope_remaining: int
    programme_consumed: int
    budget_remaining_cents: int | None
    effective_quota: int  # min(quota, envelope remaining)
    locked_posts: int
    free_quota: int  # posts the greedy may still grant after the locks (budget folded in)
    budget_free_cents: int | None  # budget left after the locks
    limits: tuple[str, ...]  # which of quota / envelope / budget sets free_quota (ties: all)
    knapsack: bool  # a binding budget with unequal costs: the laminar structure is lost

    @property
    def n(self) -> int:
        return len(self.ids)

    def dept_marginal(self, d: int, count: int) -> int:
        return group_marginal(self.dept_coef[d], self.dept_territories[d].existing, count)

    def epci_marginal(self, g: int, count: int) -> int:
        return group_marginal(self.group_coef[g], self.group_existing[g], count)


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


def _cents(eur: float) -> int:
    return round(eur * 100)


def build_model(round_input: RoundInput, policy: RoundPolicy) -> Model:
    """Build the bounds and quantised coefficients of a checked round (see module docstring)."""
    applicants = tuple(sorted(round_input.applicants, key=lambda a: a.id_pg))
    depts = tuple(sorted(round_input.departements, key=lambda t: t.code))
    dept_index = {t.code: d for d, t in enumerate(depts)}
    shares = fair_shares(round_input, policy)
    epcis = {t.code: t for t in round_input.epcis}

    group_keys: list[str] = []
    for a in applicants:
        # Virtual groups are keyed "DEPT:#id_pg" so they sort after no real SIREN collides.
        group_keys.append(
            f"{a.departement}:{a.epci}" if a.epci is not None else f"{a.departement}:#{a.id_pg}"
        )
    group_codes = tuple(sorted(set(group_keys)))
    group_index = {code: g for g, code in enumerate(group_codes)}
    group_territories = tuple(epcis.get(code) for code in group_codes)

    remaining = tuple(request_bound(a) for a in applicants)
    cap_upper = []
    for a, r in zip(applicants, remaining, strict=True):
        cap = structure_cap_bound(a, policy)
        cap_upper.append(r if cap is None else min(r, cap))
    ineligible = tuple(eligibility_motifs(a, policy) for a in applicants)
    upper = tuple(0 if bad else c for bad, c in zip(ineligible, cap_upper, strict=True))
    lock = tuple(lock_bound(a) for a in applicants)
    cofunding = tuple(cofunding_factor(a, policy) for a in applicants)
    access_coef = tuple(
        access_coefficient(a.quality, a.avis_prefet, policy, f)
        for a, f in zip(applicants, cofunding, strict=True)
    )
    hq = tuple(
        tuple(access_marginals(c, a.gains)) for c, a in zip(access_coef, applicants, strict=True)
    )
    cost_cents = tuple(_cents(a.cost_eur) for a in applicants)
    standard_cents = tuple(
        c if a.standard_cost_eur is None else _cents(a.standard_cost_eur)
        for a, c in zip(applicants, cost_cents, strict=True)
    )

    quota = round_input.quota
    envelope_remaining = max(0, policy.national_envelope - round_input.programme_consumed)
    budget_remaining = (
        None
        if policy.budget_eur is None
        else _cents(policy.budget_eur) - _cents(round_input.budget_consumed_eur)
    )
    effective = min(quota, envelope_remaining)
    locked_posts = sum(v for v in lock if v is not None)
    budget_free = (
        None
        if budget_remaining is None
        else budget_remaining - sum(c * v for c, v in zip(cost_cents, lock, strict=True) if v)
    )
    candidates = {"quota": quota - locked_posts, "envelope": envelope_remaining - locked_posts}
    budget_posts, knapsack = budget_rule(
        [(c, u) for c, u, v in zip(cost_cents, upper, lock, strict=True) if v is None],
        budget_free,
        max(0, effective - locked_posts),
    )
    if budget_posts is not None:
        candidates["budget"] = budget_posts
    free_quota = min(candidates.values())
    limits = tuple(name for name, value in candidates.items() if value == free_quota)

    return Model(
        policy=policy,
        applicants=applicants,
        ids=tuple(a.id_pg for a in applicants),
        app_dept=tuple(dept_index[a.departement] for a in applicants),
        app_group=tuple(group_index[k] for k in group_keys),
        remaining=remaining,
        cap_upper=tuple(cap_upper),
        upper=upper,
        ineligible=ineligible,
        lock=lock,
        access_coef=access_coef,
        hq=hq,
        cost_cents=cost_cents,
        standard_cents=standard_cents,
        cofunding=cofunding,
        created=tuple(filing_key(a.created_at) for a in applicants),
        dept_territories=depts,
        dept_coef=tuple(policy.weight_balance * t.need * SCALE for t in depts),
        dept_cap=tuple(
            departement_cap_bound(t, None if shares is None else shares[t.code], policy)
            for t in depts
        ),
        dept_fair_share=tuple(None if shares is None else shares[t.code] for t in depts),
        group_codes=group_codes,
        group_territories=group_territories,
        group_dept=tuple(dept_index[code.partition(":")[0]] for code in group_codes),
        group_coef=tuple(
            0.0 if t is None else policy.weight_distribution * t.need * SCALE
            for t in group_territories
        ),
        group_existing=tuple(0 if t is None else t.existing for t in group_territories),
        group_is_epci=tuple(t is not None for t in group_territories),
        quota=quota,
        envelope_remaining=envelope_remaining,
        programme_consumed=round_input.programme_consumed,
        budget_remaining_cents=budget_remaining,
        effective_quota=effective,
        locked_posts=locked_posts,
        free_quota=free_quota,
        budget_free_cents=budget_free,
        limits=limits,
        knapsack=knapsack,
    )


# --------------------------------------------------------------------------------------------
# Consistency check (before any solve): locks against every rule, with the numbers
# --------------------------------------------------------------------------------------------
def _fmt_eur(cents: int) -> str:
    return f"{cents / 100:.2f}".rstrip("0").rstrip(".") + " €"


def _minimal_excess(
    items: list[tuple[int, int, int]], limit: int
) -> list[tuple[int, int, int]] | None:
    """Fewest items ``(weight, id_pg, lock)`` whose weights sum above ``limit`` (largest first)."""
    chosen, total = [], 0
    for item in sorted(items, key=lambda t: (-t[0], t[1])):
        chosen.append(item)
        total += item[0]
        if total > limit:
            return sorted(chosen, key=lambda t: t[1])
    return None


def _locks_phrase(chosen: list[tuple[int, int, int]]) -> str:
    word = "verrou structure" if len(chosen) == 1 else "verrous structures"
    return word + " " + " + ".join(f"{i} ({v})" for _, i, v in chosen)


def consistency_conflicts(m: Model) -> list[str]:
    """Locks against each rule family; every returned message names a minimal conflicting set.

    Empty list = the locks are compatible with every rule (then a feasible allocation exists:
    granting nothing beyond the locks).
    """
    conflicts: list[str] = []
    policy = m.policy
    for i, a in enumerate(m.applicants):
        v = m.lock[i]
        if not v:
            continue
        if v > m.remaining[i]:
            conflicts.append(
                f"verrou structure {a.id_pg} ({v}) > demande restante {m.remaining[i]} "
                f"({a.requested} demandés − {a.already_granted} déjà attribués)"
            )
        if (
            policy.max_posts_per_structure is not None
            and a.already_granted + v > policy.max_posts_per_structure
        ):
            conflicts.append(
                f"verrou structure {a.id_pg} ({v}) + {a.already_granted} déjà attribués = "
                f"{a.already_granted + v} > plafond par structure {policy.max_posts_per_structure}"
            )
        for motif in m.ineligible[i]:
            if motif == motifs.TYPE_NON_ELIGIBLE:
                conflicts.append(
                    f"verrou structure {a.id_pg} ({v}) : type {a.type.value} non éligible"
                )
            elif motif == motifs.AVIS_PREFET_NEGATIF:
                conflicts.append(
                    f"verrou structure {a.id_pg} ({v}) : avis du préfet NÉGATIF "
                    "(politique « exclure »)"
                )
            else:
                conflicts.append(
                    f"verrou structure {a.id_pg} ({v}) : score qualité {a.quality:g} "
                    f"< minimum {policy.min_quality:g}"
                )
    locks = [(v, m.ids[i], v) for i, v in enumerate(m.lock) if v]
    chosen = _minimal_excess(locks, m.quota)
    if chosen:
        conflicts.append(f"{_locks_phrase(chosen)} = {sum(c[0] for c in chosen)} > quota {m.quota}")
    chosen = _minimal_excess(locks, m.envelope_remaining)
    if chosen:
        conflicts.append(
            f"{_locks_phrase(chosen)} = {sum(c[0] for c in chosen)} > enveloppe nationale restante "
            f"{m.envelope_remaining} ({policy.national_envelope} − "
            f"{m.programme_consumed} consommés)"
        )
    if m.budget_remaining_cents is not None:
        costed = [(m.cost_cents[i] * v, m.ids[i], v) for i, v in enumerate(m.lock) if v]
        chosen = _minimal_excess(costed, m.budget_remaining_cents)
        if chosen:
            parts = " + ".join(f"{i} ({v} × {_fmt_eur(w // v)})" for w, i, v in chosen)
            word = "verrou structure" if len(chosen) == 1 else "verrous structures"
            conflicts.append(
                f"{word} {parts} = {_fmt_eur(sum(c[0] for c in chosen))} > budget restant "
                f"{_fmt_eur(m.budget_remaining_cents)}"
            )
    for d, cap in enumerate(m.dept_cap):
        if cap is None:
            continue
        in_d = [(v, m.ids[i], v) for i, v in enumerate(m.lock) if v and m.app_dept[i] == d]
        chosen = _minimal_excess(in_d, cap)
        if chosen:
            t = m.dept_territories[d]
            conflicts.append(
                f"{_locks_phrase(chosen)} = {sum(c[0] for c in chosen)} > part restante du "
                f"département {t.code} {cap} (part équitable {m.dept_fair_share[d]} − "
                f"{t.existing} existants)"
            )
    return conflicts


# --------------------------------------------------------------------------------------------
# Greedy (hierarchical heaps) and objective
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class GreedyOutcome:
    """Result of one greedy run.

    ``trace[t] = (applicant index, k, priority)`` is the (t+1)-th post granted nationally (locks
    excluded); ``skipped_budget[i]`` is True when the applicant's next post was dropped because it
    no longer fitted the budget; ``quota_used_up`` is True when the loop stopped on ``free_quota``.
    """

    x: tuple[int, ...]
    trace: tuple[tuple[int, int, int], ...]
    skipped_budget: tuple[bool, ...]
    quota_used_up: bool
    group_count: tuple[int, ...]
    dept_count: tuple[int, ...]
    budget_left_cents: int | None
    #: the trace indexed for :func:`override_gives_more`, built on its first use
    trace_index: _TraceIndex | None = field(default=None, init=False, repr=False, compare=False)


def lock_counts(m: Model) -> tuple[list[int], list[int]]:
    """Posts per EPCI-part and per département from the locks alone."""
    gcount = [0] * len(m.group_codes)
    dcount = [0] * len(m.dept_territories)
    for i, v in enumerate(m.lock):
        if v:
            gcount[m.app_group[i]] += v
            dcount[m.app_dept[i]] += v
    return gcount, dcount


def greedy(
    m: Model,
    override: tuple[int, tuple[int, ...], int] | None = None,
    stop_above: tuple[int, int] | None = None,
) -> GreedyOutcome:
    """Grant posts one at a time by decreasing marginal gain, from the locks (module docstring).

    Parameters
    ----------
    m
        The model.
    override
        ``(applicant index, h_i' list, u_i)`` replacing one applicant's coefficients and bound,
        used to verify counterfactuals by re-running the very same procedure.
    stop_above
        ``(i, n)``: stop as soon as applicant ``i`` holds more than ``n`` posts (the outcome is
        then partial; see :func:`_greedy_from`).
    """
    return _greedy_from(m, override, [v or 0 for v in m.lock], m.free_quota, stop_above)


def _greedy_from(
    m: Model,
    override: tuple[int, tuple[int, ...], int] | None,
    x: list[int],
    left: int,
    stop_above: tuple[int, int] | None = None,
) -> GreedyOutcome:
    """The greedy loop (``override`` as in :func:`greedy`) from a state: ``x`` posts already
    granted (locks included), ``left`` posts of the quota still free. From the locks it is
    :func:`greedy`; from a prefix of a run it continues that run (the trace then holds the
    continuation only). No budget skips in the prefix: the state would not record them.
    ``stop_above=(i, n)`` stops the loop as soon as applicant ``i`` holds more than ``n``
    posts (grants are never withdrawn: the question "more than n at the end?" is then
    answered; the outcome is partial)."""
    hq, upper = m.hq, m.upper
    if override is not None:
        i0, hq0, u0 = override
        hq = (*hq[:i0], hq0, *hq[i0 + 1 :])
        upper = (*upper[:i0], u0, *upper[i0 + 1 :])
    n_groups, n_depts = len(m.group_codes), len(m.dept_territories)
    gcount, dcount = counts(m, x)
    skipped = [False] * m.n
    created, ids, app_group, group_dept = m.created, m.ids, m.app_group, m.group_dept
    gcoef, gexist = m.group_coef, m.group_existing
    dcoef = m.dept_coef
    dexist = [t.existing for t in m.dept_territories]
    # An uncapped département can take every post of the round.
    dcap = [m.free_quota + m.locked_posts + 1 if c is None else c for c in m.dept_cap]

    # Heap entries: (-priority, created_at, id_pg, k, payload[, version]); lower = better.
    group_heaps: list[list[tuple[int, str, int, int, int]]] = [[] for _ in range(n_groups)]
    for i in range(m.n):
        if m.lock[i] is None and x[i] < upper[i]:
            k = x[i]
            group_heaps[app_group[i]].append((-hq[i][k], created[i], ids[i], k, i))
    gver = [0] * n_groups
    dver = [0] * n_depts
    dept_heaps: list[list[tuple[int, str, int, int, int, int]]] = [[] for _ in range(n_depts)]
    for g, gheap in enumerate(group_heaps):
        if gheap:
            heapq.heapify(gheap)
            gtop = gheap[0]
            gm = group_marginal(gcoef[g], gexist[g], gcount[g])
            dept_heaps[group_dept[g]].append((gtop[0] - gm, gtop[1], gtop[2], gtop[3], g, 0))
    national: list[tuple[int, str, int, int, int, int]] = []
    for d, dheap in enumerate(dept_heaps):
        heapq.heapify(dheap)
        if dheap and dcount[d] < dcap[d]:
            dtop = dheap[0]
            dm = group_marginal(dcoef[d], dexist[d], dcount[d])
            national.append((dtop[0] - dm, dtop[1], dtop[2], dtop[3], d, 0))
    heapq.heapify(national)

    trace: list[tuple[int, int, int]] = []
    budget = m.budget_free_cents
    while left > 0 and national:
        entry = heapq.heappop(national)
        d = entry[4]
        if entry[5] != dver[d]:
            continue  # stale: the département changed since this entry was pushed
        g = dept_heaps[d][0][4]
        gheap = group_heaps[g]
        _, _, _, k, i = heapq.heappop(gheap)
        cost = m.cost_cents[i]
        if budget is not None and cost > budget:
            skipped[i] = True  # the budget only shrinks: none of its later posts can fit either
        else:
            x[i] += 1
            trace.append((i, k, -entry[0]))
            left -= 1
            if stop_above is not None and i == stop_above[0] and x[i] > stop_above[1]:
                break
            if budget is not None:
                budget -= cost
            if k + 1 < upper[i]:
                heapq.heappush(gheap, (-hq[i][k + 1], created[i], ids[i], k + 1, i))
            gcount[g] += 1
            dcount[d] += 1
        gver[g] += 1
        dheap = dept_heaps[d]
        if gheap:
            gtop = gheap[0]
            gm = group_marginal(gcoef[g], gexist[g], gcount[g])
            heapq.heappush(dheap, (gtop[0] - gm, gtop[1], gtop[2], gtop[3], g, gver[g]))
        while dheap and dheap[0][5] != gver[dheap[0][4]]:
            heapq.heappop(dheap)
        dver[d] += 1
        if dheap and dcount[d] < dcap[d]:
            dtop = dheap[0]
            dm = group_marginal(dcoef[d], dexist[d], dcount[d])
            heapq.heappush(national, (dtop[0] - dm, dtop[1], dtop[2], dtop[3], d, dver[d]))

    return GreedyOutcome(
        x=tuple(x),
        trace=tuple(trace),
        skipped_budget=tuple(skipped),
        quota_used_up=left <= 0,
        group_count=tuple(gcount),
        dept_count=tuple(dcount),
        budget_left_cents=budget,
    )


def override_gives_more(
    m: Model,
    base: GreedyOutcome,
    override: tuple[int, tuple[int, ...], int],
    current: int,
) -> bool | None:
    """Does ``greedy(m, override)`` give applicant ``i0`` more than ``current`` posts? Without
    re-running it when the answer follows from the base run; ``None`` when it does not.

    The greedy grants, at each step, the lexicographically smallest key
    ``(−(h_i[x_i] + G_g(count_g) + G_d(count_d)), created_i, id_i, x_i)`` over the posts still
    open (a post of a group or département enters its heap with the marginal common to all its
    members, so the three heap levels order posts exactly like this key). When the override only
    raises ``i0``'s coefficients (``h'_i0 ≥ h_i0`` term by term) and does not lower its bound, the
    overridden run takes the base run's step as long as that step's key is smaller than ``i0``'s
    own next key: both runs coincide up to the first step ``t*`` where ``i0``'s key is smaller
    (the divergence), and at ``t*`` the overridden run grants ``i0`` its post ``x_i0(t*) + 1``.
    Grants are never withdrawn, so when ``x_i0(t*) = current`` the answer is *yes*; when no
    divergence happens before the quota is spent the answer is *no*; otherwise (an earlier post
    of ``i0`` pulled forward) the overridden run is continued from the state at ``t*`` instead
    of from the locks. A budget (skipped posts are not in the trace), the knapsack path, a lower
    coefficient or bound return ``None``: the caller re-runs. Exactness against the full re-run
    is a property test (``tests/allocator``).
    """
    i0, hq0, u0 = override
    if m.knapsack or m.budget_free_cents is not None or m.lock[i0] is not None:
        return None
    hq_base, u_base = m.hq[i0], m.upper[i0]
    if u0 < u_base or any(hq0[k] < hq_base[k] for k in range(u_base)):
        return None
    g0, d0 = m.app_group[i0], m.app_dept[i0]
    gcoef, gexist = m.group_coef[g0], m.group_existing[g0]
    dcoef, dexist = m.dept_coef[d0], m.dept_territories[d0].existing
    cap = m.dept_cap[d0]
    dcap = m.free_quota + m.locked_posts + 1 if cap is None else cap
    created0, id0 = m.created[i0], m.ids[i0]
    gcount, dcount = lock_counts(m)
    g_n, d_n = gcount[g0], dcount[d0]
    x0 = 0
    app_group = m.app_group
    gm = group_marginal(gcoef, gexist, g_n)
    dm = group_marginal(dcoef, dexist, d_n)
    trace = base.trace
    index = _trace_index(m, base)
    # i0's own key changes only at the steps of its département (its EPCI-part and itself are
    # in it): between two such steps it is fixed, and the first base step it beats is found by
    # bisection on the trace's priorities, which never increase.
    start = 0
    for step in (*index.dept_steps.get(d0, ()), len(trace)):
        if x0 < u0 and d_n < dcap:
            last = min(step, len(trace) - 1)
            t = index.first_beaten(m, start, last, hq0[x0] + gm + dm, (created0, id0, x0))
            if t is not None:
                if x0 == current:
                    return True
                return _resumed(m, base, override, t, current).x[i0] > current
        if step == len(trace):
            break
        start = step + 1
        i = trace[step][0]
        if i == i0:
            x0 += 1
        if app_group[i] == g0:
            g_n += 1
            gm = group_marginal(gcoef, gexist, g_n)
        d_n += 1
        dm = group_marginal(dcoef, dexist, d_n)
    if base.quota_used_up or x0 >= u0 or d_n >= dcap:
        return False
    # The base run stopped with quota left because no post was open: i0's extra post is.
    if x0 == current:
        return True
    return _resumed(m, base, override, len(base.trace), current).x[i0] > current


@dataclass(frozen=True, slots=True)
class _TraceIndex:
    """A base run's trace indexed for :func:`override_gives_more`.

    ``neg_priority[t] = −p_t``; ``monotone``: the trace's priorities never increase (the
    greedy grants the best open post and a grant only lowers priorities, so this holds; checked
    anyway, a linear scan otherwise); ``dept_steps[d]``: the steps granting a post of
    département ``d``, ascending.
    """

    trace: tuple[tuple[int, int, int], ...]
    neg_priority: tuple[int, ...]
    monotone: bool
    dept_steps: dict[int, tuple[int, ...]]

    def first_beaten(
        self, m: Model, start: int, last: int, priority: int, tie: tuple[str, int, int]
    ) -> int | None:
        """First step ``t`` in ``[start, last]`` whose key ``(−p_t, created, id, k)`` is larger
        than ``(−priority, *tie)``, or ``None``."""
        if start > last:
            return None
        trace, created, ids = self.trace, m.created, m.ids
        if not self.monotone:
            for t in range(start, last + 1):
                i, k, p = trace[t]
                if (-priority, *tie) < (-p, created[i], ids[i], k):
                    return t
            return None
        # −p is non-decreasing: steps with p > priority, then p == priority (ties), then p <
        equal = bisect.bisect_left(self.neg_priority, -priority, start, last + 1)
        lower = bisect.bisect_right(self.neg_priority, -priority, equal, last + 1)
        for t in range(equal, lower):
            i, k, _p = trace[t]
            if tie < (created[i], ids[i], k):
                return t
        return lower if lower <= last else None


def _trace_index(m: Model, base: GreedyOutcome) -> _TraceIndex:
    """``base.trace_index``, built once per base run (of model ``m``)."""
    if base.trace_index is not None:
        return base.trace_index
    trace = base.trace
    neg = tuple(-p for _i, _k, p in trace)
    steps: dict[int, list[int]] = {}
    app_dept = m.app_dept
    for t, (i, _k, _p) in enumerate(trace):
        steps.setdefault(app_dept[i], []).append(t)
    index = _TraceIndex(
        trace=trace,
        neg_priority=neg,
        monotone=all(a <= b for a, b in itertools.pairwise(neg)),
        dept_steps={d: tuple(v) for d, v in steps.items()},
    )
    object.__setattr__(base, "trace_index", index)  # derived from the frozen run: a memo
    return index


def _resumed(
    m: Model,
    base: GreedyOutcome,
    override: tuple[int, tuple[int, ...], int],
    t: int,
    current: int,
) -> GreedyOutcome:
    """The overridden greedy continued from the base run's state after ``t`` steps, stopped as
    soon as ``i0`` holds more than ``current`` posts."""
    x = [v or 0 for v in m.lock]
    for i, _k, _p in base.trace[:t]:
        x[i] += 1
    return _greedy_from(m, override, x, m.free_quota - t, stop_above=(override[0], current))


def counts(m: Model, x: tuple[int, ...] | list[int]) -> tuple[list[int], list[int]]:
    """Posts of the round per EPCI-part (incl. virtual groups) and per département."""
    gcount = [0] * len(m.group_codes)
    dcount = [0] * len(m.dept_territories)
    for i, v in enumerate(x):
        if v:
            gcount[m.app_group[i]] += v
            dcount[m.app_dept[i]] += v
    return gcount, dcount


def objective_terms(m: Model, x: tuple[int, ...] | list[int]) -> tuple[int, int, int]:
    """Exact integer ``(access, distribution, balance)`` terms of ``F_int(x)``."""
    access = sum(sum(m.hq[i][:v]) for i, v in enumerate(x) if v)
    gcount, dcount = counts(m, x)
    distribution = sum(
        m.epci_marginal(g, k) for g, c in enumerate(gcount) if m.group_is_epci[g] for k in range(c)
    )
    balance = sum(m.dept_marginal(d, k) for d, c in enumerate(dcount) for k in range(c))
    return access, distribution, balance


def objective(m: Model, x: tuple[int, ...] | list[int]) -> int:
    """Exact integer objective ``F_int(x)`` (``F = F_int / SCALE``)."""
    return sum(objective_terms(m, x))


# --------------------------------------------------------------------------------------------
# The free part of the model, as handed to the OR-Tools backends
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FreeProblem:
    """The model once the locks are fixed: profits per unit, from the locks' counts on.

    ``app_profits[j]`` are the marginal gains of free applicant ``apps[j]`` (at most ``quota``
    units); ``group_profits[g]`` / ``dept_profits[d]`` the marginal gains of the next units of
    EPCI-part / département (the département list is cut at its cap). ``constant`` is
    ``F_int`` of the locks alone.
    """

    apps: tuple[int, ...]
    app_profits: tuple[tuple[int, ...], ...]
    group_profits: tuple[tuple[int, ...], ...]
    dept_profits: tuple[tuple[int, ...], ...]
    quota: int
    budget_cents: int | None
    constant: int


def free_problem(m: Model) -> FreeProblem:
    """Extract the free part of ``m`` (same integer coefficients as the greedy)."""
    quota = max(0, m.free_quota)
    gcount, dcount = lock_counts(m)
    apps = tuple(i for i in range(m.n) if m.lock[i] is None and m.upper[i] > 0)
    app_profits = tuple(m.hq[i][: min(m.upper[i], quota)] for i in apps)
    g_room = [0] * len(m.group_codes)
    d_room = [0] * len(m.dept_territories)
    for i in apps:
        g_room[m.app_group[i]] += m.upper[i]
        d_room[m.app_dept[i]] += m.upper[i]
    group_profits = tuple(
        tuple(m.epci_marginal(g, gcount[g] + k) for k in range(min(room, quota)))
        for g, room in enumerate(g_room)
    )
    dept_profits = []
    for d, room in enumerate(d_room):
        cap = m.dept_cap[d]
        length = min(room, quota) if cap is None else min(room, quota, max(0, cap - dcount[d]))
        dept_profits.append(tuple(m.dept_marginal(d, dcount[d] + k) for k in range(length)))
    return FreeProblem(
        apps=apps,
        app_profits=app_profits,
        group_profits=group_profits,
        dept_profits=tuple(dept_profits),
        quota=quota,
        budget_cents=m.budget_free_cents,
        constant=objective(m, [v or 0 for v in m.lock]),
    )
