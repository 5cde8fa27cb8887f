"""Checkout holds under contention: 100 clients reserve one unit at a time from 50 hot SKUs
until the stock runs out, over HTTP, against the raw PostgreSQL floor.

The app runs under gunicorn on PostgreSQL with the small demo retailer plus 50 hot SKUs
stocked at one distribution centre (each level also holds a damaged unit, which must not
be sold). Every client loops: pick a hot SKU that is not sold out, POST
/api/v1/reservations for one unit (sourcing picks the location), and drop the SKU when
the answer is 409 insufficient_stock. The run ends when every SKU is sold out.

Then the database is checked: no level has more committed than its available stock,
and the reserved holds add up to exactly the stock that was put there.

The raw floor, in the same run: psycopg, no Django, the same 100 clients (one connection
each) doing the guarded
`UPDATE … SET committed = committed + 1 WHERE on_hand − committed − damaged −
quality_control − safety_stock >= 1` on 50 other SKUs with the same stock.

raw_floor_ratio = app holds/s ÷ raw holds/s, for information; the raw floor runs three
times on fresh stock (BENCH_RESERVATIONS_RAW_RUNS) and the median counts. For scale it
also prints what the same clients get from a bare Django view over HTTP (`bare_http_*`):
the most any request through the web stack can reach here.

And the ceiling (`ceiling_*`), on 50 more SKUs with the same stock: the same clients
against a partner-API view that runs the floor's guarded statement and nothing else,
behind the app's own authentication, scope check, throttle, parser and middleware
(`bench/_ceiling_urls.py`, served with `bench/_ceiling_settings.py`). It holds none of a
hold's promises; it shows the most a hold through this API could reach on this machine,
so `share_of_ceiling` (app ÷ ceiling) says how much of that the hold's own work costs.

ratio = share_of_ceiling. Budget: ≥ 0.3, with nothing oversold, no server error and the
holds' p99 at most 1 s at 100 clients.
"""

import json
import os
import random
import sys
import threading
import time

import _harness as h

CLIENTS = 100
HOT_SKUS = 50
STOCK = int(os.environ.get("BENCH_RESERVATIONS_STOCK", "30"))  # sellable units per hot SKU
WORKERS = int(os.environ.get("BENCH_RESERVATIONS_WORKERS", "4"))
WORKER_CLASS = os.environ.get("BENCH_RESERVATIONS_WORKER_CLASS", "sync")
THREADS = int(os.environ.get("BENCH_RESERVATIONS_THREADS", "1"))
RAW_RUNS = int(os.environ.get("BENCH_RESERVATIONS_RAW_RUNS", "3"))
CHANNEL = "bench-web"
CEILING_ENV = {"DJANGO_SETTINGS_MODULE": "_ceiling_settings", "PYTHONPATH": str(h.ROOT / "bench")}
LOCATION = "DC-NORTH"
BUDGET = 0.3  # share of the ceiling
P99_BUDGET_MS = 1000.0

SETUP = """
from inventory import services
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket, Location, Sku
location = Location.objects.get(code={location!r})
services.channel_upsert(code={channel!r}, actor=None, name="Bench web shop", kind="web", priority=50,
                        safety_buffer=0, active=True)
movements = []
for prefix in ("HOT", "RAW", "CEIL"):
    for index in range({skus}):
        sku, _created = services.sku_upsert(code=f"{{prefix}}-{{index:03d}}", actor=None, name=f"Hot item {{index}}",
                                            unit_cost="10.00", price="25.00", active=True)
        movements.append(Movement(sku.pk, location.pk, Bucket.ON_HAND, {stock} + 1, reason="receipt"))
        movements.append(Movement(sku.pk, location.pk, Bucket.DAMAGED, 1, reason="damage"))
post_movements(movements, document_type="bench", document_id="opening")
"""


def sku(prefix: str, index: int) -> str:
    return f"{prefix}-{index:03d}"


