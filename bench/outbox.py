"""The transactional outbox end to end: changes → outbox → Celery relay → sandbox partner.

Writer threads post single-movement changes (each its own transaction) over 500 (SKU,
location) keys at a fixed rate (BENCH_OUTBOX_RATE changes/s for BENCH_OUTBOX_SECONDS s;
default 1,000/s for 60 s) while a Celery worker on Redis relays them to three listening
systems played by the sandbox partner, which answers each request in
BENCH_OUTBOX_PARTNER_MS (150 ms). Availability for one key coalesces to the latest, so
fewer messages are delivered than written.

Prints, per system: commit → receipt p50/p95/p99 (for every change: until the partner
received that change's version or a newer one of its key), deliveries/s, the largest lag
seen (age of the oldest pending message, sampled every 0.5 s), messages written,
delivered and superseded, lost changes (never received), messages applied twice (a
delivered message whose push the partner did not accept exactly once) and versions sent
again (a level's state read by two pushes: a newer message's push read it first; the
partner ignores the second by version); then the worker's CPU per delivered message, and the raw reference
measured in the same run: one httpx client posting the same payloads straight to the
sandbox, one after another.

ratio = worst p95 commit → receipt over the systems ÷ 1 s budget (lower is better).
"""

import bisect
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from pathlib import Path

import _harness as h

RATE = float(os.environ.get("BENCH_OUTBOX_RATE", "1000"))
SECONDS = float(os.environ.get("BENCH_OUTBOX_SECONDS", "60"))
KEYS = 500
LOCATIONS = 5
SYSTEMS = ("bench-market", "bench-web", "bench-shop")
PARTNER_MS = float(os.environ.get("BENCH_OUTBOX_PARTNER_MS", "150"))
WRITERS = int(os.environ.get("BENCH_OUTBOX_WRITERS", "8"))
WORKER_CONCURRENCY = int(os.environ.get("BENCH_OUTBOX_WORKERS", "4"))
# The bench's own database, so that two runs on one server do not share one.
DATABASE = os.environ.get("BENCH_OUTBOX_DB", "bench_outbox")
RAW_REQUESTS = 200


