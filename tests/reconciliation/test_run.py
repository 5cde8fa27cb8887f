"""The run: each snapshot line beside the ledger as of the snapshot's time (API.md)."""

from datetime import timedelta
from decimal import Decimal

import pytest

from reconciliation.models import ReconciliationLine, RunAccuracy
from retailops.errors import InvalidState
from tests.inventory.factories import LocationFactory
from tests.reconciliation.conftest import AS_OF

pytestmark = pytest.mark.django_db


def line(run, sku="A", location="DC1") -> ReconciliationLine:
    return ReconciliationLine.objects.get(run=run, sku_code=sku, location_code=location)


def test_a_snapshot_equal_to_the_ledger_with_nothing_moved_since_is_matched_and_closes(ledger, reconcile):
    ledger("A", "DC1", 10)
    run = reconcile([("A", "DC1", 10)])
    assert (run.status, run.lines, run.matched, run.variance) == ("closed", 1, 1, 0)
    found = line(run)
    assert (found.classification, found.difference, found.ledger_on_hand_at_as_of, found.value) == (
        "matched", 0, 10, Decimal("0"))
    assert run.closed_at is not None


def test_a_movement_after_the_snapshot_time_makes_a_line_timing_not_variance(ledger, reconcile):
    ledger("A", "DC1", 10)
    ledger("A", "DC1", -3, at=AS_OF + timedelta(minutes=5))  # a sale the snapshot could not see
    run = reconcile([("A", "DC1", 10)])
    found = line(run)
    assert (found.classification, found.ledger_on_hand_at_as_of, found.ledger_on_hand_now, found.difference) == (
        "timing", 10, 7, 0)
    assert (run.status, run.timing, run.variance) == ("closed", 1, 0)


def test_a_true_difference_is_variance_valued_at_unit_cost_and_waits_for_review(ledger, reconcile):
    ledger("A", "DC1", 10, unit_cost="12.50")
    ledger("A", "DC1", 2, at=AS_OF + timedelta(hours=1))
    run = reconcile([("A", "DC1", 7)])
    found = line(run)
    assert (found.classification, found.difference, found.ledger_on_hand_now) == ("variance", -3, 12)
    assert (found.unit_cost, found.value) == (Decimal("12.50"), Decimal("37.50"))
    assert (run.status, run.variance, run.variance_value) == ("review", 1, Decimal("37.50"))
    assert run.closed_at is None


def test_the_tolerance_in_units_or_percent_makes_a_small_difference_agree(ledger, reconcile, system):
    ledger("A", "DC1", 100)
    ledger("B", "DC1", 10)
    ledger("C", "DC1", 10)
    tolerant = system("tolerant", reconcile_tolerance_units=1, reconcile_tolerance_percent=Decimal("5.00"))
    run = reconcile([("A", "DC1", 95), ("B", "DC1", 11), ("C", "DC1", 8)], on=tolerant)
    # A: 5 off 100 is within 5 %; B: 1 unit is within 1 unit; C: 2 units, 20 % — neither.
    assert [line(run, sku).classification for sku in "ABC"] == ["matched", "matched", "variance"]
    assert (run.tolerance_units, run.tolerance_percent) == (1, Decimal("5.00"))
    strict = reconcile([("A", "DC1", 95), ("B", "DC1", 11), ("C", "DC1", 8)])
    assert [line(strict, sku).classification for sku in "ABC"] == ["variance"] * 3


def test_unknown_codes_are_missing_in_ledger_listed_never_dropped(ledger, reconcile):
    ledger("A", "DC1", 4)
    run = reconcile([("A", "DC1", 4), ("NOPE", "DC1", 3), ("A", "NOWHERE", 2)])
    assert (run.lines, run.matched, run.missing_in_ledger) == (3, 1, 2)
    unknown_sku, unknown_location = line(run, "NOPE"), line(run, "A", "NOWHERE")
    assert unknown_sku.classification == unknown_location.classification == "missing_in_ledger"
    assert (unknown_sku.sku_id, unknown_sku.ledger_on_hand_at_as_of, unknown_sku.difference) == (None, None, None)
    assert unknown_sku.location_id is not None and unknown_location.location_id is None


def test_a_known_sku_and_location_without_a_level_have_a_ledger_of_zero(ledger, reconcile):
    ledger("A", "DC1", 4)
    LocationFactory(code="S2")
    run = reconcile([("A", "S2", 2)])
    found = line(run, "A", "S2")
    assert (found.classification, found.ledger_on_hand_at_as_of, found.difference) == ("variance", 0, 2)


def test_accuracy_is_kept_per_location(ledger, reconcile):
    ledger("A", "DC1", 10)
    ledger("B", "DC1", 5)
    ledger("A", "S1", 3)
    run = reconcile([("A", "DC1", 10), ("B", "DC1", 4), ("A", "S1", 3), ("X", "NOWHERE", 1)])
    rows = {row.location.code if row.location else None: row for row in RunAccuracy.objects.filter(run=run)}
    dc = rows["DC1"]
    assert (dc.lines, dc.agreeing_lines, dc.units, dc.agreeing_units) == (2, 1, 14, 10)
    assert (dc.value, dc.agreeing_value) == (Decimal("140.00"), Decimal("100.00"))
    assert (rows["S1"].lines, rows["S1"].agreeing_lines) == (1, 1)
    assert (rows[None].lines, rows[None].agreeing_lines, rows[None].value) == (1, 0, Decimal("0"))


