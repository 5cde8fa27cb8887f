"""Demo case history: 90 days of cases opened and closed in each team's queue, so the
dashboard's flow, aging and SLA figures mean something on `make run`.

Deterministic (the seed draws every case) and idempotent (each case's dedup key names the
seed and its number; a second run finds them and adds nothing). Written set-based, with
their history rows, through simple-history's bulk helper.
"""

import random
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from exceptions import policy
from exceptions.models import Case
from exceptions.states import CaseKind, CaseStatus, RootCause

HISTORY_DAYS = 90
CASES_PER_DAY = 6
# Kinds the demo history draws from (what a quarter at a retailer mostly raises).
DEMO_KINDS = [CaseKind.NEGATIVE_ON_HAND, CaseKind.STALE_EVENT, CaseKind.REJECTED_EVENT, CaseKind.SYNC_FAILED,
              CaseKind.RESERVATION_FAILURE, CaseKind.PICKUP_OVERDUE, CaseKind.TRANSFER_VARIANCE]
ROOT_CAUSES = [RootCause.MISCOUNT, RootCause.SHRINK, RootCause.DATA_ENTRY, RootCause.PARTNER_ERROR,
               RootCause.SYNC_DELAY, RootCause.PROCESS_GAP]


def seed_case_history(*, location_ids: list[int], seed: int, now=None) -> int:
    """Cases first seen over the last 90 days at the given locations; most closed within
    their SLA, some late, the recent ones partly still open. Returns the cases added."""
    prefix = f"demo-history:{seed}:"
    if Case.objects.filter(dedup_key__startswith=prefix).exists():
        return 0
    now = now or timezone.now()
    rng = random.Random(f"{seed}:cases")
    cases = []
    for number in range(HISTORY_DAYS * CASES_PER_DAY):
        kind = rng.choice(DEMO_KINDS)
        kind_policy = policy.policy_for(kind)
        first_seen = now - timedelta(days=rng.uniform(0.2, HISTORY_DAYS))
        sla_due = first_seen + policy.sla_for(kind)
        age_days = (now - first_seen).days
        closes = rng.random() < (0.97 if age_days > 7 else 0.6)
        took = timedelta(hours=rng.uniform(0.5, 2.2) * kind_policy.sla_hours)
        resolved_at = first_seen + took if closes and first_seen + took < now else None
        money = Decimal(rng.randint(5, 900))
        cases.append(Case(
            kind=kind, queue=kind_policy.queue, severity=kind_policy.severity,
            status=CaseStatus.RESOLVED if resolved_at else CaseStatus.OPEN,
            title=f"{CaseKind(kind).label} (demo history)", location_id=rng.choice(location_ids),
            dedup_key=f"{prefix}{number}", first_seen_at=first_seen, last_seen_at=first_seen, sla_due_at=sla_due,
            money_at_risk=money, priority=money, priority_factors={"money_at_risk": str(money)},
            root_cause=rng.choice(ROOT_CAUSES) if resolved_at else "",
            resolution_note="demo history" if resolved_at else "", resolved_at=resolved_at,
            escalated=resolved_at is None and sla_due < now, escalated_at=sla_due if resolved_at is None
            and sla_due < now else None,
        ))
    bulk_create_with_history(cases, Case, batch_size=1000, default_change_reason="demo history")
    return len(cases)
