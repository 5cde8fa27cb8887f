"""Whose address a request comes from: proxy headers count only from the proxies that the
one setting (TRUSTED_PROXY_COUNT, DRF's NUM_PROXIES) says are in front of the app."""

import pytest
from django.core.cache import cache
from django.test import RequestFactory
from rest_framework.test import APIClient

from retailops.network import client_address
from retailops.throttling import LoginRateThrottle

pytestmark = pytest.mark.django_db


@pytest.fixture
def login_rate_of_three(monkeypatch):
    monkeypatch.setattr(LoginRateThrottle, "THROTTLE_RATES", {"token_login": "3/min"})
    cache.clear()
    yield
    cache.clear()


def token_login(forwarded_for: str, remote_addr: str = "198.51.100.7") -> int:
    return APIClient().post("/api/v1/auth/token", {"username": "x", "password": "y"}, format="json",
                            HTTP_X_FORWARDED_FOR=forwarded_for, REMOTE_ADDR=remote_addr).status_code


def test_a_new_forwarded_for_header_on_every_try_does_not_dodge_the_login_throttle(login_rate_of_three):
    statuses = [token_login(f"203.0.113.{n}") for n in range(5)]

    assert statuses == [401, 401, 401, 429, 429]


def test_behind_one_trusted_proxy_the_address_it_saw_counts_not_what_the_client_wrote(settings,
                                                                                      login_rate_of_three):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # The proxy appends the address it saw; whatever the client put before it is forged.
    statuses = [token_login(f"10.9.9.{n}, 203.0.113.5", remote_addr="10.0.0.2") for n in range(4)]
    other_client = token_login("203.0.113.6", remote_addr="10.0.0.2")

    assert statuses == [401, 401, 401, 429]
    assert other_client == 401


def test_client_address_follows_the_trusted_proxy_count(settings):
    request = RequestFactory().get("/", HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.5", REMOTE_ADDR="10.0.0.2")

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 0}
    assert client_address(request) == "10.0.0.2"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    assert client_address(request) == "203.0.113.5"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 2}
    assert client_address(request) == "192.0.2.1"
