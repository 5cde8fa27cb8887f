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
from django.utils import timezone

from exceptions import services
from exceptions.selectors import active_cases
from exceptions.services import CaseReport, raise_cases
from exceptions.states import CaseKind
from inventory.ledger import ledger_drifts, report_drifts
from inventory.selectors import levels_counted_since, levels_selling_uncounted, on_hand_by_level

BATCH = 1000


def _in_batches(ids: list[int], work) -> int:
    return sum(work(ids[start:start + BATCH]) for start in range(0, len(ids), BATCH))


def _at_levels(kind: str) -> dict[int, tuple[int, int]]:
    """The active cases of `kind` that are about one level: case id → (sku id, location id)."""
    rows = active_cases(kind=kind).filter(sku__isnull=False, location__isnull=False)
    return {pk: (sku_id, location_id) for pk, sku_id, location_id in rows.values_list("pk", "sku_id", "location_id")}


def negative_on_hand_resolve_cleared() -> int:
    """Resolve negative on-hand cases whose level is back at zero or above."""
    cases = _at_levels(CaseKind.NEGATIVE_ON_HAND)
    on_hand = on_hand_by_level(cases.values())
    ids = sorted(pk for pk, key in cases.items() if key in on_hand and on_hand[key] >= 0)
    return _in_batches(ids, lambda batch: services.cases_resolve_cleared(
        batch, note="On-hand is back at zero or above."))


def sla_breaches_escalate() -> int:
    """Escalate every active case past its SLA: flag, overdue urgency, top of its queue."""
    ids = list(active_cases().filter(escalated=False, sla_due_at__lt=timezone.now()).values_list("pk", flat=True))
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
    gone = [pk for pk, key in active_cases(kind=CaseKind.LEDGER_DRIFT).values_list("pk", "dedup_key")
            if key not in current]
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
        for level in levels_selling_uncounted(since=since)
    ]
    raise_cases(reports)
    cases = _at_levels(CaseKind.STALE_LEVEL)
    counted = levels_counted_since(cases.values(), since=since)
    ids = sorted(pk for pk, key in cases.items() if key in counted)
    resolved = _in_batches(ids, lambda batch: services.cases_resolve_cleared(batch, note="The level was counted."))
    return StaleRun(raised=len(reports), resolved=resolved)
