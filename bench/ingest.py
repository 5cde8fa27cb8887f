"""Inbound inventory events: the app's ingest rate over HTTP against the raw PostgreSQL floor.

The app runs under gunicorn on PostgreSQL with a small demo retailer (DCs and stores
with opening stock). 50,000 events — till sales, dock receipts, some damage — are posted
in batches of 1,000 to POST /api/v1/inventory/events with a partner token, by a few
clients that each send the events of their own stores (as POS systems do). Quantities
follow a simulation of the shelves, so no sale takes a shelf below zero.

The raw floor, measured in the same run on the same database: psycopg, no Django,
the same clients and batches, each batch one transaction that inserts its 1,000
movements and moves every level it touches by the summed deltas (one statement each).
The machine's speed drifts over minutes (the floor alone has moved between 23,000 and
40,000 events/s from one run to the next), so the two are measured in turns rather than
one after the other: the events are cut into BENCH_INGEST_ROUNDS rounds, and in each
round the floor and the app send that round's batches, the floor first in even rounds
and the app first in odd ones. After each floor round the levels are moved back (by
movements, so the ledger still balances and the app finds the shelves it would have).
Each side's rate is its events over the sum of its rounds.

ratio = app events/s ÷ raw events/s (budget ≥ 0.25).
"""

import contextlib
import os
import random
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import _harness as h
import httpx

EVENTS = int(os.environ.get("BENCH_INGEST_EVENTS", "50000"))
BATCH = 1000
CLIENTS = int(os.environ.get("BENCH_INGEST_CLIENTS", "2"))
ROUNDS = int(os.environ.get("BENCH_INGEST_ROUNDS", "5"))
WORKERS = int(os.environ.get("BENCH_INGEST_WORKERS", "3"))
STORES, SKUS = 20, 500
SEED = 11
BUDGET = 0.25
# The demo's channel systems hear about every level that moves (an availability outbox
# message per system and posting, written in the posting's transaction; no worker runs
# here, so nothing is sent). 0 switches them off, to measure the ledger path alone.
CHANNEL_SYSTEMS = os.environ.get("BENCH_INGEST_CHANNEL_SYSTEMS", "1") != "0"
# 1: also run the sandbox partner and a Celery worker on this machine, so the relay
# reads the moved levels and pushes them while the app takes events in (its work then
# competes for the same two CPUs), and report the outbox once it has drained.
RELAY = os.environ.get("BENCH_INGEST_RELAY", "0") == "1"


@dataclass(frozen=True)
class Level:
    id: int
    sku_id: int
    location_id: int
    sku: str
    location: str
    on_hand: int
    unavailable: int


def load_levels(app: h.App) -> list[Level]:
    with app.connect() as conn:
        rows = conn.execute(
            "SELECT l.id, l.sku_id, l.location_id, s.code, loc.code, l.on_hand, "
            "l.damaged + l.quality_control + l.safety_stock "
            "FROM inventory_stocklevel l JOIN inventory_sku s ON s.id = l.sku_id "
            "JOIN inventory_location loc ON loc.id = l.location_id ORDER BY l.id"
        ).fetchall()
    return [Level(*row) for row in rows]


def plan_events(levels: list[Level], *, clients: int) -> list[list[list[dict]]]:
    """Per client, its batches of events. Client k sends the events of the locations
    whose index is k modulo `clients`, so no two clients touch the same level."""
    rng = random.Random(SEED)
    locations = sorted({level.location for level in levels})
    owner = {code: index % clients for index, code in enumerate(locations)}
    shelf = {level.id: [level.on_hand, level.unavailable] for level in levels}
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    streams: list[list[dict]] = [[] for _ in range(clients)]
    for number in range(EVENTS):
        level = rng.choice(levels)
        on_hand, unavailable = shelf[level.id]
        roll = rng.random()
        sellable = on_hand - unavailable
        if roll < 0.70 and sellable > 0:
            kind, quantity = "sale", min(sellable, rng.choice((1, 1, 1, 1, 2, 2, 3)))
            shelf[level.id][0] -= quantity
        elif roll < 0.97 or sellable <= 0:
            kind, quantity = "receipt", rng.randint(6, 24)
            shelf[level.id][0] += quantity
        else:
            kind, quantity = "damage", 1
            shelf[level.id][1] += 1
        streams[owner[level.location]].append({
            "event_id": f"bench-{number:07d}", "type": kind, "sku": level.sku, "location": level.location,
            "quantity": quantity, "occurred_at": (start + timedelta(milliseconds=number)).isoformat(),
            "reference": f"{kind}-{number}",
        })
    return [[stream[i:i + BATCH] for i in range(0, len(stream), BATCH)] for stream in streams]


