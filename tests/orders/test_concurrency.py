"""Holds and orders racing on PostgreSQL with real threads (issue 4, "Acceptance").

Every request starts at the same barrier on its own connection. After each race the
stock must be exact: no level oversold, `committed` equal to the sum of the active
(reserved or picked) allocations at every level, and the ledger without drift.
"""

import random
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient

from inventory.ledger import ledger_drifts
from inventory.models import StockLevel, StockMovement
from orders import services
from orders.callers import Caller
from orders.models import Allocation, Order
from orders.states import HOLDING_STATUSES, AllocationStatus, OrderStatus
from retailops.access import LocationScope
from tests.inventory.factories import SkuFactory
from tests.orders.factories import stock

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(calls):
    """Run every call on its own thread and connection, all released at once by a
    barrier; return their results in the order of `calls`."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list = []

    def run(index, call):
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a racing request never finished"
    assert not errors, errors
    return results


def client_for(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def post(token: str, url: str, body=None):
    return lambda: client_for(token).post(url, body or {}, format="json")


def outcome(response) -> tuple[int, str | None]:
    code = response.json().get("code") if response.status_code >= 400 else None
    return response.status_code, code


def assert_stock_is_exact():
    """No level oversold, committed == active allocations at every level, no drift."""
    held = {
        (row["sku_id"], row["location_id"]): row["total"]
        for row in Allocation.objects.filter(status__in=HOLDING_STATUSES)
        .values("sku_id", "location_id").annotate(total=Sum("quantity"))
    }
    levels = list(StockLevel.objects.all())
    for level in levels:
        assert level.committed == held.get((level.sku_id, level.location_id), 0), level
        assert level.available >= 0, f"{level} oversold: available {level.available}"
    assert set(held) <= {(level.sku_id, level.location_id) for level in levels}
    assert ledger_drifts() == []


@pytest.fixture
def partner(partner_api):
    return partner_api().issued


@pytest.fixture
def token(partner):
    return partner.token


def caller_for(issued) -> Caller:
    """The partner of `issued` as the services see it, for setup outside the race."""
    return Caller(actor=issued.client.user, external_system_id=issued.client.external_system_id,
                  scope=LocationScope(None))


@pytest.mark.parametrize("stock_at", [{"DC1": 25}, {"DC1": 10, "S1": 8, "S2": 7}], ids=["one-location", "spread"])
def test_sixty_simultaneous_one_unit_holds_on_twenty_five_available_hold_exactly_twenty_five(shop, token, stock_at):
    locations = {"DC1": shop.dc, "S1": shop.s1, "S2": shop.s2}
    for code, units in stock_at.items():
        stock(shop.a, locations[code], units)
    hold = {"sku": "A", "quantity": 1, "channel": "web"}

    responses = race([post(token, "/api/v1/reservations", hold) for _ in range(60)])

    assert Counter(outcome(response) for response in responses) == {(201, None): 25,
                                                                    (409, "insufficient_stock"): 35}
    held_where = Counter(response.json()["location"] for response in responses if response.status_code == 201)
    assert held_where == stock_at
    assert Allocation.objects.filter(status=AllocationStatus.RESERVED).count() == 25
    assert sum(StockLevel.objects.values_list("committed", flat=True)) == 25
    assert_stock_is_exact()


def test_multi_line_orders_taking_the_same_skus_in_opposite_orders_never_fail_with_a_deadlock(shop, token):
    c = SkuFactory(code="C")
    skus = {"A": shop.a, "B": shop.b, "C": c}
    for sku in skus.values():
        stock(sku, shop.dc, 12)
        stock(sku, shop.s1, 6)
    rng = random.Random(7)
    bodies = []
    for n in range(24):
        codes = ["A", "B", "C"] if n % 2 else ["C", "B", "A"]
        if n % 3 == 0:
            codes = codes[:2]
        bodies.append({"external_id": f"race-{n}", "channel": "web", "fulfillment": "ship",
                       "lines": [{"line_id": str(i), "sku": code, "quantity": rng.randint(1, 2)}
                                 for i, code in enumerate(codes)]})

    responses = race([post(token, "/api/v1/orders", body) for body in bodies])

    outcomes = Counter(outcome(response) for response in responses)
    assert set(outcomes) <= {(201, None), (409, "insufficient_stock")}, outcomes
    assert outcomes[(201, None)] >= 9  # 18 units of each SKU, at most 2 per order: any nine orders fit
    placed = [body for body, response in zip(bodies, responses, strict=True) if response.status_code == 201]
    assert sorted(Order.objects.values_list("external_id", flat=True)) == sorted(b["external_id"] for b in placed)
    for response in responses:
        if response.status_code == 201:
            for line in response.json()["lines"]:
                assert sum(a["quantity"] for a in line["allocations"]) == line["quantity"]
    left = {}
    for code, sku in skus.items():
        ordered = sum(line["quantity"] for body in placed for line in body["lines"] if line["sku"] == code)
        assert StockLevel.objects.filter(sku=sku).aggregate(total=Sum("committed"))["total"] == ordered
        left[code] = 18 - ordered
    # Stock only went down during the race: an order refused then would not fit now either.
    for body in bodies:
        if body not in placed:
            assert any(line["quantity"] > left[line["sku"]] for line in body["lines"]), (body, left)
    assert_stock_is_exact()


def test_ship_and_cancel_racing_on_one_order_exactly_one_wins(shop, token):
    stock(shop.a, shop.dc, 100)
    stock(shop.b, shop.s1, 100)
    api = client_for(token)
    winners = Counter()
    for round_number in range(8):
        order = api.post("/api/v1/orders", {
            "external_id": f"ship-or-cancel-{round_number}", "channel": "web", "fulfillment": "ship",
            "lines": [{"line_id": "1", "sku": "A", "quantity": 2}, {"line_id": "2", "sku": "B", "quantity": 1}],
        }, format="json").json()
        calls = {"ship": post(token, f"/api/v1/orders/{order['id']}/ship"),
                 "cancel": post(token, f"/api/v1/orders/{order['id']}/cancel")}
        verbs = list(calls)
        random.Random(round_number).shuffle(verbs)

        responses = dict(zip(verbs, race([calls[verb] for verb in verbs]), strict=True))

        won = [verb for verb, response in responses.items() if response.status_code == 200]
        assert len(won) == 1, {verb: outcome(response) for verb, response in responses.items()}
        (lost,) = set(calls) - set(won)
        assert outcome(responses[lost]) == (409, "invalid_state")
        winners[won[0]] += 1
        expected_status = OrderStatus.SHIPPED if won == ["ship"] else OrderStatus.CANCELLED
        assert Order.objects.get(pk=order["id"]).status == expected_status
        assert_stock_is_exact()

    shipped = winners["ship"]
    level_a = StockLevel.objects.get(sku=shop.a, location=shop.dc)
    level_b = StockLevel.objects.get(sku=shop.b, location=shop.s1)
    assert (level_a.on_hand, level_a.committed) == (100 - 2 * shipped, 0)
    assert (level_b.on_hand, level_b.committed) == (100 - shipped, 0)


def test_holds_expiring_while_orders_consume_them_are_never_counted_twice(shop, partner, token):
    """24 one-unit holds take all 24 units; 16 are past due. Sweeps race 24 orders, each
    naming one hold. A live hold is consumed; a due hold is expired once (by a sweep, or
    by the order that finds it due) and its unit sourced afresh. So every order fits and
    the 24 units end up allocated exactly once."""
    stock(shop.a, shop.dc, 24)
    caller = caller_for(partner)
    hold_ids = [services.reservation_create(caller=caller, sku_code="A", quantity=1, channel_code="web").pk
                for _ in range(24)]
    due = hold_ids[::3] + hold_ids[1::3]
    Allocation.objects.filter(pk__in=due).update(expires_at=timezone.now() - timedelta(seconds=1))
    orders = [post(token, "/api/v1/orders", {
        "external_id": f"consume-{hold_id}", "channel": "web", "fulfillment": "ship",
        "lines": [{"line_id": "1", "sku": "A", "quantity": 1, "reservation": hold_id}]}) for hold_id in hold_ids]

    def sweep():
        return sum(services.reservations_expire_due(batch_size=3) for _ in range(3))

    results = race(orders + [sweep] * 4)

    responses, swept = results[:24], sum(results[24:])
    assert Counter(outcome(response) for response in responses) == {(201, None): 24}
    statuses = dict(Allocation.objects.filter(pk__in=hold_ids).values_list("pk", "status"))
    assert sorted(pk for pk, status in statuses.items() if status == AllocationStatus.EXPIRED) == sorted(due)
    assert swept <= len(due)
    live = set(hold_ids) - set(due)
    consumed = Allocation.objects.filter(pk__in=live, status=AllocationStatus.RESERVED, line__isnull=False)
    assert consumed.count() == len(live)
    given_back = StockMovement.objects.filter(reason__in=["reservation_expired", "reservation_released"])
    assert given_back.aggregate(total=Sum("delta"))["total"] == -len(due)
    level = StockLevel.objects.get(sku=shop.a, location=shop.dc)
    assert (level.on_hand, level.committed) == (24, 24)
    assert_stock_is_exact()

    for order in Order.objects.all():
        assert services.order_ship(order=order, caller=caller).status == OrderStatus.SHIPPED
    level.refresh_from_db()
    assert (level.on_hand, level.committed) == (0, 0)
    assert_stock_is_exact()
