"""The queue and case screens: scoped, filtered in the URL, sorted by priority, a fixed
number of queries per page, and actions that go through the services."""

from decimal import Decimal

import pytest
from django.test import Client

from backoffice.staff import staff_user_upsert
from exceptions.models import Case
from exceptions.states import CaseKind, CaseStatus, Queue
from retailops.roles import Role
from tests.exceptions.factories import CaseFactory
from tests.inventory.factories import LocationFactory, SkuFactory
from tests.mfa import force_login_verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def stores():
    return LocationFactory(code="S1"), LocationFactory(code="S2")


def browser(role, username, locations=()):
    user = staff_user_upsert(username=username, role=role, password="pw-for-tests-1", location_codes=locations)
    client = Client()
    force_login_verified(client, user)
    client.user = user
    return client


@pytest.fixture
def control(stores):
    return browser(Role.INVENTORY_CONTROL, "control")


def test_inventory_control_lands_on_their_queue_sorted_by_priority(control, stores):
    low = CaseFactory(location=stores[0], priority=Decimal("5"), title="Low one")
    high = CaseFactory(location=stores[1], priority=Decimal("900"), title="High one")
    escalated = CaseFactory(location=stores[1], priority=Decimal("1"), escalated=True, title="Late one")
    CaseFactory(queue=Queue.INTEGRATION, kind=CaseKind.SYNC_FAILED, title="Not ours")

    response = control.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/cases/queue/inventory_control/"
    page = response.content.decode()
    assert page.index("Late one") < page.index("High one") < page.index("Low one")
    assert "Not ours" not in page
    assert [case.pk for case, _band in response.context["rows"]] == [escalated.pk, high.pk, low.pk]


def test_store_ops_see_only_their_stores_cases(stores):
    CaseFactory(location=stores[0], title="At my store")
    CaseFactory(location=stores[1], title="At another store")
    client = browser(Role.STORE_OPS, "sam", ["S1"])
    page = client.get("/", follow=True).content.decode()
    assert "At my store" in page and "At another store" not in page
    other = Case.objects.get(title="At another store")
    assert client.get(f"/cases/{other.pk}/").status_code == 404
    assert client.post(f"/cases/{other.pk}/resolve/", {"root_cause": "miscount"}).status_code == 404
    assert client.post("/cases/bulk/", {"case": [other.pk], "action": "resolve", "root_cause": "miscount"}
                       ).status_code == 302
    assert Case.objects.get(pk=other.pk).status == CaseStatus.OPEN


def test_filters_live_in_the_url(control, stores):
    CaseFactory(location=stores[0], title="Negative at S1")
    CaseFactory(location=stores[1], kind=CaseKind.STALE_EVENT, title="Stale at S2")
    CaseFactory(location=stores[1], priority=Decimal("5000"), title="Big at S2")
    CaseFactory(location=stores[1], assignee=control.user, status=CaseStatus.ASSIGNED, title="Mine at S2")
    CaseFactory(location=stores[1], overdue=True, title="Old at S2")

    def titles(query):
        response = control.get(f"/cases/queue/inventory_control/?{query}")
        assert response.status_code == 200
        return sorted(case.title for case, _band in response.context["rows"])

    assert titles("location=S1") == ["Negative at S1"]
    assert titles("kind=stale_event") == ["Stale at S2"]
    assert titles("band=critical") == ["Big at S2"]
    assert titles("assignee=me") == ["Mine at S2"]
    assert titles("age=overdue") == ["Old at S2"]
    assert titles("age=1d&location=S2") == ["Old at S2"]
    assert titles("kind=nonsense") == sorted(Case.objects.values_list("title", flat=True))  # bad filter: ignored
    mine = control.get("/cases/mine/")
    assert [case.title for case, _band in mine.context["rows"]] == ["Mine at S2"]


def test_counts_per_kind_and_aging_at_the_top(control, stores):
    CaseFactory.create_batch(2, location=stores[0])
    CaseFactory(location=stores[0], kind=CaseKind.STALE_EVENT, overdue=True)
    summary = control.get("/cases/queue/inventory_control/").context["summary"]
    assert summary.total == 3
    assert {(kind, count) for kind, _label, count in summary.kinds} == {("negative_on_hand", 2), ("stale_event", 1)}
    assert dict(summary.aging) == {"< 1 day": 2, "1–3 days": 1, "3–7 days": 0, "> 7 days": 0}
    assert summary.overdue == 1


@pytest.mark.parametrize("query", ["", "kind=negative_on_hand&location=S1&band=low&age=overdue"])
def test_a_queue_page_costs_the_same_queries_for_any_number_of_cases(control, stores, query,
                                                                     django_assert_max_num_queries):
    url = f"/cases/queue/inventory_control/?{query}"
    sku = SkuFactory(code="Q1")
    CaseFactory(location=stores[0], sku=sku, overdue=True)
    control.get(url)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        control.get(url)
    CaseFactory.create_batch(60, location=stores[0], sku=sku, overdue=True, assignee=control.user,
                             status=CaseStatus.ASSIGNED)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = control.get(url)
    assert response.status_code == 200


