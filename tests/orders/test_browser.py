"""The order screens in a real browser (Playwright driving Debian's Chromium against the
live server): orders placed by a partner through the API are found with the list's
filters (by mouse and by keyboard), opened, read — lines, allocations, the sourcing
explanation, history — and shipped from one location through the page's own form. No
page raises a JS error, logs a console error or answers 500; every page passes axe-core
and the form-label check. Screenshots land in var/test-artifacts/ (or
$TEST_ARTIFACTS_DIR).
"""

import pytest

from backoffice.staff import staff_user_upsert
from orders.models import Order
from orders.states import OrderStatus
from retailops.roles import Role
from tests.browser import PASSWORD, audit, screenshot, sign_in
from tests.inventory.factories import LocationFactory
from tests.orders.factories import stock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def placed(shop, partner_api):
    """Through the partner API: W-100 (line 1 at the DC; line 2 split over two stores,
    S3 left out because it may not ship) and W-101, cancelled by the partner."""
    s3 = LocationFactory(code="S3", ship_from_store=False)
    stock(shop.a, shop.dc, 5)
    stock(shop.b, shop.s1, 2)
    stock(shop.b, shop.s2, 2)
    stock(shop.b, s3, 9)
    staff_user_upsert(username="control", role=Role.INVENTORY_CONTROL, password=PASSWORD)
    web = partner_api("web-shop", kind="web", scopes=["orders"])
    orders = {}
    for external_id, lines in (("W-100", [{"line_id": "1", "sku": "A", "quantity": 2},
                                          {"line_id": "2", "sku": "B", "quantity": 3}]),
                               ("W-101", [{"line_id": "1", "sku": "A", "quantity": 1}])):
        response = web.post("/api/v1/orders", {"external_id": external_id, "channel": "web", "fulfillment": "ship",
                                               "lines": lines}, format="json")
        assert response.status_code == 201, response.content
        orders[external_id] = response.json()["id"]
    assert web.post(f"/api/v1/orders/{orders['W-101']}/cancel", format="json").status_code == 200
    return orders


def listed(page) -> list[str]:
    return page.locator("table.orders-table tbody th[scope=row]").all_inner_texts()


def test_control_finds_reads_and_ships_an_order(open_page, placed, axe):
    page = open_page()
    sign_in(page, "control")
    page.goto("/orders/")
    assert listed(page) == ["W-101", "W-100"]
    counts = page.get_by_role("navigation", name="Orders by status")
    assert counts.get_by_role("link", name="Cancelled 1").is_visible()
    assert counts.get_by_role("link", name="Allocated 1").is_visible()
    audit(page, axe)
    screenshot(page, "orders-list.png")

    page.get_by_label("Status", exact=True).select_option("cancelled")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state("networkidle")
    assert "status=cancelled" in page.url
    assert listed(page) == ["W-101"]

    # By keyboard: clear the filters, then type an external id and press Enter.
    page.get_by_role("link", name="Clear filters").focus()
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    page.get_by_label("External id").focus()
    page.keyboard.type("W-100")
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert listed(page) == ["W-100"]

    page.get_by_role("link", name="W-100").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/orders/{placed['W-100']}/")
    assert page.get_by_role("heading", name="Order W-100").is_visible()
    assert page.get_by_role("heading", name="Why it was sourced here").count() == 2
    line_2 = page.locator("section.orders-line", has_text="Line 2")
    allocations = line_2.locator("table", has_text="Allocations").locator("tbody th").all_inner_texts()
    assert sorted(cell.split()[0] for cell in allocations) == ["S1", "S2"]
    candidates = line_2.locator("table", has_text="Candidates considered")
    assert candidates.locator("tr", has_text="S3").get_by_text("No: not flagged for shipping").is_visible()
    assert "split over the fewest locations" in line_2.inner_text()
    audit(page, axe)
    screenshot(page, "order-detail.png")

    # The browser will not send a cancellation without its reason.
    page.get_by_role("button", name="Cancel order").click()
    assert page.get_by_label("Cancellation reason").evaluate("field => field.validity.valueMissing")
    assert Order.objects.get(pk=placed["W-100"]).status == OrderStatus.ALLOCATED

    page.get_by_label("Ship from").select_option("S1")
    page.get_by_role("button", name="Ship", exact=True).click()
    page.wait_for_load_state("networkidle")
    assert page.locator(".messages").inner_text().strip() == "Shipped."
    assert Order.objects.get(pk=placed["W-100"]).status == OrderStatus.PARTIALLY_SHIPPED
    assert [option.strip() for option in page.get_by_label("Ship from").locator("option").all_inner_texts()] == [
        "Every allocated location", "DC1 only", "S2 only"]
    newest = page.locator("section.orders-history tbody tr").filter(has_text="Order changed").first
    assert "control" in newest.inner_text()
    assert "status: allocated → partially_shipped" in newest.inner_text()
    audit(page, axe)
    screenshot(page, "order-shipped.png")
    page.watch.assert_clean()
