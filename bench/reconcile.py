"""Reconciliation: a million-line snapshot, from upload to a classified run, against the raw floor.

The database (PostgreSQL, a database of its own) holds 10,000 × scale SKUs at 100
locations: 1,000,000 × scale stock levels and five on-hand movements each (5,000,000 ×
scale), one of them after the snapshot's time for half the levels (those lines are
timing). The snapshot CSV states every level as of that time, every 50th line off by two
units (variance), and one line in a thousand with a SKU code the ledger does not know.
Set-up uses generate_series and is not timed.

Ours, timed in one process (the run executed in-process, as the worker's task body runs
it, not through a broker): the CSV file read as a stream by the intake service
(`reconciliation.services.snapshot_submit`, the same one POST /api/v1/snapshots uses:
parse, check, hash, COPY), committed, then `run_execute` (the set-based classification,
accuracy and summary), broken down into its statements. Its peak RSS is `ru_maxrss` of
that process.

The raw floor, in the same run on the same database: psycopg COPY of the same CSV into a
temporary table, then one CREATE TABLE … AS SELECT classifying the same data the same way;
its counts per classification must equal ours, or the benchmark fails.

ratio = floor seconds ÷ our seconds (budget ≥ 0.5); time budget 60 s; RSS budget 500 MB.
`--scale 0.05` tries it small first. With BENCH_KEEP_DB=1 the database is kept, and a
later run at the same scale reuses its ledger (set-up skipped; earlier snapshots and runs
truncated).
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import _harness as h

AS_OF = "2026-03-01T12:00:00+00:00"
LOCATIONS = 100
BUDGET_RATIO, BUDGET_SECONDS, BUDGET_RSS_MB = 0.5, 60.0, 500.0

SETUP = """
INSERT INTO inventory_location (code, name, kind, region, ship_from_store, pickup, confidence, return_policy, active,
                                trading_opens_at, trading_closes_at, created_at, updated_at)
SELECT 'L' || lpad(i::text, 4, '0'), 'Location ' || i, 'store', 'north', true, true, 1, '', true, '09:00', '21:00',
       now(), now()
FROM generate_series(1, %(locations)s) i;
INSERT INTO inventory_sku (code, name, unit_cost, price, active, created_at, updated_at)
SELECT 'S' || lpad(i::text, 7, '0'), 'Item ' || i, 1 + (i %% 40) * 0.25, 10, true, now(), now()
FROM generate_series(1, %(skus)s) i;
CREATE TEMP TABLE bench_level AS
SELECT s.id AS sku_id, l.id AS location_id, row_number() OVER (ORDER BY s.id, l.id) AS n
FROM inventory_sku s CROSS JOIN inventory_location l;
INSERT INTO inventory_stockmovement (sku_id, location_id, bucket, delta, reason, document_type, document_id,
                                     occurred_at, recorded_at)
SELECT b.sku_id, b.location_id, 'on_hand', 1 + (b.n + k) %% 7, 'receipt', '', '',
       CASE WHEN k = 4 AND b.n %% 2 = 0 THEN %(as_of)s::timestamptz + interval '1 hour'
            ELSE %(as_of)s::timestamptz - (5 - k) * interval '1 day' END,
       now()
FROM bench_level b CROSS JOIN generate_series(0, 4) k;
INSERT INTO inventory_stocklevel (sku_id, location_id, on_hand, committed, damaged, quality_control, safety_stock,
                                  incoming, version, updated_at)
SELECT sku_id, location_id, SUM(delta), 0, 0, 0, 0, 0, 5, now()
FROM inventory_stockmovement GROUP BY sku_id, location_id;
ANALYZE;
"""

# Reusing a kept database: the snapshots and runs of an earlier bench run go.
RESET = """
TRUNCATE integrations_inventorysnapshotline, integrations_inventorysnapshot, reconciliation_linedecision,
         reconciliation_runaccuracy, reconciliation_reconciliationline, reconciliation_reconciliationrun,
         reconciliation_historicalreconciliationrun CASCADE
