"""The agency pages through Flask's test client (fake solver): sign-in, roles, CSRF, the draft →
override → commit flow through the forms, error pages, and the pure presentation helpers.

The same flow in a real browser with the real engine is ``tests/e2e/test_ui_browser.py``.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.application import locks, rounds
from service.application.history import import_history
from service.store import repository as store
from service.ui import present
from tests.service.conftest import make_tokens, structure_doc

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
CODES = ("01283", "01053", "75056", "13055")


@pytest.fixture(autouse=True)
def _instance(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the map cache of these tests in a temporary instance folder."""
    monkeypatch.setenv("ALLOCATOR_INSTANCE_PATH", str(tmp_path / "instance"))


def raw_tokens(app: Any) -> dict[str, str]:
    return {r: h["Authorization"].removeprefix("Bearer ") for r, h in make_tokens(db(app)).items()}


def text(resp: Any) -> str:
    """The response body with HTML entities decoded (Jinja escapes apostrophes)."""
    return html.unescape(resp.get_data(as_text=True))


def db(app: Any) -> Any:
    return app.extensions["allocator.db"]


def seed(client: Any, portail: str, n: int = 6) -> None:
    for i in range(1, n + 1):
        doc = structure_doc(i, CODES[i % len(CODES)], nombreConseillersSouhaites=1 + i % 3)
        resp = client.put(
            f"/v1/structures/{i}", json=doc, headers={"Authorization": f"Bearer {portail}"}
        )
        assert resp.status_code == 201, resp.get_json()


def csrf(client: Any, path: str = "/agence/connexion") -> str:
    body = text(client.get(path))
    match = CSRF_RE.search(body)
    assert match, body[:500]
    return match.group(1)


def sign_in(client: Any, token: str) -> Any:
    return client.post("/agence/connexion", data={"csrf_token": csrf(client), "jeton": token})


def flashes(client: Any, path: str) -> str:
    return text(client.get(path, follow_redirects=True))


@pytest.fixture
def ui(sqlite_app: Any) -> tuple[Any, Any, dict[str, str]]:
    tokens = raw_tokens(sqlite_app)
    client = sqlite_app.test_client()
    seed(client, tokens["portail"])
    return sqlite_app, client, tokens


# -- sign-in, cookie, CSRF ---------------------------------------------------------------------


def test_sign_in_cookie_and_csrf(ui: tuple[Any, Any, dict[str, str]]) -> None:
    _, client, tokens = ui
    resp = client.get("/agence/tours")
    assert resp.status_code == 302 and "/agence/connexion" in resp.headers["Location"]
    token = csrf(client)
    # Missing or wrong CSRF token: refused before the token is even looked at.
    assert client.post("/agence/connexion", data={"jeton": tokens["agence"]}).status_code == 400
    bad = client.post("/agence/connexion", data={"csrf_token": "x", "jeton": tokens["agence"]})
    assert bad.status_code == 400 and "Jeton de sécurité" in text(bad)
    wrong = client.post("/agence/connexion", data={"csrf_token": token, "jeton": "cn_nope"})
    assert wrong.status_code == 401
    assert "Jeton d'accès inconnu ou révoqué." in text(wrong)
    ok = client.post("/agence/connexion", data={"csrf_token": token, "jeton": tokens["agence"]})
    assert ok.status_code == 302 and ok.headers["Location"].endswith("/agence/tours")
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    assert tokens["agence"] not in cookie
    page = client.get("/agence/tours")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"


def test_cookie_is_secure_over_https(sqlite_app: Any) -> None:
    tokens = raw_tokens(sqlite_app)
    client = sqlite_app.test_client()
    csrf_https = CSRF_RE.search(text(client.get("/agence/connexion", base_url="https://localhost")))
    assert csrf_https is not None
    resp = client.post(
        "/agence/connexion",
        data={"csrf_token": csrf_https.group(1), "jeton": tokens["agence"]},
        base_url="https://localhost",
    )
    assert resp.status_code == 302
    assert "Secure" in resp.headers["Set-Cookie"]


