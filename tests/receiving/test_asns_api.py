"""POST/GET /api/v1/asns and receiving against them (API.md "Supplier receipts")."""

from decimal import Decimal

import pytest

from exceptions.models import Case
from exceptions.states import CaseKind
from inventory.ledger import ledger_drifts
from inventory.models import StockLevel, StockMovement
from receiving.models import Asn
from tests.receiving.conftest import asn_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def supplier(partner_api):
    return partner_api("acme", scopes=["receipts"], kind="supplier")


def level(sku, location) -> dict:
    row = StockLevel.objects.filter(sku=sku, location=location).first()
    if row is None:
        return {"on_hand": 0, "incoming": 0, "damaged": 0}
    return {"on_hand": row.on_hand, "incoming": row.incoming, "damaged": row.damaged}


def announce(api, dock, **kwargs):
    response = api.post("/api/v1/asns", asn_body(dock, **kwargs), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def receive(api, asn_id, lines, **extra):
    return api.post(f"/api/v1/asns/{asn_id}/receive", {"lines": lines, **extra}, format="json")


def variance_case(asn_id) -> Case | None:
    return Case.objects.filter(kind=CaseKind.RECEIPT_VARIANCE, dedup_key=f"receipt_variance:{asn_id}").first()


def test_an_asn_shows_its_units_as_incoming(supplier, dock):
    body = announce(supplier, dock)

    assert body["status"] == "expected"
    assert [(line["sku"], line["expected"], line["received"]) for line in body["lines"]] == [("A", 10, 0),
                                                                                            ("B", 5, 0)]
    assert body["erp_posting"] is None
    assert level(dock.a, dock.dc) == {"on_hand": 0, "incoming": 10, "damaged": 0}
    assert StockMovement.objects.filter(document_type="asn", document_id=str(body["id"])).count() == 2
    availability = supplier.get("/api/v1/availability", {"sku": "A", "location": "DC1"})
    assert availability.status_code == 403  # a supplier token has only `receipts`


def test_the_same_asn_again_is_200_and_other_content_is_409(supplier, dock):
    first = announce(supplier, dock)

    again = supplier.post("/api/v1/asns", asn_body(dock), format="json")
    changed = supplier.post("/api/v1/asns", asn_body(dock, lines=[{"sku": "A", "quantity": 11}]), format="json")

    assert (again.status_code, again.json()["id"]) == (200, first["id"])
    assert (changed.status_code, changed.json()["code"]) == (409, "asn_exists")
    assert level(dock.a, dock.dc)["incoming"] == 10
    assert Asn.objects.count() == 1


def test_another_sender_may_use_the_same_external_id(supplier, partner_api, dock):
    announce(supplier, dock)
    other = partner_api("erp-1", scopes=["receipts"], kind="erp")
    assert other.post("/api/v1/asns", asn_body(dock), format="json").status_code == 201


def test_an_exact_receipt_moves_incoming_to_on_hand_without_a_case(supplier, dock):
    asn = announce(supplier, dock)

    response = receive(supplier, asn["id"], [{"sku": "A", "quantity": 10}, {"sku": "B", "quantity": 5}])

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "received"
    assert level(dock.a, dock.dc) == {"on_hand": 10, "incoming": 0, "damaged": 0}
    assert level(dock.b, dock.dc) == {"on_hand": 5, "incoming": 0, "damaged": 0}
    assert variance_case(asn["id"]) is None
    assert ledger_drifts() == []


def test_short_over_damaged_and_unexpected_lines_open_one_valued_case(supplier, dock):
    asn = announce(supplier, dock)

    response = receive(supplier, asn["id"], [{"sku": "A", "quantity": 12, "damaged": 1},
                                             {"sku": "B", "quantity": 3},
                                             {"sku": "C", "quantity": 4}])

    assert response.status_code == 200, response.json()
    lines = {line["sku"]: line for line in response.json()["lines"]}
    assert (lines["A"]["received"], lines["A"]["damaged"]) == (12, 1)
    assert (lines["C"]["expected"], lines["C"]["received"]) == (0, 4)
    assert level(dock.a, dock.dc) == {"on_hand": 12, "incoming": 0, "damaged": 1}
    assert level(dock.b, dock.dc) == {"on_hand": 3, "incoming": 0, "damaged": 0}
    assert level(dock.c, dock.dc) == {"on_hand": 4, "incoming": 0, "damaged": 0}
    case = variance_case(asn["id"])
    kinds = {line["sku"]: line["variance"] for line in case.context["lines"]}
    assert kinds == {"A": ["over", "damaged"], "B": ["short"], "C": ["unexpected"]}
    # A: 2 over + 1 damaged at 4.00; B: 2 short at 10.00; C: 4 unexpected at 1.50.
    assert case.money_at_risk == Decimal("12.00") + Decimal("20.00") + Decimal("6.00")
    assert case.location_id == dock.dc.pk
    assert ledger_drifts() == []


@pytest.mark.parametrize(("line", "kinds"), [
    ({"sku": "A", "quantity": 11}, ["over"]),
    ({"sku": "A", "quantity": 9}, ["short"]),
    ({"sku": "A", "quantity": 10, "damaged": 2}, ["damaged"]),
])
def test_each_variance_kind_alone_opens_a_case(supplier, dock, line, kinds):
    asn = announce(supplier, dock, lines=[{"sku": "A", "quantity": 10}])
    assert receive(supplier, asn["id"], [line]).status_code == 200
    assert variance_case(asn["id"]).context["lines"][0]["variance"] == kinds


def test_a_partial_delivery_then_the_rest(supplier, dock):
    asn = announce(supplier, dock)

    partial = receive(supplier, asn["id"], [{"sku": "A", "quantity": 4}], complete=False)

    assert partial.json()["status"] == "partially_received"
    assert level(dock.a, dock.dc) == {"on_hand": 4, "incoming": 6, "damaged": 0}
    assert variance_case(asn["id"]) is None  # nothing is short until the delivery is complete

    rest = receive(supplier, asn["id"], [{"sku": "A", "quantity": 6}, {"sku": "B", "quantity": 5}])

    assert rest.json()["status"] == "received"
    assert level(dock.a, dock.dc) == {"on_hand": 10, "incoming": 0, "damaged": 0}
    assert level(dock.b, dock.dc) == {"on_hand": 5, "incoming": 0, "damaged": 0}
    assert variance_case(asn["id"]) is None
    assert receive(supplier, asn["id"], [{"sku": "A", "quantity": 1}]).json()["code"] == "invalid_state"


def test_close_and_cancel_follow_the_lifecycle_with_history(supplier, dock):
    received = announce(supplier, dock, external_id="ASN-R")
    receive(supplier, received["id"], [{"sku": "A", "quantity": 10}, {"sku": "B", "quantity": 5}])
    closed = supplier.post(f"/api/v1/asns/{received['id']}/close", {"note": "checked"}, format="json")
    assert closed.json()["status"] == "closed"

    cancelled_asn = announce(supplier, dock, external_id="ASN-C")
    cancelled = supplier.post(f"/api/v1/asns/{cancelled_asn['id']}/cancel", {"note": "supplier called"},
                              format="json")
    assert cancelled.json()["status"] == "cancelled"
    assert level(dock.a, dock.dc)["incoming"] == 0
    late = receive(supplier, cancelled_asn["id"], [{"sku": "A", "quantity": 1}])
    assert (late.status_code, late.json()["code"]) == (409, "invalid_state")

    history = Asn.objects.get(pk=received["id"]).history.order_by("history_date")
    reasons = [record.history_change_reason for record in history]
    assert reasons[0] == "announced"
    assert reasons[-1] == "closed: checked (received → closed)"
    assert all(record.history_user.username == "system:acme" for record in history)
    assert ledger_drifts() == []


def test_bad_input_is_a_clear_400_and_stores_nothing(supplier, dock):
    unknown_sku = supplier.post("/api/v1/asns", asn_body(dock, lines=[{"sku": "NOPE", "quantity": 1}]),
                                format="json")
    unknown_location = supplier.post("/api/v1/asns", asn_body(dock, location="NOWHERE"), format="json")
    twice = supplier.post("/api/v1/asns", asn_body(dock, lines=[{"sku": "A", "quantity": 1},
                                                                {"sku": "A", "quantity": 2}]), format="json")
    assert (unknown_sku.status_code, unknown_sku.json()["code"]) == (400, "unknown_sku")
    assert (unknown_location.status_code, unknown_location.json()["code"]) == (400, "unknown_location")
    assert (twice.status_code, twice.json()["code"]) == (400, "duplicate_sku")
    assert not Asn.objects.exists()

    asn = announce(supplier, dock)
    too_damaged = receive(supplier, asn["id"], [{"sku": "A", "quantity": 1, "damaged": 2}])
    assert (too_damaged.status_code, too_damaged.json()["code"]) == (400, "invalid_damaged")
    assert Asn.objects.get().status == "expected"
    assert level(dock.a, dock.dc)["on_hand"] == 0


def test_a_partner_sees_only_its_own_asns_at_its_locations(supplier, partner_api, dock):
    asn = announce(supplier, dock)
    other = partner_api("other", scopes=["receipts"], kind="supplier")
    store_only = partner_api("acme", scopes=["receipts"], locations=["S1"], kind="supplier")

    assert other.get(f"/api/v1/asns/{asn['id']}").status_code == 404
    assert receive(other, asn["id"], [{"sku": "A", "quantity": 1}]).status_code == 404
    assert store_only.get(f"/api/v1/asns/{asn['id']}").status_code == 404
    refused = store_only.post("/api/v1/asns", asn_body(dock, external_id="ASN-DC"), format="json")
    assert (refused.status_code, refused.json()["code"]) == (403, "location_out_of_scope")
    no_scope = partner_api("pos-1", scopes=["events"], kind="pos")
    assert no_scope.post("/api/v1/asns", asn_body(dock, external_id="X"), format="json").status_code == 403


def test_store_ops_receive_at_their_stores_only(staff_api, dock):
    store = staff_api("store_ops", locations=["S1"])
    mine = store.post("/api/v1/asns", asn_body(dock, location="S1"), format="json")
    assert mine.status_code == 201, mine.json()
    control = staff_api("inventory_control")
    at_dc = control.post("/api/v1/asns", asn_body(dock, external_id="ASN-DC"), format="json").json()

    assert store.get(f"/api/v1/asns/{at_dc['id']}").status_code == 404
    assert receive(store, at_dc["id"], [{"sku": "A", "quantity": 10}]).status_code == 404
    assert receive(store, mine.json()["id"], [{"sku": "A", "quantity": 10}, {"sku": "B", "quantity": 5}]
                   ).json()["status"] == "received"
    finance = staff_api("finance")
    assert finance.get(f"/api/v1/asns/{at_dc['id']}").status_code == 200
    assert receive(finance, at_dc["id"], [{"sku": "A", "quantity": 1}]).status_code == 403


def test_an_overdue_asn_opens_a_case_once(supplier, dock, settings):
    from datetime import timedelta

    from django.utils import timezone

    from receiving.services import asns_overdue_detect

    settings.ASN_OVERDUE_GRACE_HOURS = 2
    asn = announce(supplier, dock)
    later = dock.tomorrow + timedelta(hours=3)

    assert asns_overdue_detect(now=timezone.now()) == 0
    assert asns_overdue_detect(now=later) == 1
    assert asns_overdue_detect(now=later) == 1
    case = Case.objects.get(dedup_key=f"asn_overdue:{asn['id']}")
    assert case.kind == CaseKind.RECEIPT_VARIANCE
    assert case.money_at_risk == Decimal("90.00")  # 10 × 4.00 + 5 × 10.00 still due
    receive(supplier, asn["id"], [{"sku": "A", "quantity": 10}, {"sku": "B", "quantity": 5}])
    assert asns_overdue_detect(now=later) == 0
