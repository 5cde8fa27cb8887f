"""What every benchmark shares: a PostgreSQL database of its own, the app under gunicorn,
partner tokens, an HTTP load generator and percentiles.

A benchmark script runs from the repository root or anywhere else (`make bench` runs
every `bench/*.py` whose name does not start with `_`). It prints `key: value` lines;
the last one is `ratio: R`.

Environment knobs (all optional):
- BENCH_PG_URL: the PostgreSQL server (default postgres://postgres@127.0.0.1:5432);
- BENCH_REDIS_URL: the Celery broker of the app under bench (default redis://127.0.0.1:6379/9);
- BENCH_KEEP_DB=1: keep the per-run database for inspection.
"""

import contextlib
import http.client
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432").rstrip("/")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")


def say(key: str, value) -> None:
    """One `key: value` line of a benchmark's output."""
    print(f"{key}: {value}", flush=True)


def machine() -> str:
    """CPUs and load: other work on the machine skews every figure, so it is printed."""
    one, five, _fifteen = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {one:.2f} (1 min), {five:.2f} (5 min) before the run"


def note(text: str) -> None:
    """Progress and context, as a comment line that parsers of `key: value` skip."""
    print(f"# {text}", flush=True)


# --- Signals: a Ctrl-C or a SIGTERM still runs every cleanup ------------------------------


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


signal.signal(signal.SIGTERM, _exit_on_sigterm)


# --- PostgreSQL ------------------------------------------------------------------------


def database_url(name: str) -> str:
    return f"{PG_URL}/{name}"


def _admin() -> psycopg.Connection:
    return psycopg.connect(database_url("postgres"), autocommit=True)


def database_exists(name: str) -> bool:
    with _admin() as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def database_create(name: str) -> None:
    database_drop(name)
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def database_drop(name: str) -> None:
    with _admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- The app ----------------------------------------------------------------------------


@dataclass
class App:
    """The environment the app runs with: its database, a private var dir, production-like
    settings (DEBUG off, but plain HTTP), Redis as the broker, and throttling lifted (one
    bench client sends far more than a partner's default rate)."""

    database: str
    var_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def db_url(self) -> str:
        return database_url(self.database)

    @property
    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items()
               if key not in {"RETAILOPS_TESTING", "DEBUG", "DATABASE_REPLICA_URL"}}
        env.update({
            "DATABASE_URL": self.db_url,
            "SECRET_KEY": "bench-secret-key-not-for-production-0123456789abcdef",
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "RETAILOPS_VAR_DIR": str(self.var_dir),
            "CELERY_BROKER_URL": REDIS_URL,
            "API_THROTTLE_RATE": "100000000/min",
            # Plain HTTP on loopback: nothing terminates TLS, so no redirect to HTTPS.
            "SECURE_SSL_REDIRECT": "0",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def manage(self, *args: str, timeout: float = 900) -> str:
        """Run a management command; its stdout, or the command's output on failure."""
        done = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def shell(self, code: str, timeout: float = 900) -> str:
        """Run Python with Django set up (for setting up data through the services)."""
        return self.manage("shell", "--no-imports", "-c", code, timeout=timeout)

    def migrate(self) -> None:
        """The release steps production runs before serving (README "Production")."""
        self.manage("migrate", "--noinput", timeout=600)
        self.manage("collectstatic", "--noinput", timeout=600)

    def verify_ledger(self) -> str:
        """"clean", or how many levels drifted from their movements."""
        done = subprocess.run([PYTHON, "manage.py", "verify_ledger", "--no-cases"], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=600, check=False)
        if done.returncode == 0:
            return "clean"
        return (done.stderr.strip().splitlines() or [f"failed ({done.returncode})"])[-1]

    def partner_token(self, system_code: str, *, kind: str = "web", scopes: str = "") -> str:
        args = ["create_api_client", system_code, "--kind", kind]
        if scopes:
            args += ["--scopes", scopes]
        return self.manage(*args).strip().splitlines()[-1]

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.db_url, autocommit=True)


@contextlib.contextmanager
def app_with_database(name: str, *, keep: bool = False, extra_env: dict[str, str] | None = None) -> Iterator[App]:
    """A fresh database `name` (dropped afterwards unless kept), migrated, with a temp var dir
    holding its collected static files."""
    keep = keep or os.environ.get("BENCH_KEEP_DB") == "1"
    var_dir = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    app = App(database=name, var_dir=var_dir, extra_env=extra_env or {})
    try:
        if not (keep and database_exists(name)):
            database_create(name)
        app.migrate()
        yield app
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
        if not keep:
            with contextlib.suppress(Exception):
                database_drop(name)


@contextlib.contextmanager
def sandbox_and_worker(app: App, *, sandbox_port: int, queue: str, concurrency: int) -> Iterator[None]:
    """The sandbox partner on `sandbox_port` and a Celery worker (with beat) on `queue`,
    both with the app's environment, stopped (their process groups) on the way out."""
    processes = []
    try:
        processes.append(subprocess.Popen([PYTHON, "-m", "connectors.sandbox", "--port", str(sandbox_port)],
                                          cwd=ROOT, env=app.env, stdout=subprocess.DEVNULL, start_new_session=True))
        with open(app.var_dir / "worker.log", "wb") as worker_log:
            processes.append(subprocess.Popen(
                [PYTHON, "-m", "celery", "-A", "retailops", "worker", "--beat", "--schedule",
                 str(app.var_dir / "beat"), "--queues", queue, f"--concurrency={concurrency}",
                 "--without-gossip", "--without-mingle", "--loglevel=WARNING"],
                cwd=ROOT, env=app.env, stdout=worker_log, stderr=subprocess.STDOUT, start_new_session=True))
        time.sleep(3)  # the worker connects
        yield
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=15)
            except Exception:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)


