"""POST/GET /api/v1/orders and the fulfilment verbs (API.md "Orders")."""

import pytest

from inventory.ledger import ledger_drifts
from inventory.models import StockLevel
from orders.models import Allocation, Order
from orders.states import HOLDING_STATUSES
from tests.orders.factories import stock

pytestmark = pytest.mark.django_db


def committed(sku, location):
    level = StockLevel.objects.filter(sku=sku, location=location).first()
    return level.committed if level else 0


def on_hand(sku, location):
    return StockLevel.objects.get(sku=sku, location=location).on_hand


def assert_committed_matches_allocations():
    for level in StockLevel.objects.all():
        held = sum(Allocation.objects.filter(sku_id=level.sku_id, location_id=level.location_id,
                                             status__in=HOLDING_STATUSES).values_list("quantity", flat=True))
        assert level.committed == held, (level, level.committed, held)
    assert ledger_drifts() == []


def order_body(external_id="o-1", lines=None, **extra):
    return {"external_id": external_id, "channel": "web", "fulfillment": "ship",
            "lines": [{"line_id": "1", "sku": "A", "quantity": 2}] if lines is None else lines, **extra}


@pytest.fixture
def api(partner_api):
    return partner_api()


def test_an_order_allocates_every_line_and_answers_201(api, shop):
    stock(shop.a, shop.dc, 10)
    stock(shop.b, shop.dc, 10)
    response = api.post("/api/v1/orders", order_body(lines=[{"line_id": "1", "sku": "A", "quantity": 2},
                                                            {"line_id": "2", "sku": "B", "quantity": 3}]),
                        format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["external_id"] == "o-1"
    assert body["status"] == "allocated"
    lines = [(line["line_id"], line["sku"], line["quantity"]) for line in body["lines"]]
    assert lines == [("1", "A", 2), ("2", "B", 3)]
    assert body["lines"][0]["allocations"][0] | {"id": 0} == {"id": 0, "location": "DC1", "quantity": 2,
                                                             "status": "reserved", "reservation": None}
    assert (committed(shop.a, shop.dc), committed(shop.b, shop.dc)) == (2, 3)
    assert_committed_matches_allocations()


def test_all_or_nothing_when_one_line_cannot_be_allocated(api, shop):
    stock(shop.a, shop.dc, 10)
    stock(shop.b, shop.dc, 1)
    response = api.post("/api/v1/orders", order_body(lines=[{"line_id": "1", "sku": "A", "quantity": 2},
                                                            {"line_id": "2", "sku": "B", "quantity": 3}]),
                        format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    assert response.json()["line_id"] == "2"
    assert not Order.objects.exists()
    assert not Allocation.objects.exists()
    assert committed(shop.a, shop.dc) == 0


def test_the_same_order_again_answers_200_with_the_existing_order(api, shop):
    stock(shop.a, shop.dc, 10)
    first = api.post("/api/v1/orders", order_body(), format="json")
    again = api.post("/api/v1/orders", order_body(), format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert committed(shop.a, shop.dc) == 2


def test_the_same_external_id_with_other_content_is_409_order_exists(api, shop):
    stock(shop.a, shop.dc, 10)
    api.post("/api/v1/orders", order_body(), format="json")
    response = api.post("/api/v1/orders", order_body(lines=[{"line_id": "1", "sku": "A", "quantity": 3}]),
                        format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "order_exists"
    assert committed(shop.a, shop.dc) == 2


def test_another_partner_reusing_an_external_id_gets_order_exists_not_the_order(partner_api, shop):
    stock(shop.a, shop.dc, 10)
    partner_api("partner-a").post("/api/v1/orders", order_body(), format="json")
    response = partner_api("partner-b").post("/api/v1/orders", order_body(), format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "order_exists"


def test_an_order_consumes_a_hold_instead_of_holding_twice(api, shop):
    stock(shop.a, shop.s2, 3)
    hold = api.post("/api/v1/reservations", {"sku": "A", "quantity": 3, "channel": "web"}, format="json").json()
    response = api.post("/api/v1/orders", order_body(
        lines=[{"line_id": "1", "sku": "A", "quantity": 3, "reservation": hold["id"]}]), format="json")

    assert response.status_code == 201, response.json()
    allocation = response.json()["lines"][0]["allocations"][0]
    assert allocation["reservation"] == hold["id"]
    assert committed(shop.a, shop.s2) == 3
    assert api.get(f"/api/v1/reservations/{hold['id']}").json()["order"] == response.json()["id"]
    assert_committed_matches_allocations()


def test_a_larger_hold_is_trimmed_to_the_line_and_the_rest_given_back(api, shop):
    stock(shop.a, shop.dc, 10)
    hold = api.post("/api/v1/reservations", {"sku": "A", "quantity": 5, "channel": "web"}, format="json").json()
    api.post("/api/v1/orders", order_body(lines=[{"line_id": "1", "sku": "A", "quantity": 2,
                                                  "reservation": hold["id"]}]), format="json")
    assert committed(shop.a, shop.dc) == 2
    assert_committed_matches_allocations()


def test_a_smaller_hold_is_topped_up_by_sourcing(api, shop):
    stock(shop.a, shop.dc, 10)
    hold = api.post("/api/v1/reservations", {"sku": "A", "quantity": 1, "channel": "web"}, format="json").json()
    body = api.post("/api/v1/orders", order_body(lines=[{"line_id": "1", "sku": "A", "quantity": 4,
                                                         "reservation": hold["id"]}]), format="json").json()
    assert sorted(a["quantity"] for a in body["lines"][0]["allocations"]) == [1, 3]
    assert committed(shop.a, shop.dc) == 4
    assert_committed_matches_allocations()


def test_a_released_hold_is_not_honoured_but_the_line_is_sourced_afresh(api, shop):
    stock(shop.a, shop.dc, 2)
    hold = api.post("/api/v1/reservations", {"sku": "A", "quantity": 2, "channel": "web"}, format="json").json()
    api.post(f"/api/v1/reservations/{hold['id']}/release", format="json")
    response = api.post("/api/v1/orders", order_body(lines=[{"line_id": "1", "sku": "A", "quantity": 2,
                                                             "reservation": hold["id"]}]), format="json")
    assert response.status_code == 201
    assert response.json()["lines"][0]["allocations"][0]["reservation"] is None
    assert_committed_matches_allocations()


def test_another_partners_hold_is_an_unknown_reservation(partner_api, shop):
    stock(shop.a, shop.dc, 10)
    hold = partner_api("partner-a").post("/api/v1/reservations", {"sku": "A", "quantity": 1, "channel": "web"},
                                         format="json").json()
    response = partner_api("partner-b").post("/api/v1/orders", order_body(
        lines=[{"line_id": "1", "sku": "A", "quantity": 1, "reservation": hold["id"]}]), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_reservation"
    assert response.json()["errors"][0]["field"] == "lines[0].reservation"


def test_a_hold_for_another_sku_is_a_reservation_mismatch(api, shop):
    stock(shop.a, shop.dc, 10)
    stock(shop.b, shop.dc, 10)
    hold = api.post("/api/v1/reservations", {"sku": "A", "quantity": 1, "channel": "web"}, format="json").json()
    response = api.post("/api/v1/orders", order_body(
        lines=[{"line_id": "1", "sku": "B", "quantity": 1, "reservation": hold["id"]}]), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "reservation_mismatch"


@pytest.mark.parametrize(("body", "code", "field"), [
    (order_body(channel="nope"), "unknown_channel", "channel"),
    (order_body(lines=[{"line_id": "1", "sku": "NOPE", "quantity": 1}]), "unknown_sku", "lines[0].sku"),
    (order_body(lines=[{"line_id": "1", "sku": "A", "quantity": 0}]), "min_value", "lines[0].quantity"),
    (order_body(lines=[{"line_id": "1", "sku": "A", "quantity": -1}]), "min_value", "lines[0].quantity"),
    (order_body(lines=[{"line_id": "1", "sku": "A", "quantity": 1.5}]), "invalid", "lines[0].quantity"),
    (order_body(lines=[{"line_id": "1", "sku": "A", "quantity": 1}, {"line_id": "1", "sku": "A", "quantity": 1}]),
     "duplicate_line_id", "lines[1].line_id"),
    (order_body(lines=[]), "min_length", "lines"),
    (order_body(fulfillment="drone"), "invalid_choice", "fulfillment"),
    (order_body(fulfillment="pickup"), "required", "pickup_location"),
    (order_body(fulfillment="pickup", pickup_location="NOWHERE"), "unknown_location", "pickup_location"),
    ({"channel": "web", "fulfillment": "ship", "lines": [{"line_id": "1", "sku": "A", "quantity": 1}]},
     "required", "external_id"),
])
def test_bad_order_input_is_a_400_problem_naming_the_field(api, shop, body, code, field):
    stock(shop.a, shop.dc, 10)
    response = api.post("/api/v1/orders", body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == code
    assert response.json()["errors"][0]["field"] == field
    assert not Order.objects.exists()


def test_cancel_releases_the_allocations_and_cancelling_twice_answers_the_same(api, shop):
    stock(shop.a, shop.dc, 10)
    order_id = api.post("/api/v1/orders", order_body(), format="json").json()["id"]

    first = api.post(f"/api/v1/orders/{order_id}/cancel", format="json")
    second = api.post(f"/api/v1/orders/{order_id}/cancel", format="json")

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["status"] == "cancelled"
    assert first.json()["lines"][0]["allocations"][0]["status"] == "cancelled"
    assert committed(shop.a, shop.dc) == 0
    assert_committed_matches_allocations()


def test_ship_takes_units_out_of_on_hand_and_committed(api, shop):
    stock(shop.a, shop.dc, 10)
    order_id = api.post("/api/v1/orders", order_body(), format="json").json()["id"]
    response = api.post(f"/api/v1/orders/{order_id}/ship", {}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "shipped"
    assert (on_hand(shop.a, shop.dc), committed(shop.a, shop.dc)) == (8, 0)
    again = api.post(f"/api/v1/orders/{order_id}/ship", {}, format="json")
    assert again.status_code == 200
    assert on_hand(shop.a, shop.dc) == 8
    assert_committed_matches_allocations()


def test_shipping_from_one_location_of_a_split_order_is_a_partial_shipment(api, shop):
    stock(shop.a, shop.s1, 2)
    stock(shop.a, shop.s2, 2)
    order_id = api.post("/api/v1/orders", order_body(lines=[{"line_id": "1", "sku": "A", "quantity": 4}]),
                        format="json").json()["id"]
    response = api.post(f"/api/v1/orders/{order_id}/ship", {"location": "S1"}, format="json")
    assert response.json()["status"] == "partially_shipped"
    assert (on_hand(shop.a, shop.s1), on_hand(shop.a, shop.s2)) == (0, 2)
    again = api.post(f"/api/v1/orders/{order_id}/ship", {"location": "S1"}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_state"
    assert api.post(f"/api/v1/orders/{order_id}/ship", {"location": "S2"}, format="json").json()["status"] == "shipped"
    assert_committed_matches_allocations()


def test_shipping_a_cancelled_order_is_409_invalid_state(api, shop):
    stock(shop.a, shop.dc, 10)
    order_id = api.post("/api/v1/orders", order_body(), format="json").json()["id"]
    api.post(f"/api/v1/orders/{order_id}/cancel", format="json")

    response = api.post(f"/api/v1/orders/{order_id}/ship", {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert on_hand(shop.a, shop.dc) == 10


def test_cancelling_a_shipped_order_is_409_invalid_state(api, shop):
    stock(shop.a, shop.dc, 10)
    order_id = api.post("/api/v1/orders", order_body(), format="json").json()["id"]
    api.post(f"/api/v1/orders/{order_id}/ship", {}, format="json")
    response = api.post(f"/api/v1/orders/{order_id}/cancel", format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"


def test_ship_from_an_unknown_location_is_400(api, shop):
    stock(shop.a, shop.dc, 10)
    order_id = api.post("/api/v1/orders", order_body(), format="json").json()["id"]
    response = api.post(f"/api/v1/orders/{order_id}/ship", {"location": "NOWHERE"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_location"


def pickup_body(**extra):
    return order_body(fulfillment="pickup", pickup_location="S1", **extra)


def test_a_pickup_order_is_allocated_at_its_pickup_location_and_collected_there(api, shop):
    stock(shop.a, shop.dc, 10)
    stock(shop.a, shop.s1, 2)
    created = api.post("/api/v1/orders", pickup_body(), format="json")
    assert created.status_code == 201
    assert created.json()["lines"][0]["allocations"][0]["location"] == "S1"
    assert created.json()["pickup_ack_due_at"] is not None

    order_id = created.json()["id"]
    assert api.post(f"/api/v1/orders/{order_id}/ship", {}, format="json").status_code == 409
    picked = api.post(f"/api/v1/orders/{order_id}/pickup", format="json")
    assert picked.status_code == 200
    assert picked.json()["status"] == "picked_up"
    assert (on_hand(shop.a, shop.s1), committed(shop.a, shop.s1)) == (0, 0)
    assert api.post(f"/api/v1/orders/{order_id}/pickup", format="json").status_code == 200
    assert_committed_matches_allocations()


def test_a_pickup_order_never_takes_stock_from_elsewhere(api, shop):
    stock(shop.a, shop.dc, 10)
    stock(shop.a, shop.s1, 1)
    response = api.post("/api/v1/orders", pickup_body(), format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"


def test_picking_up_a_ship_order_is_409_invalid_state(api, shop):
    stock(shop.a, shop.dc, 10)
    order_id = api.post("/api/v1/orders", order_body(), format="json").json()["id"]
    response = api.post(f"/api/v1/orders/{order_id}/pickup", format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"


def test_acknowledging_a_pickup_order_records_when(api, shop):
    stock(shop.a, shop.s1, 2)
    order_id = api.post("/api/v1/orders", pickup_body(), format="json").json()["id"]
    first = api.post(f"/api/v1/orders/{order_id}/acknowledge", format="json")
    second = api.post(f"/api/v1/orders/{order_id}/acknowledge", format="json")
    assert first.status_code == second.status_code == 200
    assert first.json()["pickup_acknowledged_at"] == second.json()["pickup_acknowledged_at"] is not None


def test_get_reads_an_order_with_its_sourcing_explanation(api, shop):
    stock(shop.a, shop.dc, 10)
    order_id = api.post("/api/v1/orders", order_body(), format="json").json()["id"]
    response = api.get(f"/api/v1/orders/{order_id}")
    assert response.status_code == 200
    sourcing = response.json()["lines"][0]["sourcing"]
    assert sourcing["rule"] == "whole_line_at_one_location"
    assert sourcing["candidates"][0] == {"location": "DC1", "kind": "dc", "region": "north", "available": 10,
                                         "eligible": True, "allocated": 2}


def test_a_partner_cannot_read_or_act_on_another_partners_order(partner_api, shop):
    stock(shop.a, shop.dc, 10)
    order_id = partner_api("partner-a").post("/api/v1/orders", order_body(), format="json").json()["id"]
    other = partner_api("partner-b")
    assert other.get(f"/api/v1/orders/{order_id}").status_code == 404
    assert other.post(f"/api/v1/orders/{order_id}/cancel", format="json").status_code == 404
    assert other.post(f"/api/v1/orders/{order_id}/ship", {}, format="json").status_code == 404
    assert other.get("/api/v1/orders").json()["results"] == []
    assert committed(shop.a, shop.dc) == 2


def test_unknown_order_is_404(api, shop):
    assert api.get("/api/v1/orders/12345").status_code == 404
    assert api.post("/api/v1/orders/12345/cancel", format="json").status_code == 404


def test_list_filters_by_channel_and_status(api, shop):
    stock(shop.a, shop.dc, 20)
    first = api.post("/api/v1/orders", order_body("o-1"), format="json").json()["id"]
    second = api.post("/api/v1/orders", order_body("o-2"), format="json").json()["id"]
    api.post(f"/api/v1/orders/{first}/cancel", format="json")

    assert [o["id"] for o in api.get("/api/v1/orders").json()["results"]] == [second, first]
    assert [o["id"] for o in api.get("/api/v1/orders?status=cancelled").json()["results"]] == [first]
    assert [o["id"] for o in api.get("/api/v1/orders?channel=web&status=allocated").json()["results"]] == [second]
    assert api.get("/api/v1/orders?channel=other").json()["results"] == []
    assert api.get("/api/v1/orders?status=lost").status_code == 400


def test_list_is_cursor_paginated(api, shop):
    stock(shop.a, shop.dc, 20)
    for n in range(3):
        api.post("/api/v1/orders", order_body(f"o-{n}"), format="json")
    page = api.get("/api/v1/orders?limit=2").json()
    assert len(page["results"]) == 2
    rest = api.get(page["next"]).json()
    assert len(rest["results"]) == 1
    assert rest["next"] is None


def test_list_costs_the_same_queries_for_any_number_of_orders(api, shop, django_assert_num_queries):
    stock(shop.a, shop.dc, 100)
    stock(shop.b, shop.s1, 100)
    for n in range(5):
        api.post("/api/v1/orders", order_body(f"o-{n}", lines=[{"line_id": "1", "sku": "A", "quantity": 1},
                                                               {"line_id": "2", "sku": "B", "quantity": 1}]),
                 format="json")
    # the token's client, orders page, lines (+ SKUs), allocations (+ locations)
    with django_assert_num_queries(4):
        response = api.get("/api/v1/orders")
    assert len(response.json()["results"]) == 5


def test_an_idempotent_replay_of_an_order_places_it_once(api, shop):
    stock(shop.a, shop.dc, 10)
    headers = {"HTTP_IDEMPOTENCY_KEY": "order-1"}
    first = api.post("/api/v1/orders", order_body(), format="json", **headers)
    again = api.post("/api/v1/orders", order_body(), format="json", **headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    assert committed(shop.a, shop.dc) == 2


def test_an_idempotent_replay_of_a_cancel_cancels_once(api, shop):
    stock(shop.a, shop.dc, 10)
    order_id = api.post("/api/v1/orders", order_body(), format="json").json()["id"]
    headers = {"HTTP_IDEMPOTENCY_KEY": "cancel-1"}
    first = api.post(f"/api/v1/orders/{order_id}/cancel", format="json", **headers)
    again = api.post(f"/api/v1/orders/{order_id}/cancel", format="json", **headers)
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(("body", "code", "field"), [
    (order_body(lines=[{"line_id": "1", "sku": "A", "quantity": 10**30}]), "max_value", "lines[0].quantity"),
    (order_body(lines=[{"line_id": "1", "sku": "A", "quantity": "2x"}]), "invalid", "lines[0].quantity"),
    (order_body(lines=[{"line_id": "1", "sku": "A", "quantity": True}]), "invalid", "lines[0].quantity"),
    (order_body(lines=[{"line_id": "1", "sku": "A", "quantity": None}]), "null", "lines[0].quantity"),
    (order_body(lines=[{"line_id": "1", "sku": "A"}]), "required", "lines[0].quantity"),
    (order_body(lines=[{"line_id": "1", "sku": ["A"], "quantity": 1}]), "invalid", "lines[0].sku"),
    (order_body(lines=[{"line_id": "1", "sku": "A", "quantity": 1}, {"sku": "A", "quantity": 1}]),
     "required", "lines[1].line_id"),
    (order_body(lines=[{"line_id": "1", "sku": "A", "quantity": 1, "reservation": 10**30}]), "max_value",
     "lines[0].reservation"),
    (order_body(lines=[{"line_id": "1", "sku": "A", "quantity": 1, "reservation": "hold-1"}]), "invalid",
     "lines[0].reservation"),
    (order_body(lines=[{"line_id": "1", "sku": "A", "quantity": 1, "reservation": 0}]), "min_value",
     "lines[0].reservation"),
    (order_body(lines=[{"line_id": "1", "sku": "A", "quantity": 1, "reservation": 999}]), "unknown_reservation",
     "lines[0].reservation"),
    (order_body(lines={"line_id": "1", "sku": "A", "quantity": 1}), "not_a_list", "lines"),
    (order_body(lines="A"), "not_a_list", "lines"),
    (order_body(lines=[["1", "A", 1]]), "invalid", "lines[0]"),
    (order_body(lines=[{"line_id": str(n), "sku": "A", "quantity": 1} for n in range(501)]), "max_length", "lines"),
    (order_body(external_id="x" * 256), "max_length", "external_id"),
    (order_body(external_id={"id": 1}), "invalid", "external_id"),
    (order_body(external_id=""), "blank", "external_id"),
    (order_body(channel=None), "null", "channel"),
    (order_body(fulfillment=["ship"]), "invalid_choice", "fulfillment"),
    (order_body(pickup_location="S1"), "invalid", "pickup_location"),
])
def test_wrong_types_huge_numbers_and_odd_shapes_are_400_problems_naming_the_field(api, shop, body, code, field):
    stock(shop.a, shop.dc, 10)
    response = api.post("/api/v1/orders", body, format="json")
    assert response.status_code == 400, response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert response.json()["errors"][0]["field"] == field
    assert not Order.objects.exists()
    assert committed(shop.a, shop.dc) == 0


@pytest.mark.parametrize("raw", [
    "[]",
    '[{"external_id": "o-1", "channel": "web", "fulfillment": "ship", "lines": []}]',
    '"o-1"',
    "7",
    "null",
    '{"external_id": "o-1", "channel": "web", "fulfillment": "ship", "lines": [{"line_id": "1", "sku": "A", '
    '"quantity": NaN}]}',
    '{"external_id": "o-1", "channel": "web", "fulfillment": "ship", "lines": [{"line_id": "1", "sku": "A", '
    '"quantity": 1e999}]}',
    '{"external_id": "o-1", "channel": "web"',
    "external_id=o-1&channel=web",
])
def test_a_body_that_is_not_an_order_object_is_a_400_problem(api, shop, raw):
    stock(shop.a, shop.dc, 10)
    response = api.post("/api/v1/orders", raw, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert not Order.objects.exists()


@pytest.mark.parametrize(("verb", "raw"), [
    ("ship", "[1]"), ("ship", '{"location": ["DC1"]}'), ("ship", "{"),
    ("cancel", '{"reason": {"why": "x"}}'), ("cancel", '"no"'),
    ("pickup", '{"note": ["x"]}'),
])
def test_a_malformed_verb_body_is_400_and_changes_nothing(api, shop, verb, raw):
    stock(shop.a, shop.dc, 10)
    order_id = api.post("/api/v1/orders", order_body(), format="json").json()["id"]
    response = api.post(f"/api/v1/orders/{order_id}/{verb}", raw, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert Order.objects.get(pk=order_id).status == "allocated"
    assert (on_hand(shop.a, shop.dc), committed(shop.a, shop.dc)) == (10, 2)


def test_no_token_or_a_bad_token_is_401(client, shop):
    body = order_body()
    assert client.post("/api/v1/orders", body, content_type="application/json").status_code == 401
    assert client.get("/api/v1/orders").status_code == 401
    response = client.post("/api/v1/orders", body, content_type="application/json",
                           HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert not Order.objects.exists()


def test_a_token_without_the_orders_scope_is_403_on_every_orders_endpoint(partner_api, api, shop):
    stock(shop.a, shop.dc, 10)
    order_id = api.post("/api/v1/orders", order_body(), format="json").json()["id"]
    reader = partner_api(scopes=["availability"])
    responses = [
        reader.post("/api/v1/orders", order_body("o-2"), format="json"),
        reader.get("/api/v1/orders"),
        reader.get(f"/api/v1/orders/{order_id}"),
        reader.post(f"/api/v1/orders/{order_id}/cancel", format="json"),
        reader.post(f"/api/v1/orders/{order_id}/ship", {}, format="json"),
        reader.post(f"/api/v1/orders/{order_id}/pickup", format="json"),
    ]
    assert [(r.status_code, r.json()["code"]) for r in responses] == [(403, "missing_scope")] * len(responses)
    assert Order.objects.get().status == "allocated"


def test_an_order_outside_the_tokens_location_scope_is_404(partner_api, shop):
    stock(shop.a, shop.dc, 10)
    order_id = partner_api(locations=["DC1"]).post("/api/v1/orders", order_body(), format="json").json()["id"]
    scoped = partner_api(locations=["S1"])
    assert scoped.get(f"/api/v1/orders/{order_id}").status_code == 404
    assert scoped.post(f"/api/v1/orders/{order_id}/cancel", format="json").status_code == 404
    assert scoped.post(f"/api/v1/orders/{order_id}/ship", {}, format="json").status_code == 404
    assert scoped.get("/api/v1/orders").json()["results"] == []
    assert committed(shop.a, shop.dc) == 2


def test_shipping_from_a_location_outside_the_tokens_scope_is_403(partner_api, shop):
    stock(shop.a, shop.s1, 1)
    stock(shop.a, shop.s2, 1)
    api = partner_api(locations=["S1", "S2"])
    order_id = api.post("/api/v1/orders", order_body(), format="json").json()["id"]
    scoped = partner_api(locations=["S1"])
    response = scoped.post(f"/api/v1/orders/{order_id}/ship", {"location": "S2"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "location_out_of_scope"
    assert on_hand(shop.a, shop.s2) == 1


@pytest.mark.parametrize("url", ["/api/v1/orders/99999999999999999999999",
                                 "/api/v1/orders/99999999999999999999999/cancel"])
def test_an_order_id_beyond_any_integer_column_is_404(api, shop, url):
    response = api.get(url) if url.endswith("9") else api.post(url, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_the_same_key_with_another_order_is_422_idempotency_key_reused(api, shop):
    stock(shop.a, shop.dc, 10)
    headers = {"HTTP_IDEMPOTENCY_KEY": "order-2"}
    assert api.post("/api/v1/orders", order_body("o-1"), format="json", **headers).status_code == 201
    response = api.post("/api/v1/orders", order_body("o-2"), format="json", **headers)
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert list(Order.objects.values_list("external_id", flat=True)) == ["o-1"]
    assert committed(shop.a, shop.dc) == 2


def test_a_key_still_in_use_is_409_idempotency_key_in_use_and_places_nothing(api, shop, key_in_use):
    stock(shop.a, shop.dc, 10)
    key_in_use(api, "/api/v1/orders", order_body(), key="order-3")
    response = api.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="order-3")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_use"
    assert not Order.objects.exists()


def test_an_idempotent_replay_of_a_409_answers_409_again(api, shop):
    stock(shop.a, shop.dc, 1)
    headers = {"HTTP_IDEMPOTENCY_KEY": "order-4"}
    assert api.post("/api/v1/orders", order_body(), format="json", **headers).status_code == 409
    stock(shop.a, shop.dc, 5)
    again = api.post("/api/v1/orders", order_body(), format="json", **headers)
    assert (again.status_code, again.json()["code"]) == (409, "insufficient_stock")
    assert again["Idempotent-Replayed"] == "true"
    assert not Order.objects.exists()


def test_an_over_long_idempotency_key_is_400(api, shop):
    stock(shop.a, shop.dc, 10)
    response = api.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="k" * 256)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert not Order.objects.exists()


def test_a_hold_already_consumed_by_another_order_is_409_invalid_state(api, shop):
    stock(shop.a, shop.dc, 10)
    hold = api.post("/api/v1/reservations", {"sku": "A", "quantity": 2, "channel": "web"}, format="json").json()
    lines = [{"line_id": "1", "sku": "A", "quantity": 2, "reservation": hold["id"]}]
    assert api.post("/api/v1/orders", order_body("o-1", lines=lines), format="json").status_code == 201
    response = api.post("/api/v1/orders", order_body("o-2", lines=lines), format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert committed(shop.a, shop.dc) == 2
    assert_committed_matches_allocations()


def test_one_hold_named_by_two_lines_is_400(api, shop):
    stock(shop.a, shop.dc, 10)
    hold = api.post("/api/v1/reservations", {"sku": "A", "quantity": 2, "channel": "web"}, format="json").json()
    response = api.post("/api/v1/orders", order_body(lines=[
        {"line_id": "1", "sku": "A", "quantity": 1, "reservation": hold["id"]},
        {"line_id": "2", "sku": "A", "quantity": 1, "reservation": hold["id"]}]), format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "duplicate_reservation"
    assert not Order.objects.exists()
    assert committed(shop.a, shop.dc) == 2


def test_picking_up_a_cancelled_order_is_409_invalid_state(api, shop):
    stock(shop.a, shop.s1, 2)
    order_id = api.post("/api/v1/orders", pickup_body(), format="json").json()["id"]
    api.post(f"/api/v1/orders/{order_id}/cancel", format="json")
    response = api.post(f"/api/v1/orders/{order_id}/pickup", format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert (on_hand(shop.a, shop.s1), committed(shop.a, shop.s1)) == (2, 0)