def run_clients(batches_per_client: list[list], send) -> float:
    """Each client sends its batches in order, all clients at once; returns the wall time."""

    def work(index: int) -> None:
        for batch in batches_per_client[index]:
            send(index, batch)

    elapsed, _results = h.run_clients(work, clients=len(batches_per_client))
    return elapsed


def warm_up(server: h.Server, token: str, plan: list[list[list[dict]]]) -> None:
    """Warm every worker up (imports, connections, caches) with events that change nothing measured."""
    warm = [h.dumps({"events": [{"event_id": f"warm-{worker}-{i}", "type": "receipt", "sku": plan[0][0][0]["sku"],
                                 "location": plan[0][0][0]["location"], "quantity": 1,
                                 "occurred_at": datetime.now(UTC).isoformat()} for i in range(20)]})
            for worker in range(server.workers * 2)]
    with httpx.Client(base_url=server.base_url, headers=h.headers(token), timeout=60) as warmer:
        for body in warm:
            warmer.post("/api/v1/inventory/events", content=body).raise_for_status()


def rounds_of(plan: list[list[list[dict]]], rounds: int) -> list[list[list[list[dict]]]]:
    """The plan cut into `rounds` parts: each client's batches in as many consecutive slices."""
    parts = []
    for number in range(rounds):
        parts.append([batches[len(batches) * number // rounds:len(batches) * (number + 1) // rounds]
                      for batches in plan])
    return parts


def app_rate(server: h.Server, token: str, plan: list[list[list[dict]]]) -> tuple[float, dict, list[float]]:
    bodies = [[h.dumps({"events": batch}) for batch in batches] for batches in plan]
    summary: dict[str, int] = defaultdict(int)
    latencies: list[float] = []
    lock = threading.Lock()
    sessions = [httpx.Client(base_url=server.base_url, headers=h.headers(token), timeout=120) for _ in plan]

    def send(index: int, body: bytes) -> None:
        started = time.perf_counter()
        response = sessions[index].post("/api/v1/inventory/events", content=body)
        took = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:500]}")
        with lock:
            latencies.append(took)
            for status, count in response.json()["summary"].items():
                summary[status] += count

    try:
        elapsed = run_clients(bodies, send)
    finally:
        for session in sessions:
            session.close()
    return elapsed, dict(summary), latencies


