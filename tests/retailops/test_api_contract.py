"""The live OpenAPI document is a promise (API.md): schemathesis checks it against the app
itself. Every operation of /api/schema/ is called with a token that has every scope, on a
seeded database, first on the seeded objects, then with generated requests, valid and
invalid; none may answer 5xx (not_a_server_error) or a body its schema does not describe
(response_schema_conformance).

The examples per operation are few, so CI stays quick; set SCHEMATHESIS_MAX_EXAMPLES
for a deeper run, SCHEMATHESIS_RANDOM=1 for other examples than CI's.
"""

import os
from contextlib import contextmanager

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from retailops.access import Scope
from tests.exceptions.factories import CaseFactory
from tests.inventory.factories import ChannelFactory, LocationFactory, SkuFactory
from tests.orders.factories import stock

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture
def app(db, monkeypatch):
    from retailops.throttling import ClientRateThrottle
    from retailops.wsgi import application

    monkeypatch.setattr(ClientRateThrottle, "THROTTLE_RATES", {"client": "100000/min"})
    return application


@contextmanager
def in_this_transaction():
    """Requests made straight to the WSGI application run in the test's transaction, as
    Django's test client runs them: the connection is not closed after each."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def seeded(token: str) -> dict[str, str]:
    """A small shop, made through the API, and the path parameters that name its objects."""
    sku, store, dc = SkuFactory(code="A"), LocationFactory(code="S1"), LocationFactory(code="DC1", dc=True)
    ChannelFactory(code="web")
    stock(sku, store, 50)
    stock(sku, dc, 50)
    CaseFactory(sku=sku, location=store)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    def create(url: str, body: dict) -> str:
        response = client.post(url, body, format="json")
        assert response.status_code in (200, 201), response.content
        return str(response.json()["id"])

    snapshot = client.post("/api/v1/snapshots", {"as_of": "2026-01-01T00:00:00Z", "lines": [
        {"sku": "A", "location": "S1", "on_hand": 49}, {"sku": "Z", "location": "S1", "on_hand": 1}]}, format="json")
    assert snapshot.status_code == 202, snapshot.content
    return {
        "run_id": str(snapshot.json()["reconciliation"]),
        "reservation_id": create("/api/v1/reservations", {"sku": "A", "quantity": 1, "channel": "web"}),
        "order_id": create("/api/v1/orders", {"external_id": "W-1", "channel": "web", "fulfillment": "ship",
                                              "lines": [{"line_id": "1", "sku": "A", "quantity": 1}]}),
        "adjustment_id": create("/api/v1/adjustments", {"sku": "A", "location": "S1", "delta": -1,
                                                        "reason": "shrink"}),
        "transfer_id": create("/api/v1/transfers", {"from_location": "DC1", "to_location": "S1",
                                                    "lines": [{"sku": "A", "quantity": 2}]}),
        "return_id": create("/api/v1/returns", {"external_id": "RA-1", "location": "S1",
                                                "lines": [{"sku": "A", "quantity": 2, "reason": "too small"}]}),
        "asn_id": create("/api/v1/asns", {"external_id": "ASN-1", "location": "DC1",
                                          "expected_at": "2030-01-01T00:00:00+00:00",
                                          "lines": [{"sku": "A", "quantity": 5}]}),
    }


def known_code(path: str) -> str:
    return {"skus": "A", "locations": "S1", "channels": "web"}[path.split("/")[3]]


def test_every_operation_keeps_to_its_schema(app):
    from connectors.clients import partner_client_issue

    token = partner_client_issue(system_code="contract", kind="erp", scopes=list(Scope.values)).token
    known = seeded(token)
    headers = {"Authorization": f"Bearer {token}"}
    failures: dict[str, str] = {}
    operations = 0

    with in_this_transaction():
        schema = schemathesis.openapi.from_wsgi("/api/schema/", app)
        for operation in (result.ok() for result in schema.get_all_operations()):
            operations += 1
            failure = check_operation(operation, known, headers)
            if failure:
                failures[operation.label] = failure

    assert operations > 25
    assert not failures, "\n\n".join(f"{label}\n{failure}" for label, failure in sorted(failures.items()))


def check_operation(operation, known: dict[str, str], headers: dict[str, str]) -> str | None:
    """Call one operation on the seeded objects, then with generated requests; the first
    failure found, or None."""
    names = {name: known_code(operation.path) if name == "code" else known[name]
             for name in (parameter.name for parameter in operation.path_parameters)}
    strategy = st.one_of(operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
                         operation.as_strategy(schemathesis.GenerationMode.NEGATIVE))

    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, print_blob=False,
              derandomize=os.environ.get("SCHEMATHESIS_RANDOM") != "1", suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def generated(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        if operation.method.lower() in {"post", "put"}:
            on_known = operation.Case(path_parameters=names, body={}, media_type="application/json")
        else:
            on_known = operation.Case(path_parameters=names)
        on_known.call_and_validate(headers=headers, checks=CHECKS)
        generated()
    except Exception as failure:  # every operation is checked, then all failures are shown
        return str(failure)
    return None
