"""Idempotency-Key on POSTs: same key + same body → same stored response."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import create_app
from service.contract.errors import Conflict
from service.contract.schemas import InvalidRequest
from service.http import web
from service.store import repository as store
from service.store.db import Database
from tests.service.conftest import make_tokens, small_request, structure_doc
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


# -- bounded idempotency keys (issue 14) --------------------------------------------------------

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clocked(db_url: str, fake_solver: Any) -> Iterator[tuple[Any, dict[str, datetime]]]:
    """An application whose clock the test moves (``CLOCK`` in the config)."""
    clock = {"now": T0}
    application = create_app(
        {
            "DATABASE_URL": db_url,
            "AUTO_MIGRATE": True,
            "TESTING": True,
            "CLOCK": lambda: clock["now"],
        }
    )
    yield application, clock
    application.extensions["allocator.db"].dispose()


def _key_rows(app: Any) -> list[Any]:
    with app.extensions["allocator.db"].read() as s:
        return list(s.execute(sa.text("SELECT key, status_code FROM idempotency_keys")))


def test_reuse_after_4xx_when_the_blocking_row_vanishes_is_not_500(db_url: str) -> None:
    """The race behind ``NoResultFound``: our insert hits the unique key of a concurrent request's
    row, and that row is gone (its request got a 4xx and released the key) when we read it back.
    The hook replays our own INSERT just before it runs; the savepoint rolled back on the unique
    violation takes that row away again, exactly the state the race leaves."""
    database = Database(db_url)
    database.upgrade()
    with database.write() as s:
        store.create_token(s, "agence", "race")
        token_id = s.execute(sa.text("SELECT id FROM api_tokens")).scalar_one()
    fired: list[bool] = []

    def insert_first(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if not fired and statement.lstrip().upper().startswith("INSERT INTO IDEMPOTENCY_KEYS"):
            fired.append(True)
            cursor.execute(statement, params)

    sa.event.listen(database.write_engine, "before_cursor_execute", insert_first)
    args = (token_id, "k-race", "POST", "/v1/rounds", "0" * 64)
    try:
        with database.write() as s:
            first = store.reserve_idempotency_key(s, *args, now=T0, lease=timedelta(minutes=5))
        assert fired and isinstance(first, store.Reservation)
        # The key is now ours: a concurrent reuse is told it is in progress (409), never a 500.
        with pytest.raises(Conflict), database.write() as s:
            store.reserve_idempotency_key(s, *args, now=T0, lease=timedelta(minutes=5))
    finally:
        sa.event.remove(database.write_engine, "before_cursor_execute", insert_first)
        database.dispose()


def test_concurrent_reuse_after_4xx_never_gives_500(app: Any, tokens: Any) -> None:
    """Many clients retry the same key at once after its first use got a 4xx: each gets the
    4xx again (the key is free again after each error) or a 409 (someone holds it), never a 500."""
    client = app.test_client()
    client.put("/v1/structures/1", json=structure_doc(1), headers=tokens["portail"])
    headers = {**tokens["portail"], "Idempotency-Key": "avis-concurrent"}
    bad = {"avisPrefet": "POSITIF", "commentairePrefet": "court"}
    assert_problem(client.post("/v1/structures/1/avis-prefet", json=bad, headers=headers), 422)
    barrier = threading.Barrier(6)

    def retry(_: int) -> list[int]:
        c = app.test_client()
        barrier.wait()
        return [
            c.post("/v1/structures/1/avis-prefet", json=bad, headers=headers).status_code
            for _ in range(5)
        ]

    with ThreadPoolExecutor(6) as pool:
        codes = [code for batch in pool.map(retry, range(6)) for code in batch]
    assert set(codes) <= {409, 422}, codes
    assert _key_rows(app) == []  # every 4xx released the key


def test_expired_key_is_treated_as_new(clocked: tuple[Any, dict[str, datetime]]) -> None:
    app, clock = clocked
    tokens = make_tokens(app.extensions["allocator.db"])
    client = app.test_client()
    client.put("/v1/structures/1", json=structure_doc(1), headers=tokens["portail"])
    headers = {**tokens["portail"], "Idempotency-Key": "avis-ttl"}
    good = {"avisPrefet": "POSITIF", "commentairePrefet": "assez long cette fois"}
    first = client.post("/v1/structures/1/avis-prefet", json=good, headers=headers)
    assert first.status_code == 201
    clock["now"] = T0 + timedelta(hours=23, minutes=59)
    replay = client.post("/v1/structures/1/avis-prefet", json=good, headers=headers)
    assert replay.headers.get("Idempotency-Replayed") == "true"
    # After the TTL (24 h by default) the key is new again: even another body is accepted.
    clock["now"] = T0 + timedelta(hours=24, seconds=1)
    other = {"avisPrefet": "NEGATIF", "commentairePrefet": "avis revu après visite"}
    again = client.post("/v1/structures/1/avis-prefet", json=other, headers=headers)
    assert again.status_code == 201 and "Idempotency-Replayed" not in again.headers
    assert len(again.get_json()["prefet"]) == 2


def test_in_progress_key_of_a_crashed_worker_expires_after_the_lease(
    clocked: tuple[Any, dict[str, datetime]],
) -> None:
    app, clock = clocked
    tokens = make_tokens(app.extensions["allocator.db"])
    client = app.test_client()
    client.put("/v1/structures/1", json=structure_doc(1), headers=tokens["portail"])
    database = app.extensions["allocator.db"]
    headers = {**tokens["portail"], "Idempotency-Key": "avis-crash"}
    good = {"avisPrefet": "POSITIF", "commentairePrefet": "assez long cette fois"}
    path = "/v1/structures/1/avis-prefet"
    # A worker reserved the key for this very request and died (SIGKILL: no release, no answer).
    with app.test_request_context(path, method="POST", json=good):
        sha = web._request_sha256()
    with database.write() as s:
        token_id = store.find_token(s, tokens["portail"]["Authorization"].split()[1]).id
        store.reserve_idempotency_key(
            s, token_id, "avis-crash", "POST", path, sha, now=T0, lease=timedelta(minutes=15)
        )
    clock["now"] = T0 + timedelta(minutes=14)
    body = assert_problem(client.post(path, json=good, headers=headers), 409)
    assert "en cours" in body["detail"]
    clock["now"] = T0 + timedelta(minutes=15, seconds=1)  # the default lease is 15 min
    resp = client.post(path, json=good, headers=headers)
    assert resp.status_code == 201
    assert client.post(path, json=good, headers=headers).headers["Idempotency-Replayed"] == "true"


def test_oversized_response_is_returned_but_not_stored(db_url: str, fake_solver: Any) -> None:
    app = create_app(
        {
            "DATABASE_URL": db_url,
            "AUTO_MIGRATE": True,
            "TESTING": True,
            "IDEMPOTENCY_MAX_BYTES": 200,
        }
    )
    try:
        tokens = make_tokens(app.extensions["allocator.db"])
        client = app.test_client()
        client.put("/v1/structures/1", json=structure_doc(1), headers=tokens["portail"])
        headers = {**tokens["agence"], "Idempotency-Key": "round-big"}
        first = client.post("/v1/rounds", json={"mois": "2021-06", "quota": 1}, headers=headers)
        assert first.status_code == 201 and len(first.data) > 200
        with app.extensions["allocator.db"].read() as s:
            stored = s.execute(
                sa.text("SELECT status_code, response_body, response_bytes FROM idempotency_keys")
            ).one()
        assert stored == (201, None, len(first.data))
        # The replay does not run the request again: it says why it cannot replay, and where the
        # created resource is.
        again = client.post("/v1/rounds", json={"mois": "2021-06", "quota": 1}, headers=headers)
        body = assert_problem(again, 409)
        assert body["errors"][0]["champ"] == "Idempotency-Key"
        assert "201" in body["detail"] and "ne peut pas être rejouée" in body["detail"]
        assert again.headers["Location"] == "/v1/rounds/1"
        assert len(fake_solver) == 1
        with app.extensions["allocator.db"].read() as s:
            assert s.execute(sa.text("SELECT count(*) FROM rounds")).scalar() == 1
    finally:
        app.extensions["allocator.db"].dispose()


def test_replay_keeps_the_location_header(app: Any, tokens: Any) -> None:
    client = app.test_client()
    client.put("/v1/structures/1", json=structure_doc(1), headers=tokens["portail"])
    headers = {**tokens["agence"], "Idempotency-Key": "round-loc"}
    first = client.post("/v1/rounds", json={"mois": "2021-06", "quota": 1}, headers=headers)
    again = client.post("/v1/rounds", json={"mois": "2021-06", "quota": 1}, headers=headers)
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"] == "/v1/rounds/1"


def test_long_path_with_a_key_is_not_500(app: Any, tokens: Any) -> None:
    """The stored path is bounded (the request hash covers the whole path)."""
    headers = {**tokens["portail"], "Idempotency-Key": "long"}
    path = "/v1/structures/" + "9" * 600 + "/avis-prefet"
    good = {"avisPrefet": "POSITIF", "commentairePrefet": "assez long cette fois"}
    assert_problem(app.test_client().post(path, json=good, headers=headers), 404)


def test_bad_idempotency_settings_refuse_to_start(sqlite_url: str) -> None:
    for name, value in (
        ("IDEMPOTENCY_TTL", 0),
        ("IDEMPOTENCY_LEASE", -5),
        ("IDEMPOTENCY_MAX_BYTES", "beaucoup"),
    ):
        with pytest.raises(RuntimeError, match=f"ALLOCATOR_{name}"):
            create_app({"DATABASE_URL": sqlite_url, name: value})


# -- the key's life, as a property ----------------------------------------------------------


@pytest.fixture(scope="module")
def key_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, int]]:
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('keys') / 'keys.sqlite3'}")
    database.upgrade()
    with database.write() as s:
        store.create_token(s, "analyste", "property")
        token_id = s.execute(sa.text("SELECT id FROM api_tokens")).scalar_one()
    yield database, token_id
    database.dispose()


STEPS = st.lists(
    st.tuples(
        st.integers(0, 3 * 3600),  # seconds since the previous step
        st.sampled_from(["same", "other", "finish-2xx", "finish-4xx", "finish-big"]),
        st.integers(0, 5),  # which unfinished reservation finishes (stale ones too)
    ),
    min_size=1,
    max_size=14,
)
_examples = itertools.count()


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=STEPS)
def test_key_lifecycle_matches_its_model(key_store: tuple[Database, int], steps: Any) -> None:
    """Against a reference model, for any timeline: a stored response is replayed until its TTL
    ends, a running request blocks the key (409) until its lease ends, another request with a held
    key is refused (422), a response too big to store is "not replayable" (409), an expired or
    released key is new again, and a worker whose lease was taken over can no longer complete or
    release the key (even when SQLite gives the new row the same id)."""
    database, token_id = key_store
    ttl, lease, max_bytes = timedelta(hours=2), timedelta(minutes=30), 10
    key = f"k{next(_examples)}"
    now = T0
    holders: list[store.Reservation] = []
    finished: set[int] = set()
    # The model's row: [holder index, "running" | "stored" | "big", expiry, request sha] or None.
    row: list[Any] | None = None
    for gap, action, pick in steps:
        now += timedelta(seconds=gap)
        if action.startswith("finish"):
            waiting = [i for i in range(len(holders)) if i not in finished]
            if not waiting:
                continue
            who = waiting[pick % len(waiting)]
            finished.add(who)  # a worker answers once: it completes or releases its key
            with database.write() as s:
                if action == "finish-4xx":
                    store.release_idempotency_key(s, holders[who])
                else:
                    body = "x" * (5 if action == "finish-2xx" else 50)
                    store.complete_idempotency_key(
                        s, holders[who], 201, body, None, now=now, ttl=ttl, max_bytes=max_bytes
                    )
            if row is not None and row[0] == who and row[1] == "running":
                if action == "finish-4xx":
                    row = None
                else:
                    row = [who, "stored" if action == "finish-2xx" else "big", now + ttl, row[3]]
            continue
        sha = "a" * 64 if action == "same" else "b" * 64
        if row is not None and row[2] <= now:
            row = None  # expired: the key is new
        try:
            with database.write() as s:
                out = store.reserve_idempotency_key(
                    s, token_id, key, "POST", "/p", sha, now=now, lease=lease
                )
        except InvalidRequest:
            assert row is not None and sha != row[3], (row, sha)
            continue
        except Conflict as exc:
            assert row is not None and sha == row[3], (row, sha)
            if row[1] == "running":
                assert "en cours" in exc.detail
            else:
                assert row[1] == "big" and "ne peut pas être rejouée" in exc.detail
            continue
        if isinstance(out, store.Replay):
            assert row is not None and row[1] == "stored" and sha == row[3], row
            assert (out.status_code, out.body) == (201, "x" * 5)
        else:
            assert row is None, row
            holders.append(out)
            row = [len(holders) - 1, "running", now + lease, sha]
