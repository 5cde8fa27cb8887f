"""POST /api/v1/inventory/events: every status of API.md, through HTTP."""

import pytest

from exceptions.models import Case
from inventory.models import InventoryEvent, StockLevel, StockMovement
from tests.inventory.factories import LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/inventory/events"
T0 = "2026-11-20T10:00:00+00:00"


@pytest.fixture
def world():
    SkuFactory(code="A", unit_cost="10.00", price="25.00")
    SkuFactory(code="B", unit_cost="500.00", price="900.00")
    LocationFactory(code="S1")
    LocationFactory(code="S2")


@pytest.fixture
def pos(world, partner_api):
    return partner_api("pos-1", scopes=["events"], kind="pos")


def event(event_id, type_="sale", quantity=1, *, sku="A", location="S1", at=T0, **extra):
    return {"event_id": event_id, "type": type_, "sku": sku, "location": location, "quantity": quantity,
            "occurred_at": at, **extra}


def send(client, *events, **headers):
    return client.post(URL, {"events": list(events)}, format="json", **headers)


def level(sku="A", location="S1") -> StockLevel:
    return StockLevel.objects.get(sku__code=sku, location__code=location)


def statuses(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [result["status"] for result in response.json()["results"]]


def test_each_type_moves_its_bucket(pos):
    response = send(
        pos,
        event("r1", "receipt", 20),
        event("s1", "sale", 3),
        event("ret1", "return", 1),
        event("d1", "damage", 2),
        event("adj1", "adjustment", -4),
        event("adj2", "adjustment", 1),
        event("to1", "transfer_out", 2),
        event("ti1", "transfer_in", 5),
    )

    assert statuses(response) == ["applied"] * 8
    stock = level()
    assert (stock.on_hand, stock.damaged, stock.available) == (18, 2, 16)
    assert StockMovement.objects.count() == 8
    assert response.json()["summary"] == {"applied": 8, "duplicate": 0, "rejected": 0, "stale": 0, "conflict": 0,
                                          "pending_approval": 0}


def test_a_sale_is_recorded_even_when_on_hand_goes_negative_and_opens_a_case(pos):
    assert statuses(send(pos, event("s1", "sale", 2))) == ["applied"]
    assert level().on_hand == -2
    case = Case.objects.get(kind="negative_on_hand")
    assert case.location.code == "S1"
    assert case.money_at_risk == 50


def test_a_resend_with_the_same_content_is_a_duplicate_with_no_effect(pos):
    send(pos, event("r1", "receipt", 5))
    response = send(pos, event("r1", "receipt", 5))

    assert statuses(response) == ["duplicate"]
    assert level().on_hand == 5
    assert InventoryEvent.objects.count() == 1


def test_the_same_timestamp_in_another_offset_is_the_same_content(pos):
    send(pos, event("r1", "receipt", 5, at="2026-11-20T10:00:00+00:00"))
    assert statuses(send(pos, event("r1", "receipt", 5, at="2026-11-20T11:00:00+01:00"))) == ["duplicate"]


def test_any_offset_python_reads_is_taken_as_its_instant(pos):
    response = send(pos, event("r1", "receipt", 5, at="2026-11-20T01:01:26-19:44"),
                    event("r2", "receipt", 5, sku="UNKNOWN", at="2026-11-20T01:01:26-19:44"))

    assert statuses(response) == ["applied", "rejected"]
    assert {event.occurred_at.isoformat() for event in InventoryEvent.objects.all()} == {"2026-11-20T20:45:26+00:00"}


def test_the_same_id_with_other_content_is_a_conflict_with_a_case(pos):
    send(pos, event("r1", "receipt", 5))
    response = send(pos, event("r1", "receipt", 7))

    assert statuses(response) == ["conflict"]
    assert response.json()["results"][0]["error"]["code"] == "event_id_reused"
    assert level().on_hand == 5
    case = Case.objects.get(kind="duplicate_conflict")
    assert case.context["received"]["quantity"] == 7
    assert case.context["original"]["quantity"] == 5


def test_a_conflict_case_shows_both_contents_field_by_field_with_times_in_utc(pos):
    send(pos, event("r1", "receipt", 5, at="2026-11-20T11:00:00+01:00", reference="PO-1"))
    send(pos, event("r1", "receipt", 7, at="2026-11-20T10:00:00+00:00", reference="PO-1"))

    case = Case.objects.get(kind="duplicate_conflict")
    original, received = case.context["original"], case.context["received"]
    assert original == {"event_id": "r1", "type": "receipt", "sku": "A", "location": "S1", "quantity": 5,
                        "occurred_at": "2026-11-20T10:00:00+00:00", "reason": "", "reference": "PO-1"}
    assert {key for key in original if original[key] != received[key]} == {"quantity"}


def test_an_unknown_type_is_stored_whole(pos):
    long_type = "inter-warehouse-consignment-transfer-v2"  # longer than any known type
    response = send(pos, event("odd", long_type, 1))

    assert response.json()["results"][0]["error"]["code"] == "unknown_type"
    stored = InventoryEvent.objects.get(event_id="odd")
    assert stored.type == long_type
    assert stored.payload["type"] == long_type


def test_ids_are_unique_per_sending_system_not_globally(world, partner_api):
    pos_a = partner_api("pos-a", scopes=["events"])
    pos_b = partner_api("pos-b", scopes=["events"])
    assert statuses(send(pos_a, event("e1", "receipt", 5))) == ["applied"]
    assert statuses(send(pos_b, event("e1", "receipt", 5))) == ["applied"]
    assert level().on_hand == 10


def test_a_repeat_inside_one_batch_is_a_duplicate_or_conflict(pos):
    response = send(pos, event("r1", "receipt", 5), event("r1", "receipt", 5), event("r1", "receipt", 6))
    assert statuses(response) == ["applied", "duplicate", "conflict"]
    assert level().on_hand == 5


def test_an_event_older_than_the_last_count_is_stale_with_a_case(pos):
    send(pos, event("c1", "count", 10, at="2026-11-20T12:00:00+00:00"))
    response = send(pos, event("s1", "sale", 1, at="2026-11-20T11:59:00+00:00"))

    assert statuses(response) == ["stale"]
    assert level().on_hand == 10
    assert InventoryEvent.objects.get(event_id="s1").status == "stale"
    assert Case.objects.get(kind="stale_event").context["event"]["event_id"] == "s1"


def test_a_count_applies_the_difference_and_sets_last_counted_at(pos):
    send(pos, event("r1", "receipt", 7))
    response = send(pos, event("c1", "count", 4, at="2026-11-20T12:00:00+00:00"))

    assert statuses(response) == ["applied"]
    stock = level()
    assert stock.on_hand == 4
    assert stock.last_counted_at.isoformat() == "2026-11-20T12:00:00+00:00"
    assert StockMovement.objects.get(reason="count").delta == -3
    assert InventoryEvent.objects.get(event_id="c1").count_variance == -3


def test_a_count_whose_variance_value_reaches_the_threshold_waits_for_finance(pos):
    # SKU B costs 500.00: a 2-unit variance is worth 1,000.00, the default threshold.
    response = send(pos, event("c1", "count", 2, sku="B"))

    assert statuses(response) == ["pending_approval"]
    assert response.json()["summary"]["pending_approval"] == 1
    assert level("B").on_hand == 0
    assert level("B").last_counted_at is None
    assert not StockMovement.objects.exists()
    stored = InventoryEvent.objects.get(event_id="c1")
    assert (stored.status, stored.count_variance) == ("pending_approval", 2)


def test_a_small_count_variance_applies_at_once(pos):
    assert statuses(send(pos, event("c1", "count", 1, sku="B"))) == ["applied"]
    assert level("B").on_hand == 1


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        ({"sku": "NOPE"}, "unknown_sku"),
        ({"location": "NOWHERE"}, "unknown_location"),
        ({"type": "teleport"}, "unknown_type"),
        ({"type": "sale", "quantity": 0}, "invalid_quantity"),
        ({"type": "receipt", "quantity": -2}, "invalid_quantity"),
        ({"type": "adjustment", "quantity": 0}, "invalid_quantity"),
        ({"type": "count", "quantity": -1}, "invalid_quantity"),
        ({"at": "2099-01-01T00:00:00+00:00"}, "occurred_in_future"),
    ],
)
def test_bad_events_are_rejected_stored_with_the_reason_and_raise_a_case(pos, bad, code):
    fields = {"type_": bad.pop("type", "sale"), **bad}
    response = send(pos, event("bad", **fields), event("good", "receipt", 3))

    assert statuses(response) == ["rejected", "applied"]
    assert response.json()["results"][0]["error"]["code"] == code
    stored = InventoryEvent.objects.get(event_id="bad")
    assert (stored.status, stored.error_code) == ("rejected", code)
    case = Case.objects.get(kind="rejected_event")
    assert case.queue == "integration"
    assert case.context["error"]["code"] == code


