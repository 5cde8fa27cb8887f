"""The KPI dashboard with a year of history for 300 stores × 2,000 SKUs, on PostgreSQL.

Set-up (not timed) writes the history with generate_series, in one SQL statement per
table, at these rates (per store per day unless said; `--scale small` is 30 stores ×
200 SKUs at the same per-store rates; `BENCH_KEEP_DB=1` keeps the database, and `--reuse`
then measures on it again without seeding):

- stock levels: every store × SKU (600,000);
- stock movements: 40 per store-day (sales, receipts, transfers: 4.4 M);
- cycle counts: one per store-day of 20 lines, 1 line in 10 off by 1–3 units (2.2 M lines);
- adjustments: 6 per store-day, 95 % applied (660,000);
- cases: 2 per store-day (220,000), over every kind and queue, closed within 0–6 days
  unless opened in the last week, each with its "detected" history row and a closing one;
- orders: 20 per store-day (2.2 M), a third pickups acknowledged in time (90 %), late (7 %)
  or never (3 %); checkout holds: 15 per store-day (1.6 M);
- returns: 2 per store-day (220,000), received 1–10 days after authorisation, refunded
  0–5 days later;
- sync runs: 6 systems, one run every 10 minutes each (315,000);
- reconciliation: one run a day of the ERP's snapshot, with its per-location accuracy
  (110,000 rows).

Then the dashboard's daily rollup is built for the year, as the hourly beat task does on
its first run (`backoffice.rollup.refresh`, timed and printed, not part of the page).

Timed, in-process, around the whole Django request with the test client (as in
bench/queue_page.py): the dashboard page for an operations admin (signed in with their
second factor, so every figure is on the page) for the last 7, 30 and 90 days, REQUESTS
times each after a warm-up. Also timed: each figure alone over 90 days (which costs what),
and, as the reference, the SQL of the heaviest figure run raw through a cursor, in the same
process on the same database.

Budget: page p95 ≤ 500 ms at every span. ratio = reference p95 ÷ the 90-day page p95 (what
share of the page the heaviest figure's bare SQL is).
"""

import argparse
import json
import os
import sys
import time

import _harness as h

DATABASE = os.environ.get("BENCH_DASHBOARD_DB", "retailops_bench_dashboard")
REQUESTS = int(os.environ.get("BENCH_DASHBOARD_REQUESTS", "30"))
P95_BUDGET_MS = 500.0
SCALES = {"full": (300, 2000), "small": (30, 200)}
DAYS = 365

MASTER_DATA = """
from decimal import Decimal
from integrations.models import ExternalSystem
from inventory.models import Channel, Location, Sku
Location.objects.bulk_create([Location(code=f"S{{n:04d}}", name=f"Store {{n}}", kind="store", region="north",
                                       pickup=True, ship_from_store=True) for n in range({stores})])
Sku.objects.bulk_create([Sku(code=f"B-{{n:05d}}", name=f"Item {{n}}", unit_cost=Decimal(str(5 + n % 40)),
                             price=Decimal(str(12 + n % 90))) for n in range({skus})])
web = Channel.objects.create(code="web", name="Web shop", kind="web")
for code, kind in (("pos", "pos"), ("web", "web"), ("mkt", "marketplace"), ("wms", "wms"), ("erp", "erp"),
                   ("sup", "supplier")):
    ExternalSystem.objects.create(code=code, name=code.upper(), kind=kind, channel=web if kind == "web" else None)
"""

