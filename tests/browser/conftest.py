"""Browser tests: Playwright driving Debian's Chromium against a live server on 127.0.0.1.

Screenshots go to test-artifacts/ (kept by CI as artifacts, ignored by git).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade
from werkzeug.serving import make_server

from assessment import create_app
from assessment.delivery.finalizer import start_thread
from assessment.extensions import db
from tests.assessment.conftest import FAST_ARGON2

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


class LiveServer:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


@pytest.fixture
def live_app(tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {
            "ENV": "development",
            "SECRET_KEY": "browser-test",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'browser.sqlite'}",
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "ARGON2_PARAMETERS": FAST_ARGON2,
            "RATELIMIT_ENABLED": False,
            "DELIVERY_FINALIZER_SECONDS": None,  # the fixture runs the job itself, every second
        }
    )
    with app.app_context():
        upgrade()
    stop = start_thread(app, every=1.0)  # the server job that closes sections whose time ran out
    yield app
    stop.set()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def live_server(live_app: Flask) -> Iterator[LiveServer]:
    with LiveServer(live_app) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), f"Chromium is needed at {CHROMIUM}: apt-get install chromium"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page_for(browser, live_server, request):
    """Open a fresh browser context (its own cookies) signed in as a user; screenshots named by the test."""
    contexts = []

    def open_page(username: str, password: str):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.goto(live_server.url + "/sign-in")
        page.fill("#username", username)
        page.fill("#password", password)
        with page.expect_navigation():
            page.get_by_role("button", name="Sign in", exact=True).click()
        return page

    yield open_page
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
