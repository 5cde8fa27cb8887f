"""Proof that the ledger holds: every level equals the sum of its movements."""

from dataclasses import dataclass

from django.db import connection

from exceptions.services import CaseReport, raise_case
from exceptions.states import CaseKind
from inventory.models import Bucket, StockLevel, StockMovement


@dataclass(frozen=True)
class Drift:
    sku_id: int
    location_id: int
    bucket: str
    level: int
    movements: int


def ledger_drifts() -> list[Drift]:
    """Recompute every level from its movements in one set-based query."""
    levels = StockLevel._meta.db_table
    movements = StockMovement._meta.db_table
    buckets = [bucket.value for bucket in Bucket]
    sums = ", ".join(f"SUM(CASE WHEN bucket = '{b}' THEN delta ELSE 0 END) AS {b}" for b in buckets)
    differs = " OR ".join(f"l.{b} <> COALESCE(s.{b}, 0)" for b in buckets)
    level_columns = ", ".join(f"l.{b}" for b in buckets)
    sum_columns = ", ".join(f"COALESCE(s.{b}, 0)" for b in buckets)
    zeros = ", ".join("0" for _ in buckets)
    s_columns = ", ".join(f"s.{b}" for b in buckets)
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
    drifts = []
    with connection.cursor() as cursor:
        cursor.execute(sql)
        for row in cursor.fetchall():
            sku_id, location_id = row[0], row[1]
            level_values, movement_sums = row[2:2 + len(buckets)], row[2 + len(buckets):]
            for bucket, level, total in zip(buckets, level_values, movement_sums, strict=True):
                if level != total:
                    drifts.append(Drift(sku_id, location_id, bucket, level, total))
    return drifts


def report_drifts(drifts: list[Drift]) -> None:
    """Open (or bump) a ledger_drift case per drifting level."""
    for drift in drifts:
        raise_case(CaseReport(
            kind=CaseKind.LEDGER_DRIFT,
            dedup_key=f"ledger_drift:{drift.sku_id}:{drift.location_id}:{drift.bucket}",
            title=f"Ledger drift: {drift.bucket} is {drift.level} but its movements sum to {drift.movements}",
            sku_id=drift.sku_id, location_id=drift.location_id,
            context={"bucket": drift.bucket, "level": drift.level, "movements": drift.movements},
        ))
