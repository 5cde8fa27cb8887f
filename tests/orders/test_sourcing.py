"""Sourcing rules: eligible candidates, enough available, fewest splits, then priority
and region, then most available — and every decision explained."""

from decimal import Decimal

import pytest

from inventory.models import Channel, Location
from orders.callers import Caller
from orders.services import LineInput, order_create, reservation_create
from retailops.access import LocationScope
from tests.inventory.factories import ChannelFactory, LocationFactory
from tests.orders.factories import stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def caller(django_user_model):
    return Caller(actor=django_user_model.objects.create(username="tester"), external_system_id=None,
                  scope=LocationScope(None))


def place(caller, *lines, external_id="o-1", channel="web", region="", **kwargs):
    order, _created = order_create(caller=caller, external_id=external_id, channel_code=channel,
                                   fulfillment=kwargs.pop("fulfillment", "ship"), region=region,
                                   lines=[LineInput(*line) for line in lines], **kwargs)
    return {line.line_id: line for line in order.lines.prefetch_related("allocations__location")}


def takes(line):
    return sorted((a.location.code, a.quantity) for a in line.allocations.all())


def test_one_location_for_the_whole_line_beats_more_available_split(caller, shop):
    stock(shop.a, shop.s1, 3)
    stock(shop.a, shop.s2, 3)
    stock(shop.a, shop.dc, 4)
    lines = place(caller, ("1", "A", 4))
    assert takes(lines["1"]) == [("DC1", 4)]
    assert lines["1"].sourcing["rule"] == "whole_line_at_one_location"


def test_a_split_uses_the_fewest_locations(caller, shop):
    s3 = LocationFactory(code="S3")
    stock(shop.a, shop.s1, 1)
    stock(shop.a, shop.s2, 4)
    stock(shop.a, s3, 3)
    lines = place(caller, ("1", "A", 7))
    assert takes(lines["1"]) == [("S2", 4), ("S3", 3)]
    assert lines["1"].sourcing["rule"] == "split_fewest_locations"


def test_one_location_for_the_whole_order_beats_one_per_line(caller, shop):
    stock(shop.a, shop.dc, 10)
    stock(shop.a, shop.s1, 2)
    stock(shop.b, shop.s1, 2)
    lines = place(caller, ("1", "A", 2), ("2", "B", 2))
    assert takes(lines["1"]) == takes(lines["2"]) == [("S1", 2)]
    assert lines["1"].sourcing["rule"] == "whole_order_at_one_location"


def test_location_priority_puts_distribution_centres_before_stores(caller, shop):
    stock(shop.a, shop.s1, 50)
    stock(shop.a, shop.dc, 5)
    assert takes(place(caller, ("1", "A", 2))["1"]) == [("DC1", 2)]


def test_between_equal_kinds_the_orders_region_wins(caller, shop):
    stock(shop.a, shop.s1, 50)
    stock(shop.a, shop.s2, 5)
    assert takes(place(caller, ("1", "A", 2), region="south")["1"]) == [("S2", 2)]


def test_then_the_most_available_wins(caller, shop):
    stock(shop.a, shop.s1, 5)
    stock(shop.a, shop.s2, 9)
    assert takes(place(caller, ("1", "A", 2))["1"]) == [("S2", 2)]


def test_a_store_below_the_confidence_threshold_is_not_offered_to_ship_channels(caller, shop):
    Location.objects.filter(pk=shop.s1.pk).update(confidence=Decimal("0.5"))
    stock(shop.a, shop.s1, 10)
    stock(shop.a, shop.s2, 1)
    lines = place(caller, ("1", "A", 1))
    assert takes(lines["1"]) == [("S2", 1)]
    excluded = {c["location"]: c.get("excluded") for c in lines["1"].sourcing["candidates"]}
    assert excluded["S1"] == "confidence below threshold"


def test_locations_not_flagged_for_shipping_are_not_offered(caller, shop):
    no_ship = LocationFactory(code="S9", ship_from_store=False)
    stock(shop.a, no_ship, 10)
    with pytest.raises(Exception) as error:
        place(caller, ("1", "A", 1))
    assert error.value.code == "insufficient_stock"


def test_point_of_sale_sells_from_stores_only(caller, shop):
    ChannelFactory(code="till", kind=Channel.Kind.POS)
    stock(shop.a, shop.dc, 10)
    stock(shop.a, shop.s1, 1)
    assert takes(place(caller, ("1", "A", 1), channel="till")["1"]) == [("S1", 1)]


def test_the_channel_buffer_applies_per_location(caller, shop):
    shop.web.safety_buffer = 3
    shop.web.save()
    stock(shop.a, shop.s1, 4)
    stock(shop.a, shop.s2, 4)
    lines = place(caller, ("1", "A", 2))
    assert takes(lines["1"]) == [("S1", 1), ("S2", 1)]
    assert {c["available"] for c in lines["1"].sourcing["candidates"]} == {1}


def test_two_lines_of_one_sku_do_not_count_the_same_units_twice(caller, shop):
    stock(shop.a, shop.s1, 3)
    stock(shop.a, shop.s2, 3)
    lines = place(caller, ("1", "A", 3), ("2", "A", 3))
    assert sorted(takes(lines["1"]) + takes(lines["2"])) == [("S1", 3), ("S2", 3)]


def test_the_explanation_lists_candidates_with_their_available_figures(caller, shop):
    stock(shop.a, shop.s1, 3)
    stock(shop.a, shop.s2, 7)
    explanation = place(caller, ("1", "A", 2))["1"].sourcing
    assert explanation["requested"] == 2
    assert explanation["ranking"].startswith("fewest splits")
    assert [(c["location"], c["available"], c.get("allocated")) for c in explanation["candidates"]] == [
        ("S2", 7, 2), ("S1", 3, None)]
    assert explanation["attempt"] == 1


def test_a_hold_records_why_it_went_where_it_did(caller, shop):
    stock(shop.a, shop.s1, 3)
    hold = reservation_create(caller=caller, sku_code="A", quantity=1, channel_code="web")
    assert hold.sourcing["rule"] == "whole_line_at_one_location"
    assert hold.sourcing["candidates"][0]["location"] == "S1"


def test_when_stock_moves_under_the_plan_the_next_candidate_is_tried(caller, shop, monkeypatch):
    """The guard re-checks under the lock; a refused plan is re-made from what it saw."""
    from inventory.ledger import Movement, post_movements
    from inventory.models import Bucket
    from orders import sourcing

    stock(shop.a, shop.s1, 5)
    stock(shop.a, shop.s2, 3)
    real_read = sourcing.Snapshot.read

    def read_then_sell(**kwargs):
        snapshot = real_read(**kwargs)
        # A till sells S2's... no: S1's stock after the unlocked read, before the locks.
        post_movements([Movement(shop.a.pk, shop.s1.pk, Bucket.ON_HAND, -5, reason="sale")])
        return snapshot

    monkeypatch.setattr(sourcing.Snapshot, "read", staticmethod(read_then_sell))
    lines = place(caller, ("1", "A", 2))
    assert takes(lines["1"]) == [("S2", 2)]
    assert lines["1"].sourcing["attempt"] == 2
