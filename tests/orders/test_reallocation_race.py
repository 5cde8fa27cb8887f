"""A reallocation racing a ship from the same location, on PostgreSQL with real threads:
exactly one wins, and the stock stays exact."""

import random
from collections import Counter

import pytest

from inventory.models import StockLevel
from orders.models import Allocation, Order
from orders.states import AllocationStatus, OrderStatus
from tests.orders.factories import stock
from tests.orders.test_concurrency import assert_stock_is_exact, client_for, outcome, post, race

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_reallocate_and_ship_from_the_same_location_racing_exactly_one_wins(shop, partner_api):
    token = partner_api().issued.token
    stock(shop.a, shop.dc, 100)
    stock(shop.a, shop.s1, 100)
    api = client_for(token)
    winners = Counter()
    for round_number in range(8):
        order = api.post("/api/v1/orders", {
            "external_id": f"move-or-ship-{round_number}", "channel": "web", "fulfillment": "ship",
            "lines": [{"line_id": "1", "sku": "A", "quantity": 2}],
        }, format="json").json()
        assert order["lines"][0]["allocations"][0]["location"] == "DC1"
        calls = {"ship": post(token, f"/api/v1/orders/{order['id']}/ship", {"location": "DC1"}),
                 "reallocate": post(token, f"/api/v1/orders/{order['id']}/reallocate",
                                    {"from_location": "DC1", "reason": "racing the dock"})}
        verbs = list(calls)
        random.Random(round_number).shuffle(verbs)

        responses = dict(zip(verbs, race([calls[verb] for verb in verbs]), strict=True))

        won = [verb for verb, response in responses.items() if response.status_code == 200]
        assert len(won) == 1, {verb: outcome(response) for verb, response in responses.items()}
        (lost,) = set(calls) - set(won)
        assert outcome(responses[lost]) == (409, "invalid_state")
        winners[won[0]] += 1
        placed = Order.objects.get(pk=order["id"])
        if won == ["ship"]:
            assert placed.status == OrderStatus.SHIPPED
            assert not Allocation.objects.filter(order=placed, status=AllocationStatus.REALLOCATED).exists()
        else:
            assert placed.status == OrderStatus.ALLOCATED
            assert list(Allocation.objects.filter(order=placed, status=AllocationStatus.RESERVED)
                        .values_list("location__code", flat=True)) == ["S1"]
        assert_stock_is_exact()

    dc = StockLevel.objects.get(sku=shop.a, location=shop.dc)
    s1 = StockLevel.objects.get(sku=shop.a, location=shop.s1)
    assert (dc.on_hand, dc.committed) == (100 - 2 * winners["ship"], 0)
    assert (s1.on_hand, s1.committed) == (100, 2 * winners["reallocate"])
