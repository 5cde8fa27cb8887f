"""Scheduled sync jobs, each recorded as a `SyncRun`.

- `availability_full_push`: every level's availability to a channel system, in batches,
  so a partner that missed or mangled an update converges even without a new change.
- `snapshot_pull`: a WMS/ERP system's statement of its stock, stored and reconciled
  against the ledger (once a day, on beat).

(Pushes on change, order updates and document postings go through the outbox relay,
which records its own runs.) A failed run raises a `sync_failed` case for the
integration queue; the next run on the schedule is the retry.
"""

import time
from collections.abc import Callable

from django.utils import timezone

from connectors.adapters import Adapter, DeliveryFailed, NotSupported, Snapshot, adapter_for
from connectors.availability import availability_item
from exceptions.services import CaseReport, raise_case
from exceptions.states import CaseKind
from integrations.models import ExternalSystem, InventorySnapshot, SyncRun
from integrations.outbox import ITEMS_PER_PUSH, channel_systems
from integrations.snapshots import InvalidSnapshot, SnapshotLines, line_row
from inventory.selectors import every_level_row
from reconciliation.services import snapshot_submit


def _run(system: ExternalSystem, job: str, work: Callable[[Adapter, SyncRun], dict]) -> SyncRun:
    started = time.monotonic()
    run = SyncRun.objects.create(system=system, job=job, started_at=timezone.now())
    adapter = None
    try:
        adapter = adapter_for(system)
        run.counts = work(adapter, run)
        run.status = SyncRun.Status.SUCCEEDED
    except (DeliveryFailed, NotSupported) as exc:
        run.status, run.errors = SyncRun.Status.FAILED, [str(exc)[:500]]
        raise_case(CaseReport(
            kind=CaseKind.SYNC_FAILED, dedup_key=f"sync_failed:{system.code}:{job}",
            title=f"{SyncRun.Job(job).label} for {system.code} failed", detail=str(exc)[:1000], subject=system,
            context={"sync_run": run.pk, "job": job, "error": str(exc)[:500]},
        ))
    finally:
        if adapter is not None:
            adapter.close()
        run.finished_at = timezone.now()
        run.duration_ms = int((time.monotonic() - started) * 1000)
        run.save(update_fields=["status", "counts", "errors", "finished_at", "duration_ms"])
    return run


def availability_full_push(*, system: ExternalSystem) -> SyncRun:
    """Push the availability of every level to one channel system."""

    def work(adapter: Adapter, run: SyncRun) -> dict:
        items, batches = 0, 0
        batch: list[dict] = []
        for row in every_level_row():
            batch.append(availability_item(row, channel=system.channel))
            if len(batch) == ITEMS_PER_PUSH:
                adapter.push_availability(batch, idempotency_key=f"full-{run.pk}-{batches}")
                items, batches, batch = items + len(batch), batches + 1, []
        if batch:
            adapter.push_availability(batch, idempotency_key=f"full-{run.pk}-{batches}")
            items, batches = items + len(batch), batches + 1
        return {"items": items, "batches": batches}

    return _run(system, SyncRun.Job.AVAILABILITY_FULL_PUSH, work)


def snapshot_pull(*, system: ExternalSystem) -> SyncRun:
    """Fetch a system's stock snapshot, store it and queue its reconciliation."""

    def work(adapter: Adapter, run: SyncRun) -> dict:
        snapshot = snapshot_store(system=system, snapshot=adapter.fetch_snapshot(),
                                  source=InventorySnapshot.Source.PULL, sync_run=run)
        counts = {"lines": snapshot.line_count, "snapshot": snapshot.pk}
        if snapshot.sync_run_id != run.pk:  # the same content as a snapshot already stored
            counts["unchanged"] = True
        return counts

    return _run(system, SyncRun.Job.SNAPSHOT_PULL, work)


def snapshot_store(*, system: ExternalSystem, snapshot: Snapshot, source: str,
                   sync_run: SyncRun | None = None) -> InventorySnapshot:
    """Keep a fetched snapshot, through the one intake every snapshot takes
    (`reconciliation.services.snapshot_submit`), which queues its run. One it refuses (two
    lines for the same SKU and location, say) is a failed pull, not guessed at."""
    rows = (line_row(index, line.sku, line.location, line.on_hand) for index, line in enumerate(snapshot.lines))
    try:
        run, _created = snapshot_submit(system=system, document=SnapshotLines(as_of=snapshot.as_of, rows=rows),
                                        source=source, sync_run=sync_run)
    except InvalidSnapshot as exc:
        raise DeliveryFailed(f"The snapshot was refused: {exc.detail}", retryable=False) from exc
    return run.snapshot


def full_push_systems():
    return channel_systems().filter(paused=False)


def snapshot_systems():
    return ExternalSystem.objects.filter(
        enabled=True, paused=False, kind__in=[ExternalSystem.Kind.WMS, ExternalSystem.Kind.ERP],
    ).exclude(adapter=ExternalSystem.Adapter.NONE)