# One statement per table; %(stores)s, %(skus)s, %(days)s and the id ranges are bound (small
# integers arrive as smallint: a product that may pass 32,767 casts them first).
HISTORY = {
    "levels": """
        INSERT INTO inventory_stocklevel (on_hand, committed, damaged, quality_control, safety_stock, incoming,
                                          version, updated_at, location_id, sku_id)
        SELECT (random() * 40)::int, 0, 0, 0, 0, 0, 1, now(), l, s
          FROM generate_series(%(loc_lo)s::bigint, %(loc_hi)s::bigint) l,
               generate_series(%(sku_lo)s::bigint, %(sku_hi)s::bigint) s""",
    "movements": """
        INSERT INTO inventory_stockmovement (bucket, delta, reason, document_type, document_id, occurred_at,
                                             recorded_at, location_id, sku_id)
        SELECT 'on_hand', CASE WHEN n %% 5 = 0 THEN 12 ELSE -1 - (n %% 2) END,
               CASE WHEN n %% 5 = 0 THEN 'received' ELSE 'sale' END, 'bench', n::text, t, t,
               %(loc_lo)s + n %% %(stores)s, %(sku_lo)s + (n * 7919) %% %(skus)s
          FROM (SELECT n, now() - random() * %(days)s * interval '1 day' AS t
                  FROM generate_series(1::bigint, %(stores)s::bigint * %(days)s * 40) n) g""",
    "counts": """
        INSERT INTO inventory_cyclecount (status, selection, reason, round, assigned_at, started_at, submitted_at,
                                          accepted_at, created_at, updated_at, location_id)
        SELECT 'accepted', 'sample', '', 0, t - interval '2 hours', t - interval '1 hour', t, t, t, t,
               %(loc_lo)s + n %% %(stores)s
          FROM (SELECT n, now() - (n / %(stores)s) * interval '1 day' - random() * interval '20 hours' AS t
                  FROM generate_series(0::bigint, %(stores)s::bigint * %(days)s - 1) n) g""",
    "count lines": """
        INSERT INTO inventory_cyclecountline (counted_quantity, system_quantity, variance, count_id, sku_id)
        SELECT q + v, q, v, c.id, %(sku_lo)s + (c.id * 31 + i * 97) %% %(skus)s
          FROM inventory_cyclecount c, generate_series(0, 19) i,
               LATERAL (SELECT (5 + random() * 30)::int AS q,
                               CASE WHEN random() < 0.1 THEN (1 + (random() * 2)::int) * (CASE WHEN random() < 0.7
                                    THEN -1 ELSE 1 END) ELSE 0 END AS v) d""",
    "adjustments": """
        INSERT INTO inventory_adjustment (delta, reason, root_cause, note, reference, status, on_hand_at_request,
                                          unit_cost, value, approvals_required, source_system, applied_delta,
                                          applied_at, created_at, updated_at, location_id, sku_id)
        SELECT d, (ARRAY['damaged','shrink','theft','found_stock','expired','correction'])[1 + n %% 6],
               (ARRAY['','shrink','damage','miscount','data_entry'])[1 + n %% 5], '', '',
               CASE WHEN n %% 20 = 0 THEN 'rejected' ELSE 'applied' END, 20, 10, abs(d) * 10, 0, '',
               CASE WHEN n %% 20 = 0 THEN NULL ELSE d END, CASE WHEN n %% 20 = 0 THEN NULL ELSE t END, t, t,
               %(loc_lo)s + n %% %(stores)s, %(sku_lo)s + (n * 7919) %% %(skus)s
          FROM (SELECT n, now() - random() * %(days)s * interval '1 day' AS t,
                       CASE WHEN n %% 3 = 0 THEN 1 + n %% 4 ELSE -1 - n %% 5 END AS d
                  FROM generate_series(1::bigint, %(stores)s::bigint * %(days)s * 6) n) g""",
    "cases": """
        INSERT INTO exceptions_case (kind, status, escalated, queue, severity, title, detail, subject_id, context,
                                     source, dedup_key, occurrences, first_seen_at, last_seen_at, money_at_risk,
                                     priority, priority_factors, sla_due_at, root_cause, resolution_note,
                                     resolved_at, created_at, updated_at, location_id, sku_id)
        SELECT kind, CASE WHEN closed IS NULL THEN 'open' ELSE 'resolved' END, false,
               CASE WHEN kind IN ('sync_failed', 'rejected_event') THEN 'integration'
                    WHEN kind = 'pickup_overdue' THEN 'store_ops' ELSE 'inventory_control' END,
               'medium', 'Bench case ' || n, '', '',
               CASE WHEN kind = 'reservation_failure' AND n %% 2 = 0 THEN jsonb_build_object('document', 'order W' || n)
                    ELSE '{}'::jsonb END,
               '', 'bench:' || n, 1, seen, seen, 10, 10, '{}'::jsonb, seen + interval '2 days',
               CASE WHEN closed IS NULL THEN '' ELSE 'miscount' END, '', closed, seen, coalesce(closed, seen),
               %(loc_lo)s + n %% %(stores)s, %(sku_lo)s + (n * 104729) %% %(skus)s
          FROM (SELECT n, kind, seen,
                       CASE WHEN seen > now() - interval '7 days' AND n %% 2 = 0 THEN NULL
                            ELSE seen + random() * interval '6 days' END AS closed
                  FROM (SELECT n, now() - random() * %(days)s * interval '1 day' AS seen,
                               (ARRAY['negative_on_hand','stale_event','reconciliation_variance','transfer_variance',
                                      'reservation_failure','reservation_failure','rejected_event','sync_failed',
                                      'pickup_overdue','anomaly'])[1 + n %% 10] AS kind
                          FROM generate_series(1::bigint, %(stores)s::bigint * %(days)s * 2) n) k) g""",
    "case history": """
        INSERT INTO exceptions_historicalcase (id, kind, status, escalated, queue, severity, title, detail,
                                               subject_id, context, source, dedup_key, occurrences, first_seen_at,
                                               last_seen_at, money_at_risk, priority, priority_factors, sla_due_at,
                                               root_cause, resolution_note, resolved_at, created_at, updated_at,
                                               history_date, history_change_reason, history_type, location_id,
                                               sku_id)
        SELECT id, kind, 'open', escalated, queue, severity, title, detail, subject_id, context, source, dedup_key,
               1, first_seen_at, last_seen_at, money_at_risk, priority, priority_factors, sla_due_at, '', '', NULL,
               created_at, created_at, first_seen_at, 'detected', '+', location_id, sku_id
          FROM exceptions_case
        UNION ALL
        SELECT id, kind, status, escalated, queue, severity, title, detail, subject_id, context, source, dedup_key,
               1, first_seen_at, last_seen_at, money_at_risk, priority, priority_factors, sla_due_at, root_cause,
               resolution_note, resolved_at, created_at, updated_at, resolved_at, 'resolved', '~', location_id,
               sku_id
          FROM exceptions_case WHERE resolved_at IS NOT NULL""",
    "orders": """
        INSERT INTO orders_order (external_id, fulfillment, status, content_hash, pickup_ack_due_at,
                                  pickup_acknowledged_at, created_at, updated_at, channel_id, pickup_location_id)
        SELECT 'W' || n, CASE WHEN pickup THEN 'pickup' ELSE 'ship' END, 'fulfilled', '',
               CASE WHEN pickup THEN t + interval '2 hours' END,
               CASE WHEN NOT pickup OR n %% 100 < 3 THEN NULL
                    WHEN n %% 100 < 10 THEN t + interval '2 hours' + random() * interval '3 hours'
                    ELSE t + random() * interval '2 hours' END,
               t, t, %(channel)s, CASE WHEN pickup THEN %(loc_lo)s + n %% %(stores)s END
          FROM (SELECT n, n %% 3 = 0 AS pickup, now() - random() * %(days)s * interval '1 day' AS t
                  FROM generate_series(1::bigint, %(stores)s::bigint * %(days)s * 20) n) g""",
    "holds": """
        INSERT INTO orders_allocation (quantity, origin, status, reference, sourcing, created_at, updated_at,
                                       channel_id, location_id, sku_id)
        SELECT 1, 'hold', 'released', 'cart-' || n, '{}'::jsonb, t, t, %(channel)s,
               %(loc_lo)s + n %% %(stores)s, %(sku_lo)s + (n * 7919) %% %(skus)s
          FROM (SELECT n, now() - random() * %(days)s * interval '1 day' AS t
                  FROM generate_series(1::bigint, %(stores)s::bigint * %(days)s * 15) n) g""",
    "returns": """
        INSERT INTO returns_returnauthorization (external_id, source_system, status, authorized, note, content_hash,
                                                 created_at, updated_at, received_at, refunded_at, location_id)
        SELECT 'RA' || n, 'web', CASE WHEN refunded <= now() THEN 'refunded' WHEN received <= now() THEN 'received'
                                      ELSE 'authorized' END, true, '', '', t, t,
               CASE WHEN received <= now() THEN received END, CASE WHEN refunded <= now() THEN refunded END,
               %(loc_lo)s + n %% %(stores)s
          FROM (SELECT n, t, received, received + random() * interval '5 days' AS refunded
                  FROM (SELECT n, t, t + interval '1 day' + random() * interval '9 days' AS received
                          FROM (SELECT n, now() - random() * %(days)s * interval '1 day' AS t
                                  FROM generate_series(1::bigint, %(stores)s::bigint * %(days)s * 2) n) a) b) g""",
    "sync runs": """
        INSERT INTO integrations_syncrun (job, status, started_at, finished_at, counts, errors, duration_ms,
                                          latency_p50_ms, latency_p95_ms, system_id)
        SELECT 'availability_push', 'succeeded', t, t + interval '2 seconds', '{}'::jsonb, '[]'::jsonb, 2000,
               200 + (random() * 300)::int, 900 + (random() * 2000)::int, s.id
          FROM integrations_externalsystem s,
               generate_series(now() - %(days)s * interval '1 day', now(), interval '10 minutes') t""",
    "reconciliation runs": """
        WITH snapshots AS (
            INSERT INTO integrations_inventorysnapshot (source, as_of, received_at, line_count, system_id,
                                                        content_hash)
            SELECT 'upload', now() - d * interval '1 day', now() - d * interval '1 day',
                   %(stores)s::int * %(skus)s::int, %(erp)s, 'bench-' || d
              FROM generate_series(0, %(days)s - 1) d
            RETURNING id, as_of)
        INSERT INTO reconciliation_reconciliationrun (as_of, status, tolerance_units, tolerance_percent, lines,
                                                      matched, timing, variance, missing_in_ledger, variance_value,
                                                      started_at, finished_at, closed_at, error, created_at,
                                                      updated_at, snapshot_id, system_id)
        SELECT as_of, 'closed', 0, 0, %(stores)s::int * %(skus)s::int,
               %(stores)s::int * %(skus)s::int * 97 / 100, %(stores)s::int * %(skus)s::int / 100,
               %(stores)s::int * %(skus)s::int / 50, 0, 1000, as_of, as_of, as_of, '', as_of, as_of, id, %(erp)s
          FROM snapshots""",
    "reconciliation accuracy": """
        INSERT INTO reconciliation_runaccuracy (lines, agreeing_lines, units, agreeing_units, value, agreeing_value,
                                                location_id, run_id)
        SELECT %(skus)s::int, %(skus)s::int - v, %(skus)s::int * 20, %(skus)s::int * 20 - v * 25, %(skus)s::int * 200,
               %(skus)s::int * 200 - v * 250, l, r.id
          FROM reconciliation_reconciliationrun r, generate_series(%(loc_lo)s::bigint, %(loc_hi)s::bigint) l,
               LATERAL (SELECT (random() * %(skus)s::int / 25)::int AS v) x""",
}

