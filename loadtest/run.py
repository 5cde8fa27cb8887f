"""`make loadtest`: the mixed workload of loadtest/locustfile.py against the app as production
runs it, on this machine, then the figures per request kind and a check of the ledger.

Steps: PostgreSQL and Redis (started if they are not running, as .ci/run does); a fresh
database of its own, migrated, static files collected; the demo estate (`seed_demo`, at
LOADTEST_STORES × LOADTEST_SKUS); partner tokens (`create_api_client`) and staff accounts
(`create_staff_user`); gunicorn (gunicorn.conf.py, WEB_CONCURRENCY workers), a Celery worker
with beat (holds expire through beat) and the sandbox partner (the outbox delivers to it);
locust headless for LOADTEST_DURATION seconds; everything stopped; `verify_ledger`; the table.
Exits 1 on any error, any server traceback, or a ledger that drifted.

Environment (all optional): LOADTEST_DURATION (600 s), LOADTEST_USERS (20),
LOADTEST_SPAWN_RATE (2 a second), LOADTEST_STORES (30), LOADTEST_SKUS (1000),
LOADTEST_DB (retailops_loadtest; dropped at the end unless LOADTEST_KEEP_DB=1),
LOADTEST_REDIS_URL (redis://127.0.0.1:6379/10), WEB_CONCURRENCY (4), LOADTEST_WORKER_CONCURRENCY (2),
BENCH_PG_URL (the PostgreSQL server, as for the benchmarks). Locust's log and summary and
the run's results (results.json) stay in var/loadtest/.
"""

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import _harness as h  # noqa: E402 (the benchmarks' harness: database, app, gunicorn, worker)

from loadtest import report  # noqa: E402

DURATION = int(os.environ.get("LOADTEST_DURATION", "600"))
USERS = int(os.environ.get("LOADTEST_USERS", "20"))
SPAWN_RATE = float(os.environ.get("LOADTEST_SPAWN_RATE", "2"))
STORES = int(os.environ.get("LOADTEST_STORES", "30"))
SKUS = int(os.environ.get("LOADTEST_SKUS", "1000"))
DATABASE = os.environ.get("LOADTEST_DB", "retailops_loadtest")
KEEP_DB = os.environ.get("LOADTEST_KEEP_DB") == "1"
REDIS_URL = os.environ.get("LOADTEST_REDIS_URL", "redis://127.0.0.1:6379/10")
WEB_WORKERS = int(os.environ.get("WEB_CONCURRENCY", "4"))
WORKER_CONCURRENCY = int(os.environ.get("LOADTEST_WORKER_CONCURRENCY", "2"))
OUT_DIR = ROOT / "var" / "loadtest"
LOCUST = str(Path(h.PYTHON).with_name("locust"))
STORE_LOCATIONS = "S001,S002"  # the store manager's stores (seed_demo's first two)


def services_up() -> None:
    """PostgreSQL and Redis answering, started as .ci/run starts them when they are not."""
    pg = urlsplit(h.PG_URL)
    pg_host, pg_port = pg.hostname or "127.0.0.1", str(pg.port or 5432)
    if subprocess.run(["pg_isready", "-h", pg_host, "-p", pg_port, "-q"], check=False).returncode != 0:
        print("Starting PostgreSQL", flush=True)
        version = sorted(os.listdir("/etc/postgresql"))[0]
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=True)
    redis = urlsplit(REDIS_URL)
    redis_host, redis_port = redis.hostname or "127.0.0.1", str(redis.port or 6379)
    if subprocess.run(["redis-cli", "-h", redis_host, "-p", redis_port, "ping"], capture_output=True,
                      check=False).returncode != 0:
        print("Starting Redis", flush=True)
        subprocess.run(["redis-server", "--daemonize", "yes", "--bind", redis_host, "--port", redis_port,
                        "--save", "", "--appendonly", "no"], check=True)
    for _ in range(30):
        pg_ok = subprocess.run(["pg_isready", "-h", pg_host, "-p", pg_port, "-q"], check=False).returncode == 0
        redis_ok = subprocess.run(["redis-cli", "-h", redis_host, "-p", redis_port, "ping"], capture_output=True,
                                  check=False).returncode == 0
        if pg_ok and redis_ok:
            return
        time.sleep(1)
    raise SystemExit("PostgreSQL or Redis did not come up")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"


