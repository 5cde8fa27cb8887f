"""The app as `make run` and production serve it (devstack's web command: gunicorn with
`gunicorn.conf.py`) under a burst of 150 concurrent requests on PostgreSQL: every request
answers without a server error, and the database sees no more connections than there are
workers."""

import os
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from backoffice.management.commands.devstack import web_command
from connectors.clients import partner_client_issue
from inventory import services
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket
from tests.inventory.factories import LocationFactory, SkuFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 3
CONCURRENT = 150


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    """gunicorn serving the test database on a free loopback port, as production runs it."""
    db = connection.settings_dict
    port = free_port()
    env = {
        # The server uses the test database; an outer replica URL names another one.
        **{key: value for key, value in os.environ.items()
           if key not in {"RETAILOPS_TESTING", "DEBUG", "DATABASE_REPLICA_URL"}},
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "DEBUG": "0", "SECRET_KEY": "served-test-key-" + "x" * 40, "ALLOWED_HOSTS": "127.0.0.1",
        "RETAILOPS_VAR_DIR": str(tmp_path), "RETAILOPS_ENV_FILE": os.devnull, "INTEGRATIONS_RELAY_ON_COMMIT": "0",
        "API_THROTTLE_RATE": "100000/min", "LOG_LEVEL": "WARNING",
        "SECURE_SSL_REDIRECT": "0",  # plain HTTP on loopback
    }
    log = (tmp_path / "gunicorn.log").open("w")
    process = subprocess.Popen(web_command(host="127.0.0.1", port=port, workers=WORKERS), cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp_path / "gunicorn.log").read_text()) from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def test_a_burst_of_150_concurrent_requests_gets_no_server_error_and_bounded_connections(served):
    sku, location = SkuFactory(code="BURST"), LocationFactory(code="DC1", kind="dc")
    services.channel_upsert(code="web", actor=None, name="Web shop", kind="web", priority=10, safety_buffer=0,
                            active=True)
    post_movements([Movement(sku.pk, location.pk, Bucket.ON_HAND, 60, reason="receipt")], document_type="test")
    token = partner_client_issue(system_code="shop", kind="web", scopes=None, location_codes=None).token
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    hold = b'{"sku": "BURST", "quantity": 1, "channel": "web"}'
    requests = ([("POST", "/api/v1/reservations", hold)] * 80
                + [("GET", "/api/v1/availability?sku=BURST&channel=web", None)] * 50
                + [("GET", "/healthz", None)] * 20)
    assert len(requests) == CONCURRENT

    statuses: list[int] = []
    start = threading.Barrier(CONCURRENT + 1)

    def send(method: str, path: str, body: bytes | None) -> None:
        request = urllib.request.Request(served + path, data=body, method=method, headers=headers)
        start.wait()
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                statuses.append(response.status)
        except urllib.error.HTTPError as error:
            statuses.append(error.code)

    threads = [threading.Thread(target=send, args=request) for request in requests]
    for thread in threads:
        thread.start()
    start.wait()
    most_connections = 0
    while any(thread.is_alive() for thread in threads):
        with connection.cursor() as cursor:  # the app's connections, not this test's own
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid()")
            most_connections = max(most_connections, cursor.fetchone()[0])
        time.sleep(0.05)
    for thread in threads:
        thread.join()

    assert len(statuses) == CONCURRENT
    assert [status for status in statuses if status >= 500] == []
    assert statuses.count(201) == 60 and statuses.count(409) == 20  # every unit held once, none oversold
    assert 1 <= most_connections <= WORKERS
