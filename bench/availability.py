"""Availability reads: 20-SKU lookups at a steady 200 requests/s for 30 s against the large
demo retailer (300 stores, 2,000 SKUs), next to a bare Django view on the same server.

Each lookup is what a web shop's product list asks: 20 random SKUs, channel `web`, at
the two distribution centres, the dark store and one random store (ship or pick up):
GET /api/v1/availability?sku=…×20&location=…×4&channel=web with a partner token. The
bare view is GET /healthz (plain Django, constant JSON, no database), sent the same way
in the same run on the same server.

The large demo set takes about two minutes to build, so it lives in a database of its
own, retailops_bench_large (BENCH_LARGE_DB), kept between runs: it is seeded only when it
is missing or its seeding never finished (the database comment records a finished seed).
BENCH_RESEED=1 builds it again.

Latency counts from each request's scheduled send time (an open loop), so queueing in
the server is measured, not hidden. The machine's speed drifts over minutes, so the two
take turns: BENCH_AVAILABILITY_ROUNDS rounds, each with a share of both loads, the
lookups first in even rounds and the bare view first in odd ones. Budget: availability p99
≤ 25 ms. ratio = bare p99 ÷ availability p99, for information.
"""

import os
import random
import sys
import time
from urllib.parse import urlencode

import _harness as h

DATABASE = os.environ.get("BENCH_LARGE_DB", "retailops_bench_large")
STORES, SKUS = 300, 2000
SEED_MARK = f"seed_demo --stores {STORES} --skus {SKUS} --no-users: complete"
RATE = float(os.environ.get("BENCH_AVAILABILITY_RATE", "200"))
SECONDS = float(os.environ.get("BENCH_AVAILABILITY_SECONDS", "30"))
ROUNDS = int(os.environ.get("BENCH_AVAILABILITY_ROUNDS", "6"))
WORKERS = int(os.environ.get("BENCH_AVAILABILITY_WORKERS", "4"))
WORKER_CLASS = os.environ.get("BENCH_AVAILABILITY_WORKER_CLASS", "sync")
THREADS = int(os.environ.get("BENCH_AVAILABILITY_THREADS", "1"))
SKUS_PER_LOOKUP = 20
FIXED_LOCATIONS = ["DC-NORTH", "DC-SOUTH", "DARK-01"]
P99_BUDGET_MS = 25.0


def seeded(app: h.App) -> bool:
    with app.connect() as conn:
        comment = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [DATABASE]
        ).fetchone()[0]
    return comment == SEED_MARK


def ensure_large_set(app: h.App) -> str:
    if os.environ.get("BENCH_RESEED") != "1" and seeded(app):
        return "reused (already seeded)"
    started = time.monotonic()
    h.note(f"seeding {DATABASE}: {SEED_MARK.split(':')[0]} (about two minutes)")
    app.manage("seed_demo", "--stores", str(STORES), "--skus", str(SKUS), "--no-users", timeout=1800)
    with app.connect() as conn:
        conn.execute(f"COMMENT ON DATABASE \"{DATABASE}\" IS '{SEED_MARK}'")
        conn.execute("VACUUM ANALYZE")
    return f"seeded now in {time.monotonic() - started:.0f}s"


def lookups(seed: int = 5):
    rng = random.Random(seed)
    skus = [f"SKU-{index:05d}" for index in range(1, SKUS + 1)]
    stores = [f"S{index:03d}" for index in range(1, STORES + 1)]

    def path() -> str:
        query = [("sku", code) for code in rng.sample(skus, SKUS_PER_LOOKUP)]
        query += [("location", code) for code in [*FIXED_LOCATIONS, rng.choice(stores)]]
        query.append(("channel", "web"))
        return "/api/v1/availability?" + urlencode(query)

    return path


def report(prefix: str, result: h.OpenLoopResult) -> None:
    h.say(f"{prefix}_requests", result.sent)
    h.say(f"{prefix}_statuses", ", ".join(f"{status}={count}" for status, count in sorted(result.statuses.items())))
    h.say(f"{prefix}_achieved_rps", f"{result.sent / result.elapsed:.1f}")
    h.say(f"{prefix}_late_sends", result.late)
    h.say(f"{prefix}_loadgen_cpu_percent", f"{100 * result.loadgen_cpu / result.elapsed:.0f}")
    h.latency_lines(prefix, result.latencies)


def main() -> int:
    h.say("machine", h.machine())
    with h.app_with_database(DATABASE, keep=True) as app:
        h.say("database", f"{DATABASE} ({ensure_large_set(app)})")
        with app.connect() as conn:
            levels = conn.execute("SELECT count(*) FROM inventory_stocklevel").fetchone()[0]
        h.say("levels", levels)
        token = app.partner_token("bench-web-shop", kind="web", scopes="availability")
        with h.Server(app, workers=WORKERS, worker_class=WORKER_CLASS, threads=THREADS) as server:
            h.say("server", server.description)
            h.say("query", f"{SKUS_PER_LOOKUP} SKUs x {len(FIXED_LOCATIONS) + 1} locations "
                           f"({', '.join(FIXED_LOCATIONS)} and one store), channel=web")
            h.say("load", f"{RATE:.0f} requests/s for {SECONDS:.0f} s, open loop")
            headers = h.headers(token)
            path = lookups()
            # Warm every worker (imports, connections, caches) before measuring.
            h.open_loop(base_url=server.base_url, headers=headers, paths=path, rate=RATE, seconds=3)
            h.open_loop(base_url=server.base_url, headers=headers, paths=lambda: "/healthz", rate=RATE, seconds=1)
            runs: dict[str, list[h.OpenLoopResult]] = {"lookup": [], "bare": []}
            for number in range(ROUNDS):
                for name in ("lookup", "bare") if number % 2 == 0 else ("bare", "lookup"):
                    runs[name].append(h.open_loop(base_url=server.base_url, headers=headers,
                                                  paths=path if name == "lookup" else lambda: "/healthz",
                                                  rate=RATE, seconds=SECONDS / ROUNDS))
            lookup, bare = h.combined(runs["lookup"]), h.combined(runs["bare"])
            server_errors = h.server_errors_in_log(server)
    report("availability", lookup)
    report("bare", bare)
    failed = sum(count for status, count in lookup.statuses.items() if status != 200)
    failed += sum(count for status, count in bare.statuses.items() if status != 200)
    h.say("server_errors", server_errors)
    p99 = h.percentile(lookup.latencies, 99) * 1000
    ratio = h.percentile(bare.latencies, 99) * 1000 / p99
    h.say("budget", f"availability p99 <= {P99_BUDGET_MS:.0f} ms")
    h.say("within_budget", "yes" if p99 <= P99_BUDGET_MS and not failed else "no")
    h.say("ratio", f"{ratio:.3f}")
    return 0 if not failed and server_errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
