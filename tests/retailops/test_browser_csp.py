"""The Content-Security-Policy in a real browser: the main screens, the sign-in, the
password confirmation, the admin and the API docs load and work without one violation,
and a script injected into a page (an inline handler) does not run."""

import pytest

from backoffice.staff import staff_user_upsert
from exceptions.models import Case
from inventory.adjustments import adjustment_request
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket
from retailops.access import LocationScope
from retailops.roles import Role
from tests.browser import PASSWORD, sign_in
from tests.inventory.factories import LocationFactory, SkuFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs before any page script (Playwright's init script is not subject to the page's CSP).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


@pytest.fixture
def shop():
    store = LocationFactory(code="S001", name="Store S001")
    sku = SkuFactory(code="CSP-1", name="Trail shoe", unit_cost="500.00", price="900.00")
    post_movements([Movement(sku.pk, store.pk, Bucket.ON_HAND, 50, reason="receipt")])
    post_movements([Movement(sku.pk, store.pk, Bucket.ON_HAND, -53, reason="sale")])  # a negative on-hand case
    control = staff_user_upsert(username="control", role=Role.INVENTORY_CONTROL, password=PASSWORD)
    staff_user_upsert(username="finance", role=Role.FINANCE, password=PASSWORD)
    staff_user_upsert(username="support", role=Role.INTEGRATION_SUPPORT, password=PASSWORD)
    staff_user_upsert(username="admin", role=Role.OPS_ADMIN, password=PASSWORD)
    adjustment_request(sku_code="CSP-1", location_code="S001", delta=-10, reason="damaged", actor=control,
                       scope=LocationScope(None))
    return {"case": Case.objects.get().pk}


def visit(page, path: str) -> list[str]:
    response = page.goto(path)
    page.wait_for_load_state("networkidle")
    assert response.status == 200, page.url
    return page.evaluate("window.__cspViolations")


PAGES = [
    ("control", ["/cases/", "/cases/{case}/", "/orders/", "/inventory/adjustments/new/", "/inventory/counts/",
                 "/inventory/transfers/", "/confirm-password/", "/api/docs/",
                 "/sign-in/authenticator/"]),
    ("finance", ["/inventory/approvals/", "/sign-in/code/"]),
    ("support", ["/integrations/"]),
    ("admin", ["/admin/", "/admin/axes/accesslog/", "/admin/inventory/sku/", "/admin/inventory/sku/add/"]),
]


@pytest.mark.parametrize(("username", "paths"), PAGES, ids=[username for username, _paths in PAGES])
def test_the_main_screens_run_under_the_policy_without_a_violation(open_page, shop, username, paths):
    page = open_page()
    page.add_init_script(RECORD_VIOLATIONS)
    response = page.goto("/login/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert page.evaluate("window.__cspViolations") == []
    sign_in(page, username)

    for path in paths:
        assert visit(page, path.format(**shop)) == [], path
    # The admin asks for a /favicon.ico that is not there (a console error of its own); what
    # matters here is that nothing was refused by the policy and no script failed.
    assert [problem for problem in page.watch.problems
            if "Content Security Policy" in problem or problem.startswith("JS error")] == []


def test_the_api_docs_still_render_the_contract(open_page, shop):
    page = open_page()
    page.add_init_script(RECORD_VIOLATIONS)
    sign_in(page, "control")
    page.goto("/api/docs/")
    page.get_by_text("RetailOps partner API").first.wait_for()
    assert page.evaluate("window.__cspViolations") == []


def test_htmx_and_the_keyboard_still_work_under_the_policy(open_page, shop):
    page = open_page()
    page.add_init_script(RECORD_VIOLATIONS)
    sign_in(page, "control")
    page.goto("/cases/queue/inventory_control/")
    page.keyboard.press("j")  # app.js: the first row becomes current
    assert page.locator("[data-case-row].is-current").count() == 1
    with page.expect_response(lambda response: "/assign/" in response.url):
        page.locator("[data-take]").first.click()  # htmx swaps the row in place
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__cspViolations") == []
    page.watch.assert_clean()


def test_an_injected_inline_handler_does_not_run(open_page, shop):
    page = open_page()
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto("/login/")
    page.evaluate("""() => document.body.insertAdjacentHTML(
        "beforeend", '<img alt="" src="/static/none.png" onerror="window.injected = true">')""")
    page.wait_for_function("window.__cspViolations.length > 0")

    assert page.evaluate("window.injected") is None
    assert any(violation.startswith("script-src") for violation in page.evaluate("window.__cspViolations"))
