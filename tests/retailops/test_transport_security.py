"""With DEBUG off the app insists on HTTPS: an SSL redirect, HSTS and the proxy's HTTPS
header, each from the environment, with production defaults; the health checks stay
reachable over plain HTTP for the load balancer."""

import pytest
from django.test import Client

from tests.retailops.test_settings import load_settings

SHOW = "print(settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS, settings.SECURE_PROXY_SSL_HEADER)"
PRODUCTION = {"DEBUG": "0", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "ops.example"}


def shown(**env) -> str:
    result = load_settings(code=SHOW, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_production_redirects_to_https_and_sends_hsts_by_default():
    assert shown(**PRODUCTION) == "True 31536000 None"


def test_behind_trusted_proxies_their_https_header_is_believed():
    assert shown(**PRODUCTION, TRUSTED_PROXY_COUNT="1") == "True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https')"
    assert shown(**PRODUCTION, TRUSTED_PROXY_COUNT="1", SECURE_PROXY_SSL_HEADER="X-Scheme") == (
        "True 31536000 ('HTTP_X_SCHEME', 'https')")


def test_each_can_be_set_from_the_environment():
    assert shown(**PRODUCTION, SECURE_SSL_REDIRECT="0", SECURE_HSTS_SECONDS="0") == "False 0 None"


def test_debug_leaves_plain_http_alone():
    assert shown(DEBUG="1") == "False 0 None"


@pytest.fixture
def https_only(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.mark.django_db
def test_plain_http_is_redirected_and_https_through_the_proxy_gets_hsts(https_only):
    client = Client()

    plain = client.get("/login/?next=/orders/")
    through_proxy = client.get("/login/", HTTP_X_FORWARDED_PROTO="https")

    assert plain.status_code == 301 and plain["Location"] == "https://testserver/login/?next=/orders/"
    assert through_proxy.status_code == 200
    assert through_proxy["Strict-Transport-Security"] == "max-age=31536000"


def test_the_health_check_answers_over_plain_http(https_only):
    assert Client().get("/healthz").status_code == 200