ROLLUP = """
import time
from backoffice import rollup
from backoffice.models import DailyFigure
started = time.perf_counter()
days = rollup.refresh()
print(days, time.perf_counter() - started, DailyFigure.objects.count())
"""

MEASURE = """
import json, statistics, time
from django.db import connection
from django.http import HttpRequest
from django.test import Client
from django.utils import timezone
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice
from backoffice import kpis
from backoffice.staff import staff_user_upsert
from retailops.access import LocationScope

user = staff_user_upsert(username="bench-admin", role="ops_admin", password="bench-pass-1-ops")
client = Client(HTTP_HOST="localhost")
client.force_login(user)
# The second factor, given as the code screen gives it (django-otp's own login()).
request = HttpRequest()
request.session = client.session
request.user = user
otp_login(request, TOTPDevice.objects.create(user=user, name="bench", confirmed=True))
request.session.save()

out = {"pages": {}, "figures": {}}
for days in (7, 30, 90):
    url = f"/dashboard/?days={days}"
    for _ in range(3):
        response = client.get(url)
        assert response.status_code == 200, (response.status_code, response.get("Location"))
    queries = []
    with connection.execute_wrapper(lambda execute, sql, params, many, context: (
            queries.append(sql), execute(sql, params, many, context))[1]):
        response = client.get(url)
    times = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200
    out["pages"][days] = {"times": times, "queries": len(queries),
                          "figures": response.content.count(b'class="card kpi-figure"')}

# Which figure costs what, over 90 days, and the heaviest one's SQL.
span = kpis.preset_span(90, now=timezone.now())
everywhere = LocationScope(None)
statements = {}
for key in kpis.figure_keys_for(user):
    kpis.figure(key, scope=everywhere, span=span)
    times = []
    for _ in range(7):
        started = time.perf_counter()
        kpis.figure(key, scope=everywhere, span=span)
        times.append(time.perf_counter() - started)
    captured = []
    with connection.execute_wrapper(lambda execute, sql, params, many, context: (
            captured.append((sql, params)), execute(sql, params, many, context))[1]):
        kpis.figure(key, scope=everywhere, span=span)
    statements[key] = captured
    out["figures"][key] = {"median": statistics.median(times), "queries": len(captured)}
heaviest = max(out["figures"], key=lambda key: out["figures"][key]["median"])
reference = []
with connection.cursor() as cursor:
    for _ in range(REQUESTS):
        started = time.perf_counter()
        for sql, params in statements[heaviest]:
            cursor.execute(sql, params)
            cursor.fetchall()
        reference.append(time.perf_counter() - started)
out["reference"] = {"figure": heaviest, "times": reference}
print(json.dumps(out))
"""


