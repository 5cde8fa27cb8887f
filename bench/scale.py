"""The ledger at scale on one node: 20M movements over 2M stock levels, spread over twelve
months of partitions, then the reads and checks that must stay fast as it grows.

Set-up (not timed as a step of the app, but its time, sizes and WAL are reported): after
`migrate` (the ledger partitioned by month), 1,000 × scale locations × 2,000 SKUs = 2M ×
scale levels, ten on-hand movements each, recorded over the last twelve months (UTC)
with one movement per month at most per level: eleven months that are over, and the open
one (this month, up to an hour ago). The months' partitions come first, from the app's
own upkeep: a handful of movements (the first 12 levels') go in, land in the DEFAULT
partition, and `manage.py ledger_partitions` gives their months partitions; then the
rest goes in by INSERT … SELECT over generate_series, one statement per month (each one
partition). The levels are then written with the sums of their movements, and the two
tables VACUUM ANALYZEd (what autovacuum does after a bulk load; its time is reported).
WAL: each month's INSERT under EXPLAIN (ANALYZE, WAL) gives that statement's WAL bytes;
pg_current_wal_insert_lsn's advance over the load is also printed, but it counts every
database of the server (other work on it included).

Measured, in processes of the app (`manage.py shell`, in-process, no HTTP):
- availability: `inventory.selectors.availability_for` (what GET /api/v1/availability
  runs) for 5 random SKUs at every location, and for 20 random SKUs at one location;
  the raw-SQL reference is one SELECT of the same rows (levels joined to their SKU and
  location codes), on the same connection, interleaved with the app's;
- verify_ledger, as the command runs it (`ledger_drifts`, `ledger_months_recheck`): the
  full check (every movement); incremental, first run (closes the eleven past months into
  the checkpoint, then reads the open month); incremental again (the steady state: the
  closing balances + the open month); the recheck of the closed months against their
  checksums. Each must find no drift;
- reconciliation: a snapshot of 1M × scale lines (every level at half the locations, as
  of two days ago; one line in 47 off by two, one in 997 with an unknown SKU) through
  bench/reconcile.py's in-process intake + run (`snapshot_submit` + `run_execute`);
- the inventory-control case queue with 100,000 open cases (bench/queue_page.py's seed
  and measurement, in this database).

"What grows with what" is printed as the counts each measurement depends on (levels,
movements, movements in the open month, closed months, lines); run it at two scales
(`--scale 0.05`, then the default) and compare.

ratio = raw-SQL p95 ÷ availability_for p95 for the every-location lookup (the app's
overhead on the hottest read at this size; 1 would be none). BENCH_SCALE_DB names the
database (default retailops_bench_scale); BENCH_KEEP_DB=1 keeps it.
"""

import argparse
import json
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import _harness as h
from queue_page import CASES as QUEUE_CASES
from queue_page import MEASURE as QUEUE_MEASURE
from queue_page import SEED as QUEUE_SEED
from reconcile import OURS as RECONCILE_OURS

DATABASE = os.environ.get("BENCH_SCALE_DB", "retailops_bench_scale")
LOCATIONS, SKUS, PER_LEVEL, MONTHS = 1000, 2000, 10, 12
SEED_LEVELS = 12  # their movements go in first: one in each month, so each month gets its partition
LOOKUPS = int(os.environ.get("BENCH_SCALE_LOOKUPS", "40"))

SETUP = """
INSERT INTO inventory_location (code, name, kind, region, ship_from_store, pickup, confidence, return_policy, active,
                                trading_opens_at, trading_closes_at, pickup_ack_minutes, created_at, updated_at)
SELECT 'L' || lpad(i::text, 4, '0'), 'Location ' || i, 'store', 'north', true, true, 1, '', true, '09:00', '21:00',
       NULL, now(), now()
FROM generate_series(1, {locations}) i;
INSERT INTO inventory_sku (code, name, unit_cost, price, active, created_at, updated_at)
SELECT 'S' || lpad(i::text, 7, '0'), 'Item ' || i, 1 + (i % 40) * 0.25, 10, true, now(), now()
FROM generate_series(1, {skus}) i;
CREATE TEMP TABLE bench_level AS
SELECT s.id AS sku_id, l.id AS location_id, row_number() OVER (ORDER BY s.id, l.id) AS n,
       dense_rank() OVER (ORDER BY l.id) AS location_rank
FROM inventory_sku s CROSS JOIN inventory_location l;
ANALYZE bench_level
"""

