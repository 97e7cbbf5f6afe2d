"""Idempotency-Key on POSTs: same key + same body → same stored response."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.service.conftest import small_request, structure_doc
from tests.service.test_app import assert_problem


def test_same_key_same_body_replays(app: Any, client: Any, tokens: Any, fake_solver: Any) -> None:
    agence = {**tokens["agence"], "Idempotency-Key": "round-2021-06"}
    client.put("/v1/structures/1", json=structure_doc(1), headers=tokens["portail"])
    first = client.post("/v1/rounds", json={"mois": "2021-06", "quota": 1}, headers=agence)
    assert first.status_code == 201
    calls = len(fake_solver)
    # same JSON, different spacing and key order: same request
    again = client.post(
        "/v1/rounds",
        data='{"quota": 1,   "mois": "2021-06"}',
        content_type="application/json",
        headers=agence,
    )
    assert again.status_code == 201
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert len(fake_solver) == calls  # not re-executed
    with app.extensions["allocator.db"].read() as s:
        assert s.execute(sa.text("SELECT count(*) FROM rounds")).scalar() == 1
    # same key, other body → 422
    body = assert_problem(
        client.post("/v1/rounds", json={"mois": "2021-06", "quota": 2}, headers=agence), 422
    )
    assert body["errors"][0]["champ"] == "Idempotency-Key"
    # same key on another path → 422 as well
    assert_problem(client.post("/v1/allocate", json=small_request(), headers=agence), 422)
    # keys are per token: the admin may use the same key for its own request
    admin = {**tokens["admin"], "Idempotency-Key": "round-2021-06"}
    resp = client.post("/v1/allocate", json=small_request(), headers=admin)
    assert resp.status_code == 200


def test_commit_replay_and_errors_not_stored(client: Any, tokens: Any) -> None:
    agence = tokens["agence"]
    client.put("/v1/structures/1", json=structure_doc(1), headers=tokens["portail"])
    rid = client.post(
        "/v1/rounds", json={"mois": "2021-06", "quota": 1}, headers=agence
    ).get_json()["id"]
    keyed = {**agence, "Idempotency-Key": "commit-1"}
    first = client.post(f"/v1/rounds/{rid}/commit", headers=keyed)
    assert first.status_code == 200
    # a retried commit with the same key gets the same 200 instead of a 409
    again = client.post(f"/v1/rounds/{rid}/commit", headers=keyed)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    # without the key, a second commit is a conflict
    assert_problem(client.post(f"/v1/rounds/{rid}/commit", headers=agence), 409)
    # errors are not stored: the key is released and a corrected retry goes through
    k2 = {**tokens["portail"], "Idempotency-Key": "avis-1"}
    bad = {"avisPrefet": "POSITIF", "commentairePrefet": "court"}
    assert_problem(client.post("/v1/structures/1/avis-prefet", json=bad, headers=k2), 422)
    assert_problem(client.post("/v1/structures/1/avis-prefet", json=bad, headers=k2), 422)
    good = {"avisPrefet": "POSITIF", "commentairePrefet": "assez long cette fois"}
    assert client.post("/v1/structures/1/avis-prefet", json=good, headers=k2).status_code == 201


def test_malformed_key(client: Any, tokens: Any) -> None:
    headers = {**tokens["portail"], "Idempotency-Key": "x" * 300}
    body = assert_problem(client.post("/v1/allocate", json=small_request(), headers=headers), 422)
    assert body["errors"][0]["champ"] == "Idempotency-Key"
