"""One rule for a location code, everywhere a request names one: an inactive location is
closed, so naming it is naming no location. Its levels and history stay readable."""

import pytest

from inventory.models import InventoryEvent, Location
from tests.inventory.factories import ChannelFactory, LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db

T0 = "2026-11-20T10:00:00+00:00"


@pytest.fixture
def closed(db):
    SkuFactory(code="A")
    ChannelFactory(code="web")
    LocationFactory(code="OPEN", kind=Location.Kind.DC, ship_from_store=True)
    return LocationFactory(code="SHUT", active=False)


@pytest.fixture
def partner(partner_api, closed):
    return partner_api("everything", scopes=["events", "availability", "orders", "transfers"])


def problem(response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["errors"][0]["field"]


@pytest.mark.parametrize(("url", "body", "field"), [
    ("/api/v1/reservations", {"sku": "A", "quantity": 1, "channel": "web", "location": "SHUT"}, "location"),
    ("/api/v1/adjustments", {"sku": "A", "location": "SHUT", "delta": 1, "reason": "found_stock"}, "location"),
    ("/api/v1/transfers", {"from_location": "OPEN", "to_location": "SHUT", "lines": [{"sku": "A", "quantity": 1}]},
     "to_location"),
    ("/api/v1/orders", {"external_id": "o-1", "channel": "web", "fulfillment": "pickup", "pickup_location": "SHUT",
                        "lines": [{"line_id": "1", "sku": "A", "quantity": 1}]}, "pickup_location"),
])
def test_a_request_naming_an_inactive_location_is_told_it_is_unknown(partner, url, body, field):
    assert problem(partner.post(url, body, format="json")) == (400, "unknown_location", field)


def test_availability_at_an_inactive_location_is_unknown(partner):
    response = partner.get("/api/v1/availability", {"sku": "A", "location": "SHUT"})
    assert problem(response) == (400, "unknown_location", "location")


def test_an_event_at_an_inactive_location_is_kept_as_rejected(partner):
    event = {"event_id": "e1", "type": "sale", "sku": "A", "location": "SHUT", "quantity": 1, "occurred_at": T0}
    response = partner.post("/api/v1/inventory/events", {"events": [event]}, format="json")

    assert response.json()["results"] == [{"event_id": "e1", "status": "rejected", "error": {
        "code": "unknown_location", "detail": "Unknown location 'SHUT'."}}]
    assert InventoryEvent.objects.get().status == InventoryEvent.Status.REJECTED