def test_running_a_finished_run_again_changes_nothing(ledger, reconcile):
    from reconciliation.services import run_execute

    ledger("A", "DC1", 10)
    run = reconcile([("A", "DC1", 9)])
    again = run_execute(run_id=run.pk)
    assert again.status == "review" and ReconciliationLine.objects.filter(run=run).count() == 1


def test_a_run_that_fails_records_its_error(ledger, reconcile, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("reconciliation.engine.figures_write", broken)
    ledger("A", "DC1", 10)
    run = reconcile([("A", "DC1", 9)])
    assert run.status == "failed" and "disk full" in run.error
    assert not ReconciliationLine.objects.filter(run=run).exists()  # the half-written run rolled back
    assert [entry.status for entry in run.history.order_by("history_id")] == ["queued", "running", "failed"]


def test_a_failed_run_opens_a_case_for_integration_support(ledger, reconcile, monkeypatch):
    from exceptions.models import Case
    from exceptions.states import CaseKind, Queue

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("reconciliation.engine.figures_write", broken)
    ledger("A", "DC1", 10)
    run = reconcile([("A", "DC1", 9)])
    case = Case.objects.get()
    assert (case.kind, case.queue) == (CaseKind.SYNC_FAILED, Queue.INTEGRATION)
    assert f"Reconciliation #{run.pk}" in case.title and "disk full" in case.detail


def _running_since(run, minutes: int):
    from django.utils import timezone

    from reconciliation.models import ReconciliationRun

    ReconciliationRun.objects.filter(pk=run.pk).update(
        status="running", started_at=timezone.now() - timedelta(minutes=minutes))


def test_a_run_left_running_by_a_stopped_worker_is_failed_and_can_be_run_again(
        ledger, system, django_capture_on_commit_callbacks):
    from backoffice.staff import staff_user_upsert
    from exceptions.models import Case
    from integrations.snapshots import SnapshotLines, line_row
    from reconciliation.models import ReconciliationRun
    from reconciliation.services import run_execute, run_retry, runs_stale_fail, snapshot_submit
    from reconciliation.tasks import runs_stale_check

    ledger("A", "DC1", 10)
    stale, _ = snapshot_submit(system=system(), source="upload", document=SnapshotLines(
        as_of=AS_OF, rows=[line_row(0, "A", "DC1", 9)]))
    recent, _ = snapshot_submit(system=system("erp"), source="upload", document=SnapshotLines(
        as_of=AS_OF, rows=[line_row(0, "A", "DC1", 9)]))
    _running_since(stale, 60)
    _running_since(recent, 5)

    assert runs_stale_check() == 1  # the beat's task: 45 minutes by default
    assert runs_stale_fail(older_than=timedelta(minutes=45)) == 0  # once
    stale.refresh_from_db()
    recent.refresh_from_db()
    assert (stale.status, recent.status) == ("failed", "running")
    assert "worker stopped" in stale.error
    assert Case.objects.get().context["reconciliation"] == stale.pk

    control = staff_user_upsert(username="control", role="inventory_control", password="pw-for-tests-1")
    with django_capture_on_commit_callbacks() as callbacks:
        run_retry(run_id=stale.pk, actor=control)
    assert len(callbacks) == 1
    stale.refresh_from_db()
    assert (stale.status, stale.error, stale.history.first().history_user) == ("queued", "", control)
    assert run_execute(run_id=stale.pk).status == "review"
    with pytest.raises(InvalidState):
        run_retry(run_id=stale.pk, actor=control)  # only a failed run
    assert ReconciliationRun.objects.get(pk=recent.pk).status == "running"


def test_the_stale_run_check_is_on_beat():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["reconciliation-stale-runs"]
    assert entry["task"] == "reconciliation.tasks.runs_stale_check"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_run_a_live_worker_still_writes_is_not_failed(ledger, system):
    """A live run holds its row's lock for as long as it writes; the check passes it by."""
    import threading

    from django.db import connection, transaction

    from integrations.snapshots import SnapshotLines, line_row
    from reconciliation.models import ReconciliationRun
    from reconciliation.services import runs_stale_fail, snapshot_submit

    ledger("A", "DC1", 10)
    run, _ = snapshot_submit(system=system(), source="upload", document=SnapshotLines(
        as_of=AS_OF, rows=[line_row(0, "A", "DC1", 9)]))
    _running_since(run, 60)
    locked, release = threading.Event(), threading.Event()

    def worker():
        try:
            with transaction.atomic():
                ReconciliationRun.objects.select_for_update().get(pk=run.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert locked.wait(10)
        assert runs_stale_fail(older_than=timedelta(minutes=45)) == 0
    finally:
        release.set()
        thread.join()
    assert runs_stale_fail(older_than=timedelta(minutes=45)) == 1