def outbox_statuses(app: App, *, drain_seconds: float = 300) -> dict[str, int]:
    """The outbox's messages by status, once none is pending (or `drain_seconds` passed)."""
    with app.connect() as conn:
        deadline = time.monotonic() + drain_seconds
        while time.monotonic() < deadline:
            pending = conn.execute(
                "SELECT count(*) FROM integrations_outboxmessage WHERE status = 'pending'").fetchone()[0]
            if not pending:
                break
            time.sleep(0.2)
        return dict(conn.execute("SELECT status, count(*) FROM integrations_outboxmessage GROUP BY status").fetchall())


def run_clients(work, *, clients: int) -> tuple[float, list]:
    """`clients` threads run `work(index)` at once; returns the wall time and their results."""
    results: list = [None] * clients
    errors: list[BaseException] = []
    barrier = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed, results


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    """The app under gunicorn on a free loopback port."""

    app: App
    workers: int = 4
    worker_class: str = "sync"
    threads: int = 1
    env: dict[str, str] = field(default_factory=dict)  # over the app's environment
    port: int = 0
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def description(self) -> str:
        threads = f", {self.threads} threads each" if self.worker_class == "gthread" else ""
        return f"gunicorn {self.workers} {self.worker_class} workers{threads}, {os.cpu_count()} CPUs"

    def start(self) -> "Server":
        self.port = self.port or free_port()
        self.log_path = self.app.var_dir / f"gunicorn-{self.port}.log"
        command = [
            GUNICORN, "retailops.wsgi:application", "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(self.workers), "--worker-class", self.worker_class, "--threads", str(self.threads),
            "--backlog", "2048", "--timeout", "120", "--graceful-timeout", "5", "--keep-alive", "30",
            "--log-level", "warning", "--error-logfile", "-",
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env={**self.app.env, **self.env}, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return
            except Exception as exc:  # not listening yet, or not ready
                last = str(exc)
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn not ready after {timeout}s ({last}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def __enter__(self) -> "Server":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc_info) -> None:
        self.stop()


# --- Measuring ---------------------------------------------------------------------------


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds_where(keep) -> float:
    """User + system CPU seconds used so far by the live processes for which
    `keep(pid, command line)` is true (Linux /proc)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as file:
                command = file.read()
            if not keep(int(entry), command):
                continue
            with open(f"/proc/{entry}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
    return total / _TICKS


def database_cpu_seconds(app: App) -> float:
    """CPU used so far by the PostgreSQL backends connected to the app's database."""
    database = f" {app.database} ".encode()
    return _cpu_seconds_where(lambda pid, command: command.startswith(b"postgres: ") and database in command)


def server_cpu_seconds(server: "Server") -> float:
    """CPU the app used so far: its gunicorn processes and the PostgreSQL backends serving
    its database. Benchmarks print the CPU a request costs beside throughput: it tells a
    floor that waits on locks and commits (little CPU, low throughput) from one that is
    busy computing, which throughput alone does not."""
    group = server.process.pid  # gunicorn leads its own session (start_new_session)

    def in_group(pid: int) -> bool:
        try:
            return os.getpgid(pid) == group
        except OSError:
            return False

    return database_cpu_seconds(server.app) + _cpu_seconds_where(lambda pid, command: in_group(pid))


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (0..100), nearest-rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def server_errors_in_log(server: Server) -> int:
    """Tracebacks the server logged (a 500 or a dead worker leaves one)."""
    if server.log_path is None or not server.log_path.exists():
        return 0
    return server.log_path.read_text(errors="replace").count("Traceback (most recent call last)")


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def dumps(data) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


# --- HTTP load ---------------------------------------------------------------------------
#
# The load generator shares the two CPUs with the server and PostgreSQL, so it is kept
# light: the standard library's http.client, one persistent connection per client thread
# (sync gunicorn workers close it after each response; it is reopened transparently), and
# its own CPU use is reported so a reader can tell when it, not the server, is the limit.


class HttpClient:
    """One client's connection to the server."""

    def __init__(self, base_url: str, default_headers: dict[str, str] | None = None, timeout: float = 60):
        self.host, _sep, port = base_url.removeprefix("http://").partition(":")
        self.port = int(port)
        self.timeout = timeout
        self.default_headers = default_headers or {}
        self.connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.connection.request(method, path, body=body, headers=self.default_headers)
                response = self.connection.getresponse()
                data = response.read()
                if response.will_close:
                    self.close()
                return response.status, data
            except (ConnectionError, http.client.RemoteDisconnected, http.client.CannotSendRequest):
                # The server closed a kept-alive connection between two requests: reconnect once.
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


@dataclass
class OpenLoopResult:
    latencies: list[float]  # seconds, from the scheduled send time to the whole response
    statuses: dict[int, int]
    sent: int
    late: int  # requests that left more than 5 ms after their scheduled time
    elapsed: float
    loadgen_cpu: float  # CPU seconds the load generator used (this process)


def combined(results: list[OpenLoopResult]) -> OpenLoopResult:
    """Several open-loop runs of one load as one."""
    statuses: dict[int, int] = {}
    for result in results:
        for status, count in result.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    return OpenLoopResult(
        latencies=[latency for result in results for latency in result.latencies], statuses=statuses,
        sent=sum(result.sent for result in results), late=sum(result.late for result in results),
        elapsed=sum(result.elapsed for result in results),
        loadgen_cpu=sum(result.loadgen_cpu for result in results),
    )


def open_loop(*, base_url: str, headers: dict[str, str], paths, rate: float, seconds: float,
              threads: int = 32) -> OpenLoopResult:
    """Send GET `paths()` at a steady `rate` per second for `seconds`, whatever the
    latencies (an open loop: a slow answer does not delay the next request).

    Latency counts from the scheduled send time, so a backlog in the generator or the
    server is measured rather than hidden."""
    import queue

    total = int(rate * seconds)
    work: queue.Queue = queue.Queue()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    late = 0

    def worker() -> None:
        client = HttpClient(base_url, headers)
        try:
            while True:
                item = work.get()
                if item is None:
                    return
                scheduled, path = item
                status, _body = client.request("GET", path)
                took = time.perf_counter() - scheduled
                with lock:
                    latencies.append(took)
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            client.close()

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    prepared = [paths() for _ in range(total)]
    cpu_before = time.process_time()
    started = time.perf_counter() + 0.05
    for index, path in enumerate(prepared):
        scheduled = started + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        elif delay < -0.005:
            late += 1
        work.put((scheduled, path))
    for _ in pool:
        work.put(None)
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    return OpenLoopResult(latencies, statuses, total, late, elapsed, time.process_time() - cpu_before)


def latency_lines(prefix: str, latencies: list[float], points=(50, 95, 99)) -> None:
    for point in points:
        say(f"{prefix}_p{point}_ms", ms(percentile(latencies, point)))
