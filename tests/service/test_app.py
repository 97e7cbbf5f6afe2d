"""Application factory, configuration layers, meta endpoints and the one error shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service import create_app

PROBLEM_KEYS = {"type", "title", "status", "detail", "errors"}


def assert_problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json(force=True)
    assert PROBLEM_KEYS <= set(body)
    assert body["status"] == status
    return body


def test_health_ready_openapi_docs(sqlite_client: Any) -> None:
    assert sqlite_client.get("/health").get_json() == {"status": "ok"}
    assert sqlite_client.get("/ready").status_code == 200
    spec = sqlite_client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    assert "RoundRequest" in spec["components"]["schemas"]
    assert "/v1/allocate" in spec["paths"]
    # every $ref resolves inside the document
    text = json.dumps(spec)
    for ref in {r.split('"')[0] for r in text.split('"$ref": "')[1:]}:
        name = ref.rsplit("/", 1)[-1]
        assert name in spec["components"]["schemas"], ref
    docs = sqlite_client.get("/docs")
    assert docs.status_code == 200 and docs.mimetype == "text/html"
    html = docs.get_data(as_text=True)
    assert (
        "/v1/allocate" in html and "<script" not in html and "http" not in html.split("<body>")[0]
    )


def test_ready_503_when_schema_missing(tmp_path: Any) -> None:
    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}", "AUTO_MIGRATE": False}
    )
    assert_problem(app.test_client().get("/ready"), 503)
    assert app.test_client().get("/health").status_code == 200


def test_ready_503_when_database_unreachable(tmp_path: Any) -> None:
    app = create_app(
        {
            "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1",
            "AUTO_MIGRATE": False,
        }
    )
    assert_problem(app.test_client().get("/ready"), 503)


def test_config_layers(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    instance = tmp_path / "inst"
    instance.mkdir()
    (instance / "config.py").write_text("MAX_CONTENT_LENGTH = 1234\nLOG_LEVEL = 'WARNING'\n")
    monkeypatch.setenv("ALLOCATOR_INSTANCE_PATH", str(instance))
    monkeypatch.delenv("ALLOCATOR_DATABASE_URL", raising=False)
    app = create_app()
    assert app.config["MAX_CONTENT_LENGTH"] == 1234  # instance file over defaults
    assert app.config["DATABASE_URL"].endswith("inst/allocator.sqlite3")  # embedded default
    assert (instance / "allocator.sqlite3").exists()  # upgraded automatically
    monkeypatch.setenv("ALLOCATOR_MAX_CONTENT_LENGTH", "999")
    assert create_app().config["MAX_CONTENT_LENGTH"] == 999  # environment over instance file
    assert create_app({"MAX_CONTENT_LENGTH": 5}).config["MAX_CONTENT_LENGTH"] == 5


def test_production_requires_secret(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOCATOR_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("ALLOCATOR_ENV", "production")
    monkeypatch.delenv("ALLOCATOR_SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app()
    monkeypatch.setenv("ALLOCATOR_SECRET_KEY", "s3cret-for-tests")
    app = create_app()
    # production never migrates implicitly: the store is not ready until `allocator db upgrade`
    assert (
        not (tmp_path / "allocator.sqlite3").exists()
        or not app.extensions["allocator.db"].is_up_to_date()
    )
    assert app.test_client().get("/ready").status_code == 503


def test_unknown_route_and_wrong_method(sqlite_client: Any, sqlite_tokens: Any) -> None:
    assert_problem(sqlite_client.get("/v1/nothing"), 404)
    body = assert_problem(sqlite_client.delete("/v1/allocate"), 405)
    assert body["detail"]
    assert "POST" in sqlite_client.delete("/v1/allocate").headers["Allow"]
    assert_problem(sqlite_client.get("/v1/structures/-1"), 404)
    assert_problem(
        sqlite_client.get(f"/v1/structures/{2**70}", headers=sqlite_tokens["admin"]), 404
    )


def test_body_too_large(tmp_path: Any, fake_solver: Any) -> None:
    from tests.service.conftest import make_tokens

    app = create_app(
        {"DATABASE_URL": f"sqlite:///{tmp_path / 's.sqlite3'}", "MAX_CONTENT_LENGTH": 1000}
    )
    headers = make_tokens(app.extensions["allocator.db"])["admin"]
    resp = app.test_client().post(
        "/v1/allocate", data="x" * 5000, headers=headers, content_type="application/json"
    )
    assert_problem(resp, 413)


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("{}", "text/plain", 415),
        ("quota=3", "application/x-www-form-urlencoded", 415),
        ("", None, 415),
        ("{", "application/json", 400),
        ('{"quota": NaN, "structures": []}', "application/json", 400),
        ('{"quota": Infinity, "structures": []}', "application/json", 400),
        ('{"quota": 1, "structures": [], "mois": "a\\u0000b"}', "application/json", 422),
        ('{"quota": 1, "structures": [], "mois": "\\ud800"}', "application/json", 422),
        (b"\xff\xfe", "application/json", 400),
        ("[" * 100_000, "application/json", 400),
        ("[]", "application/json", 422),
        ('{"quota": -1, "structures": []}', "application/json", 422),
        ('{"quota": 1.5, "structures": []}', "application/json", 422),
        ('{"quota": "3", "structures": []}', "application/json", 422),
        ('{"structures": []}', "application/json", 422),
        ('{"quota": 1, "structures": [], "mois": "2021-13"}', "application/json", 422),
    ],
)
def test_bad_input_is_4xx_problem(
    sqlite_client: Any, sqlite_tokens: Any, data: Any, content_type: str | None, status: int
) -> None:
    resp = sqlite_client.post(
        "/v1/allocate", data=data, content_type=content_type, headers=sqlite_tokens["analyste"]
    )
    assert_problem(resp, status)


def test_field_errors_name_the_field(sqlite_client: Any, sqlite_tokens: Any) -> None:
    body = {
        "quota": 3,
        "structures": [
            {"idPG": 1, "type": "COMMUNE", "codeCommune": "01283", "nombreConseillersSouhaites": 1},
            {
                "idPG": 2,
                "type": "COMMUNE",
                "codeCommune": "1283",
                "nombreConseillersSouhaites": 0,
                "qualiteProjet": 101,
                "createdAt": "hier",
            },
            {"idPG": 1, "type": "COMMUNE", "codeCommune": "01283", "nombreConseillersSouhaites": 1},
        ],
    }
    resp = sqlite_client.post("/v1/allocate", json=body, headers=sqlite_tokens["portail"])
    problem = assert_problem(resp, 422)
    champs = {e["champ"] for e in problem["errors"]}
    assert {
        "structures[1].codeCommune",
        "structures[1].nombreConseillersSouhaites",
        "structures[1].qualiteProjet",
        "structures[1].createdAt",
    } <= champs
    body["structures"].pop(1)
    problem = assert_problem(
        sqlite_client.post("/v1/allocate", json=body, headers=sqlite_tokens["portail"]), 422
    )
    assert "en double" in json.dumps(problem, ensure_ascii=False)


def test_unknown_commune_is_422(sqlite_client: Any, sqlite_tokens: Any) -> None:
    body = {
        "quota": 1,
        "structures": [
            {"idPG": 1, "type": "COMMUNE", "codeCommune": "99999", "nombreConseillersSouhaites": 1}
        ],
    }
    problem = assert_problem(
        sqlite_client.post("/v1/allocate", json=body, headers=sqlite_tokens["portail"]), 422
    )
    assert problem["errors"][0]["champ"] == "structures[0].codeCommune"


def test_internal_error_is_problem_500(
    sqlite_client: Any, sqlite_tokens: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.application import rounds

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(rounds, "solve", boom)
    body = {"quota": 1, "structures": []}
    resp = sqlite_client.post("/v1/allocate", json=body, headers=sqlite_tokens["portail"])
    problem = assert_problem(resp, 500)
    assert "boom" not in json.dumps(problem)