def app_run(server: h.Server, token: str, *, path: str = "/api/v1/reservations", prefix: str = "HOT") -> dict:
    sold_out = [False] * HOT_SKUS
    headers = h.headers(token)

    def work(index: int) -> dict:
        rng = random.Random(index)
        client = h.HttpClient(server.base_url, headers)
        outcome = {"holds": 0, "latencies": [], "statuses": {}}
        try:
            while True:
                live = [i for i in range(HOT_SKUS) if not sold_out[i]]
                if not live:
                    return outcome
                choice = rng.choice(live)
                body = h.dumps({"sku": sku(prefix, choice), "quantity": 1, "channel": CHANNEL})
                started = time.perf_counter()
                status, data = client.request("POST", path, body)
                took = time.perf_counter() - started
                outcome["statuses"][status] = outcome["statuses"].get(status, 0) + 1
                if status == 201:
                    outcome["holds"] += 1
                    outcome["latencies"].append(took)
                elif status == 409 and json.loads(data).get("code") == "insufficient_stock":
                    sold_out[choice] = True
                    outcome["latencies"].append(took)
                elif status >= 500:
                    continue  # counted; the SKU is tried again
                else:
                    raise RuntimeError(f"unexpected {status}: {data[:300]!r}")
        finally:
            client.close()

    cpu_before = time.process_time()
    elapsed, results = h.run_clients(work, clients=CLIENTS)
    statuses: dict[int, int] = {}
    for result in results:
        for status, count in result["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    return {
        "elapsed": elapsed,
        "holds": sum(result["holds"] for result in results),
        "latencies": [latency for result in results for latency in result["latencies"]],
        "statuses": statuses,
        "loadgen_cpu": time.process_time() - cpu_before,
    }


def http_floor(server: h.Server, *, per_client: int = 30) -> float:
    """Requests/s of the same clients against GET /healthz (plain Django, constant JSON,
    no database) on the same server: what any view can reach over HTTP here, for scale."""

    def work(index: int) -> int:
        client = h.HttpClient(server.base_url, {})
        try:
            for _ in range(per_client):
                status, _body = client.request("GET", "/healthz")
                if status != 200:
                    raise RuntimeError(f"/healthz answered {status}")
        finally:
            client.close()
        return per_client

    elapsed, done = h.run_clients(work, clients=CLIENTS)
    return sum(done) / elapsed


def check_database(app: h.App) -> dict:
    """Oversold units per level (committed beyond what was available) and the holds."""
    with app.connect() as conn:
        levels = conn.execute(
            "SELECT l.id, l.on_hand, l.committed, l.damaged + l.quality_control + l.safety_stock, "
            "COALESCE((SELECT sum(a.quantity) FROM orders_allocation a WHERE a.sku_id = l.sku_id "
            "AND a.location_id = l.location_id AND a.status = 'reserved'), 0) "
            "FROM inventory_stocklevel l JOIN inventory_sku s ON s.id = l.sku_id WHERE s.code LIKE 'HOT-%%'"
        ).fetchall()
    oversold = sum(max(0, committed - (on_hand - unavailable)) for _id, on_hand, committed, unavailable, _held
                   in levels)
    reserved = sum(held for *_rest, held in levels)
    mismatched = sum(1 for _id, _on_hand, committed, _unavailable, held in levels if committed != held)
    return {"oversold": oversold, "reserved": reserved, "committed_not_matching_holds": mismatched}


def oversold_units(app: h.App, prefix: str) -> int:
    """Units committed beyond the available stock, over the levels of `prefix`'s SKUs."""
    with app.connect() as conn:
        return conn.execute(
            "SELECT COALESCE(sum(GREATEST(0, l.committed - (l.on_hand - l.damaged - l.quality_control "
            "- l.safety_stock))), 0) FROM inventory_stocklevel l JOIN inventory_sku s ON s.id = l.sku_id "
            "WHERE s.code LIKE %s", [f"{prefix}-%"]).fetchone()[0]


