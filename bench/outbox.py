"""The transactional outbox end to end: changes → outbox → Celery relay → sandbox partner.

10,000 availability changes (single-movement postings, each its own transaction) spread
over 500 (SKU, location) keys are written by a few writer threads while a Celery worker
on Redis relays them to the sandbox partner (one marketplace system). Availability for
one key coalesces to the latest, so far fewer messages are delivered than written.

Prints: messages written, messages delivered (after coalescing), deliveries/s (delivered
÷ the time from the first commit to the last receipt), and end-to-end latency p50/p95
from the commit of the change a delivered message carries to its receipt at the sandbox.

ratio = messages delivered ÷ messages written (what coalescing saves; lower is better).
"""

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import _harness as h

CHANGES = int(os.environ.get("BENCH_OUTBOX_CHANGES", "10000"))
KEYS = 500
LOCATIONS = 5
WRITERS = int(os.environ.get("BENCH_OUTBOX_WRITERS", "4"))
WORKER_CONCURRENCY = int(os.environ.get("BENCH_OUTBOX_WORKERS", "4"))


def writer_main(out_path: str, sandbox_url: str) -> None:
    """Runs in its own process with Django set up: master data, the system, the changes."""
    import random
    import threading

    import django

    sys.path.insert(0, str(h.ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "retailops.settings")
    django.setup()
    from django.db import connection, transaction

    from integrations.models import ExternalSystem
    from inventory.ledger import Movement, post_movements
    from inventory.models import Bucket, Channel, Location, Sku, StockLevel

    channel, _ = Channel.objects.get_or_create(code="marketplace", defaults={"name": "Marketplace",
                                                                             "kind": "marketplace"})
    locations = [Location.objects.get_or_create(code=f"DC{i}", defaults={"name": f"DC {i}", "kind": "dc",
                                                                          "ship_from_store": True})[0]
                 for i in range(LOCATIONS)]
    skus = [Sku.objects.get_or_create(code=f"B{i:04d}", defaults={"name": f"Bench {i}", "unit_cost": 1,
                                                                   "price": 2})[0]
            for i in range(KEYS // LOCATIONS)]
    keys = [(sku.pk, location.pk) for sku in skus for location in locations]
    ExternalSystem.objects.create(code="bench-market", name="Bench marketplace", kind="marketplace",
                                  adapter="json_http", base_url=f"{sandbox_url}/market", channel=channel,
                                  timeout_seconds=5)
    rng = random.Random(5)
    plan = [rng.choice(keys) for _ in range(CHANGES)]
    commits: list[tuple[int, int, int, float]] = []
    lock = threading.Lock()

    def write(share: list[tuple[int, int]]) -> None:
        mine = []
        for sku_id, location_id in share:
            with transaction.atomic():
                post_movements([Movement(sku_id, location_id, Bucket.ON_HAND, 1, reason="receipt")])
                version = StockLevel.objects.values_list("version", flat=True).get(sku_id=sku_id,
                                                                                    location_id=location_id)
            mine.append((sku_id, location_id, version, time.time()))
        with lock:
            commits.extend(mine)
        connection.close()

    threads = [threading.Thread(target=write, args=(plan[index::WRITERS],)) for index in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = {sku.pk: sku.code for sku in skus}
    location_codes = {location.pk: location.code for location in locations}
    with open(out_path, "w") as out:
        json.dump([[codes[s], location_codes[loc], version, at] for s, loc, version, at in commits], out)


def fetch(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def main() -> None:
    queue = f"bench-outbox-{uuid.uuid4().hex[:8]}"
    sandbox_port = h.free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    extra = {"INTEGRATIONS_QUEUE": queue, "INTEGRATIONS_RELAY_BATCH": "100", "INTEGRATIONS_LEASE_SECONDS": "30",
             "INTEGRATIONS_RELAY_INTERVAL_SECONDS": "1"}
    with h.app_with_database("bench_outbox", extra_env=extra) as app:
        with h.sandbox_and_worker(app, sandbox_port=sandbox_port, queue=queue, concurrency=WORKER_CONCURRENCY):
            h.note(f"{CHANGES} changes over {KEYS} keys by {WRITERS} writer threads; worker concurrency "
                   f"{WORKER_CONCURRENCY}; {os.cpu_count()} CPUs")
            commits_path = app.var_dir / "commits.json"
            started = time.monotonic()
            subprocess.run([h.PYTHON, str(Path(__file__).resolve()), "--writer", str(commits_path), sandbox_url],
                           cwd=h.ROOT, env=app.env, check=True, timeout=900)
            written_in = time.monotonic() - started
            statuses = h.outbox_statuses(app)
            commits = {(sku, location, version): at
                       for sku, location, version, at in json.loads(commits_path.read_text())}
            received = fetch(f"{sandbox_url}/_received")
            latencies, receipts = [], []
            for record in received["received"]:
                item = record["body"]["items"][0]
                committed = commits.get((item["sku"], item["location"], item["version"]))
                if committed is not None:
                    latencies.append(record["received_at"] - committed)
                receipts.append(record["received_at"])
            written = sum(statuses.values())
            delivered = statuses.get("delivered", 0)
            span = max(receipts) - min(commits.values()) if receipts else float("nan")
            h.note(f"writers took {written_in:.1f}s ({CHANGES / written_in:.0f} changes/s incl. process start)")
            h.say("messages_written", written)
            h.say("messages_delivered", delivered)
            h.say("messages_superseded", statuses.get("superseded", 0))
            h.say("messages_pending_or_dead", statuses.get("pending", 0) + statuses.get("dead", 0))
            h.say("sandbox_accepted", received["counts"]["accepted"])
            h.say("sandbox_duplicates", received["counts"]["duplicates"])
            h.say("deliveries_per_s", f"{delivered / span:.0f}")
            h.say("latency_p50_ms", h.ms(h.percentile(latencies, 50)))
            h.say("latency_p95_ms", h.ms(h.percentile(latencies, 95)))
            h.say("ratio", f"{delivered / written:.3f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        writer_main(sys.argv[2], sys.argv[3])
    else:
        main()
