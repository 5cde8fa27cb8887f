"""Scheduled sync jobs: full availability push and snapshot pulls, each recorded as a run."""

from datetime import UTC, datetime

import pytest

from connectors.adapters import parse_snapshot_csv
from connectors.sync import availability_full_push, snapshot_pull
from exceptions.models import Case
from exceptions.states import CaseKind
from integrations.models import ExternalSystem, InventorySnapshot, SyncRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def wms(db, sandbox):
    def make(adapter=ExternalSystem.Adapter.JSON_HTTP):
        return ExternalSystem.objects.create(code="wms", name="WMS", kind=ExternalSystem.Kind.WMS, adapter=adapter,
                                             base_url=f"{sandbox.url}/wms")
    return make


def test_full_push_sends_every_level_in_batches(channel_system, stock, sandbox, monkeypatch):
    monkeypatch.setattr("connectors.sync.ITEMS_PER_PUSH", 2)
    for sku in "ABCDE":
        stock(3, sku=sku)
    system = channel_system("market")  # created after the changes: only the full push tells it

    run = availability_full_push(system=system)

    assert (run.status, run.counts) == ("succeeded", {"items": 5, "batches": 3})
    assert sorted(sandbox.state("market")) == [f"{sku}|DC1" for sku in "ABCDE"]
    assert run.duration_ms is not None


def test_a_failed_full_push_is_recorded_and_raises_a_sync_case(channel_system, stock, sandbox):
    stock(3)
    system = channel_system("market")
    sandbox.configure(fail_next=1)
    run = availability_full_push(system=system)
    assert run.status == "failed" and "500" in run.errors[0]
    case = Case.objects.get(kind=CaseKind.SYNC_FAILED)
    assert case.subject == system and case.context["sync_run"] == run.pk


def test_snapshot_pull_stores_the_snapshot(wms, sandbox):
    snapshot = {"as_of": "2026-01-05T10:00:00+00:00",
                "lines": [{"sku": "A", "location": "DC1", "on_hand": 4}, {"sku": "Z", "location": "X", "on_hand": 0}]}
    sandbox.configure(snapshot=snapshot)
    run = snapshot_pull(system=wms())

    stored = InventorySnapshot.objects.get()
    assert run.status == "succeeded" and run.counts == {"lines": 2, "snapshot": stored.pk}
    assert stored.as_of == datetime(2026, 1, 5, 10, tzinfo=UTC) and stored.source == "pull"
    assert sorted(stored.lines.values_list("sku_code", "location_code", "on_hand")) == [("A", "DC1", 4),
                                                                                         ("Z", "X", 0)]


def test_a_csv_snapshot_system_is_pulled_as_csv(wms, sandbox):
    sandbox.configure(snapshot={"as_of": "2026-01-05T10:00:00+00:00",
                                "lines": [{"sku": "A", "location": "DC1", "on_hand": 4}]})
    snapshot_pull(system=wms(ExternalSystem.Adapter.CSV_SNAPSHOT))
    stored = InventorySnapshot.objects.get()
    assert stored.line_count == 1 and stored.as_of == datetime(2026, 1, 5, 10, tzinfo=UTC)


def test_an_ambiguous_snapshot_is_refused_whole(wms, sandbox):
    sandbox.configure(snapshot={"as_of": "2026-01-05T10:00:00+00:00",
                                "lines": [{"sku": "A", "location": "DC1", "on_hand": 4}] * 2})
    run = snapshot_pull(system=wms())
    assert run.status == SyncRun.Status.FAILED and "twice" in run.errors[0]
    assert not InventorySnapshot.objects.exists()


def test_snapshot_csv_parsing():
    snapshot = parse_snapshot_csv("sku,location,on_hand,as_of\nA,DC1,3,2026-02-01T00:00:00Z\nB,DC1,0,\n")
    assert snapshot.as_of == datetime(2026, 2, 1, tzinfo=UTC)
    assert [(line.sku, line.on_hand) for line in snapshot.lines] == [("A", 3), ("B", 0)]
    with pytest.raises(Exception, match="Row 2"):
        parse_snapshot_csv("sku,location,on_hand\nA,DC1,three\n")
    with pytest.raises(Exception, match="on_hand"):
        parse_snapshot_csv("sku,location\nA,DC1\n")


def test_demo_systems_point_at_the_sandbox_on_loopback(db, settings):
    from connectors.demo import seed_demo_systems

    settings.INTEGRATIONS_SANDBOX_PORT = 18765
    systems = seed_demo_systems()
    assert {system.kind for system in systems} == {"marketplace", "web", "wms", "erp"}
    assert all(system.base_url.startswith("http://127.0.0.1:18765/") for system in systems)
    assert len(seed_demo_systems()) == 4 and ExternalSystem.objects.count() == 4
