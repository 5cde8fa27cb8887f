"""/api/schema/ is a valid OpenAPI 3 document that describes every endpoint's bodies."""

import re

import pytest
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "put", "post", "patch", "delete"}:
                yield path, method, operation


def test_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate(schema)


def test_every_operation_documents_its_bodies_and_problems(schema):
    for path, method, operation in operations(schema):
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert success, f"{method.upper()} {path} documents no success response"
        for code in success:
            if code != "204":
                assert operation["responses"][code].get("content"), f"{method.upper()} {path} {code} has no body"
        if method in {"put", "post"}:
            assert "requestBody" in operation, f"{method.upper()} {path} documents no request body"
        for code in ("400", "401", "403", "429"):
            content = operation["responses"][code]["content"]
            assert "application/problem+json" in content


def test_every_api_route_is_in_the_schema(schema):
    from django.urls import get_resolver

    documented = {path.removeprefix("/api/v1/") for path in schema["paths"]}
    routes = set()

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, route)
            elif route.startswith("api/v1/"):
                routes.add(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.removeprefix("api/v1/")))

    walk(get_resolver().url_patterns)
    assert routes and routes <= documented


def test_docs_page_is_served_without_outside_assets(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert "cdn" not in response.content.decode().lower()


def test_schema_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").stat().st_size > 1000


def test_a_strict_text_field_documents_the_blanks_it_refuses(schema):
    event = schema["components"]["schemas"]["EventInRequest"]["properties"]

    assert event["reference"]["minLength"] == 1
    assert event["event_id"]["minLength"] == 1
    assert event["event_id"]["maxLength"] == 255
    assert "minLength" not in event["reason"]


def test_writes_document_the_busy_503_and_when_to_retry(schema):
    for path, method, operation in operations(schema):
        if method in {"put", "post"} and not path.endswith("/auth/token"):
            assert "Retry-After" in operation["responses"]["503"]["headers"], f"{method.upper()} {path}"
        assert "Retry-After" in operation["responses"]["429"]["headers"], f"{method.upper()} {path}"
