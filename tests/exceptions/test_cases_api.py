"""GET /api/v1/cases: paginated, filtered by field, scoped like every list."""

import pytest

from exceptions.services import CaseReport, raise_case
from exceptions.states import CaseKind
from tests.exceptions.factories import CaseFactory
from tests.inventory.factories import LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stores():
    return LocationFactory(code="S1"), LocationFactory(code="S2")


def test_staff_list_cases_with_the_contract_fields(staff_api, stores):
    sku = SkuFactory(code="A1")
    case = CaseFactory(location=stores[0], sku=sku)
    response = staff_api("inventory_control").get("/api/v1/cases")
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None
    row = body["results"][0]
    assert {"id", "kind", "status", "queue", "priority", "subject", "occurrences", "created_at",
            "sla_due_at"} <= set(row)
    assert (row["id"], row["kind"], row["status"], row["queue"], row["priority"]) == (
        case.pk, "negative_on_hand", "open", "inventory_control", "15.00")
    assert row["subject"]["location"] == "S1" and row["subject"]["sku"] == "A1"


def test_filters_are_query_parameters_named_after_fields(staff_api, stores):
    CaseFactory(location=stores[0])
    CaseFactory(location=stores[1], kind=CaseKind.STALE_EVENT)
    CaseFactory(location=stores[1], resolved=True)
    client = staff_api("inventory_control")

    def kinds(**params):
        return sorted(row["kind"] for row in client.get("/api/v1/cases", params).json()["results"])

    assert kinds(location="S2") == ["negative_on_hand", "stale_event"]
    assert kinds(kind="stale_event") == ["stale_event"]
    assert kinds(status="resolved") == ["negative_on_hand"]
    assert kinds(queue="finance") == []
    assert client.get("/api/v1/cases", {"status": "bogus"}).status_code == 400


def test_store_ops_see_only_their_stores_cases(staff_api, stores):
    mine = CaseFactory(location=stores[0])
    CaseFactory(location=stores[1])
    CaseFactory(location=None, kind=CaseKind.SYNC_FAILED)
    response = staff_api("store_ops", locations=["S1"]).get("/api/v1/cases")
    assert [row["id"] for row in response.json()["results"]] == [mine.pk]


def test_a_partner_sees_only_cases_about_its_own_data_at_its_locations(partner_api, stores):
    client = partner_api("pos-a", scopes=["events"], locations=["S1"])
    ours = raise_case(CaseReport(kind=CaseKind.REJECTED_EVENT, dedup_key="r1", title="t", location_id=stores[0].pk,
                                 context={"source": "pos-a"}))
    raise_case(CaseReport(kind=CaseKind.REJECTED_EVENT, dedup_key="r2", title="t", location_id=stores[0].pk,
                          context={"source": "pos-b"}))
    raise_case(CaseReport(kind=CaseKind.REJECTED_EVENT, dedup_key="r3", title="t", location_id=stores[1].pk,
                          context={"source": "pos-a"}))
    response = client.get("/api/v1/cases")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [ours.pk]
    assert partner_api("pos-c", scopes=["orders"]).get("/api/v1/cases").status_code == 403


def test_pages_follow_the_cursor(staff_api, django_assert_num_queries):
    CaseFactory.create_batch(5, location=LocationFactory(code="S9"), sku=SkuFactory(code="B1"))
    client = staff_api("inventory_control")
    client.get("/api/v1/cases")  # warm the permission cache of the user
    seen = []
    url = "/api/v1/cases?limit=2"
    while url:
        with django_assert_num_queries(1):  # one page, SKU/location/assignee/subject joined
            body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert len(seen) == 5 == len(set(seen))
