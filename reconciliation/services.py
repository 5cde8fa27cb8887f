"""Reconciliation: a stored snapshot, queued as a run, compared with the ledger.

`snapshot_submit` is the one intake for the three sources (adapter pull, partner API,
staff upload): it stores the snapshot (`integrations.snapshots.snapshot_store`, streamed)
and queues its run in the same transaction; the run is handed to a worker once that
commits. The same content for the same system and time again returns the run already
there, and queues nothing.

`run_execute` is what the worker does: `queued` → `running` (committed, so it shows),
then one transaction writes every line set-based (`reconciliation.engine`), the
per-location accuracy and the summary, and moves the run to `review` (some line is a
variance) or `closed` (none is). An error leaves the run `failed`, with the error, and
opens a `sync_failed` case for integration support; so does a run left `running` by a
worker that stopped (`runs_stale_fail`, on beat). A failed run may be queued again
(`run_retry`).
"""

import logging
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from exceptions.services import CaseReport, raise_case
from exceptions.states import CaseKind
from integrations.models import ApiClient, ExternalSystem, SyncRun
from integrations.snapshots import SnapshotDocument, snapshot_store
from inventory.selectors import locations_for
from reconciliation import engine
from reconciliation.models import ReconciliationRun
from reconciliation.states import RunStatus
from reconciliation.transitions import run_transition
from retailops.access import LocationScope
from retailops.errors import NotFound

logger = logging.getLogger(__name__)

RECONCILE_TASK = "reconciliation.tasks.reconcile"


def _enqueue(run_id: int) -> None:
    current_app.send_task(RECONCILE_TASK, args=(run_id,), queue=settings.RECONCILIATION_QUEUE)


def _forbidden_location_codes(scope: LocationScope | None) -> frozenset[str]:
    """The location codes a scoped sender may not state: every known location outside its
    scope. Codes the ledger does not know are allowed (they are listed as missing)."""
    if scope is None or scope.is_all:
        return frozenset()
    allowed = set(locations_for(scope=scope).values_list("code", flat=True))
    every = locations_for(scope=LocationScope(None)).values_list("code", flat=True)
    return frozenset(code for code in every if code not in allowed)


@transaction.atomic
def snapshot_submit(*, system: ExternalSystem, document: SnapshotDocument, source: str, sent_by=None,
                    api_client: ApiClient | None = None, sync_run: SyncRun | None = None,
                    scope: LocationScope | None = None) -> tuple[ReconciliationRun, bool]:
    """Store a snapshot and queue its reconciliation; returns the run and whether it is new.

    Refused whole (`InvalidSnapshot`, 400, naming the first bad row; or 403 for a line at
    a location outside `scope`) with nothing stored.
    """
    snapshot, _created = snapshot_store(
        system=system, document=document, source=source, sent_by=sent_by, api_client=api_client, sync_run=sync_run,
        forbidden_locations=_forbidden_location_codes(scope))
    run = ReconciliationRun.objects.filter(snapshot=snapshot).first()
    if run is not None:
        return run, False
    run = ReconciliationRun(snapshot=snapshot, system=system, as_of=snapshot.as_of,
                            tolerance_units=system.reconcile_tolerance_units,
                            tolerance_percent=system.reconcile_tolerance_percent)
    run._history_user = sent_by
    run._change_reason = f"snapshot {snapshot.pk} received ({source})"
    run.save()
    transaction.on_commit(lambda run_id=run.pk: _enqueue(run_id), robust=True)
    return run, True


def _start(run_id: int) -> ReconciliationRun | None:
    with transaction.atomic():
        run = ReconciliationRun.objects.select_for_update().get(pk=run_id)
        if run.status != RunStatus.QUEUED:
            return None  # already run, or running elsewhere: running twice is a no-op
        run.started_at = timezone.now()
        run_transition(run, RunStatus.RUNNING, reason="reconciliation started", fields=("started_at",))
    return run


def run_execute(*, run_id: int) -> ReconciliationRun:
    """Compare the run's snapshot with the ledger as of its time (what the task does)."""
    run = _start(run_id)
    if run is None:
        return ReconciliationRun.objects.get(pk=run_id)
    try:
        engine.planner_prepare()
        with transaction.atomic():
            run = ReconciliationRun.objects.select_for_update().get(pk=run_id)
            engine.run_memory_raise()
            engine.lines_insert(run_id=run.pk, snapshot_id=run.snapshot_id, as_of=run.as_of,
                                tolerance_units=run.tolerance_units, tolerance_percent=run.tolerance_percent)
            summary = engine.figures_write(run_id=run.pk)
            for name, value in summary.items():
                setattr(run, name, value)
            now = timezone.now()
            run.finished_at = now
            fields = ("finished_at", *summary)
            if run.variance:
                run_transition(run, RunStatus.REVIEW, reason=f"{run.variance} variance line(s) to review",
                               fields=fields)
            else:
                run.closed_at = now
                run_transition(run, RunStatus.CLOSED, reason="no variance", fields=(*fields, "closed_at"))
    except Exception as exc:
        logger.exception("Reconciliation run %s failed", run_id)
        with transaction.atomic():
            run = ReconciliationRun.objects.select_for_update().select_related("system").get(pk=run_id)
            _fail(run, error=f"{type(exc).__name__}: {exc}", reason="reconciliation failed")
        return run
    return run


def _fail(run: ReconciliationRun, *, error: str, reason: str) -> None:
    """Record a locked run as failed and tell integration support (a `sync_failed` case,
    one per run: failing again after a retry bumps it)."""
    run.error, run.finished_at = error[:4000], timezone.now()
    run_transition(run, RunStatus.FAILED, reason=reason, fields=("error", "finished_at"))
    raise_case(CaseReport(
        kind=CaseKind.SYNC_FAILED, dedup_key=f"reconciliation_failed:{run.pk}",
        title=f"Reconciliation #{run.pk} of {run.system.code} failed", detail=run.error[:1000], subject=run,
        context={"reconciliation": run.pk, "system": run.system.code, "as_of": run.as_of.isoformat(),
                 "error": run.error[:500]},
    ))


def runs_stale_fail(*, older_than: timedelta) -> int:
    """Fail the runs left `running` by a worker that stopped (the beat's check): running
    for longer than `older_than` and not locked — a live run holds its row's lock for as
    long as it writes, a dead worker's lock went with its connection. Returns how many."""
    failed = 0
    with transaction.atomic():
        stale = (ReconciliationRun.objects.select_for_update(skip_locked=True, of=("self",)).select_related("system")
                 .filter(status=RunStatus.RUNNING, started_at__lt=timezone.now() - older_than).order_by("pk"))
        for run in stale:
            _fail(run, error=f"The worker stopped while running it (running since {run.started_at:%Y-%m-%d %H:%M}).",
                  reason="worker stopped")
            failed += 1
    return failed


@transaction.atomic
def run_retry(*, run_id: int, actor) -> ReconciliationRun:
    """Queue a failed run again (its snapshot is still stored); the worker takes it once
    this commits. Only a failed run may be retried (`RUN_TRANSITIONS`)."""
    run = ReconciliationRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None:
        raise NotFound(f"No reconciliation {run_id}.")
    run.error, run.started_at, run.finished_at = "", None, None
    run_transition(run, RunStatus.QUEUED, actor=actor, reason="queued again",
                   fields=("error", "started_at", "finished_at"))
    transaction.on_commit(lambda run_id=run.pk: _enqueue(run_id), robust=True)
    return run
