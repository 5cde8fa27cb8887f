"""Errors in the app's own words: staff pages in the staff layout, the API in problem+json
in every mode, and a readiness probe that says when static files are missing."""

import pytest
from django.core.management import call_command
from django.test import Client, RequestFactory

from retailops import problems
from retailops.roles import Role

pytestmark = pytest.mark.django_db

PRODUCTION_STATIC = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


@pytest.fixture
def store_ops(staff_api):
    client = Client()
    client.force_login(staff_api(Role.STORE_OPS, locations=[]).user)
    return client


def test_a_missing_page_is_shown_in_the_staff_layout(store_ops, settings):
    settings.DEBUG = False
    response = store_ops.get("/inventory/no-such-page/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Page not found" in page
    assert "Sign out" in page  # the staff layout, with its navigation
    assert "Back to your start page" in page


def test_a_page_the_role_may_not_open_says_so_in_the_staff_layout(store_ops):
    response = store_ops.get("/inventory/approvals/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "Not allowed" in page
    assert "ask an ops admin" in page
    assert "Sign out" in page


def test_a_server_error_page_needs_nothing_but_the_template():
    request = RequestFactory().get("/cases/")
    response = problems.server_error(request)
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page
    assert 'class="topbar"' in page  # the app's layout, even with no user or database at hand


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_api_address_is_a_404_problem_in_every_mode(partner_api, settings, debug):
    settings.DEBUG = debug
    client = partner_api()
    for path in ("/api/v1/no-such-thing", "/api/v2/skus", "/api/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"


def test_readyz_is_503_until_static_files_are_collected(client, settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "staticfiles"
    settings.STORAGES = PRODUCTION_STATIC
    settings.DEBUG = False

    response = client.get("/readyz")
    assert response.status_code == 503
    assert "collectstatic" in response.json()["checks"]["static"]

    call_command("collectstatic", "--noinput", verbosity=0)
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["static"] == "ok"
    assert client.get("/login/").status_code == 200
