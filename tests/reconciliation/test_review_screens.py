"""The review screens: runs list, a run's lines (filters, bulk actions, CSV export), one line
explained by the ledger; store operations see their stores' lines only; forms need CSRF."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from backoffice.staff import staff_user_upsert
from inventory.models import Adjustment, StockLevel
from inventory.states import AdjustmentStatus
from reconciliation.models import LineDecision
from reconciliation.states import Classification, Decision, RunStatus
from retailops.roles import Role
from tests.inventory.factories import LocationFactory, SkuFactory
from tests.mfa import force_login_verified
from tests.reconciliation.factories import (
    ExternalSystemFactory,
    LineFactory,
    MissingLineFactory,
    RunFactory,
    VarianceLineFactory,
    stock_at,
)

pytestmark = pytest.mark.django_db


def browser(role, username, locations=(), **options):
    user = staff_user_upsert(username=username, role=role, password="pw-for-tests-1", location_codes=locations)
    client = Client(**options)
    force_login_verified(client, user)
    client.user = user
    return client


@pytest.fixture
def stores():
    return LocationFactory(code="S1"), LocationFactory(code="S2")


@pytest.fixture
def run(stores):
    """A run in review: two variance lines at S1 (one worth much), one at S2, a matched
    line and a code the ledger does not know."""
    run = RunFactory(as_of=timezone.now() - timedelta(hours=3), snapshot__system=ExternalSystemFactory(code="wms-x"))
    s1, s2 = stores
    for code, cost, where, snapshot in [("CHEAP", "10.00", s1, 7), ("DEAR", "300.00", s1, 4),
                                        ("OTHER", "10.00", s2, 8)]:
        sku = SkuFactory(code=code, unit_cost=Decimal(cost))
        stock_at(sku, where, 10, occurred_at=run.as_of - timedelta(days=1))
        VarianceLineFactory(run=run, sku=sku, location=where, ledger_on_hand_at_as_of=10, snapshot_on_hand=snapshot)
    LineFactory(run=run, sku=SkuFactory(code="SAME"), location=s1)
    MissingLineFactory(run=run, sku_code="GHOST")
    run.lines, run.matched, run.variance, run.missing_in_ledger = 5, 1, 3, 1
    run.variance_value = Decimal("1850.00")
    run.save()
    return run


def line(run, sku_code):
    return run.line_set.get(sku_code=sku_code)


def flashes(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- Runs list --------------------------------------------------------------------------------------


def test_the_runs_list_shows_each_run_newest_first_with_its_figures(run, django_assert_max_num_queries):
    RunFactory(closed=True, snapshot__system=ExternalSystemFactory(code="erp-y"))
    finance = browser(Role.FINANCE, "fin")

    with django_assert_max_num_queries(12):
        response = finance.get("/reconciliation/")

    assert response.status_code == 200
    rows = response.context["rows"]
    assert [row["run"].system.code for row in rows] == ["erp-y", "wms-x"]
    figures = rows[1]["figures"]
    assert (figures.lines, figures.variance, figures.undecided, figures.matched_percent) == (5, 3, 3, Decimal("20.0"))
    assert b"1,850.00" in response.content and b"In review" in response.content


def test_the_runs_list_filters_by_system_and_status(run):
    other = RunFactory(closed=True, snapshot__system=ExternalSystemFactory(code="erp-y"))
    finance = browser(Role.FINANCE, "fin")

    by_status = finance.get("/reconciliation/", {"status": RunStatus.CLOSED}).context["rows"]
    by_system = finance.get("/reconciliation/", {"system": run.system_id}).context["rows"]

    assert [row["run"] for row in by_status] == [other]
    assert [row["run"] for row in by_system] == [run]


# --- A run's lines ----------------------------------------------------------------------------------


def test_lines_come_costliest_first_and_filter(run):
    finance = browser(Role.FINANCE, "fin")

    everything = finance.get(f"/reconciliation/{run.pk}/").context["rows"]
    variance = finance.get(f"/reconciliation/{run.pk}/",
                           {"classification": "variance", "location": "S1"}).context["rows"]
    valuable = finance.get(f"/reconciliation/{run.pk}/", {"min_value": "100"}).context["rows"]

    assert [row["line"].sku_code for row in everything][:3] == ["DEAR", "CHEAP", "OTHER"]
    assert [row["line"].sku_code for row in variance] == ["DEAR", "CHEAP"]
    assert [row["line"].sku_code for row in valuable] == ["DEAR"]
    assert all(row["decidable"] == (row["line"].classification == Classification.VARIANCE) for row in everything)


def test_a_bad_filter_is_a_message_not_an_error(run):
    response = browser(Role.FINANCE, "fin").get(f"/reconciliation/{run.pk}/", {"min_value": "lots"})

    assert response.status_code == 200
    assert b"Enter a number" in response.content


def test_the_run_page_reads_a_fixed_number_of_queries(run, django_assert_max_num_queries):
    finance = browser(Role.FINANCE, "fin")
    finance.get(f"/reconciliation/{run.pk}/")  # sessions and permissions warmed

    with django_assert_max_num_queries(16):
        finance.get(f"/reconciliation/{run.pk}/")


def test_finance_accepts_two_lines_in_bulk_and_the_valuable_one_waits(run):
    finance = browser(Role.FINANCE, "fin")
    cheap, dear = line(run, "CHEAP"), line(run, "DEAR")

    response = finance.post(f"/reconciliation/{run.pk}/decide/", {
        "action": "accept", "line": [cheap.pk, dear.pk], "next": f"/reconciliation/{run.pk}/?classification=variance"})

    assert response.status_code == 302 and response.url == f"/reconciliation/{run.pk}/?classification=variance"
    assert flashes(response) == ["2 lines accepted. 1 adjustment waits for finance approval (worth 1,800.00)."]
    statuses = dict(Adjustment.objects.values_list("sku__code", "status"))
    assert statuses == {"CHEAP": AdjustmentStatus.APPLIED, "DEAR": AdjustmentStatus.PENDING_APPROVAL}
    assert StockLevel.objects.get(sku__code="CHEAP").on_hand == 7
    page = finance.get(response.url)
    assert b"Accepted, awaiting approval" in page.content and b"Accepted, applied" in page.content
    assert b"Accepted, applied" in finance.get(f"/reconciliation/lines/{cheap.pk}/").content


def test_dismissing_without_a_reason_is_refused_with_a_message(run):
    finance = browser(Role.FINANCE, "fin")

    response = finance.post(f"/reconciliation/{run.pk}/decide/", {"action": "dismiss", "line": [line(run, "DEAR").pk]})

    assert flashes(response) == ["Nothing was decided: Dismissing a line needs a reason saying why."]
    assert not LineDecision.objects.exists()


def test_deciding_the_last_line_closes_the_run_and_says_so(run):
    control = browser(Role.INVENTORY_CONTROL, "ctl")
    ids = list(run.line_set.filter(classification=Classification.VARIANCE).values_list("pk", flat=True))

    response = control.post(f"/reconciliation/{run.pk}/decide/", {"action": "escalate", "line": ids})

    assert "the reconciliation is closed" in flashes(response)[0]
    run.refresh_from_db()
    assert run.status == RunStatus.CLOSED


@pytest.mark.parametrize("posted", [{"action": "accept"}, {"action": "burn", "line": ["1"]},
                                    {"action": "keep", "line": ["x"]}, {"action": "keep", "line": ["0"]}])
def test_a_malformed_action_decides_nothing(run, posted):
    response = browser(Role.FINANCE, "fin").post(f"/reconciliation/{run.pk}/decide/", posted)

    assert response.status_code == 302
    assert flashes(response)[0].startswith("Nothing was decided:")
    assert not LineDecision.objects.exists()


def test_next_must_stay_on_this_site(run):
    response = browser(Role.FINANCE, "fin").post(f"/reconciliation/{run.pk}/decide/", {
        "action": "dismiss", "line": [line(run, "DEAR").pk], "reason": "ok", "next": "https://evil.example/"})

    assert response.url == f"/reconciliation/{run.pk}/"


def test_the_decide_form_needs_the_csrf_token(run):
    finance = browser(Role.FINANCE, "fin", enforce_csrf_checks=True)

    response = finance.post(f"/reconciliation/{run.pk}/decide/", {"action": "dismiss", "line": [line(run, "DEAR").pk],
                                                                  "reason": "ok"})

    assert response.status_code == 403
    assert not LineDecision.objects.exists()
    page = finance.get(f"/reconciliation/{run.pk}/")
    assert b'name="csrfmiddlewaretoken"' in page.content


# --- One line ---------------------------------------------------------------------------------------------


def test_a_line_is_explained_by_the_ledger_around_the_snapshot_time(run, stores):
    sku = line(run, "CHEAP").sku
    stock_at(sku, stores[0], -2, occurred_at=run.as_of + timedelta(minutes=20), reason="sale")
    finance = browser(Role.FINANCE, "fin")

    response = finance.get(f"/reconciliation/lines/{line(run, 'CHEAP').pk}/")

    story = response.context["story"]
    assert [row.movement.delta for row in story.before] == [10]
    assert [(row.movement.delta, row.on_hand_after) for row in story.after] == [(-2, 8)]
    assert (story.on_hand_then, story.on_hand_now) == (10, 8)
    assert response.context["accept_delta"] == -3
    assert b"recon-as-of" in response.content


def test_a_line_unknown_to_the_ledger_has_no_story(run):
    response = browser(Role.FINANCE, "fin").get(f"/reconciliation/lines/{line(run, 'GHOST').pk}/")

    assert response.status_code == 200 and response.context["story"] is None
    assert not response.context["decidable"]


# --- Store operations: their stores only, read only ---------------------------------------------------


def test_store_ops_see_their_stores_lines_only(run):
    store = browser(Role.STORE_OPS, "shop", ["S2"])

    runs = store.get("/reconciliation/").context["rows"]
    detail = store.get(f"/reconciliation/{run.pk}/")
    export = store.get(f"/reconciliation/{run.pk}/lines.csv")

    assert (runs[0]["figures"].lines, runs[0]["figures"].variance) == (1, 1)
    assert [row["line"].sku_code for row in detail.context["rows"]] == ["OTHER"]
    assert not detail.context["can_decide"]
    assert b"bulk-form" not in detail.content
    assert store.get(f"/reconciliation/lines/{line(run, 'DEAR').pk}/").status_code == 404
    assert store.get(f"/reconciliation/lines/{line(run, 'GHOST').pk}/").status_code == 404
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert [row[0] for row in rows[1:]] == ["OTHER"]


def test_store_ops_cannot_decide(run):
    store = browser(Role.STORE_OPS, "shop", ["S2"])

    response = store.post(f"/reconciliation/{run.pk}/decide/", {"action": "dismiss", "line": [line(run, "OTHER").pk],
                                                                "reason": "mine"})

    assert response.status_code == 403
    assert not LineDecision.objects.exists()


def test_integration_support_does_not_see_reconciliation(run):
    assert browser(Role.INTEGRATION_SUPPORT, "integ").get("/reconciliation/").status_code == 403


def test_the_top_bar_links_reconciliation_for_the_roles_that_review(stores):
    for role, shown in [(Role.FINANCE, True), (Role.STORE_OPS, True), (Role.INTEGRATION_SUPPORT, False)]:
        page = browser(role, f"{role}-nav", ["S1"] if role == Role.STORE_OPS else ()).get("/", follow=True)
        assert (b'href="/reconciliation/"' in page.content) == shown, role


# --- CSV export -----------------------------------------------------------------------------------------


def test_the_csv_export_streams_the_filtered_lines(run):
    finance = browser(Role.FINANCE, "fin")
    finance.post(f"/reconciliation/{run.pk}/decide/", {"action": "dismiss", "line": [line(run, "OTHER").pk],
                                                       "reason": "noise"})

    response = finance.get(f"/reconciliation/{run.pk}/lines.csv", {"classification": "variance"})

    assert response.streaming and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(row["sku"], row["difference"], row["value"], row["decision"]) for row in rows] == [
        ("DEAR", "-6", "1800.00", ""), ("CHEAP", "-3", "30.00", ""), ("OTHER", "-2", "20.00", Decision.DISMISSED)]
    assert rows[2]["decided_by"] == "fin"
