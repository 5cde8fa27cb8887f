"""Proof that the ledger holds: every level equals the sum of its movements.

The full check sums every movement. The incremental one (`verify_ledger --incremental`)
first closes the months that are over (`ledger_months_close`: their sums go into the
closing balances and a per-month checksum, once), then proves
`level == closing balance + Σ movements recorded since`, reading the open months only —
on PostgreSQL, the last partition or two. A closed month cannot change (its rows are
append-only and no new row is recorded in the past), and `ledger_months_recheck` proves
it still holds what was summed, month by month, without a join.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Min, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from exceptions.services import CaseReport, raise_case
from exceptions.states import CaseKind
from inventory.ledger import sql
from inventory.ledger.partitions import archived_months, month_after, month_of, month_start
from inventory.models import LedgerMonthChecksum, StockMovement


@dataclass(frozen=True)
class Drift:
    sku_id: int
    location_id: int
    bucket: str
    level: int
    movements: int


@dataclass(frozen=True)
class MonthMismatch:
    """A closed month whose movements no longer match what was summed when it closed."""

    month: date
    movements: int
    delta_total: int
    summed_movements: int
    summed_delta_total: int


def ledger_drifts(*, incremental: bool = False) -> list[Drift]:
    """Recompute every level from its movements, in one set-based query; incrementally,
    from the closing balances and the open months' movements."""
    through = ledger_months_close() if incremental else None
    drifts = []
    width = len(sql.BUCKETS)
    for row in sql.level_drifts(checkpoint_through=through):
        sku_id, location_id = row[0], row[1]
        level_values, movement_sums = row[2:2 + width], row[2 + width:]
        for bucket, level, total in zip(sql.BUCKETS, level_values, movement_sums, strict=True):
            if level != total:
                drifts.append(Drift(sku_id, location_id, bucket, level, total))
    return drifts


def ledger_checkpoint_through() -> datetime | None:
    """The end of the last closed month: the closing balances hold every movement recorded
    before it. None while no month is closed."""
    last = LedgerMonthChecksum.objects.order_by("-month").values_list("month", flat=True).first()
    return month_start(month_after(last)) if last else None


@transaction.atomic
def ledger_months_close(*, now: datetime | None = None) -> datetime | None:
    """Close, in order, every month that is over (and settled: LEDGER_MONTH_SETTLE_HOURS
    after its end) and not closed yet: its movements' count and sum become its checksum
    and are added to the closing balances. Returns the checkpoint's end (see
    `ledger_checkpoint_through`). Two runs at once close a month once: the second waits
    on the first's checksum row (unique month) and then finds it closed."""
    now = now or timezone.now()
    settled = now - timedelta(hours=settings.LEDGER_MONTH_SETTLE_HOURS)
    through = ledger_checkpoint_through()
    if through is None:
        first = StockMovement.objects.aggregate(first=Min("recorded_at"))["first"]
        if first is None:
            return None
        month = month_of(first)
    else:
        month = month_of(through)
    months = []
    while month_start(month_after(month)) <= settled:
        months.append(month)
        month = month_after(month)
    if not months:
        return through
    # All the months to close in one pass: one grouped read for their checksums and one
    # upsert for the balances (per month, the upsert rewrote every level once a month).
    start, end = month_start(months[0]), month_start(month_after(months[-1]))
    found = _month_totals(start=start, end=end)
    try:
        with transaction.atomic():
            LedgerMonthChecksum.objects.bulk_create([
                LedgerMonthChecksum(month=closing, movements=found.get(closing, (0, 0))[0],
                                    delta_total=found.get(closing, (0, 0))[1], summed_at=now)
                for closing in months
            ])
    except IntegrityError:  # another run closed them first (it held them until it committed)
        return ledger_checkpoint_through()
    sql.month_close(start=start, end=end)
    return end


def _month_totals(*, start: datetime, end: datetime) -> dict[date, tuple[int, int]]:
    """Movements and Σ delta per month recorded in [start, end), in one grouped query."""
    rows = (StockMovement.objects.filter(recorded_at__gte=start, recorded_at__lt=end)
            .annotate(month=TruncMonth("recorded_at", tzinfo=UTC)).values("month")
            .annotate(movements=Count("id"), delta_total=Sum("delta")).order_by("month"))
    return {month_of(row["month"]): (row["movements"], row["delta_total"] or 0) for row in rows}


def ledger_months_recheck() -> list[MonthMismatch]:
    """Re-read every closed month still attached and compare it with its checksum, in one
    grouped query over the closed range (a month detached as an archive is skipped: its
    rows left the table, not the ledger)."""
    checksums = {row.month: row for row in LedgerMonthChecksum.objects.all()}
    if not checksums:
        return []
    archived = archived_months(StockMovement._meta.db_table)
    found = _month_totals(start=month_start(min(checksums)), end=month_start(month_after(max(checksums))))
    mismatches = []
    for month, checksum in sorted(checksums.items()):
        if month in archived:
            continue
        movements, delta_total = found.get(month, (0, 0))
        if (movements, delta_total) != (checksum.movements, checksum.delta_total):
            mismatches.append(MonthMismatch(month, movements, delta_total, checksum.movements, checksum.delta_total))
    return mismatches


def report_drifts(drifts: list[Drift]) -> None:
    """Open (or bump) a ledger_drift case per drifting level."""
    for drift in drifts:
        raise_case(CaseReport(
            kind=CaseKind.LEDGER_DRIFT,
            dedup_key=f"ledger_drift:{drift.sku_id}:{drift.location_id}:{drift.bucket}",
            title=f"Ledger drift: {drift.bucket} is {drift.level} but its movements sum to {drift.movements}",
            sku_id=drift.sku_id, location_id=drift.location_id,
            context={"bucket": drift.bucket, "level": drift.level, "movements": drift.movements},
        ))
