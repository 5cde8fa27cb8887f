"""A partner's `receipt` event is a fact the ingest records, but it was not received
against any advance shipping notice: receiving opens a `receipt_variance` case for it,
one per sender, location and day, in the ingest's transaction."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from exceptions.models import Case
from exceptions.states import CaseKind
from inventory.ingest import IncomingEvent, event_replay, events_ingest
from inventory.models import InventoryEvent, StockLevel
from receiving.services import AsnLineInput, asn_create
from retailops.access import LocationScope
from tests.inventory.factories import SkuFactory

pytestmark = pytest.mark.django_db

EVERYWHERE = LocationScope(None)
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def ingest(*events, source="wms-1"):
    return events_ingest(source=source, actor=None, scope=EVERYWHERE, events=list(events))


def receipt(event_id, quantity=5, *, sku="A", location="DC1", at=T0, reference="", type_="receipt"):
    return IncomingEvent(event_id=event_id, type=type_, sku=sku, location=location, quantity=quantity,
                         occurred_at=at, reference=reference)


def receipt_cases():
    return Case.objects.filter(kind=CaseKind.RECEIPT_VARIANCE, dedup_key__startswith="receipt_without_asn:")


def test_a_receipt_event_is_applied_and_opens_a_valued_case(dock):
    result = ingest(receipt("r1", 5))

    assert [r.status for r in result.results] == ["applied"]
    assert StockLevel.objects.get(sku=dock.a, location=dock.dc).on_hand == 5  # still a fact
    case = receipt_cases().get()
    assert case.location_id == dock.dc.pk and case.sku_id == dock.a.pk
    assert case.money_at_risk == Decimal("20.00")  # 5 × 4.00
    assert case.dedup_key == f"receipt_without_asn:wms-1:{dock.dc.pk}"
    assert case.context["receipts"] == [{"event_id": "r1", "sku": "A", "quantity": 5, "reference": "",
                                         "asn": None, "asn_status": None}]
    assert "No notice announced them" in case.detail


def test_one_open_case_per_sender_and_location_bumped_by_each_event(dock):
    ingest(receipt("r1", 5), receipt("r2", 2, sku="B"))
    ingest(receipt("r3", 1))  # a later batch: bumps
    ingest(receipt("r4", 1, at=T0 + timedelta(days=1)))  # the next day: still the same open case
    ingest(receipt("r5", 1, location="S1"))  # another location
    ingest(receipt("r1", 1), source="pos-9")  # another sender, same event id

    cases = {case.dedup_key: case for case in receipt_cases()}
    assert len(cases) == 3
    dock_case = cases[f"receipt_without_asn:wms-1:{dock.dc.pk}"]
    assert dock_case.occurrences == 4
    assert dock_case.money_at_risk == Decimal("40.00")  # the larger batch: 5 × 4.00 + 2 × 10.00


def test_a_resent_event_does_not_bump_the_case(dock):
    ingest(receipt("r1", 5))
    result = ingest(receipt("r1", 5))

    assert [r.status for r in result.results] == ["duplicate"]
    assert receipt_cases().get().occurrences == 1


def test_other_events_open_no_receipt_case(dock):
    ingest(receipt("r1", 5, type_="return"), receipt("a1", 3, type_="adjustment"),
           receipt("t1", 2, type_="transfer_in"))

    assert not receipt_cases().exists()


def test_a_receipt_naming_a_notice_says_so(dock):
    asn, _created = asn_create(actor=None, scope=EVERYWHERE, source_system="acme", external_id="ASN-7",
                               location_code="DC1", expected_at=dock.tomorrow,
                               lines=[AsnLineInput(sku="A", quantity=5)])

    ingest(receipt("r1", 5, reference="ASN-7"), receipt("r2", 1, reference="PO-unknown"))

    case = receipt_cases().get()
    by_event = {line["event_id"]: line for line in case.context["receipts"]}
    assert (by_event["r1"]["asn"], by_event["r1"]["asn_status"]) == (asn.pk, "expected")
    assert by_event["r2"]["asn"] is None
    assert case.context["asns_named"] == ["ASN-7"]
    assert "names ASN ASN-7, expected" in case.detail
    assert "rather than receive them again" in case.detail


def test_a_receipt_naming_a_notice_at_another_location_does_not_name_it(dock):
    asn_create(actor=None, scope=EVERYWHERE, source_system="acme", external_id="ASN-7", location_code="S1",
               expected_at=dock.tomorrow, lines=[AsnLineInput(sku="A", quantity=5)])

    ingest(receipt("r1", 5, reference="ASN-7"))

    assert receipt_cases().get().context["asns_named"] == []


def test_a_stale_receipt_opens_no_receipt_case(dock):
    ingest(IncomingEvent(event_id="c1", type="count", sku="A", location="DC1", quantity=0,
                         occurred_at=T0 + timedelta(hours=1)))

    result = ingest(receipt("r1", 5))

    assert [r.status for r in result.results] == ["stale"]
    assert not receipt_cases().exists()


def test_a_replayed_receipt_opens_the_case_once(dock):
    ingest(receipt("r1", 5, sku="NEW-1"))
    assert not receipt_cases().exists()  # rejected: nothing arrived yet as far as the ledger knows
    SkuFactory(code="NEW-1", unit_cost=Decimal("2.00"))

    event_replay(event=InventoryEvent.objects.get(event_id="r1"), actor=None)

    case = receipt_cases().get()
    assert (case.occurrences, case.money_at_risk) == (1, Decimal("10.00"))


def test_a_failing_case_undoes_the_fact(dock, monkeypatch):
    """The fact and its case commit together: a receiver that fails leaves nothing half done."""
    from receiving import services

    def broken(*args, **kwargs):
        raise RuntimeError("case store down")

    monkeypatch.setattr(services, "raise_cases", broken)
    with pytest.raises(RuntimeError):
        ingest(receipt("r1", 5))

    assert not InventoryEvent.objects.exists()
    assert not StockLevel.objects.filter(on_hand__gt=0).exists()


def test_the_api_answers_as_before(dock, partner_api):
    wms = partner_api("wms-1", scopes=["events"], kind="wms")

    response = wms.post("/api/v1/inventory/events", {"events": [
        {"event_id": "r1", "type": "receipt", "sku": "A", "location": "DC1", "quantity": 5,
         "occurred_at": T0.isoformat()}]}, format="json")

    assert response.status_code == 200
    assert response.json()["summary"]["applied"] == 1
    assert receipt_cases().count() == 1
