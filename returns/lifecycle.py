"""The return's row lock and its one transition function, shared by every verb.

Every verb locks the return first, then its lines, always in that order (return, then
lines by id), so two people working one return queue up instead of deadlocking; a
posting's level locks come after, in the ledger's own order.
"""

from django.utils import timezone

from retailops.lifecycle import check_transition
from returns.models import Refund, ReturnAuthorization, ReturnLine
from returns.states import REFUND_TRANSITIONS, RETURN_TRANSITIONS, RefundStatus, ReturnStatus

# The moment each status is reached, stamped on the return.
_STAMPS = {
    ReturnStatus.PARTIALLY_RECEIVED: "received_at", ReturnStatus.RECEIVED: "received_at",
    ReturnStatus.INSPECTED: "inspected_at", ReturnStatus.REFUNDED: "refunded_at", ReturnStatus.CLOSED: "closed_at",
    ReturnStatus.CANCELLED: "cancelled_at", ReturnStatus.EXPIRED: "expired_at",
}


def return_lock(return_id: int) -> ReturnAuthorization:
    return ReturnAuthorization.objects.select_for_update().select_related("location").get(pk=return_id)


def lines_lock(authorization: ReturnAuthorization) -> list[ReturnLine]:
    """The return's lines, locked in id order, with their SKUs (the return is locked first)."""
    return list(ReturnLine.objects.select_for_update(of=("self",)).select_related("sku")
                .filter(return_authorization=authorization).order_by("pk"))


def return_transition(authorization: ReturnAuthorization, to: str, *, actor, reason: str, note: str = "") -> None:
    """Move a locked return to `to`, stamp when (the first time), and record who and why."""
    check_transition(RETURN_TRANSITIONS, authorization.status, to, noun="return")
    previous = authorization.status
    authorization.status = to
    fields = ["status", "updated_at"]
    stamp = _STAMPS.get(to)
    if stamp and getattr(authorization, stamp) is None:
        setattr(authorization, stamp, timezone.now())
        fields.append(stamp)
    authorization._history_user = actor
    authorization._change_reason = _reason(f"{reason}{': ' + note if note else ''} ({previous} → {to})")
    authorization.save(update_fields=fields)


def refund_transition(refund: Refund, to: str, *, actor, reason: str, fields: tuple[str, ...] = ()) -> None:
    """Move a locked (or new) refund to `to` and record who and why in its history."""
    check_transition(REFUND_TRANSITIONS, refund.status, to, noun="refund")
    previous = refund.status
    refund.status = to
    refund._history_user = actor
    refund._change_reason = _reason(f"{reason} ({previous} → {to})")
    if refund.pk is None:
        refund.save()
    else:
        refund.save(update_fields=["status", "updated_at", *fields])


def settle_if_done(authorization: ReturnAuthorization, *, actor) -> None:
    """An inspected return whose refund is paid is `refunded`, whichever came last."""
    if authorization.status != ReturnStatus.INSPECTED:
        return
    if authorization.refunds.filter(status=RefundStatus.REFUNDED).exists():
        return_transition(authorization, ReturnStatus.REFUNDED, actor=actor, reason="inspected and refunded")


def _reason(text: str) -> str:
    return text[:100]  # what simple-history keeps of a change reason
