"""Object-level access, endpoint by endpoint: a store_ops user of store A and a partner
token scoped to store A can neither see nor act on store B's objects — by list, by id or
by action (no IDOR).

Every URL pattern of the project must have an entry in CHECKS, or be listed in OPEN with
the reason it holds nothing location-bound: a new endpoint or screen without an
authorization check fails `test_every_url_pattern_has_an_authorization_check`.
"""

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from backoffice.staff import staff_user_upsert
from connectors.clients import partner_client_issue
from integrations.services import external_system_ensure
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket, StockLevel
from orders import services as order_services
from orders.callers import Caller
from retailops.access import LocationScope, Scope
from tests.inventory.factories import ChannelFactory, LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db

DENIED = (403, 404)

# Patterns that hold nothing bound to a location, with the reason.
OPEN = {
    "login": "the sign-in page",
    "logout": "signs the caller out",
    "confirm_password": "the signed-in caller types their own password again; no data",
    "mfa_verify": "the signed-in caller gives their own second factor; no data",
    "mfa_enrol": "the signed-in caller enrols their own authenticator (a second one only once verified)",
    "healthz": "liveness, no data",
    "readyz": "readiness, no data",
    "api-schema": "the published contract",
    "api-docs": "the published contract",
    "api-not-found": "answers 404 for any address under /api/ that names no endpoint; no data",
    "auth-token": "exchanges credentials for the caller's own token",
    "sku-list": "SKUs are not bound to a location",
    "sku-detail": "SKUs are not bound to a location",
    "channel-list": "channels are not bound to a location",
    "channel-detail": "channels are not bound to a location",
    "notification_preferences": "the signed-in caller's own notification preferences; no data",
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
        issued = partner_client_issue(system_code="partner-auth", kind="marketplace", scopes=list(Scope.values),
                                      location_codes=[world.a.code])
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


def mentions(text: str, code: str) -> bool:
    """Whether a page or export names this code as a word (not inside a CSRF token, say)."""
    return re.search(rf"(?<![A-Za-z0-9_-]){re.escape(code)}(?![A-Za-z0-9_-])", text) is not None


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
        assert not mentions(str(response.json()), world.b.code)


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


def _order_action(action, body=None):
    def check(world, caller, screen):
        response = caller.post(f"/api/v1/orders/{world.order_b.pk}/{action}", body or {}, format="json")
        assert response.status_code in DENIED
        world.order_b.refresh_from_db()
        assert world.order_b.status == "allocated"
        assert world.order_b.pickup_acknowledged_at is None

    return check


# --- Cases (exceptions app): store B's case is invisible to store A, in lists and by id --------


def _case_at_b(world):
    from tests.exceptions.factories import CaseFactory

    return CaseFactory(location=world.b, sku=world.sku, title="Case at store B", context={"source": "partner-auth"})


def check_case_list(world, caller, screen):
    case = _case_at_b(world)
    response = caller.get("/api/v1/cases")
    assert response.status_code in (200, *DENIED)
    if response.status_code == 200:
        assert case.pk not in {row["id"] for row in response.json()["results"]}


def _case_screen(path):
    def check(world, caller, screen):
        _case_at_b(world)
        for url in (f"/cases/{path}", f"/cases/{path}?location={world.b.code}"):
            response = screen.get(url, follow=True)
            assert response.status_code == 200
            assert "Case at store B" not in response.content.decode()

    return check


def _case_action(action, data):
    def check(world, caller, screen):
        case = _case_at_b(world)
        if action == "detail":
            assert screen.get(f"/cases/{case.pk}/").status_code in DENIED
            return
        if action == "bulk":
            screen.post("/cases/bulk/", {"case": [case.pk], **data})
        else:
            assert screen.post(f"/cases/{case.pk}/{action}/", data).status_code in DENIED
        case.refresh_from_db()
        assert (case.status, case.assignee_id, case.comments.count()) == ("open", None, 0)

    return check


def check_home_screen(world, caller, screen):
    """A store's home lists its cases and the pickups at its counter: none of store B's."""
    case = _case_at_b(world)
    response = screen.get("/")
    assert response.status_code == 200
    assert case.pk not in {shown.pk for shown, _band in response.context["case_rows"]}
    assert world.order_b.pk not in {order.pk for order in response.context["pickups"]}
    assert response.context["pickup_counts"].to_acknowledge == 0
    page = response.content.decode()
    assert "Case at store B" not in page and world.order_b.external_id not in page


def check_case_release(world, caller, screen):
    """Releasing store B's hold from store B's case: refused, and the hold stays reserved."""
    _case_action("release", {"reservation": world.hold_b.pk})(world, caller, screen)
    world.hold_b.refresh_from_db()
    assert world.hold_b.status == "reserved"


# --- Adjustments and transfers (inventory): store B's documents are out of reach -------------


def _pending_adjustment_at_b(world):
    from inventory.adjustments import adjustment_request

    requester = staff_user_upsert(username="control-b", role="inventory_control", password="pw-for-tests-1")
    return adjustment_request(sku_code=world.sku.code, location_code=world.b.code, delta=-100, reason="shrink",
                              actor=requester, scope=LocationScope(None))


def check_adjustment_list(world, caller, screen):
    from inventory.models import Adjustment

    adjustment = _pending_adjustment_at_b(world)
    response = caller.get("/api/v1/adjustments")
    assert response.status_code in (200, *DENIED)
    if response.status_code == 200:
        assert adjustment.pk not in {row["id"] for row in response.json()["results"]}
    body = {"sku": world.sku.code, "location": world.b.code, "delta": -1, "reason": "shrink"}
    assert caller.post("/api/v1/adjustments", body, format="json").status_code in DENIED
    assert Adjustment.objects.filter(location=world.b).count() == 1


def check_adjustment_detail(world, caller, screen):
    adjustment = _pending_adjustment_at_b(world)
    assert caller.get(f"/api/v1/adjustments/{adjustment.pk}").status_code in DENIED


def _adjustment_action(action):
    def check(world, caller, screen):
        adjustment = _pending_adjustment_at_b(world)
        response = caller.post(f"/api/v1/adjustments/{adjustment.pk}/{action}", {"note": "x"}, format="json")
        assert response.status_code in DENIED
        adjustment.refresh_from_db()
        assert adjustment.status == "pending_approval"

    return check


def _transfer_at_b(world):
    from inventory.transfers import LineInput, transfer_request

    other = LocationFactory(code="SC")
    return transfer_request(from_code=world.b.code, to_code=other.code, lines=[LineInput(world.sku.code, 1)],
                            actor=None, scope=LocationScope(None))


def check_transfer_list(world, caller, screen):
    from inventory.models import Transfer

    transfer = _transfer_at_b(world)
    response = caller.get("/api/v1/transfers")
    assert response.status_code in (200, *DENIED)
    if response.status_code == 200:
        assert transfer.pk not in {row["id"] for row in response.json()["results"]}
    body = {"from_location": world.b.code, "to_location": "SC", "lines": [{"sku": world.sku.code, "quantity": 1}]}
    assert caller.post("/api/v1/transfers", body, format="json").status_code in DENIED
    assert Transfer.objects.count() == 1


def check_transfer_detail(world, caller, screen):
    transfer = _transfer_at_b(world)
    assert caller.get(f"/api/v1/transfers/{transfer.pk}").status_code in DENIED


def _transfer_action(action):
    def check(world, caller, screen):
        transfer = _transfer_at_b(world)
        response = caller.post(f"/api/v1/transfers/{transfer.pk}/{action}", {"lines": []}, format="json")
        assert response.status_code in DENIED
        transfer.refresh_from_db()
        assert transfer.status == "requested"
        assert StockLevel.objects.get(sku=world.sku, location=world.b).on_hand == 10

    return check


def check_order_list_screen(world, caller, screen):
    response = screen.get("/orders/")
    assert response.status_code == 200
    assert world.order_b.pk not in {order.pk for order in response.context["page"].object_list}
    assert response.context["total"] == 0


def check_order_detail_screen(world, caller, screen):
    assert screen.get(f"/orders/{world.order_b.pk}/").status_code == 404


def _order_screen_action(action):
    def check(world, caller, screen):
        form = {"note": "not my store", "reason": "not my store", "from_location": "SB"}
        assert screen.post(f"/orders/{world.order_b.pk}/{action}/", form).status_code == 404
        world.order_b.refresh_from_db()
        assert world.order_b.status == "allocated"
        assert world.order_b.pickup_acknowledged_at is None

    return check


# --- Integration screens: no location-bound data, so store operations get none of them -------


def _integration_screen(action):
    def check(world, caller, screen):
        from integrations.models import ExternalSystem, OutboxMessage

        system = ExternalSystem.objects.get(code="partner-auth")
        paused = action == "resume"
        ExternalSystem.objects.filter(pk=system.pk).update(paused=paused)
        dead = OutboxMessage.objects.create(
            system=system, topic="availability", payload={"sku": world.sku.code}, idempotency_key=f"auth-{action}",
            status="dead", attempts=8, next_attempt_at=timezone.now(), created_at=timezone.now(),
            dead_at=timezone.now(), last_error="HTTP 500")
        if action == "health":
            assert screen.get("/integrations/").status_code == 403
        elif action == "system":
            assert screen.get(f"/integrations/{system.code}/").status_code == 403
        else:
            response = screen.post(f"/integrations/{system.code}/{action}/", {"message": [dead.pk], "note": "mine"})
            assert response.status_code == 403
        dead.refresh_from_db()
        system.refresh_from_db()
        assert (dead.status, system.paused, system.history.count()) == ("dead", paused, 1)

    return check


# --- Inventory screens (approvals, adjustments, counts, transfers): store B is out of reach ----


def check_approvals_screen(world, caller, screen):
    _pending_adjustment_at_b(world)
    assert screen.get("/inventory/approvals/").status_code == 403  # finance only


def _approval_screen_action(action):
    def check(world, caller, screen):
        adjustment = _pending_adjustment_at_b(world)
        assert screen.post(f"/inventory/approvals/{adjustment.pk}/{action}/", {"note": "x"}).status_code in DENIED
        adjustment.refresh_from_db()
        assert adjustment.status == "pending_approval"

    return check


def check_adjustment_request_screen(world, caller, screen):
    from inventory.models import Adjustment

    page = screen.get("/inventory/adjustments/new/", {"sku": world.sku.code, "location": world.b.code})
    assert page.status_code == 200
    assert world.b.code not in {location.code for location in page.context["form"].fields["location"].queryset}
    assert page.context["current_on_hand"] is None  # store B's level is not revealed
    response = screen.post("/inventory/adjustments/new/", {"sku": world.sku.code, "location": world.b.code,
                                                           "delta": "-1", "reason": "shrink"})
    assert response.status_code == 400
    assert not Adjustment.objects.filter(location=world.b).exists()


def _count_at_b(world, *, submitted=False):
    from inventory import counts

    count = counts.count_schedule(location_code=world.b.code, selection="explicit", sku_codes=[world.sku.code],
                                  actor=None, scope=LocationScope(None))
    if submitted:
        counts.count_submit(count=count, actor=None, scope=LocationScope(None),
                            lines=[counts.CountedLine(world.sku.code, 10)])
    return count


def check_count_list_screen(world, caller, screen):
    count = _count_at_b(world)
    response = screen.get("/inventory/counts/")
    assert response.status_code == 200
    assert count.pk not in {row.pk for row in response.context["page"].object_list}
    assert world.b.code not in {location.code for location in response.context["form"].fields["location"].queryset}


def check_count_schedule_screen(world, caller, screen):
    from inventory.models import CycleCount

    response = screen.post("/inventory/counts/schedule/", {"location": world.b.code, "selection": "explicit",
                                                           "skus": world.sku.code})
    assert response.status_code == 400
    assert not CycleCount.objects.filter(location=world.b).exists()


def check_count_detail_screen(world, caller, screen):
    count = _count_at_b(world, submitted=True)
    assert screen.get(f"/inventory/counts/{count.pk}/").status_code == 404


def check_count_entry_screen(world, caller, screen):
    count = _count_at_b(world)
    line = count.lines.get()
    assert screen.get(f"/inventory/counts/{count.pk}/enter/").status_code == 404
    assert screen.post(f"/inventory/counts/{count.pk}/enter/", {f"line_{line.pk}": "0"}).status_code == 404
    count.refresh_from_db()
    assert count.status == "scheduled"
    assert StockLevel.objects.get(sku=world.sku, location=world.b).on_hand == 10


def _count_screen_action(action, *, submitted):
    def check(world, caller, screen):
        count = _count_at_b(world, submitted=submitted)
        count.refresh_from_db()
        before = count.status
        assert screen.post(f"/inventory/counts/{count.pk}/{action}/", {"note": "not my store"}).status_code == 404
        count.refresh_from_db()
        assert count.status == before

    return check


def check_transfer_list_screen(world, caller, screen):
    transfer = _transfer_at_b(world)
    response = screen.get("/inventory/transfers/", {"location": world.b.code})
    assert response.status_code == 200
    assert transfer.pk not in {row.pk for row in response.context["page"].object_list}
    assert screen.get("/inventory/transfers/").context["page"].paginator.count == 0


def check_transfer_detail_screen(world, caller, screen):
    transfer = _transfer_at_b(world)
    assert screen.get(f"/inventory/transfers/{transfer.pk}/").status_code == 404


def _transfer_screen_action(action):
    def check(world, caller, screen):
        transfer = _transfer_at_b(world)
        assert screen.post(f"/inventory/transfers/{transfer.pk}/{action}/", {"note": "x"}).status_code == 404
        transfer.refresh_from_db()
        assert transfer.status == "requested"
        assert StockLevel.objects.get(sku=world.sku, location=world.b).on_hand == 10

    return check


def check_stock_search_screen(world, caller, screen):
    response = screen.get("/inventory/stock/", {"q": world.sku.code})
    assert response.status_code == 200
    assert world.b.code not in {level.location.code for level in response.context["page"].object_list}


def check_stock_export_screen(world, caller, screen):
    response = screen.get("/inventory/stock/export.csv", {"q": world.b.code})
    assert response.status_code == 200
    assert not mentions(b"".join(response.streaming_content).decode(), world.b.code)


def check_stock_level_screen(world, caller, screen):
    assert screen.get(f"/inventory/stock/{world.sku.code}/at/{world.b.code}/").status_code == 404


def check_stock_level_export_screen(world, caller, screen):
    assert screen.get(f"/inventory/stock/{world.sku.code}/at/{world.b.code}/movements.csv").status_code == 404


def check_event_detail_screen(world, caller, screen):
    from inventory.ingest import IncomingEvent, events_ingest
    from inventory.models import InventoryEvent

    events_ingest(source="pos-auth", actor=None, scope=LocationScope(None), events=[IncomingEvent(
        event_id="auth-e1", type="sale", sku=world.sku.code, location=world.b.code, quantity=1,
        occurred_at=timezone.now())])
    event = InventoryEvent.objects.get(event_id="auth-e1")
    assert screen.get(f"/inventory/events/{event.pk}/").status_code == 404


def check_adjustment_detail_screen(world, caller, screen):
    from inventory.adjustments import adjustment_request

    adjustment = adjustment_request(sku_code=world.sku.code, location_code=world.b.code, delta=1,
                                    reason="found_stock", actor=None, scope=LocationScope(None))
    assert screen.get(f"/inventory/adjustments/{adjustment.pk}/").status_code == 404


def check_location_detail_screen(world, caller, screen):
    assert screen.get(f"/inventory/locations/{world.b.code}/").status_code == 404
    assert screen.get(f"/inventory/locations/{world.a.code}/").status_code == 200


def check_location_rescore_screen(world, caller, screen):
    from inventory.models import LocationConfidence

    assert screen.post(f"/inventory/locations/{world.b.code}/rescore/").status_code in (403, 404)
    assert not LocationConfidence.objects.exists()


# --- Returns -----------------------------------------------------------------------------------


def _return_at_b(world, *, received: bool = False):
    from returns.services import LineInput as ReturnLineInput
    from returns.services import return_authorize, return_receive

    authorization, _new = return_authorize(
        external_id="RA-B-1", location_code=world.b.code, actor=None, scope=LocationScope(None),
        lines=[ReturnLineInput(sku=world.sku.code, quantity=2, reason="damaged")], source_system="partner-auth",
    )
    if received:
        return_receive(authorization=authorization, lines=[ReturnLineInput(sku=world.sku.code, quantity=2)],
                       actor=None, scope=LocationScope(None))
        authorization.refresh_from_db()
    return authorization


def _return_untouched(world, authorization, status: str) -> None:
    authorization.refresh_from_db()
    assert authorization.status == status
    assert not authorization.refunds.exists()
    assert not authorization.inspections.exists()
    level = StockLevel.objects.get(sku=world.sku, location=world.b)
    assert level.on_hand == (12 if status == "received" else 10)


def check_return_list(world, caller, screen):
    from returns.models import ReturnAuthorization

    authorization = _return_at_b(world)
    response = caller.get("/api/v1/returns")
    assert response.status_code in (200, *DENIED)
    if response.status_code == 200:
        assert authorization.pk not in {row["id"] for row in response.json()["results"]}
    body = {"external_id": "RA-B-2", "location": world.b.code, "lines": [{"sku": world.sku.code, "quantity": 1,
                                                                         "reason": "damaged"}]}
    assert caller.post("/api/v1/returns", body, format="json").status_code in (*DENIED, 400)
    assert ReturnAuthorization.objects.count() == 1


def check_return_detail(world, caller, screen):
    assert caller.get(f"/api/v1/returns/{_return_at_b(world).pk}").status_code in DENIED


def _return_action(action, body, *, received: bool = False):
    def check(world, caller, screen):
        authorization = _return_at_b(world, received=received)
        status = authorization.status
        response = caller.post(f"/api/v1/returns/{authorization.pk}/{action}", body(world), format="json")
        assert response.status_code in DENIED
        _return_untouched(world, authorization, status)

    return check


def check_return_list_screen(world, caller, screen):
    authorization = _return_at_b(world)
    response = screen.get("/returns/", {"location": world.b.code})
    assert response.status_code == 200
    assert authorization.pk not in {row.pk for row in response.context["page"].object_list}


def check_return_desk_screen(world, caller, screen):
    _return_at_b(world)
    response = screen.get("/returns/desk/", {"reference": "RA-B-1"})
    assert response.status_code == 200
    assert response.context["authorization"] is None


def check_return_detail_screen(world, caller, screen):
    assert screen.get(f"/returns/{_return_at_b(world).pk}/").status_code == 404


def _return_screen_action(action, data, *, received: bool = False):
    def check(world, caller, screen):
        authorization = _return_at_b(world, received=received)
        status = authorization.status
        line = authorization.lines.get()
        assert screen.post(f"/returns/{authorization.pk}/{action}/", data(line)).status_code in DENIED
        _return_untouched(world, authorization, status)

    return check


# --- Supplier receipts: store B's notice is invisible to store A, and A cannot announce at B ----


def _asn_at_b(world):
    from receiving.services import AsnLineInput, asn_create

    asn, _created = asn_create(actor=None, scope=LocationScope(None), source_system="partner-auth",
                               external_id="ASN-B", location_code=world.b.code,
                               expected_at=timezone.now() + timedelta(days=1),
                               lines=[AsnLineInput(sku=world.sku.code, quantity=3)])
    return asn


def check_asn_create(world, caller, screen):
    body = {"external_id": "ASN-NEW", "location": world.b.code, "expected_at": (timezone.now() + timedelta(days=1))
            .isoformat(), "lines": [{"sku": world.sku.code, "quantity": 1}]}
    assert caller.post("/api/v1/asns", body, format="json").status_code in DENIED
    assert StockLevel.objects.get(sku=world.sku, location=world.b).incoming == 0


def _asn_action(action):
    def check(world, caller, screen):
        asn = _asn_at_b(world)
        if action == "detail":
            assert caller.get(f"/api/v1/asns/{asn.pk}").status_code in DENIED
            return
        body = {"lines": [{"sku": world.sku.code, "quantity": 3}]} if action == "receive" else {}
        assert caller.post(f"/api/v1/asns/{asn.pk}/{action}", body, format="json").status_code in DENIED
        asn.refresh_from_db()
        assert asn.status == "expected"
        assert StockLevel.objects.get(sku=world.sku, location=world.b).incoming == 3

    return check


def check_receiving_index_screen(world, caller, screen):
    asn = _asn_at_b(world)
    response = screen.get("/receiving/", {"asn": asn.external_id})
    assert response.status_code == 200  # not redirected to it: "no notice at your locations"
    assert "asn" in response.context["form"].errors
    assert list(response.context["awaited"]) == []


def check_receiving_screen(world, caller, screen):
    asn = _asn_at_b(world)
    assert screen.get(f"/receiving/{asn.pk}/").status_code == 404
    assert screen.post(f"/receiving/{asn.pk}/", {f"received_{asn.lines.get().pk}": "3"}).status_code == 404
    asn.refresh_from_db()
    assert asn.status == "expected"


def _reconciled_run(world, system_code: str):
    """A run of `system_code`'s snapshot with a line at store A, one at store B, one unknown."""
    from integrations.snapshots import SnapshotLines, line_row
    from reconciliation.services import run_execute, snapshot_submit

    system = external_system_ensure(code=system_code, kind="wms")
    rows = [line_row(0, world.sku.code, world.a.code, 1), line_row(1, world.sku.code, world.b.code, 3),
            line_row(2, "UNKNOWN", "NOWHERE", 1)]
    run, _created = snapshot_submit(system=system, source="upload",
                                    document=SnapshotLines(as_of=timezone.now(), rows=rows))
    return run_execute(run_id=run.pk)


def check_snapshot_create(world, caller, screen):
    from integrations.models import InventorySnapshot

    body = f"sku,location,on_hand\n{world.sku.code},{world.a.code},1\n{world.sku.code},{world.b.code},9\n"
    response = caller.generic("POST", f"/api/v1/snapshots?as_of={timezone.now().isoformat().replace('+', '%2B')}",
                              body.encode(), content_type="text/csv")
    assert response.status_code in DENIED
    assert not InventorySnapshot.objects.exists()


def check_reconciliation_lines(world, caller, screen):
    run = _reconciled_run(world, "partner-auth")
    response = caller.get(f"/api/v1/reconciliations/{run.pk}/lines")
    assert response.status_code == 200
    assert world.b.code not in codes(response, "location")


def check_reconciliation_detail(world, caller, screen):
    other = _reconciled_run(world, "other-system")
    response = caller.get(f"/api/v1/reconciliations/{other.pk}")
    # A partner reads its own system's runs only; store operations read runs (their lines only).
    assert response.status_code in DENIED if caller.kind == "partner" else response.status_code == 200


def check_reconciliation_list(world, caller, screen):
    other = _reconciled_run(world, "other-system")
    response = caller.get("/api/v1/reconciliations")
    assert response.status_code == 200
    if caller.kind == "partner":
        assert other.pk not in codes(response, "id")



def check_reconciliation_runs_screen(world, caller, screen):
    run = _reconciled_run(world, "screen-wms")
    response = screen.get("/reconciliation/")
    assert response.status_code == 200
    # Store A sees the run, counted over its own lines only (one of the three).
    assert [(row["figures"].lines) for row in response.context["rows"] if row["run"].pk == run.pk] == [1]


def check_reconciliation_run_screen(world, caller, screen):
    run = _reconciled_run(world, "screen-wms")
    response = screen.get(f"/reconciliation/{run.pk}/")
    assert response.status_code == 200
    assert {row["line"].location_code for row in response.context["rows"]} == {world.a.code}


def check_reconciliation_export_screen(world, caller, screen):
    run = _reconciled_run(world, "screen-wms")
    response = screen.get(f"/reconciliation/{run.pk}/lines.csv")
    assert response.status_code == 200
    assert not mentions(b"".join(response.streaming_content).decode(), world.b.code)


def check_reconciliation_line_screen(world, caller, screen):
    run = _reconciled_run(world, "screen-wms")
    line_b = run.line_set.get(location=world.b)
    assert screen.get(f"/reconciliation/lines/{line_b.pk}/").status_code == 404


def check_reconciliation_decide_screen(world, caller, screen):
    from reconciliation.models import LineDecision

    run = _reconciled_run(world, "screen-wms")
    line_b = run.line_set.get(location=world.b)
    response = screen.post(f"/reconciliation/{run.pk}/decide/", {"action": "dismiss", "line": [line_b.pk],
                                                                 "reason": "not my store"})
    assert response.status_code in DENIED
    assert not LineDecision.objects.exists()


def check_reconciliation_upload_screen(world, caller, screen):
    """Store operations upload no snapshot (any line may name another store): the form is
    refused, and so is a file naming store B, and nothing is stored."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from integrations.models import InventorySnapshot

    system = external_system_ensure(code="upload-wms", kind="wms")
    assert screen.get("/reconciliation/upload/").status_code in DENIED
    upload = SimpleUploadedFile("snapshot.csv", f"sku,location,on_hand\n{world.sku.code},{world.b.code},9\n".encode(),
                                content_type="text/csv")
    response = screen.post("/reconciliation/upload/", {"system": system.pk, "as_of": "2026-03-01T12:00",
                                                       "file": upload})
    assert response.status_code in DENIED
    assert not InventorySnapshot.objects.exists()


def check_reconciliation_retry_screen(world, caller, screen):
    """Running a failed run again is for the roles that upload snapshots, not a store's."""
    from reconciliation.models import ReconciliationRun

    run = _reconciled_run(world, "screen-wms")
    ReconciliationRun.objects.filter(pk=run.pk).update(status="failed")
    assert screen.post(f"/reconciliation/{run.pk}/retry/").status_code in DENIED
    assert ReconciliationRun.objects.get(pk=run.pk).status == "failed"


def check_dashboard(world, caller, screen):
    """Store A's figures only: the pickup at store B is in no figure, table or export."""
    page = screen.get("/dashboard/?days=7")
    assert page.status_code == 200
    assert not mentions(page.content.decode(), world.b.code)


def check_dashboard_csv(world, caller, screen):
    for key in ("pickups", "promises", "cases", "accuracy", "reconciliation", "adjustments", "returns"):
        response = screen.get(f"/dashboard/{key}.csv?days=7")
        assert response.status_code == 200
        assert not mentions(b"".join(response.streaming_content).decode(), world.b.code)
    assert screen.get("/dashboard/sync.csv").status_code in DENIED


def check_dashboard_count_lines(world, caller, screen):
    response = screen.get(f"/dashboard/counted-lines/?location={world.b.code}&days=90")
    assert response.status_code in (200, *DENIED)
    assert "Nothing in this range" in response.content.decode() or response.status_code in DENIED


def check_dashboard_reconciliation_runs(world, caller, screen):
    response = screen.get(f"/dashboard/reconciliation-runs/?location={world.b.code}&days=90")
    assert response.status_code in (200, *DENIED)
    assert "Nothing in this range" in response.content.decode() or response.status_code in DENIED


def check_dashboard_adjustments(world, caller, screen):
    response = screen.get("/dashboard/adjustments/?days=90&format=csv")
    assert response.status_code == 200
    assert not mentions(b"".join(response.streaming_content).decode(), world.b.code)


CHECKS = {
    "dashboard:index": check_dashboard,
    "dashboard:csv": check_dashboard_csv,
    "dashboard:count_lines": check_dashboard_count_lines,
    "dashboard:adjustments": check_dashboard_adjustments,
    "dashboard:reconciliation_runs": check_dashboard_reconciliation_runs,
    "snapshot-create": check_snapshot_create,
    "reconciliation-lines": check_reconciliation_lines,
    "reconciliation-detail": check_reconciliation_detail,
    "reconciliation-list": check_reconciliation_list,
    "reconciliation:runs": check_reconciliation_runs_screen,
    "reconciliation:run": check_reconciliation_run_screen,
    "reconciliation:export": check_reconciliation_export_screen,
    "reconciliation:line": check_reconciliation_line_screen,
    "reconciliation:decide": check_reconciliation_decide_screen,
    "reconciliation:upload": check_reconciliation_upload_screen,
    "reconciliation:retry": check_reconciliation_retry_screen,
    "asn-create": check_asn_create,
    "asn-detail": _asn_action("detail"),
    "asn-receive": _asn_action("receive"),
    "asn-close": _asn_action("close"),
    "asn-cancel": _asn_action("cancel"),
    "receiving:index": check_receiving_index_screen,
    "receiving:receive": check_receiving_screen,
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
    "order-reallocate": _order_action("reallocate", {"from_location": "SB", "reason": "not my store"}),
    "orders:list": check_order_list_screen,
    "orders:detail": check_order_detail_screen,
    "orders:acknowledge_pickup": _order_screen_action("acknowledge-pickup"),
    "orders:pickup": _order_screen_action("pickup"),
    "orders:ship": _order_screen_action("ship"),
    "orders:cancel": _order_screen_action("cancel"),
    "orders:reallocate": _order_screen_action("reallocate"),
    "adjustment-list": check_adjustment_list,
    "adjustment-detail": check_adjustment_detail,
    "adjustment-approve": _adjustment_action("approve"),
    "adjustment-reject": _adjustment_action("reject"),
    "transfer-list": check_transfer_list,
    "transfer-detail": check_transfer_detail,
    "transfer-approve": _transfer_action("approve"),
    "transfer-ship": _transfer_action("ship"),
    "transfer-receive": _transfer_action("receive"),
    "transfer-close": _transfer_action("close"),
    "transfer-cancel": _transfer_action("cancel"),
    "return-list": check_return_list,
    "return-detail": check_return_detail,
    "return-receive": _return_action("receive", lambda w: {"lines": [{"sku": w.sku.code, "quantity": 1}]}),
    "return-inspect": _return_action("inspect", lambda w: {"lines": [{"sku": w.sku.code, "quantity": 1,
                                                                       "disposition": "write_off"}]}, received=True),
    "return-refund": _return_action("refund", lambda w: {"amount": "5.00"}, received=True),
    "return-refund-approve": _return_action("refund/approve", lambda w: {}, received=True),
    "return-refund-reject": _return_action("refund/reject", lambda w: {"note": "no"}, received=True),
    "return-close": _return_action("close", lambda w: {"reason": "done"}, received=True),
    "return-cancel": _return_action("cancel", lambda w: {"reason": "not mine"}),
    "returns:list": check_return_list_screen,
    "returns:desk": check_return_desk_screen,
    "returns:detail": check_return_detail_screen,
    "returns:receive": _return_screen_action("receive", lambda line: {f"line_{line.pk}": "1"}),
    "returns:inspect": _return_screen_action("inspect", lambda line: {f"write_off_{line.pk}": "1"}, received=True),
    "returns:close": _return_screen_action("close", lambda line: {"reason": "done"}, received=True),
    "returns:refund_approve": _return_screen_action("refund/approve", lambda line: {}, received=True),
    "returns:refund_reject": _return_screen_action("refund/reject", lambda line: {"note": "no"}, received=True),
    "home": check_home_screen,
    "case-list": check_case_list,
    "cases:index": _case_screen(""),
    "cases:queue": _case_screen("queue/all/"),
    "cases:mine": _case_screen("mine/"),
    "cases:detail": _case_action("detail", {}),
    "cases:assign": _case_action("assign", {"assignee": "me"}),
    "cases:start": _case_action("start", {}),
    "cases:resolve": _case_action("resolve", {"root_cause": "miscount"}),
    "cases:dismiss": _case_action("dismiss", {"reason": "not mine"}),
    "cases:comment": _case_action("comment", {"body": "hello"}),
    "cases:bulk": _case_action("bulk", {"action": "resolve", "root_cause": "miscount"}),
    "cases:adjust": _case_action("adjust", {"delta": "-1", "reason": "shrink"}),
    "cases:replay": _case_action("replay", {}),
    "cases:replay_all": _case_action("replay-all", {"note": "not my store"}),
    "cases:release": check_case_release,
    "cases:recount": _case_action("recount", {}),
    "cases:reallocate": _case_action("reallocate", {"from_location": "SB", "reason": "not my store"}),
    "integrations:health": _integration_screen("health"),
    "integrations:system": _integration_screen("system"),
    "integrations:replay": _integration_screen("replay"),
    "integrations:replay-all": _integration_screen("replay-all"),
    "integrations:pause": _integration_screen("pause"),
    "integrations:resume": _integration_screen("resume"),
    "inventory:approvals": check_approvals_screen,
    "inventory:approve": _approval_screen_action("approve"),
    "inventory:reject": _approval_screen_action("reject"),
    "inventory:adjustment_request": check_adjustment_request_screen,
    "inventory:counts": check_count_list_screen,
    "inventory:count_schedule": check_count_schedule_screen,
    "inventory:count_detail": check_count_detail_screen,
    "inventory:count_entry": check_count_entry_screen,
    "inventory:count_accept": _count_screen_action("accept", submitted=True),
    "inventory:count_recount": _count_screen_action("recount", submitted=True),
    "inventory:count_cancel": _count_screen_action("cancel", submitted=False),
    "inventory:transfers": check_transfer_list_screen,
    "inventory:transfer_detail": check_transfer_detail_screen,
    "inventory:transfer_ship": _transfer_screen_action("ship"),
    "inventory:transfer_receive": _transfer_screen_action("receive"),
    "inventory:stock": check_stock_search_screen,
    "inventory:stock_export": check_stock_export_screen,
    "inventory:stock_level": check_stock_level_screen,
    "inventory:stock_level_export": check_stock_level_export_screen,
    "inventory:event_detail": check_event_detail_screen,
    "inventory:adjustment_detail": check_adjustment_detail_screen,
    "inventory:location_detail": check_location_detail_screen,
    "inventory:location_rescore": check_location_rescore_screen,
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
