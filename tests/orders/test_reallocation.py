"""POST /api/v1/orders/{id}/reallocate (API.md "Re-sourcing"): a location's open
allocations are given up and sourced again elsewhere, all or nothing, with who and why."""

import pytest

from inventory.ledger import ledger_drifts
from inventory.models import StockLevel, StockMovement
from orders.models import Allocation, Order
from orders.states import HOLDING_STATUSES, AllocationStatus
from tests.inventory.factories import LocationFactory
from tests.orders.factories import stock

pytestmark = pytest.mark.django_db


def committed(sku, location) -> int:
    level = StockLevel.objects.filter(sku=sku, location=location).first()
    return level.committed if level else 0


def assert_committed_matches_allocations():
    for level in StockLevel.objects.all():
        held = sum(Allocation.objects.filter(sku_id=level.sku_id, location_id=level.location_id,
                                             status__in=HOLDING_STATUSES).values_list("quantity", flat=True))
        assert level.committed == held, (level, level.committed, held)
    assert ledger_drifts() == []


@pytest.fixture
def api(partner_api):
    return partner_api()


def place(api, lines, external_id="o-1", **extra):
    response = api.post("/api/v1/orders", {"external_id": external_id, "channel": "web", "fulfillment": "ship",
                                           "lines": lines, **extra}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def open_allocations(body) -> list[tuple[str, str, int]]:
    return sorted((line["line_id"], allocation["location"], allocation["quantity"])
                  for line in body["lines"] for allocation in line["allocations"]
                  if allocation["status"] in HOLDING_STATUSES)


def test_a_locations_allocations_are_sourced_again_elsewhere_with_who_and_why(api, shop):
    stock(shop.a, shop.dc, 3)
    stock(shop.a, shop.s1, 5)
    order = place(api, [{"line_id": "1", "sku": "A", "quantity": 2}])
    assert open_allocations(order) == [("1", "DC1", 2)]

    response = api.post(f"/api/v1/orders/{order['id']}/reallocate",
                        {"from_location": "DC1", "reason": "bin empty at pick"}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert open_allocations(body) == [("1", "S1", 2)]
    assert [a["status"] for a in body["lines"][0]["allocations"] if a["location"] == "DC1"] == ["reallocated"]
    assert (committed(shop.a, shop.dc), committed(shop.a, shop.s1)) == (0, 2)
    explanation = body["lines"][0]["sourcing"]
    assert explanation["reallocated"]["from_location"] == "DC1"
    assert explanation["reallocated"]["reason"] == "bin empty at pick"
    assert explanation["reallocations"][0]["by"] == api.issued.client.user.get_username()
    assert explanation["rule"] == "whole_line_at_one_location"
    dc_candidate = next(c for c in explanation["candidates"] if c["location"] == "DC1")
    assert dc_candidate["excluded_by"] == "excluded_by_request"
    order_row = Order.objects.get(pk=order["id"])
    latest = order_row.history.latest()
    assert latest.history_change_reason == "re-sourced away from DC1: bin empty at pick"
    assert latest.history_user == api.issued.client.user
    released = Allocation.objects.get(order_id=order["id"], location=shop.dc)
    assert "bin empty at pick" in released.history.latest().history_change_reason
    assert StockMovement.objects.filter(document_type="order", document_id=str(order["id"]),
                                        reason="order_reallocated").count() == 1
    assert_committed_matches_allocations()


def test_all_or_nothing_when_a_line_cannot_be_placed_elsewhere(api, shop):
    stock(shop.a, shop.dc, 5)
    stock(shop.b, shop.dc, 5)
    stock(shop.a, shop.s1, 5)  # B is nowhere else
    order = place(api, [{"line_id": "1", "sku": "A", "quantity": 2}, {"line_id": "2", "sku": "B", "quantity": 1}])
    movements_before = StockMovement.objects.count()

    response = api.post(f"/api/v1/orders/{order['id']}/reallocate",
                        {"from_location": "DC1", "reason": "dock closed"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    after = api.get(f"/api/v1/orders/{order['id']}").json()
    assert open_allocations(after) == open_allocations(order) == [("1", "DC1", 2), ("2", "DC1", 1)]
    assert StockMovement.objects.count() == movements_before
    assert not Allocation.objects.filter(status=AllocationStatus.REALLOCATED).exists()
    assert Order.objects.get(pk=order["id"]).history.count() == 1
    assert_committed_matches_allocations()


def test_a_shipped_order_cannot_be_reallocated(api, shop):
    stock(shop.a, shop.dc, 5)
    stock(shop.a, shop.s1, 5)
    order = place(api, [{"line_id": "1", "sku": "A", "quantity": 2}])
    assert api.post(f"/api/v1/orders/{order['id']}/ship", {}, format="json").status_code == 200

    response = api.post(f"/api/v1/orders/{order['id']}/reallocate",
                        {"from_location": "DC1", "reason": "too late"}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"


def test_a_split_line_moves_only_the_part_at_that_location(api, shop):
    s3 = LocationFactory(code="S3", region="north")
    stock(shop.a, shop.s1, 4)
    stock(shop.a, shop.s2, 3)
    stock(shop.a, s3, 6)
    order = place(api, [{"line_id": "1", "sku": "A", "quantity": 9}])
    assert open_allocations(order) == [("1", "S1", 3), ("1", "S3", 6)]

    body = api.post(f"/api/v1/orders/{order['id']}/reallocate",
                    {"from_location": "S1", "reason": "store closed today"}, format="json").json()

    assert open_allocations(body) == [("1", "S2", 3), ("1", "S3", 6)]
    assert_committed_matches_allocations()


def test_bad_input_is_a_clear_400(api, shop):
    stock(shop.a, shop.dc, 5)
    order = place(api, [{"line_id": "1", "sku": "A", "quantity": 1}])
    url = f"/api/v1/orders/{order['id']}/reallocate"

    missing_reason = api.post(url, {"from_location": "DC1"}, format="json")
    unknown_location = api.post(url, {"from_location": "NOPE", "reason": "x"}, format="json")
    nothing_there = api.post(url, {"from_location": "S2", "reason": "x"}, format="json")

    assert missing_reason.status_code == 400
    assert unknown_location.status_code == 400
    assert unknown_location.json()["code"] == "unknown_location"
    assert (nothing_there.status_code, nothing_there.json()["code"]) == (409, "invalid_state")


def test_a_partner_cannot_reallocate_another_partners_order(partner_api, shop):
    stock(shop.a, shop.dc, 5)
    stock(shop.a, shop.s1, 5)
    owner, other = partner_api("owner"), partner_api("other")
    order = place(owner, [{"line_id": "1", "sku": "A", "quantity": 1}])

    response = other.post(f"/api/v1/orders/{order['id']}/reallocate",
                          {"from_location": "DC1", "reason": "x"}, format="json")

    assert response.status_code == 404
    assert committed(shop.a, shop.dc) == 1


def test_a_store_user_gives_up_an_order_at_their_store_to_any_eligible_location(staff_api, api, shop):
    stock(shop.a, shop.s1, 5)
    stock(shop.a, shop.s2, 5)
    order = place(api, [{"line_id": "1", "sku": "A", "quantity": 2}], region="north")
    assert open_allocations(order) == [("1", "S1", 2)]
    store = staff_api("store_ops", locations=["S1"])

    response = store.post(f"/api/v1/orders/{order['id']}/reallocate",
                          {"from_location": "S1", "reason": "cannot find the units"}, format="json")

    assert response.status_code == 200, response.json()
    assert open_allocations(response.json()) == [("1", "S2", 2)]
    # A store user at S2 now sees the order, but cannot give it up on S1's behalf.
    elsewhere = staff_api("store_ops", locations=["S2"])
    refused = elsewhere.post(f"/api/v1/orders/{order['id']}/reallocate",
                             {"from_location": "S1", "reason": "x"}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "location_out_of_scope")
    unrelated = staff_api("store_ops", locations=["DC1"])
    assert unrelated.post(f"/api/v1/orders/{order['id']}/reallocate",
                          {"from_location": "S2", "reason": "x"}, format="json").status_code == 404
