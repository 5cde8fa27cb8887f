"""The ledger: the one way stock changes (DESIGN.md "Inventory model")."""

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from exceptions.models import Case
from inventory.errors import BucketWouldGoNegative, InsufficientStock
from inventory.ledger import Movement, NotAvailable, ledger_drifts, post_movements
from inventory.models import Bucket, StockLevel, StockMovement
from retailops.errors import LockTimeout
from tests.inventory.factories import LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def key():
    return SkuFactory(code="A", price="20.00").pk, LocationFactory(code="S1").pk


def move(key, bucket, delta, reason="test"):
    return Movement(sku_id=key[0], location_id=key[1], bucket=bucket, delta=delta, reason=reason)


def test_posting_writes_movements_and_moves_the_level_by_the_same_deltas(key):
    post_movements([move(key, Bucket.ON_HAND, 10), move(key, Bucket.DAMAGED, 2)], document_type="test",
                   document_id="1")
    post_movements([move(key, Bucket.ON_HAND, -3)])

    level = StockLevel.objects.get()
    assert (level.on_hand, level.damaged, level.available, level.version) == (7, 2, 5, 2)
    assert StockMovement.objects.count() == 3
    assert ledger_drifts() == []


def test_a_guard_that_refuses_leaves_nothing_written(key):
    with pytest.raises(InsufficientStock), transaction.atomic():
        post_movements([move(key, Bucket.COMMITTED, 1)], require_available={key: 1})
    assert not StockMovement.objects.exists()
    assert not StockLevel.objects.exists()  # even the level row it created is rolled back


def test_buckets_other_than_on_hand_never_go_negative(key):
    with pytest.raises(BucketWouldGoNegative), transaction.atomic():
        post_movements([move(key, Bucket.COMMITTED, -1)])
    assert not StockMovement.objects.exists()


def test_on_hand_may_go_negative_and_opens_one_case_that_repeats_bump(key):
    post_movements([move(key, Bucket.ON_HAND, -2, "sale")])
    post_movements([move(key, Bucket.ON_HAND, -1, "sale")])

    assert StockLevel.objects.get().on_hand == -3
    case = Case.objects.get()
    assert case.kind == "negative_on_hand"
    assert case.occurrences == 2
    assert case.money_at_risk == 60  # 3 missing units × 20.00
    assert case.priority_factors["money_at_risk"] == "60.00"


def test_receipts_do_not_report_a_level_that_is_still_negative(key):
    post_movements([move(key, Bucket.ON_HAND, -5, "sale")])
    post_movements([move(key, Bucket.ON_HAND, 1, "receipt")])
    assert Case.objects.get().occurrences == 1


def test_movements_are_append_only_in_python(key):
    post_movements([move(key, Bucket.ON_HAND, 1)])
    movement = StockMovement.objects.get()
    movement.delta = 5
    with pytest.raises(ValueError, match="append-only"):
        movement.save()
    with pytest.raises(ValueError, match="append-only"):
        movement.delete()


def test_movements_are_append_only_in_the_database(key):
    post_movements([move(key, Bucket.ON_HAND, 1)])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE inventory_stockmovement SET delta = 5")
    assert StockMovement.objects.get().delta == 1


@pytest.mark.postgres
def test_movements_cannot_be_deleted_on_postgresql(key):
    post_movements([move(key, Bucket.ON_HAND, 1)])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM inventory_stockmovement")
    assert StockMovement.objects.count() == 1


