"""Browser test fixtures: the real app served by uvicorn on loopback, real headless Chromium.

The server runs in a background thread of the test process on a migrated SQLite database that
holds the demo region's organisations and people (no tools): each story builds what it needs
through the pages. Chromium is Debian's (``/usr/bin/chromium``) driven by Playwright; axe-core
comes from the npm registry (locked in ``tests/browser/package-lock.json``, installed by
``scripts/test-services.sh``) and is injected into the page under test (see ``_support``).
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from pydantic import SecretStr
from sqlalchemy import Engine

from steward.api.app import create_app
from steward.audit.context import AuditContext
from steward.config import Settings
from steward.db import migrate
from steward.db.engine import make_engine
from steward.db.session import session_factory, unit_of_work
from steward.demo.people import create_cast

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in this folder is a browser test (``-m "not browser"`` skips them)."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.browser)


@dataclass(frozen=True)
class LiveServer:
    """The running app: its base URL and database."""

    url: str
    database_url: str
    home: Path


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))  # a free port, held from here on: no race with other tests
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


@contextmanager
def serving(home: Path, seed: Callable[[Engine], object]) -> Iterator[LiveServer]:
    """Steward on a fresh, migrated SQLite database under ``home``, seeded by ``seed``."""
    database_url = f"sqlite:///{home / 'steward.db'}"
    migrate.upgrade(database_url)
    engine = make_engine(database_url)
    seed(engine)
    settings = Settings(
        home=home,
        database_url=database_url,
        secret_key=SecretStr("browser-tests-secret-key-not-for-production"),
        scheduler_embedded=False,
    )
    server, thread, url = _serve(create_app(settings, engine))
    try:
        yield LiveServer(url, database_url, home)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _cast(engine: Engine) -> None:
    with unit_of_work(session_factory(engine), AuditContext("test:browser", "seed")) as session:
        create_cast(session)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Steward on a fresh SQLite database with the demo region's organisations and people."""
    with serving(tmp_path_factory.mktemp("steward-home"), _cast) as server:
        yield server


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run scripts/test-services.sh")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


def _context(browser: Browser, live_server: LiveServer, **options: Any) -> BrowserContext:
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}, **options
    )
    context.set_default_timeout(15_000)
    # Nothing but the app itself: a page that reaches for a CDN fails here as on a hospital network.
    context.route(re.compile(r"^(?!http://127\.0\.0\.1:\d+/).*"), lambda route: route.abort())
    return context


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A fresh browser tab (own cookies) on the live server."""
    context = _context(browser, live_server)
    yield context.new_page()
    context.close()


@pytest.fixture
def page_without_js(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A tab with JavaScript switched off, as on locked-down hospital desktops."""
    context = _context(browser, live_server, java_script_enabled=False)
    yield context.new_page()
    context.close()