def test_the_same_rejection_again_bumps_its_case(pos):
    send(pos, event("bad1", sku="NOPE"))
    send(pos, event("bad2", sku="NOPE"), event("bad3", sku="NOPE"))
    assert Case.objects.get(kind="rejected_event").occurrences == 3


def test_an_event_outside_the_tokens_locations_is_rejected(world, partner_api):
    client = partner_api("pos-s1", scopes=["events"], locations=["S1"])
    response = send(client, event("e1", "receipt", 4, location="S2"), event("e2", "receipt", 4, location="S1"))

    assert statuses(response) == ["rejected", "applied"]
    assert response.json()["results"][0]["error"]["code"] == "location_out_of_scope"
    assert not StockLevel.objects.filter(location__code="S2").exists()


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "required", "events"),
        ({"events": []}, "empty", "events"),
        ({"events": {"a": 1}}, "not_a_list", "events"),
        ({"events": [event("e1")] * 1001}, "batch_too_large", "events"),
        ({"events": [event("e1", quantity="3")]}, "invalid", "events[0].quantity"),
        ({"events": [event("e1"), event("e2", quantity=1.5)]}, "invalid", "events[1].quantity"),
        ({"events": [event("e1", at="yesterday")]}, "invalid_datetime", "events[0].occurred_at"),
        ({"events": [event("e1", at="2026-11-20T10:00:00")]}, "missing_offset", "events[0].occurred_at"),
        ({"events": [{**event("e1"), "event_id": None}]}, "required", "events[0].event_id"),
        ({"events": [{**event("e1"), "sku": 12}]}, "invalid", "events[0].sku"),
        ({"events": ["sale"]}, "invalid", "events[0]"),
        *[({"events": [{**event("e1"), name: "A\x00"}]}, "null_characters_not_allowed", f"events[0].{name}")
          for name in ("event_id", "type", "sku", "location", "reason", "reference")],
        ({"events": [event("e1", at="0001-01-01T00:00:00+01:00")]}, "overflow", "events[0].occurred_at"),
        ({"events": [event("e1", at="9999-12-31T23:59:59-01:00")]}, "overflow", "events[0].occurred_at"),
        ({"events": [event("e1", reference="")]}, "invalid", "events[0].reference"),
    ],
)
def test_request_level_problems_are_400_and_store_nothing(pos, body, code, field):
    response = pos.post(URL, body, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code
    assert problem["errors"][0]["field"] == field
    assert not InventoryEvent.objects.exists()
    assert not Case.objects.exists()


def test_not_json_is_400(pos):
    response = pos.post(URL, data="events=1", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


@pytest.mark.postgres  # SQLite caps parameters per statement, so its bulk inserts come in chunks
def test_a_batch_of_1000_costs_the_same_statements_as_a_batch_of_2(pos, django_assert_max_num_queries):
    from tests.inventory.factories import SkuFactory

    for index in range(50):
        SkuFactory(code=f"K{index}")
    send(pos, event("warm-up", "receipt", 1))

    def batch(prefix, size):
        return [event(f"{prefix}{n}", "receipt", 1, sku=f"K{n % 50}", location="S1" if n % 2 else "S2")
                for n in range(size)]

    # Receipts also raise their receipt case (receiving's, through inventory's signal): one
    # raise per sender, location and day, here two of six statements each, never one per event.
    receipt_cases = 2 * 6
    # New events: their keys claimed, read back, the events written (inventory.ingest).
    with django_assert_max_num_queries(15 + receipt_cases) as small:
        send(pos, *batch("small", 2))
    with django_assert_max_num_queries(17 + receipt_cases) as large:
        send(pos, *batch("large", 1000))
    # New levels appear in the large batch only, which costs two more statements; no
    # statement per event or per level.
    assert len(large.captured_queries) <= len(small.captured_queries) + 2


def test_idempotency_key_replays_the_whole_response(pos):
    first = send(pos, event("r1", "receipt", 5), HTTP_IDEMPOTENCY_KEY="batch-1")
    again = send(pos, event("r1", "receipt", 5), HTTP_IDEMPOTENCY_KEY="batch-1")

    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()  # "applied" again, not "duplicate": the original answer
    assert level().on_hand == 5


def test_staff_sessions_cannot_post_events(world, staff_api):
    assert staff_api("ops_admin").post(URL, {"events": [event("e1")]}, format="json").status_code == 403


def test_a_token_without_the_events_scope_is_403(world, partner_api):
    response = partner_api(scopes=["availability"]).post(URL, {"events": [event("e1")]}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"


def test_movements_record_the_event_and_the_sender_as_actor(pos):
    send(pos, event("r1", "receipt", 5))
    movement = StockMovement.objects.get()
    assert movement.event.event_id == "r1"
    assert movement.actor.username == "system:pos-1"
    assert movement.occurred_at.isoformat() == T0