def raw_rate(app: h.App, levels: list[Level], plan: list[list[list[dict]]], *,
             undo: bool = False) -> tuple[float, float]:
    """The same batches, straight into the tables: movements in, levels moved, one
    transaction per batch. Returns the seconds it took and the CPU seconds it used
    (PostgreSQL and this client)."""
    level_ids = {(level.sku, level.location): level for level in levels}
    signs = {"sale": ("on_hand", -1), "receipt": ("on_hand", 1), "damage": ("damaged", 1)}
    prepared = []
    for batches in plan:
        client_batches = []
        for batch in batches:
            columns: dict[str, list] = defaultdict(list)
            deltas: dict[int, list[int]] = defaultdict(lambda: [0, 0])
            for event in batch:
                level = level_ids[(event["sku"], event["location"])]
                bucket, sign = signs[event["type"]]
                columns["sku"].append(level.sku_id)
                columns["location"].append(level.location_id)
                columns["bucket"].append(bucket)
                columns["delta"].append(sign * event["quantity"])
                columns["reason"].append(event["type"])
                columns["occurred"].append(datetime.fromisoformat(event["occurred_at"]))
                deltas[level.id][0 if bucket == "on_hand" else 1] += sign * event["quantity"]
            ids = sorted(deltas)
            client_batches.append((columns, ids, [deltas[i][0] for i in ids], [deltas[i][1] for i in ids]))
        prepared.append(client_batches)

    insert = (
        "INSERT INTO inventory_stockmovement (sku_id, location_id, bucket, delta, reason, document_type, "
        "document_id, occurred_at, recorded_at) "
        "SELECT s, l, b, d, r, 'inventory_event', '', o, now() "
        "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::int[], %s::text[], %s::timestamptz[]) "
        "AS v(s, l, b, d, r, o)"
    )
    update = (
        "UPDATE inventory_stocklevel AS level SET on_hand = level.on_hand + v.d_on_hand, "
        "damaged = level.damaged + v.d_damaged, version = level.version + 1, updated_at = now() "
        "FROM unnest(%s::bigint[], %s::int[], %s::int[]) AS v(id, d_on_hand, d_damaged) WHERE level.id = v.id"
    )
    connections = [h.psycopg.connect(app.db_url) for _ in prepared]

    def send(index: int, batch) -> None:
        columns, ids, on_hand, damaged = batch
        conn = connections[index]
        with conn.transaction(), conn.cursor() as cursor:
            cursor.execute(insert, [columns["sku"], columns["location"], columns["bucket"], columns["delta"],
                                    columns["reason"], columns["occurred"]])
            cursor.execute(update, [ids, on_hand, damaged])

    cpu_before = h.database_cpu_seconds(app) + time.process_time()
    try:
        elapsed = run_clients(prepared, send)
        cpu = h.database_cpu_seconds(app) + time.process_time() - cpu_before
    finally:
        for conn in connections:
            conn.close()
    if undo:
        _move_back(app, levels, prepared)
    return elapsed, cpu


def _move_back(app: h.App, levels: list[Level], prepared) -> None:
    """Move every level the raw run moved back by the opposite movements (not measured)."""
    by_id = {level.id: level for level in levels}
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for client_batches in prepared:
        for _columns, ids, on_hand, damaged in client_batches:
            for level_id, d_on_hand, d_damaged in zip(ids, on_hand, damaged, strict=True):
                totals[level_id][0] -= d_on_hand
                totals[level_id][1] -= d_damaged
    movements: dict[str, list] = defaultdict(list)
    for level_id, deltas in totals.items():
        for bucket, delta in zip(("on_hand", "damaged"), deltas, strict=True):
            if delta:
                movements["sku"].append(by_id[level_id].sku_id)
                movements["location"].append(by_id[level_id].location_id)
                movements["bucket"].append(bucket)
                movements["delta"].append(delta)
    ids = sorted(totals)
    with h.psycopg.connect(app.db_url) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO inventory_stockmovement (sku_id, location_id, bucket, delta, reason, document_type, "
            "document_id, occurred_at, recorded_at) SELECT s, l, b, d, 'bench_undo', '', '', now(), now() "
            "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::int[]) AS v(s, l, b, d)",
            [movements["sku"], movements["location"], movements["bucket"], movements["delta"]])
        conn.execute(
            "UPDATE inventory_stocklevel AS level SET on_hand = level.on_hand + v.d_on_hand, "
            "damaged = level.damaged + v.d_damaged, version = level.version + 1 "
            "FROM unnest(%s::bigint[], %s::int[], %s::int[]) AS v(id, d_on_hand, d_damaged) WHERE level.id = v.id",
            [ids, [totals[i][0] for i in ids], [totals[i][1] for i in ids]])


