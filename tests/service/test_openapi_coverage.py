"""The served OpenAPI document describes exactly the application's routes, truthfully.

- every route of the app's ``url_map`` (except static files, the agency's HTML pages under
  ``/agence`` and the ``/docs`` page) is a documented operation, and every documented operation
  is a route: a view routed without ``operation(...)`` (:mod:`service.http.operations`) fails;
- the body model a view declares is the one it validates with (an empty object is refused
  naming exactly that model's required fields);
- the declared security matches the view (``requires(...)`` roles, or public), and is enforced;
- request bodies are ``$ref`` to the very pydantic models the views validate with, and the views
  reject a non-object body with a 422 problem;
- every error response is ``application/problem+json``; operations with a path parameter
  document 404, with a body 400/413/415/422, with ``Idempotency-Key`` 409/422;
- ``/docs`` lists every operation and schema.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from allocator.programme import MAX_CONVENTION_MONTHS
from service.contract import documents as api_schemas
from service.http import openapi

METHODS = {"get", "put", "post", "patch", "delete"}
EXCLUDED_PREFIXES = ("/agence",)
EXCLUDED_RULES = {"/docs"}


def _template(path: str) -> str:
    """``/v1/rounds/<int:round_id>`` and ``/v1/rounds/{id}`` → ``/v1/rounds/{}``."""
    return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)


def _routes(app: Flask) -> dict[tuple[str, str], str]:
    """(path template, method) → endpoint, for the routes the document must describe."""
    out = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        if rule.rule in EXCLUDED_RULES or rule.rule.startswith(EXCLUDED_PREFIXES):
            continue
        for method in rule.methods or ():
            if method.lower() in METHODS:
                out[(_template(rule.rule), method.lower())] = rule.endpoint
    return out


def _operations(spec: dict[str, Any]) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    return {
        (_template(path), method): (path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
    }


@pytest.fixture
def spec(sqlite_client: Any) -> dict[str, Any]:
    response = sqlite_client.get("/openapi.json")
    assert response.status_code == 200
    return response.json


def _example_path(path: str) -> str:
    values = {"niveau": "departement", "code": "01"}
    return re.sub(r"\{([^}]+)\}", lambda m: values.get(m.group(1), "0"), path)


def test_every_route_is_documented_and_every_operation_exists(
    sqlite_app: Flask, spec: dict[str, Any]
) -> None:
    routes = _routes(sqlite_app)
    documented = _operations(spec)
    missing = sorted(set(routes) - set(documented))
    phantom = sorted(set(documented) - set(routes))
    assert not missing, f"routes absent from /openapi.json: {missing}"
    assert not phantom, f"documented operations without a route: {phantom}"
    # The scenario blueprint and the cycle / transparency ones are among them.
    assert ("/v1/scenarios", "post") in documented
    assert ("/v1/rounds/{}/rejeu", "get") in documented
    assert ("/v1/notice", "get") in documented


def test_paths_follow_the_reading_order(spec: dict[str, Any]) -> None:
    """Every documented path has its place in ``openapi.PATH_ORDER``, and the document (and
    the ``/docs`` page) lists them in that order, whatever the order the routes are registered."""
    assert list(spec["paths"]) == [p for p in openapi.PATH_ORDER if p in spec["paths"]]
    assert set(spec["paths"]) == set(openapi.PATH_ORDER)


def test_path_parameters_are_declared(spec: dict[str, Any]) -> None:
    for path, item in spec["paths"].items():
        names = re.findall(r"\{([^}]+)\}", path)
        for method, op in item.items():
            declared = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
            assert declared == names, (method, path)
            assert all(p["required"] for p in op.get("parameters", []) if p["in"] == "path")


def test_security_matches_the_views(sqlite_app: Flask, spec: dict[str, Any]) -> None:
    routes = _routes(sqlite_app)
    for key, (path, op) in _operations(spec).items():
        view = sqlite_app.view_functions[routes[key]]
        roles = getattr(view, "roles", None)  # set by service.http.web.requires
        label = f"{key[1].upper()} {path}"
        assert "security" in op, label
        if roles is None:
            assert op["security"] == [], label
            assert "x-roles" not in op and "401" not in op["responses"], label
        else:
            assert op["security"] == [{"bearer": []}], label
            assert op["x-roles"] == list(roles), label
            assert {"401", "403"} <= set(op["responses"]), label


def test_declared_security_is_enforced(sqlite_client: Any, spec: dict[str, Any]) -> None:
    """Without a token: 401 for every bearer operation, never 401 for a public one."""
    for path, item in spec["paths"].items():
        for method, op in item.items():
            response = sqlite_client.open(_example_path(path), method=method.upper())
            label = f"{method.upper()} {path}"
            if op["security"]:
                assert response.status_code == 401, label
                assert response.mimetype == "application/problem+json", label
            else:
                assert response.status_code in {200, 503}, label


def test_error_responses_are_problems(spec: dict[str, Any]) -> None:
    problem = {"$ref": "#/components/schemas/Problem"}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            label = f"{method.upper()} {path}"
            codes = set(op["responses"])
            assert "default" in codes, label
            for code, response in op["responses"].items():
                if code.startswith(("4", "5")) or code == "default":
                    assert response["content"] == {
                        "application/problem+json": {"schema": problem}
                    }, (label, code)
            params = op.get("parameters", [])
            if any(p["in"] == "path" for p in params):
                assert "404" in codes, label
            if "requestBody" in op:
                assert {"400", "413", "415", "422"} <= codes, label
            if any(p["name"] == "Idempotency-Key" for p in params):
                assert {"409", "422"} <= codes, label
            assert any(c.startswith("2") for c in codes), label


def test_request_bodies_are_the_validation_models(sqlite_app: Flask, spec: dict[str, Any]) -> None:
    models = {m.__name__: m for m in openapi.input_models(sqlite_app)}
    schemas = spec["components"]["schemas"]
    used = set()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if "requestBody" not in op:
                continue
            (media,) = op["requestBody"]["content"]
            assert media == "application/json", (method, path)
            name = op["requestBody"]["content"][media]["schema"]["$ref"].rsplit("/", 1)[1]
            assert name in models, (method, path, name)
            own = models[name].model_json_schema(ref_template="#/components/schemas/{model}")
            own.pop("$defs", None)
            openapi.state_storable_text(own)  # the rule on received text, stated once
            assert schemas[name] == own, name
            used.add(name)
    assert used == set(models), f"input models documented but unused: {set(models) - used}"


def test_views_validate_their_documented_body(
    sqlite_client: Any, sqlite_tokens: dict[str, dict[str, str]], spec: dict[str, Any]
) -> None:
    """A JSON array is no object: every documented body is parsed, and rejected with a 422."""
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if "requestBody" not in op:
                continue
            response = sqlite_client.open(
                _example_path(path), method=method.upper(), json=[], headers=sqlite_tokens["admin"]
            )
            assert response.status_code == 422, (method, path, response.json)
            assert response.json["errors"][0]["champ"] == "(corps)", (method, path)


def test_views_validate_with_their_declared_model(
    sqlite_app: Flask, sqlite_client: Any, sqlite_tokens: dict[str, dict[str, str]]
) -> None:
    """An empty object is refused naming exactly the required fields of the body model the view
    declares (but those the path gives): the declaration is the model the view validates with."""
    checked = []
    for path, method, op in openapi.documented_routes(sqlite_app):
        if op.body is None or not op.body_required:
            continue
        response = sqlite_client.open(
            _example_path(path), method=method.upper(), json={}, headers=sqlite_tokens["admin"]
        )
        required = {name for name, f in op.body.model_fields.items() if f.is_required()}
        required -= {p.name for p in op.params if p.location == "path"}
        assert response.status_code == 422, (method, path, response.json)
        assert {e["champ"] for e in response.json["errors"]} == required, (method, path)
        checked.append(op.body.__name__)
    assert "RoundRequest" in checked and "ScenariosIn" in checked and "EventBody" in checked


def test_query_parameters_come_from_the_view_models(spec: dict[str, Any]) -> None:
    programme = spec["paths"]["/v1/programme"]["get"]["parameters"]
    assert programme == openapi.query_parameters(api_schemas.ProgrammeQuery)
    assert programme[0]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": MAX_CONVENTION_MONTHS,
    }
    (date,) = spec["paths"]["/v1/postes/echeances"]["get"]["parameters"]
    # empty (``?date=``) is accepted as absent (now): the document says so
    assert date["schema"] == {
        "anyOf": [
            {"type": "string", "format": "date-time"},
            {"type": "string", "maxLength": 0, "pattern": "^[^\\u0000]*$"},
        ]
    }
    assert api_schemas.MAX_DUREE_MOIS == MAX_CONVENTION_MONTHS


def test_docs_page_lists_every_operation_and_schema(
    sqlite_client: Any, spec: dict[str, Any]
) -> None:
    response = sqlite_client.get("/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for path, item in spec["paths"].items():
        for method in item:
            anchor = f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", "")
            assert f"id='{anchor}'" in page, (method, path)
            assert f"href='#{anchor}'" in page, (method, path)
    for name in spec["components"]["schemas"]:
        assert f"id='schema-{name}'" in page, name


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        # Found while fuzzing the new operations: each used to end in a 500.
        ("GET", "/v1/programme?duree=%C2%B2", None),  # "²".isdigit() but int("²") fails
        ("GET", "/v1/programme?duree=" + "9" * 5000, None),
        ("GET", "/v1/programme?duree=0", None),
        ("GET", "/v1/postes/echeances?date=0001-01-01T00:00:00%2B01:00", None),
        ("GET", "/v1/postes/echeances?date=demain", None),
        ("POST", "/v1/rounds/mensuel", {"mois": "0000-06"}),
        ("POST", "/v1/rounds", {"mois": "0000-06", "quota": 1}),
        (
            "POST",
            "/v1/structures/0/postes/1/evenements",
            {"type": "CONTRAT_SIGNE", "date": "0001-01-01T00:00:00+01:00"},
        ),
    ],
)
def test_edge_inputs_are_422(
    sqlite_client: Any,
    sqlite_tokens: dict[str, dict[str, str]],
    method: str,
    url: str,
    body: Any,
) -> None:
    response = sqlite_client.open(url, method=method, json=body, headers=sqlite_tokens["admin"])
    assert response.status_code == 422, response.json
    assert response.mimetype == "application/problem+json"


def test_empty_date_means_now(sqlite_client: Any, sqlite_tokens: dict[str, dict[str, str]]) -> None:
    response = sqlite_client.get("/v1/postes/echeances?date=", headers=sqlite_tokens["agence"])
    assert response.status_code == 200
    assert response.json["alertes"] == []


def _undocumented(app: Flask) -> list[tuple[str, str]]:
    """The routes of ``app`` the document misses (what the first test refuses)."""
    documented = _operations(openapi.build_spec(app))
    return sorted(set(_routes(app)) - set(documented))


def test_a_route_without_a_declaration_is_caught(sqlite_url: str) -> None:
    """A view routed without ``operation(...)`` is absent from the document: the coverage test
    above names it (and a declared path parameter is required for every route argument)."""
    from service import create_app
    from service.http.operations import operation
    from service.http.web import requires

    app = create_app({"DATABASE_URL": sqlite_url, "TESTING": True})
    assert _undocumented(app) == []

    @app.get("/v1/sans-declaration/<int:n>")
    @requires("agence")
    def undeclared(n: int) -> str:
        return str(n)

    assert _undocumented(app) == [("/v1/sans-declaration/{}", "get")]

    other = create_app({"DATABASE_URL": sqlite_url, "TESTING": True})

    @other.get("/v1/parametre-non-declare/<int:n>")
    @operation("Sans paramètre de chemin déclaré", {})
    def undeclared_param(n: int) -> str:
        return str(n)

    with pytest.raises(LookupError, match="« n » non déclaré"):
        openapi.build_spec(other)
    app.extensions["allocator.db"].dispose()
    other.extensions["allocator.db"].dispose()