def raw_run(app: h.App) -> dict:
    with app.connect() as conn:
        level_ids = dict(conn.execute(
            "SELECT s.code, l.id FROM inventory_stocklevel l JOIN inventory_sku s ON s.id = l.sku_id "
            "WHERE s.code LIKE 'RAW-%%'").fetchall())
    ids = [level_ids[sku("RAW", index)] for index in range(HOT_SKUS)]
    with app.connect() as conn:  # fresh stock for this run: the floor's own levels, outside the ledger
        conn.execute("UPDATE inventory_stocklevel SET committed = 0 WHERE id = ANY(%s)", [ids])
    connections = []
    try:
        for _ in range(CLIENTS):
            connections.append(h.psycopg.connect(app.db_url, autocommit=True))
    except h.psycopg.OperationalError as exc:  # the server's max_connections, shared with others
        if len(connections) < CLIENTS // 2:
            raise
        h.note(f"raw floor: only {len(connections)} connections could be opened ({exc})")
    guarded = (
        "UPDATE inventory_stocklevel SET committed = committed + 1 "
        "WHERE id = %s AND on_hand - committed - damaged - quality_control - safety_stock >= 1"
    )
    sold_out = [False] * HOT_SKUS
    pool_lock = threading.Lock()
    free = list(connections)

    def work(index: int) -> dict:
        rng = random.Random(1000 + index)
        with pool_lock:
            conn = free.pop() if free else None
        shared = conn is None
        outcome = {"holds": 0, "latencies": []}
        while True:
            live = [i for i in range(HOT_SKUS) if not sold_out[i]]
            if not live:
                if conn is not None and not shared:
                    with pool_lock:
                        free.append(conn)
                return outcome
            choice = rng.choice(live)
            if shared:  # fewer connections than clients: borrow one per statement
                while True:
                    with pool_lock:
                        conn = free.pop() if free else None
                    if conn is not None:
                        break
                    time.sleep(0.0005)
            started = time.perf_counter()
            updated = conn.execute(guarded, [ids[choice]]).rowcount
            took = time.perf_counter() - started
            if shared:
                with pool_lock:
                    free.append(conn)
            outcome["latencies"].append(took)
            if updated:
                outcome["holds"] += 1
            else:
                sold_out[choice] = True

    cpu_before = h.database_cpu_seconds(app) + time.process_time()
    try:
        elapsed, results = h.run_clients(work, clients=CLIENTS)
    finally:
        cpu = h.database_cpu_seconds(app) + time.process_time() - cpu_before
        for conn in connections:
            conn.close()
    return {
        "elapsed": elapsed,
        "holds": sum(result["holds"] for result in results),
        "latencies": [latency for result in results for latency in result["latencies"]],
        "connections": len(connections),
        "oversold": oversold_units(app, "RAW"),
        "cpu": cpu,
    }


