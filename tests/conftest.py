"""Shared test setup: service markers and the few fixtures every app's tests use."""

import os
from urllib.parse import urlparse

import pytest
from rest_framework.test import APIClient

from tests.browser import PageWatch

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def _redis_url() -> str | None:
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        value = os.environ.get(name, "")
        if value.startswith("redis://"):
            return value
    return None


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _browser_available() -> bool:
    import importlib.util

    return os.path.exists(CHROMIUM) and importlib.util.find_spec("playwright") is not None


def missing_service(reason: str) -> None:
    """Skip for want of a service — or fail, under REQUIRE_SERVICES=1."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1: a missing service is a failure)", pytrace=False)
    pytest.skip(reason)


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres"):
        database_url = os.environ.get("DATABASE_URL", "")
        if urlparse(database_url).scheme not in ("postgres", "postgresql"):
            missing_service("needs PostgreSQL: set DATABASE_URL=postgres://…")
    if item.get_closest_marker("replica") and not os.environ.get("DATABASE_REPLICA_URL"):
        missing_service("needs a streaming replica of the primary: set DATABASE_REPLICA_URL (.ci/replica start)")
    if item.get_closest_marker("redis"):
        url = _redis_url()
        if url is None or not _redis_answers(url):
            missing_service("needs Redis: set CELERY_BROKER_URL=redis://… to a running server")
    if item.get_closest_marker("browser") and not _browser_available():
        missing_service(f"needs Chromium at {CHROMIUM} and the playwright package (apt-get install chromium)")


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def partner_api(db):
    """Make an APIClient that carries a fresh partner token: partner_api(scopes=…, locations=…);
    every scope unless told (what a kind gets by default is tested with create_api_client)."""
    from connectors.clients import partner_client_issue
    from retailops.access import Scope

    def make(system: str = "partner-a", *, scopes=None, locations=None, kind: str = "marketplace"):
        scopes = Scope.values if scopes is None else scopes
        issued = partner_client_issue(system_code=system, kind=kind, scopes=scopes, location_codes=locations)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
        client.issued = issued
        return client

    return make


@pytest.fixture
def staff_api(db):
    """Make an APIClient logged in as a staff user: staff_api("store_ops", locations=["S001"])."""
    from backoffice.staff import staff_user_upsert

    counter = {"n": 0}

    def make(role: str, *, locations=(), username: str | None = None):
        counter["n"] += 1
        # "store_ops-1" would be too like the password for the similarity validator.
        user = staff_user_upsert(username=username or f"{role}-user-{counter['n']}", role=role,
                                 password="pw-for-tests-1", location_codes=locations)
        client = APIClient()
        client.force_authenticate(user=user)
        client.user = user
        return client

    return make


# --- Browser tests (helpers in tests/browser.py) -------------------------------------------


@pytest.fixture(scope="module")
def chromium():
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the
    # test itself (setup and checks) are still synchronous and safe.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def open_page(chromium, live_server):
    contexts = []

    def make():
        context = chromium.new_context(base_url=live_server.url, viewport={"width": 1360, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.watch = PageWatch(page)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def axe():
    # The package bundles axe-core's script, so the check needs no network at test time.
    from axe_playwright_python.sync_playwright import Axe

    return Axe()
