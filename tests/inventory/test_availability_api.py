"""GET /api/v1/availability (API.md "Availability")."""

from decimal import Decimal

import pytest

from inventory.ledger import Movement, post_movements
from inventory.models import Location
from tests.inventory.factories import ChannelFactory, LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/availability"


def stock(sku, location, **buckets):
    post_movements([Movement(sku_id=sku.pk, location_id=location.pk, bucket=bucket, delta=delta, reason="test")
                    for bucket, delta in buckets.items() if delta])


@pytest.fixture
def world():
    a, b = SkuFactory(code="A"), SkuFactory(code="B")
    store = LocationFactory(code="S1", ship_from_store=True)
    dim_store = LocationFactory(code="S2", ship_from_store=True, confidence=Decimal("0.5"))
    dc = LocationFactory(code="DC1", kind=Location.Kind.DC, ship_from_store=True, pickup=False)
    ChannelFactory(code="web", kind="web", safety_buffer=2)
    ChannelFactory(code="pos", kind="pos", safety_buffer=0)
    stock(a, store, on_hand=10, committed=3, damaged=1, quality_control=1)
    stock(a, dim_store, on_hand=6)
    stock(a, dc, on_hand=50, incoming=7)
    stock(b, store, on_hand=1)
    return a, b


@pytest.fixture
def client(partner_api):
    return partner_api(scopes=["availability"])


def rows(response):
    assert response.status_code == 200, response.content
    return {(row["sku"], row["location"]): row for row in response.json()["results"]}


def totals(response):
    return {row["sku"]: row["available"] for row in response.json()["totals"]}


def test_buckets_and_available_without_a_channel(world, client):
    response = client.get(URL, {"sku": ["A", "B"]})
    result = rows(response)

    assert result[("A", "S1")] == {"sku": "A", "location": "S1", "on_hand": 10, "committed": 3, "unavailable": 2,
                                   "available": 5, "incoming": 0}
    assert result[("A", "DC1")]["incoming"] == 7
    assert totals(response) == {"A": 5 + 6 + 50, "B": 1}


def test_a_channel_holds_back_its_buffer_and_skips_ineligible_locations(world, client):
    response = client.get(URL, {"sku": ["A", "B"], "channel": "web"})
    result = rows(response)

    assert result[("A", "S1")]["available"] == 3  # 5 − buffer 2
    assert result[("A", "S2")]["available"] == 0  # confidence 0.5 is below the threshold
    assert result[("A", "DC1")]["available"] == 48
    assert result[("B", "S1")]["available"] == 0  # never below zero
    assert totals(response) == {"A": 51, "B": 0}


def test_point_of_sale_sells_from_stores_only(world, client):
    result = rows(client.get(URL, {"sku": "A", "channel": "pos"}))
    assert result[("A", "DC1")]["available"] == 0
    assert result[("A", "S2")]["available"] == 6


def test_filtering_by_location(world, client):
    result = rows(client.get(URL, {"sku": "A", "location": ["S1", "DC1"]}))
    assert set(result) == {("A", "S1"), ("A", "DC1")}


def test_a_sku_without_stock_anywhere_totals_zero(world, client):
    SkuFactory(code="C")
    response = client.get(URL, {"sku": "C"})
    assert response.json() == {"results": [], "totals": [{"sku": "C", "available": 0}]}


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "required"),
        ({"sku": "NOPE"}, "unknown_sku"),
        ({"sku": "A", "location": "NOWHERE"}, "unknown_location"),
        ({"sku": "A", "channel": "fax"}, "unknown_channel"),
        ({"sku": [f"X{n}" for n in range(101)]}, "max_length"),
        ({"sku": " "}, "blank"),
        ({"sku": "X" * 65}, "max_length"),
        ({"sku": "A", "location": ""}, "blank"),
        ({"sku": "A", "channel": " "}, "blank"),
    ],
)
def test_bad_queries_are_400_problems(world, client, params, code):
    response = client.get(URL, params)
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_a_scoped_token_sees_only_its_locations(world, partner_api):
    client = partner_api("mkt", scopes=["availability"], locations=["S1"])
    assert set(rows(client.get(URL, {"sku": "A"}))) == {("A", "S1")}
    outside = client.get(URL, {"sku": "A", "location": "DC1"})
    assert outside.status_code == 403
    assert outside.json()["code"] == "location_out_of_scope"


def test_store_staff_see_only_their_stores(world, staff_api):
    store = staff_api("store_ops", locations=["S2"])
    assert set(rows(store.get(URL, {"sku": "A"}))) == {("A", "S2")}


def test_many_skus_cost_a_fixed_number_of_queries(world, client, django_assert_num_queries):
    for index in range(20):
        SkuFactory(code=f"K{index}")
    client.get(URL, {"sku": "A"})  # the token's first use records last_used_at
    # The token's client, the levels with their codes, the channel; the SKU codes only when
    # some have no level (to tell them from unknown ones); the locations only when named.
    with django_assert_num_queries(4):
        client.get(URL, {"sku": [f"K{index}" for index in range(20)], "channel": "web"})
    with django_assert_num_queries(3):
        client.get(URL, {"sku": ["A"], "channel": "web"})
    with django_assert_num_queries(5):
        client.get(URL, {"sku": [f"K{index}" for index in range(20)], "location": ["DC1"], "channel": "web"})
