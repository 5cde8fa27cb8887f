"""The periodic look at returns that beat runs (`returns.tasks.returns_unreconciled_detect`):

- a refund paid N days ago (RETURN_REFUND_WITHOUT_RECEIPT_DAYS) for a return whose units
  never (fully) arrived: money went out, the goods did not come back;
- units received N days ago (RETURN_RECEIPT_WITHOUT_REFUND_DAYS) on a return nobody
  refunded: the customer is waiting, or the refund went some other way;
- an authorisation nothing came back on for RETURN_AUTHORIZATION_EXPIRY_DAYS expires
  (unless a refund stands on it: that one is the first kind's business).

Each finds its returns in one query; each return's case is bumped, never duplicated.
Safe to run twice.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from retailops.transactions import in_retrying_transaction
from returns.cases import report_unreconciled
from returns.lifecycle import return_lock, return_transition
from returns.models import Refund, ReturnAuthorization
from returns.states import ACTIVE_REFUND_STATUSES, RefundStatus, ReturnStatus


def returns_unreconciled_detect(*, now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    found = {"refunded_not_received": 0, "received_not_refunded": 0, "expired": 0}
    refunded = Refund.objects.filter(status=RefundStatus.REFUNDED)
    late_refunds = (refunded.filter(
        refunded_at__lte=now - timedelta(days=settings.RETURN_REFUND_WITHOUT_RECEIPT_DAYS),
        return_authorization__status__in=(ReturnStatus.AUTHORIZED, ReturnStatus.PARTIALLY_RECEIVED))
        .select_related("return_authorization__location").order_by("pk"))
    for refund in late_refunds:
        days = (now - refund.refunded_at).days
        report_unreconciled(refund.return_authorization, why=f"refunded {days} days ago, units not received",
                            money_at_risk=refund.amount,
                            context={"refund": refund.pk, "refunded_at": refund.refunded_at.isoformat()})
        found["refunded_not_received"] += 1

    paid = refunded.filter(return_authorization=OuterRef("pk"))
    waiting = (ReturnAuthorization.objects.filter(
        status__in=(ReturnStatus.PARTIALLY_RECEIVED, ReturnStatus.RECEIVED, ReturnStatus.INSPECTED),
        received_at__lte=now - timedelta(days=settings.RETURN_RECEIPT_WITHOUT_REFUND_DAYS))
        .exclude(Exists(paid)).select_related("location").order_by("pk"))
    for authorization in waiting:
        days = (now - authorization.received_at).days
        report_unreconciled(authorization, why=f"received {days} days ago, not refunded",
                            context={"received_at": authorization.received_at.isoformat()})
        found["received_not_refunded"] += 1

    standing = Refund.objects.filter(return_authorization=OuterRef("pk"), status__in=ACTIVE_REFUND_STATUSES)
    stale = (ReturnAuthorization.objects.filter(
        status=ReturnStatus.AUTHORIZED,
        created_at__lte=now - timedelta(days=settings.RETURN_AUTHORIZATION_EXPIRY_DAYS))
        .exclude(Exists(standing)).values_list("pk", flat=True))
    for authorization_id in list(stale):
        found["expired"] += return_expire(authorization_id)
    return found


@in_retrying_transaction
def return_expire(authorization_id: int, *, actor=None, reason: str = "") -> int:
    """Expire an authorisation nothing came back on (1), unless something arrived or a
    refund stands on it meanwhile (0)."""
    locked = return_lock(authorization_id)
    if locked.status != ReturnStatus.AUTHORIZED or locked.refunds.filter(
            status__in=ACTIVE_REFUND_STATUSES).exists():
        return 0  # something arrived or a refund came meanwhile
    return_transition(locked, ReturnStatus.EXPIRED, actor=actor,
                      reason=reason or f"nothing came back within {settings.RETURN_AUTHORIZATION_EXPIRY_DAYS} days")
    return 1
