"""Reconciliation review in a real browser (Playwright driving Debian's Chromium against the
live server): finance opens a run from the top bar, filters it to variance, accepts two
lines in bulk (the valuable one waits for finance approval) and dismisses one with a
reason, then reads one line's explanation; the keyboard selects lines; no JS error,
console error or 5xx; every page passes axe-core and the project's own checks.
Screenshots land in var/test-artifacts/ (or $TEST_ARTIFACTS_DIR)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from backoffice.staff import staff_user_upsert
from inventory.models import Adjustment, StockLevel
from inventory.states import AdjustmentStatus
from reconciliation.models import LineDecision
from reconciliation.states import Decision
from retailops.roles import Role
from tests.browser import PASSWORD, audit, screenshot, sign_in
from tests.inventory.factories import LocationFactory, SkuFactory
from tests.reconciliation.factories import (
    ExternalSystemFactory,
    LineFactory,
    MissingLineFactory,
    RunFactory,
    VarianceLineFactory,
    stock_at,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def run():
    s1, s2 = LocationFactory(code="S001", name="Store S001"), LocationFactory(code="S002", name="Store S002")
    run = RunFactory(as_of=timezone.now() - timedelta(hours=3),
                     snapshot__system=ExternalSystemFactory(code="wms-main", name="Main warehouse system"))
    for code, cost, where, snapshot in [("TEE-1", "12.50", s1, 7), ("JKT-9", "320.00", s1, 4),
                                        ("CAP-3", "8.00", s2, 12)]:
        sku = SkuFactory(code=code, name=f"Item {code}", unit_cost=Decimal(cost))
        stock_at(sku, where, 10, occurred_at=run.as_of - timedelta(days=1))
        VarianceLineFactory(run=run, sku=sku, location=where, ledger_on_hand_at_as_of=10, snapshot_on_hand=snapshot,
                            ledger_on_hand_now=9 if code == "TEE-1" else 10)
    stock_at(run.line_set.get(sku_code="TEE-1").sku, s1, -1, occurred_at=run.as_of + timedelta(minutes=40),
             reason="sale")
    for index in range(4):
        LineFactory(run=run, sku=SkuFactory(code=f"OK-{index}"), location=s1)
    MissingLineFactory(run=run, sku_code="GHOST-7", location_code="S001")
    run.lines, run.matched, run.variance, run.missing_in_ledger = 8, 4, 3, 1
    run.variance_value = sum(line.value for line in run.line_set.all())
    run.save()
    staff_user_upsert(username="finance", role=Role.FINANCE, password=PASSWORD)
    return run


def test_finance_reviews_a_run_in_bulk(open_page, run, axe):
    page = open_page()
    sign_in(page, "finance")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reconciliation").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Reconciliation"
    assert "wms-main" in page.locator("tbody").inner_text() and "In review" in page.locator("tbody").inner_text()
    audit(page, axe)
    screenshot(page, "recon_runs.png")

    page.get_by_role("link", name=f"#{run.pk}").click()
    page.wait_for_load_state("networkidle")
    page.get_by_label("Classification").select_option("variance")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state("networkidle")
    assert "classification=variance" in page.url
    skus = page.locator("[data-recon-row] th").all_inner_texts()
    assert skus == ["JKT-9", "TEE-1", "CAP-3"]  # costliest first
    audit(page, axe)
    screenshot(page, "recon_run_variance.png")

    # The keyboard: j twice moves to the second line, x selects it; the first by mouse.
    page.locator("body").press("j")
    page.locator("body").press("j")
    page.keyboard.press("x")
    page.get_by_label("Select line JKT-9 at S001").check()
    assert "(2 chosen)" in page.locator("[data-selected-count]").inner_text()
    page.get_by_role("button", name="Accept the partner's quantity").click()
    page.wait_for_load_state("networkidle")
    message = page.locator(".messages").inner_text()
    assert "2 lines accepted. 1 adjustment waits for finance approval (worth 1,920.00)." in message
    assert "classification=variance" in page.url
    assert dict(Adjustment.objects.values_list("sku__code", "status")) == {
        "TEE-1": AdjustmentStatus.APPLIED, "JKT-9": AdjustmentStatus.PENDING_APPROVAL}
    assert StockLevel.objects.get(sku__code="TEE-1").on_hand == 6  # 7 as counted, less the 1 sold since
    screenshot(page, "recon_accepted.png")

    page.get_by_label("Select line CAP-3 at S002").check()
    page.get_by_role("button", name="Dismiss").click()
    page.wait_for_load_state("networkidle")
    assert "Dismissing a line needs a reason" in page.locator(".messages").inner_text()
    page.get_by_label("Select line CAP-3 at S002").check()
    page.get_by_label("Reason").fill("Counted while a delivery was on the dock")
    page.get_by_role("button", name="Dismiss").click()
    page.wait_for_load_state("networkidle")
    assert "1 line dismissed." in page.locator(".messages").inner_text()
    assert "the reconciliation is closed" in page.locator(".messages").inner_text()
    assert LineDecision.objects.get(line__sku_code="CAP-3").action == Decision.DISMISSED
    assert page.locator("#bulk-form").count() == 0  # closed: nothing left to decide
    audit(page, axe)
    screenshot(page, "recon_closed.png")

    page.get_by_role("link", name="TEE-1", exact=True).click()
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "TEE-1 at S001"
    assert "As of" in page.locator(".recon-as-of").inner_text()
    assert "Accepted" in page.locator("section", has_text="Decisions").first.inner_text()
    audit(page, axe)
    screenshot(page, "recon_line.png")
    page.watch.assert_clean()


def test_inventory_control_uploads_a_snapshot_and_reviews_its_run(open_page, axe, tmp_path):
    """Upload a CSV from the runs list: a malformed file is refused in the page, naming its
    row; the good one is stored and queued, and once the worker has run it (here, in the
    test) its run is in review."""
    from reconciliation.models import ReconciliationRun
    from reconciliation.services import run_execute
    from reconciliation.states import RunStatus

    dc = LocationFactory(code="DC1", name="Central warehouse")
    for code in ("TEE-1", "CAP-3"):
        stock_at(SkuFactory(code=code, unit_cost=Decimal("12.50")), dc, 10,
                 occurred_at=timezone.now() - timedelta(days=2))
    ExternalSystemFactory(code="wms-main", name="Main warehouse system", kind="wms")
    staff_user_upsert(username="control", role=Role.INVENTORY_CONTROL, password=PASSWORD)
    bad, good = tmp_path / "bad.csv", tmp_path / "count.csv"
    bad.write_text("sku,location,on_hand\nTEE-1,DC1,10\nCAP-3,DC1,ten\n")
    good.write_text("sku,location,on_hand\nTEE-1,DC1,10\nCAP-3,DC1,7\nGHOST-7,DC1,2\n")

    page = open_page()
    sign_in(page, "control")
    page.goto("/reconciliation/")
    page.get_by_role("link", name="Upload a snapshot").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Upload a snapshot"
    screenshot(page, "recon_upload_form.png")
    audit(page, axe)

    as_of = timezone.localtime() - timedelta(hours=1)
    page.get_by_label("System").select_option(label="wms-main · Main warehouse system")
    page.get_by_label("As of").fill(as_of.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Snapshot (CSV)").set_input_files(str(bad))
    page.get_by_role("button", name="Upload and reconcile").click()
    page.wait_for_load_state("networkidle")
    assert "Nothing was stored: row 3: on_hand must be a whole number" in page.locator(".messages").inner_text()
    assert not ReconciliationRun.objects.exists()
    audit(page, axe)
    screenshot(page, "recon_upload_refused.png")

    page.get_by_label("System").select_option(label="wms-main · Main warehouse system")
    page.get_by_label("As of").fill(as_of.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Snapshot (CSV)").set_input_files(str(good))
    page.get_by_role("button", name="Upload and reconcile").click()
    page.wait_for_load_state("networkidle")
    run = ReconciliationRun.objects.get()
    assert page.url.endswith(f"/reconciliation/{run.pk}/")
    assert "Snapshot stored (3 lines)" in page.locator(".messages").inner_text()
    assert run.status == RunStatus.QUEUED and run.snapshot.sent_by.username == "control"
    assert run.as_of == as_of.replace(second=0, microsecond=0)

    run_execute(run_id=run.pk)  # what the worker does with the queued run
    page.reload()
    page.wait_for_load_state("networkidle")
    assert "In review" in page.locator("main").inner_text()
    assert page.locator("[data-recon-row] th").all_inner_texts()[0] == "CAP-3"  # the variance, costliest first
    assert "GHOST-7" in page.locator("main").inner_text()
    audit(page, axe)
    screenshot(page, "recon_upload_run.png")
    # The refused upload answers 400 (the page, in the app's layout), which Chromium logs
    # as a console error; nothing else may fail.
    assert [problem for problem in page.watch.problems if "status of 400" not in problem] == []
    assert len(page.watch.problems) <= 1
