"""Returns through the API (API.md "Returns"): every transition, every error code, and
what each step does to the ledger."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from exceptions.models import Case
from exceptions.states import CaseKind
from inventory.models import StockMovement
from returns.models import ReturnAuthorization
from tests.returns.conftest import URL, act, assert_ledger_clean, authorize, level

pytestmark = pytest.mark.django_db


def test_authorising_answers_201_with_the_contract_shape(control, place):
    body = authorize(control, lines=[{"sku": "A", "quantity": 2, "reason": "too small"},
                                     {"sku": "B", "quantity": 1, "reason": "faulty"}])
    assert body["status"] == "authorized"
    assert body["external_id"] == "RA-1" and body["location"] == "S1"
    assert body["refund"] is None and body["erp_posting"] is None
    assert body["lines"][0] == {"sku": "A", "authorized": 2, "received": 0, "restocked": 0, "damaged": 0,
                                "written_off": 0, "returned_to_vendor": 0, "reason": "too small"}
    assert control.get(f"{URL}/{body['id']}").json() == body


def test_the_same_external_id_again_is_the_same_return_or_409(control, place):
    first = authorize(control)
    again = authorize(control, expect=200)
    assert again["id"] == first["id"]
    response = control.post(URL, {"external_id": "RA-1", "location": "S1", "lines": [{"sku": "A", "quantity": 9}]},
                            format="json")
    assert response.status_code == 409 and response.json()["code"] == "return_exists"


def test_receiving_puts_units_in_quality_control_not_available(control, place):
    body = authorize(control)
    response = act(control, body["id"], "receive", {"lines": [{"sku": "A", "quantity": 3}]})
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "received"
    stock = level(place.a, place.store)
    assert (stock.on_hand, stock.quality_control, stock.available) == (3, 3, 0)
    movements = StockMovement.objects.filter(document_type="return", document_id=str(body["id"]))
    assert {(m.bucket, m.delta, m.reason) for m in movements} == {("on_hand", 3, "return_received"),
                                                                  ("quality_control", 3, "return_received")}
    assert_ledger_clean()


def test_a_partial_receipt_then_the_rest(control, place):
    body = authorize(control)
    assert act(control, body["id"], "receive", {"lines": [{"sku": "A", "quantity": 1}]}).json()["status"] \
        == "partially_received"
    assert act(control, body["id"], "receive", {"lines": [{"sku": "A", "quantity": 2}]}).json()["status"] \
        == "received"


def test_receiving_more_than_authorised_is_409_exceeds_expected_and_moves_nothing(control, place):
    body = authorize(control)
    act(control, body["id"], "receive", {"lines": [{"sku": "A", "quantity": 2}]})
    response = act(control, body["id"], "receive", {"lines": [{"sku": "A", "quantity": 2}]})
    assert response.status_code == 409 and response.json()["code"] == "exceeds_expected"
    assert level(place.a, place.store).on_hand == 2
    assert control.get(f"{URL}/{body['id']}").json()["lines"][0]["received"] == 2


@pytest.mark.parametrize(("disposition", "buckets"), [
    ("restock", {"on_hand": 3, "quality_control": 0, "damaged": 0, "available": 3}),
    ("damaged", {"on_hand": 3, "quality_control": 0, "damaged": 3, "available": 0}),
    ("write_off", {"on_hand": 0, "quality_control": 0, "damaged": 0, "available": 0}),
    ("return_to_vendor", {"on_hand": 0, "quality_control": 0, "damaged": 0, "available": 0}),
])
def test_each_disposition_moves_the_ledger_as_written(control, place, disposition, buckets):
    body = authorize(control)
    act(control, body["id"], "receive", {"lines": [{"sku": "A", "quantity": 3}]})
    response = act(control, body["id"], "inspect", {"lines": [{"sku": "A", "quantity": 3,
                                                               "disposition": disposition}]})
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "inspected"
    field = {"restock": "restocked", "damaged": "damaged", "write_off": "written_off",
             "return_to_vendor": "returned_to_vendor"}[disposition]
    assert response.json()["lines"][0][field] == 3
    stock = level(place.a, place.store)
    assert {name: getattr(stock, name) for name in buckets} == buckets
    assert set(StockMovement.objects.filter(document_type="return").values_list("reason", flat=True)) >= {
        "return_received"}
    assert_ledger_clean()


def test_a_mixed_inspection_in_groups(control, place):
    body = authorize(control, lines=[{"sku": "A", "quantity": 4}])
    act(control, body["id"], "receive", {"lines": [{"sku": "A", "quantity": 4}]})
    response = act(control, body["id"], "inspect", {"lines": [
        {"sku": "A", "quantity": 2, "disposition": "restock"},
        {"sku": "A", "quantity": 1, "disposition": "damaged"}]})
    assert response.json()["status"] == "received"  # one unit still waits
    response = act(control, body["id"], "inspect", {"lines": [{"sku": "A", "quantity": 1,
                                                               "disposition": "write_off"}]})
    line = response.json()["lines"][0]
    assert (line["restocked"], line["damaged"], line["written_off"]) == (2, 1, 1)
    assert response.json()["status"] == "inspected"
    stock = level(place.a, place.store)
    assert (stock.on_hand, stock.quality_control, stock.damaged, stock.available) == (3, 0, 1, 2)
    assert_ledger_clean()


def test_inspecting_more_than_waits_is_409_exceeds_expected(control, place):
    body = authorize(control)
    act(control, body["id"], "receive", {"lines": [{"sku": "A", "quantity": 2}]})
    response = act(control, body["id"], "inspect", {"lines": [{"sku": "A", "quantity": 3,
                                                               "disposition": "restock"}]})
    assert response.status_code == 409 and response.json()["code"] == "exceeds_expected"
    act(control, body["id"], "inspect", {"lines": [{"sku": "A", "quantity": 2, "disposition": "restock"}]})
    again = act(control, body["id"], "inspect", {"lines": [{"sku": "A", "quantity": 1, "disposition": "restock"}]})
    assert again.status_code == 409 and again.json()["code"] == "exceeds_expected"


def test_an_unknown_disposition_is_400(control, place):
    body = authorize(control)
    act(control, body["id"], "receive", {"lines": [{"sku": "A", "quantity": 3}]})
    response = act(control, body["id"], "inspect", {"lines": [{"sku": "A", "quantity": 1,
                                                               "disposition": "resell"}]})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "lines[0].disposition"


@pytest.mark.parametrize(("change", "status", "code"), [
    ({"location": "NOPE"}, 400, "unknown_location"),
    ({"lines": [{"sku": "NOPE", "quantity": 1}]}, 400, "unknown_sku"),
    ({"lines": [{"sku": "A", "quantity": 0}]}, 400, "min_value"),
    ({"lines": [{"sku": "A", "quantity": -2}]}, 400, "min_value"),
    ({"lines": []}, 400, "min_length"),
    ({"lines": [{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 1}]}, 400, "duplicate_sku"),
    ({"order": 987654}, 400, "unknown_order"),
])
def test_bad_authorisations_are_problems_with_a_code(control, place, change, status, code):
    body = {"external_id": "RA-X", "location": "S1", "lines": [{"sku": "A", "quantity": 1}], **change}
    response = control.post(URL, body, format="json")
    assert response.status_code == status, response.json()
    problem = response.json()
    assert code in {problem["code"], *(error["code"] for error in problem.get("errors", []))}
    assert not ReturnAuthorization.objects.exists()


def test_receiving_unknown_or_foreign_skus_is_400(control, place):
    body = authorize(control)
    unknown = act(control, body["id"], "receive", {"lines": [{"sku": "NOPE", "quantity": 1}]})
    assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_sku"
    foreign = act(control, body["id"], "receive", {"lines": [{"sku": "B", "quantity": 1}]})
    assert foreign.status_code == 400 and foreign.json()["code"] == "not_on_return"
    zero = act(control, body["id"], "receive", {"lines": [{"sku": "A", "quantity": 0}]})
    assert zero.status_code == 400


def _shipped_order(control, quantity=2) -> int:
    order = control.post("/api/v1/orders", {"external_id": "O-1", "channel": "web", "fulfillment": "ship",
                                            "lines": [{"line_id": "1", "sku": "A", "quantity": quantity}]},
                         format="json")
    assert order.status_code == 201, order.json()
    assert control.post(f"/api/v1/orders/{order.json()['id']}/ship", {}, format="json").status_code == 200
    return order.json()["id"]


def test_a_return_against_an_order_takes_back_no_more_than_shipped(control, place):
    order_id = _shipped_order(control, quantity=2)
    response = control.post(URL, {"external_id": "RA-O", "location": "DC1", "order": order_id,
                                  "lines": [{"sku": "A", "quantity": 3}]}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "exceeds_shipped"
    authorize(control, external_id="RA-O1", location="DC1", order=order_id, lines=[{"sku": "A", "quantity": 2}])
    again = control.post(URL, {"external_id": "RA-O2", "location": "DC1", "order": order_id,
                               "lines": [{"sku": "A", "quantity": 1}]}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "exceeds_shipped"  # already on RA-O1
    not_shipped = control.post(URL, {"external_id": "RA-O3", "location": "DC1", "order": order_id,
                                     "lines": [{"sku": "B", "quantity": 1}]}, format="json")
    assert not_shipped.status_code == 409 and not_shipped.json()["code"] == "exceeds_shipped"


@pytest.mark.parametrize(("verb", "body"), [
    ("receive", {"lines": [{"sku": "A", "quantity": 1}]}),
    ("inspect", {"lines": [{"sku": "A", "quantity": 1, "disposition": "restock"}]}),
    ("close", {}),
    ("cancel", {}),
    ("refund", {"amount": "10.00"}),
])
def test_a_cancelled_return_refuses_every_verb_with_invalid_state(control, place, verb, body):
    created = authorize(control)
    assert act(control, created["id"], "cancel").json()["status"] == "cancelled"
    response = act(control, created["id"], verb, body)
    assert response.status_code == 409 and response.json()["code"] == "invalid_state"


def test_inspecting_before_anything_arrived_is_invalid_state(control, place):
    created = authorize(control)
    response = act(control, created["id"], "inspect", {"lines": [{"sku": "A", "quantity": 1,
                                                                  "disposition": "restock"}]})
    assert response.status_code == 409 and response.json()["code"] == "invalid_state"


def test_cancelling_after_a_receipt_is_invalid_state(control, place):
    created = authorize(control)
    act(control, created["id"], "receive", {"lines": [{"sku": "A", "quantity": 1}]})
    response = act(control, created["id"], "cancel")
    assert response.status_code == 409 and response.json()["code"] == "invalid_state"


def test_the_whole_way_authorised_to_closed(control, place):
    created = authorize(control, external_id="RA-FULL")
    act(control, created["id"], "receive", {"lines": [{"sku": "A", "quantity": 3}]})
    act(control, created["id"], "inspect", {"lines": [{"sku": "A", "quantity": 3, "disposition": "restock"}]})
    refunded = act(control, created["id"], "refund", {"amount": "60.00"})
    assert refunded.status_code == 200, refunded.json()
    assert refunded.json()["status"] == "refunded"
    assert refunded.json()["refund"]["status"] == "refunded"
    assert refunded.json()["erp_posting"] == {"status": "not_sent"}  # no ERP system in this test
    closed = act(control, created["id"], "close")
    assert closed.json()["status"] == "closed"
    assert not Case.objects.filter(kind=CaseKind.RETURN_UNRECONCILED).exists()
    history = ReturnAuthorization.objects.get(pk=created["id"]).history.order_by("history_date")
    assert [entry.status for entry in history] == ["authorized", "received", "inspected", "refunded", "closed"]
    assert all(entry.history_user is not None for entry in history)
    assert_ledger_clean()


def test_closing_short_opens_a_return_unreconciled_case(control, place):
    created = authorize(control)
    act(control, created["id"], "receive", {"lines": [{"sku": "A", "quantity": 1}]})
    act(control, created["id"], "inspect", {"lines": [{"sku": "A", "quantity": 1, "disposition": "restock"}]})
    closed = act(control, created["id"], "close", {"note": "customer kept two"})
    assert closed.json()["status"] == "closed"
    case = Case.objects.get(kind=CaseKind.RETURN_UNRECONCILED)
    assert case.dedup_key == f"return_unreconciled:{created['id']}"
    assert case.money_at_risk == Decimal("40.00")


def test_closing_with_units_waiting_for_inspection_is_invalid_state(control, place):
    created = authorize(control)
    act(control, created["id"], "receive", {"lines": [{"sku": "A", "quantity": 1}]})
    response = act(control, created["id"], "close")
    assert response.status_code == 409 and response.json()["code"] == "invalid_state"


def test_list_filters_by_status_strictly(control, place):
    first = authorize(control, external_id="RA-1")
    authorize(control, external_id="RA-2")
    act(control, first["id"], "cancel")
    listed = control.get(f"{URL}?status=cancelled").json()
    assert [row["external_id"] for row in listed["results"]] == ["RA-1"]
    assert control.get(f"{URL}?status=nonsense").status_code == 400


def test_the_list_query_count_does_not_grow_with_returns(control, place):
    def queries_of_list(expected: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert len(control.get(URL).json()["results"]) == expected
        return len(captured.captured_queries)

    for index in range(2):
        authorize(control, external_id=f"RA-{index}")
    few = queries_of_list(2)
    for index in range(2, 12):
        authorize(control, external_id=f"RA-{index}")
    assert queries_of_list(12) == few


def test_an_idempotency_key_replays_a_receipt_without_a_second_effect(control, place):
    created = authorize(control)
    headers = {"HTTP_IDEMPOTENCY_KEY": "receive-once"}
    body = {"lines": [{"sku": "A", "quantity": 2}]}
    first = control.post(f"{URL}/{created['id']}/receive", body, format="json", **headers)
    again = control.post(f"{URL}/{created['id']}/receive", body, format="json", **headers)
    assert first.status_code == again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert level(place.a, place.store).on_hand == 2
