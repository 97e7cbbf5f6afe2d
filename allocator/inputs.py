"""Input checks: the preconditions of the engine (a violation raises ``InvalidInput``).

Every message names the field, the value and the rule; nothing is built before they pass.
"""

from __future__ import annotations

import math

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
from allocator.rules import COFUNDING_PRIORITY_CAP, MAX_COEFFICIENT, SCALE, filing_key

MODES = ("monotone", "optimal")
COFUNDING_RULES = ("neutre", "prioritaire")
PREFET_RULES = ("exclure", "penaliser")
DEPARTEMENT_CAP_RULES = ("aucun", "part_equitable")
BACKENDS = ("min_cost_flow", "scip", "cp_sat", "glop")


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
