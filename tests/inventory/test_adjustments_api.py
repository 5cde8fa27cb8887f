"""Adjustments with finance approval (API.md "Adjustments", inventory.adjustments)."""

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from inventory.adjustments import adjustment_request
from inventory.ledger import Movement, ledger_drifts, post_movements
from inventory.models import (
    Adjustment,
    AdjustmentDecision,
    ApprovalPolicy,
    Bucket,
    InventoryEvent,
    StockLevel,
    StockMovement,
)
from retailops.access import LocationScope
from tests.inventory.factories import LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/adjustments"
OPENING = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
COUNTED_AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def place(db):
    class Place:
        cheap = SkuFactory(code="CHEAP", unit_cost=Decimal("10.00"))
        big = SkuFactory(code="BIG", unit_cost=Decimal("100.00"))
        s1 = LocationFactory(code="S1")
        s2 = LocationFactory(code="S2")

    receive(Place.cheap, Place.s1, 50, at=OPENING)
    receive(Place.big, Place.s1, 20, at=OPENING)
    receive(Place.big, Place.s2, 20, at=OPENING)
    return Place


def receive(sku, location, quantity, *, at=None, reason="test_receipt"):
    post_movements([Movement(sku.pk, location.pk, Bucket.ON_HAND, quantity, reason=reason, occurred_at=at)])


def on_hand(sku, location):
    return StockLevel.objects.get(sku=sku, location=location).on_hand


def body(sku="BIG", location="S1", delta=-10, reason="shrink", **extra):
    return {"sku": sku, "location": location, "delta": delta, "reason": reason, **extra}


@pytest.fixture
def clerk(staff_api, place):
    return staff_api("store_ops", locations=["S1"])


@pytest.fixture
def finance(staff_api, place):
    return staff_api("finance")


def pending(requester, **extra) -> Adjustment:
    """A pending adjustment of −10 × BIG at S1 (value 1,000.00) asked for by `requester`."""
    params = {"sku_code": "BIG", "location_code": "S1", "delta": -10, "reason": "shrink", **extra}
    adjustment = adjustment_request(actor=requester, scope=LocationScope(None), **params)
    assert adjustment.status == "pending_approval"
    return adjustment


# --- Routing through the policy ----------------------------------------------------------------


def test_a_small_adjustment_applies_at_once(clerk, place):
    response = clerk.post(URL, body(sku="CHEAP", delta=-3, note="torn packs"), format="json")

    assert response.status_code == 201, response.json()
    payload = response.json()
    assert (payload["status"], payload["value"], payload["applied_delta"]) == ("applied", "30.00", -3)
    assert on_hand(place.cheap, place.s1) == 47
    movement = StockMovement.objects.get(document_type="adjustment")
    assert (movement.document_id, movement.delta, movement.reason) == (str(payload["id"]), -3, "adjustment_shrink")
    assert ledger_drifts() == []


def test_an_adjustment_worth_the_threshold_waits_for_finance(clerk, place):
    response = clerk.post(URL, body(delta=-10), format="json")

    assert response.status_code == 201
    assert (response.json()["status"], response.json()["value"]) == ("pending_approval", "1000.00")
    assert on_hand(place.big, place.s1) == 20
    assert not StockMovement.objects.filter(document_type="adjustment").exists()


def test_the_active_approval_policy_sets_the_threshold(clerk, place):
    ApprovalPolicy.objects.create(threshold=Decimal("20.00"))

    response = clerk.post(URL, body(sku="CHEAP", delta=-3), format="json")

    assert response.json()["status"] == "pending_approval"


