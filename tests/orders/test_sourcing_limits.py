"""Sourcing uses capacity, channel priority, region and the fulfilment SLA, and its
explanation names each rule that decided."""

import pytest

from orders.callers import Caller
from orders.models import Order
from orders.services import LineInput, order_cancel, order_create
from retailops.access import LocationScope
from tests.inventory.factories import ChannelFactory
from tests.orders.factories import stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def caller(django_user_model):
    return Caller(actor=django_user_model.objects.create(username="tester"), external_system_id=None,
                  scope=LocationScope(None))


counter = {"n": 0}


def place(caller, sku="A", quantity=1, channel="web", region=""):
    counter["n"] += 1
    order, _created = order_create(caller=caller, external_id=f"limit-{counter['n']}", channel_code=channel,
                                   fulfillment="ship", region=region,
                                   lines=[LineInput(line_id="1", sku=sku, quantity=quantity)])
    line = order.lines.prefetch_related("allocations__location").get()
    return [a.location.code for a in line.allocations.all()], line.sourcing


def candidate(explanation, code):
    return next(c for c in explanation["candidates"] if c["location"] == code)


def test_a_location_at_its_daily_capacity_is_skipped_and_the_explanation_says_so(caller, shop):
    shop.dc.capacity = 2
    shop.dc.save()
    stock(shop.a, shop.dc, 50)
    stock(shop.a, shop.s1, 50)

    first = [place(caller)[0] for _ in range(2)]
    third, explanation = place(caller)

    assert first == [["DC1"], ["DC1"]]
    assert third == ["S1"]
    dc = candidate(explanation, "DC1")
    assert dc["eligible"] is False
    assert dc["excluded_by"] == "capacity"
    assert dc["capacity"] == {"open_today": 2, "limit": 2, "limit_for_channel": 2}
    assert "at capacity: 2 of 2" in dc["excluded"]
    assert "capacity" in explanation["decided_by"]


def test_cancelled_orders_give_their_capacity_back(caller, shop):
    shop.dc.capacity = 1
    shop.dc.save()
    stock(shop.a, shop.dc, 50)
    stock(shop.a, shop.s1, 50)
    assert place(caller)[0] == ["DC1"]
    order_cancel(order=Order.objects.get(), caller=caller, reason="customer changed their mind")

    assert place(caller)[0] == ["DC1"]


def test_the_last_share_of_capacity_is_kept_for_the_highest_priority_channel(caller, shop, settings):
    settings.SOURCING_PRIORITY_CAPACITY_SHARE = "0.5"
    shop.web.priority = 1
    shop.web.save()
    ChannelFactory(code="vip", kind="web", priority=9)
    shop.dc.capacity = 4
    shop.dc.save()
    stock(shop.a, shop.dc, 50)
    stock(shop.a, shop.s1, 50)

    web_orders = [place(caller, channel="web")[0] for _ in range(3)]
    vip_orders = [place(caller, channel="vip")[0] for _ in range(3)]

    # web may use 4 × (1 − 0.5) = 2 slots; vip the whole 4.
    assert web_orders == [["DC1"], ["DC1"], ["S1"]]
    assert vip_orders == [["DC1"], ["DC1"], ["S1"]]
    _where, web_explanation = place(caller, channel="web")
    dc = candidate(web_explanation, "DC1")
    assert dc["excluded_by"] == "capacity"  # full now, for everyone
    assert web_explanation["channel"] == {"code": "web", "priority": 1}


def test_channel_priority_exclusion_is_named_in_the_explanation(caller, shop, settings):
    settings.SOURCING_PRIORITY_CAPACITY_SHARE = "0.5"
    ChannelFactory(code="vip", kind="web", priority=9)
    shop.dc.capacity = 2
    shop.dc.save()
    stock(shop.a, shop.dc, 50)
    stock(shop.a, shop.s1, 50)
    assert place(caller, channel="web")[0] == ["DC1"]

    where, explanation = place(caller, channel="web")

    assert where == ["S1"]
    dc = candidate(explanation, "DC1")
    assert dc["excluded_by"] == "channel_priority"
    assert "kept for higher-priority channels" in dc["excluded"]
    assert explanation["decided_by"] == ["whole_line_at_one_location", "channel_priority"]
    # The top channel may still use the slot.
    assert place(caller, channel="vip")[0] == ["DC1"]


def test_with_a_region_a_location_that_meets_the_sla_beats_location_priority(caller, shop, settings):
    settings.FULFILMENT_SLA_HOURS = {"web": 48}
    settings.SOURCING_HANDLING_HOURS = {"dc": 24, "store": 12}
    settings.SOURCING_TRANSIT_HOURS = {"same_region": 24, "other_region": 72}
    stock(shop.a, shop.dc, 50)  # north: 24 + 72 = 96 h to the south, misses a 48 h SLA
    stock(shop.a, shop.s2, 5)  # south: 12 + 24 = 36 h

    where, explanation = place(caller, region="south")

    assert where == ["S2"]
    assert explanation["decided_by"] == ["whole_line_at_one_location", "fulfilment_sla"]
    assert explanation["sla_hours"] == 48
    s2 = candidate(explanation, "S2")
    assert (s2["estimated_hours"], s2["meets_sla"]) == (36, True)
    assert candidate(explanation, "DC1")["meets_sla"] is False


def test_without_sla_pressure_location_priority_decides_and_is_named(caller, shop):
    stock(shop.a, shop.dc, 5)
    stock(shop.a, shop.s1, 50)

    where, explanation = place(caller, region="north")

    assert where == ["DC1"]
    assert explanation["decided_by"] == ["whole_line_at_one_location", "location_priority"]


def test_region_then_most_available_are_named_when_they_decide(caller, shop, settings):
    settings.FULFILMENT_SLA_HOURS = {"web": 200}  # every location meets it
    stock(shop.a, shop.s1, 50)
    stock(shop.a, shop.s2, 5)
    assert place(caller, region="south")[1]["decided_by"] == ["whole_line_at_one_location", "region"]
    assert place(caller)[1]["decided_by"] == ["whole_line_at_one_location", "most_available"]
