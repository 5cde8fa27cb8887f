"""The ledger's tables partitioned by month on PostgreSQL (README "Partitioned ledger").

`StockMovement` is partitioned by `recorded_at` and `InventoryEvent` by `received_at`:
each month (UTC) is a partition `<table>_YYYY_MM`, and a DEFAULT partition `<table>_default`
takes a row whose month has none, so no write ever fails for its time. Django knows the
tables as it always did (`id` is the primary key); the database's primary key is
(id, partition key), as PostgreSQL requires of a partitioned table.

- `table_partition` / `table_unpartition`: the migration's rebuild of a plain table as a
  partitioned one (and back), keeping its rows, identity sequence, indexes, foreign keys,
  check constraints and triggers;
- `partitions_maintain`: the daily upkeep (`manage.py ledger_partitions`, on beat):
  months ahead created, rows a DEFAULT partition took moved to their month, months past
  the retention detached and kept as `<table>_archive_YYYY_MM`, never dropped;
- `recorded_since`: the `recorded_at` bound that lets a query by `occurred_at`, written
  in SQL, be pruned (the ORM's is `inventory.models.occurred_since`).

SQLite keeps plain tables: the same models, nothing to partition.

DDL takes no bound parameters (the connection binds on the server), so the only values
written into these statements are table names from the models, quoted, and instants
this module computes.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from inventory.models import FUTURE_TOLERANCE, InventoryEvent, LedgerMonthChecksum, StockMovement

# table → the column whose month chooses the partition.
PARTITION_KEYS = {
    StockMovement._meta.db_table: "recorded_at",
    InventoryEvent._meta.db_table: "received_at",
}


def recorded_since(occurred_after: datetime) -> datetime:
    """The `recorded_at` bound of movements that occurred after `occurred_after`, for SQL
    written by hand (the ORM says `occurred_since`)."""
    return occurred_after - FUTURE_TOLERANCE


# --- Months ------------------------------------------------------------------------------


def month_of(moment: datetime) -> date:
    moment = moment.astimezone(UTC)
    return date(moment.year, moment.month, 1)


def month_after(month: date, months: int = 1) -> date:
    index = month.year * 12 + month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_start(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def _months(first: date, last: date) -> list[date]:
    months = []
    while first <= last:
        months.append(first)
        first = month_after(first)
    return months


def _literal(month: date) -> str:
    return f"'{month_start(month).isoformat()}'"


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def month_partition_name(table: str, month: date) -> str:
    return f"{table}_{month:%Y_%m}"


def archive_name(table: str, month: date) -> str:
    return f"{table}_archive_{month:%Y_%m}"


def default_partition_name(table: str) -> str:
    return f"{table}_default"


# --- The migration's rebuild -------------------------------------------------------------


@dataclass
class _Definitions:
    """What a rebuilt table gets back: everything the new table does not copy by LIKE."""

    indexes: list[str]
    foreign_keys: list[tuple[str, str]]
    triggers: list[str]
    sequence_value: tuple[int, bool] | None


def _definitions(cursor, table: str) -> _Definitions:
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %s::regclass "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid) "
        "ORDER BY i.indexrelid", [table])
    # A partitioned table's index is defined `ON ONLY` itself; rebuilt, it covers every partition.
    indexes = [row[0].replace(" ON ONLY ", " ON ") for row in cursor.fetchall()]
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
        "AND contype = 'f' ORDER BY conname", [table])
    foreign_keys = list(cursor.fetchall())
    cursor.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype IN ('u', 'x')", [table])
    if unique := cursor.fetchall():  # it could not hold over months (see InventoryEventKey)
        raise RuntimeError(f"{table} has unique constraints {unique}; they cannot survive partitioning by month.")
    cursor.execute(
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal "
        "AND tgparentid = 0 ORDER BY tgname", [table])
    triggers = [row[0] for row in cursor.fetchall()]
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    sequence = cursor.fetchone()[0]
    sequence_value = None
    if sequence:
        cursor.execute(f"SELECT last_value, is_called FROM {sequence}")  # noqa: S608 (a name PostgreSQL gave)
        sequence_value = cursor.fetchone()
    return _Definitions(indexes, foreign_keys, triggers, sequence_value)


def _rebuild(cursor, table: str, *, key: str | None, months: list[date]) -> None:
    """Rebuild `table` as a partitioned one by `key` (months given) or, with no key, as a
    plain one; its rows copied, then everything else recreated under the same names."""
    kept = _definitions(cursor, table)
    staging = f"{table}_rebuilt"
    partitioning = f" PARTITION BY RANGE ({_quote(key)})" if key else ""
    cursor.execute(
        f"CREATE TABLE {_quote(staging)} (LIKE {_quote(table)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
        f"INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMMENTS){partitioning}")
    if key:
        for month in months:
            cursor.execute(
                f"CREATE TABLE {_quote(month_partition_name(table, month))} PARTITION OF {_quote(staging)} "
                f"FOR VALUES FROM ({_literal(month)}) TO ({_literal(month_after(month))})")
        cursor.execute(f"CREATE TABLE {_quote(default_partition_name(table))} PARTITION OF {_quote(staging)} DEFAULT")
    cursor.execute(f"INSERT INTO {_quote(staging)} SELECT * FROM {_quote(table)}")  # noqa: S608 (model tables)
    cursor.execute(f"DROP TABLE {_quote(table)}")  # refused while a foreign key still points at it
    cursor.execute(f"ALTER TABLE {_quote(staging)} RENAME TO {_quote(table)}")
    primary_key = "id, " + _quote(key) if key else "id"
    cursor.execute(f"ALTER TABLE {_quote(table)} ADD CONSTRAINT {_quote(table + '_pkey')} PRIMARY KEY ({primary_key})")
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    sequence = cursor.fetchone()[0]
    if sequence and kept.sequence_value:
        # The identity goes on from where the old one was: ids are never given twice.
        last_value, is_called = kept.sequence_value
        cursor.execute(f"SELECT setval('{sequence}', {int(last_value)}, {'true' if is_called else 'false'})")
        cursor.execute(f"ALTER SEQUENCE {sequence} RENAME TO {_quote(table + '_id_seq')}")
    for definition in kept.indexes:
        cursor.execute(definition)
    for name, definition in kept.foreign_keys:
        cursor.execute(f"ALTER TABLE {_quote(table)} ADD CONSTRAINT {_quote(name)} {definition}")
    for definition in kept.triggers:
        cursor.execute(definition)
    cursor.execute(f"ANALYZE {_quote(table)}")


def table_partition(cursor, table: str, *, months_ahead: int, now: datetime) -> None:
    """Partition `table` by month of its key: a partition for every month from its oldest
    row to `months_ahead` months past now, and the DEFAULT one."""
    key = PARTITION_KEYS[table]
    cursor.execute(f"SELECT MIN({_quote(key)}), MAX({_quote(key)}) FROM {_quote(table)}")  # noqa: S608
    oldest, newest = cursor.fetchone()
    this_month = month_of(now)
    first = min(month_of(oldest), this_month) if oldest else this_month
    last = max(month_of(newest), month_after(this_month, months_ahead)) if newest else month_after(
        this_month, months_ahead)
    _rebuild(cursor, table, key=key, months=_months(first, last))


def table_unpartition(cursor, table: str) -> None:
    """Back to a plain table (archived months stay where they are)."""
    _rebuild(cursor, table, key=None, months=[])


# --- Upkeep ------------------------------------------------------------------------------


@dataclass
class PartitionUpkeep:
    """What one upkeep did, table by table."""

    created: list[str] = field(default_factory=list)
    moved_from_default: dict[str, int] = field(default_factory=dict)
    archived: list[str] = field(default_factory=list)
    kept_unverified: list[str] = field(default_factory=list)  # past retention, not yet in a checkpoint


def _attached_months(cursor, table: str) -> set[date]:
    cursor.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = %s::regclass", [table])
    prefix = f"{table}_"
    months = set()
    for (name,) in cursor.fetchall():
        year, _, month = name.removeprefix(prefix).partition("_")
        if year.isdigit() and month.isdigit():
            months.add(date(int(year), int(month), 1))
    return months


def _partition_create(cursor, table: str, month: date) -> str:
    name = month_partition_name(table, month)
    cursor.execute(f"CREATE TABLE {_quote(name)} PARTITION OF {_quote(table)} "
                   f"FOR VALUES FROM ({_literal(month)}) TO ({_literal(month_after(month))})")
    return name


def _default_months(cursor, table: str) -> list[date]:
    key = _quote(PARTITION_KEYS[table])
    cursor.execute(f"SELECT DISTINCT date_trunc('month', {key} AT TIME ZONE 'UTC') "  # noqa: S608
                   f"FROM {_quote(default_partition_name(table))}")
    return sorted(date(row[0].year, row[0].month, 1) for row in cursor.fetchall())


def _default_drain(cursor, table: str, months: list[date], upkeep: PartitionUpkeep) -> None:
    """Give the months the DEFAULT partition holds rows of their own partitions. PostgreSQL
    refuses a new partition whose rows sit in the default, and the ledger's rows cannot be
    deleted (the append-only trigger), so the default is swapped for an empty one and its
    rows go back through the parent, which routes each to its month."""
    default, held = default_partition_name(table), f"{table}_default_held"
    # Deferred foreign-key checks of rows written earlier in this transaction would keep
    # the old default from being dropped: run them now.
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute(f"SELECT COUNT(*) FROM {_quote(default)}")  # noqa: S608
    moved = cursor.fetchone()[0]
    cursor.execute(f"ALTER TABLE {_quote(table)} DETACH PARTITION {_quote(default)}")
    cursor.execute(f"ALTER TABLE {_quote(default)} RENAME TO {_quote(held)}")
    for month in months:
        upkeep.created.append(_partition_create(cursor, table, month))
    cursor.execute(f"CREATE TABLE {_quote(default)} PARTITION OF {_quote(table)} DEFAULT")
    cursor.execute(f"INSERT INTO {_quote(table)} SELECT * FROM {_quote(held)}")  # noqa: S608
    cursor.execute(f"DROP TABLE {_quote(held)}")  # its rows are in their months now, in this transaction
    upkeep.moved_from_default[table] = moved


def _archive(cursor, table: str, month: date) -> str:
    name = archive_name(table, month)
    cursor.execute(f"ALTER TABLE {_quote(table)} DETACH PARTITION {_quote(month_partition_name(table, month))}")
    cursor.execute(f"ALTER TABLE {_quote(month_partition_name(table, month))} RENAME TO {_quote(name)}")
    return name


def partitions_maintain(*, months_ahead: int | None = None, retain_months: int | None = None,
                        now: datetime | None = None) -> PartitionUpkeep | None:
    """Keep each partitioned table ready: partitions for this month and `months_ahead`
    more, rows the DEFAULT partition took moved to their month's, and months older than
    `retain_months` (None: keep all) detached and kept as archive tables. Safe to run
    again: it does only what is missing. A month of movements is archived only once
    `verify_ledger --incremental` has checkpointed it: its sums then live on in the
    closing balances. None on SQLite, whose tables are not partitioned."""
    if connection.vendor != "postgresql":
        return None
    months_ahead = settings.LEDGER_PARTITION_MONTHS_AHEAD if months_ahead is None else months_ahead
    retain_months = settings.LEDGER_PARTITION_RETAIN_MONTHS if retain_months is None else retain_months
    this_month = month_of(now or timezone.now())
    upkeep = PartitionUpkeep()
    checkpointed = set(LedgerMonthChecksum.objects.values_list("month", flat=True))
    for table in PARTITION_KEYS:
        with transaction.atomic(), connection.cursor() as cursor:
            attached = _attached_months(cursor, table)
            wanted = [month for month in _months(this_month, month_after(this_month, months_ahead))
                      if month not in attached]
            held = [month for month in _default_months(cursor, table) if month not in attached]
            if held:
                _default_drain(cursor, table, sorted(set(held) | set(wanted)), upkeep)
            else:
                for month in wanted:
                    upkeep.created.append(_partition_create(cursor, table, month))
            if retain_months is None:
                continue
            oldest_kept = month_after(this_month, -retain_months)
            for month in sorted(_attached_months(cursor, table)):
                if month >= oldest_kept:
                    continue
                if table == StockMovement._meta.db_table and month not in checkpointed:
                    upkeep.kept_unverified.append(month_partition_name(table, month))
                    continue
                upkeep.archived.append(_archive(cursor, table, month))
    return upkeep


def partitions_of(table: str) -> list[str]:
    """The partitions attached to `table`, by name (empty on SQLite)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass ORDER BY c.relname", [table])
        return [row[0] for row in cursor.fetchall()]


__all__ = ["PARTITION_KEYS", "PartitionUpkeep", "archive_name", "archived_months", "default_partition_name",
           "month_after", "month_of", "month_partition_name", "month_start", "partitions_maintain", "partitions_of",
           "recorded_since", "table_partition", "table_unpartition"]


def archived_months(table: str) -> set[date]:
    """The months of `table` detached as archive tables (none on SQLite)."""
    if connection.vendor != "postgresql":
        return set()
    prefix = f"{table}_archive_"
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND starts_with(relname, %s)",
                       [prefix])
        names = [row[0] for row in cursor.fetchall()]
    months = set()
    for name in names:
        year, _, month = name.removeprefix(prefix).partition("_")
        if year.isdigit() and month.isdigit():
            months.add(date(int(year), int(month), 1))
    return months
