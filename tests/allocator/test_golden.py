"""Readable JSON golden rounds: expected grants and status, and the validator on the result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from allocator import (
    Applicant,
    AvisPrefet,
    RoundInput,
    RoundPolicy,
    StructureType,
    Territory,
    allocate,
    check_feasible,
)

GOLDEN = Path(__file__).parent / "golden"


def load(path: Path) -> tuple[RoundInput, RoundPolicy, dict]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    rnd = doc["round"]
    applicants = []
    for a in rnd["applicants"]:
        a = dict(a)
        a["type"] = StructureType(a["type"])
        a["gains"] = tuple(a["gains"])
        a.setdefault("region", "00")
        if a.get("avis_prefet") is not None:
            a["avis_prefet"] = AvisPrefet(a["avis_prefet"])
        applicants.append(Applicant(**a))
    round_input = RoundInput(
        quota=rnd["quota"],
        mois=rnd.get("mois", ""),
        applicants=tuple(applicants),
        departements=tuple(Territory(**t) for t in rnd["departements"]),
        epcis=tuple(Territory(**t) for t in rnd["epcis"]),
    )
    return round_input, RoundPolicy(**doc["policy"]), doc["expected"]


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden(path):
    round_input, policy, expected = load(path)
    result = allocate(round_input, policy)
    assert check_feasible(round_input, policy, result) == []
    assert result.status.value == expected["status"]
    assert {str(d.id_pg): d.granted for d in result.decisions} == expected["grants"]
    if "price_of_monotonicity" in expected:
        assert result.report.to_dict()["price_of_monotonicity"] == expected["price_of_monotonicity"]
