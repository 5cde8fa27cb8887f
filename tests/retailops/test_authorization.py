"""Object-level access, endpoint by endpoint: a store_ops user of store A and a partner
token scoped to store A can neither see nor act on store B's objects — by list, by id or
by action (no IDOR).

Every URL pattern of the project must have an entry in CHECKS, or be listed in OPEN with
the reason it holds nothing location-bound: a new endpoint or screen without an
authorization check fails `test_every_url_pattern_has_an_authorization_check`.
"""

from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.services import api_client_create, external_system_ensure
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket, StockLevel
from orders import services as order_services
from orders.callers import Caller
from retailops.access import LocationScope, Scope
from retailops.staff import staff_user_upsert
from tests.inventory.factories import ChannelFactory, LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db

DENIED = (403, 404)

# Patterns that hold nothing bound to a location, with the reason.
OPEN = {
    "login": "the sign-in page",
    "logout": "signs the caller out",
    "healthz": "liveness, no data",
    "readyz": "readiness, no data",
    "api-schema": "the published contract",
    "api-docs": "the published contract",
    "auth-token": "exchanges credentials for the caller's own token",
    "sku-list": "SKUs are not bound to a location",
    "sku-detail": "SKUs are not bound to a location",
    "channel-list": "channels are not bound to a location",
    "channel-detail": "channels are not bound to a location",
    "home": "shows only the caller's own navigation and counts from scoped selectors",
}


@dataclass
class World:
    a: object
    b: object
    sku: object
    other_sku: object
    channel: object
    order_b: object
    hold_b: object


@pytest.fixture
def world(db):
    a = LocationFactory(code="SA", pickup=True)
    b = LocationFactory(code="SB", pickup=True)
    sku = SkuFactory(code="AUTH-1")
    other_sku = SkuFactory(code="AUTH-2")
    channel = ChannelFactory(code="web-auth")
    post_movements([Movement(sku.pk, b.pk, Bucket.ON_HAND, 10, reason="receipt"),
                    Movement(other_sku.pk, b.pk, Bucket.ON_HAND, 10, reason="receipt")])
    system = external_system_ensure(code="partner-auth", kind="marketplace")
    everywhere = Caller(actor=None, external_system_id=system.pk, scope=LocationScope(None))
    order_b, _created = order_services.order_create(
        caller=everywhere, external_id="B-1", channel_code=channel.code, fulfillment="pickup",
        pickup_location_code=b.code, lines=[order_services.LineInput(line_id="1", sku=sku.code, quantity=1)],
    )
    hold_b = order_services.reservation_create(caller=everywhere, sku_code=sku.code, quantity=1,
                                               channel_code=channel.code, location_code=b.code)
    return World(a=a, b=b, sku=sku, other_sku=other_sku, channel=channel, order_b=order_b, hold_b=hold_b)


@pytest.fixture(params=["store_ops", "partner"])
def caller(request, world):
    """An API client acting for store A only: a store_ops user, or a partner token."""
    client = APIClient()
    if request.param == "store_ops":
        user = staff_user_upsert(username="ops-a", role="store_ops", password="pw-for-tests-1",
                                 location_codes=[world.a.code])
        client.force_authenticate(user=user)
    else:
        system = external_system_ensure(code="partner-auth", kind="marketplace")
        issued = api_client_create(system=system, scopes=list(Scope.values), location_codes=[world.a.code])
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    client.kind = request.param
    return client


@pytest.fixture
def screen_user(world):
    """A browser session of a store_ops user of store A."""
    user = staff_user_upsert(username="ops-a-screen", role="store_ops", password="pw-for-tests-1",
                             location_codes=[world.a.code])
    client = Client()
    client.force_login(user)
    return client


def codes(response, field="code"):
    body = response.json()
    results = body["results"] if isinstance(body, dict) and "results" in body else body
    return {row[field] for row in results}


# --- Checks, one per URL name ------------------------------------------------------------------


def check_location_list(world, caller, screen):
    response = caller.get("/api/v1/locations")
    assert response.status_code in (200, *DENIED)
    if response.status_code == 200:
        assert world.b.code not in codes(response)


def check_location_detail(world, caller, screen):
    assert caller.get(f"/api/v1/locations/{world.b.code}").status_code in DENIED
    body = {"name": "Taken over", "kind": "store", "region": "north"}
    assert caller.put(f"/api/v1/locations/{world.b.code}", body, format="json").status_code in DENIED
    world.b.refresh_from_db()
    assert world.b.name != "Taken over"


