"""Transfers between locations (API.md "Transfers", inventory.transfers)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from exceptions.models import Case
from inventory.ledger import Movement, ledger_drifts, post_movements
from inventory.models import Bucket, StockLevel, StockMovement, Transfer
from inventory.transfers import LineInput, transfer_request, transfers_overdue_detect
from retailops.access import LocationScope
from tests.inventory.factories import LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/transfers"


@pytest.fixture
def place(db):
    class Place:
        a = SkuFactory(code="A", unit_cost=Decimal("4.00"))
        b = SkuFactory(code="B", unit_cost=Decimal("10.00"))
        dc = LocationFactory(code="DC1", dc=True)
        s1 = LocationFactory(code="S1")
        s2 = LocationFactory(code="S2")
        s3 = LocationFactory(code="S3")

    post_movements([Movement(Place.a.pk, Place.dc.pk, Bucket.ON_HAND, 100, reason="test_receipt"),
                    Movement(Place.b.pk, Place.dc.pk, Bucket.ON_HAND, 100, reason="test_receipt"),
                    Movement(Place.a.pk, Place.s2.pk, Bucket.ON_HAND, 10, reason="test_receipt")])
    return Place


def level(sku, location) -> StockLevel:
    return StockLevel.objects.filter(sku=sku, location=location).first() or StockLevel(on_hand=0, incoming=0)


def request_body(source="DC1", destination="S1", lines=None, **extra):
    return {"from_location": source, "to_location": destination,
            "lines": lines if lines is not None else [{"sku": "A", "quantity": 6}, {"sku": "B", "quantity": 4}],
            **extra}


@pytest.fixture
def control(staff_api, place):
    return staff_api("inventory_control")


@pytest.fixture
def store(staff_api, place):
    return staff_api("store_ops", locations=["S1"])


def requested(client, **extra) -> int:
    response = client.post(URL, request_body(**extra), format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def shipped(client, **extra) -> int:
    transfer_id = requested(client, **extra)
    assert client.post(f"{URL}/{transfer_id}/ship", {}, format="json").status_code == 200
    return transfer_id


# --- The lifecycle ------------------------------------------------------------------------------


def test_a_request_answers_201_requested_with_its_lines(store, place):
    response = store.post(URL, request_body(reference="REPLEN-7"), format="json")

    assert response.status_code == 201, response.json()
    payload = response.json()
    assert (payload["status"], payload["from_location"], payload["to_location"], payload["reference"]) == (
        "requested", "DC1", "S1", "REPLEN-7")
    assert [(line["sku"], line["quantity"], line["shipped"], line["received"]) for line in payload["lines"]] == [
        ("A", 6, 0, None), ("B", 4, 0, None)]
    assert not StockMovement.objects.filter(document_type="transfer").exists()


def test_approve_ship_receive_close_moves_units_through_incoming(control, place):
    transfer_id = requested(control)

    approved = control.post(f"{URL}/{transfer_id}/approve", {}, format="json")
    ship = control.post(f"{URL}/{transfer_id}/ship", {"note": "truck 12"}, format="json")

    assert (approved.json()["status"], ship.json()["status"]) == ("approved", "shipped")
    assert [line["shipped"] for line in ship.json()["lines"]] == [6, 4]
    assert (level(place.a, place.dc).on_hand, level(place.a, place.s1).incoming) == (94, 6)
    assert (level(place.b, place.dc).on_hand, level(place.b, place.s1).incoming) == (96, 4)
    assert level(place.a, place.s1).on_hand == 0
    assert ship.json()["expected_at"] is not None

    received = control.post(f"{URL}/{transfer_id}/receive",
                            {"lines": [{"sku": "A", "quantity": 6}, {"sku": "B", "quantity": 4}]}, format="json")

    assert received.json()["status"] == "received"
    assert (level(place.a, place.s1).on_hand, level(place.a, place.s1).incoming) == (6, 0)
    assert (level(place.b, place.s1).on_hand, level(place.b, place.s1).incoming) == (4, 0)
    assert not Case.objects.filter(kind="transfer_variance").exists()
    closed = control.post(f"{URL}/{transfer_id}/close", {}, format="json")
    assert closed.json()["status"] == "closed"
    movements = StockMovement.objects.filter(document_type="transfer", document_id=str(transfer_id))
    assert movements.count() == 8
    history = [row.status for row in Transfer.history.filter(id=transfer_id).order_by("history_id")]
    assert history == ["requested", "approved", "shipped", "received", "closed"]
    assert ledger_drifts() == []


def test_shipping_a_requested_transfer_approves_it_first(control, place):
    transfer_id = shipped(control)

    transfer = Transfer.objects.get(pk=transfer_id)
    assert transfer.status == "shipped"
    assert transfer.approved_at is not None
    assert "approved by shipping" in transfer.history.filter(status="approved").get().history_change_reason


def test_shipping_more_than_is_available_is_refused_and_moves_nothing(control, place):
    transfer_id = requested(control, source="S2", destination="S1", lines=[{"sku": "A", "quantity": 11}])

    response = control.post(f"{URL}/{transfer_id}/ship", {}, format="json")

    assert (response.status_code, response.json()["code"]) == (409, "insufficient_stock")
    assert Transfer.objects.get(pk=transfer_id).status == "requested"
    assert (level(place.a, place.s2).on_hand, level(place.a, place.s1).incoming) == (10, 0)


def test_a_short_receipt_opens_a_transfer_variance_case(control, place):
    transfer_id = shipped(control)

    response = control.post(f"{URL}/{transfer_id}/receive", {"lines": [{"sku": "A", "quantity": 5}]},
                            format="json")

    assert response.status_code == 200
    assert [(line["sku"], line["shipped"], line["received"]) for line in response.json()["lines"]] == [
        ("A", 6, 5), ("B", 4, 0)]
    assert (level(place.a, place.s1).on_hand, level(place.a, place.s1).incoming) == (5, 0)
    assert (level(place.b, place.s1).on_hand, level(place.b, place.s1).incoming) == (0, 0)
    case = Case.objects.get(kind="transfer_variance")
    assert case.money_at_risk == Decimal("44.00")  # 1 × 4.00 + 4 × 10.00
    assert case.location_id == place.s1.pk
    assert case.context["lines"] == [{"sku": "A", "shipped": 6, "received": 5},
                                     {"sku": "B", "shipped": 4, "received": 0}]
    assert "5 short" in case.title
    assert ledger_drifts() == []


def test_an_over_receipt_opens_a_case_too(control, place):
    transfer_id = shipped(control, lines=[{"sku": "A", "quantity": 6}])

    control.post(f"{URL}/{transfer_id}/receive", {"lines": [{"sku": "A", "quantity": 8}]}, format="json")

    assert level(place.a, place.s1).on_hand == 8
    assert "2 over" in Case.objects.get(kind="transfer_variance").title


def test_cancel_only_before_shipping(control, place):
    cancellable = requested(control)
    in_transit = shipped(control)

    cancelled = control.post(f"{URL}/{cancellable}/cancel", {"note": "not needed"}, format="json")
    refused = control.post(f"{URL}/{in_transit}/cancel", {}, format="json")

    assert cancelled.json()["status"] == "cancelled"
    assert (refused.status_code, refused.json()["code"]) == (409, "invalid_state")
    assert control.post(f"{URL}/{cancellable}/ship", {}, format="json").json()["code"] == "invalid_state"
    assert level(place.a, place.s1).incoming == 6


@pytest.mark.parametrize(("action", "payload"), [("receive", {"lines": []}), ("close", {})])
def test_a_transfer_that_has_not_shipped_cannot_be_received_or_closed(control, place, action, payload):
    transfer_id = requested(control)

    response = control.post(f"{URL}/{transfer_id}/{action}", payload, format="json")

    assert (response.status_code, response.json()["code"]) == (409, "invalid_state")


def test_receiving_twice_is_refused(control, place):
    transfer_id = shipped(control)
    control.post(f"{URL}/{transfer_id}/receive", {"lines": [{"sku": "A", "quantity": 6}]}, format="json")

    again = control.post(f"{URL}/{transfer_id}/receive", {"lines": [{"sku": "A", "quantity": 6}]}, format="json")

    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")
    assert level(place.a, place.s1).on_hand == 6


# --- Input rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"destination": "DC1"}, "same_location", "to_location"),
    ({"destination": "NOWHERE"}, "unknown_location", "to_location"),
    ({"lines": [{"sku": "NOPE", "quantity": 1}]}, "unknown_sku", "lines[0].sku"),
    ({"lines": [{"sku": "A", "quantity": 0}]}, "min_value", "lines[0].quantity"),
    ({"lines": [{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 2}]}, "duplicate_sku", "lines[1].sku"),
    ({"lines": []}, "min_length", "lines"),
])
def test_bad_requests_are_400_with_a_code(control, place, change, code, field):
    response = control.post(URL, request_body(**change), format="json")

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["errors"][0]["field"]) == (code, field)
    assert not Transfer.objects.exists()


def test_receiving_a_sku_not_on_the_transfer_is_400(control, place):
    transfer_id = shipped(control, lines=[{"sku": "A", "quantity": 6}])

    response = control.post(f"{URL}/{transfer_id}/receive", {"lines": [{"sku": "B", "quantity": 1}]},
                            format="json")

    assert (response.status_code, response.json()["code"]) == (400, "not_on_transfer")
    assert Transfer.objects.get(pk=transfer_id).status == "shipped"


# --- Scope ---------------------------------------------------------------------------------------


def test_a_store_user_sees_only_transfers_touching_their_store(store, control, place):
    mine = requested(store)
    elsewhere = requested(control, destination="S2")

    assert [row["id"] for row in store.get(URL).json()["results"]] == [mine]
    assert store.get(f"{URL}/{elsewhere}").status_code == 404
    for action in ("approve", "ship", "receive", "close", "cancel"):
        assert store.post(f"{URL}/{elsewhere}/{action}", {"lines": []}, format="json").status_code == 404
    refused = store.post(URL, request_body(source="DC1", destination="S2"), format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "location_out_of_scope")
    assert Transfer.objects.get(pk=elsewhere).status == "requested"


def test_the_source_ships_and_the_destination_receives(store, control, place):
    inbound = requested(store)  # DC1 → S1: the store asked, the DC ships

    refused = store.post(f"{URL}/{inbound}/ship", {}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "location_out_of_scope")
    control.post(f"{URL}/{inbound}/ship", {}, format="json")
    received = store.post(f"{URL}/{inbound}/receive", {"lines": [{"sku": "A", "quantity": 6},
                                                                 {"sku": "B", "quantity": 4}]}, format="json")
    assert received.json()["status"] == "received"


def test_a_partner_acts_only_within_its_location_scope(partner_api, control, place):
    wms = partner_api("wms-1", scopes=["transfers"], locations=["DC1"], kind="wms")
    outbound = requested(wms)
    other = requested(control, source="S2", destination="S3", lines=[{"sku": "A", "quantity": 1}])

    assert wms.post(f"{URL}/{outbound}/ship", {}, format="json").status_code == 200
    assert wms.get(f"{URL}/{other}").status_code == 404
    assert partner_api("shop-1", scopes=["orders"]).get(URL).status_code == 403


def test_a_partner_sees_and_acts_only_on_its_own_systems_transfers(partner_api, control, place):
    """As for orders: another system's transfer is not found, even between the same locations."""
    wms = partner_api("wms-1", scopes=["transfers"], kind="wms")
    other_wms = partner_api("wms-2", scopes=["transfers"], kind="wms")
    mine = requested(wms)
    theirs = requested(other_wms)
    by_staff = requested(control)

    assert [row["id"] for row in wms.get(URL).json()["results"]] == [mine]
    assert wms.get(f"{URL}/{theirs}").status_code == 404
    assert wms.get(f"{URL}/{by_staff}").status_code == 404
    for action in ("approve", "ship", "receive", "close", "cancel"):
        assert wms.post(f"{URL}/{theirs}/{action}", {"lines": []}, format="json").status_code == 404
    assert Transfer.objects.get(pk=theirs).status == "requested"
    assert sorted(row["id"] for row in control.get(URL).json()["results"]) == sorted([mine, theirs, by_staff])


