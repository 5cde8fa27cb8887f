"""A small place for the returns tests: a store and a DC, two SKUs with stock, a web
channel, and helpers to authorise and read returns through the API."""

from decimal import Decimal

import pytest

from inventory.ledger import Movement, ledger_drifts, post_movements
from inventory.models import Bucket, Location, StockLevel

# The sandbox partner and the worker fault harness of the integrations tests, as fixtures here.
from tests.integrations.conftest import sandbox, sandbox_server  # noqa: F401
from tests.integrations.test_worker import queue, start_worker  # noqa: F401
from tests.inventory.factories import ChannelFactory, LocationFactory, SkuFactory


@pytest.fixture
def place(db):
    class Place:
        a = SkuFactory(code="A", price=Decimal("20.00"), unit_cost=Decimal("8.00"))
        b = SkuFactory(code="B", price=Decimal("5.00"), unit_cost=Decimal("2.00"))
        store = LocationFactory(code="S1", region="north")
        other_store = LocationFactory(code="S2", region="south")
        dc = LocationFactory(code="DC1", kind=Location.Kind.DC, region="north", pickup=False)
        web = ChannelFactory(code="web")

    for sku in (Place.a, Place.b):
        post_movements([Movement(sku.pk, Place.dc.pk, Bucket.ON_HAND, 50, reason="receipt")])
    return Place


@pytest.fixture
def control(staff_api, place):
    return staff_api("inventory_control")


@pytest.fixture
def finance(staff_api, place):
    return staff_api("finance")


URL = "/api/v1/returns"


def authorize(client, *, external_id="RA-1", location="S1", lines=None, order=None, expect=201):
    body = {"external_id": external_id, "location": location,
            "lines": lines or [{"sku": "A", "quantity": 3, "reason": "too small"}]}
    if order is not None:
        body["order"] = order
    response = client.post(URL, body, format="json")
    assert response.status_code == expect, response.json()
    return response.json()


def act(client, return_id: int, verb: str, body: dict | None = None):
    return client.post(f"{URL}/{return_id}/{verb}", body or {}, format="json")


def level(sku, location) -> StockLevel:
    return StockLevel.objects.get(sku=sku, location=location)


def assert_ledger_clean():
    assert ledger_drifts() == []
