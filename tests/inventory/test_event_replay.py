"""event_replay: a rejected event taken in again once its master data is fixed, still
exactly once: the same row, the same checks and posting as events_ingest."""

from datetime import UTC, datetime

import pytest

from exceptions.models import Case
from exceptions.states import CaseKind
from inventory.errors import LocationOutOfScope
from inventory.ingest import IncomingEvent, event_replay, events_ingest
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket, InventoryEvent, StockLevel, StockMovement
from retailops.access import LocationScope
from retailops.errors import InvalidState
from tests.inventory.factories import LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db

EVERYWHERE = LocationScope(None)
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def store():
    return LocationFactory(code="S1")


def receive(event_id="E1", *, sku="NEW-1", location="S1", type_="receipt", quantity=5, at=T0) -> str:
    result = events_ingest(source="pos-1", actor=None, scope=EVERYWHERE, events=[IncomingEvent(
        event_id=event_id, type=type_, sku=sku, location=location, quantity=quantity, occurred_at=at)])
    return result.results[0].status


def stored(event_id="E1") -> InventoryEvent:
    return InventoryEvent.objects.get(source="pos-1", event_id=event_id)


def test_a_rejected_event_applies_on_its_own_row_once_the_sku_exists(store):
    assert receive() == "rejected"
    row = stored()
    assert row.error_code == "unknown_sku"
    sku = SkuFactory(code="NEW-1")

    replayed = event_replay(event=row, actor=None)

    assert (replayed.pk, replayed.status, replayed.error_code) == (row.pk, "applied", "")
    assert (replayed.sku_id, replayed.location_id) == (sku.pk, store.pk)
    assert InventoryEvent.objects.filter(source="pos-1", event_id="E1").count() == 1
    assert StockLevel.objects.get(sku=sku, location=store).on_hand == 5
    assert list(StockMovement.objects.filter(sku=sku).values_list("event_id", "delta")) == [(row.pk, 5)]


def test_a_replayed_event_is_not_applied_twice(store):
    receive()
    SkuFactory(code="NEW-1")
    event_replay(event=stored(), actor=None)

    with pytest.raises(InvalidState):
        event_replay(event=stored(), actor=None)
    assert receive() == "duplicate"  # a resend of the same content is still a duplicate
    assert StockLevel.objects.get(sku__code="NEW-1", location=store).on_hand == 5


def test_an_event_that_still_fails_stays_rejected_with_the_new_reason():
    receive(location="NOWHERE")
    SkuFactory(code="NEW-1")

    replayed = event_replay(event=stored(), actor=None)

    assert (replayed.status, replayed.error_code) == ("rejected", "unknown_location")
    assert "NOWHERE" in replayed.error_detail
    assert not StockMovement.objects.exists()


def test_an_applied_event_cannot_be_replayed(store):
    SkuFactory(code="NEW-1")
    receive()
    with pytest.raises(InvalidState):
        event_replay(event=stored(), actor=None)
    assert StockLevel.objects.get(sku__code="NEW-1", location=store).on_hand == 5


def test_a_replay_outside_the_persons_locations_is_refused_and_changes_nothing(store):
    receive()
    SkuFactory(code="NEW-1")
    elsewhere = LocationFactory(code="S2")
    with pytest.raises(LocationOutOfScope):
        event_replay(event=stored(), actor=None, scope=LocationScope(frozenset({elsewhere.pk})))
    assert (stored().status, stored().error_code) == ("rejected", "unknown_sku")


def test_a_rejection_for_the_senders_scope_is_not_replayable(store):
    SkuFactory(code="NEW-1")
    events_ingest(source="pos-1", actor=None, scope=LocationScope(frozenset()), events=[IncomingEvent(
        event_id="E1", type="receipt", sku="NEW-1", location="S1", quantity=5, occurred_at=T0)])
    assert stored().error_code == "location_out_of_scope"
    with pytest.raises(InvalidState):
        event_replay(event=stored(), actor=None)
    assert not StockMovement.objects.exists()


def test_a_replayed_event_older_than_the_last_count_is_stale_with_a_case(store):
    receive()
    sku = SkuFactory(code="NEW-1")
    post_movements([Movement(sku.pk, store.pk, Bucket.ON_HAND, 3, reason="receipt")])
    StockLevel.objects.filter(sku=sku, location=store).update(last_counted_at=datetime(2026, 11, 21, tzinfo=UTC))

    replayed = event_replay(event=stored(), actor=None)

    assert replayed.status == "stale"
    assert StockLevel.objects.get(sku=sku, location=store).on_hand == 3
    assert Case.objects.filter(kind=CaseKind.STALE_EVENT, subject_id=str(replayed.pk)).exists()