"""

SNAPSHOT = """
COPY (
    SELECT CASE WHEN b.n %% 1000 = 0 THEN 'UNKNOWN-' || b.n ELSE s.code END, l.code,
           v.on_hand - COALESCE(m.moved, 0) + CASE WHEN b.n %% 50 = 0 THEN 2 ELSE 0 END
    FROM bench_level b
    JOIN inventory_sku s ON s.id = b.sku_id
    JOIN inventory_location l ON l.id = b.location_id
    JOIN inventory_stocklevel v ON v.sku_id = b.sku_id AND v.location_id = b.location_id
    LEFT JOIN (SELECT sku_id, location_id, SUM(delta) AS moved FROM inventory_stockmovement
               WHERE occurred_at > '{as_of}' GROUP BY sku_id, location_id) m
           ON m.sku_id = b.sku_id AND m.location_id = b.location_id
    ORDER BY b.n
) TO STDOUT WITH (FORMAT csv, HEADER false)
"""

FLOOR = """
CREATE TEMP TABLE floor_result AS
SELECT f.sku, f.location, f.on_hand, k.id AS sku_id, l.id AS location_id,
       CASE WHEN k.id IS NULL OR l.id IS NULL THEN 'missing_in_ledger'
            WHEN f.on_hand <> COALESCE(v.on_hand, 0) - COALESCE(m.moved, 0) THEN 'variance'
            WHEN COALESCE(m.moved, 0) = 0 THEN 'matched' ELSE 'timing' END AS classification,
       CASE WHEN k.id IS NOT NULL AND l.id IS NOT NULL
            THEN ABS(f.on_hand - (COALESCE(v.on_hand, 0) - COALESCE(m.moved, 0))) * k.unit_cost END AS value
FROM floor_snapshot f
LEFT JOIN inventory_sku k ON k.code = f.sku
LEFT JOIN inventory_location l ON l.code = f.location
LEFT JOIN inventory_stocklevel v ON v.sku_id = k.id AND v.location_id = l.id
LEFT JOIN (SELECT sku_id, location_id, SUM(delta) AS moved FROM inventory_stockmovement
           WHERE bucket = 'on_hand' AND occurred_at > %s GROUP BY sku_id, location_id) m
       ON m.sku_id = k.id AND m.location_id = l.id
"""

# Run inside `manage.py shell` in a process of its own: intake + run, timed, with its RSS.
# The run's statements are timed by a wrapper on the connection, by what they write:
# the lines (INSERT … SELECT), the figures (the aggregate and the accuracy rows), the
# planner statistics; the rest of the run is its bookkeeping and the commit (where the
# deferred foreign-key checks run).
OURS = """
import json, resource, time
from collections import Counter
from django.db import connection, transaction
from integrations.models import ExternalSystem
from integrations.snapshot_formats import CsvSnapshot
from reconciliation.services import run_execute, snapshot_submit

spent = Counter()

def timed(execute, sql, params, many, context):
    started = time.monotonic()
    try:
        return execute(sql, params, many, context)
    finally:
        text = sql.lstrip().upper()
        if text.startswith("INSERT INTO RECONCILIATION_RECONCILIATIONLINE"):
            kind = "lines_insert"
        elif "RECONCILIATION_RUNACCURACY" in text or ('FROM "RECONCILIATION_RECONCILIATIONLINE"' in text
                                                      and "GROUP BY" in text):
            kind = "figures"
        elif text.startswith("ANALYZE"):
            kind = "statistics"
        else:
            kind = "other_statements"
        spent[kind] += time.monotonic() - started

system = ExternalSystem.objects.get_or_create(code="bench-wms", defaults={{"name": "WMS", "kind": "wms"}})[0]
started = time.monotonic()
with open({path!r}, "rb") as stream:
    run, created = snapshot_submit(system=system, document=CsvSnapshot(stream, as_of={as_of!r}), source="upload")
stored = time.monotonic()
with connection.execute_wrapper(timed):
    run = run_execute(run_id=run.pk)
