"""The receiving screen in a real browser: a store user opens the top bar's Receiving,
scans (types) an ASN's id and Enter, fills the grid by keyboard alone, confirms; the units
are on hand, the variance is a case, and every page passes axe-core with no JS error.
Screenshots land in var/test-artifacts/ (or $TEST_ARTIFACTS_DIR)."""

import pytest

from backoffice.staff import staff_user_upsert
from exceptions.models import Case
from inventory.models import StockLevel
from receiving.models import Asn
from retailops.roles import Role
from tests.browser import PASSWORD, audit, screenshot, sign_in
from tests.receiving.conftest import asn_body

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_store_receives_an_asn_by_keyboard(open_page, partner_api, dock, axe):
    staff_user_upsert(username="dock", role=Role.STORE_OPS, password=PASSWORD, location_codes=["S1"])
    supplier = partner_api("acme", scopes=["receipts"], kind="supplier")
    assert supplier.post("/api/v1/asns", asn_body(dock, external_id="ASN-77", location="S1"),
                         format="json").status_code == 201
    assert supplier.post("/api/v1/asns", asn_body(dock, external_id="ASN-DC", location="DC1"),
                         format="json").status_code == 201
    page = open_page()
    sign_in(page, "dock")

    page.get_by_role("link", name="Receiving").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("table.inv-table tbody th[scope=row]").all_inner_texts() == ["ASN-77"]  # not the DC's
    audit(page, axe)
    screenshot(page, "receiving_index.png")

    # The id field has focus: a scanner types the id and Enter.
    page.keyboard.type("ASN-77")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert page.get_by_role("heading", level=1).inner_text() == "ASN ASN-77 at S1"
    audit(page, axe)

    # Keyboard only: A received now, A damaged, B received now, B damaged; Enter confirms.
    page.get_by_label("Units of A received now").focus()
    page.keyboard.type("10")
    page.keyboard.press("Tab")
    page.keyboard.type("1")
    page.keyboard.press("Tab")
    page.keyboard.type("4")
    screenshot(page, "receiving_grid.png")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")

    assert page.get_by_role("status").inner_text().strip() == "ASN ASN-77 received."
    asn = Asn.objects.get(external_id="ASN-77")
    assert asn.status == "received"
    a = StockLevel.objects.get(sku=dock.a, location=dock.s1)
    b = StockLevel.objects.get(sku=dock.b, location=dock.s1)
    assert (a.on_hand, a.damaged, a.incoming) == (10, 1, 0)
    assert (b.on_hand, b.incoming) == (4, 0)
    case = Case.objects.get(dedup_key=f"receipt_variance:{asn.pk}")
    assert {line["sku"]: line["variance"] for line in case.context["lines"]} == {"A": ["damaged"], "B": ["short"]}
    audit(page, axe)
    screenshot(page, "receiving_done.png")
    page.watch.assert_clean()