# Month m (0 = eleven months ago, 11 = this one) holds movement k = (m − n) mod 12 of level
# n when k < PER_LEVEL. Past months: spread over their first 27 days; this month: from its
# start to an hour ago. occurred_at is a minute before recorded_at.
MONTH_INSERT = """
INSERT INTO inventory_stockmovement (sku_id, location_id, bucket, delta, reason, document_type, document_id,
                                     occurred_at, recorded_at)
SELECT b.sku_id, b.location_id, 'on_hand', 1 + (b.n + x.k) % 7, 'receipt', '', '', t.at - interval '1 minute', t.at
FROM bench_level b
CROSS JOIN LATERAL (SELECT (({month} - b.n) % {months} + {months}) % {months} AS k) x
CROSS JOIN LATERAL (SELECT CASE WHEN {month} = {months} - 1
        THEN m.start + (now() - interval '1 hour' - m.start) * ((b.n * 7919) % 10007) / 10007.0
        ELSE m.start - ({months} - 1 - {month}) * interval '1 month'
             + interval '27 days' * ((b.n * 7919) % 10007) / 10007.0 END AS at
    FROM (SELECT date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' AS start) m) t
WHERE x.k < {per_level} AND {which}
"""

LEVELS_INSERT = """
INSERT INTO inventory_stocklevel (sku_id, location_id, on_hand, committed, damaged, quality_control, safety_stock,
                                  incoming, version, updated_at)
SELECT b.sku_id, b.location_id, (SELECT SUM(1 + (b.n + k) % 7) FROM generate_series(0, {per_level} - 1) k),
       0, 0, 0, 0, 0, {per_level}, now()
FROM bench_level b
"""

SNAPSHOT = """
COPY (
    SELECT CASE WHEN b.n % 997 = 0 THEN 'UNKNOWN-' || b.n ELSE s.code END, l.code,
           v.on_hand - COALESCE(m.moved, 0) + CASE WHEN b.n % 47 = 0 THEN 2 ELSE 0 END
    FROM bench_level b
    JOIN inventory_sku s ON s.id = b.sku_id
    JOIN inventory_location l ON l.id = b.location_id
    JOIN inventory_stocklevel v ON v.sku_id = b.sku_id AND v.location_id = b.location_id
    LEFT JOIN (SELECT sku_id, location_id, SUM(delta) AS moved FROM inventory_stockmovement
               WHERE occurred_at > '{as_of}' AND recorded_at >= '{recorded_since}'
               GROUP BY sku_id, location_id) m
           ON m.sku_id = b.sku_id AND m.location_id = b.location_id
    WHERE b.location_rank <= {locations}
    ORDER BY b.n
) TO STDOUT WITH (FORMAT csv, HEADER false)
"""

# A plain table is its own one leaf (pg_partition_tree gives nothing for it).
SIZES = """
WITH leaf AS (SELECT relid FROM pg_partition_tree(%(table)s::regclass) WHERE isleaf
              UNION ALL SELECT %(table)s::regclass
              WHERE (SELECT relkind FROM pg_class WHERE oid = %(table)s::regclass) <> 'p')
SELECT count(*), sum(pg_relation_size(relid)), sum(pg_indexes_size(relid)),
       max(pg_total_relation_size(relid)), sum(pg_total_relation_size(relid))
FROM leaf
"""

INDEX_SIZES = """
SELECT c.relname, CASE WHEN c.relkind = 'I' THEN (SELECT sum(pg_relation_size(relid)) FROM pg_partition_tree(c.oid))
                       ELSE pg_relation_size(c.oid) END
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = %s::regclass ORDER BY 2 DESC
"""