finished = time.monotonic()
print(json.dumps({{"seconds": finished - started, "intake": stored - started, "run": finished - stored,
                  "spent": spent, "status": run.status, "lines": run.lines, "matched": run.matched,
                  "timing": run.timing, "variance": run.variance, "missing_in_ledger": run.missing_in_ledger,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1: a million lines (default); 0.05 to try")
    args = parser.parse_args()
    skus = max(1, int(10_000 * args.scale))
    h.note(h.machine())
    with h.app_with_database("retailops_bench_reconcile", extra_env={"RECONCILIATION_QUEUE": "bench-reconcile"}) \
            as app, tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "snapshot.csv"
        started = time.monotonic()
        with app.connect() as conn:
            conn.execute("SET maintenance_work_mem = '256MB'")
            with conn.transaction():
                if conn.execute("SELECT count(*) FROM inventory_sku").fetchone()[0] == skus:
                    # A kept database (BENCH_KEEP_DB=1) of this scale: its ledger again, no runs.
                    h.note("reusing the kept database's ledger")
                    conn.execute(RESET)
                    conn.execute(next(statement for statement in SETUP.split(";\n")
                                      if "CREATE TEMP TABLE bench_level" in statement))
                else:
                    for statement in SETUP.split(";\n"):
                        if statement.strip():
                            conn.execute(statement, {"locations": LOCATIONS, "skus": skus, "as_of": AS_OF})
                with csv_path.open("wb") as out:
                    out.write(b"sku,location,on_hand\n")
                    with conn.cursor().copy(SNAPSHOT.format(as_of=AS_OF).replace("%%", "%")) as copy:
                        for chunk in copy:
                            out.write(chunk)
        lines = sum(1 for _ in csv_path.open("rb")) - 1
        h.say("snapshot_lines", lines)
        h.say("levels", skus * LOCATIONS)
        h.say("movements", skus * LOCATIONS * 5)
        h.note(f"set-up took {time.monotonic() - started:.1f} s (not timed)")

        # The floor: COPY the same file and classify it, one statement.
        with app.connect() as conn:
            floor_started = time.monotonic()
            with conn.transaction():
                conn.execute("CREATE TEMP TABLE floor_snapshot (sku text, location text, on_hand integer)")
                with csv_path.open("rb") as source, conn.cursor().copy(
                        "COPY floor_snapshot FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
                    while chunk := source.read(1 << 20):
                        copy.write(chunk)
                conn.execute(FLOOR, [AS_OF])
            floor_seconds = time.monotonic() - floor_started
            floor_counts = dict(conn.execute(
                "SELECT classification, count(*) FROM floor_result GROUP BY classification").fetchall())

        ours = json.loads(app.shell(OURS.format(path=str(csv_path), as_of=AS_OF), timeout=1800).strip()
                          .splitlines()[-1])
        h.note(f"ours: status {ours['status']}; matched {ours['matched']}, timing {ours['timing']}, "
               f"variance {ours['variance']}, missing {ours['missing_in_ledger']} "
               "(run in-process, as the worker's task body)")
        ours_counts = {kind: ours[kind] for kind in ("matched", "timing", "variance", "missing_in_ledger")}
        if {kind: floor_counts.get(kind, 0) for kind in ours_counts} != ours_counts:
            raise SystemExit(f"ours and the floor classify differently: {ours_counts} vs {floor_counts}")
        spent = ours["spent"]
        h.say("intake_seconds", f"{ours['intake']:.2f}")
        h.say("run_seconds", f"{ours['run']:.2f}")
        for kind in ("statistics", "lines_insert", "figures"):
            h.say(f"run_{kind}_seconds", f"{spent.get(kind, 0):.2f}")
        h.say("run_commit_and_rest_seconds",
              f"{ours['run'] - sum(spent.get(kind, 0) for kind in ('statistics', 'lines_insert', 'figures')):.2f}")
        h.say("ours_seconds", f"{ours['seconds']:.2f}")
        h.say("floor_seconds", f"{floor_seconds:.2f}")
        h.say("peak_rss_mb", f"{ours['rss_mb']:.0f}")
        h.say("budget", f"≤ {BUDGET_SECONDS:.0f} s, ratio ≥ {BUDGET_RATIO}, RSS ≤ {BUDGET_RSS_MB:.0f} MB")
        h.say("ratio", f"{floor_seconds / ours['seconds']:.2f}")


if __name__ == "__main__":
    main()