def seed(app: h.App, *, stores: int, skus: int) -> dict[str, int]:
    app.shell(MASTER_DATA.format(stores=stores, skus=skus))
    with app.connect() as conn:
        conn.execute("SELECT setseed(0.18)")
        loc_lo, loc_hi = conn.execute("SELECT min(id), max(id) FROM inventory_location").fetchone()
        sku_lo, sku_hi = conn.execute("SELECT min(id), max(id) FROM inventory_sku").fetchone()
        channel = conn.execute("SELECT id FROM inventory_channel WHERE code = 'web'").fetchone()[0]
        erp = conn.execute("SELECT id FROM integrations_externalsystem WHERE code = 'erp'").fetchone()[0]
        params = {"stores": stores, "skus": skus, "days": DAYS, "loc_lo": loc_lo, "loc_hi": loc_hi,
                  "sku_lo": sku_lo, "sku_hi": sku_hi, "channel": channel, "erp": erp}
        rows = {}
        for name, statement in HISTORY.items():
            started = time.perf_counter()
            rows[name] = conn.execute(statement, params).rowcount
            h.note(f"{name}: {rows[name]:,} rows in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE")  # what autovacuum does soon after a bulk load
        h.note(f"vacuum analyze in {time.perf_counter() - started:.1f} s")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--reuse", action="store_true",
                        help="Measure again on the database a run kept (BENCH_KEEP_DB=1), without seeding.")
    args = parser.parse_args()
    stores, skus = SCALES[args.scale]
    h.say("machine", h.machine())
    h.say("scale", f"{args.scale}: {stores} stores × {skus:,} SKUs, {DAYS} days of history")
    reuse = args.reuse and os.environ.get("BENCH_KEEP_DB") == "1" and h.database_exists(DATABASE)
    with h.app_with_database(DATABASE) as app:
        if reuse:
            h.note("reusing the kept database: no seeding")
        else:
            started = time.perf_counter()
            rows = seed(app, stores=stores, skus=skus)
            h.say("seed_seconds", f"{time.perf_counter() - started:.1f}")
            for name, count in rows.items():
                h.say(f"rows_{name.replace(' ', '_')}", count)
        built = app.shell(ROLLUP).strip().splitlines()[-1].split()
        h.say("rollup_build", f"{built[0]} days in {float(built[1]):.1f} s ({built[2]} rows)")
        results = json.loads(app.shell(MEASURE.replace("REQUESTS", str(args.requests)),
                                       timeout=3600).strip().splitlines()[-1])
    for key, figure in sorted(results["figures"].items(), key=lambda item: -item[1]["median"]):
        h.say(f"figure_{key}_90d_median_ms", f"{h.ms(figure['median'])} ({figure['queries']} queries)")
    worst = 0.0
    for days, page in results["pages"].items():
        p50, p95 = h.percentile(page["times"], 50), h.percentile(page["times"], 95)
        worst = max(worst, p95)
        h.say(f"page_{days}d", f"p50 {h.ms(p50)} ms, p95 {h.ms(p95)} ms, {page['queries']} queries, "
                               f"{page['figures']} figures")
    reference = results["reference"]
    reference_p95 = h.percentile(reference["times"], 95)
    h.say("reference", f"raw SQL of the heaviest figure ({reference['figure']}): "
                       f"p50 {h.ms(h.percentile(reference['times'], 50))} ms, p95 {h.ms(reference_p95)} ms")
    h.say("machine_after", h.machine().replace("before the run", "after the run"))
    within = worst * 1000 <= P95_BUDGET_MS
    h.say("budget", f"page p95 ≤ {P95_BUDGET_MS:.0f} ms at 7, 30 and 90 days: {'met' if within else 'MISSED'}")
    page_90_p95 = h.percentile(results["pages"]["90"]["times"], 95)
    h.say("ratio", f"{reference_p95 / page_90_p95:.3f}")
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
