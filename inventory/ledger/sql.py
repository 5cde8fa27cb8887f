"""The ledger's two statements that the ORM cannot say, in portable SQL.

Both run unchanged on PostgreSQL and SQLite (3.33 or newer, for UPDATE … FROM) through
Django's cursor, so they are logged and counted like any query, and the whole suite runs
them on both databases.

- `move_levels`: a fact moves up to a thousand levels, each by its own deltas. The ORM
  says that as `bulk_update`, a CASE per column with a WHEN per row, whose compilation
  cost about 0.4 s for a thousand levels; this is one UPDATE joined to the deltas, about
  20 ms. Deltas are added to the row, never absolute values written over it.
- `ledger_drifts`: every level compared with the sum of its movements in one pass; the
  ORM cannot join a table to an aggregate of another that it has no relation to.
"""

from datetime import datetime

from django.db import connection

from inventory.models import Bucket, StockLevel, StockMovement

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


def level_drifts() -> list[tuple]:
    """(sku id, location id, the level's buckets…, the movements' sums…) of every level
    that differs from its movements, and of every key with movements but no level."""
    levels, movements = _name(StockLevel._meta.db_table), _name(StockMovement._meta.db_table)
    sums = ", ".join(f"SUM(CASE WHEN bucket = '{b}' THEN delta ELSE 0 END) AS {b}" for b in BUCKETS)
    differs = " OR ".join(f"l.{b} <> COALESCE(s.{b}, 0)" for b in BUCKETS)
    level_columns = ", ".join(f"l.{b}" for b in BUCKETS)
    sum_columns = ", ".join(f"COALESCE(s.{b}, 0)" for b in BUCKETS)
    zeros = ", ".join("0" for _ in BUCKETS)
    s_columns = ", ".join(f"s.{b}" for b in BUCKETS)
    sql = f"""
        WITH s AS (SELECT sku_id, location_id, {sums} FROM {movements} GROUP BY sku_id, location_id)
        SELECT l.sku_id, l.location_id, {level_columns}, {sum_columns}
          FROM {levels} l LEFT JOIN s ON s.sku_id = l.sku_id AND s.location_id = l.location_id
         WHERE {differs}
        UNION ALL
        SELECT s.sku_id, s.location_id, {zeros}, {s_columns}
          FROM s WHERE NOT EXISTS (
              SELECT 1 FROM {levels} l WHERE l.sku_id = s.sku_id AND l.location_id = s.location_id)
    """  # noqa: S608 (no user input: table and bucket names only)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()
