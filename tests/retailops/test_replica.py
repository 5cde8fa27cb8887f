"""The read replica (README "Read replica"), against a real streaming replica of the
primary (DATABASE_REPLICA_URL; `.ci/replica start` makes one). The data must be committed to
replicate, so these tests commit (transaction=True) and clean up by flushing the primary."""

import csv
import io
import socket
import time
from contextlib import contextmanager

import pytest
from django.db import connections, transaction
from django.urls import reverse
from django.utils import timezone

from inventory.ledger import Movement, post_movements
from inventory.models import Sku
from retailops.replica import REPLICA, replica_fresh, replica_lag_seconds, replica_reads
from retailops.roles import Role
from tests.inventory.factories import LocationFactory, SkuFactory
from tests.inventory.test_screens import signed_in

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.replica,
    pytest.mark.django_db(transaction=True, databases=["default", "replica"]),
]

URL = "/api/v1/availability"


@pytest.fixture(autouse=True)
def replica_reads_on(settings):
    settings.REPLICA_READS = True
    settings.REPLICA_LAG_CHECK_SECONDS = 0  # measure on every read: each test changes the lag
    settings.REPLICA_MAX_LAG_SECONDS = 2


def replicated():
    """Wait until the replica has replayed everything the primary has flushed."""
    deadline = time.monotonic() + 20
    while replica_lag_seconds() != 0:
        assert time.monotonic() < deadline, "the replica did not catch up within 20 s"
        time.sleep(0.05)


def on_replica(sql: str):
    with connections[REPLICA].cursor() as cursor:
        cursor.execute(sql)


@pytest.fixture
def replay_paused():
    """The replica receives the primary's WAL but does not apply it until the test ends."""
    replicated()
    on_replica("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        on_replica("SELECT pg_wal_replay_resume()")
        replicated()


@pytest.fixture
def world():
    sku, store = SkuFactory(code="A"), LocationFactory(code="S1")
    receive(sku, store, 10)
    return sku, store


def receive(sku, location, units: int) -> None:
    post_movements([Movement(sku_id=sku.pk, location_id=location.pk, bucket="on_hand", delta=units, reason="test")])


def on_hand(response) -> int:
    assert response.status_code == 200, response.content
    (row,) = response.json()["results"]
    return row["on_hand"]


def test_an_opted_in_read_goes_to_the_replica_and_sees_committed_rows():
    SkuFactory(code="REPLICATED")
    replicated()

    with replica_reads():
        skus = Sku.objects.filter(code="REPLICATED")
        assert skus.db == REPLICA
        assert skus.exists()
        with connections[skus.db].cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery()")
            assert cursor.fetchone() == (True,)
    assert Sku.objects.all().db == "default"


def test_reads_inside_a_transaction_on_the_primary_and_after_a_write_stay_on_the_primary():
    replicated()
    with transaction.atomic(), replica_reads():
        assert Sku.objects.all().db == "default"
    with replica_reads():
        assert Sku.objects.all().db == REPLICA
        SkuFactory(code="WRITTEN")
        assert Sku.objects.filter(code="WRITTEN").db == "default"
        assert Sku.objects.filter(code="WRITTEN").exists()


def test_the_availability_api_reads_the_replica_and_a_writer_reads_its_own_writes(world, partner_api, settings,
                                                                                  replay_paused):
    sku, store = world
    reader = partner_api("web-1", scopes=["availability"])
    writer = partner_api("pos-1", scopes=["availability", "events"], kind="pos")
    settings.REPLICA_MAX_LAG_SECONDS = 3600  # paused replay stays within the bound
    replay_paused_at = on_hand(reader.get(URL, {"sku": "A"}))
    receive(sku, store, 5)  # committed on the primary, not applied on the replica

    assert on_hand(reader.get(URL, {"sku": "A"})) == replay_paused_at == 10

    sold = writer.post("/api/v1/inventory/events", {"events": [
        {"event_id": "sale-1", "type": "sale", "sku": "A", "location": "S1", "quantity": 1,
         "occurred_at": timezone.now().isoformat()},
    ]}, format="json")
    assert sold.status_code == 200, sold.content
    assert on_hand(writer.get(URL, {"sku": "A"})) == 10 + 5 - 1  # the primary
    assert on_hand(reader.get(URL, {"sku": "A"})) == 10  # still the replica


def test_a_staff_session_that_wrote_reads_its_own_writes(world, settings, replay_paused):
    settings.REPLICA_MAX_LAG_SECONDS = 3600
    staff = signed_in("replica-control", Role.INVENTORY_CONTROL)
    other = signed_in("replica-other", Role.INVENTORY_CONTROL)
    receive(*world, 5)  # committed on the primary, not applied on the replica
    export = reverse("inventory:stock_export")
    assert exported_on_hand(staff.get(export, {"q": "A"})) == 10  # the replica, behind

    assert staff.post(reverse("notification_preferences"), {}).status_code < 400
    assert exported_on_hand(staff.get(export, {"q": "A"})) == 15  # the primary
    assert exported_on_hand(other.get(export, {"q": "A"})) == 10


def exported_on_hand(response) -> int:
    assert response.status_code == 200
    header, row = csv.reader(io.StringIO(b"".join(response.streaming_content).decode()))
    return int(row[header.index("on_hand")])


def test_a_replica_further_behind_than_the_bound_falls_back_to_the_primary(world, partner_api, settings,
                                                                         replay_paused):
    reader = partner_api("web-1", scopes=["availability"])
    settings.REPLICA_MAX_LAG_SECONDS = 0.5
    receive(*world, 5)
    time.sleep(1)  # the last transaction the replica applied is now older than the bound

    assert replica_lag_seconds() > 0.5
    with replica_reads():
        assert Sku.objects.all().db == "default"
    assert on_hand(reader.get(URL, {"sku": "A"})) == 15


@contextmanager
def replica_unreachable():
    """The replica alias points at a port nothing listens on."""
    replica = connections[REPLICA]
    port = replica.settings_dict["PORT"]
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    replica.close()
    replica.settings_dict["PORT"] = closed_port
    try:
        yield
    finally:
        replica.close()
        replica.settings_dict["PORT"] = port


def test_an_unreachable_replica_falls_back_to_the_primary(world, partner_api, caplog):
    reader = partner_api("web-1", scopes=["availability"])
    replicated()
    with replica_unreachable():
        assert replica_lag_seconds() is None
        with replica_reads():
            assert Sku.objects.all().db == "default"
        receive(*world, 5)
        assert on_hand(reader.get(URL, {"sku": "A"})) == 15
    assert "The replica cannot be reached" in caplog.text


def test_a_replica_that_fails_during_a_read_is_read_again_on_the_primary(world, partner_api, settings, caplog):
    reader = partner_api("web-1", scopes=["availability"])
    replicated()
    assert replica_fresh()  # measured just now, and kept for a minute: the next read trusts it
    settings.REPLICA_LAG_CHECK_SECONDS = 60
    receive(*world, 5)
    with replica_unreachable():
        assert on_hand(reader.get(URL, {"sku": "A"})) == 15
    assert "The replica failed during a read" in caplog.text