def test_finance_approval_applies_a_pending_adjustment_and_keeps_the_decision(clerk, finance, place):
    adjustment_id = clerk.post(URL, body(delta=-10), format="json").json()["id"]

    response = finance.post(f"{URL}/{adjustment_id}/approve", {"note": "checked the CCTV"}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "applied"
    assert on_hand(place.big, place.s1) == 10
    decision = AdjustmentDecision.objects.get(adjustment_id=adjustment_id)
    assert (decision.decided_by, decision.decision, decision.note) == (finance.user, "approve", "checked the CCTV")
    assert response.json()["decisions"][0]["decided_by"] == finance.user.username
    history = [row.status for row in Adjustment.history.filter(id=adjustment_id).order_by("history_id")]
    assert history == ["pending_approval", "approved", "applied"]
    assert ledger_drifts() == []


# --- Who may decide ------------------------------------------------------------------------------


def test_requester_cannot_approve_own_adjustment(finance, place):
    adjustment = pending(finance.user)

    for action, payload in (("approve", {}), ("reject", {"note": "mine"})):
        response = finance.post(f"{URL}/{adjustment.pk}/{action}", payload, format="json")
        assert response.status_code == 403
        assert response.json()["code"] == "self_approval"
    adjustment.refresh_from_db()
    assert adjustment.status == "pending_approval"
    assert not adjustment.decisions.exists()


@pytest.mark.parametrize("role", ["store_ops", "inventory_control", "ops_admin", "integration_support"])
def test_only_finance_approves(role, staff_api, clerk, place):
    adjustment = pending(clerk.user)
    other = staff_api(role, locations=["S1"])

    response = other.post(f"{URL}/{adjustment.pk}/approve", {}, format="json")

    assert response.status_code == 403
    adjustment.refresh_from_db()
    assert adjustment.status == "pending_approval"


def test_a_partner_token_cannot_approve(partner_api, clerk, place):
    adjustment = pending(clerk.user)

    response = partner_api(scopes=["events"]).post(f"{URL}/{adjustment.pk}/approve", {}, format="json")

    assert response.status_code == 403


def test_above_the_second_threshold_two_different_finance_users_approve(staff_api, clerk, place):
    ApprovalPolicy.objects.create(threshold=Decimal("1000.00"), second_threshold=Decimal("1500.00"))
    first, second = staff_api("finance"), staff_api("finance")
    adjustment_id = clerk.post(URL, body(delta=-15), format="json").json()["id"]

    once = first.post(f"{URL}/{adjustment_id}/approve", {}, format="json")
    again = first.post(f"{URL}/{adjustment_id}/approve", {}, format="json")

    assert once.status_code == 200
    assert (once.json()["status"], once.json()["approvals_required"]) == ("pending_approval", 2)
    assert on_hand(place.big, place.s1) == 20
    assert (again.status_code, again.json()["code"]) == (403, "duplicate_approver")

    done = second.post(f"{URL}/{adjustment_id}/approve", {}, format="json")

    assert done.json()["status"] == "applied"
    assert on_hand(place.big, place.s1) == 5
    assert [d["decided_by"] for d in done.json()["decisions"]] == [first.user.username, second.user.username]


def test_a_rejection_needs_a_note_and_moves_nothing(clerk, finance, place):
    adjustment = pending(clerk.user)

    without = finance.post(f"{URL}/{adjustment.pk}/reject", {}, format="json")
    rejected = finance.post(f"{URL}/{adjustment.pk}/reject", {"note": "recount first"}, format="json")
    approve_after = finance.post(f"{URL}/{adjustment.pk}/approve", {}, format="json")

    assert (without.status_code, without.json()["errors"][0]["field"]) == (400, "note")
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["decisions"][0]["note"] == "recount first"
    assert (approve_after.status_code, approve_after.json()["code"]) == (409, "invalid_state")
    assert on_hand(place.big, place.s1) == 20


# --- Input rules ---------------------------------------------------------------------------------


def test_compare_and_set_refuses_a_stale_expected_on_hand_with_the_current_value(clerk, place):
    response = clerk.post(URL, body(sku="CHEAP", delta=-3, expected_on_hand=49), format="json")

    assert response.status_code == 409
    assert (response.json()["code"], response.json()["current_on_hand"]) == ("stale_quantity", 50)
    assert not Adjustment.objects.exists()
    assert on_hand(place.cheap, place.s1) == 50

    response = clerk.post(URL, body(sku="CHEAP", delta=-3, expected_on_hand=50), format="json")
    assert (response.status_code, on_hand(place.cheap, place.s1)) == (201, 47)


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"reason": "because"}, "invalid_reason", "reason"),
    ({"delta": 0}, "invalid_quantity", "delta"),
    ({"sku": "NOPE"}, "unknown_sku", "sku"),
    ({"location": "NOWHERE"}, "unknown_location", "location"),
    ({"delta": "ten"}, "invalid", "delta"),
])
def test_bad_input_is_400_with_a_code(clerk, place, change, code, field):
    response = clerk.post(URL, body(sku="CHEAP", delta=-1) | change, format="json")

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["errors"][0]["field"]) == (code, field)
    assert not Adjustment.objects.exists()