def check_inventory_events(world, caller, screen):
    before = StockLevel.objects.get(sku=world.sku, location=world.b).on_hand
    event = {"event_id": f"auth-{caller.kind}", "type": "sale", "sku": world.sku.code, "location": world.b.code,
             "quantity": 1, "occurred_at": timezone.now().isoformat()}
    response = caller.post("/api/v1/inventory/events", {"source": "pos-auth", "events": [event]}, format="json")
    if response.status_code == 200:
        assert [result["status"] for result in response.json()["results"]] == ["rejected"]
    else:
        assert response.status_code in DENIED
    assert StockLevel.objects.get(sku=world.sku, location=world.b).on_hand == before


def check_availability(world, caller, screen):
    response = caller.get("/api/v1/availability", {"sku": world.sku.code, "location": world.b.code})
    assert response.status_code in DENIED
    response = caller.get("/api/v1/availability", {"sku": world.sku.code})
    assert response.status_code in (200, *DENIED)
    if response.status_code == 200:
        assert world.b.code not in str(response.json())


def check_reservation_create(world, caller, screen):
    body = {"sku": world.other_sku.code, "quantity": 1, "channel": world.channel.code}
    assert caller.post("/api/v1/reservations", {**body, "location": world.b.code},
                       format="json").status_code in DENIED
    # Without a location, sourcing must not reach store B's stock either.
    assert caller.post("/api/v1/reservations", body, format="json").status_code in (409, *DENIED)
    level = StockLevel.objects.get(sku=world.other_sku, location=world.b)
    assert level.committed == 0


def check_reservation_detail(world, caller, screen):
    assert caller.get(f"/api/v1/reservations/{world.hold_b.pk}").status_code in DENIED


def check_reservation_release(world, caller, screen):
    assert caller.post(f"/api/v1/reservations/{world.hold_b.pk}/release", {}, format="json").status_code in DENIED
    world.hold_b.refresh_from_db()
    assert world.hold_b.status == "reserved"


def check_order_list(world, caller, screen):
    response = caller.get("/api/v1/orders")
    assert response.status_code in (200, *DENIED)
    if response.status_code == 200:
        assert world.order_b.external_id not in codes(response, "external_id")


def check_order_detail(world, caller, screen):
    assert caller.get(f"/api/v1/orders/{world.order_b.pk}").status_code in DENIED


def _order_action(action):
    def check(world, caller, screen):
        response = caller.post(f"/api/v1/orders/{world.order_b.pk}/{action}", {}, format="json")
        assert response.status_code in DENIED
        world.order_b.refresh_from_db()
        assert world.order_b.status == "allocated"
        assert world.order_b.pickup_acknowledged_at is None

    return check


CHECKS = {
    "location-list": check_location_list,
    "location-detail": check_location_detail,
    "inventory-events": check_inventory_events,
    "availability": check_availability,
    "reservation-create": check_reservation_create,
    "reservation-detail": check_reservation_detail,
    "reservation-release": check_reservation_release,
    "order-list": check_order_list,
    "order-detail": check_order_detail,
    "order-cancel": _order_action("cancel"),
    "order-ship": _order_action("ship"),
    "order-pickup": _order_action("pickup"),
    "order-acknowledge": _order_action("acknowledge"),
}


def url_names(patterns=None, namespace=""):
    """Every named URL pattern of the project, namespaced, except the Django admin's."""
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.app_name == "admin":
                continue
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from url_names(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern):
            assert pattern.name, f"URL pattern {pattern.pattern} has no name, so it cannot be checked"
            yield f"{namespace}{pattern.name}"


def test_every_url_pattern_has_an_authorization_check():
    missing = sorted(name for name in set(url_names()) if name not in CHECKS and name not in OPEN)
    assert not missing, f"URL patterns without an authorization check: {missing}"
    assert not set(CHECKS) & set(OPEN)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_store_a_callers_cannot_reach_store_b(name, world, caller, screen_user):
    CHECKS[name](world, caller, screen_user)


def test_the_world_is_reachable_for_an_all_locations_user(world):
    """The checks above deny for the right reason: the same requests work with full scope."""
    user = staff_user_upsert(username="control-auth", role="inventory_control", password="pw-for-tests-1")
    client = APIClient()
    client.force_authenticate(user=user)
    assert client.get(f"/api/v1/locations/{world.b.code}").status_code == 200
    assert client.get(f"/api/v1/orders/{world.order_b.pk}").status_code == 200
    assert client.get(f"/api/v1/reservations/{world.hold_b.pk}").status_code == 200
    response = client.get("/api/v1/availability", {"sku": world.sku.code, "location": world.b.code})
    assert response.status_code == 200
