"""Pages shown to a signed-in person are never stored by the browser or a proxy (stock,
money and names stay off shared machines' disks and the back button after sign-out);
static files and the public health checks stay cacheable."""

import pytest
from django.test import Client

from backoffice.staff import staff_user_upsert

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in():
    client = Client()
    client.force_login(staff_user_upsert(username="ctl", role="inventory_control", password="pw-for-tests-1"))
    return client


SIGNED_IN_PAGES = ["/cases/queue/inventory_control/", "/orders/", "/inventory/counts/", "/api/v1/skus",
                   "/confirm-password/"]


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
def test_every_signed_in_page_says_no_store(signed_in, path):
    response = signed_in.get(path)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_an_htmx_fragment_says_no_store_too(signed_in):
    response = signed_in.get("/cases/queue/inventory_control/", HTTP_HX_REQUEST="true")

    assert "no-store" in response["Cache-Control"]


def test_static_files_and_health_checks_stay_cacheable(signed_in, settings):
    settings.WHITENOISE_USE_FINDERS = True  # serve from the source tree, as under DEBUG, not collectstatic
    settings.WHITENOISE_AUTOREFRESH = True
    static = signed_in.get("/static/css/app.css")
    health = Client().get("/healthz")

    assert static.status_code == 200 and "no-store" not in static.get("Cache-Control", "")
    assert "no-store" not in health.get("Cache-Control", "")
