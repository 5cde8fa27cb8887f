"""The ledger partitioned by month (README "Partitioned ledger"): the migration on a
database with data, the daily upkeep, exactly-once across months, and the incremental
`verify_ledger` that proves closed months once."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from inventory.errors import OccurredInFuture
from inventory.ingest import IncomingEvent, events_ingest
from inventory.ledger import Movement, ledger_drifts, ledger_months_close, ledger_months_recheck, post_movements
from inventory.ledger.partitions import (
    archive_name,
    default_partition_name,
    month_after,
    month_of,
    month_partition_name,
    partitions_maintain,
    partitions_of,
)
from inventory.models import (
    Bucket,
    InventoryEvent,
    InventoryEventKey,
    LedgerClosingBalance,
    LedgerMonthChecksum,
    StockLevel,
    StockMovement,
    occurred_since,
)
from inventory.selectors import on_hand_moved_after
from retailops.access import LocationScope
from tests.inventory.factories import LocationFactory, SkuFactory

MOVEMENTS = StockMovement._meta.db_table
EVENTS = InventoryEvent._meta.db_table
EVERYWHERE = LocationScope(None)
on_postgres = pytest.mark.postgres

pytestmark = pytest.mark.django_db


@pytest.fixture
def key():
    return SkuFactory(code="A").pk, LocationFactory(code="S1").pk


def post(key, delta, bucket=Bucket.ON_HAND):
    post_movements([Movement(sku_id=key[0], location_id=key[1], bucket=bucket, delta=delta, reason="test")])


def recorded_back_then(key, delta, *, recorded_at: datetime, bucket=Bucket.ON_HAND) -> None:
    """A movement recorded at another time than now, as the ledger of an older database
    holds (only SQL can write one: the posting records now), and its level moved alike."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {MOVEMENTS} (sku_id, location_id, bucket, delta, reason, document_type, document_id, "
            "occurred_at, recorded_at) VALUES (%s, %s, %s, %s, 'history', '', '', %s, %s)",
            [key[0], key[1], bucket, delta, connection.ops.adapt_datetimefield_value(recorded_at),
             connection.ops.adapt_datetimefield_value(recorded_at)])
    moved = StockLevel.objects.filter(sku_id=key[0], location_id=key[1]).update(**{bucket: F(bucket) + delta})
    if not moved:
        StockLevel.objects.create(sku_id=key[0], location_id=key[1], **{bucket: delta})


def months_ago(months: int) -> datetime:
    return datetime.combine(month_after(month_of(timezone.now()), -months), datetime.min.time(),
                            tzinfo=UTC) + timedelta(days=3)


# --- The migration ------------------------------------------------------------------------


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_migration_partitions_a_database_with_data_keeping_rows_ids_and_the_trigger(key):
    call_command("migrate", "inventory", "0020", verbosity=0)
    try:
        assert partitions_of(MOVEMENTS) == []
        post(key, 5)
        recorded_back_then(key, 2, recorded_at=months_ago(4))
        events_ingest(source="pos", actor=None, scope=EVERYWHERE, events=[IncomingEvent(
            event_id="e1", type="receipt", sku="A", location="S1", quantity=3, occurred_at=timezone.now())])
        before = list(StockMovement.objects.order_by("pk").values_list("pk", "delta", "recorded_at"))

        call_command("migrate", "inventory", verbosity=0)

        assert list(StockMovement.objects.order_by("pk").values_list("pk", "delta", "recorded_at")) == before
        this_month = month_of(timezone.now())
        assert set(partitions_of(MOVEMENTS)) >= {
            month_partition_name(MOVEMENTS, month_after(this_month, -4)), month_partition_name(MOVEMENTS, this_month),
            month_partition_name(MOVEMENTS, month_after(this_month, 3)), default_partition_name(MOVEMENTS)}
        assert default_partition_name(EVENTS) in partitions_of(EVENTS)
        assert InventoryEvent.objects.get().event_id == "e1"
        assert InventoryEventKey.objects.get().event_id == "e1"
        # The identity goes on after the copied ids, and the ledger still balances.
        post(key, 1)
        assert StockMovement.objects.order_by("-pk").values_list("pk", flat=True)[0] > before[-1][0]
        assert ledger_drifts() == []
        # Append-only still, on every partition.
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"UPDATE {MOVEMENTS} SET delta = 7")
        # A resend of the migrated event is still a duplicate.
        again = events_ingest(source="pos", actor=None, scope=EVERYWHERE, events=[IncomingEvent(
            event_id="e1", type="receipt", sku="A", location="S1", quantity=3,
            occurred_at=InventoryEvent.objects.get().occurred_at)])
        assert again.summary["duplicate"] == 1
    finally:
        call_command("migrate", verbosity=0)