def test_verify_ledger_is_clean_then_reports_drift_and_opens_a_case(key):
    post_movements([move(key, Bucket.ON_HAND, 4)])
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    assert "verified" in out.getvalue()

    StockLevel.objects.update(on_hand=99)  # something wrote around the ledger
    out = StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("verify_ledger", stdout=out, stderr=StringIO())
    assert exit_info.value.code == 1
    assert "DRIFT A @ S1 on_hand: level 99, movements 4" in out.getvalue()
    assert Case.objects.get().kind == "ledger_drift"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_lock_held_too_long_becomes_a_retryable_error_not_a_hang():
    sku, location = SkuFactory(code="A"), LocationFactory(code="S1")
    key = (sku.pk, location.pk)
    post_movements([move(key, Bucket.ON_HAND, 1)])
    with connection.cursor() as cursor:  # what LOCK_TIMEOUT_MS=200 sets on every connection
        cursor.execute("SET lock_timeout = '200ms'")
    holding, release = threading.Event(), threading.Event()

    def hold_the_lock():
        try:
            with transaction.atomic():
                StockLevel.objects.select_for_update().get()
                holding.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert holding.wait(timeout=10)
        with pytest.raises(LockTimeout):
            post_movements([move(key, Bucket.ON_HAND, 1)])
    finally:
        release.set()
        holder.join(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert StockLevel.objects.get().on_hand == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_deadlock_is_retried_inside_the_service_and_never_reaches_the_caller():
    from retailops.transactions import in_retrying_transaction

    sku = SkuFactory(code="A")
    first, second = LocationFactory(code="S1"), LocationFactory(code="S2")
    post_movements([move((sku.pk, first.pk), Bucket.ON_HAND, 1), move((sku.pk, second.pk), Bucket.ON_HAND, 1)])
    both_hold_one = threading.Barrier(2, timeout=10)
    attempts = {"forwards": 0, "backwards": 0}
    outcomes = {}

    def lock_in_order(name, order):
        def work():
            attempts[name] += 1
            for index, location in enumerate(order):
                StockLevel.objects.select_for_update().get(location=location)
                if index == 0 and attempts[name] == 1:
                    both_hold_one.wait()  # now each waits for the other's row: a deadlock
            return "done"

        try:
            outcomes[name] = in_retrying_transaction(work)()
        except Exception as exc:
            outcomes[name] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=lock_in_order, args=("forwards", [first, second])),
               threading.Thread(target=lock_in_order, args=("backwards", [second, first]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert outcomes == {"forwards": "done", "backwards": "done"}
    assert sorted(attempts.values()) == [1, 2]  # PostgreSQL chose one victim; it was retried


# --- Promises: guarded updates --------------------------------------------------------------


def test_a_promise_commits_units_when_enough_are_available(key):
    post_movements([move(key, Bucket.ON_HAND, 5), move(key, Bucket.DAMAGED, 1)])
    post_movements([move(key, Bucket.COMMITTED, 2, "reservation")], require_available={key: 4},
                   document_type="reservation", document_id="7")

    stored = StockLevel.objects.get()
    assert (stored.committed, stored.available, stored.version) == (2, 2, 2)
    promised = StockMovement.objects.get(bucket=Bucket.COMMITTED)
    assert (promised.delta, promised.reason, promised.document_type, promised.document_id) == (
        2, "reservation", "reservation", "7")
    assert ledger_drifts() == []


def test_a_promise_beyond_what_is_available_is_refused_and_writes_nothing(key):
    post_movements([move(key, Bucket.ON_HAND, 5), move(key, Bucket.DAMAGED, 1)])

    with pytest.raises(NotAvailable) as refused, transaction.atomic():
        post_movements([move(key, Bucket.COMMITTED, 1)], require_available={key: 5})

    assert (refused.value.key, refused.value.available) == (key, 4)
    assert StockLevel.objects.get().committed == 0
    assert not StockMovement.objects.filter(bucket=Bucket.COMMITTED).exists()


def test_a_promise_that_fails_at_its_second_level_keeps_nothing_of_the_first(key):
    other = (key[0], LocationFactory(code="S2").pk)
    post_movements([move(key, Bucket.ON_HAND, 5), move(other, Bucket.ON_HAND, 1)])

    with pytest.raises(NotAvailable), transaction.atomic():
        post_movements([move(key, Bucket.COMMITTED, 2), move(other, Bucket.COMMITTED, 2)],
                       require_available={key: 2, other: 2})

    assert list(StockLevel.objects.order_by("location_id").values_list("committed", flat=True)) == [0, 0]
    assert not StockMovement.objects.filter(bucket=Bucket.COMMITTED).exists()


def test_a_promise_never_takes_a_bucket_below_zero(key):
    post_movements([move(key, Bucket.ON_HAND, 5)])
    with pytest.raises(BucketWouldGoNegative), transaction.atomic():
        post_movements([move(key, Bucket.COMMITTED, -1)], require_available={key: 0})
    assert StockLevel.objects.get().committed == 0


def test_a_refused_posting_inside_a_callers_transaction_leaves_it_to_be_rolled_back(key):
    """A posting has no savepoint of its own: a caller cannot keep half of it by mistake."""
    from django.db.transaction import TransactionManagementError

    post_movements([move(key, Bucket.ON_HAND, 1)])
    with transaction.atomic():
        with pytest.raises(NotAvailable):
            post_movements([move(key, Bucket.COMMITTED, 1)], require_available={key: 2})
        with pytest.raises(TransactionManagementError):
            StockLevel.objects.count()
    assert StockLevel.objects.get().committed == 0


def test_a_fact_moves_many_levels_each_by_its_own_deltas(key):
    others = [(key[0], LocationFactory(code=f"M{index}").pk) for index in range(3)]
    counted = timezone.now()
    post_movements([move(key, Bucket.ON_HAND, 5), move(others[0], Bucket.ON_HAND, 2)])
    post_movements([move(key, Bucket.ON_HAND, -1), move(key, Bucket.DAMAGED, 1), move(others[0], Bucket.ON_HAND, 7),
                    move(others[1], Bucket.QUALITY_CONTROL, 3)], counted_at={others[2]: counted})

    levels = {(level.sku_id, level.location_id): level for level in StockLevel.objects.all()}
    assert [(levels[k].on_hand, levels[k].damaged, levels[k].quality_control, levels[k].available, levels[k].version)
            for k in (key, *others)] == [(4, 1, 0, 3, 2), (9, 0, 0, 9, 2), (0, 0, 3, -3, 1), (0, 0, 0, 0, 1)]
    assert levels[others[2]].last_counted_at == counted and levels[key].last_counted_at is None
    assert ledger_drifts() == []


def test_a_negative_on_hand_case_names_the_level_as_the_posting_left_it(key):
    post_movements([move(key, Bucket.ON_HAND, 2)])
    post_movements([move(key, Bucket.ON_HAND, -5, "sale")])

    assert Case.objects.get().context == {"on_hand": -3, "committed": 0, "version": 2}
