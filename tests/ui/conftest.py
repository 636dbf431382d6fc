"""Browser tests: Playwright driving Debian's Chromium against the real ASGI stack.

The server is ``manage.py serve --web-only`` (daphne) in a subprocess on a free port, pointed at
the test database of this run and at the same Redis, so the channel layer carries what the test
process creates (``notify`` here, a socket push there). Tasks run eagerly in the server too.
Tests use ``transactional_db``: rows committed here are visible to the server at once.
"""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from tests.live_server import LiveServer, free_port, server_environment, test_database_url

ROOT = Path(__file__).resolve().parents[2]
# Debian's package; another path (another distribution, a missing browser) through the env.
CHROMIUM = os.environ.get("HERALD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Playwright waits this long (ms) for an expectation before failing.
EXPECT_TIMEOUT_MS = 5000
IMG_DIR = ROOT / "docs" / "img"
# An uncompressed P-256 point, base64url: the shape of a real VAPID public key.
TEST_VAPID_PUBLIC_KEY = (
    "BEl62iUYgUivxIkv69yViEuiBIa-Ib9-SkvMeAtA3LFgDzkrxZJjSgSnfckjBJuBkr3qBUYIHBQFLXYp5Nksh8U"
)


@pytest.fixture(scope="module")
def module_asgi_server(request, django_db_setup, tmp_path_factory):
    """One server process per test module (starting one costs seconds), on the test database.

    A module may set ``SERVER_ENV = {...}`` for settings of its own (e.g. another scorer)."""
    if not settings.REDIS_URL:
        pytest.fail("Browser tests need Redis for the channel layer: set REDIS_URL.")
    env = server_environment()
    env.update(
        NOTIFICATION_POLL_SECONDS="1",
        # A public key lets the preferences page offer web push (sending needs the private one).
        VAPID_PUBLIC_KEY=TEST_VAPID_PUBLIC_KEY,
    )
    env.update(getattr(request.module, "SERVER_ENV", {}))
    log_path = tmp_path_factory.mktemp("asgi") / "server.log"
    server = LiveServer(env=env, port=free_port(), log_path=log_path)
    yield server
    server.stop()


@pytest.fixture
def asgi_server(module_asgi_server, transactional_db):
    """The running server for one test. Rows the test commits are visible to it at once; a test
    may stop and start it. The server keeps no state between tests: pytest-django empties the
    tables and Redis is flushed before each test, and it holds no transaction open meanwhile."""
    if not module_asgi_server.is_running():
        module_asgi_server.start()
    log_start = module_asgi_server.log_size()
    yield module_asgi_server
    print(module_asgi_server.log_since(log_start))


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module. Missing Chromium is a failure, never a skip."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: the browser tests cannot run. "
            "Install Debian's package: 'sudo apt-get install -y chromium' (make test does it)."
        )
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    # Playwright's sync API keeps an event loop running on this thread, which Django reads as an
    # async context; the ORM calls of these tests are plain synchronous code, so allow them only
    # while the browser is up.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def open_page(browser, asgi_server):
    """``open_page(user, path)``: a new browser context logged in as ``user`` showing ``path``."""
    contexts = []

    def _open(user, path: str = "/", *, viewport=None):
        client = Client()
        client.force_login(user)
        context = browser.new_context(
            base_url=asgi_server.url, viewport=viewport or {"width": 1200, "height": 800}
        )
        context.add_cookies([{
            "name": settings.SESSION_COOKIE_NAME,
            "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
            "url": asgi_server.url,
        }])
        contexts.append(context)
        page = context.new_page()
        page.goto(path)
        return page

    yield _open
    for context in contexts:
        context.close()
