"""What every browser test shares: Chromium (Debian's, driven by Playwright) against the
live server, a watch that fails a page on JS errors, console errors or 5xx answers, the
accessibility audit (axe-core plus the project's own rules) and screenshots.

The fixtures (`chromium`, `open_page`, `axe`) are in tests/conftest.py; the helpers here.
"""

import os
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", settings.BASE_DIR / "var" / "test-artifacts"))
PASSWORD = "pw-for-tests-1"

# axe-core impacts that fail a page; "minor" and "moderate" findings are reported by axe
# but do not fail the test.
FAILING_IMPACTS = {"serious", "critical"}

# Runs in the page, beside axe-core: the rules of this project's screens that axe leaves
# to judgement (every control labelled, one h1, no skipped heading level, unique ids).
A11Y_AUDIT = """() => {
  const problems = [];
  if (!document.documentElement.getAttribute("lang")) problems.push("html has no lang");
  if (!document.title.trim()) problems.push("page has no title");
  const controls = document.querySelectorAll(
    "input:not([type=hidden]), select, textarea");
  for (const control of controls) {
    const labelled = (control.id && document.querySelector(`label[for="${control.id}"]`)) ||
      control.closest("label") || control.getAttribute("aria-label") || control.getAttribute("aria-labelledby") ||
      control.getAttribute("title");
    if (!labelled) problems.push(`unlabelled ${control.tagName.toLowerCase()} name=${control.name}`);
  }
  for (const button of document.querySelectorAll("button, a[href]")) {
    const name = (button.textContent || "").trim() || button.getAttribute("aria-label") || button.getAttribute("title");
    if (!name) problems.push(`${button.tagName.toLowerCase()} without an accessible name`);
  }
  for (const image of document.querySelectorAll("img:not([alt])")) problems.push(`img without alt: ${image.src}`);
  const headings = Array.from(document.querySelectorAll("h1, h2, h3, h4, h5, h6"));
  if (headings.filter((h) => h.tagName === "H1").length !== 1) problems.push("not exactly one h1");
  let level = 0;
  for (const heading of headings) {
    const next = Number(heading.tagName[1]);
    if (next > level + 1) problems.push(`heading jumps from h${level} to h${next}: ${heading.textContent.trim()}`);
    level = next;
  }
  const ids = Array.from(document.querySelectorAll("[id]"), (element) => element.id);
  const duplicates = ids.filter((id, index) => ids.indexOf(id) !== index);
  if (duplicates.length) problems.push(`duplicate ids: ${duplicates.join(", ")}`);
  return problems;
}"""


class PageWatch:
    """Collects what must fail a browser test: JS errors, console errors, 5xx answers."""

    def __init__(self, page):
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"JS error: {error}"))
        page.on("console", lambda message: message.type == "error" and self.problems.append(
            f"console error: {message.text}"))
        page.on("response", lambda response: response.status >= 500 and self.problems.append(
            f"{response.status} from {response.url}"))

    def assert_clean(self):
        assert self.problems == []


def sign_in(page, username):
    """Password, then for a person who must give one (finance, ops admins), the code from
    their authenticator app on the code screen, as they would."""
    # Imported here: tests/conftest.py imports this module before Django's apps are ready.
    from retailops.mfa import mfa_required_for
    from tests.mfa import authenticator_for, code_now

    user = get_user_model().objects.get(username=username)
    device = authenticator_for(user) if mfa_required_for(user) else None
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
    if device is not None:
        page.get_by_label("Code").fill(code_now(device))
        page.get_by_role("button", name="Verify").click()
        page.wait_for_load_state("networkidle")


def audit(page, axe):
    """Fail on any serious or critical axe-core violation, and on the project's own rules."""
    results = axe.run(page)
    failing = [violation for violation in results.response["violations"] if violation["impact"] in FAILING_IMPACTS]
    assert not failing, f"{page.url}\n" + "\n".join(
        f"{violation['id']} ({violation['impact']}): {violation['help']} — "
        + "; ".join(node["html"][:160] for node in violation["nodes"][:5]) for violation in failing)
    assert page.evaluate(A11Y_AUDIT) == [], page.url


def screenshot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)
