"""Every API error is problem+json with a stable code (API.md "Errors")."""

import re

import pytest
from django.test import override_settings
from django.urls import path
from rest_framework.test import APIClient
from rest_framework.views import APIView

from backoffice.urls import urlpatterns as project_urlpatterns
from retailops.errors import LockTimeout

pytestmark = pytest.mark.django_db

SKU_BODY = {"name": "Tee", "unit_cost": "1.00", "price": "2.00"}


class ExplodingView(APIView):
    """A view with a bug in it, to show what a client sees when we fail."""

    required_scope = "master_data"

    def get(self, request):
        raise RuntimeError("a bug")


class BusyView(APIView):
    """A view whose service found its rows locked past LOCK_TIMEOUT_MS."""

    required_scope = "master_data"

    def get(self, request):
        raise LockTimeout()


urlpatterns = [path("api/v1/test/explode", ExplodingView.as_view()), path("api/v1/test/busy", BusyView.as_view()),
               *project_urlpatterns]
handler404 = "retailops.problems.page_not_found"
handler500 = "retailops.problems.server_error"


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(code)
    assert body["title"] and body["detail"]
    return body


def test_no_token_is_401_with_bearer_challenge(api):
    response = api.get("/api/v1/skus")
    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Bearer rop_not-a-real-token", "Bearer", "Bearer a b"])
def test_bad_token_is_401(api, header):
    api.credentials(HTTP_AUTHORIZATION=header)
    assert_problem(api.get("/api/v1/skus"), 401, "authentication_failed")


def test_valid_token_without_scope_is_403(partner_api):
    assert_problem(partner_api(scopes=["orders"]).get("/api/v1/skus"), 403, "missing_scope")


def test_staff_without_permission_is_403(staff_api):
    assert_problem(staff_api("finance").put("/api/v1/skus/A", SKU_BODY, format="json"), 403, "permission_denied")


def test_unknown_endpoint_is_a_404_problem(partner_api):
    assert_problem(partner_api().get("/api/v1/no-such-thing"), 404, "not_found")


def test_wrong_method_is_405(partner_api):
    assert_problem(partner_api().delete("/api/v1/skus/A"), 405, "method_not_allowed")


def test_malformed_json_is_400(partner_api):
    response = partner_api().put("/api/v1/skus/A", data='{"name": "x",', content_type="application/json")
    assert_problem(response, 400, "malformed_json")


def test_wrong_types_are_400_with_field_paths(partner_api):
    response = partner_api().put("/api/v1/skus/A", {"name": ["x"], "unit_cost": {}, "price": "1"}, format="json")
    body = assert_problem(response, 400, "invalid")
    assert {error["field"] for error in body["errors"]} == {"name", "unit_cost"}


def test_non_object_body_is_400(partner_api):
    response = partner_api().put("/api/v1/skus/A", data="[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_oversize_payload_is_400(partner_api):
    response = partner_api().put("/api/v1/skus/A", {**SKU_BODY, "name": "x" * 5000}, format="json")
    assert_problem(response, 400, "payload_too_large")


def test_too_many_query_parameters_is_400(partner_api):
    response = partner_api().get("/api/v1/availability", {"sku": "A", **{f"p{n}": "1" for n in range(1001)}})
    assert_problem(response, 400, "payload_too_large")


def test_unsupported_media_type_is_415(partner_api):
    response = partner_api().put("/api/v1/skus/A", data="name=x", content_type="text/plain")
    assert_problem(response, 415, "unsupported_media_type")


def test_throttled_is_429_with_retry_after(partner_api, monkeypatch):
    from django.core.cache import cache

    from retailops.throttling import ClientRateThrottle

    monkeypatch.setattr(ClientRateThrottle, "THROTTLE_RATES", {"client": "2/min"})
    cache.clear()
    client = partner_api()
    statuses = [client.get("/api/v1/skus").status_code for _ in range(2)]
    response = client.get("/api/v1/skus")

    assert statuses == [200, 200]
    assert_problem(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    cache.clear()


@pytest.mark.urls(__name__)
def test_unhandled_error_is_a_500_problem_without_internals(partner_api, caplog):
    response = partner_api().get("/api/v1/test/explode")
    body = assert_problem(response, 500, "server_error")
    assert "a bug" not in response.content.decode()
    assert "Unhandled API error" in caplog.text
    assert body["detail"]


@pytest.mark.urls(__name__)
def test_a_lock_timeout_is_a_503_that_says_when_to_retry(partner_api):
    response = partner_api().get("/api/v1/test/busy")

    assert_problem(response, 503, "lock_timeout")
    assert int(response["Retry-After"]) >= 1


def _json_endpoints() -> list[tuple[str, str]]:
    """(method, path) of every API operation that takes a JSON body, from the schema."""
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    return [(method, re.sub(r"\{\w+_id\}", "1", path).replace("{code}", "X1"))
            for path, operations in paths.items() for method, operation in operations.items()
            if method in {"post", "put"} and "requestBody" in operation]


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deeply_nested_json_is_a_400_on_every_json_endpoint(partner_api, staff_api, depth):
    client, finance, anonymous = partner_api(), staff_api("finance"), APIClient()
    body = "[" * depth + "]" * depth
    endpoints = _json_endpoints()
    assert ("post", "/api/v1/auth/token") in endpoints and len(endpoints) > 15

    for method, url in endpoints:
        staff_only = "/adjustments/" in url or "/refund/" in url  # finance decides adjustments and refunds
        caller = anonymous if url.endswith("/auth/token") else finance if staff_only else client
        response = getattr(caller, method)(url, data=body, content_type="application/json")
        problem_body = assert_problem(response, 400, "malformed_json")
        assert "nested" in problem_body["detail"], url
