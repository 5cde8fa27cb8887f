"""Cycle counts (inventory.counts): scheduling, blind submission through the approval
policy, recounts and cancelling, each only at the caller's locations."""

from decimal import Decimal

import pytest
from django.test import Client

from backoffice.staff import staff_user_upsert
from exceptions.states import CaseKind, CaseStatus, RootCause
from inventory import counts
from inventory.adjustments import adjustment_approve
from inventory.errors import LocationOutOfScope, UnknownSku
from inventory.ledger import Movement, post_movements
from inventory.models import Adjustment, Bucket, CycleCount, StockLevel
from inventory.states import AdjustmentStatus, CycleCountStatus
from retailops.access import LocationScope, location_scope_for_user
from retailops.errors import InvalidInput, InvalidState
from tests.exceptions.factories import CaseFactory
from tests.inventory.factories import LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db

EVERYWHERE = LocationScope(None)
Selection = CycleCount.Selection


@pytest.fixture
def store(db):
    class Store:
        here = LocationFactory(code="CS1")
        there = LocationFactory(code="CS2")
        cheap = SkuFactory(code="CNT-CHEAP", unit_cost=Decimal("5.00"))  # 10 units = 50.00: applies at once
        dear = SkuFactory(code="CNT-DEAR", unit_cost=Decimal("200.00"))  # 10 units = 2,000.00: finance
        spare = SkuFactory(code="CNT-SPARE", unit_cost=Decimal("1.00"))

    for sku in (Store.cheap, Store.dear, Store.spare):
        post_movements([Movement(sku.pk, Store.here.pk, Bucket.ON_HAND, 20, reason="receipt")])
    return Store


@pytest.fixture
def ops(store):
    return staff_user_upsert(username="count-ops", role="inventory_control", password="pw-for-tests-1")


@pytest.fixture
def counter(store):
    return staff_user_upsert(username="counter-cs1", role="store_ops", password="pw-for-tests-1",
                             location_codes=[store.here.code])


@pytest.fixture
def finance(store):
    return staff_user_upsert(username="count-finance", role="finance", password="pw-for-tests-1")


def scope_of(user):
    return location_scope_for_user(user)


def schedule(store, actor, codes=("CNT-CHEAP", "CNT-DEAR")):
    return counts.count_schedule(location_code=store.here.code, selection=Selection.EXPLICIT, sku_codes=list(codes),
                                 actor=actor, scope=EVERYWHERE, reason="quarterly")


def submit(count, user, **counted):
    return counts.count_submit(count=count, actor=user, scope=scope_of(user),
                               lines=[counts.CountedLine(code, quantity) for code, quantity in counted.items()])


def level(sku, location):
    return StockLevel.objects.get(sku=sku, location=location)


# --- Scheduling ------------------------------------------------------------------------------


def test_schedule_explicit_skus(store, ops):
    count = schedule(store, ops, codes=("CNT-DEAR", "CNT-CHEAP", "CNT-DEAR"))
    assert count.status == CycleCountStatus.SCHEDULED
    assert sorted(count.lines.values_list("sku__code", flat=True)) == ["CNT-CHEAP", "CNT-DEAR"]
    assert count.scheduled_by == ops
    assert count.history.first().history_change_reason.startswith("scheduled")


def test_schedule_refuses_unknown_skus_and_empty_selection(store, ops):
    with pytest.raises(UnknownSku):
        schedule(store, ops, codes=("NOPE",))
    with pytest.raises(InvalidInput):
        schedule(store, ops, codes=())


def test_schedule_skus_with_open_variance_cases(store, ops):
    CaseFactory(kind=CaseKind.NEGATIVE_ON_HAND, location=store.here, sku=store.dear)
    CaseFactory(kind=CaseKind.STALE_LEVEL, location=store.here, sku=store.spare)
    CaseFactory(kind=CaseKind.NEGATIVE_ON_HAND, location=store.here, sku=store.cheap, resolved=True)
    CaseFactory(kind=CaseKind.NEGATIVE_ON_HAND, location=store.there, sku=store.cheap)
    count = counts.count_schedule(location_code=store.here.code, selection=Selection.VARIANCE_CASES, actor=ops,
                                  scope=EVERYWHERE)
    assert sorted(count.lines.values_list("sku__code", flat=True)) == ["CNT-DEAR", "CNT-SPARE"]


