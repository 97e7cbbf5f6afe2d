"""``pipeline.encode_round``: the same bytes in one or two processes as ``dumps(contract())``."""

from __future__ import annotations

import copy
import os

import pytest

from service import speed
from service.application import pipeline
from service.contract.schemas import parse_round_request
from service.explanations import letters as explication
from tests.service.conftest import structure_doc

# Real communes of several départements, with EPCI, DROM and a large city: varied explanations.
CODES = ["01283", "01004", "69123", "13055", "29019", "97411", "2A004", "59350", "33063", "67482"]
TYPES = ["COMMUNE", "EPCI", "COLLECTIVITE", "COMMUNE", "DEPARTEMENT", "PRIVATE"]


def _request(n: int) -> dict:
    structures = []
    for i in range(n):
        doc = structure_doc(1000 + i, CODES[i % len(CODES)])
        doc.update(
            type=TYPES[i % len(TYPES)],
            nombreConseillersSouhaites=1 + i % 4,
            qualiteProjet=30 + (i * 37) % 71,
            createdAt=f"2021-05-{1 + i % 28:02d}T10:00:00Z",
        )
        if i % 9 == 0:
            doc["prefet"] = [{"avisPrefet": "POSITIF", "nombreConseillersPrefet": 1}]
        if i % 13 == 0:
            doc["cofinancementPart"] = 0.25
        structures.append(doc)
    return {"quota": n // 3, "mois": "2021-06", "structures": structures}


@pytest.fixture(scope="module")
def solved():
    return pipeline.solve_round(parse_round_request(_request(61)))


def test_one_or_two_processes_give_the_contract_bytes(solved, monkeypatch):
    outline = copy.deepcopy(solved.outline)
    expected = pipeline.dumps_bytes(solved.contract())
    # the same as the engine's contract with the legal explanations attached afterwards
    attached = explication.attach(solved.contract(explain=False), solved.request)
    assert pipeline.dumps_bytes(attached) == expected
    assert expected.count(b'"texte":') == len(solved.request.structures)

    assert pipeline.encode_round(solved, processes=1) == expected
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_DECISIONS", 1)
    if hasattr(os, "fork"):
        forks = []
        real_fork = os.fork
        monkeypatch.setattr(os, "fork", lambda: forks.append(1) or real_fork())
        assert pipeline.encode_round(solved, processes=2) == expected
        assert forks == [1]  # the second half really was explained by a child
    assert solved.outline == outline  # the round is left as it was


def test_run_round_is_the_solved_rounds_contract(solved):
    again = pipeline.run_round(solved.request)
    again["solveur"]["secondes"] = solved.outline["solveur"]["secondes"]
    assert again == solved.contract()
    outline = solved.outline
    assert [d["idPG"] for d in outline["decisions"]] == sorted(
        s.idPG for s in solved.request.structures
    )
    assert all("explication" not in d for d in outline["decisions"])
    assert pipeline.result_summary(outline) == pipeline.result_summary(solved.contract())


def test_a_failing_child_is_an_error_not_a_partial_result(solved, monkeypatch, capfd):
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_DECISIONS", 1)
    last = solved.outline["decisions"][-1]["idPG"]
    real = explication.round_explainer

    def failing(result, request, meta=None, niveau="complete"):
        explain = real(result, request, meta, niveau)

        def wrapped(decision):
            if decision["idPG"] == last:  # in the child's half
                raise ValueError("boom")
            return explain(decision)

        return wrapped

    monkeypatch.setattr(explication, "round_explainer", failing)
    with pytest.raises(RuntimeError, match="explanation worker failed"):
        pipeline.encode_round(solved, processes=2)
    assert "ValueError: boom" in capfd.readouterr().err


def test_without_memfd_the_child_writes_a_temporary_file(solved, monkeypatch):
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    expected = pipeline.dumps_bytes(solved.contract())
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_DECISIONS", 1)
    monkeypatch.delattr(os, "memfd_create", raising=False)
    spools = []
    real_spool = speed.spool
    monkeypatch.setattr(speed, "spool", lambda: spools.append(1) or real_spool())
    assert pipeline.encode_round(solved, processes=2) == expected
    assert spools == [1]