def writer_main(out_path: str, sandbox_url: str) -> None:
    """Runs in its own process with Django set up: master data, the systems, the changes."""
    import random

    import django

    sys.path.insert(0, str(h.ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retailops.settings")
    django.setup()
    from django.db import connection, transaction

    from integrations.models import ExternalSystem
    from inventory.ledger import Movement, post_movements
    from inventory.models import Bucket, Channel, Location, Sku, StockLevel

    locations = [Location.objects.get_or_create(code=f"DC{i}", defaults={"name": f"DC {i}", "kind": "dc",
                                                                          "ship_from_store": True})[0]
                 for i in range(LOCATIONS)]
    skus = [Sku.objects.get_or_create(code=f"B{i:04d}", defaults={"name": f"Bench {i}", "unit_cost": 1,
                                                                   "price": 2})[0]
            for i in range(KEYS // LOCATIONS)]
    keys = [(sku.pk, location.pk) for sku in skus for location in locations]
    for code in SYSTEMS:
        channel, _ = Channel.objects.get_or_create(code=code, defaults={"name": code, "kind": "marketplace"})
        ExternalSystem.objects.create(code=code, name=code, kind="marketplace", adapter="json_http",
                                      base_url=f"{sandbox_url}/{code}", channel=channel, timeout_seconds=5)
    rng = random.Random(5)
    total = int(RATE * SECONDS)
    plan = [rng.choice(keys) for _ in range(total)]
    commits: list[tuple[int, int, int, float]] = []
    lock = threading.Lock()
    late = [0]
    # The systems exist before the traffic, as in production: the worker starts consuming
    # their relay queues within its refresh interval (set to 1 s for the bench).
    started = time.monotonic() + float(os.environ["INTEGRATIONS_QUEUE_REFRESH_SECONDS"]) + 1.5

    def write(offset: int) -> None:
        mine, behind = [], 0
        for index in range(offset, total, WRITERS):
            delay = started + index / RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.05:
                behind += 1
            sku_id, location_id = plan[index]
            with transaction.atomic():
                post_movements([Movement(sku_id, location_id, Bucket.ON_HAND, 1, reason="receipt")])
                version = StockLevel.objects.values_list("version", flat=True).get(sku_id=sku_id,
                                                                                    location_id=location_id)
            mine.append((sku_id, location_id, version, time.time()))
        with lock:
            commits.extend(mine)
            late[0] += behind
        connection.close()

    threads = [threading.Thread(target=write, args=(index,)) for index in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    codes = {sku.pk: sku.code for sku in skus}
    location_codes = {location.pk: location.code for location in locations}
    with open(out_path, "w") as out:
        json.dump({"elapsed": elapsed, "late": late[0],
                   "commits": [[codes[s], location_codes[loc], version, at] for s, loc, version, at in commits]}, out)


def fetch(url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def sample_lag(app: h.App, stop: threading.Event, worst: dict) -> None:
    """The largest age of each system's oldest pending message, every half second."""
    with app.connect() as conn:
        while not stop.is_set():
            rows = conn.execute(
                "SELECT s.code, extract(epoch FROM now() - min(m.created_at)) FROM integrations_outboxmessage m "
                "JOIN integrations_externalsystem s ON s.id = m.system_id WHERE m.status = 'pending' "
                "GROUP BY s.code").fetchall()
            for code, lag in rows:
                worst[code] = max(worst.get(code, 0.0), float(lag))
            stop.wait(0.5)


def freshness(commits: list, received: list) -> tuple[list[float], int, int]:
    """Commit → receipt of every change (until its version or a newer one arrived), the
    changes never received, and the versions applied more than once."""
    receipts: dict[tuple[str, str], list[tuple[float, int]]] = defaultdict(list)
    seen: dict[tuple[str, str, int], int] = defaultdict(int)
    for record in received:
        for item in record["body"]["items"]:
            receipts[(item["sku"], item["location"])].append((record["received_at"], item["version"]))
            seen[(item["sku"], item["location"], item["version"])] += 1
    newest: dict[tuple[str, str], tuple[list[int], list[float]]] = {}
    for key, rows in receipts.items():
        rows.sort()
        running, versions, times = 0, [], []
        for at, version in rows:
            running = max(running, version)
            versions.append(running)
            times.append(at)
        newest[key] = (versions, times)
    latencies, lost = [], 0
    for sku, location, version, committed in commits:
        versions, times = newest.get((sku, location), ([], []))
        index = bisect.bisect_left(versions, version)
        if index == len(versions):
            lost += 1
            continue
        latencies.append(max(0.0, times[index] - committed))
    return latencies, lost, sum(1 for count in seen.values() if count > 1)


def applied_twice(app: h.App, code: str, received: list) -> int:
    """Delivered messages whose push key the partner accepted other than exactly once."""
    accepted: dict[str, int] = defaultdict(int)
    for record in received:
        accepted[record["idempotency_key"]] += 1
    with app.connect() as conn:
        keys = conn.execute(
            "SELECT m.push_key FROM integrations_outboxmessage m JOIN integrations_externalsystem s "
            "ON s.id = m.system_id WHERE s.code = %s AND m.status = 'delivered'", [code]).fetchall()
    return sum(1 for (key,) in keys if accepted.get(key, 0) != 1)


def raw_reference(sandbox_url: str, bodies: list[dict]) -> tuple[list[float], int]:
    """One httpx client posting the same payloads straight to the sandbox, in turn."""
    import httpx

    latencies, items = [], 0
    with httpx.Client(base_url=sandbox_url, timeout=30) as client:
        for body in bodies:
            started = time.perf_counter()
            client.post("/raw/availability", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
            latencies.append(time.perf_counter() - started)
            items += len(body["items"])
    return latencies, items


def worker_cpu_seconds(queue: str) -> float:
    marker = queue.encode()
    return h._cpu_seconds_where(lambda pid, command: b"celery" in command and marker in command)


def main() -> None:
    queue = f"bench-outbox-{uuid.uuid4().hex[:8]}"
    sandbox_port = h.free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    extra = {"INTEGRATIONS_QUEUE": queue, "INTEGRATIONS_LEASE_SECONDS": "30", "INTEGRATIONS_QUEUE_REFRESH_SECONDS": "1",
             "INTEGRATIONS_RELAY_INTERVAL_SECONDS": "1"}
    h.note(h.machine())
    with h.app_with_database(DATABASE, extra_env=extra) as app:
        with h.sandbox_and_worker(app, sandbox_port=sandbox_port, queue=queue, concurrency=WORKER_CONCURRENCY):
            fetch(f"{sandbox_url}/_config", {"latency_ms": PARTNER_MS})
            h.note(f"{RATE:.0f} changes/s for {SECONDS:.0f} s over {KEYS} keys by {WRITERS} writer threads; "
                   f"{len(SYSTEMS)} systems answering in {PARTNER_MS:.0f} ms; worker concurrency {WORKER_CONCURRENCY}")
            commits_path = app.var_dir / "commits.json"
            worst_lag: dict[str, float] = {}
            stop = threading.Event()
            sampler = threading.Thread(target=sample_lag, args=(app, stop, worst_lag), daemon=True)
            cpu_before = worker_cpu_seconds(queue)
            sampler.start()
            subprocess.run([h.PYTHON, str(Path(__file__).resolve()), "--writer", str(commits_path), sandbox_url],
                           cwd=h.ROOT, env=app.env, check=True, timeout=SECONDS * 20 + 600)
            load_during = os.getloadavg()[0]
            statuses = {}
            with app.connect() as conn:
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline and conn.execute(
                        "SELECT count(*) FROM integrations_outboxmessage WHERE status = 'pending'").fetchone()[0]:
                    time.sleep(0.2)
                for code, status, count in conn.execute(
                        "SELECT s.code, m.status, count(*) FROM integrations_outboxmessage m JOIN "
                        "integrations_externalsystem s ON s.id = m.system_id GROUP BY s.code, m.status"):
                    statuses.setdefault(code, {})[status] = count
            stop.set()
            sampler.join(timeout=5)
            cpu = worker_cpu_seconds(queue) - cpu_before
            written = json.loads(commits_path.read_text())
            commits = written["commits"]
            h.note(f"writers: {len(commits)} changes in {written['elapsed']:.1f} s "
                   f"({len(commits) / written['elapsed']:.0f} changes/s; {written['late']} more than 50 ms late); "
                   f"load average {load_during:.2f} (1 min) at the end of writing")
            h.say("changes_per_s", f"{len(commits) / written['elapsed']:.0f}")
            worst_p95, delivered_total, bodies = 0.0, 0, []
            first_commit = min(at for *_rest, at in commits)
            for code in SYSTEMS:
                received = fetch(f"{sandbox_url}/_received?partner={code}")["received"]
                bodies = bodies or [record["body"] for record in received]
                latencies, lost, sent_again = freshness(commits, received)
                counts = statuses.get(code, {})
                delivered = counts.get("delivered", 0)
                delivered_total += delivered
                span = max(record["received_at"] for record in received) - first_commit if received else float("nan")
                worst_p95 = max(worst_p95, h.percentile(latencies, 95))
                for point in (50, 95, 99):
                    h.say(f"{code}_commit_to_receipt_p{point}_ms", h.ms(h.percentile(latencies, point)))
                h.say(f"{code}_deliveries_per_s", f"{delivered / span:.0f}")
                h.say(f"{code}_requests", len(received))
                h.say(f"{code}_max_lag_ms", h.ms(worst_lag.get(code, 0.0)))
                h.say(f"{code}_messages_written", sum(counts.values()))
                h.say(f"{code}_messages_delivered", delivered)
                h.say(f"{code}_messages_superseded", counts.get("superseded", 0))
                h.say(f"{code}_messages_pending_or_dead", counts.get("pending", 0) + counts.get("dead", 0))
                h.say(f"{code}_changes_lost", lost)
                h.say(f"{code}_messages_applied_twice_or_never", applied_twice(app, code, received))
                h.say(f"{code}_versions_sent_again", sent_again)
            h.say("sandbox_key_replays", fetch(f"{sandbox_url}/_received")["counts"]["duplicates"])
            h.say("worker_cpu_ms_per_delivered", f"{cpu * 1000 / max(1, delivered_total):.3f}")
            raw, raw_items = raw_reference(sandbox_url, bodies[:RAW_REQUESTS])
            h.say("raw_requests", len(raw))
            for point in (50, 95, 99):
                h.say(f"raw_request_p{point}_ms", h.ms(h.percentile(raw, point)))
            h.say("raw_items_per_s", f"{raw_items / sum(raw):.0f}" if raw else "nan")
            h.note(f"load average {os.getloadavg()[0]:.2f} (1 min) after the run")
            h.say("ratio", f"{worst_p95 / 1.0:.3f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        writer_main(sys.argv[2], sys.argv[3])
    else:
        main()