def set_up(app: h.App) -> dict[str, str]:
    """The estate, partner tokens and staff accounts, through the operator commands; returns
    the environment the workload reads them from."""
    started = time.monotonic()
    app.manage("seed_demo", "--stores", str(STORES), "--skus", str(SKUS), "--no-users")
    password = {account: secrets.token_urlsafe(18) for account in ("control", "store")}
    app.manage("create_staff_user", "loadtest-control", "--role", "inventory_control",
               "--password", password["control"])
    app.manage("create_staff_user", "loadtest-store", "--role", "store_ops", "--password", password["store"],
               "--locations", STORE_LOCATIONS)
    workload_env = {
        "LOADTEST_POS_TOKEN": app.partner_token("loadtest-pos", kind="pos", scopes="events"),
        "LOADTEST_WMS_TOKEN": app.partner_token("loadtest-wms", kind="wms", scopes="events"),
        "LOADTEST_WEB_TOKEN": app.partner_token("loadtest-web", kind="web", scopes="orders,availability"),
        "LOADTEST_MASTER_DATA_TOKEN": app.partner_token("loadtest-erp", kind="erp", scopes="master_data"),
        "LOADTEST_CONTROL_USER": "loadtest-control", "LOADTEST_CONTROL_PASSWORD": password["control"],
        "LOADTEST_STORE_USER": "loadtest-store", "LOADTEST_STORE_PASSWORD": password["store"],
        "LOADTEST_STORE_LOCATION": STORE_LOCATIONS.split(",")[0],
    }
    print(f"# estate: seed_demo --stores {STORES} --skus {SKUS}, 4 partner tokens, 2 staff accounts "
          f"({time.monotonic() - started:.0f} s)", flush=True)
    return workload_env


def locust(base_url: str, workload_env: dict[str, str]) -> int:
    """Locust headless for DURATION seconds; its results land in OUT_DIR. Returns its exit code."""
    for stale in ("results.json", "locust.log", "locust-summary.txt"):
        (OUT_DIR / stale).unlink(missing_ok=True)
    env = {**os.environ, **workload_env, "PYTHONPATH": str(ROOT), "LOADTEST_RESULTS": str(OUT_DIR / "results.json")}
    command = [LOCUST, "-f", str(ROOT / "loadtest" / "locustfile.py"), "--headless", "--host", base_url,
               "--users", str(USERS), "--spawn-rate", str(SPAWN_RATE), "--run-time", f"{DURATION}s",
               "--stop-timeout", "30", "--only-summary", "--logfile", str(OUT_DIR / "locust.log"),
               "--loglevel", "WARNING"]
    with open(OUT_DIR / "locust-summary.txt", "wb") as summary:
        return subprocess.run(command, cwd=ROOT, env=env, stdout=summary, stderr=subprocess.STDOUT,
                              check=False).returncode


def main() -> int:
    services_up()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    h.database_drop(DATABASE)  # always a fresh estate
    sandbox_port = h.free_port()
    app_env = {
        "CELERY_BROKER_URL": REDIS_URL,
        "INTEGRATIONS_SANDBOX_PORT": str(sandbox_port),  # the demo's partner systems point at this sandbox
        "SECURE_COOKIES": "0",  # plain HTTP on loopback: the session and CSRF cookies must travel over it
        "WEB_CONCURRENCY": str(WEB_WORKERS),
    }
    started_at = datetime.now(UTC)
    print(f"# make loadtest: {DURATION} s, {USERS} users, database {DATABASE} "
          f"({'kept' if KEEP_DB else 'dropped'} afterwards), broker {REDIS_URL}", flush=True)
    with h.app_with_database(DATABASE, keep=KEEP_DB, extra_env=app_env) as app:
        workload_env = set_up(app)
        with contextlib.ExitStack() as stack:
            stack.enter_context(h.sandbox_and_worker(app, sandbox_port=sandbox_port, queue="celery",
                                                     concurrency=WORKER_CONCURRENCY))
            server = stack.enter_context(h.Server(app, workers=WEB_WORKERS))
            load_before = load_average()
            print(f"# {server.description}; Celery worker (concurrency {WORKER_CONCURRENCY}) with beat; "
                  f"sandbox partner; load average before: {load_before}", flush=True)
            exit_code = locust(server.base_url, workload_env)
            load_after = load_average()
            tracebacks = h.server_errors_in_log(server)
            worker_log = app.var_dir / "worker.log"
            worker_tracebacks = (worker_log.read_text(errors="replace").count("Traceback (most recent call last)")
                                 if worker_log.exists() else 0)
        ledger = app.verify_ledger()  # with the web server and the worker stopped

    results_path = OUT_DIR / "results.json"
    if not results_path.exists():
        print(f"locust wrote no results (exit {exit_code}); see {OUT_DIR / 'locust-summary.txt'}")
        return 1
    results = json.loads(results_path.read_text())
    rows = report.rows_from(results)
    failures = report.failures_from(results)
    exceptions = report.exceptions_from(results)
    errors = rows[-1].errors

    print()
    print(f"Load test {started_at:%Y-%m-%d %H:%M} UTC: {DURATION} s, {USERS} users, "
          f"{STORES} stores × {SKUS} SKUs, {server.description}")
    print(report.table(rows))
    print()
    print("refused = expected business refusals (409 insufficient_stock), not errors; "
          "percentiles are locust's (rounded to 2 significant digits above 100 ms)")
    print(f"load average: before {load_before}; after {load_after}")
    print(f"server tracebacks: {tracebacks}; worker tracebacks: {worker_tracebacks}")
    print(f"verify_ledger: {ledger}")
    for line in failures:
        print(f"failure: {line}")
    for line in exceptions:
        print(f"workload exception: {line}")
    ok = errors == 0 and not exceptions and tracebacks == 0 and ledger == "clean" and exit_code in {0, 1}
    print(f"result: {'PASS' if ok else 'FAIL'} ({errors} errors)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
