"""``pipeline.encode_round``: the same bytes in one or two processes, as ``attach`` + ``dumps``."""

from __future__ import annotations

import copy
import os

import pytest

from service import explication, pipeline
from service.schemas import parse_round_request
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
def unexplained():
    request = parse_round_request(_request(61))
    return request, pipeline.run_round(request, explain=False)


def test_one_or_two_processes_give_the_attach_bytes(unexplained, monkeypatch):
    request, result = unexplained
    before = copy.deepcopy(result)
    expected = pipeline.dumps_bytes(explication.attach(copy.deepcopy(result), request))

    assert pipeline.encode_round(result, request, processes=1) == expected
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_DECISIONS", 1)
    if hasattr(os, "fork"):
        forks = []
        real_fork = os.fork
        monkeypatch.setattr(os, "fork", lambda: forks.append(1) or real_fork())
        assert pipeline.encode_round(result, request, processes=2) == expected
        assert forks == [1]  # the second half really was explained by a child
    assert result == before  # the input is left as it was


def test_a_failing_child_is_an_error_not_a_partial_result(unexplained, monkeypatch, capfd):
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    request, result = unexplained
    monkeypatch.setattr(pipeline, "PARALLEL_MIN_DECISIONS", 1)
    last = result["decisions"][-1]["idPG"]
    real = explication.round_explainer

    def failing(result, request, meta=None):
        explain = real(result, request, meta)

        def wrapped(decision):
            if decision["idPG"] == last:  # in the child's half
                raise ValueError("boom")
            return explain(decision)

        return wrapped

    monkeypatch.setattr(explication, "round_explainer", failing)
    with pytest.raises(RuntimeError, match="explanation worker failed"):
        pipeline.encode_round(result, request, processes=2)
    assert "ValueError: boom" in capfd.readouterr().err