@pytest.mark.parametrize("reason", ["correction", "cycle_count", "damaged", "shrink", "theft", "found_stock",
                                    "expired", "quality_control", "received", "restock", "reconciliation",
                                    "other"])
def test_the_default_reasons_are_accepted(clerk, place, reason):
    assert clerk.post(URL, body(sku="CHEAP", delta=1, reason=reason), format="json").status_code == 201


# --- Counts that waited for finance ------------------------------------------------------------------


def send_count(partner, quantity, *, event_id="c1", at=COUNTED_AT):
    return partner.post("/api/v1/inventory/events", {"events": [
        {"event_id": event_id, "type": "count", "sku": "BIG", "location": "S1", "quantity": quantity,
         "occurred_at": at.isoformat()}]}, format="json")


@pytest.fixture
def pos(partner_api, place):
    return partner_api("pos-1", scopes=["events"], kind="pos")


def test_a_pending_count_becomes_an_adjustment_that_finance_approves(pos, finance, place):
    response = send_count(pos, 0)
    assert response.json()["results"][0]["status"] == "pending_approval"
    adjustment = Adjustment.objects.get(event__event_id="c1")
    assert (adjustment.status, adjustment.delta, adjustment.value, adjustment.reason) == (
        "pending_approval", -20, Decimal("2000.00"), "cycle_count")
    assert (adjustment.counted_quantity, adjustment.source_system) == (0, "pos-1")

    approved = finance.post(f"{URL}/{adjustment.pk}/approve", {}, format="json")

    assert approved.json()["status"] == "applied"
    level = StockLevel.objects.get(sku=place.big, location=place.s1)
    assert (level.on_hand, level.last_counted_at) == (0, COUNTED_AT)
    assert InventoryEvent.objects.get(event_id="c1").status == "applied"
    assert ledger_drifts() == []


def test_the_partner_sees_the_adjustment_its_count_made(pos, place):
    send_count(pos, 0)

    listed = pos.get(URL, {"status": "pending_approval"})

    assert [row["counted_quantity"] for row in listed.json()["results"]] == [0]


def test_a_count_is_re_derived_when_a_late_fact_from_before_it_arrives(pos, finance, place):
    send_count(pos, 0)  # on hand 20: −20 waits for finance
    adjustment = Adjustment.objects.get()
    # A sale made before the count arrives late: the count already saw those units gone.
    receive(place.big, place.s1, -5, at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC), reason="sale")

    approved = finance.post(f"{URL}/{adjustment.pk}/approve", {}, format="json")

    assert (approved.json()["status"], approved.json()["applied_delta"]) == ("applied", -15)
    assert on_hand(place.big, place.s1) == 0


def test_a_count_keeps_the_facts_recorded_after_it(pos, finance, place):
    send_count(pos, 0)
    adjustment = Adjustment.objects.get()
    receive(place.big, place.s1, 5, at=datetime(2026, 11, 20, 11, 0, tzinfo=UTC))  # after the count

    approved = finance.post(f"{URL}/{adjustment.pk}/approve", {}, format="json")

    assert approved.json()["applied_delta"] == -20
    assert on_hand(place.big, place.s1) == 5


def test_a_count_that_now_calls_for_more_than_was_approved_is_refused(pos, finance, place):
    send_count(pos, 0)
    adjustment = Adjustment.objects.get()
    receive(place.big, place.s1, 10, at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))  # late, before the count

    refused = finance.post(f"{URL}/{adjustment.pk}/approve", {}, format="json")

    assert refused.status_code == 409
    assert (refused.json()["code"], refused.json()["current_on_hand"], refused.json()["recomputed_delta"]) == (
        "stale_quantity", 30, -30)
    adjustment.refresh_from_db()
    assert (adjustment.status, adjustment.decisions.count()) == ("pending_approval", 0)
    assert on_hand(place.big, place.s1) == 30


def test_a_write_off_of_units_that_left_since_the_request_is_refused(clerk, finance, place):
    adjustment_id = clerk.post(URL, body(delta=-15), format="json").json()["id"]
    receive(place.big, place.s1, -10, reason="sale")  # on hand 10: −15 would write off sold units

    refused = finance.post(f"{URL}/{adjustment_id}/approve", {}, format="json")

    assert (refused.status_code, refused.json()["code"], refused.json()["current_on_hand"]) == (
        409, "stale_quantity", 10)
    assert on_hand(place.big, place.s1) == 10


