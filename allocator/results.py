"""Typed results of the engine: the round's report and each decision's explanation details.

Frozen dataclasses returned by ``allocate`` (``AllocationResult.report``,
``Explanation.details``). Their ``to_dict()`` is the published JSON shape (the service's
``rapport`` and ``explication.details``): same keys, same order, lists for tuples, the policy
echoed with enums as their values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from allocator.canonical import policy_echo

if TYPE_CHECKING:
    from allocator.domain import RoundPolicy


# --------------------------------------------------------------------------------------------
# The round's report
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Binding:
    """Which totals the allocation reaches: quota, envelope, budget (no open post fits what is
    left), and the départements at their fair-share cap."""

    quota: bool
    envelope: bool
    budget: bool
    departement_caps: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "quota": self.quota,
            "envelope": self.envelope,
            "budget": self.budget,
            "departement_caps": list(self.departement_caps),
        }


@dataclass(frozen=True, slots=True)
class Money:
    """Posts of an allocation and what they cost: the State, the standard, the hosts."""

    posts: int
    state_cost_eur: float
    standard_cost_eur: float
    cofunding_eur: float

    def to_dict(self) -> dict[str, object]:
        return {
            "posts": self.posts,
            "state_cost_eur": self.state_cost_eur,
            "standard_cost_eur": self.standard_cost_eur,
            "cofunding_eur": self.cofunding_eur,
        }


def _money_dict(money: Money | None) -> dict[str, object] | None:
    return None if money is None else money.to_dict()


@dataclass(frozen=True, slots=True)
class CofundingSummary:
    """The co-funding rule of the round and how many applicants are co-funded."""

    priority: str
    priority_cap: float
    cofunded_applicants: int

    def to_dict(self) -> dict[str, object]:
        return {
            "priority": self.priority,
            "priority_cap": self.priority_cap,
            "cofunded_applicants": self.cofunded_applicants,
        }


@dataclass(frozen=True, slots=True)
class PriceOfMonotonicity:
    """What the monotone (greedy) allocation gives up against the best known one."""

    objective: float
    relative: float
    monotone: Money | None
    optimum: Money | None

    def to_dict(self) -> dict[str, object]:
        return {
            "objective": self.objective,
            "relative": self.relative,
            "monotone": _money_dict(self.monotone),
            "optimum": _money_dict(self.optimum),
        }


@dataclass(frozen=True, slots=True)
class PriceOfCofunding:
    """What the co-funding bonus costs the need-first (neutral) ranking of the same round."""

    objective: float
    posts_moved: int
    neutral: Money | None

    def to_dict(self) -> dict[str, object]:
        return {
            "objective": self.objective,
            "posts_moved": self.posts_moved,
            "neutral": _money_dict(self.neutral),
        }


@dataclass(frozen=True, slots=True)
class Guarantees:
    """The engine's guarantees kept and lost by a round, with the price of each lost one
    (``None``: that guarantee is kept, nothing to price)."""

    kept: tuple[str, ...]
    lost: tuple[str, ...]
    optimal_vs_monotone: PriceOfMonotonicity | None = None
    cofunding_neutral: PriceOfCofunding | None = None

    def to_dict(self) -> dict[str, object]:
        prices: dict[str, object] = {}
        if self.optimal_vs_monotone is not None:
            prices["optimal_vs_monotone"] = self.optimal_vs_monotone.to_dict()
        if self.cofunding_neutral is not None:
            prices["cofunding_neutral"] = self.cofunding_neutral.to_dict()
        return {"kept": list(self.kept), "lost": list(self.lost), "prices": prices}


@dataclass(frozen=True, slots=True)
class ObjectiveTerms:
    """The three terms of ``F`` at the allocation (access, distribution, balance)."""

    access: float
    distribution: float
    balance: float

    def to_dict(self) -> dict[str, object]:
        return {"access": self.access, "distribution": self.distribution, "balance": self.balance}


@dataclass(frozen=True, slots=True)
class Certificate:
    """The backend that certified (or bounded) the allocation, and what it proved."""

    backend: str
    proven_optimal: bool
    objective: float | None
    parameters: dict[str, object]

    def to_dict(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "proven_optimal": self.proven_optimal,
            "objective": self.objective,
            "parameters": self.parameters,
        }


@dataclass(frozen=True, slots=True)
class RoundReport:
    """The round's report: the policy, the limits and how the allocation meets them.

    An INFEASIBLE round (locks contradicting the rules) has no allocation: only ``policy``,
    ``quota`` and ``effective_quota`` are set, every other field is ``None`` (``solved`` is
    False). Objectives are in ``F`` units (``objective_int`` in ``F_int = F × scale``).
    """

    policy: RoundPolicy
    quota: int
    effective_quota: int
    envelope_remaining: int | None = None
    budget_remaining_eur: float | None = None
    locked_posts: int | None = None
    granted_posts: int | None = None
    limits: tuple[str, ...] | None = None
    binding: Binding | None = None
    binding_constraints: tuple[str, ...] | None = None
    laminar: bool | None = None
    money: Money | None = None
    cofunding: CofundingSummary | None = None
    guarantees: Guarantees | None = None
    posts_per_departement: dict[str, int] | None = None
    fair_shares: dict[str, int | None] | None = None
    objective_terms: ObjectiveTerms | None = None
    objective_int: int | None = None
    monotone_objective: float | None = None
    optimum: float | None = None
    optimum_bound: float | None = None
    price_of_monotonicity: float | None = None
    certificate: Certificate | None = None
    scale: int | None = None

    @property
    def solved(self) -> bool:
        """Does the round have an allocation (every field set)?"""
        return self.granted_posts is not None

    def to_dict(self) -> dict[str, object]:
        """The published ``rapport`` (three keys for an INFEASIBLE round)."""
        head: dict[str, object] = {
            "policy": policy_echo(self.policy),
            "quota": self.quota,
            "effective_quota": self.effective_quota,
        }
        if not self.solved:
            return head
        return {
            **head,
            "envelope_remaining": self.envelope_remaining,
            "budget_remaining_eur": self.budget_remaining_eur,
            "locked_posts": self.locked_posts,
            "granted_posts": self.granted_posts,
            "limits": None if self.limits is None else list(self.limits),
            "binding": None if self.binding is None else self.binding.to_dict(),
            "binding_constraints": None
            if self.binding_constraints is None
            else list(self.binding_constraints),
            "laminar": self.laminar,
            "money": _money_dict(self.money),
            "cofunding": None if self.cofunding is None else self.cofunding.to_dict(),
            "guarantees": None if self.guarantees is None else self.guarantees.to_dict(),
            "posts_per_departement": self.posts_per_departement,
            "fair_shares": self.fair_shares,
            "objective_terms": None
            if self.objective_terms is None
            else self.objective_terms.to_dict(),
            "objective_int": self.objective_int,
            "monotone_objective": self.monotone_objective,
            "optimum": self.optimum,
            "optimum_bound": self.optimum_bound,
            "price_of_monotonicity": self.price_of_monotonicity,
            "certificate": None if self.certificate is None else self.certificate.to_dict(),
            "scale": self.scale,
        }


# --------------------------------------------------------------------------------------------
# A decision's details
#
# The records nested in ``DecisionDetails`` are named tuples: immutable and typed like the frozen
# dataclasses above, and built several times faster (a national round builds five per
# applicant, 25,000 at 5,000 applicants, inside ``explain``).
# --------------------------------------------------------------------------------------------
class DepartementDetails(NamedTuple):
    """The applicant's département: need, existing offer, fair share, cap room, posts of the
    round."""

    code: str
    need: float
    existing: int
    fair_share: int | None
    cap_room: int | None
    posts_round: int

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "need": self.need,
            "existing": self.existing,
            "fair_share": self.fair_share,
            "cap_room": self.cap_room,
            "posts_round": self.posts_round,
        }


class EpciDetails(NamedTuple):
    """The applicant's EPCI-part: need, existing offer, posts of the round."""

    code: str
    need: float
    existing: int
    posts_round: int

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "need": self.need,
            "existing": self.existing,
            "posts_round": self.posts_round,
        }


