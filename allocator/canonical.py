"""The canonical input: stable JSON of everything that decides a round (hashed in every result).

Also the policy echo of every report (enums as their values, tuples as lists).
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, fields
from enum import Enum
from typing import Any

from allocator.domain import RoundInput, RoundPolicy, SolverConfig

_SCALARS = (str, int, float, bool, type(None))


def _plain(value: object) -> object:
    """JSON-ready, with floats for float fields so that 72 and 72.0 hash alike."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


_FLOAT_FIELDS = frozenset(
    {
        "quality",
        "cost_eur",
        "standard_cost_eur",
        "need",
        "budget_eur",
        "min_quality",
        "prefet_penalty",
        "weight_access",
        "weight_distribution",
        "weight_balance",
        "budget_consumed_eur",
        "time_limit_s",
    }
)


#: Fields added after the first canonical form, left out while at their default so that the
#: inputs of earlier rounds keep their hash (their replay certificates stay valid).
_LATER_FIELDS: dict[str, object] = {"standard_cost_eur": None, "cofunding_priority": "neutre"}


@functools.cache
def _record_plan(cls: type) -> tuple[tuple[str, int, bool, object], ...]:
    """Per dataclass: ``(field, kind, is_later, default)``; kind 1 = float, 2 = gains, 0 = as is."""
    return tuple(
        (
            f.name,
            1 if f.name in _FLOAT_FIELDS else 2 if f.name == "gains" else 0,
            f.name in _LATER_FIELDS,
            _LATER_FIELDS.get(f.name),
        )
        for f in fields(cls)
    )


def _record(obj: object) -> dict[str, object]:
    out: dict[str, object] = {}
    cls: Any = type(obj)
    for name, kind, later, default in _record_plan(cls):
        value: Any = getattr(obj, name)
        if later and value == default:
            continue
        if kind == 1 and value is not None:
            out[name] = float(value)
        elif kind == 2:
            out[name] = [float(g) for g in value]
        else:  # scalars as is (what _plain does first), without the call
            out[name] = value if type(value) in _SCALARS else _plain(value)
    return out


def canonical_input(
    round_input: RoundInput,
    policy: RoundPolicy = RoundPolicy(),
    config: SolverConfig = SolverConfig(),
) -> bytes:
    """Stable JSON (UTF-8) of everything that decides the result.

    Applicants sorted by ``id_pg``, territories by code, keys sorted, floats normalised. The
    worker count is left out: it never changes the result. ``AllocationResult.input_sha256`` is
    the SHA-256 of these bytes.
    """
    config_part = _record(config)
    config_part.pop("workers")
    document = {
        "round": {
            "quota": round_input.quota,
            "mois": round_input.mois,
            "programme_consumed": round_input.programme_consumed,
            "budget_consumed_eur": float(round_input.budget_consumed_eur),
            "applicants": [
                _record(a) for a in sorted(round_input.applicants, key=lambda a: a.id_pg)
            ],
            "departements": [
                _record(t) for t in sorted(round_input.departements, key=lambda t: t.code)
            ],
            "epcis": [_record(t) for t in sorted(round_input.epcis, key=lambda t: t.code)],
        },
        "policy": _record(policy),
        "config": config_part,
    }
    return json.dumps(
        document, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def policy_echo(policy: RoundPolicy) -> dict[str, object]:
    """Every policy field, JSON-ready (enums as their values)."""
    plain = _plain(asdict(policy))
    assert isinstance(plain, dict)
    return plain
