"""The stock inquiry in a real browser: a store user searches, opens a level, filters its
ledger and finds the export link carrying the filters; every page passes axe-core."""

from datetime import timedelta

import pytest
from django.utils import timezone

from backoffice.staff import staff_user_upsert
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket
from retailops.roles import Role
from tests.browser import PASSWORD, audit, screenshot, sign_in
from tests.inventory.factories import LocationFactory, SkuFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stocked():
    north, south = LocationFactory(code="BRW-N", name="North Street"), LocationFactory(code="BRW-S")
    kettle = SkuFactory(code="BRW-KET", name="Steel kettle")
    post_movements([Movement(kettle.pk, north.pk, Bucket.ON_HAND, 12, reason="receipt"),
                    Movement(kettle.pk, south.pk, Bucket.ON_HAND, 5, reason="receipt")], document_type="demo")
    post_movements([Movement(kettle.pk, north.pk, Bucket.ON_HAND, -2, reason="sale",
                             occurred_at=timezone.now() - timedelta(hours=1)),
                    Movement(kettle.pk, north.pk, Bucket.DAMAGED, 1, reason="damage")],
                   document_type="order", document_id="41")
    staff_user_upsert(username="brw-store", role=Role.STORE_OPS, password=PASSWORD, location_codes=["BRW-N"])
    return kettle


def test_search_level_filter_and_export(open_page, stocked, axe):
    page = open_page()
    sign_in(page, "brw-store")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Stock", exact=True).click()
    page.get_by_label("SKU or location").fill("kettle")
    page.get_by_label("SKU or location").press("Enter")
    page.wait_for_load_state("networkidle")
    results = page.locator("#stock-results tbody tr")
    assert results.count() == 1 and "BRW-N" in results.inner_text()  # not BRW-S: not their store
    audit(page, axe)
    screenshot(page, "stock-search.png")
    page.screenshot(path="/tmp/insight_stock_search.png", full_page=True)

    page.get_by_role("link", name="BRW-KET").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="BRW-KET at BRW-N").is_visible()
    assert page.locator("#ledger tbody tr").count() == 3
    audit(page, axe)

    page.get_by_label("Bucket", exact=True).select_option("on_hand")
    page.get_by_label("Reason", exact=True).select_option("sale")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state("networkidle")
    rows = page.locator("#ledger tbody tr")
    assert rows.count() == 1 and "-2" in rows.inner_text()
    assert rows.get_by_role("link", name="Order 41").count() == 1
    export = page.get_by_role("link", name="Export these movements (CSV)")
    href = export.get_attribute("href")
    assert "bucket=on_hand" in href and "reason=sale" in href and href.split("?")[0].endswith("/movements.csv")
    audit(page, axe)
    screenshot(page, "stock-level.png")
    page.screenshot(path="/tmp/insight_stock_level.png", full_page=True)
    page.watch.assert_clean()