def test_schedule_variance_cases_with_none_open_is_refused(store, ops):
    with pytest.raises(InvalidInput) as refused:
        counts.count_schedule(location_code=store.here.code, selection=Selection.VARIANCE_CASES, actor=ops,
                              scope=EVERYWHERE)
    assert refused.value.code == "nothing_to_count"


def test_schedule_random_sample_of_carried_skus(store, ops):
    SkuFactory(code="NOT-CARRIED")
    count = counts.count_schedule(location_code=store.here.code, selection=Selection.RANDOM_SAMPLE, sample_size=2,
                                  actor=ops, scope=EVERYWHERE)
    codes = set(count.lines.values_list("sku__code", flat=True))
    assert len(codes) == 2 and codes <= {"CNT-CHEAP", "CNT-DEAR", "CNT-SPARE"}
    everything = counts.count_schedule(location_code=store.here.code, selection=Selection.RANDOM_SAMPLE,
                                       sample_size=50, actor=ops, scope=EVERYWHERE)
    assert everything.lines.count() == 3
    with pytest.raises(InvalidInput):
        counts.count_schedule(location_code=store.here.code, selection=Selection.RANDOM_SAMPLE, sample_size=0,
                              actor=ops, scope=EVERYWHERE)


def test_store_user_schedules_only_at_their_store(store, counter):
    with pytest.raises(LocationOutOfScope):
        counts.count_schedule(location_code=store.there.code, selection=Selection.EXPLICIT, sku_codes=["CNT-CHEAP"],
                              actor=counter, scope=scope_of(counter))
    count = counts.count_schedule(location_code=store.here.code, selection=Selection.EXPLICIT,
                                  sku_codes=["CNT-CHEAP"], actor=counter, scope=scope_of(counter))
    assert count.location == store.here


# --- Submitting --------------------------------------------------------------------------------


def test_small_variance_applies_and_big_variance_waits_for_finance(store, ops, counter):
    count = schedule(store, ops)
    submitted = submit(count, counter, **{"CNT-CHEAP": 10, "CNT-DEAR": 10})

    assert submitted.status == CycleCountStatus.SUBMITTED
    assert (submitted.submitted_by, submitted.started_by) == (counter, counter)
    lines = {line.sku.code: line for line in submitted.lines.select_related("sku", "adjustment")}
    cheap, dear = lines["CNT-CHEAP"], lines["CNT-DEAR"]
    assert (cheap.counted_quantity, cheap.system_quantity, cheap.variance) == (10, 20, -10)
    assert cheap.adjustment.status == AdjustmentStatus.APPLIED
    assert cheap.adjustment.value == Decimal("50.00")
    assert level(store.cheap, store.here).on_hand == 10
    assert (dear.variance, dear.adjustment.status) == (-10, AdjustmentStatus.PENDING_APPROVAL)
    assert dear.adjustment.reason == "cycle_count" and dear.adjustment.reference == count.reference
    assert dear.adjustment.requested_by == counter
    assert level(store.dear, store.here).on_hand == 20  # until finance approves


def test_submission_marks_settled_levels_counted(store, ops, counter):
    count = schedule(store, ops, codes=("CNT-CHEAP", "CNT-DEAR", "CNT-SPARE"))
    submit(count, counter, **{"CNT-CHEAP": 19, "CNT-DEAR": 5, "CNT-SPARE": 20})
    count.refresh_from_db()
    assert level(store.cheap, store.here).last_counted_at == count.lines.get(sku=store.cheap).adjustment.counted_at
    assert level(store.spare, store.here).last_counted_at is not None  # matched: still verified
    assert count.lines.get(sku=store.spare).adjustment is None
    assert level(store.dear, store.here).last_counted_at is None  # waits for finance