def test_the_queue_page_query_count_is_pinned(control, stores, django_assert_num_queries):
    CaseFactory.create_batch(30, location=stores[0], sku=SkuFactory(code="Q2"))
    control.get("/cases/queue/inventory_control/")
    # session, user, permissions (user + group), counts per kind with aging (also the page
    # count of the whole queue), the page, the user's role (navigation), teammates
    with django_assert_num_queries(8):
        control.get("/cases/queue/inventory_control/")
    with django_assert_num_queries(9):  # a filtered page counts its own matches
        control.get("/cases/queue/inventory_control/?location=S1")


def test_case_detail_shows_context_factors_and_history(control, stores):
    case = CaseFactory(location=stores[0], sku=SkuFactory(code="D1"), context={"on_hand": -3})
    page = control.get(f"/cases/{case.pk}/").content.decode()
    for text in ("Why this priority", "money at risk", "kind weight", "Detection context", "&quot;on_hand&quot;: -3",
                 "Activity", 'for="id_root_cause"', "csrfmiddlewaretoken"):
        assert text in page, text


def test_resolving_from_the_detail_page_goes_back_to_the_queue(control, stores):
    case = CaseFactory(location=stores[0])
    missing = control.post(f"/cases/{case.pk}/resolve/", {"root_cause": "", "next": "/cases/"})
    assert missing["Location"] == f"/cases/{case.pk}/"
    response = control.post(f"/cases/{case.pk}/resolve/", {"root_cause": "unrecorded_receipt", "note": "PO 77",
                                                          "next": "/cases/"})
    assert response["Location"] == "/cases/"
    case.refresh_from_db()
    assert (case.status, case.root_cause, case.resolved_by) == ("resolved", "unrecorded_receipt", control.user)
    page = control.get(f"/cases/{case.pk}/").content.decode()
    assert "Root cause: Unrecorded receipt — PO 77" in page


def test_take_a_row_in_place_with_htmx(control, stores):
    case = CaseFactory(location=stores[0])
    response = control.post(f"/cases/{case.pk}/assign/", {"assignee": "me", "row": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith("<tr")
    case.refresh_from_db()
    assert (case.status, case.assignee) == ("assigned", control.user)


def test_bulk_assign_and_resolve_with_one_root_cause(control, stores):
    cases = CaseFactory.create_batch(3, location=stores[0])
    ids = [case.pk for case in cases]
    response = control.post("/cases/bulk/", {"case": ids, "action": "assign", "assignee": "me",
                                             "next": "/cases/queue/inventory_control/?kind=negative_on_hand"})
    assert response["Location"] == "/cases/queue/inventory_control/?kind=negative_on_hand"
    assert set(Case.objects.values_list("assignee__username", flat=True)) == {"control"}
    control.post("/cases/bulk/", {"case": ids, "action": "resolve", "root_cause": "shrink"})
    assert set(Case.objects.values_list("status", "root_cause")) == {("resolved", "shrink")}


def test_bulk_resolve_without_a_root_cause_changes_nothing(control, stores):
    case = CaseFactory(location=stores[0])
    response = control.post("/cases/bulk/", {"case": [case.pk], "action": "resolve", "root_cause": ""}, follow=True)
    assert "root cause is required" in response.content.decode()
    assert Case.objects.get(pk=case.pk).status == "open"


def test_forms_need_csrf(stores):
    user = staff_user_upsert(username="c2", role=Role.INVENTORY_CONTROL, password="pw-for-tests-1")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    case = CaseFactory(location=stores[0])
    assert client.post(f"/cases/{case.pk}/resolve/", {"root_cause": "miscount"}).status_code == 403


def test_finance_reads_its_own_queue(stores):
    client = browser(Role.FINANCE, "fin")
    assert client.get("/cases/")["Location"] == "/cases/queue/finance/"
    assert client.get("/cases/queue/nope/").status_code == 404


def test_kinds_are_shown_by_their_label_while_filters_and_the_api_keep_the_code(control, stores):
    # Labels read as a person says them (sentence case), never the code title-cased.
    assert all(label[1:] == label[1:].lower() for label in CaseKind.labels)
    assert CaseKind.NEGATIVE_ON_HAND.label == "Negative on-hand"
    case = CaseFactory(location=stores[0], kind=CaseKind.NEGATIVE_ON_HAND)

    queue = control.get("/cases/queue/inventory_control/").content.decode()
    assert 'href="?kind=negative_on_hand">Negative on-hand <strong>1</strong>' in queue  # the count chip
    assert '<option value="negative_on_hand">Negative on-hand</option>' in queue  # the kind filter
    assert '<div class="sub">Negative on-hand</div>' in queue  # the row
    assert '<span class="badge">Negative on-hand</span>' in control.get(f"/cases/{case.pk}/").content.decode()
    assert "Negative On Hand" not in queue

    api = control.get("/api/v1/cases", {"kind": "negative_on_hand"}).json()
    assert [(row["id"], row["kind"]) for row in api["results"]] == [(case.pk, "negative_on_hand")]
