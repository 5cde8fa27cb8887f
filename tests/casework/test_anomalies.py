"""Anomaly detectors: each stays quiet on normal seeded data, fires one case on its pattern
with the statistic that fired and a recommended action, and stays one case when run again."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from backoffice.staff import staff_user_upsert
from casework import anomalies
from exceptions.models import Case
from exceptions.services import CaseReport, raise_case
from exceptions.states import CaseKind
from inventory.adjustments import adjustment_request
from inventory.demo import seed_master_data, seed_stock_and_history
from inventory.ingest import IncomingEvent, events_ingest
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket, CycleCount, InventoryEvent, Location, Sku, StockLevel
from retailops.access import LocationScope
from retailops.roles import Role
from tests.inventory.test_screens import signed_in

pytestmark = pytest.mark.django_db

EVERYWHERE = LocationScope(None)
DETECTORS = [*anomalies.FREQUENT, *anomalies.NIGHTLY]


@pytest.fixture
def seeded(db):
    """The demo estate: 3 stores and 30 SKUs, with their opening stock and event history."""
    seed_master_data(stores=3, skus=30, seed=7)
    seed_stock_and_history(stores=3, skus=30, seed=7)
    return Location.objects.filter(kind=Location.Kind.STORE).order_by("code")


def anomaly_cases():
    return list(Case.objects.filter(kind=CaseKind.ANOMALY))


def fires_once(detect, pattern, **when):
    assert detect(**when) == 1
    assert detect(**when) == 1  # run again: the same case, bumped
    cases = [case for case in anomaly_cases() if case.context["pattern"] == pattern]
    assert len(cases) == 1
    case = cases[0]
    assert case.occurrences == 2
    assert case.context["statistic"]["value"] and case.context["recommended_action"]
    return case


def test_normal_seeded_data_raises_no_anomaly(seeded):
    """Every detector, run as beat runs it, right after seeding: the demo's week of history
    arrived as it would have live (seconds after each event), so none of it is late."""
    for detect in DETECTORS:
        assert detect() == 0, detect.__name__
    assert anomaly_cases() == []


def test_the_demo_history_was_received_seconds_after_it_occurred(seeded):
    events = InventoryEvent.objects.all()
    assert events.count() > 100
    for occurred_at, received_at in events.values_list("occurred_at", "received_at"):
        assert timedelta(seconds=2) <= received_at - occurred_at <= timedelta(seconds=90)
    # The latency detector still fires when the same events arrive late (a backfill).
    InventoryEvent.objects.update(received_at=timezone.now())
    assert anomalies.event_latency_detect() == 1


def store_level(stores):
    level = StockLevel.objects.filter(location=stores[0], on_hand__gte=10).select_related("sku", "location").first()
    assert level is not None
    return level


def test_a_sudden_drop_outside_sales_and_transfers(seeded):
    level = store_level(seeded)
    post_movements([Movement(level.sku_id, level.location_id, Bucket.ON_HAND, -(level.on_hand + 20),
                             reason="correction")], document_type="adjustment", document_id="x")
    case = fires_once(anomalies.sudden_drops_detect, "sudden_drop")
    assert case.context["statistic"]["value"] == level.on_hand + 20
    assert (case.sku_id, case.location_id) == (level.sku_id, level.location_id)


def test_sales_do_not_make_a_sudden_drop(seeded):
    level = store_level(seeded)
    post_movements([Movement(level.sku_id, level.location_id, Bucket.ON_HAND, -level.on_hand, reason="sale")])
    assert anomalies.sudden_drops_detect() == 0


def test_a_shrink_spike_against_the_locations_own_baseline(seeded):
    control = staff_user_upsert(username="an-control", role=Role.INVENTORY_CONTROL, password="pw-for-tests-1")
    level = store_level(seeded)
    sku = Sku.objects.get(pk=level.sku_id)
    Sku.objects.filter(pk=sku.pk).update(unit_cost=Decimal("30.00"))
    adjustment_request(sku_code=sku.code, location_code=level.location.code, delta=-9, reason="theft",
                       actor=control, scope=EVERYWHERE)  # 270: below the approval threshold, applies at once
    case = fires_once(anomalies.shrink_spikes_detect, "shrink_spike")
    assert case.context["statistic"]["value"] == 270.0 and case.context["statistic"]["baseline"] == 0.0
    assert case.location_id == level.location_id


def test_one_store_going_negative_again_and_again(seeded):
    store = seeded[0]
    already = sum(Case.objects.filter(kind=CaseKind.NEGATIVE_ON_HAND, location=store)
                  .values_list("occurrences", flat=True))
    assert anomalies.repeated_negatives_detect() == 0
    for index in range(5 - already):
        raise_case(CaseReport(kind=CaseKind.NEGATIVE_ON_HAND, dedup_key=f"an-neg-{index}", title="negative",
                              location_id=store.pk))
    case = fires_once(anomalies.repeated_negatives_detect, "repeated_negative")
    assert case.context["statistic"] == {"value": 5, "threshold": 5, "window_days": 7}
    assert case.location_id == store.pk


def test_phantom_inventory_recommends_a_count_that_one_click_opens(seeded):
    store, other = seeded[0], seeded[1]
    sku = Sku.objects.create(code="AN-PHANTOM", name="Ghost lamp", unit_cost=Decimal("5"), price=Decimal("9"))
    long_ago = timezone.now() - timedelta(days=30)
    post_movements([Movement(sku.pk, store.pk, Bucket.ON_HAND, 6, reason="receipt", occurred_at=long_ago),
                    Movement(sku.pk, other.pk, Bucket.ON_HAND, 40, reason="receipt", occurred_at=long_ago)])
    post_movements([Movement(sku.pk, other.pk, Bucket.ON_HAND, -12, reason="sale")])
    case = fires_once(anomalies.phantom_inventory_detect, "phantom_inventory")
    assert case.context["statistic"]["sold_elsewhere"] == 12 and case.location_id == store.pk

    control = signed_in("an-control-2", Role.INVENTORY_CONTROL)
    page = control.get(reverse("cases:detail", args=[case.pk]))
    assert b"Recommended action" in page.content and b"Count this SKU here" in page.content
    control.post(reverse("cases:recount", args=[case.pk]))
    count = CycleCount.objects.get(location=store)
    assert [line.sku.code for line in count.lines.all()] == ["AN-PHANTOM"]


def test_events_arriving_late_from_one_system(db):
    """Without the demo's backfill: one system's live feed runs two hours late."""
    store = Location.objects.create(code="AN-S", name="Late store", kind=Location.Kind.STORE)
    sku = Sku.objects.create(code="AN-LATE", name="Late item", unit_cost=Decimal("1"), price=Decimal("2"))
    late = timezone.now() - timedelta(hours=2)
    events_ingest(source="an-pos", actor=None, scope=EVERYWHERE, events=[IncomingEvent(
        event_id=f"late-{index}", type="receipt", sku=sku.code, location=store.code, quantity=1, occurred_at=late)
        for index in range(10)])
    case = fires_once(anomalies.event_latency_detect, "event_latency")
    assert case.source == "an-pos" and case.context["statistic"]["value"] == 10


# --- POS silence ------------------------------------------------------------------------------


@pytest.fixture
def tills(db):
    """A store (trading 09:00–21:00) whose POS system sent a sale yesterday at 12:30, and
    the times of yesterday to ask the detector about (in TIME_ZONE)."""
    from integrations.models import ExternalSystem

    ExternalSystem.objects.create(code="an-till", name="Tills", kind=ExternalSystem.Kind.POS)
    store = Location.objects.create(code="AN-T", name="Till store", kind=Location.Kind.STORE)
    Sku.objects.create(code="AN-TILL", name="Till item", unit_cost=Decimal("1"), price=Decimal("2"))
    yesterday = timezone.localtime() - timedelta(days=1)

    def at(hour, minute=0, day=yesterday):
        return day.replace(hour=hour, minute=minute, second=0, microsecond=0)

    def sale(event_id, arrived):
        events_ingest(source="an-till", actor=None, scope=EVERYWHERE, arrived_at={event_id: arrived}, events=[
            IncomingEvent(event_id=event_id, type="receipt", sku="AN-TILL", location="AN-T", quantity=1,
                          occurred_at=arrived - timedelta(seconds=5))])

    sale("till-1", at(12, 30))
    return {"store": store, "at": at, "sale": sale}


def test_tills_silent_while_the_shop_is_open_raise_one_case_with_its_statistic(tills):
    at = tills["at"]
    case = fires_once(anomalies.pos_silence_detect, "pos_silence", now=at(14))
    assert case.location_id == tills["store"].pk
    statistic = case.context["statistic"]
    assert statistic["value"] == 90 and statistic["trading_hours"] == "09:00–21:00"
    assert "tills" in case.context["recommended_action"]


def test_tills_quiet_when_closed_or_just_opened_and_the_case_clears_itself(tills):
    at = tills["at"]
    assert anomalies.pos_silence_detect(now=at(14)) == 1
    assert anomalies.pos_silence_detect(now=at(22)) == 0  # closed: quiet, and the case resolves
    (case,) = anomaly_cases()
    assert (case.status, case.root_cause) == ("resolved", "condition_cleared")
    # Opened half an hour ago: the tills were last heard the evening before, but it is too soon to tell.
    assert anomalies.pos_silence_detect(now=at(9, 30) + timedelta(days=1)) == 0
    # Heard ten minutes ago: quiet.
    tills["sale"]("till-2", at(13, 50))
    assert anomalies.pos_silence_detect(now=at(14)) == 0


def test_trading_hours_over_midnight_and_a_store_without_tills_is_never_silent(tills):
    Location.objects.filter(pk=tills["store"].pk).update(trading_opens_at="18:00", trading_closes_at="02:00")
    at = tills["at"]
    assert anomalies.minutes_open(at(1), *Location.objects.values_list(
        "trading_opens_at", "trading_closes_at").get(pk=tills["store"].pk)) == 7 * 60
    assert anomalies.pos_silence_detect(now=at(14)) == 0  # closed at 14:00
    assert anomalies.pos_silence_detect(now=at(23)) == 1
    Location.objects.create(code="AN-Q", name="No tills", kind=Location.Kind.STORE)
    assert anomalies.pos_silence_detect(now=at(23)) == 1