def test_finance_approval_applies_the_count_and_marks_it_counted(store, ops, counter, finance):
    count = schedule(store, ops, codes=("CNT-DEAR",))
    submit(count, counter, **{"CNT-DEAR": 12})
    adjustment = count.lines.get().adjustment
    adjustment_approve(adjustment=adjustment, approver=finance)
    assert level(store.dear, store.here).on_hand == 12
    assert level(store.dear, store.here).last_counted_at is not None


def test_submission_resolves_the_settled_levels_cases_as_recounted(store, ops, counter):
    negative = CaseFactory(kind=CaseKind.NEGATIVE_ON_HAND, location=store.here, sku=store.cheap)
    stale = CaseFactory(kind=CaseKind.STALE_LEVEL, location=store.here, sku=store.spare)
    waiting = CaseFactory(kind=CaseKind.NEGATIVE_ON_HAND, location=store.here, sku=store.dear)
    elsewhere = CaseFactory(kind=CaseKind.NEGATIVE_ON_HAND, location=store.there, sku=store.cheap)
    other_kind = CaseFactory(kind=CaseKind.DUPLICATE_CONFLICT, location=store.here, sku=store.cheap)
    count = schedule(store, ops, codes=("CNT-CHEAP", "CNT-DEAR", "CNT-SPARE"))
    submit(count, counter, **{"CNT-CHEAP": 18, "CNT-DEAR": 0, "CNT-SPARE": 20})

    for case in (negative, stale):
        case.refresh_from_db()
        assert (case.status, case.root_cause, case.resolved_by) == (CaseStatus.RESOLVED, RootCause.RECOUNTED,
                                                                    counter)
        assert f"cycle count {count.pk}" in case.resolution_note
    for case in (waiting, elsewhere, other_kind):
        case.refresh_from_db()
        assert case.status == CaseStatus.OPEN


def test_every_line_must_be_counted(store, ops, counter):
    count = schedule(store, ops)
    with pytest.raises(InvalidInput) as refused:
        submit(count, counter, **{"CNT-CHEAP": 10})
    assert refused.value.code == "count_incomplete"
    with pytest.raises(InvalidInput):
        submit(count, counter, **{"CNT-CHEAP": 10, "CNT-DEAR": 1, "CNT-SPARE": 3})
    count.refresh_from_db()
    assert count.status == CycleCountStatus.SCHEDULED
    assert not Adjustment.objects.exists()


def test_another_stores_user_cannot_submit(store, ops):
    count = schedule(store, ops)
    other = staff_user_upsert(username="counter-cs2", role="store_ops", password="pw-for-tests-1",
                              location_codes=[store.there.code])
    with pytest.raises(LocationOutOfScope):
        submit(count, other, **{"CNT-CHEAP": 1, "CNT-DEAR": 1})
    assert not Adjustment.objects.exists()


def test_count_screens_are_404_for_another_store(store, ops):
    count = schedule(store, ops)
    other = staff_user_upsert(username="counter-cs2", role="store_ops", password="pw-for-tests-1",
                              location_codes=[store.there.code])
    client = Client()
    client.force_login(other)
    assert client.get(f"/inventory/counts/{count.pk}/").status_code == 404
    assert client.get(f"/inventory/counts/{count.pk}/enter/").status_code == 404
    response = client.post(f"/inventory/counts/{count.pk}/enter/",
                           {f"line_{line.pk}": 1 for line in count.lines.all()})
    assert response.status_code == 404
    count.refresh_from_db()
    assert count.status == CycleCountStatus.SCHEDULED


# --- Recount, accept, cancel --------------------------------------------------------------------


