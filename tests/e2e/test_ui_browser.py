"""The agency's review page in a real headless Chromium against a live server.

One committee session, in order: sign in (a wrong token first), draft a round, open a
structure's explanation, override it with a reason (a POST without CSRF token is refused on the
way), see what moved, confirm and commit, then see the round read-only with its certificate.
The main screens are saved to ``docs/screenshots/``.
"""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

from service.application import replay
from tests.e2e.conftest import LiveServer, screenshot

LABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
    .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
    .map(e => e.name || e.id)"""
TABLES_WITHOUT_HEADERS = """() => [...document.querySelectorAll('table')]
    .filter(t => !t.querySelector('caption') || !t.querySelector('th'))
    .length"""


def api_round(server: LiveServer, round_id: int) -> dict[str, Any]:
    req = urllib.request.Request(
        f"{server.url}/v1/rounds/{round_id}",
        headers={"Authorization": f"Bearer {server.tokens['agence']}"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def sign_in(page: Any, server: LiveServer, role: str) -> None:
    page.goto(f"{server.url}/agence/")
    page.get_by_label("Jeton d'accès").fill(server.tokens[role])
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_role("heading", name="Tours d'attribution").wait_for()


def check_accessibility_basics(page: Any) -> None:
    assert page.evaluate(LABELLED) == []
    assert page.evaluate(TABLES_WITHOUT_HEADERS) == 0
    assert page.locator("html").get_attribute("lang") == "fr"
    assert page.locator("h1").count() == 1


def test_committee_session(page: Any, live_server: LiveServer) -> None:
    server = live_server
    # -- sign-in: redirected, wrong token refused, then the agency's token --
    page.goto(f"{server.url}/agence/tours")
    assert "/agence/connexion" in page.url
    check_accessibility_basics(page)
    assert page.evaluate("document.activeElement.id") == "jeton"
    screenshot(page, "connexion")
    page.get_by_label("Jeton d'accès").fill("cn_not-a-real-token")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Se connecter").click()
    assert posted.value.status == 401
    assert page.get_by_role("alert").inner_text() == "Jeton d'accès inconnu ou révoqué."
    assert page.get_by_label("Jeton d'accès").get_attribute("aria-invalid") == "true"
    page.get_by_label("Jeton d'accès").fill(server.tokens["agence"])
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_role("heading", name="Tours d'attribution").wait_for()
    page.keyboard.press("Tab")  # keyboard users first reach the skip link
    assert page.evaluate("document.activeElement.textContent.trim()") == "Aller au contenu"

    cookie = next(c for c in page.context.cookies() if c["name"] == "session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert server.tokens["agence"] not in cookie["value"]

    # -- draft a round from the list --
    page.get_by_label("Mois du comité").fill("2021-06")
    page.get_by_label("Quota de postes").fill("25")
    page.get_by_role("button", name="Calculer la proposition").click()
    page.get_by_role("heading", name=re.compile(r"Tour n° 1 — juin 2021")).wait_for()
    assert "Tour n° 1 préparé : 25 postes proposés." in page.get_by_role("alert").inner_text()
    check_accessibility_basics(page)
    summary = page.locator("section", has=page.get_by_role("heading", name="Synthèse nationale"))
    assert "Quota du tour" in summary.inner_text()
    assert "Population fragile avec un conseiller à portée" in summary.inner_text()
    page.locator("figure.carte img").evaluate(
        "img => img.complete || new Promise(r => { img.onload = r; img.onerror = r; })"
    )
    assert page.locator("figure.carte img").evaluate("img => img.naturalWidth") > 100
    screenshot(page, "tour-brouillon")
    draft = api_round(server, 1)
    assert draft["statut"] == "draft" and draft["version"] == 1

    # -- filters and sorting --
    page.get_by_label("Proposition", exact=True).select_option("retenues")
    page.get_by_role("button", name="Filtrer").click()
    granted = [d for d in draft["resultat"]["decisions"] if d["nombreConseillersAttribues"] > 0]
    assert page.locator("table.structures tbody tr").count() == len(granted)
    page.get_by_role("link", name=re.compile("^Proposition")).first.click()
    header = page.locator("table.structures th[aria-sort]").first
    assert header.get_attribute("aria-sort") == "ascending"

    # -- open one structure's explanation --
    target = max(granted, key=lambda d: (d["nombreConseillersAttribues"], -d["idPG"]))
    id_pg, before = target["idPG"], target["nombreConseillersAttribues"]
    page.locator(f"a[href$='/structures/{id_pg}']").first.click()
    page.get_by_role("heading", name=re.compile(rf"Proposition : {before} poste")).wait_for()
    assert "Priorité de chaque poste demandé" in page.content()
    check_accessibility_basics(page)
    screenshot(page, "structure")

    # -- a form posted without its CSRF token is refused, nothing changes --
    refused = page.request.post(
        f"{server.url}/agence/tours/1/verrous",
        form={"idPG": str(id_pg), "nombre": "0", "motif": "sans jeton"},
        max_redirects=0,
    )
    assert refused.status == 400
    assert "Jeton de sécurité du formulaire" in refused.text()
    assert api_round(server, 1)["version"] == 1

    # -- override with a reason, re-solve, see what moved --
    page.get_by_label("Postes pour ce tour").fill("0")
    page.get_by_role("button", name="Fixer et recalculer le tour").click()
    # The browser refuses the empty mandatory reason: still on the structure page.
    assert page.get_by_label("Motif de l'arbitrage (obligatoire)").evaluate(
        "e => !e.validity.valid"
    )
    page.get_by_label("Motif de l'arbitrage (obligatoire)").fill(
        "Projet déjà financé par le conseil départemental"
    )
    page.get_by_role("button", name="Fixer et recalculer le tour").click()
    moved = page.locator("#mouvements")
    moved.wait_for()
    text = moved.inner_text()
    assert "Ce qui a changé au dernier calcul" in text
    assert "Verrou du comité : « Projet déjà financé par le conseil départemental »" in text
    row = moved.locator("tbody tr", has=page.locator(f"a[href$='/structures/{id_pg}']"))
    cells = row.locator("td").all_inner_texts()
    assert cells[1:4] == [str(before), "0", f"-{before}"]
    assert moved.locator("tbody tr").count() >= 2  # the freed posts went elsewhere
    screenshot(moved, "mouvements")
    after = api_round(server, 1)
    assert after["version"] == 2
    assert after["verrous"][0]["idPG"] == id_pg and after["verrous"][0]["nombre"] == 0
    assert after["resultat"]["totaux"]["attribues"] == 25

    # -- tablet width --
    page.set_viewport_size({"width": 768, "height": 1024})
    page.goto(f"{server.url}/agence/tours/1")
    assert page.evaluate("document.documentElement.scrollWidth") <= 768
    screenshot(page, "tour-tablette")
    page.set_viewport_size({"width": 1280, "height": 900})

    # -- commit with a confirmation that states what will be recorded --
    page.get_by_role("link", name="Valider le tour…").click()
    page.get_by_role("heading", name="Ce qui sera enregistré").wait_for()
    recorded = page.locator("ul.bilan").inner_text()
    assert "36 décisions du comité n° 1" in recorded
    assert "25 postes accordés" in recorded
    assert "0 → 25 postes consommés sur 4" in recorded
    check_accessibility_basics(page)
    screenshot(page, "validation")
    page.get_by_label(re.compile("Je confirme la validation du tour n° 1")).check()
    page.get_by_role("button", name="Valider définitivement le tour").click()
    page.get_by_role("heading", name="Certificat de reproductibilité").wait_for()
    assert "Tour n° 1 validé" in page.get_by_role("alert").inner_text()

    # -- the committed round is read-only --
    assert page.get_by_role("button", name="Fixer et recalculer").count() == 0
    assert page.get_by_role("link", name="Valider le tour…").count() == 0
    certificate = page.locator("#certificat").inner_text()
    assert "résultat identique" in certificate
    committed = api_round(server, 1)
    assert replay.result_sha256(committed["resultat"]) in certificate
    page.locator("#certificat").scroll_into_view_if_needed()
    screenshot(page, "tour-valide")
    assert committed["statut"] == "committed" and committed["validePar"] == "agence:e2e-agence"
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("Dossier du comité")).click()
    assert download.value.suggested_filename == "tour_1.xlsx"
    page.locator(f"a[href$='/structures/{id_pg}']").first.click()
    assert page.get_by_role("button", name=re.compile("Fixer")).count() == 0
    assert "décision du comité" in page.locator("#titre-explication-legale ~ *").first.inner_text()


def test_analyst_reads_but_cannot_act(page: Any, live_server: LiveServer) -> None:
    sign_in(page, live_server, "analyste")
    assert page.get_by_role("button", name="Calculer la proposition").count() == 0
    assert "lecture seule" in page.locator("header").inner_text()
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    refused = page.request.post(
        f"{live_server.url}/agence/tours",
        form={"csrf_token": token, "mois": "2021-07", "quota": "3"},
        max_redirects=0,
    )
    assert refused.status == 403
    assert "permet seulement de consulter" in refused.text()


def test_portal_token_and_sign_out(page: Any, live_server: LiveServer) -> None:
    page.goto(f"{live_server.url}/agence/connexion")
    page.get_by_label("Jeton d'accès").fill(live_server.tokens["portail"])
    page.get_by_role("button", name="Se connecter").click()
    assert "ne donne pas accès" in page.get_by_role("alert").inner_text()
    sign_in(page, live_server, "agence")
    page.get_by_role("button", name="Se déconnecter").click()
    page.get_by_role("heading", name="Connexion à l'espace de l'agence").wait_for()
    page.goto(f"{live_server.url}/agence/tours")
    assert "/agence/connexion" in page.url