class CostDetails(NamedTuple):
    """One post of this host: the State's cost, the standard cost, the host's co-funding."""

    state_eur: float
    standard_eur: float
    cofunding_eur: float

    def to_dict(self) -> dict[str, object]:
        return {
            "state_eur": self.state_eur,
            "standard_eur": self.standard_eur,
            "cofunding_eur": self.cofunding_eur,
        }


class NextPost(NamedTuple):
    """The three terms of the priority of the applicant's next post, at the final state."""

    access: float
    distribution: float
    balance: float

    def to_dict(self) -> dict[str, object]:
        return {"access": self.access, "distribution": self.distribution, "balance": self.balance}


class CounterfactualDetails(NamedTuple):
    """What would have given one more post (see ``allocator.explain``).

    ``min_quality``: the lowest score that would (``None``: none known, or none up to 100 when
    ``nested``); ``verified``: confirmed by a greedy re-run; ``larger_request_would_help``:
    ``None`` when not known; ``nested``: the greedy-optimal property holds for this applicant.
    """

    min_quality: float | None
    verified: bool
    larger_request_would_help: bool | None
    nested: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "min_quality": self.min_quality,
            "verified": self.verified,
            "larger_request_would_help": self.larger_request_would_help,
            "nested": self.nested,
        }


@dataclass(frozen=True, slots=True)
class DecisionDetails:
    """The numbers behind one decision: territories, factors, cost, gains, bounds, the next
    post's priority terms (``None`` when the request is met) and the counterfactual."""

    departement: DepartementDetails
    epci: EpciDetails | None
    quality_factor: float
    cofunding_factor: float
    cost: CostDetails
    gains: tuple[float, ...]
    remaining_request: int
    upper_bound: int
    next_post: NextPost | None
    counterfactual: CounterfactualDetails

    def to_dict(self) -> dict[str, object]:
        """The published ``explication.details``."""
        return {
            "departement": self.departement.to_dict(),
            "epci": None if self.epci is None else self.epci.to_dict(),
            "quality_factor": self.quality_factor,
            "cofunding_factor": self.cofunding_factor,
            "cost": self.cost.to_dict(),
            "gains": list(self.gains),
            "remaining_request": self.remaining_request,
            "upper_bound": self.upper_bound,
            "next_post": None if self.next_post is None else self.next_post.to_dict(),
            "counterfactual": self.counterfactual.to_dict(),
        }