def test_recount_clears_the_lines_for_a_blind_second_round(store, ops, counter):
    count = schedule(store, ops)
    submit(count, counter, **{"CNT-CHEAP": 10, "CNT-DEAR": 10})
    with pytest.raises(InvalidInput):
        counts.count_request_recount(count=count, actor=ops, scope=EVERYWHERE, note=" ")
    recount = counts.count_request_recount(count=count, actor=ops, scope=EVERYWHERE, note="numbers look off")
    assert (recount.status, recount.round) == (CycleCountStatus.RECOUNT_REQUESTED, 2)
    assert set(recount.lines.values_list("counted_quantity", "system_quantity", "variance", "adjustment")) == {
        (None, None, None, None)}

    second = submit(count, counter, **{"CNT-CHEAP": 12, "CNT-DEAR": 19})
    assert second.status == CycleCountStatus.SUBMITTED
    cheap = second.lines.select_related("adjustment").get(sku=store.cheap)
    assert (cheap.system_quantity, cheap.variance) == (10, 2)  # against the ledger after round one
    assert level(store.cheap, store.here).on_hand == 12
    assert level(store.dear, store.here).on_hand == 19
    assert Adjustment.objects.filter(reference=count.reference).count() == 4


def test_round_one_adjustment_waiting_for_finance_is_superseded_by_the_recount(store, ops, counter, finance):
    count = schedule(store, ops, codes=("CNT-DEAR",))
    submit(count, counter, **{"CNT-DEAR": 10})
    first = count.lines.get().adjustment
    counts.count_request_recount(count=count, actor=ops, scope=EVERYWHERE, note="recount the shelf")
    submit(count, counter, **{"CNT-DEAR": 19})
    from inventory.errors import StaleQuantity

    with pytest.raises(StaleQuantity):
        adjustment_approve(adjustment=first, approver=finance)
    assert level(store.dear, store.here).on_hand == 19


def test_accept_only_a_submitted_count(store, ops, counter):
    count = schedule(store, ops)
    with pytest.raises(InvalidState):
        counts.count_accept(count=count, actor=ops, scope=EVERYWHERE)
    submit(count, counter, **{"CNT-CHEAP": 20, "CNT-DEAR": 20})
    accepted = counts.count_accept(count=count, actor=ops, scope=EVERYWHERE, note="fine")
    assert (accepted.status, accepted.accepted_by) == (CycleCountStatus.ACCEPTED, ops)
    with pytest.raises(InvalidState):
        counts.count_request_recount(count=count, actor=ops, scope=EVERYWHERE, note="too late")


def test_cancel_before_submission_only(store, ops, counter):
    scheduled = schedule(store, ops)
    assert counts.count_cancel(count=scheduled, actor=ops, scope=EVERYWHERE).status == CycleCountStatus.CANCELLED
    with pytest.raises(InvalidState):
        submit(scheduled, counter, **{"CNT-CHEAP": 1, "CNT-DEAR": 1})

    started = schedule(store, ops)
    counts.count_start(count=started, actor=counter, scope=scope_of(counter))
    assert counts.count_cancel(count=started, actor=ops, scope=EVERYWHERE).status == CycleCountStatus.CANCELLED

    submitted = schedule(store, ops)
    submit(submitted, counter, **{"CNT-CHEAP": 20, "CNT-DEAR": 20})
    with pytest.raises(InvalidState):
        counts.count_cancel(count=submitted, actor=ops, scope=EVERYWHERE)
    counts.count_request_recount(count=submitted, actor=ops, scope=EVERYWHERE, note="again")
    counts.count_start(count=submitted, actor=counter, scope=scope_of(counter))
    with pytest.raises(InvalidState):  # round one posted already: see it through
        counts.count_cancel(count=submitted, actor=ops, scope=EVERYWHERE)


def test_store_user_cannot_cancel_another_stores_count(store, ops):
    count = schedule(store, ops)
    other = staff_user_upsert(username="counter-cs2", role="store_ops", password="pw-for-tests-1",
                              location_codes=[store.there.code])
    with pytest.raises(LocationOutOfScope):
        counts.count_cancel(count=count, actor=other, scope=scope_of(other))
    count.refresh_from_db()
    assert count.status == CycleCountStatus.SCHEDULED
