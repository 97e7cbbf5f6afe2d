"""Bearer tokens and the role matrix: 401 (no/unknown token) vs 403 (role not allowed)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.service.conftest import ROLES, small_request, structure_doc

# (method, path, body, roles allowed besides admin)
MATRIX = [
    ("POST", "/v1/allocate", small_request(), {"portail", "agence", "analyste"}),
    ("PUT", "/v1/structures/1", structure_doc(1), {"portail"}),
    ("GET", "/v1/structures/1", None, {"portail", "agence", "analyste"}),
    (
        "POST",
        "/v1/structures/1/avis-prefet",
        {"avisPrefet": "POSITIF", "commentairePrefet": "Projet solide et utile."},
        {"portail", "agence"},
    ),
    ("POST", "/v1/rounds", {"mois": "2021-06", "quota": 1}, {"agence"}),
    ("GET", "/v1/rounds", None, {"agence", "analyste"}),
    ("GET", "/v1/rounds/1", None, {"agence", "analyste"}),
    ("PATCH", "/v1/rounds/1", {"idPG": 1, "nombre": 1, "motif": "arbitrage"}, {"agence"}),
    ("POST", "/v1/rounds/1/commit", None, {"agence"}),
    ("GET", "/v1/territoires/commune/01283", None, {"portail", "agence", "analyste"}),
]


@pytest.mark.parametrize(("method", "path", "body", "allowed"), MATRIX)
def test_role_matrix(
    sqlite_client: Any, sqlite_tokens: Any, method: str, path: str, body: Any, allowed: set[str]
) -> None:
    kwargs = {"json": body} if body is not None else {}
    resp = sqlite_client.open(path, method=method, **kwargs)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    assert resp.mimetype == "application/problem+json"
    resp = sqlite_client.open(
        path, method=method, headers={"Authorization": "Bearer nope"}, **kwargs
    )
    assert resp.status_code == 401
    resp = sqlite_client.open(
        path, method=method, headers={"Authorization": "Basic dXNlcjpwdw=="}, **kwargs
    )
    assert resp.status_code == 401
    for role in ROLES:
        resp = sqlite_client.open(path, method=method, headers=sqlite_tokens[role], **kwargs)
        if role in allowed or role == "admin":
            assert resp.status_code not in (401, 403), (role, resp.get_json())
        else:
            assert resp.status_code == 403, (role, resp.status_code)
            assert resp.mimetype == "application/problem+json"


def test_public_endpoints_need_no_token(sqlite_client: Any) -> None:
    for path in ("/health", "/ready", "/openapi.json", "/docs"):
        assert sqlite_client.get(path).status_code == 200, path


def test_tokens_are_stored_hashed(sqlite_app: Any, sqlite_tokens: Any) -> None:
    import sqlalchemy as sa

    raw = sqlite_tokens["admin"]["Authorization"].split()[1]
    with sqlite_app.extensions["allocator.db"].read() as s:
        stored = s.execute(sa.text("SELECT token_sha256 FROM api_tokens")).scalars().all()
    assert raw not in stored
    assert all(len(h) == 64 for h in stored)