def main() -> int:
    h.say("machine", h.machine())
    name = f"retailops_bench_reservations_{os.getpid()}"
    with h.app_with_database(name) as app:
        h.note(f"database {name}: demo data and {HOT_SKUS} hot SKUs x {STOCK} units")
        app.manage("seed_demo", "--no-users")
        app.shell(SETUP.format(location=LOCATION, channel=CHANNEL, skus=HOT_SKUS, stock=STOCK))
        token = app.partner_token("bench-web-shop", kind="web", scopes="orders")
        with h.Server(app, workers=WORKERS, worker_class=WORKER_CLASS, threads=THREADS) as server:
            h.say("server", server.description)
            h.say("clients", CLIENTS)
            h.say("hot_skus", HOT_SKUS)
            h.say("stock", HOT_SKUS * STOCK)
            cpu_before, db_cpu_before = h.server_cpu_seconds(server), h.database_cpu_seconds(app)
            result = app_run(server, token)
            result["server_cpu"] = h.server_cpu_seconds(server) - cpu_before
            result["database_cpu"] = h.database_cpu_seconds(app) - db_cpu_before
            logged_errors = h.server_errors_in_log(server)
            bare_per_s = http_floor(server)
        checked = check_database(app)
        ledger = app.verify_ledger()  # before the ceiling and the floor, which write outside the ledger
        # The ceiling: the same clients against a view that only runs the floor's guarded
        # statement behind the same web stack (bench/_ceiling_urls.py), on its own server.
        with h.Server(app, workers=WORKERS, worker_class=WORKER_CLASS, threads=THREADS, env=CEILING_ENV) as server:
            cpu_before = h.server_cpu_seconds(server)
            ceiling = app_run(server, token, path="/bench/ceiling-hold", prefix="CEIL")
            ceiling["server_cpu"] = h.server_cpu_seconds(server) - cpu_before
            ceiling_errors = h.server_errors_in_log(server)
        ceiling["oversold"] = oversold_units(app, "CEIL")
        # The floor sells 1,500 units in half a second, so a neighbour's burst moves it by
        # half: it runs RAW_RUNS times on fresh stock and the median counts.
        raw_runs = [raw_run(app) for _ in range(RAW_RUNS)]
        raw = sorted(raw_runs, key=lambda run: run["elapsed"])[len(raw_runs) // 2]

    app_rate = result["holds"] / result["elapsed"]
    raw_rate = raw["holds"] / raw["elapsed"]
    server_errors = sum(count for status, count in result["statuses"].items() if status >= 500) + logged_errors
    h.say("app_seconds", f"{result['elapsed']:.2f}")
    h.say("app_requests", sum(result["statuses"].values()))
    h.say("app_statuses", ", ".join(f"{status}={count}" for status, count in sorted(result["statuses"].items())))
    h.say("holds", result["holds"])
    h.say("holds_in_database", checked["reserved"])
    h.say("stock_left_unsold", HOT_SKUS * STOCK - checked["reserved"])
    h.say("committed_not_matching_holds", checked["committed_not_matching_holds"])
    h.say("verify_ledger", ledger)
    h.latency_lines("latency", result["latencies"], points=(50, 99))
    h.say("loadgen_cpu_percent", f"{100 * result['loadgen_cpu'] / result['elapsed']:.0f}")
    h.say("raw_runs_holds_per_s", ", ".join(f"{run['holds'] / run['elapsed']:.0f}" for run in raw_runs))
    h.say("raw_connections", raw["connections"])
    h.say("raw_seconds", f"{raw['elapsed']:.2f}")
    h.say("raw_holds", raw["holds"])
    h.say("raw_oversold", raw["oversold"])
    h.latency_lines("raw_latency", raw["latencies"], points=(50, 99))
    h.say("oversold", checked["oversold"])
    h.say("server_errors", server_errors)
    # CPU per request beside throughput: the app's counts its gunicorn workers and
    # PostgreSQL; the floor's its PostgreSQL and its psycopg client.
    h.say("app_cpu_ms_per_request", f"{1000 * result['server_cpu'] / sum(result['statuses'].values()):.2f}")
    h.say("app_database_cpu_ms_per_request",
          f"{1000 * result['database_cpu'] / sum(result['statuses'].values()):.2f}")
    h.say("raw_cpu_ms_per_update", f"{1000 * raw['cpu'] / len(raw['latencies']):.2f}")
    # For scale: a bare Django response over HTTP, by the same clients, against the floor.
    h.say("bare_http_requests_per_s", f"{bare_per_s:.0f}")
    h.say("bare_http_ratio", f"{bare_per_s / raw_rate:.3f}")
    # The ceiling: the web stack with the floor's statement and nothing of a hold (no
    # sourcing, allocation, history, movement or outbox): what any hold could reach here.
    ceiling_rate = ceiling["holds"] / ceiling["elapsed"]
    ceiling_errors += sum(count for status, count in ceiling["statuses"].items() if status >= 500)
    h.say("ceiling_holds_per_s", f"{ceiling_rate:.0f}")
    h.say("ceiling_cpu_ms_per_request",
          f"{1000 * ceiling['server_cpu'] / sum(ceiling['statuses'].values()):.2f}")
    h.say("ceiling_oversold", ceiling["oversold"])
    h.say("ceiling_server_errors", ceiling_errors)
    h.say("ceiling_ratio", f"{ceiling_rate / raw_rate:.3f}")
    h.say("share_of_ceiling", f"{app_rate / ceiling_rate:.3f}")
    h.say("holds_per_s", f"{app_rate:.0f}")
    h.say("raw_holds_per_s", f"{raw_rate:.0f}")
    h.say("raw_floor_ratio", f"{app_rate / raw_rate:.3f}")
    ratio = app_rate / ceiling_rate
    p99 = h.percentile(result["latencies"], 99) * 1000
    correct = (checked["oversold"] == 0 and server_errors == 0 and checked["reserved"] == HOT_SKUS * STOCK
               and result["holds"] == HOT_SKUS * STOCK and checked["committed_not_matching_holds"] == 0
               and ledger == "clean")
    h.say("budget", f"share_of_ceiling >= {BUDGET}, p99 <= {P99_BUDGET_MS:.0f} ms, oversold 0, server_errors 0")
    h.say("within_budget", "yes" if correct and ratio >= BUDGET and p99 <= P99_BUDGET_MS else "no")
    h.say("ratio", f"{ratio:.3f}")
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main())
