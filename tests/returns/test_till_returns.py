"""Till returns at a location that inspects them: the POS `return` event puts the units
into quality control and onto an unauthorised return the desk finds and inspects."""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from exceptions.models import Case
from exceptions.states import CaseKind
from inventory.ingest import IncomingEvent, event_replay, events_ingest
from inventory.models import InventoryEvent, StockLevel
from retailops.access import LocationScope
from returns.models import ReturnAuthorization, ReturnReceipt
from tests.inventory.factories import SkuFactory
from tests.returns.conftest import URL, act, assert_ledger_clean
from tests.returns.test_screens import signed_in

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/inventory/events"


def event(event_id: str, *, sku="A", location="DC1", quantity=2, reference=""):
    body = {"event_id": event_id, "type": "return", "sku": sku, "location": location, "quantity": quantity,
            "occurred_at": timezone.now().isoformat()}
    return {**body, "reference": reference} if reference else body


def send(client, *events):
    response = client.post(EVENTS, {"events": list(events)}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.fixture
def pos(partner_api, place):
    return partner_api("pos", kind="pos", scopes=["events"])


def stock(sku="A", location="DC1") -> StockLevel:
    return StockLevel.objects.get(sku__code=sku, location__code=location)


def test_a_pos_return_at_a_dc_is_a_return_the_desk_inspects_back_to_available(pos, place):
    assert send(pos, event("till-1", reference="R-100"))["summary"]["applied"] == 1
    assert (stock().on_hand, stock().quality_control, stock().available) == (52, 2, 50)

    authorization = ReturnAuthorization.objects.get()
    stored = InventoryEvent.objects.get(event_id="till-1")
    assert (authorization.status, authorization.authorized, authorization.source_system) == ("received", False, "pos")
    assert authorization.external_id == f"TILL-{stored.pk}" and authorization.till_reference == "R-100"
    assert authorization.location == place.dc
    [line] = authorization.lines.all()
    assert (line.sku, line.authorized, line.received, line.awaiting_inspection) == (place.a, 0, 2, 2)
    assert ReturnReceipt.objects.get().event == stored  # the receipt's source
    case = Case.objects.get(kind=CaseKind.RETURN_UNRECONCILED)
    assert "returned at the till" in case.title and case.location_id == place.dc.pk

    # The desk finds it by the till's reference, and lists it under its RA number.
    desk = signed_in("dc-desk", "inventory_control")
    assert desk.get("/returns/desk/", {"reference": "R-100"}).context["authorization"].pk == authorization.pk
    assert f"TILL-{stored.pk}".encode() in desk.get("/returns/").content
    line_form = desk.post(f"/returns/{authorization.pk}/inspect/", {f"restock_{line.pk}": "2"}, follow=True)
    assert line_form.status_code == 200

    authorization.refresh_from_db()
    assert authorization.status == "inspected"
    assert (stock().on_hand, stock().quality_control, stock().available) == (52, 0, 52)
    assert_ledger_clean()


def test_events_of_one_till_reference_add_to_one_return_once_each(pos, place, staff_api):
    send(pos, event("till-1", reference="R-7"), event("till-2", sku="B", quantity=1, reference="R-7"))
    send(pos, event("till-3", quantity=1, reference="R-7"), event("till-1", reference="R-7"))  # + a resend
    authorization = ReturnAuthorization.objects.get()
    assert {line.sku.code: line.received for line in authorization.lines.all()} == {"A": 3, "B": 1}
    assert ReturnReceipt.objects.count() == 3
    [case] = Case.objects.filter(kind=CaseKind.RETURN_UNRECONCILED)
    assert case.occurrences == 2  # bumped by the second batch, not doubled
    # Inspected through the API like any return; a later till return with the reference is a new one.
    control = staff_api("inventory_control")
    response = act(control, authorization.pk, "inspect", {"lines": [
        {"sku": "A", "quantity": 3, "disposition": "restock"}, {"sku": "B", "quantity": 1, "disposition": "damaged"}]})
    assert response.status_code == 200, response.json()
    send(pos, event("till-4", reference="R-7"))
    assert ReturnAuthorization.objects.count() == 2
    assert ReturnAuthorization.objects.filter(status="received", till_reference="R-7").count() == 1
    assert_ledger_clean()


def test_without_a_reference_each_event_is_its_own_return_found_by_the_event_id(pos, place, staff_api):
    send(pos, event("till-a"), event("till-b"))
    assert sorted(ReturnAuthorization.objects.values_list("till_reference", flat=True)) == ["till-a", "till-b"]
    desk = signed_in("dc-desk", "inventory_control")
    found = desk.get("/returns/desk/", {"reference": "till-b"}).context["authorization"]
    assert found.till_reference == "till-b"
    listed = staff_api("inventory_control").get(URL, {"status": "received"}).json()["results"]
    assert len(listed) == 2 and all(row["authorized"] is False for row in listed)


def test_a_till_return_that_restocks_makes_no_return(pos, place):
    send(pos, event("till-s", location="S1", reference="R-1"))
    assert (stock(location="S1").on_hand, stock(location="S1").quality_control) == (2, 0)
    assert not ReturnAuthorization.objects.exists()
    assert not Case.objects.filter(kind=CaseKind.RETURN_UNRECONCILED).exists()


def test_a_replayed_till_return_lands_on_a_return_too(pos, place):
    result = send(pos, event("till-late", sku="NEW", reference="R-9"))
    assert result["results"][0]["status"] == "rejected"
    assert not ReturnAuthorization.objects.exists()
    SkuFactory(code="NEW")
    event_replay(event=InventoryEvent.objects.get(event_id="till-late"), actor=None)
    authorization = ReturnAuthorization.objects.get()
    assert (authorization.till_reference, authorization.status) == ("R-9", "received")
    assert authorization.lines.get().received == 2
    assert_ledger_clean()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_batches_of_one_till_reference_at_once_make_one_return(place):
    start = threading.Barrier(2)
    errors: list[Exception] = []

    def ingest(event_id: str) -> None:
        try:
            start.wait()
            events_ingest(source="pos", actor=None, scope=LocationScope(None), events=[IncomingEvent(
                event_id=event_id, type="return", sku="A", location="DC1", quantity=1,
                occurred_at=timezone.now(), reference="R-RACE")])
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=ingest, args=(event_id,)) for event_id in ("race-1", "race-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    authorization = ReturnAuthorization.objects.get()
    assert authorization.lines.get().received == 2 and ReturnReceipt.objects.count() == 2
    assert Case.objects.filter(kind=CaseKind.RETURN_UNRECONCILED).count() == 1
    assert stock().quality_control == 2
    assert_ledger_clean()
