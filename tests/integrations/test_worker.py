"""End to end with a real Celery worker on Redis, PostgreSQL and the sandbox partner.

The worker is a subprocess against the test database; its relay settings are shortened
(lease, backoff) so that faults heal in seconds. Faults: partner 500s and 429s, a worker
killed with SIGKILL mid-batch, a Redis restarted mid-run. The outbox in PostgreSQL is the
source of truth, so in every case each message reaches the partner and is applied once.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from connectors.tasks import outbox_relay
from exceptions.models import Case
from exceptions.states import CaseKind
from integrations.models import OutboxMessage
from integrations.services import outbox_replay
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket
from retailops.celery import app
from tests.conftest import missing_service
from tests.inventory.factories import LocationFactory, SkuFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
WORKER_ENV = {
    "INTEGRATIONS_LEASE_SECONDS": "3",
    "INTEGRATIONS_BACKOFF_BASE_SECONDS": "0.2",
    "INTEGRATIONS_BACKOFF_MAX_SECONDS": "1",
    "INTEGRATIONS_RELAY_TIME_BUDGET_SECONDS": "3",
    "INTEGRATIONS_RELAY_BATCH": "20",
    "INTEGRATIONS_CIRCUIT_THRESHOLD": "50",
    "INTEGRATIONS_MAX_ATTEMPTS": "20",
    "INTEGRATIONS_RELAY_ON_COMMIT": "0",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker_database_url() -> str:
    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{host}:{port}/{db['NAME']}"


class Worker:
    """A worker with INTEGRATIONS_QUEUE `queue`, consuming `consumes` (that queue, so the
    systems' relay queues too, unless told otherwise)."""

    def __init__(self, *, broker: str, queue: str, log: Path, env: dict, consumes: str | None = None):
        self.broker, self.queue, self.log, self.env = broker, queue, log, env
        self.consumes = consumes or queue
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        # The worker uses the test database; an outer replica URL names another one.
        outer = {key: value for key, value in os.environ.items() if key != "DATABASE_REPLICA_URL"}
        env = outer | WORKER_ENV | self.env | {
            "DATABASE_URL": worker_database_url(), "CELERY_BROKER_URL": self.broker, "INTEGRATIONS_QUEUE": self.queue,
            "RETAILOPS_VAR_DIR": str(self.log.parent / "var"),
        }
        command = [sys.executable, "-m", "celery", "-A", "retailops", "worker", "--concurrency=2", "--queues",
                   self.consumes, "--without-gossip", "--without-mingle", "--loglevel=INFO"]
        with self.log.open("a") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes: no warm shutdown, no acks."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def restart_if_exited(self) -> None:
        """What the process supervisor does in production (README: each worker runs under
        one): a worker that exited is started again. On a broker restart with deliveries
        unacknowledged, kombu 5.7's Redis transport can end the worker with an
        "Unrecoverable error" while closing its channel; the outbox, not the broker, holds
        the work, so a restarted worker picks it up."""
        if self.process is not None and self.process.poll() is not None:
            self.start()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:  # a warm shutdown waits for the running relay; the outbox makes a cold one safe too
            self.process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.kill()


@pytest.fixture
def queue(settings):
    name = f"integrations-test-{uuid.uuid4().hex[:8]}"
    settings.INTEGRATIONS_QUEUE = name
    settings.INTEGRATIONS_RELAY_ON_COMMIT = True
    yield name
    import redis

    broker = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    broker.delete(name, *broker.keys(f"{name}.*"))  # kicks and wake-ups nobody consumed


@pytest.fixture
def start_worker(transactional_db, queue, tmp_path):
    workers: list[Worker] = []

    def start(*, broker: str | None = None, queues: str | None = None, **env) -> Worker:
        worker = Worker(broker=broker or os.environ["CELERY_BROKER_URL"], queue=queue, consumes=queues,
                        log=tmp_path / "worker.log", env={name: str(value) for name, value in env.items()})
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def kick(queue: str, broker: str | None = None) -> None:
    """What beat does every few seconds: ask for a relay run."""
    try:
        if broker is None:
            outbox_relay.apply_async(queue=queue, retry=False)
        else:
            with app.connection_for_write(broker) as conn:
                outbox_relay.apply_async(queue=queue, connection=conn, retry=False)
    except Exception:  # the broker is down: beat would just try again
        pass


def wait_until(condition, *, timeout: float, queue: str | None = None, broker: str | None = None, what: str = ""):
    deadline, next_kick = time.monotonic() + timeout, 0.0
    while time.monotonic() < deadline:
        if condition():
            return
        if queue and time.monotonic() >= next_kick:
            kick(queue, broker)
            next_kick = time.monotonic() + 0.5
        time.sleep(0.05)
    raise AssertionError(f"Timed out after {timeout}s waiting for {what or condition}")


def change_many(count: int, *, prefix: str = "K") -> None:
    """`count` distinct levels change, each in a posting of its own: one message each,
    nothing to coalesce."""
    location = LocationFactory(code="DC1", dc=True)
    for index in range(count):
        sku = SkuFactory(code=f"{prefix}{index:03d}")
        post_movements([Movement(sku.pk, location.pk, Bucket.ON_HAND, 5, reason="receipt")])


def delivered() -> int:
    return OutboxMessage.objects.filter(status=OutboxMessage.Status.DELIVERED).count()


def assert_each_message_applied_once(sandbox) -> None:
    """Every message was delivered, in exactly one request the partner applied: each
    applied request's key is an availability push's or a document's own, and no message's
    levels arrived under two keys."""
    received = sandbox.received()
    keys = [request["idempotency_key"] for request in received]
    assert len(keys) == len(set(keys)), "a request was applied twice"
    sent = {push_key or own_key
            for push_key, own_key in OutboxMessage.objects.values_list("push_key", "idempotency_key")}
    assert set(keys) == sent, "a push never arrived, or a request carried no push"
    assert not OutboxMessage.objects.exclude(status=OutboxMessage.Status.DELIVERED).exists()
    levels = [(request["partner"], item["sku"], item["location"])
              for request in received for item in request["body"].get("items", [])]
    assert len(levels) == len(set(levels)), "a level (each changed once here) reached a partner twice"


def test_an_inbound_event_reaches_the_partner_exactly_once(start_worker, queue, channel_system, sandbox,
                                                           partner_api):
    channel_system("market")
    SkuFactory(code="A")
    LocationFactory(code="DC1", dc=True)
    start_worker()
    client = partner_api("pos-1", kind="pos")
    event = {"event_id": "e-1", "type": "receipt", "sku": "A", "location": "DC1", "quantity": 4,
             "occurred_at": timezone.now().isoformat()}
    response = client.post("/api/v1/inventory/events", {"events": [event]}, format="json")
    assert response.json()["summary"]["applied"] == 1
    client.post("/api/v1/inventory/events", {"events": [event]}, format="json")  # a partner resend: no effect

    # Only the wake-up sent on commit: no kicks.
    wait_until(lambda: len(sandbox.received()) == 1, timeout=20, what="the delivery")
    kick(queue)
    time.sleep(0.5)
    [received] = sandbox.received()
    assert received["body"]["items"][0]["on_hand"] == 4
    assert_each_message_applied_once(sandbox)


def test_partner_errors_are_retried_and_the_message_delivered_once(start_worker, queue, channel_system, sandbox):
    channel_system("market")
    sandbox.configure(fail_next=3)
    start_worker()
    change_many(1)
    wait_until(lambda: delivered() == 1, timeout=20, queue=queue, what="the delivery")
    message = OutboxMessage.objects.get()
    assert message.attempts == 4 and sandbox.counts()["injected_errors"] == 3
    assert_each_message_applied_once(sandbox)


def test_a_429_retry_after_is_honoured(start_worker, queue, channel_system, sandbox):
    channel_system("market")
    sandbox.configure(throttle_next=1, retry_after=2)
    start_worker()
    committed = time.time()
    change_many(1)
    wait_until(lambda: delivered() == 1, timeout=20, queue=queue, what="the delivery")
    [received] = sandbox.received()
    assert received["received_at"] - committed >= 2.0
    assert OutboxMessage.objects.get().attempts == 1  # the 429 did not use an attempt
    assert_each_message_applied_once(sandbox)


def change_over_time(count: int, *, prefix: str, pause: float, meanwhile=None) -> None:
    """Like change_many, a posting every `pause` seconds, so that the relay sends them as
    they come, in many small pushes; `meanwhile()` runs after each."""
    location = LocationFactory(code="DC1", dc=True)
    for index in range(count):
        sku = SkuFactory(code=f"{prefix}{index:03d}")
        post_movements([Movement(sku.pk, location.pk, Bucket.ON_HAND, 5, reason="receipt")])
        time.sleep(pause)
        if meanwhile is not None:
            meanwhile()


def warm_up(queue: str, broker: str | None = None) -> None:
    """One change delivered: the worker is up and relaying."""
    change_many(1, prefix="W")
    wait_until(lambda: delivered() == 1, timeout=30, queue=queue, broker=broker, what="the worker to start")


def test_a_worker_killed_mid_batch_loses_nothing_and_duplicates_nothing(start_worker, queue, channel_system,
                                                                        sandbox):
    channel_system("market")
    sandbox.configure(latency_ms=150)  # a push is in flight most of the time
    worker = start_worker()
    warm_up(queue)

    def kill_after_some_pushes():
        if worker.process.poll() is None and len(sandbox.received()) >= 4:
            worker.kill()

    change_over_time(40, prefix="K", pause=0.05, meanwhile=kill_after_some_pushes)
    assert worker.process.poll() is not None, "the worker was never killed: nothing was tested"
    assert delivered() < 41, "every message was recorded before the kill: nothing was tested"

    start_worker()
    wait_until(lambda: delivered() == 41, timeout=40, queue=queue, what="every delivery")
    assert_each_message_applied_once(sandbox)


def test_a_redis_restart_mid_run_loses_nothing(start_worker, queue, channel_system, sandbox, tmp_path, settings):
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        missing_service("needs redis-server on PATH to run a private Redis it can restart")
    settings.INTEGRATIONS_RELAY_ON_COMMIT = False  # this test's broker is a private Redis: kicks go there
    port = free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    redis_command = [redis_server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                     "--dir", str(tmp_path)]

    def start_redis():
        process = subprocess.Popen(redis_command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, timeout=5, what="redis")
        return process

    redis_process = start_redis()
    try:
        channel_system("market")
        sandbox.configure(latency_ms=20)
        worker = start_worker(broker=broker)
        warm_up(queue, broker)
        stopped = []

        def stop_redis_after_some_pushes():
            if not stopped:
                kick(queue, broker)  # what beat does
            if not stopped and len(sandbox.received()) >= 5:
                redis_process.kill()
                redis_process.wait(timeout=5)
                stopped.append(delivered())

        change_over_time(40, prefix="R", pause=0.05, meanwhile=stop_redis_after_some_pushes)
        assert stopped and stopped[0] < 41, "the run finished before the restart: nothing was tested"
        change_many(20, prefix="S")  # written while the broker is down: the outbox keeps them
        time.sleep(1)
        redis_process = start_redis()

        def supervised_delivered() -> int:
            worker.restart_if_exited()
            return delivered()

        wait_until(lambda: supervised_delivered() == 61, timeout=40, queue=queue, broker=broker,
                   what="every delivery")
        assert_each_message_applied_once(sandbox)
    finally:
        redis_process.kill()
        redis_process.wait(timeout=5)


def received_levels(sandbox, partner: str) -> set[str]:
    return {item["sku"] for request in sandbox.received(partner) for item in request["body"].get("items", [])}


def test_a_slow_partner_delays_no_other(start_worker, queue, channel_system, sandbox):
    """Each system's relay runs on its own queue: while one partner takes seconds to
    answer, the other hears of every change at once (no kicks: only the wake-ups sent on
    commit, each to its system's queue)."""
    channel_system("slow", timeout_seconds=10)  # slow, but it answers
    channel_system("fast")
    start_worker(INTEGRATIONS_LEASE_SECONDS=30)  # a request is sent only if it ends well within the lease
    change_many(1, prefix="W")
    wait_until(lambda: delivered() == 2, timeout=30, queue=queue, what="the worker to start")
    sandbox.configure(latency_ms_by_partner={"slow": 6000})
    started = time.monotonic()
    change_over_time(6, prefix="F", pause=0.2)
    wait_until(lambda: len(received_levels(sandbox, "fast")) == 7, timeout=20, what="the fast partner's deliveries")
    assert time.monotonic() - started < 6.0, "the fast partner waited for the slow one"
    assert len(received_levels(sandbox, "slow")) < 7, "the slow partner was not slow: nothing was tested"
    wait_until(lambda: len(received_levels(sandbox, "slow")) == 7, timeout=60, queue=queue,
               what="the slow partner's deliveries")
    assert_each_message_applied_once(sandbox)


def test_a_system_with_a_pool_of_its_own_is_left_to_it(start_worker, queue, channel_system, sandbox):
    channel_system("slow")
    channel_system("fast")
    start_worker(INTEGRATIONS_OWN_POOL_SYSTEMS="slow")
    change_many(3, prefix="P")
    wait_until(lambda: len(received_levels(sandbox, "fast")) == 3, timeout=20, what="the shared worker's deliveries")
    time.sleep(1)
    assert received_levels(sandbox, "slow") == set(), "the shared worker took the queue of a system with its own pool"
    start_worker(queues=f"{queue}.slow")
    wait_until(lambda: len(received_levels(sandbox, "slow")) == 3, timeout=20, what="its own pool's deliveries")
    assert_each_message_applied_once(sandbox)


def test_a_dead_letter_raises_a_case_and_replay_delivers_it(start_worker, queue, channel_system, sandbox):
    channel_system("market")
    sandbox.configure(fail_next=3)
    start_worker(INTEGRATIONS_MAX_ATTEMPTS=3)
    change_many(1)
    wait_until(lambda: OutboxMessage.objects.filter(status=OutboxMessage.Status.DEAD).exists(), timeout=20,
               queue=queue, what="the dead letter")
    case = Case.objects.get(kind=CaseKind.DEAD_LETTER)
    assert sandbox.received() == []

    assert outbox_replay(message_ids=[case.context["message_id"]]) == 1  # wakes the relay on commit
    wait_until(lambda: delivered() == 1, timeout=20, what="the replayed delivery")
    assert_each_message_applied_once(sandbox)
