"""The stock inquiry: every staff role finds a SKU's stock by SKU or location, opens a level
with its buckets, its other locations and its filtered ledger (each row linked to what
caused it), and exports either as CSV — a store user only at their stores."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inventory.adjustments import adjustment_request
from inventory.ingest import IncomingEvent, events_ingest
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket, InventoryEvent
from inventory.transfers import LineInput, transfer_request, transfer_ship
from retailops.access import LocationScope
from retailops.roles import Role
from tests.inventory.factories import LocationFactory, SkuFactory
from tests.inventory.test_screens import signed_in

pytestmark = pytest.mark.django_db

EVERYWHERE = LocationScope(None)


@pytest.fixture
def shop(db):
    class Shop:
        north = LocationFactory(code="INQ-N", name="North Street")
        south = LocationFactory(code="INQ-S", name="South Mall")
        dc = LocationFactory(code="INQ-DC", name="Central DC", dc=True)
        kettle = SkuFactory(code="KET-1", name="Steel kettle", unit_cost=Decimal("12.00"))
        toaster = SkuFactory(code="TOA-1", name="=HYPERLINK toaster")

    for location, units in ((Shop.north, 10), (Shop.south, 4), (Shop.dc, 200)):
        post_movements([Movement(Shop.kettle.pk, location.pk, Bucket.ON_HAND, units, reason="receipt")],
                       document_type="demo")
    post_movements([Movement(Shop.toaster.pk, Shop.north.pk, Bucket.ON_HAND, 3, reason="receipt")])
    return Shop


@pytest.fixture
def control(shop):
    return signed_in("inq-control", Role.INVENTORY_CONTROL)


@pytest.fixture
def clerk(shop):
    return signed_in("inq-clerk", Role.STORE_OPS, locations=[shop.north.code])


def level_url(sku, location):
    return reverse("inventory:stock_level", args=[sku.code, location.code])


def rows_of(response):
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.parametrize("role", list(Role))
def test_every_staff_role_finds_stock_from_the_top_bar(shop, role):
    client = signed_in(f"inq-{role}", role, locations=[shop.north.code] if role == Role.STORE_OPS else ())
    home = client.get("/", follow=True)
    assert {"label": "Stock", "url": reverse("inventory:stock")} in home.context["nav_items"]
    response = client.get(reverse("inventory:stock"), {"q": "KET-1"})
    assert response.status_code == 200
    assert "INQ-N" in {level.location.code for level in response.context["page"].object_list}


def test_search_by_sku_code_name_or_location(shop, control):
    def found(query):
        page = control.get(reverse("inventory:stock"), {"q": query}).context["page"]
        return {(level.sku.code, level.location.code) for level in page.object_list}

    assert found("ket-1") == {("KET-1", "INQ-N"), ("KET-1", "INQ-S"), ("KET-1", "INQ-DC")}
    assert found("kettle") == found("KET")
    assert found("INQ-N") == {("KET-1", "INQ-N"), ("TOA-1", "INQ-N")}
    assert found("south mall") == {("KET-1", "INQ-S")}
    assert found("nothing-like-it") == set()


def test_an_empty_search_lists_nothing_and_explains(shop, control):
    response = control.get(reverse("inventory:stock"))
    assert response.context["page"] is None
    assert b"Type a SKU code or name" in response.content


def test_a_store_user_finds_only_their_stores(shop, clerk):
    page = clerk.get(reverse("inventory:stock"), {"q": "KET-1"}).context["page"]
    assert {level.location.code for level in page.object_list} == {"INQ-N"}
    assert clerk.get(level_url(shop.kettle, shop.south)).status_code == 404
    level = clerk.get(level_url(shop.kettle, shop.north))
    assert [other.location.code for other in level.context["others"]] == ["INQ-N"]
    export = rows_of(clerk.get(reverse("inventory:stock_export"), {"q": "KET-1"}))
    assert [row[2] for row in export[1:]] == ["INQ-N"]


def test_the_search_page_costs_the_same_queries_for_more_levels(shop, control):
    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert control.get(reverse("inventory:stock"), {"q": "INQ"}).status_code == 200
        return len(captured)

    before = queries()
    for index in range(15):
        sku = SkuFactory(code=f"INQ-MORE-{index}")
        post_movements([Movement(sku.pk, shop.south.pk, Bucket.ON_HAND, 1, reason="receipt")])
    assert queries() == before


def test_the_level_page_shows_buckets_other_locations_and_the_ledger(shop, control):
    response = control.get(level_url(shop.kettle, shop.north))
    assert response.status_code == 200
    assert response.context["level"].on_hand == 10
    assert [other.location.code for other in response.context["others"]] == ["INQ-DC", "INQ-N", "INQ-S"]
    assert [row[0].delta for row in response.context["rows"]] == [10]
    assert response.context["rows"][0][1:3] == ("On hand", "Demo data")


def test_each_ledger_row_links_to_what_caused_it(shop, control):
    actor = control.user
    adjustment = adjustment_request(sku_code="KET-1", location_code="INQ-N", delta=-1, reason="shrink",
                                    actor=actor, scope=EVERYWHERE)
    transfer = transfer_request(from_code="INQ-N", to_code="INQ-S", lines=[LineInput("KET-1", 2)], actor=actor,
                                scope=EVERYWHERE)
    transfer_ship(transfer=transfer, actor=actor, scope=EVERYWHERE)
    events_ingest(source="pos-1", actor=actor, scope=EVERYWHERE, events=[IncomingEvent(
        event_id="sale-1", type="sale", sku="KET-1", location="INQ-N", quantity=1, occurred_at=timezone.now())])
    event = InventoryEvent.objects.get(event_id="sale-1")

    rows = control.get(level_url(shop.kettle, shop.north)).context["rows"]
    links = {source: url for _movement, _bucket, source, url in rows}
    assert links[f"Adjustment {adjustment.pk}"] == reverse("inventory:adjustment_detail", args=[adjustment.pk])
    assert links[f"Transfer {transfer.pk}"] == reverse("inventory:transfer_detail", args=[transfer.pk])
    assert links["Inbound event pos-1:sale-1"] == reverse("inventory:event_detail", args=[event.pk])
    for url in links.values():
        if url:
            assert control.get(url).status_code == 200, url


def test_the_ledger_filters_by_date_bucket_reason_and_document(shop, control):
    long_ago = timezone.now() - timedelta(days=40)
    post_movements([Movement(shop.kettle.pk, shop.north.pk, Bucket.ON_HAND, -2, reason="sale", occurred_at=long_ago),
                    Movement(shop.kettle.pk, shop.north.pk, Bucket.DAMAGED, 1, reason="damage")],
                   document_type="order", document_id="77")
    url = level_url(shop.kettle, shop.north)

    def deltas(**filters):
        response = control.get(url, filters)
        assert response.status_code == 200
        return sorted(row[0].delta for row in response.context["rows"])

    assert deltas() == [-2, 1, 10]
    assert deltas(since=(timezone.localdate() - timedelta(days=7)).isoformat()) == [1, 10]
    assert deltas(until=(timezone.localdate() - timedelta(days=30)).isoformat()) == [-2]
    assert deltas(bucket="damaged") == [1]
    assert deltas(reason="sale") == [-2]
    assert deltas(document_type="order", document_id="77") == [-2, 1]
    assert deltas(document_type="transfer") == []
    # A filter no field holds is shown as an error next to it, never a 500.
    bad = control.get(url, {"since": "not-a-date", "until": "2020-01-01"})
    assert bad.status_code == 200 and bad.context["form"].errors["since"]


def test_the_ledger_is_paged(shop, control):
    post_movements([Movement(shop.kettle.pk, shop.north.pk, Bucket.ON_HAND, 1, reason="found")
                    for _ in range(60)])
    first = control.get(level_url(shop.kettle, shop.north))
    assert len(first.context["rows"]) == 50 and first.context["page"].has_next()
    second = control.get(level_url(shop.kettle, shop.north), {"page": 2})
    assert len(second.context["rows"]) == 11


def test_the_movement_export_streams_and_honours_the_filters(shop, control):
    post_movements([Movement(shop.kettle.pk, shop.north.pk, Bucket.DAMAGED, 1, reason="damage")],
                   document_type="order", document_id="9")
    url = reverse("inventory:stock_level_export", args=["KET-1", "INQ-N"])
    response = control.get(url, {"bucket": "damaged"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv"
    rows = rows_of(response)
    assert rows[0][:6] == ["occurred_at", "recorded_at", "sku", "location", "bucket", "delta"]
    assert [(row[4], row[5], row[7], row[8]) for row in rows[1:]] == [("damaged", "1", "order", "9")]
    assert len(rows_of(control.get(url))) == 3  # header, the receipt, the damage


def test_the_levels_export_defuses_formulas_in_names(shop, control):
    rows = rows_of(control.get(reverse("inventory:stock_export"), {"q": "TOA-1"}))
    assert rows[1][:3] == ["TOA-1", "'=HYPERLINK toaster", "INQ-N"]
    assert rows[1][4] == "3"


def test_an_event_or_adjustment_elsewhere_is_not_found_for_a_store_user(shop, control, clerk):
    events_ingest(source="pos-1", actor=control.user, scope=EVERYWHERE, events=[IncomingEvent(
        event_id="sale-s", type="sale", sku="KET-1", location="INQ-S", quantity=1, occurred_at=timezone.now())])
    event = InventoryEvent.objects.get(event_id="sale-s")
    adjustment = adjustment_request(sku_code="KET-1", location_code="INQ-S", delta=1, reason="found_stock",
                                    actor=control.user, scope=EVERYWHERE)
    assert clerk.get(reverse("inventory:event_detail", args=[event.pk])).status_code == 404
    assert clerk.get(reverse("inventory:adjustment_detail", args=[adjustment.pk])).status_code == 404
    assert control.get(reverse("inventory:event_detail", args=[event.pk])).status_code == 200