def main() -> int:
    h.say("machine", h.machine())
    name = f"retailops_bench_ingest_{os.getpid()}"
    sandbox_port, queue = h.free_port(), f"bench-ingest-{os.getpid()}"
    relay_env = {"INTEGRATIONS_SANDBOX_PORT": str(sandbox_port), "INTEGRATIONS_QUEUE": queue} if RELAY else {}
    with h.app_with_database(name, extra_env=relay_env) as app, contextlib.ExitStack() as relay:
        h.note(f"database {name}: seeding {STORES} stores x {SKUS} SKUs")
        app.manage("seed_demo", "--stores", str(STORES), "--skus", str(SKUS), "--no-users")
        if RELAY:  # the demo's systems point at this sandbox
            relay.enter_context(h.sandbox_and_worker(app, sandbox_port=sandbox_port, queue=queue, concurrency=2))
        token = app.partner_token("bench-pos", kind="pos", scopes="events")
        with app.connect() as conn:
            channel_systems = "kind IN ('web', 'marketplace') AND adapter = 'json_http'"
            if not CHANNEL_SYSTEMS:
                conn.execute(f"UPDATE integrations_externalsystem SET enabled = false WHERE {channel_systems}")
            listening = conn.execute(
                f"SELECT count(*) FROM integrations_externalsystem WHERE enabled AND {channel_systems}").fetchone()[0]
        levels = load_levels(app)
        plan = plan_events(levels, clients=CLIENTS)
        with h.Server(app, workers=WORKERS) as server:
            h.say("server", server.description)
            h.say("events", EVENTS)
            h.say("batch_size", BATCH)
            h.say("clients", CLIENTS)
            h.say("levels", len(levels))
            h.say("channel_systems_listening", listening)
            warm_up(server, token, plan)
            elapsed, raw_elapsed, app_cpu, raw_cpu = 0.0, 0.0, 0.0, 0.0
            summary: dict[str, int] = defaultdict(int)
            latencies: list[float] = []
            round_ratios = []
            for number, part in enumerate(rounds_of(plan, ROUNDS)):
                app_first = number % 2 == 1
                if not app_first:
                    raw_seconds, cpu = raw_rate(app, levels, part, undo=True)
                cpu_before = h.server_cpu_seconds(server)
                app_seconds, round_summary, round_latencies = app_rate(server, token, part)
                app_cpu += h.server_cpu_seconds(server) - cpu_before
                if app_first:
                    raw_seconds, cpu = raw_rate(app, levels, part, undo=True)
                elapsed, raw_elapsed, raw_cpu = elapsed + app_seconds, raw_elapsed + raw_seconds, raw_cpu + cpu
                round_ratios.append(raw_seconds / app_seconds)
                latencies += round_latencies
                for status, count in round_summary.items():
                    summary[status] += count
            server_errors = h.server_errors_in_log(server)
        app_events_per_s = EVENTS / elapsed
        h.say("app_seconds", f"{elapsed:.2f}")
        h.say("app_batch_p50_ms", h.ms(h.percentile(latencies, 50)))
        h.say("app_batch_p99_ms", h.ms(h.percentile(latencies, 99)))
        h.say("app_applied", summary.get("applied", 0))
        h.say("app_not_applied", sum(count for status, count in summary.items() if status != "applied"))
        if RELAY:
            drain_started = time.monotonic()
            statuses = h.outbox_statuses(app)
            h.say("relay_running", "yes (sandbox partner and a worker of concurrency 2 on this machine)")
            h.say("outbox_statuses", ", ".join(f"{status}={count}" for status, count in sorted(statuses.items())))
            h.say("outbox_drained_after_s", f"{time.monotonic() - drain_started:.1f}")
        with app.connect() as conn:
            h.say("outbox_messages_written",
                  conn.execute("SELECT count(*) FROM integrations_outboxmessage").fetchone()[0])
        h.say("server_errors", server_errors)
        ledger = app.verify_ledger()
        h.say("verify_ledger", ledger)

        raw_events_per_s = EVENTS / raw_elapsed
        h.say("raw_seconds", f"{raw_elapsed:.2f}")
        h.say("round_ratios", ", ".join(f"{ratio:.3f}" for ratio in round_ratios))
        # CPU per event beside throughput: the app's gunicorn workers and PostgreSQL, against
        # the floor's PostgreSQL and psycopg client.
        h.say("app_cpu_us_per_event", f"{1e6 * app_cpu / EVENTS:.0f}")
        h.say("raw_cpu_us_per_event", f"{1e6 * raw_cpu / EVENTS:.0f}")
        h.say("app_events_per_s", f"{app_events_per_s:.0f}")
        h.say("raw_events_per_s", f"{raw_events_per_s:.0f}")
        ratio = app_events_per_s / raw_events_per_s
        h.say("budget", f"ratio >= {BUDGET}")
        h.say("within_budget", "yes" if ratio >= BUDGET and summary.get("applied") == EVENTS else "no")
        h.say("ratio", f"{ratio:.3f}")
    return 0 if summary.get("applied") == EVENTS and server_errors == 0 and ledger == "clean" else 1


if __name__ == "__main__":
    sys.exit(main())