# --- Exactly once, across months ----------------------------------------------------------


def test_a_resend_in_a_later_month_is_still_a_duplicate_or_a_conflict(key):
    occurred = timezone.now() - timedelta(days=50)
    first = IncomingEvent(event_id="m1", type="receipt", sku="A", location="S1", quantity=4, occurred_at=occurred)
    events_ingest(source="pos", actor=None, scope=EVERYWHERE, events=[first],
                  arrived_at={"m1": timezone.now() - timedelta(days=45)})  # last month's partition

    resent = events_ingest(source="pos", actor=None, scope=EVERYWHERE, events=[first])
    changed = events_ingest(source="pos", actor=None, scope=EVERYWHERE, events=[IncomingEvent(
        event_id="m1", type="receipt", sku="A", location="S1", quantity=5, occurred_at=occurred)])

    assert [result.status for result in resent.results] == ["duplicate"]
    assert [result.status for result in changed.results] == ["conflict"]
    assert InventoryEvent.objects.count() == InventoryEventKey.objects.count() == 1
    assert StockLevel.objects.get().on_hand == 4


# --- Upkeep -------------------------------------------------------------------------------


@on_postgres
def test_upkeep_creates_the_months_ahead_once():
    now = timezone.now()
    upkeep = partitions_maintain(months_ahead=6, retain_months=None, now=now)
    again = partitions_maintain(months_ahead=6, retain_months=None, now=now)

    six_ahead = month_after(month_of(now), 6)
    assert month_partition_name(MOVEMENTS, six_ahead) in upkeep.created
    assert month_partition_name(EVENTS, six_ahead) in upkeep.created
    assert again.created == [] and again.archived == []
    assert month_partition_name(MOVEMENTS, six_ahead) in partitions_of(MOVEMENTS)


