"""Scheduled detectors: each finds its cases with set-based queries and is safe to run
twice (raising dedups on the case's key; resolving or flagging skips what is done).

What happens when the cause of a case disappears, per kind:
- `negative_on_hand`: auto-resolved with root cause `condition_cleared` once the level's
  on-hand is back at zero or above — the ledger itself proves the condition is gone.
- `stale_level`: auto-resolved the same way once the level has been counted.
- `ledger_drift`: only flagged "condition cleared" for a person to confirm: a drift that
  vanishes without a correcting movement means someone changed data outside the ledger.
- every other kind: no automatic check; a person resolves it.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from exceptions import services
from exceptions.models import Case
from exceptions.services import CaseReport, raise_cases
from exceptions.states import ACTIVE_STATUSES, CaseKind
from inventory.models import Bucket, StockLevel, StockMovement
from inventory.verification import ledger_drifts, report_drifts

BATCH = 1000


def _in_batches(ids: list[int], work) -> int:
    return sum(work(ids[start:start + BATCH]) for start in range(0, len(ids), BATCH))


def _active(kind: str):
    return Case.objects.filter(kind=kind, status__in=ACTIVE_STATUSES)


def negative_on_hand_resolve_cleared() -> int:
    """Resolve negative on-hand cases whose level is back at zero or above."""
    recovered = StockLevel.objects.filter(sku_id=OuterRef("sku_id"), location_id=OuterRef("location_id"),
                                          on_hand__gte=0)
    ids = list(_active(CaseKind.NEGATIVE_ON_HAND).filter(Exists(recovered)).values_list("pk", flat=True))
    return _in_batches(ids, lambda batch: services.cases_resolve_cleared(
        batch, note="On-hand is back at zero or above."))


def sla_breaches_escalate() -> int:
    """Escalate every active case past its SLA: flag, overdue urgency, top of its queue."""
    ids = list(Case.objects.filter(status__in=ACTIVE_STATUSES, escalated=False, sla_due_at__lt=timezone.now())
               .values_list("pk", flat=True))
    return _in_batches(ids, services.cases_escalate)


@dataclass
class DriftRun:
    drifts: int
    cleared: int


def ledger_drift_detect() -> DriftRun:
    """The nightly `verify_ledger` check: a case per drifting level and bucket; cases whose
    drift is gone are flagged for a person to confirm."""
    drifts = ledger_drifts()
    report_drifts(drifts)
    current = {f"ledger_drift:{d.sku_id}:{d.location_id}:{d.bucket}" for d in drifts}
    gone = [pk for pk, key in _active(CaseKind.LEDGER_DRIFT).values_list("pk", "dedup_key") if key not in current]
    cleared = _in_batches(gone, lambda batch: services.cases_mark_cleared(
        batch, note="the level matches its movements again"))
    return DriftRun(drifts=len(drifts), cleared=cleared)


@dataclass
class StaleRun:
    raised: int
    resolved: int


def stale_levels_detect(*, days: int | None = None) -> StaleRun:
    """A level that keeps losing stock but has not been counted for `days` days (and has
    existed that long) gets a stale_level case; one counted since is auto-resolved."""
    days = days if days is not None else settings.CASE_STALE_LEVEL_DAYS
    since = timezone.now() - timedelta(days=days)
    same_level = {"sku_id": OuterRef("sku_id"), "location_id": OuterRef("location_id")}
    selling = StockMovement.objects.filter(**same_level, bucket=Bucket.ON_HAND, delta__lt=0, occurred_at__gte=since)
    existed = StockMovement.objects.filter(**same_level, occurred_at__lt=since)
    stale = (
        StockLevel.objects.filter(Q(last_counted_at__isnull=True) | Q(last_counted_at__lt=since))
        .filter(Exists(selling), Exists(existed)).select_related("sku", "location")
    )
    reports = [
        CaseReport(
            kind=CaseKind.STALE_LEVEL,
            dedup_key=f"stale_level:{level.sku_id}:{level.location_id}",
            title=f"{level.sku.code} at {level.location.code} keeps selling but was not counted for {days} days",
            subject=level, sku_id=level.sku_id, location_id=level.location_id,
            money_at_risk=Decimal(max(level.on_hand, 0)) * level.sku.price,
            context={"on_hand": level.on_hand,
                     "last_counted_at": level.last_counted_at.isoformat() if level.last_counted_at else None},
        )
        for level in stale
    ]
    raise_cases(reports)
    counted = StockLevel.objects.filter(**same_level, last_counted_at__gte=since)
    ids = list(_active(CaseKind.STALE_LEVEL).filter(Exists(counted)).values_list("pk", flat=True))
    resolved = _in_batches(ids, lambda batch: services.cases_resolve_cleared(batch, note="The level was counted."))
    return StaleRun(raised=len(reports), resolved=resolved)
