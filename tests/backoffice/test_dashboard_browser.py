"""The dashboard in a real browser: an ops admin lands on it, switches the span by mouse
and by keyboard, and every chart and table passes axe-core. Screenshots go to
var/test-artifacts/ (or $TEST_ARTIFACTS_DIR) and /tmp/dashboard_*.png."""

import pytest

from backoffice.staff import staff_user_upsert
from retailops.roles import Role
from tests.backoffice.test_dashboard import world  # noqa: F401 (the fixture)
from tests.browser import PASSWORD, audit, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ops_admin_reads_the_dashboard_and_changes_the_span(open_page, world, axe):  # noqa: F811
    staff_user_upsert(username="admin", role=Role.OPS_ADMIN, password=PASSWORD)
    page = open_page()
    sign_in(page, "admin")
    assert page.url.endswith("/dashboard/")
    assert page.get_by_role("heading", name="Dashboard", exact=True).is_visible()
    for title in ("Cases by queue", "Sync latency by system", "Inventory accuracy by location"):
        assert page.get_by_role("img", name=title).is_visible()
    audit(page, axe)
    screenshot(page, "dashboard.png")
    page.screenshot(path="/tmp/dashboard_30d.png", full_page=True)

    page.get_by_role("link", name="Last 90 days").click()
    page.wait_for_load_state("networkidle")
    assert "days=90" in page.url
    assert page.get_by_role("link", name="Last 90 days").get_attribute("aria-current") == "true"
    page.screenshot(path="/tmp/dashboard_90d.png", full_page=True)

    # By keyboard: a custom range of days, submitted with Enter.
    page.get_by_label("From", exact=True).focus()
    page.keyboard.type("01012026")
    page.get_by_label("To", exact=True).fill("2026-01-31")
    page.get_by_label("To", exact=True).press("Enter")
    page.wait_for_load_state("networkidle")
    assert "from=" in page.url and "to=2026-01-31" in page.url
    audit(page, axe)
    page.watch.assert_clean()

    page.goto("/dashboard/?days=90")
    page.get_by_role("link", name="List behind S1").first.click()
    page.wait_for_load_state("networkidle")
    assert "/dashboard/counted-lines/" in page.url
    audit(page, axe)
    page.screenshot(path="/tmp/dashboard_drilldown.png", full_page=True)
    page.watch.assert_clean()
