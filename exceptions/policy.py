"""Per-kind defaults: which team's queue, how urgent, how much it weighs.

SLA hours can be overridden with the CASE_SLA_HOURS setting ({"kind": hours}).
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings

from exceptions.states import CaseKind, Queue, Severity


@dataclass(frozen=True)
class KindPolicy:
    queue: str
    severity: str
    sla_hours: int
    weight: Decimal


POLICIES: dict[str, KindPolicy] = {
    CaseKind.NEGATIVE_ON_HAND: KindPolicy(Queue.INVENTORY_CONTROL, Severity.HIGH, 24, Decimal("1.5")),
    CaseKind.DUPLICATE_CONFLICT: KindPolicy(Queue.INTEGRATION, Severity.MEDIUM, 48, Decimal("1.0")),
    CaseKind.STALE_EVENT: KindPolicy(Queue.INVENTORY_CONTROL, Severity.LOW, 72, Decimal("0.8")),
    CaseKind.REJECTED_EVENT: KindPolicy(Queue.INTEGRATION, Severity.MEDIUM, 24, Decimal("1.0")),
    CaseKind.SYNC_FAILED: KindPolicy(Queue.INTEGRATION, Severity.HIGH, 8, Decimal("1.2")),
    CaseKind.DEAD_LETTER: KindPolicy(Queue.INTEGRATION, Severity.HIGH, 8, Decimal("1.2")),
    CaseKind.SYNC_LAGGING: KindPolicy(Queue.INTEGRATION, Severity.HIGH, 4, Decimal("1.5")),
    CaseKind.RECONCILIATION_VARIANCE: KindPolicy(Queue.INVENTORY_CONTROL, Severity.MEDIUM, 48, Decimal("1.0")),
    CaseKind.TRANSFER_VARIANCE: KindPolicy(Queue.INVENTORY_CONTROL, Severity.MEDIUM, 48, Decimal("1.0")),
    CaseKind.RECEIPT_VARIANCE: KindPolicy(Queue.INVENTORY_CONTROL, Severity.MEDIUM, 48, Decimal("1.0")),
    CaseKind.RESERVATION_FAILURE: KindPolicy(Queue.INVENTORY_CONTROL, Severity.MEDIUM, 24, Decimal("1.0")),
    CaseKind.PICKUP_OVERDUE: KindPolicy(Queue.STORE_OPS, Severity.HIGH, 4, Decimal("2.0")),
    CaseKind.RETURN_UNRECONCILED: KindPolicy(Queue.FINANCE, Severity.MEDIUM, 72, Decimal("1.0")),
    CaseKind.ANOMALY: KindPolicy(Queue.INVENTORY_CONTROL, Severity.MEDIUM, 72, Decimal("0.8")),
    CaseKind.LEDGER_DRIFT: KindPolicy(Queue.INVENTORY_CONTROL, Severity.CRITICAL, 4, Decimal("3.0")),
    CaseKind.STALE_LEVEL: KindPolicy(Queue.INVENTORY_CONTROL, Severity.LOW, 168, Decimal("0.5")),
}

# A kind another app added to CaseKind before it got a policy row still gets a queue.
DEFAULT_POLICY = KindPolicy(Queue.INVENTORY_CONTROL, Severity.MEDIUM, 48, Decimal("1.0"))

# An escalated case (SLA breached) ranks with the urgency of an overdue one.
ESCALATED_URGENCY = Decimal("3.0")


def policy_for(kind: str) -> KindPolicy:
    if kind not in CaseKind.values:
        raise ValueError(f"Unknown case kind '{kind}'.")
    return POLICIES.get(kind, DEFAULT_POLICY)


def sla_for(kind: str) -> timedelta:
    overrides = getattr(settings, "CASE_SLA_HOURS", {}) or {}
    return timedelta(hours=float(overrides.get(kind, policy_for(kind).sla_hours)))