@on_postgres
def test_upkeep_moves_rows_out_of_the_default_partition(key):
    far = timezone.now() + timedelta(days=800)  # no partition that far ahead: the default takes it
    recorded_back_then(key, 3, recorded_at=far)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {default_partition_name(MOVEMENTS)}")
        assert cursor.fetchone()[0] == 1

    upkeep = partitions_maintain(months_ahead=1, retain_months=None)

    assert upkeep.moved_from_default == {MOVEMENTS: 1}
    assert month_partition_name(MOVEMENTS, month_of(far)) in partitions_of(MOVEMENTS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {month_partition_name(MOVEMENTS, month_of(far))}")
        assert cursor.fetchone()[0] == 1
    assert ledger_drifts() == []


@on_postgres
def test_upkeep_archives_a_month_past_retention_only_once_it_is_checkpointed(key, settings):
    settings.LEDGER_MONTH_SETTLE_HOURS = 0
    old = months_ago(14)
    recorded_back_then(key, 6, recorded_at=old)
    post(key, 1)
    partitions_maintain(months_ahead=1, retain_months=None)  # the old month gets its partition

    kept = partitions_maintain(months_ahead=1, retain_months=12)
    assert kept.kept_unverified == [month_partition_name(MOVEMENTS, month_of(old))]
    assert kept.archived == []

    assert ledger_drifts(incremental=True) == []  # closes every month that is over
    archived = partitions_maintain(months_ahead=1, retain_months=12)

    assert archive_name(MOVEMENTS, month_of(old)) in archived.archived
    assert month_partition_name(MOVEMENTS, month_of(old)) not in partitions_of(MOVEMENTS)
    with connection.cursor() as cursor:  # kept, not dropped
        cursor.execute(f"SELECT SUM(delta) FROM {archive_name(MOVEMENTS, month_of(old))}")
        assert cursor.fetchone()[0] == 6
    # Its sums live on in the closing balances; the month's checksum is not re-read.
    assert ledger_drifts(incremental=True) == []
    assert ledger_months_recheck() == []


def test_the_command_says_what_it_did_then_that_all_is_up_to_date():
    first, second = StringIO(), StringIO()
    call_command("ledger_partitions", "--months-ahead", "5", stdout=first)
    call_command("ledger_partitions", "--months-ahead", "5", stdout=second)
    if connection.vendor != "postgresql":  # SQLite keeps plain tables
        assert "Nothing to do" in first.getvalue() and "Nothing to do" in second.getvalue()
        return
    assert f"created {month_partition_name(MOVEMENTS, month_after(month_of(timezone.now()), 5))}" in first.getvalue()
    assert "Partitions up to date." in second.getvalue()


# --- verify_ledger, incrementally ---------------------------------------------------------


def test_incremental_check_closes_past_months_once_and_reads_only_the_open_ones(key, settings):
    settings.LEDGER_MONTH_SETTLE_HOURS = 0
    recorded_back_then(key, 4, recorded_at=months_ago(2))
    recorded_back_then(key, 2, recorded_at=months_ago(2), bucket=Bucket.DAMAGED)
    post(key, 10)

    assert ledger_drifts(incremental=True) == []
    checksum = LedgerMonthChecksum.objects.get(month=month_of(months_ago(2)))
    assert (checksum.movements, checksum.delta_total) == (2, 6)
    assert LedgerMonthChecksum.objects.count() == 2  # two months ago and last month (empty)
    balance = LedgerClosingBalance.objects.get()
    assert (balance.on_hand, balance.damaged) == (4, 2)

    # A second run closes nothing again.
    assert ledger_drifts(incremental=True) == []
    assert LedgerClosingBalance.objects.get().on_hand == 4

    # A row slipped into a closed month (by SQL, past the posting): the full check sees
    # the level agree with its movements; the incremental one trusts its checkpoint and
    # sees the level off, and the recheck names the month.
    recorded_back_then(key, 1, recorded_at=months_ago(2))
    assert ledger_drifts() == []
    assert [(drift.level, drift.movements) for drift in ledger_drifts(incremental=True)] == [(15, 14)]
    [mismatch] = ledger_months_recheck()
    assert (mismatch.month, mismatch.movements, mismatch.summed_movements) == (month_of(months_ago(2)), 3, 2)


def test_a_month_is_not_closed_before_it_has_settled(key, settings):
    settings.LEDGER_MONTH_SETTLE_HOURS = 6
    post(key, 1)
    start_of_next = datetime.combine(month_after(month_of(timezone.now())), datetime.min.time(), tzinfo=UTC)

    assert ledger_months_close(now=start_of_next + timedelta(hours=5)) is None
    assert ledger_months_close(now=start_of_next + timedelta(hours=6)) == start_of_next


def test_verify_ledger_incremental_and_recheck_from_the_command_line(key, settings):
    settings.LEDGER_MONTH_SETTLE_HOURS = 0
    recorded_back_then(key, 4, recorded_at=months_ago(1))
    post(key, 2)
    out = StringIO()
    call_command("verify_ledger", "--incremental", "--recheck-months", stdout=out)
    assert "Closed months verified" in out.getvalue()
    assert "Ledger verified" in out.getvalue()

    StockLevel.objects.update(on_hand=F("on_hand") + 1)
    with pytest.raises(SystemExit):
        call_command("verify_ledger", "--incremental", "--no-cases", stdout=StringIO(), stderr=StringIO())


# --- Queries by occurred_at --------------------------------------------------------------


def test_the_posting_refuses_a_movement_dated_beyond_the_clocks_tolerance(key):
    with pytest.raises(OccurredInFuture), transaction.atomic():
        post_movements([Movement(sku_id=key[0], location_id=key[1], bucket=Bucket.ON_HAND, delta=1,
                                 reason="test", occurred_at=timezone.now() + timedelta(minutes=6))])


@on_postgres
def test_an_as_of_query_reads_only_the_partitions_from_its_month(key):
    recorded_back_then(key, 1, recorded_at=months_ago(2))
    partitions_maintain(months_ahead=1, retain_months=None)  # that month gets its partition
    post(key, 3)
    moment = timezone.now() - timedelta(hours=1)

    assert on_hand_moved_after(key, moment=moment) == 3
    plan = StockMovement.objects.filter(occurred_since(moment, inclusive=False), sku_id=key[0]).explain()
    assert month_partition_name(MOVEMENTS, month_of(timezone.now())) in plan
    assert month_partition_name(MOVEMENTS, month_of(months_ago(2))) not in plan