# --- Idempotency, detection ----------------------------------------------------------------------


def test_a_repeated_ship_with_the_same_key_ships_once(control, place):
    transfer_id = requested(control)

    responses = [control.post(f"{URL}/{transfer_id}/ship", {}, format="json", HTTP_IDEMPOTENCY_KEY="ship-1")
                 for _ in range(2)]

    assert [response.status_code for response in responses] == [200, 200]
    assert responses[1].headers["Idempotent-Replayed"] == "true"
    assert level(place.a, place.dc).on_hand == 94
    first = control.post(URL, request_body(), format="json", HTTP_IDEMPOTENCY_KEY="req-1")
    again = control.post(URL, request_body(), format="json", HTTP_IDEMPOTENCY_KEY="req-1")
    assert first.json()["id"] == again.json()["id"]
    assert Transfer.objects.count() == 2


def test_transfers_in_transit_past_their_expected_arrival_raise_one_case(control, place):
    late = shipped(control, expected_at=(timezone.now() - timedelta(hours=2)).isoformat())
    shipped(control, destination="S2")  # expected in TRANSFER_TRANSIT_HOURS: not late
    done = shipped(control, destination="S3", expected_at=(timezone.now() - timedelta(hours=2)).isoformat())
    control.post(f"{URL}/{done}/receive", {"lines": [{"sku": "A", "quantity": 6}, {"sku": "B", "quantity": 4}]},
                 format="json")

    assert transfers_overdue_detect() == 1
    assert transfers_overdue_detect() == 1

    case = Case.objects.get(dedup_key=f"transfer_overdue:{late}")
    assert (case.kind, case.occurrences, case.money_at_risk) == ("transfer_variance", 2, Decimal("64.00"))
    assert Case.objects.count() == 1


def test_the_overdue_detector_runs_on_beat():
    entry = next(entry for entry in settings.CELERY_BEAT_SCHEDULE.values()
                 if entry["task"] == "inventory.tasks.transfers_overdue_detect")
    assert entry["schedule"]


def test_the_service_is_callable_without_the_api(place, django_user_model):
    """Screens call the same services: a transfer needs only an actor and a scope."""
    user = django_user_model.objects.create(username="screen-user")
    transfer = transfer_request(from_code="DC1", to_code="S1", lines=[LineInput("A", 2)], actor=user,
                                scope=LocationScope(frozenset({place.s1.pk})))
    assert (transfer.status, transfer.requested_by) == ("requested", user)