OPEN_MONTH = """
SELECT count(*) FROM inventory_stockmovement
WHERE recorded_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
"""

# In the app's process: availability_for and the raw SELECT of the same rows, interleaved.
LOOKUP = """
import json, random, time
from django.db import connection
from inventory.selectors import availability_for
from retailops.access import LocationScope

rng = random.Random(7)
skus = [f"S{{i:07d}}" for i in range(1, {skus} + 1)]
locations = [f"L{{i:04d}}" for i in range(1, {locations} + 1)]
RAW = '''SELECT s.code, l.code, v.on_hand, v.committed, v.unavailable, v.available, v.incoming
         FROM inventory_stocklevel v JOIN inventory_sku s ON s.id = v.sku_id
         JOIN inventory_location l ON l.id = v.location_id
         WHERE s.code = ANY(%s) AND (%s::text[] IS NULL OR l.code = ANY(%s)) ORDER BY s.code, l.code'''

def app(codes, where):
    return len(availability_for(sku_codes=codes, location_codes=where, channel_code=None,
                                scope=LocationScope(None)).rows)

def raw(codes, where):
    with connection.cursor() as cursor:
        cursor.execute(RAW, [codes, where, where])
        return len(cursor.fetchall())

out = {{}}
for name, count, where in (("all_locations", 5, None), ("one_location", 20, "one")):
    times = {{"app": [], "raw": []}}
    rows = None
    for index in range({lookups} + 3):
        codes = rng.sample(skus, count)
        at = [rng.choice(locations)] if where else None
        for kind, lookup in (("app", app), ("raw", raw)) if index % 2 else (("raw", raw), ("app", app)):
            started = time.perf_counter()
            found = lookup(codes, at)
            if index >= 3:  # after a warm-up
                times[kind].append(time.perf_counter() - started)
            rows = found
    out[name] = {{"times": times, "rows": rows}}
print(json.dumps(out))
"""

VERIFY = """
import json, time
from inventory.ledger import ledger_drifts, ledger_months_recheck
from inventory.models import LedgerMonthChecksum

out = {}
for name, step in (("full", lambda: len(ledger_drifts())),
                   ("incremental_first", lambda: len(ledger_drifts(incremental=True))),
                   ("incremental_again", lambda: len(ledger_drifts(incremental=True))),
                   ("recheck_months", lambda: len(ledger_months_recheck()))):
    started = time.perf_counter()
    found = step()
    out[name] = {"seconds": time.perf_counter() - started, "found": found}
out["closed_months"] = LedgerMonthChecksum.objects.count()
print(json.dumps(out))
"""


def mb(size) -> str:
    return f"{(size or 0) / 2**20:.0f}"


def table_sizes(conn, table: str, prefix: str) -> None:
    partitions, heap, indexes, biggest, total = conn.execute(SIZES, {"table": table}).fetchone()
    if partitions > 1:
        h.say(f"{prefix}_partitions", partitions)
    h.say(f"{prefix}_total_mb", mb(total))
    h.say(f"{prefix}_heap_mb", mb(heap))
    h.say(f"{prefix}_indexes_mb", mb(indexes))
    if partitions > 1:
        h.say(f"{prefix}_biggest_partition_mb", mb(biggest))
    for name, size in conn.execute(INDEX_SIZES, [table]).fetchall():
        h.say(f"{prefix}_index_{name}_mb", mb(size))


def wal_lsn(conn) -> str:
    return conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]


def explained_insert(conn, sql: str) -> tuple[int, int]:
    """Run an INSERT under EXPLAIN (ANALYZE, WAL): its rows and the WAL bytes it wrote."""
    plan = conn.execute(f"EXPLAIN (ANALYZE, WAL, TIMING OFF, FORMAT JSON) {sql}").fetchone()[0][0]["Plan"]
    return int(plan["Plans"][0]["Actual Rows"]), int(plan.get("WAL Bytes", 0))  # the Insert node's input