def test_a_write_off_still_applies_when_stock_only_grew(clerk, finance, place):
    adjustment_id = clerk.post(URL, body(delta=-15), format="json").json()["id"]
    receive(place.big, place.s1, 4)

    assert finance.post(f"{URL}/{adjustment_id}/approve", {}, format="json").json()["status"] == "applied"
    assert on_hand(place.big, place.s1) == 9


# --- Scope, lists, idempotency -------------------------------------------------------------------


def test_a_store_user_sees_and_asks_only_at_their_store(clerk, finance, place):
    other_store = pending(finance.user, location_code="S2")
    mine = clerk.post(URL, body(delta=-10), format="json").json()["id"]

    assert [row["id"] for row in clerk.get(URL).json()["results"]] == [mine]
    assert clerk.get(f"{URL}/{other_store.pk}").status_code == 404
    refused = clerk.post(URL, body(location="S2"), format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "location_out_of_scope")
    assert {row["id"] for row in finance.get(URL).json()["results"]} == {mine, other_store.pk}


def test_the_list_filters_and_pages_in_a_fixed_number_of_queries(clerk, finance, place,
                                                                 django_assert_max_num_queries):
    for _ in range(3):
        clerk.post(URL, body(delta=-10), format="json")
    clerk.post(URL, body(sku="CHEAP", delta=1), format="json")

    with django_assert_max_num_queries(8):
        page = finance.get(URL, {"status": "pending_approval", "limit": 2})

    assert [row["status"] for row in page.json()["results"]] == ["pending_approval"] * 2
    assert page.json()["next"]
    rest = finance.get(page.json()["next"])
    assert len(rest.json()["results"]) == 1


def test_a_repeated_post_with_the_same_key_adjusts_once(clerk, finance, place):
    first = clerk.post(URL, body(sku="CHEAP", delta=-3), format="json", HTTP_IDEMPOTENCY_KEY="adj-1")
    again = clerk.post(URL, body(sku="CHEAP", delta=-3), format="json", HTTP_IDEMPOTENCY_KEY="adj-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert on_hand(place.cheap, place.s1) == 47

    adjustment = pending(clerk.user)
    approve = [finance.post(f"{URL}/{adjustment.pk}/approve", {}, format="json", HTTP_IDEMPOTENCY_KEY="ok-1")
               for _ in range(2)]
    assert [response.status_code for response in approve] == [200, 200]
    assert AdjustmentDecision.objects.filter(adjustment=adjustment).count() == 1
    assert on_hand(place.big, place.s1) == 10
    assert ledger_drifts() == []


# --- PostgreSQL: two approvers at once -----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_finance_users_approving_at_once_apply_it_once(staff_api, place):
    from rest_framework.test import APIClient

    clerk = staff_api("store_ops", locations=["S1"])
    approvers = [staff_api("finance").user for _ in range(2)]
    adjustment = pending(clerk.user)
    barrier = threading.Barrier(len(approvers))
    statuses: list[int] = []

    def approve(user):
        client = APIClient()
        client.force_authenticate(user=user)
        try:
            barrier.wait()
            statuses.append(client.post(f"{URL}/{adjustment.pk}/approve", {}, format="json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(user,)) for user in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(statuses) == [200, 409]
    assert StockMovement.objects.filter(document_type="adjustment", document_id=str(adjustment.pk)).count() == 1
    assert AdjustmentDecision.objects.filter(adjustment=adjustment).count() == 1
    assert on_hand(place.big, place.s1) == 10
    assert ledger_drifts() == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_adjustment_kept_waiting_by_a_lock_is_a_503_that_says_when_to_retry(clerk, place):
    from django.db import transaction

    with connection.cursor() as cursor:  # what LOCK_TIMEOUT_MS=200 sets on every connection
        cursor.execute("SET lock_timeout = '200ms'")
    holding, release = threading.Event(), threading.Event()

    def hold_the_level():
        try:
            with transaction.atomic():
                StockLevel.objects.select_for_update().get(sku=place.cheap, location=place.s1)
                holding.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_level)
    holder.start()
    try:
        assert holding.wait(timeout=10)
        response = clerk.post(URL, body(sku="CHEAP", delta=-1), format="json")
    finally:
        release.set()
        holder.join(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")

    assert response.status_code == 503, response.content
    assert response.json()["code"] == "lock_timeout"
    assert int(response["Retry-After"]) >= 1
    assert on_hand(place.cheap, place.s1) == 50
