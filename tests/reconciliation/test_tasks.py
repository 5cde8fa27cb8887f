"""The run as a Celery task, and the daily pull that feeds it."""

import time
import uuid

import pytest
from django.conf import settings

from connectors import tasks as connector_tasks
from integrations.models import ExternalSystem, SyncRun
from reconciliation.models import ReconciliationRun
from reconciliation.tasks import reconcile
from tests.integrations.conftest import channel_system, sandbox, sandbox_server  # noqa: F401 (fixtures)
from tests.integrations.test_worker import Worker
from tests.reconciliation.conftest import AS_OF


def test_the_daily_pull_is_on_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["integrations-snapshot-pull"]
    assert entry["task"] == "connectors.tasks.snapshot_pull_all"
    assert entry["schedule"].hour == {settings.RECONCILE_PULL_HOUR} and len(entry["schedule"].minute) == 1


@pytest.mark.django_db
def test_the_scheduled_pull_stores_the_sandbox_snapshot_and_queues_its_run(sandbox, ledger,  # noqa: F811
                                                                           django_capture_on_commit_callbacks):
    ledger("A", "DC1", 5)
    ledger("B", "DC1", 5)
    wms = ExternalSystem.objects.create(code="wms", name="WMS", kind=ExternalSystem.Kind.WMS,
                                        adapter=ExternalSystem.Adapter.JSON_HTTP, base_url=f"{sandbox.url}/wms")
    sandbox.configure(snapshot={"as_of": AS_OF.isoformat(), "lines": [
        {"sku": "A", "location": "DC1", "on_hand": 5}, {"sku": "B", "location": "DC1", "on_hand": 3}]})

    with django_capture_on_commit_callbacks() as callbacks:
        connector_tasks.snapshot_pull(wms.pk)  # what snapshot_pull_all queues per system

    sync_run = SyncRun.objects.get(system=wms)
    run = ReconciliationRun.objects.get(system=wms)
    assert sync_run.status == "succeeded" and run.snapshot.sync_run == sync_run and run.status == "queued"
    assert len(callbacks) == 1
    assert reconcile(run.pk) == "review"  # the task body, as the worker runs it
    run.refresh_from_db()
    assert (run.matched, run.variance) == (1, 1)
    # Pulled again unchanged: the same snapshot, no second run.
    connector_tasks.snapshot_pull(wms.pk)
    assert ReconciliationRun.objects.filter(system=wms).count() == 1
    assert SyncRun.objects.filter(system=wms).latest("pk").counts["unchanged"] is True


@pytest.mark.django_db
def test_the_sandbox_serves_timing_and_variance_drift(sandbox, ledger, channel_system):  # noqa: F811
    from connectors.relay import outbox_relay
    from inventory.ledger import Movement, post_movements
    from inventory.models import Bucket, Location, Sku

    market = channel_system("market")
    for sku in "ABCD":
        ledger(sku, "DC1", 10)

    outbox_relay()  # the sandbox now holds on_hand 10 everywhere
    time.sleep(1.2)
    dc1 = Location.objects.get(code="DC1")
    post_movements([Movement(Sku.objects.get(code="A").pk, dc1.pk, Bucket.ON_HAND, -2, reason="sale")])
    outbox_relay()
    assert sandbox.state("market")["A|DC1"]["on_hand"] == 8 and market.channel is not None
    wms = ExternalSystem.objects.create(code="wms", name="WMS", kind=ExternalSystem.Kind.WMS,
                                        adapter=ExternalSystem.Adapter.JSON_HTTP, base_url=f"{sandbox.url}/wms")
    sandbox.configure(snapshot_lag_seconds=1, snapshot_variance_every=4, snapshot_variance_units=3)
    connector_tasks.snapshot_pull(wms.pk)
    run = ReconciliationRun.objects.get(system=wms)
    reconcile(run.pk)
    classes = dict(run.line_set.values_list("sku_code", "classification"))
    assert classes == {"A": "timing", "B": "matched", "C": "matched", "D": "variance"}


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_posted_snapshot_is_reconciled_by_a_real_worker(ledger, partner_api, tmp_path, settings):
    import os

    queue = f"reconciliation-test-{uuid.uuid4().hex[:8]}"
    settings.RECONCILIATION_QUEUE = queue
    ledger("A", "DC1", 5)
    worker = Worker(broker=os.environ["CELERY_BROKER_URL"], queue=queue, log=tmp_path / "worker.log",
                    env={"RECONCILIATION_QUEUE": queue})
    worker.start()
    try:
        client = partner_api("wms", kind="wms")
        response = client.generic("POST", "/api/v1/snapshots?as_of=2026-03-01T12:00:00Z",
                                  b"sku,location,on_hand\nA,DC1,4\nX,DC1,1\n", content_type="text/csv")
        assert response.status_code == 202
        run_id = response.json()["reconciliation"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = client.get(f"/api/v1/reconciliations/{run_id}").json()["status"]
            if status not in ("queued", "running"):
                break
            time.sleep(0.3)
        body = client.get(f"/api/v1/reconciliations/{run_id}").json()
        assert body["status"] == "review", (tmp_path / "worker.log").read_text()[-3000:]
        assert (body["summary"]["variance"], body["summary"]["missing_in_ledger"]) == (1, 1)
    finally:
        worker.stop()
