"""The returns desk in a real browser, by keyboard only: a store clerk types the RA
number, receives the units, then splits them in the disposition grid; the list and the
detail follow. No JS error, no 5xx; every page passes axe-core and the label check.
Screenshots go to /tmp/returns_*.png."""

import pytest

from backoffice.staff import staff_user_upsert
from inventory.models import StockLevel
from retailops.roles import Role
from returns.models import ReturnAuthorization
from tests.browser import PASSWORD, audit, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page, name: str) -> None:
    page.screenshot(path=f"/tmp/returns_{name}.png", full_page=True)


def test_a_clerk_receives_and_inspects_a_return_by_keyboard(open_page, place, partner_api, axe):
    staff_user_upsert(username="clerk", role=Role.STORE_OPS, password=PASSWORD, location_codes=["S1"])
    shop = partner_api("web-shop", kind="web", scopes=["returns"])
    response = shop.post("/api/v1/returns", {"external_id": "RA-7001", "location": "S1", "lines": [
        {"sku": "A", "quantity": 3, "reason": "too small"}, {"sku": "B", "quantity": 1, "reason": "faulty"}]},
        format="json")
    assert response.status_code == 201, response.content

    page = open_page()
    sign_in(page, "clerk")
    page.goto("/returns/desk/")
    assert page.evaluate("document.activeElement.id") == "id_reference"  # ready for the scanner
    page.keyboard.type("RA-7001")
    page.keyboard.press("Enter")
    page.wait_for_url("**/returns/desk/?reference=RA-7001")
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="Return RA-7001 at S1").is_visible()
    shot(page, "desk_found")

    # Receive: the fields are prefilled with what is expected; Tab to the button, Enter.
    page.get_by_label("A arrived now").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("3")
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("1")
    page.get_by_role("button", name="Receive units").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("4 unit(s) received into quality control", exact=False).is_visible()
    audit(page, axe)
    shot(page, "desk_received")

    # Inspect A: two restocked, one damaged; B written off — along the rows by Tab.
    page.get_by_label("A: Restock (available again)").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("2")
    page.keyboard.press("Tab")
    page.keyboard.type("1")
    page.get_by_label("B: Restock (available again)").focus()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.type("1")
    page.get_by_role("button", name="Record inspection").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert page.get_by_text("4 unit(s) inspected").is_visible()
    audit(page, axe)
    shot(page, "desk_inspected")

    authorization = ReturnAuthorization.objects.get()
    assert authorization.status == "inspected"
    a = StockLevel.objects.get(sku=place.a, location=place.store)
    b = StockLevel.objects.get(sku=place.b, location=place.store)
    assert (a.on_hand, a.quality_control, a.damaged, a.available) == (3, 0, 1, 2)
    assert (b.on_hand, b.quality_control) == (0, 0)

    page.get_by_role("link", name="Timeline and history of return RA-7001").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", name="History", exact=True).is_visible()
    audit(page, axe)
    shot(page, "detail")

    page.goto("/returns/?status=inspected")
    assert page.locator("table.inv-table tbody th[scope=row]").all_inner_texts() == ["RA-7001"]
    audit(page, axe)
    shot(page, "list")
    page.watch.assert_clean()
