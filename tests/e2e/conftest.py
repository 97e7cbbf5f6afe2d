"""Live server + headless Chromium for the end-to-end tests of the agency pages.

The server is the real application (real engine, temporary SQLite store) served by werkzeug's
``make_server`` in a thread on 127.0.0.1 (a free port). Applications are seeded through the
portal API with a ``portail`` token, as the real portal would. The browser is Debian's
``/usr/bin/chromium`` driven by Playwright (never ``playwright install``).

Without ``/usr/bin/chromium`` the tests are skipped, unless ``ALLOCATOR_REQUIRE_BROWSER`` is set
(CI sets it): then they fail.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Screenshots go to out/screenshots (not tracked); ALLOCATOR_UPDATE_SCREENSHOTS=1 refreshes the
#: copies shown in the README, under docs/screenshots.
_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = (
    _ROOT / "docs" / "screenshots"
    if os.environ.get("ALLOCATOR_UPDATE_SCREENSHOTS") == "1"
    else _ROOT / "out" / "screenshots"
)
#: Structures of the demo committee seeded into the store (real 2021 hosts, synthetic scores).
N_STRUCTURES = 36


def _require_browser() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is absent: the end-to-end browser tests need Debian's chromium"
    if os.environ.get("ALLOCATOR_REQUIRE_BROWSER"):
        pytest.fail(reason + " (ALLOCATOR_REQUIRE_BROWSER is set)", pytrace=False)
    pytest.skip(reason + " (apt-get install -y chromium)")


@dataclass
class LiveServer:
    url: str
    app: Any
    tokens: dict[str, str]


def seed_structures(client: Any, portail: str, n: int = N_STRUCTURES) -> list[dict[str, Any]]:
    """PUT ``n`` demo structures (the last 2021 committee) through the portal API."""
    from service.application import history

    docs = history.demo_request()["structures"][:n]
    headers = {"Authorization": f"Bearer {portail}"}
    for doc in docs:
        resp = client.put(f"/v1/structures/{doc['idPG']}", json=doc, headers=headers)
        assert resp.status_code == 201, resp.get_data(as_text=True)
    return docs


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    _require_browser()
    from werkzeug.serving import make_server

    from service import create_app
    from service.store import repository as store

    tmp = tmp_path_factory.mktemp("e2e")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALLOCATOR_INSTANCE_PATH", str(tmp))  # map cache in the temp folder
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp / 'store.sqlite3'}",
                "AUTO_MIGRATE": True,
                "SECRET_KEY": "e2e-secret-key",
                "LOG_LEVEL": "WARNING",
            }
        )
    database = app.extensions["allocator.db"]
    tokens = {}
    with database.write() as s:
        for role in ("portail", "agence", "analyste"):
            tokens[role] = store.create_token(s, role, f"e2e-{role}")
    seed_structures(app.test_client(), tokens["portail"])
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app, tokens)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        database.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies) at 1280 × 900, French locale."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    context.set_default_timeout(30_000)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


def screenshot(target: Any, name: str, **kwargs: Any) -> Path:
    """Save a PNG of a page or an element to ``SCREENSHOTS/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    target.screenshot(path=str(path), **kwargs)
    return path