def load(app: h.App, conn, *, locations: int) -> dict:
    """The ledger's set-up; returns what it measured."""
    figures = {}
    started = time.monotonic()
    for statement in SETUP.format(locations=locations, skus=SKUS).split(";\n"):
        conn.execute(statement)
    # A few movements first (landing in DEFAULT for the past months), so that the app's
    # upkeep gives every month of the data its partition before the bulk goes in.
    for month in range(MONTHS):
        conn.execute(MONTH_INSERT.format(month=month, months=MONTHS, per_level=PER_LEVEL,
                                         which=f"b.n <= {SEED_LEVELS}"))
    h.note(app.manage("ledger_partitions").strip().replace("\n", "; "))
    lsn_before = wal_lsn(conn)
    insert_started = time.monotonic()
    rows = wal = 0
    for month in range(MONTHS):
        month_started = time.monotonic()
        month_rows, month_wal = explained_insert(conn, MONTH_INSERT.format(
            month=month, months=MONTHS, per_level=PER_LEVEL, which=f"b.n > {SEED_LEVELS}"))
        rows += month_rows
        wal += month_wal
        h.note(f"month {month}: {month_rows:,} movements in {time.monotonic() - month_started:.1f} s, "
               f"{month_wal / 2**20:.0f} MB WAL")
    figures["movements_insert_seconds"] = time.monotonic() - insert_started
    figures["movements_wal"] = wal
    figures["movements_inserted"] = rows
    levels_started = time.monotonic()
    level_rows, level_wal = explained_insert(conn, LEVELS_INSERT.format(per_level=PER_LEVEL))
    figures["levels_insert_seconds"] = time.monotonic() - levels_started
    figures["levels_wal"] = level_wal
    figures["levels_inserted"] = level_rows
    figures["server_wal"] = int(conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)",
                                             [lsn_before]).fetchone()[0])
    vacuum_started = time.monotonic()
    conn.execute("VACUUM (ANALYZE) inventory_stockmovement")
    conn.execute("VACUUM (ANALYZE) inventory_stocklevel")
    conn.execute("ANALYZE")
    figures["vacuum_analyze_seconds"] = time.monotonic() - vacuum_started
    figures["setup_seconds"] = time.monotonic() - started
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="1: 2M levels, 20M movements (default); 0.05 to try")
    args = parser.parse_args()
    locations = max(2, int(LOCATIONS * args.scale))
    h.say("machine", h.machine())
    with h.app_with_database(DATABASE, extra_env={"RECONCILIATION_QUEUE": "bench-scale-reconcile"}) as app, \
            tempfile.TemporaryDirectory() as tmp, app.connect() as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute("SET work_mem = '64MB'")
        h.note(f"loading {locations:,} locations × {SKUS:,} SKUs × {PER_LEVEL} movements over {MONTHS} months")
        figures = load(app, conn, locations=locations)
        movements = conn.execute("SELECT count(*) FROM inventory_stockmovement").fetchone()[0]
        levels = conn.execute("SELECT count(*) FROM inventory_stocklevel").fetchone()[0]
        open_month = conn.execute(OPEN_MONTH).fetchone()[0]
        h.say("levels", levels)
        h.say("movements", movements)
        h.say("movements_in_open_month", open_month)
        h.say("load_movements_seconds", f"{figures['movements_insert_seconds']:.1f}")
        h.say("load_movements_per_second", f"{figures['movements_inserted'] / figures['movements_insert_seconds']:.0f}")
        h.say("load_levels_seconds", f"{figures['levels_insert_seconds']:.1f}")
        h.say("load_vacuum_analyze_seconds", f"{figures['vacuum_analyze_seconds']:.1f}")
        h.say("load_total_seconds", f"{figures['setup_seconds']:.1f}")
        h.say("wal_movements_mb", mb(figures["movements_wal"]))
        h.say("wal_bytes_per_movement", f"{figures['movements_wal'] / max(1, figures['movements_inserted']):.0f}")
        h.say("wal_levels_mb", mb(figures["levels_wal"]))
        h.say("wal_bytes_per_level", f"{figures['levels_wal'] / max(1, figures['levels_inserted']):.0f}")
        h.say("wal_server_during_load_mb", mb(figures["server_wal"]))
        table_sizes(conn, "inventory_stockmovement", "movements")
        table_sizes(conn, "inventory_stocklevel", "levels")

        # Availability.
        lookups = json.loads(app.shell(LOOKUP.format(skus=SKUS, locations=locations, lookups=LOOKUPS),
                                       timeout=1800).strip().splitlines()[-1])
        for name, result in lookups.items():
            h.say(f"availability_{name}_rows", result["rows"])
            for kind in ("app", "raw"):
                h.say(f"availability_{name}_{kind}_p50_ms", h.ms(h.percentile(result["times"][kind], 50)))
                h.say(f"availability_{name}_{kind}_p95_ms", h.ms(h.percentile(result["times"][kind], 95)))

        # verify_ledger.
        verify = json.loads(app.shell(VERIFY, timeout=3600).strip().splitlines()[-1])
        h.say("verify_closed_months", verify.pop("closed_months"))
        for name, result in verify.items():
            h.say(f"verify_{name}_seconds", f"{result['seconds']:.2f}")
            if result["found"]:
                raise SystemExit(f"verify_ledger {name}: {result['found']} drift(s) or mismatch(es) on a clean ledger")
        h.say("verify_incremental_over_full",
              f"{verify['incremental_again']['seconds'] / verify['full']['seconds']:.3f}")
        table_sizes(conn, "inventory_ledgerclosingbalance", "closing_balances")

        # Reconciliation of a snapshot of every level at half the locations.
        now = datetime.now(UTC)
        as_of = (now - timedelta(days=2)).isoformat()
        recorded_since = (now - timedelta(days=2, minutes=5)).isoformat()
        csv_path = Path(tmp) / "snapshot.csv"
        with csv_path.open("wb") as out, conn.cursor().copy(SNAPSHOT.format(
                as_of=as_of, recorded_since=recorded_since, locations=max(1, locations // 2))) as copy:
            out.write(b"sku,location,on_hand\n")
            for chunk in copy:
                out.write(chunk)
        ours = json.loads(app.shell(RECONCILE_OURS.format(path=str(csv_path), as_of=as_of), timeout=3600)
                          .strip().splitlines()[-1])
        h.say("reconcile_lines", ours["lines"])
        h.note(f"reconciliation: status {ours['status']}; matched {ours['matched']}, timing {ours['timing']}, "
               f"variance {ours['variance']}, missing {ours['missing_in_ledger']}")
        h.say("reconcile_intake_seconds", f"{ours['intake']:.2f}")
        h.say("reconcile_run_seconds", f"{ours['run']:.2f}")
        h.say("reconcile_seconds", f"{ours['seconds']:.2f}")
        h.say("reconcile_peak_rss_mb", f"{ours['rss_mb']:.0f}")

        # The case queue page.
        h.note(f"seeding {QUEUE_CASES:,} cases")
        h.say("queue_active_cases", int(app.shell(QUEUE_SEED, timeout=1800).strip().splitlines()[-1]))
        pages = json.loads(app.shell(QUEUE_MEASURE, timeout=1800).strip().splitlines()[-1])
        for name, result in pages.items():
            h.say(f"queue_{name}_queries", result["queries"])
            h.say(f"queue_{name}_p50_ms", h.ms(h.percentile(result["times"], 50)))
            h.say(f"queue_{name}_p95_ms", h.ms(h.percentile(result["times"], 95)))

        h.note("what grows with what: compare these lines across two scales")
        h.say("grows_levels", levels)
        h.say("grows_movements", movements)
        h.say("grows_movements_in_open_month", open_month)
        h.say("grows_reconcile_lines", ours["lines"])
        h.say("grows_locations", locations)
        everywhere = lookups["all_locations"]["times"]
        h.say("ratio", f"{h.percentile(everywhere['raw'], 95) / h.percentile(everywhere['app'], 95):.2f}")


if __name__ == "__main__":
    main()