def test_roles(ui: tuple[Any, Any, dict[str, str]]) -> None:
    _, client, tokens = ui
    resp = sign_in(client, tokens["portail"])
    assert resp.status_code == 401 and "ne donne pas accès" in text(resp)
    assert sign_in(client, tokens["analyste"]).status_code == 302
    page = text(client.get("/agence/tours"))
    assert "lecture seule" in page and "Calculer la proposition" not in page
    refused = client.post(
        "/agence/tours", data={"csrf_token": csrf(client, "/agence/tours"), "mois": "2021-06"}
    )
    assert refused.status_code == 403
    assert "permet seulement de consulter" in text(refused)


def test_revoked_token_ends_the_session(ui: tuple[Any, Any, dict[str, str]]) -> None:
    app, client, tokens = ui
    sign_in(client, tokens["agence"])
    assert client.get("/agence/tours").status_code == 200
    with db(app).write() as s:
        row = store.find_token(s, tokens["agence"])
        row.revoked_at = row.created_at
    resp = client.get("/agence/tours")
    assert resp.status_code == 302 and "/agence/connexion" in resp.headers["Location"]


@pytest.mark.parametrize(
    ("suite", "expected"),
    [
        ("/agence/tours/1", "/agence/tours/1"),
        ("//evil.example/agence", "/agence/tours"),
        ("https://evil.example/", "/agence/tours"),
        ("/v1/rounds", "/agence/tours"),
    ],
)
def test_no_open_redirect_after_sign_in(
    ui: tuple[Any, Any, dict[str, str]], suite: str, expected: str
) -> None:
    _, client, tokens = ui
    resp = client.post(
        "/agence/connexion",
        data={"csrf_token": csrf(client), "jeton": tokens["agence"], "suite": suite},
    )
    assert resp.headers["Location"] == expected


# -- the round flow through the forms (SQLite and PostgreSQL) -----------------------------------


