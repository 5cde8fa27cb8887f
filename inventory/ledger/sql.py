"""The ledger's two statements that the ORM cannot say, in portable SQL.

Both run unchanged on PostgreSQL and SQLite (3.33 or newer, for UPDATE … FROM) through
Django's cursor, so they are logged and counted like any query, and the whole suite runs
them on both databases.

- `move_levels`: a fact moves up to a thousand levels, each by its own deltas. The ORM
  says that as `bulk_update`, a CASE per column with a WHEN per row, whose compilation
  cost about 0.4 s for a thousand levels; this is one UPDATE joined to the deltas, about
  20 ms. Deltas are added to the row, never absolute values written over it.
- `level_drifts`: every level compared with the sum of its movements in one pass; the
  ORM cannot join a table to an aggregate of another that it has no relation to. Checked
  incrementally, the sum is the closing balances plus the movements recorded since.
- `month_close`: a closed month's movements added to the closing balances, an upsert
  that adds (`ON CONFLICT … DO UPDATE SET b = b + excluded.b`), which the ORM cannot say.
"""

from datetime import datetime

from django.db import connection

from inventory.models import Bucket, LedgerClosingBalance, StockLevel, StockMovement

BUCKETS = tuple(Bucket.values)


def _name(name: str) -> str:
    return connection.ops.quote_name(name)


def move_levels(deltas: dict[int, dict[str, int]], *, now: datetime) -> None:
    """Add each level's deltas (level id → {bucket: delta}) to its buckets and bump its
    version, in one statement. The rows must be locked by the caller."""
    if not deltas:
        return
    buckets = [bucket for bucket in BUCKETS if any(change.get(bucket) for change in deltas.values())]
    table = _name(StockLevel._meta.db_table)
    row = "(" + ", ".join(["CAST(%s AS BIGINT)"] + ["CAST(%s AS INTEGER)"] * len(buckets)) + ")"
    columns = ", ".join(["id", *(f"d_{bucket}" for bucket in buckets)])
    moved = "".join(f"{_name(bucket)} = {table}.{_name(bucket)} + v.d_{bucket}, " for bucket in buckets)
    params: list = []
    for level_id, change in sorted(deltas.items()):
        params += [level_id, *(change.get(bucket, 0) for bucket in buckets)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH v({columns}) AS (VALUES {', '.join([row] * len(deltas))}) "  # noqa: S608 (no user input)
            f"UPDATE {table} SET {moved}version = {table}.version + 1, updated_at = %s FROM v WHERE {table}.id = v.id",
            [*params, now],
        )


def level_drifts(*, checkpoint_through: datetime | None = None) -> list[tuple]:
    """(sku id, location id, the level's buckets…, the movements' sums…) of every level
    that differs from its movements, and of every key with movements but no level.

    With `checkpoint_through`, the movements recorded before it are not read: the closing
    balances (`LedgerClosingBalance`, their sums up to that instant) stand for them."""
    levels, movements = _name(StockLevel._meta.db_table), _name(StockMovement._meta.db_table)
    params: list = []
    if checkpoint_through is None:
        sums = ", ".join(f"SUM(CASE WHEN bucket = '{b}' THEN delta ELSE 0 END) AS {b}" for b in BUCKETS)
        summed = f"SELECT sku_id, location_id, {sums} FROM {movements} GROUP BY sku_id, location_id"  # noqa: S608
    else:
        closing = _name(LedgerClosingBalance._meta.db_table)
        per_bucket = ", ".join(f"CASE WHEN bucket = '{b}' THEN delta ELSE 0 END AS {b}" for b in BUCKETS)
        totals = ", ".join(f"SUM({b}) AS {b}" for b in BUCKETS)
        summed = (f"SELECT sku_id, location_id, {totals} FROM ("  # noqa: S608 (table and bucket names only)
                  f"SELECT sku_id, location_id, {', '.join(BUCKETS)} FROM {closing} UNION ALL "
                  f"SELECT sku_id, location_id, {per_bucket} FROM {movements} WHERE recorded_at >= %s"
                  f") AS t GROUP BY sku_id, location_id")
        params.append(connection.ops.adapt_datetimefield_value(checkpoint_through))
    differs = " OR ".join(f"l.{b} <> COALESCE(s.{b}, 0)" for b in BUCKETS)
    level_columns = ", ".join(f"l.{b}" for b in BUCKETS)
    sum_columns = ", ".join(f"COALESCE(s.{b}, 0)" for b in BUCKETS)
    zeros = ", ".join("0" for _ in BUCKETS)
    s_columns = ", ".join(f"s.{b}" for b in BUCKETS)
    # A key whose closing balance is all zeros and that no level has is no drift.
    any_moved = " OR ".join(f"s.{b} <> 0" for b in BUCKETS)
    sql = f"""
        WITH s AS ({summed})
        SELECT l.sku_id, l.location_id, {level_columns}, {sum_columns}
          FROM {levels} l LEFT JOIN s ON s.sku_id = l.sku_id AND s.location_id = l.location_id
         WHERE {differs}
        UNION ALL
        SELECT s.sku_id, s.location_id, {zeros}, {s_columns}
          FROM s WHERE NOT EXISTS (
              SELECT 1 FROM {levels} l WHERE l.sku_id = s.sku_id AND l.location_id = s.location_id)
    """  # noqa: S608 (no user input: table and bucket names only)
    if checkpoint_through is not None:
        sql = sql.rstrip() + f" AND ({any_moved})"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def month_close(*, start: datetime, end: datetime) -> None:
    """Add the movements recorded in [start, end) to the closing balances, per (SKU,
    location), in one statement (an upsert that adds, both databases)."""
    closing = _name(LedgerClosingBalance._meta.db_table)
    movements = _name(StockMovement._meta.db_table)
    sums = ", ".join(f"SUM(CASE WHEN bucket = '{b}' THEN delta ELSE 0 END)" for b in BUCKETS)
    added = ", ".join(f"{b} = {closing}.{b} + excluded.{b}" for b in BUCKETS)
    sql = f"""
        INSERT INTO {closing} (sku_id, location_id, {', '.join(BUCKETS)})
        SELECT sku_id, location_id, {sums} FROM {movements}
         WHERE recorded_at >= %s AND recorded_at < %s GROUP BY sku_id, location_id
        ON CONFLICT (sku_id, location_id) DO UPDATE SET {added}
    """  # noqa: S608 (no user input: table and bucket names only)
    with connection.cursor() as cursor:
        cursor.execute(sql, [connection.ops.adapt_datetimefield_value(start),
                             connection.ops.adapt_datetimefield_value(end)])
        # The balances went from none to a row per level: without fresh statistics the
        # incremental check's join is planned for a small table (a serial hash aggregate
        # that took longer than the full check at 2M levels).
        cursor.execute(f"ANALYZE {closing}")
