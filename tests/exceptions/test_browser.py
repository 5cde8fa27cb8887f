"""The case queues in a real browser (Playwright driving Debian's Chromium against the live
server): a negative on-hand case raised by a real oversell is triaged, opened and resolved
with a root cause; store users land on their stores' cases and pickups and see only
theirs; a case's rejected events are replayed at once after the master data is fixed;
the keyboard works; no page raises a JS error, logs a console error or answers 500; every
page passes axe-core (no serious or critical violation) and a check that every form
control has a label. Screenshots land in var/test-artifacts/ (or $TEST_ARTIFACTS_DIR).
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from backoffice.staff import staff_user_upsert
from exceptions.models import Case
from exceptions.states import CaseKind
from inventory.models import InventoryEvent
from retailops.roles import Role
from tests.browser import PASSWORD, audit, screenshot, sign_in
from tests.inventory.factories import LocationFactory, SkuFactory
from tests.orders.factories import OrderFactory, OrderLineFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def oversold(partner_api):
    """Real events through the API: 2 received and 5 sold at S001 and at S003, 1 sold at S002."""
    for code in ("S001", "S002", "S003"):
        LocationFactory(code=code, name=f"Store {code}")
    SkuFactory(code="OVR-1", name="Trail shoe", price="40.00")
    SkuFactory(code="OVR-2", name="Rain jacket", price="90.00")
    staff_user_upsert(username="control", role=Role.INVENTORY_CONTROL, password=PASSWORD)
    staff_user_upsert(username="store", role=Role.STORE_OPS, password=PASSWORD, location_codes=["S001", "S002"])
    pos = partner_api("pos-main", kind="pos", scopes=["events"])
    now = timezone.now().isoformat()
    events = [
        {"event_id": "r1", "type": "receipt", "sku": "OVR-1", "location": "S001", "quantity": 2, "occurred_at": now},
        {"event_id": "s1", "type": "sale", "sku": "OVR-1", "location": "S001", "quantity": 5, "occurred_at": now},
        {"event_id": "s2", "type": "sale", "sku": "OVR-2", "location": "S002", "quantity": 1, "occurred_at": now},
        {"event_id": "s3", "type": "sale", "sku": "OVR-1", "location": "S003", "quantity": 4, "occurred_at": now},
    ]
    response = pos.post("/api/v1/inventory/events", {"events": events}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["summary"]["applied"] == 4
    cases = {case.location.code: case for case in Case.objects.filter(kind=CaseKind.NEGATIVE_ON_HAND)
             .select_related("location")}
    assert set(cases) == {"S001", "S002", "S003"}
    return cases


def test_inventory_control_resolves_a_negative_on_hand_case_with_a_root_cause(open_page, oversold, axe):
    case = oversold["S001"]
    page = open_page()
    sign_in(page, "control")

    assert page.url.endswith("/cases/queue/inventory_control/")
    row = page.locator(f"#case-row-{case.pk}")
    assert "On-hand is -3" in row.inner_text() and "S001" in row.inner_text()
    # Three negative on-hands, and the till's receipt, which no supplier notice announced.
    assert page.locator("[data-case-row]").count() == 4
    assert "recorded receipts at S001" in page.locator("[data-case-row]", has_text="receipts").inner_text()
    audit(page, axe)
    screenshot(page, "cases-queue.png")

    row.get_by_role("link").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/cases/{case.pk}/")
    assert page.get_by_role("heading", name="Why this priority").is_visible()
    assert "pos-main:s1" in page.locator("section", has_text="Recent movements").inner_text()
    audit(page, axe)
    screenshot(page, "case-detail.png")

    page.get_by_label("Root cause").select_option("unrecorded_receipt")
    page.get_by_label("What was done").fill("Delivery of 3 pairs was never booked")
    page.get_by_role("button", name="Resolve case").click()
    page.wait_for_load_state("networkidle")

    assert "/cases/queue/inventory_control/" in page.url
    assert f"Case #{case.pk} resolved." in page.locator(".messages").inner_text()
    assert page.locator(f"#case-row-{case.pk}").count() == 0
    assert page.locator("[data-case-row]").count() == 3

    page.goto(f"/cases/{case.pk}/")
    activity = page.locator(".activity").inner_text()
    assert "control" in activity and "resolved: unrecorded_receipt" in activity
    assert "Root cause: Unrecorded receipt — Delivery of 3 pairs was never booked" in activity
    screenshot(page, "case-resolved.png")
    page.watch.assert_clean()


def test_a_store_user_lands_on_their_stores_cases_and_pickups(open_page, oversold, axe):
    store, elsewhere = LocationFactory(code="S001"), LocationFactory(code="S003")
    late = OrderFactory(pickup=True, pickup_location=store, external_id="WEB-1001",
                        pickup_ack_due_at=timezone.now() - timedelta(minutes=40))
    soon = OrderFactory(pickup=True, pickup_location=store, external_id="WEB-1002")
    OrderFactory(pickup=True, pickup_location=elsewhere, external_id="WEB-9009")
    for order, units in ((late, 2), (soon, 1)):
        OrderLineFactory(order=order, quantity=units)
    page = open_page()
    sign_in(page, "store")

    assert page.url.endswith("/")
    assert page.get_by_role("heading", name="Cases at your stores").is_visible()
    assert page.get_by_role("heading", name="Pickups waiting").is_visible()
    home_cases = page.locator("[data-store-cases] [data-case-row]")
    # S001's and S002's negative on-hands and S001's receipt without a notice; none of S003.
    assert home_cases.count() == 3 and "S003" not in page.locator("[data-store-cases]").inner_text()
    pickups = page.locator("[data-pickup-row]")
    assert [pickups.nth(i).get_by_role("link").inner_text() for i in range(pickups.count())] == ["WEB-1001",
                                                                                                "WEB-1002"]
    assert "overdue by 40m" in pickups.nth(0).inner_text()
    audit(page, axe)
    screenshot(page, "store-home.png")

    pickups.nth(0).get_by_role("link").click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/orders/{late.pk}/")
    page.go_back()
    page.get_by_role("link", name="All 3 active cases →").click()
    page.wait_for_load_state("networkidle")
    assert "/cases/queue/all/" in page.url
    shown = page.locator("[data-case-row]")
    assert {shown.nth(i).locator("td").nth(3).inner_text() for i in range(shown.count())} == {"S001", "S002"}
    assert page.locator(f"#case-row-{oversold['S003'].pk}").count() == 0
    assert page.request.get(f"/cases/{oversold['S003'].pk}/").status == 404
    page.goto("/cases/queue/all/?location=S003")
    assert page.locator("[data-case-row]").count() == 0
    audit(page, axe)
    screenshot(page, "cases-store-queue.png")
    page.watch.assert_clean()


def test_keyboard_moves_through_the_queue_filters_and_assigns(open_page, oversold):
    page = open_page()
    sign_in(page, "control")
    rows = page.locator("[data-case-row]")
    assert page.locator("#case-shortcuts").is_visible()

    page.keyboard.press("j")
    assert "is-current" in rows.nth(0).get_attribute("class")
    page.keyboard.press("j")
    assert "is-current" in rows.nth(1).get_attribute("class")
    assert "is-current" not in rows.nth(0).get_attribute("class")
    page.keyboard.press("k")
    assert "is-current" in rows.nth(0).get_attribute("class")

    first_id = int(rows.nth(0).get_attribute("id").removeprefix("case-row-"))
    page.keyboard.press("a")  # assign to me, in place (htmx)
    page.wait_for_selector(f"#case-row-{first_id}.just-taken")
    assert "control" in page.locator(f"#case-row-{first_id}").inner_text()
    assert Case.objects.get(pk=first_id).assignee.username == "control"

    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "filter-kind"
    page.keyboard.press("Escape")
    page.keyboard.press("r")  # resolve: opens the current case at its resolve form
    page.wait_for_url(f"**/cases/{first_id}/#resolve")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'id_root_cause'")
    page.watch.assert_clean()


def test_inventory_control_replays_all_rejected_events_of_a_case(open_page, partner_api, axe):
    LocationFactory(code="S001", name="Store S001")
    staff_user_upsert(username="control", role=Role.INVENTORY_CONTROL, password=PASSWORD)
    pos = partner_api("pos-main", kind="pos", scopes=["events"])
    now = timezone.now().isoformat()
    for batch in (["n1", "n2"], ["n3"]):
        events = [{"event_id": event_id, "type": "receipt", "sku": "NEW-1", "location": "S001", "quantity": 3,
                   "occurred_at": now} for event_id in batch]
        assert pos.post("/api/v1/inventory/events", {"events": events}, format="json").status_code == 200
    case = Case.objects.get(kind=CaseKind.REJECTED_EVENT)
    page = open_page()
    sign_in(page, "control")

    page.goto(f"/cases/{case.pk}/")
    form = page.locator("#replay-all")
    assert "Replay all 3 rejected events of this case" in form.inner_text()
    audit(page, axe)
    SkuFactory(code="NEW-1", name="New trail shoe")  # the master data is fixed
    form.get_by_label("Why (required)").fill("NEW-1 created in the product catalogue")
    form.get_by_role("button", name="Replay all rejected events").click()
    page.wait_for_load_state("networkidle")

    assert "Replayed 3 rejected events: 3 applied." in page.locator(".messages").inner_text()
    assert set(InventoryEvent.objects.values_list("status", flat=True)) == {"applied"}
    comment = page.locator(".activity-entry.is-comment").last.inner_text()
    assert "control" in comment and "Why: NEW-1 created in the product catalogue" in comment
    assert "Applied: pos-main:n1, pos-main:n2, pos-main:n3" in comment
    assert page.locator("#replay-all").count() == 0
    audit(page, axe)
    screenshot(page, "case-detail-replayed.png")
    page.watch.assert_clean()
