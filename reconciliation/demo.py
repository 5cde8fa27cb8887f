"""Demo reconciliation for `seed_demo`: one run already reviewed (closed) and one in review.

The runs are built here from the demo ledger as it stands (as of now, so the ledger then
is the ledger now): most lines agree, a few differ by a deterministic amount and are
valued at the SKU's unit cost, one code is unknown to the ledger. The reviewed run's
variance lines are decided through the review services by the demo reviewer, so its
history, adjustments and cases are real. Idempotent: a system that already has a run gets
no other.
"""

import itertools
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from integrations.models import InventorySnapshot, InventorySnapshotLine
from inventory.selectors import every_level_row, skus_by_code
from reconciliation import review
from reconciliation.models import ReconciliationLine, ReconciliationRun
from reconciliation.states import Classification, RunStatus
from retailops.access import LocationScope

LINES_PER_RUN = 40
# Every VARIANCE_EVERY-th line differs from the ledger by one of these amounts, in turn.
VARIANCE_EVERY = 6
VARIANCES = (-2, 3, -1, -5, 1, 4, -3)


@transaction.atomic
def seed_demo_reconciliation(*, reviewed_system, open_system, reviewer) -> list[ReconciliationRun]:
    """The two demo runs (those made now; none when both systems already have one)."""
    rows = list(itertools.islice(every_level_row(), LINES_PER_RUN * 2))
    made = []
    for system, offset, decide in ((reviewed_system, 0, True), (open_system, LINES_PER_RUN, False)):
        if ReconciliationRun.objects.filter(system=system).exists():
            continue
        run = _run(system, rows[offset:offset + LINES_PER_RUN], shift=offset)
        if decide and reviewer is not None:
            _review(run, reviewer)
            run.refresh_from_db()
        made.append(run)
    return made


def _run(system, rows: list[dict], *, shift: int) -> ReconciliationRun:
    now = timezone.now()
    costs = {sku.code: sku.unit_cost for sku in skus_by_code(row["sku__code"] for row in rows).values()}
    snapshot = InventorySnapshot.objects.create(system=system, source=InventorySnapshot.Source.UPLOAD, as_of=now,
                                                line_count=len(rows) + 1)
    run = ReconciliationRun.objects.create(
        snapshot=snapshot, system=system, as_of=now, status=RunStatus.REVIEW, started_at=now, finished_at=now,
        tolerance_units=system.reconcile_tolerance_units, tolerance_percent=system.reconcile_tolerance_percent)
    lines, snapshot_lines = [], []
    for index, row in enumerate(rows):
        differs = (index + shift) % VARIANCE_EVERY == 0 and row["on_hand"] > 5
        difference = VARIANCES[(index + shift) // VARIANCE_EVERY % len(VARIANCES)] if differs else 0
        unit_cost = costs[row["sku__code"]]
        lines.append(ReconciliationLine(
            run=run, sku_id=row["sku_id"], location_id=row["location_id"], sku_code=row["sku__code"],
            location_code=row["location__code"], snapshot_on_hand=row["on_hand"] + difference,
            ledger_on_hand_at_as_of=row["on_hand"], ledger_on_hand_now=row["on_hand"], difference=difference,
            classification=Classification.VARIANCE if difference else Classification.MATCHED, unit_cost=unit_cost,
            value=(abs(difference) * unit_cost).quantize(Decimal("0.01"))))
        snapshot_lines.append(InventorySnapshotLine(snapshot=snapshot, sku_code=row["sku__code"],
                                                    location_code=row["location__code"],
                                                    on_hand=row["on_hand"] + difference))
    lines.append(ReconciliationLine(run=run, sku_code="RETIRED-01", location_code=rows[0]["location__code"],
                                    snapshot_on_hand=3, classification=Classification.MISSING_IN_LEDGER))
    snapshot_lines.append(InventorySnapshotLine(snapshot=snapshot, sku_code="RETIRED-01",
                                                location_code=rows[0]["location__code"], on_hand=3))
    ReconciliationLine.objects.bulk_create(lines)
    InventorySnapshotLine.objects.bulk_create(snapshot_lines)
    variance = [line for line in lines if line.classification == Classification.VARIANCE]
    run.lines, run.missing_in_ledger, run.variance = len(lines), 1, len(variance)
    run.matched = len(lines) - 1 - len(variance)
    run.variance_value = sum((line.value for line in variance), Decimal("0"))
    run.save(update_fields=["lines", "matched", "variance", "missing_in_ledger", "variance_value", "updated_at"])
    return run


def _review(run: ReconciliationRun, reviewer) -> None:
    """Decide every variance line of `run` as a reviewer would: the costliest to a case,
    small ones accepted, the rest dismissed; the last decision closes the run."""
    everywhere = LocationScope(None)
    variance = list(run.line_set.filter(classification=Classification.VARIANCE).order_by("-value", "pk"))
    if not variance:
        return
    first, rest = variance[0], variance[1:]
    review.lines_escalate(run_id=run.pk, line_ids=[first.pk], actor=reviewer, scope=everywhere,
                          reason="Largest gap: count it before deciding")
    small = [line.pk for line in rest if line.value < Decimal("100")]
    if small:
        review.lines_accept(run_id=run.pk, line_ids=small, actor=reviewer, scope=everywhere,
                            reason="Small gaps: the warehouse count stands")
    others = [line.pk for line in rest if line.pk not in small]
    if others:
        review.lines_dismiss(run_id=run.pk, line_ids=others, actor=reviewer, scope=everywhere,
                             reason="Units on the dock at the snapshot's time")