def test_draft_override_commit_through_forms(app: Any) -> None:
    tokens = raw_tokens(app)
    client = app.test_client()
    seed(client, tokens["portail"])
    assert sign_in(client, tokens["agence"]).status_code == 302
    token = csrf(client, "/agence/tours")

    resp = client.post("/agence/tours", data={"csrf_token": token, "mois": "2021-13", "quota": "4"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/agence/tours")
    assert "Mois" in flashes(client, "/agence/tours") and rounds.list_rounds(db(app)) == []

    resp = client.post("/agence/tours", data={"csrf_token": token, "mois": "2021-06", "quota": "4"})
    assert resp.headers["Location"].endswith("/agence/tours/1")
    page = text(client.get("/agence/tours/1"))
    assert "Tour n° 1 préparé : 4 postes proposés." in page
    assert "Structures par département" in page and "Arbitrer et valider" in page
    listed = text(client.get("/agence/tours"))
    assert "agence:test-agence" in listed and "Brouillon" in listed

    view = rounds.get_round(db(app), 1)
    first = next(d for d in view["resultat"]["decisions"] if d["nombreConseillersAttribues"])
    id_pg, before = first["idPG"], first["nombreConseillersAttribues"]

    # No reason: refused, nothing changes.
    form = {"csrf_token": token, "idPG": str(id_pg), "nombre": "0", "motif": " "}
    resp = client.post("/agence/tours/1/verrous", data=form)
    assert resp.status_code == 302
    assert "le motif est obligatoire" in flashes(client, "/agence/tours/1")
    assert rounds.get_round(db(app), 1)["version"] == 1

    # Without the CSRF token: 400, nothing changes.
    no_csrf = {k: v for k, v in form.items() if k != "csrf_token"}
    assert client.post("/agence/tours/1/verrous", data=no_csrf).status_code == 400

    form["motif"] = "financé par ailleurs"
    resp = client.post("/agence/tours/1/verrous", data=form)
    assert resp.headers["Location"].endswith("/agence/tours/1#mouvements")
    page = text(client.get("/agence/tours/1"))
    assert "Ce qui a changé au dernier calcul" in page
    assert "Verrou du comité : « financé par ailleurs »" in page
    view = rounds.get_round(db(app), 1)
    lock = view["verrous"][0]
    assert lock["version"] == 2 and lock["mouvements"][0] == {
        "idPG": id_pg,
        "avant": before,
        "apres": 0,
        "motifs": ["VERROU_COMITE"],
    }

    # The structure page shows the lock; the map is a PNG.
    structure = text(client.get(f"/agence/tours/1/structures/{id_pg}"))
    assert "financé par ailleurs" in structure and "Arbitrer cette structure" in structure
    carte = client.get("/agence/tours/1/carte.png?v=2")
    assert carte.status_code == 200 and carte.data[:8] == b"\x89PNG\r\n\x1a\n"

    # Confirmation states what will be recorded; unchecked box or stale version: refused.
    confirm = text(client.get("/agence/tours/1/validation"))
    assert "<strong>6 décisions</strong> du comité n° 1" in confirm
    assert "0 → <strong>4 postes consommés</strong>" in confirm
    resp = client.post("/agence/tours/1/validation", data={"csrf_token": token, "version": "2"})
    assert "cochez la case" in flashes(client, "/agence/tours/1/validation")
    stale = {"csrf_token": token, "version": "1", "confirme": "oui"}
    client.post("/agence/tours/1/validation", data=stale)
    assert "a changé depuis la confirmation" in flashes(client, "/agence/tours/1/validation")
    assert rounds.get_round(db(app), 1)["statut"] == "draft"

    resp = client.post(
        "/agence/tours/1/validation", data={**stale, "version": "2"}, follow_redirects=True
    )
    page = text(resp)
    assert "Tour n° 1 validé" in page and "Certificat de reproductibilité" in page
    assert "Fixer et recalculer" not in page and "Valider le tour…" not in page
    assert rounds.get_round(db(app), 1)["statut"] == "committed"
    # Read-only: a late override is refused with the domain's message.
    client.post("/agence/tours/1/verrous", data=form)
    assert "ne peut plus être modifié" in flashes(client, "/agence/tours/1")
    assert "déjà validé" in flashes(client, "/agence/tours/1/validation")


def test_error_pages_are_html_and_api_keeps_problem_json(
    ui: tuple[Any, Any, dict[str, str]],
) -> None:
    _, client, tokens = ui
    sign_in(client, tokens["agence"])
    resp = client.get("/agence/tours/99")
    assert resp.status_code == 404 and resp.mimetype == "text/html"
    assert "Aucun tour d'attribution n° 99." in text(resp)
    api = client.get("/v1/rounds/99", headers={"Authorization": f"Bearer {tokens['agence']}"})
    assert api.status_code == 404 and api.mimetype == "application/problem+json"
    token = csrf(client, "/agence/tours")
    client.post("/agence/tours", data={"csrf_token": token, "mois": "2021-06", "quota": "2"})
    assert client.get("/agence/tours/1/structures/424242").status_code == 404
    assert client.get("/agence/tours/1/telechargements/inconnu").status_code == 404
    notice = client.get("/agence/tours/1/telechargements/notice")
    assert notice.status_code == 200 and notice.mimetype == "text/html"
    xlsx = client.get("/agence/tours/1/telechargements/xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    assert 'filename="tour_1.xlsx"' in xlsx.headers["Content-Disposition"]
    decisions = client.get("/agence/tours/1/telechargements/csv")
    assert decisions.mimetype == "text/csv" and text(decisions).startswith("\ufeffidPG;")


def test_filters_and_sorting_in_the_page(ui: tuple[Any, Any, dict[str, str]]) -> None:
    _, client, tokens = ui
    sign_in(client, tokens["agence"])
    token = csrf(client, "/agence/tours")
    client.post("/agence/tours", data={"csrf_token": token, "mois": "2021-06", "quota": "3"})
    page = client.get("/agence/tours/1?departement=75&tri=proposition&ordre=desc")
    body = text(page)
    assert 'id="dep-75"' in body and 'id="dep-01"' not in body
    assert 'aria-sort="descending"' in body
    none = text(client.get("/agence/tours/1?q=introuvable"))
    assert "Aucune structure ne correspond aux filtres." in none


# -- pure helpers -------------------------------------------------------------------------------


def test_proposal_moves() -> None:
    before = {"decisions": [{"idPG": 1, "nombreConseillersAttribues": 2}]}
    after = {
        "decisions": [
            {"idPG": 1, "nombreConseillersAttribues": 0, "motifs": ["VERROUILLE"]},
            {"idPG": 2, "nombreConseillersAttribues": 1, "motifs": ["ACCORDE"]},
        ]
    }
    assert locks.proposal_moves(before, after) == [
        {"idPG": 1, "avant": 2, "apres": 0, "motifs": ["VERROUILLE"]},
        {"idPG": 2, "avant": 0, "apres": 1, "motifs": ["ACCORDE"]},
    ]
    assert locks.proposal_moves(after, after) == []


def _row(i: int, dep: str, prop: int, score: float | None) -> present.Row:
    return present.Row(
        id_pg=i,
        nom=f"S{i}",
        type="COMMUNE",
        code_commune="01283",
        commune="Oyonnax",
        departement=dep,
        demande=3,
        deja_accorde=0,
        avis_prefet=None,
        nombre_prefet=None,
        score=score,
        proposition=prop,
        total=prop,
        motifs=[],
    )


rows_strategy = st.lists(
    st.tuples(
        st.sampled_from(["01", "2A", "75", "974"]),
        st.integers(0, 3),
        st.one_of(st.none(), st.floats(0, 100)),
    ),
    max_size=30,
).map(lambda items: [_row(i, *item) for i, item in enumerate(items)])


@settings(max_examples=60, deadline=None)
@given(
    rows=rows_strategy,
    tri=st.sampled_from(sorted(present.SORTS)),
    ordre=st.sampled_from(["asc", "desc"]),
    selection=st.sampled_from(sorted(present.SELECTIONS)),
)
def test_grouped_is_a_sorted_partition_of_the_kept_rows(
    rows: list[present.Row], tri: str, ordre: str, selection: str
) -> None:
    filters = present.Filters.from_args({"tri": tri, "ordre": ordre, "selection": selection})
    groups = present.grouped(rows, filters)
    shown = [r for _, _, g in groups for r in g]
    kept = [r for r in rows if filters.keep(r)]
    assert sorted(r.id_pg for r in shown) == sorted(r.id_pg for r in kept)
    assert [code for code, _, _ in groups] == sorted({r.departement for r in kept})
    for code, _, group in groups:
        assert all(r.departement == code for r in group)
        keys = [r.sort_key(tri) for r in group]
        assert keys == sorted(keys, reverse=ordre == "desc")
    if selection == "retenues":
        assert all(r.proposition > 0 for r in shown)


def test_filters_ignore_unknown_values() -> None:
    f = present.Filters.from_args({"tri": "drop table", "ordre": "sideways", "type": "X"})
    assert (f.tri, f.ordre, f.type) == ("idpg", "asc", "")
    assert f.query(tri="score") == {"tri": "score"}


# -- sessions, cookies and headers (issue 14) ---------------------------------------------------


def _session_cookie(client: Any) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def test_captured_cookie_stops_working_after_sign_out(ui: tuple[Any, Any, dict[str, str]]) -> None:
    app, client, tokens = ui
    sign_in(client, tokens["agence"])
    captured = _session_cookie(client)
    assert tokens["agence"] not in captured
    token = csrf(client, "/agence/tours")
    assert client.post("/agence/deconnexion", data={"csrf_token": token}).status_code == 302
    # Someone replays the cookie captured before the sign-out.
    thief = app.test_client()
    thief.set_cookie("session", captured)
    resp = thief.get("/agence/tours")
    assert resp.status_code == 302 and "/agence/connexion" in resp.headers["Location"]
    acted = thief.post("/agence/tours", data={"csrf_token": token, "mois": "2021-06", "quota": "1"})
    assert acted.status_code == 401 and rounds.list_rounds(db(app)) == []


def test_session_lasts_12_hours(sqlite_url: str, fake_solver: Any) -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import parsedate_to_datetime

    from service import create_app

    clock = {"now": datetime(2026, 3, 2, 8, 0, tzinfo=UTC)}
    app = create_app({"DATABASE_URL": sqlite_url, "TESTING": True, "CLOCK": lambda: clock["now"]})
    try:
        assert app.permanent_session_lifetime == timedelta(hours=12)
        tokens = raw_tokens(app)
        client = app.test_client()
        resp = sign_in(client, tokens["agence"])
        expires = parsedate_to_datetime(resp.headers["Set-Cookie"].split("Expires=")[1][:29])
        left = expires - datetime.now(UTC)  # the cookie's expiry follows the real clock
        assert timedelta(hours=11) < left <= timedelta(hours=12)
        clock["now"] += timedelta(hours=11, minutes=59)
        assert client.get("/agence/tours").status_code == 200
        # Activity does not stretch it: 12 h after sign-in the server refuses the session.
        clock["now"] += timedelta(minutes=2)
        resp = client.get("/agence/tours")
        assert resp.status_code == 302 and "/agence/connexion" in resp.headers["Location"]
    finally:
        db(app).dispose()


def test_csrf_token_is_renewed_at_sign_in(ui: tuple[Any, Any, dict[str, str]]) -> None:
    _, client, tokens = ui
    before = csrf(client)
    resp = client.post("/agence/connexion", data={"csrf_token": before, "jeton": tokens["agence"]})
    assert resp.status_code == 302
    after = csrf(client, "/agence/tours")
    assert after != before
    # The token planted before sign-in (session fixation) no longer passes.
    refused = client.post("/agence/tours", data={"csrf_token": before, "mois": "2021-06"})
    assert refused.status_code == 400


def test_cookie_is_secure_in_production_mode(
    sqlite_url: str, fake_solver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service import create_app

    app = create_app(
        {
            "DATABASE_URL": sqlite_url,
            "AUTO_MIGRATE": True,
            "ENV": "production",
            "SECRET_KEY": "production-secret-for-the-test",
        }
    )
    try:
        tokens = raw_tokens(app)
        client = app.test_client()  # plain http: TLS ends before the app
        resp = sign_in(client, tokens["agence"])
        assert resp.status_code == 302
        assert "Secure" in resp.headers["Set-Cookie"]
    finally:
        db(app).dispose()


def test_proxy_fix_trusts_forwarded_https_only_when_configured(
    sqlite_url: str, fake_solver: Any
) -> None:
    from service import create_app

    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    for proxies, secure in ((0, False), (1, True)):
        app = create_app({"DATABASE_URL": sqlite_url, "TESTING": True, "PROXY_FIX": proxies})
        try:
            tokens = raw_tokens(app)
            client = app.test_client()
            page = text(client.get("/agence/connexion", headers=forwarded))
            match = CSRF_RE.search(page)
            assert match is not None
            resp = client.post(
                "/agence/connexion",
                data={"csrf_token": match.group(1), "jeton": tokens["agence"]},
                headers=forwarded,
            )
            assert resp.status_code == 302
            assert ("Secure" in resp.headers["Set-Cookie"]) is secure
        finally:
            db(app).dispose()


# A NUL character breaks the storable-text rule first: 422 (tests/service/test_fuzz_regressions.py).
@pytest.mark.parametrize("suite", ["/agence/tours\r\nSet-Cookie: x=1", "/a\tb"])
def test_control_characters_in_suite_are_400_not_500(
    ui: tuple[Any, Any, dict[str, str]], suite: str
) -> None:
    _, client, tokens = ui
    token = csrf(client)
    resp = client.post(
        "/agence/connexion", data={"csrf_token": token, "jeton": tokens["agence"], "suite": suite}
    )
    assert resp.status_code == 400 and "suite" in text(resp)
    assert client.get("/agence/connexion", query_string={"suite": suite}).status_code == 400
    sign_in(client, tokens["agence"])  # signed in, the GET redirects at once: still a 400
    assert client.get("/agence/connexion", query_string={"suite": suite}).status_code == 400


def test_every_html_response_forbids_framing(ui: tuple[Any, Any, dict[str, str]]) -> None:
    _, client, tokens = ui
    sign_in(client, tokens["agence"])
    token = csrf(client, "/agence/tours")
    client.post("/agence/tours", data={"csrf_token": token, "mois": "2021-06", "quota": "6"})
    client.post(
        "/agence/tours/1/validation", data={"csrf_token": token, "version": "1", "confirme": "oui"}
    )
    bearer = {"Authorization": f"Bearer {tokens['agence']}"}
    pages = {
        "/docs": {},
        "/v1/notice?format=html": {},
        "/v1/structures/1/explication?format=html": bearer,
        "/agence/tours/1": {},
        "/agence/tours/99": {},  # HTML error page
        "/agence/tours/1/telechargements/notice": {},
        "/agence/connexion": {},
    }
    for path, headers in pages.items():
        resp = client.get(path, headers=headers)
        assert resp.mimetype == "text/html", (path, resp.status_code)
        assert "frame-ancestors 'none'" in resp.headers.get("Content-Security-Policy", ""), path
        assert resp.headers.get("X-Frame-Options") == "DENY", path


def test_review_page_counterfactual_is_a_threshold_only_when_nested() -> None:
    """The review page's "what if" sentence: "at least" (a threshold, two decimals) only where
    the nested property holds; otherwise the verified score, said not to be a threshold."""
    nested = present.contrefactuel({"min_quality": 62.51, "verified": True, "nested": True})
    assert (
        nested == "Avec un score de projet d'au moins 62,51, un poste de plus aurait été accordé."
    )
    knapsack = present.contrefactuel({"min_quality": 79.41, "verified": True, "nested": False})
    assert knapsack is not None and "au moins" not in knapsack and "79,41" in knapsack
    assert "vérifié en recalculant le tour" in knapsack and "pas un seuil" in knapsack
    assert present.contrefactuel({"min_quality": None, "nested": False}) is None
    assert present.contrefactuel({}) is None


def test_review_page_says_a_missing_created_at_ranks_last(
    ui: tuple[Any, Any, dict[str, str]],
) -> None:
    import datetime

    assert present.depot(datetime.datetime(2021, 5, 2, 10, tzinfo=datetime.UTC)) == "02/05/2021"
    assert "classée après les candidatures datées" in present.depot(None)
    _, client, tokens = ui
    doc = structure_doc(7, "01283")
    doc.pop("createdAt")
    assert (
        client.put(
            "/v1/structures/7", json=doc, headers={"Authorization": f"Bearer {tokens['portail']}"}
        ).status_code
        == 201
    )
    sign_in(client, tokens["agence"])
    token = csrf(client, "/agence/tours")
    client.post("/agence/tours", data={"csrf_token": token, "mois": "2021-06", "quota": "2"})
    page = text(client.get("/agence/tours/1/structures/7"))
    assert present.depot(None) in page


def test_page_of_an_imported_committee_is_not_500(sqlite_app: Any) -> None:
    """An imported 2021 committee keeps no engine request: its pages are read from its
    structures' stored documents (as ``allocator round show`` does), never a KeyError."""
    app, client, tokens = sqlite_app, sqlite_app.test_client(), raw_tokens(sqlite_app)
    import_history(db(app), author="test")
    committee = next(r for r in rounds.list_rounds(db(app)) if r["statut"] == "committed")
    sign_in(client, tokens["agence"])
    page = client.get(f"/agence/tours/{committee['id']}")
    assert page.status_code == 200, text(page)[:2000]
    body = text(page)
    assert "HISTORIQUE" in body or "historique" in body
    view = rounds.get_round(db(app), committee["id"])
    first = view["resultat"]["decisions"][0]["idPG"]
    detail = client.get(f"/agence/tours/{committee['id']}/structures/{first}")
    assert detail.status_code == 200, text(detail)[:2000]
