"""``POST /v1/allocate?explication=compacte`` and ``allocator allocate --explication`` (issue 16).

The compact level gives each decision's opening paragraph, one-line summary, the engine's numbers
and the counterfactual, equal to those of the full level (the default, unchanged), and the path
of the full letter once committed; an unknown level is refused naming the parameter, and an
``Idempotency-Key`` never replays one level for a request of the other.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from service import create_app
from service.application import pipeline
from service.cli.main import main
from service.contract.schemas import parse_round_request
from service.explanations.legal import PUBLIC_URL_ENV
from service.explanations.levels import CLE_NIVEAU, COMPACT_KEYS, NIVEAUX, compact_result
from tests.service.conftest import make_tokens, small_request
from tests.service.test_app import assert_problem
from tests.service.test_explication import demo_payload


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    path = tmp_path_factory.mktemp("compacte") / "store.sqlite3"
    app = create_app({"DATABASE_URL": f"sqlite:///{path}", "TESTING": True})
    yield {"client": app.test_client(), "tokens": make_tokens(app.extensions["allocator.db"])}
    app.extensions["allocator.db"].dispose()


def _without_seconds(result: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(result)
    out["solveur"]["secondes"] = 0
    return out


def test_allocate_compact_level_is_the_full_levels_paragraph_and_numbers(
    http: dict[str, Any],
) -> None:
    client, headers = http["client"], http["tokens"]["portail"]
    body = demo_payload(n=30, quota=12)
    default = client.post("/v1/allocate", json=body, headers=headers)
    full = client.post("/v1/allocate?explication=complete", json=body, headers=headers)
    compact = client.post("/v1/allocate?explication=compacte", json=body, headers=headers)
    for resp in (default, full, compact):
        assert resp.status_code == 200, resp.get_json()
    assert _without_seconds(default.get_json()) == _without_seconds(full.get_json())
    full_r, compact_r = full.get_json(), compact.get_json()
    assert CLE_NIVEAU not in full_r and compact_r[CLE_NIVEAU] == "compacte"
    assert len(compact.data) * 5 < len(full.data)
    rest = ("decisions", "solveur", CLE_NIVEAU)
    assert {k: v for k, v in compact_r.items() if k not in rest} == {
        k: v for k, v in full_r.items() if k not in rest
    }
    for c, f in zip(compact_r["decisions"], full_r["decisions"], strict=True):
        assert {k: v for k, v in c.items() if k != "explication"} == {
            k: v for k, v in f.items() if k != "explication"
        }
        e = c["explication"]
        assert e == {
            **{k: f["explication"][k] for k in COMPACT_KEYS},
            "explicationComplete": f"/v1/structures/{c['idPG']}/explication",
        }
        assert "texte" not in e and e["essentiel"].startswith("Vous avez demandé")


@pytest.mark.parametrize(
    "query", ["explication=courte", "explication=", "explication=compacte&explication=complete"]
)
def test_allocate_unknown_explanation_level_is_a_422_naming_it(
    http: dict[str, Any], query: str
) -> None:
    resp = http["client"].post(
        f"/v1/allocate?{query}", json=demo_payload(n=6, quota=1), headers=http["tokens"]["portail"]
    )
    body = assert_problem(resp, 422)
    assert [e["champ"] for e in body["errors"]] == ["explication"]
    assert "compacte" in body["errors"][0]["message"]


def test_idempotency_key_reused_with_another_explanation_level_is_refused(
    sqlite_client: Any, sqlite_tokens: Any
) -> None:
    """A key replays its first answer: a request for another level is another request (422),
    never the compact answer served to a caller who asked for the full letters."""
    headers = {**sqlite_tokens["portail"], "Idempotency-Key": "tour-compact-1"}
    body = small_request()
    first = sqlite_client.post("/v1/allocate?explication=compacte", json=body, headers=headers)
    assert first.status_code == 200 and first.get_json()[CLE_NIVEAU] == "compacte"
    again = sqlite_client.post("/v1/allocate?explication=compacte", json=body, headers=headers)
    assert again.headers.get("Idempotency-Replayed") == "true" and again.data == first.data
    other = sqlite_client.post("/v1/allocate", json=body, headers=headers)
    assert_problem(other, 422)
    plain = {**sqlite_tokens["portail"], "Idempotency-Key": "tour-plein-1"}
    assert sqlite_client.post("/v1/allocate", json=body, headers=plain).status_code == 200
    assert (
        sqlite_client.post("/v1/allocate", json=body, headers=plain).headers.get(
            "Idempotency-Replayed"
        )
        == "true"
    )


def test_cli_and_encoder_give_the_compact_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = demo_payload(n=20, quota=8)
    request = parse_round_request(payload)
    solved = pipeline.solve_round(request)
    expected = pipeline.dumps_bytes(compact_result(solved.contract()))
    assert pipeline.dumps_bytes(solved.contract(niveau="compacte")) == expected
    assert pipeline.encode_round(solved, processes=1, niveau="compacte") == expected
    if hasattr(os, "fork"):
        monkeypatch.setattr(pipeline, "PARALLEL_MIN_DECISIONS", 1)
        assert pipeline.encode_round(solved, processes=2, niveau="compacte") == expected
    path = tmp_path / "r.json"
    path.write_text(json.dumps(payload), encoding="utf-8")
    out = CliRunner().invoke(main, ["allocate", str(path), "--explication", "compacte"])
    assert out.exit_code == 0, out.output
    printed = json.loads(out.stdout)
    assert _without_seconds(printed) == _without_seconds(json.loads(expected))
    # the command's choices are the levels of the explanation
    option = next(p for p in main.commands["allocate"].params if p.name == "niveau")
    assert tuple(option.type.choices) == NIVEAUX  # type: ignore[attr-defined]


@pytest.mark.parametrize("bad", ["conseillers.gouv.fr", "https://conseillers.gouv.fr/?a=1"])
def test_cli_refuses_a_public_url_the_letters_could_not_cite(
    bad: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(PUBLIC_URL_ENV, bad)
    request_file = tmp_path / "r.json"
    request_file.write_text(json.dumps(demo_payload(n=6, quota=1)), encoding="utf-8")
    out = CliRunner().invoke(main, ["allocate", str(request_file)])
    assert out.exit_code == 2
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("configuration invalide : ALLOCATOR_PUBLIC_URL")
