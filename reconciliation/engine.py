"""The comparison itself: set-based SQL, no Python loop per line.

Django's ORM has no INSERT … SELECT, and a run writes up to a million lines, so the two
writes are plain SQL, kept here and nowhere else, in the SQL both PostgreSQL and SQLite
accept. Table names come from the models (`Model._meta.db_table`); every value is a
bound parameter.

1. `lines_insert`: the snapshot's lines (already in a table: the snapshot lines are the
   staging table) joined with SKUs and locations by code, with the stock level, and with
   the on-hand movements that occurred after `as_of`, aggregated per (SKU, location):

       ledger as of T = on_hand now − Σ delta of on_hand movements with occurred_at > T

   (bounded below by `recorded_at` too, which changes no sum — `recorded_since` — and
   lets PostgreSQL read only the monthly partitions from T's on).

   Only the `on_hand` bucket counts: a snapshot states units on hand, and committed,
   damaged, quality-control and safety stock are parts of on hand in this ledger, not
   additions to it (DESIGN.md "Inventory model").
   A SKU and location both known but without a level row have a ledger of 0 (nothing was
   ever posted there). Either code unknown: `missing_in_ledger`, ledger figures null.
2. `figures_write`: one aggregate pass over the run's lines, per location: the
   `RunAccuracy` rows (null location for unknown location codes) and, summed, the run's
   summary.
"""

from decimal import Decimal

from django.db import connection
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import Abs

from integrations.models import InventorySnapshotLine
from inventory.ledger.partitions import recorded_since
from inventory.models import Bucket, Location, Sku, StockLevel, StockMovement
from reconciliation.models import ReconciliationLine, RunAccuracy
from reconciliation.states import AGREEING, Classification, Decision

ZERO = Decimal("0")
RUN_WORK_MEM = "256MB"


def lines_insert(*, run_id: int, snapshot_id: int, as_of, tolerance_units: int, tolerance_percent: Decimal) -> int:
    """Classify every snapshot line of the run; returns how many lines were written."""
    difference = "(d.on_hand - d.ledger_as_of)"
    agreeing = f"(ABS{difference} <= %s OR ABS{difference} * 100 <= CAST(%s AS NUMERIC) * ABS(d.ledger_as_of))"
    known = "k.id IS NOT NULL AND l.id IS NOT NULL"
    sql = f"""
        INSERT INTO {ReconciliationLine._meta.db_table}
            (run_id, sku_id, location_id, sku_code, location_code, snapshot_on_hand, ledger_on_hand_at_as_of,
             ledger_on_hand_now, difference, classification, unit_cost, value, decision)
        SELECT %s, d.sku_id, d.location_id, d.sku_code, d.location_code, d.on_hand, d.ledger_as_of, d.ledger_now,
               {difference},
               CASE WHEN d.ledger_now IS NULL THEN %s
                    WHEN NOT {agreeing} THEN %s
                    WHEN d.ledger_now = d.ledger_as_of THEN %s
                    ELSE %s END,
               d.unit_cost,
               CASE WHEN d.ledger_now IS NOT NULL AND NOT {agreeing}
                    THEN ABS{difference} * d.unit_cost ELSE 0 END,
               %s
        FROM (
            SELECT k.id AS sku_id, l.id AS location_id, s.sku_code, s.location_code, s.on_hand, k.unit_cost,
                   CASE WHEN {known} THEN COALESCE(v.on_hand, 0) END AS ledger_now,
                   CASE WHEN {known} THEN COALESCE(v.on_hand, 0) - COALESCE(m.moved, 0) END AS ledger_as_of
            FROM {InventorySnapshotLine._meta.db_table} s
            LEFT JOIN {Sku._meta.db_table} k ON k.code = s.sku_code
            LEFT JOIN {Location._meta.db_table} l ON l.code = s.location_code
            LEFT JOIN {StockLevel._meta.db_table} v ON v.sku_id = k.id AND v.location_id = l.id
            LEFT JOIN (
                SELECT sku_id, location_id, SUM(delta) AS moved
                FROM {StockMovement._meta.db_table}
                WHERE bucket = %s AND occurred_at > %s AND recorded_at >= %s
                GROUP BY sku_id, location_id
            ) m ON m.sku_id = k.id AND m.location_id = l.id
            WHERE s.snapshot_id = %s
        ) d
    """  # noqa: S608 (table names from the models; values are bound parameters)
    percent = str(tolerance_percent)
    params = [
        run_id,
        Classification.MISSING_IN_LEDGER.value, tolerance_units, percent, Classification.VARIANCE.value,
        Classification.MATCHED.value, Classification.TIMING.value,
        tolerance_units, percent,
        Decision.UNDECIDED.value,
        Bucket.ON_HAND.value, connection.ops.adapt_datetimefield_value(as_of),
        connection.ops.adapt_datetimefield_value(recorded_since(as_of)), snapshot_id,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def figures_write(*, run_id: int) -> dict:
    """One pass over the run's lines, grouped by location: each location's accuracy
    (lines, units Σ |snapshot on hand| and value Σ on hand × unit cost, in all and of the
    agreeing lines) written as `RunAccuracy` rows (location null: codes the ledger does
    not know); their sums are the run's summary, returned (API.md "summary")."""
    agreeing = Q(classification__in=AGREEING)
    units = Abs("snapshot_on_hand")
    stock_value = ExpressionWrapper(F("snapshot_on_hand") * F("unit_cost"),
                                    output_field=DecimalField(max_digits=16, decimal_places=2))
    per_location = list(
        ReconciliationLine.objects.filter(run_id=run_id).order_by().values("location_id").annotate(
            all_lines=Count("id"), agreeing_lines=Count("id", filter=agreeing),
            all_units=Sum(units), agreeing_units=Sum(units, filter=agreeing),
            stock_value=Sum(stock_value), agreeing_value=Sum(stock_value, filter=agreeing),
            variance_value=Sum("value", filter=Q(classification=Classification.VARIANCE)),
            **{f"count_{kind.value}": Count("id", filter=Q(classification=kind)) for kind in Classification},
        ))
    RunAccuracy.objects.bulk_create(
        RunAccuracy(run_id=run_id, location_id=row["location_id"], lines=row["all_lines"],
                    agreeing_lines=row["agreeing_lines"], units=row["all_units"] or 0,
                    agreeing_units=row["agreeing_units"] or 0, value=row["stock_value"] or ZERO,
                    agreeing_value=row["agreeing_value"] or ZERO)
        for row in per_location)
    summary = {"lines": sum(row["all_lines"] for row in per_location)}
    for kind in Classification:
        summary[kind.value] = sum(row[f"count_{kind.value}"] for row in per_location)
    summary["variance_value"] = sum((row["variance_value"] or ZERO for row in per_location), ZERO)
    return summary


def planner_prepare() -> None:
    """Before a run, on PostgreSQL: fresh statistics for the snapshot lines (a snapshot
    just written is unknown to the planner, which then expects a handful of lines and
    probes the stock levels one line at a time), in a statement of its own so its lock
    is not held through the run."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {InventorySnapshotLine._meta.db_table}")


def run_memory_raise() -> None:
    """Inside the run's transaction, on PostgreSQL: room to hash a million lines in memory
    rather than in batches on disk (`SET LOCAL` ends with the transaction)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL work_mem = '{RUN_WORK_MEM}'")
