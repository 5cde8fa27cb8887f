"""Refunds of returns, through the same approval policy as adjustments.

The active `ApprovalPolicy` (inventory.adjustments) decides: a refund worth its threshold
or more waits for a finance approver, and so does any refund asked for before a single
unit of the return arrived (money out before the goods are back); one worth its second
threshold or more waits for two different finance approvers. Otherwise it is paid at
once. The rule of who may decide is the adjustments' own (`approval_decider_check`,
`approval_counted`): nobody approves or rejects a refund they asked for (403
`self_approval`), nobody approves one twice (403 `duplicate_approver`). Every decision is
a `RefundDecision` row; the last approval it needs pays it.

A paid refund posts the return's credit note to the ERP through the outbox, in the same
transaction; each ERP system's message is linked to the return (`ReturnPosting`), so the
return shows its delivery status, and a dead letter opens a `return_unreconciled` case.
"""

from decimal import Decimal

from django.utils import timezone

from integrations import outbox
from inventory.adjustments import approval_counted, approval_decider_check, approval_policy_current
from inventory.errors import LocationOutOfScope
from retailops.access import LocationScope
from retailops.errors import InvalidInput, InvalidState
from retailops.lifecycle import check_transition
from retailops.transactions import in_retrying_transaction
from returns.cases import report_unreconciled
from returns.lifecycle import lines_lock, refund_transition, return_lock, settle_if_done
from returns.models import Refund, RefundDecision, ReturnAuthorization, ReturnPosting
from returns.states import (
    ACTIVE_REFUND_STATUSES,
    REFUND_TRANSITIONS,
    REFUNDABLE_STATUSES,
    RefundStatus,
    ReturnStatus,
)

APPROVE_PERMISSION = "returns.approve_refund"
MAX_AMOUNT = Decimal("999999999999.99")


def _check_scope(authorization: ReturnAuthorization, scope: LocationScope) -> None:
    if not scope.allows(authorization.location_id):
        raise LocationOutOfScope("The return's location is outside the caller's location scope.")


@in_retrying_transaction
def refund_request(*, authorization: ReturnAuthorization, amount: Decimal, actor, scope: LocationScope,
                   note: str = "") -> Refund:
    """Ask to pay `amount` back for a return: paid at once, or held for finance (see the
    module docstring). A return has at most one standing refund."""
    locked = return_lock(authorization.pk)
    _check_scope(locked, scope)
    if amount <= 0:
        raise InvalidInput("amount must be positive.", code="min_value", field="amount")
    if amount > MAX_AMOUNT:
        raise InvalidInput(f"amount must be at most {MAX_AMOUNT}.", code="max_value", field="amount")
    if locked.status not in REFUNDABLE_STATUSES:
        raise InvalidState(f"The return is {locked.status}; it cannot be refunded.", current_status=locked.status)
    standing = locked.refunds.filter(status__in=ACTIVE_REFUND_STATUSES).first()
    if standing is not None:
        raise InvalidState(f"Refund {standing.pk} of this return is already {standing.status}.",
                           current_status=locked.status)
    received = sum(line.received for line in lines_lock(locked))
    policy = approval_policy_current()
    approvals = policy.approvals_required(amount)
    held_for = (Refund.Hold.BEFORE_RECEIPT if received == 0
                else Refund.Hold.VALUE if approvals else Refund.Hold.NONE)
    refund = Refund(return_authorization=locked, amount=amount, requested_by=actor, held_for=held_for,
                    approvals_required=max(approvals, 1) if held_for else 0, decision_note="")
    refund._history_user = actor
    refund._change_reason = f"requested{': ' + note if note else ''}"[:100]
    refund.save()
    if held_for:
        two = " (two approvers)" if refund.needs_two_approvers else ""
        refund_transition(refund, RefundStatus.PENDING_APPROVAL, actor=actor,
                          reason=f"held for finance{two}: {Refund.Hold(held_for).label.lower()}")
        return refund
    refund_transition(refund, RefundStatus.APPROVED, actor=actor, reason=f"{amount} is below the approval threshold")
    _pay(locked, refund, actor=actor)
    return refund


def _check_decider(refund: Refund, user) -> None:
    approval_decider_check(user=user, requested_by_id=refund.requested_by_id, permission=APPROVE_PERMISSION,
                           not_approver="Only finance approves or rejects refunds.",
                           self_approval="Nobody approves or rejects their own refund.")


def _lock_refund(authorization: ReturnAuthorization) -> tuple[ReturnAuthorization, Refund]:
    """The return, then its standing refund, locked in that order."""
    locked = return_lock(authorization.pk)
    refund = (Refund.objects.select_for_update().filter(return_authorization=locked)
              .filter(status__in=ACTIVE_REFUND_STATUSES).first())
    if refund is None:
        raise InvalidState("No refund of this return waits for a decision.", current_status=locked.status)
    return locked, refund


@in_retrying_transaction
def refund_approve(*, authorization: ReturnAuthorization, approver, note: str = "") -> Refund:
    """Finance approves the held refund of a return. The last approval it needs (two from
    different people at the policy's second threshold) pays it; an earlier one is recorded
    and the refund keeps waiting."""
    locked, refund = _lock_refund(authorization)
    _check_decider(refund, approver)
    check_transition(REFUND_TRANSITIONS, refund.status, RefundStatus.APPROVED, noun="refund")
    earlier = set(refund.decisions.filter(decision=RefundDecision.Decision.APPROVE)
                  .values_list("decided_by_id", flat=True))
    approvals, enough = approval_counted(approver=approver, earlier_approvers=earlier,
                                         required=refund.approvals_required)
    RefundDecision.objects.create(refund=refund, decided_by=approver, decision=RefundDecision.Decision.APPROVE,
                                  note=note)
    required = max(refund.approvals_required, 1)
    if not enough:
        refund._history_user = approver
        refund._change_reason = f"approval {approvals} of {required}{': ' + note if note else ''}"[:100]
        refund.save(update_fields=["updated_at"])
        return refund
    refund.decided_by, refund.decided_at, refund.decision_note = approver, timezone.now(), note
    refund_transition(refund, RefundStatus.APPROVED, actor=approver,
                      reason=f"approved ({approvals} of {required}){': ' + note if note else ''}",
                      fields=("decided_by", "decided_at", "decision_note"))
    _pay(locked, refund, actor=approver)
    return refund


@in_retrying_transaction
def refund_reject(*, authorization: ReturnAuthorization, decider, note: str) -> Refund:
    """Finance rejects the held refund of a return; the note (why) is required."""
    if not note or not note.strip():
        raise InvalidInput("A rejection needs a note saying why.", code="required", field="note")
    _locked, refund = _lock_refund(authorization)
    _check_decider(refund, decider)
    check_transition(REFUND_TRANSITIONS, refund.status, RefundStatus.REJECTED, noun="refund")
    RefundDecision.objects.create(refund=refund, decided_by=decider, decision=RefundDecision.Decision.REJECT,
                                  note=note)
    refund.decided_by, refund.decided_at, refund.decision_note = decider, timezone.now(), note
    refund_transition(refund, RefundStatus.REJECTED, actor=decider, reason=f"rejected: {note}",
                      fields=("decided_by", "decided_at", "decision_note"))
    return refund


def _pay(authorization: ReturnAuthorization, refund: Refund, *, actor) -> None:
    """Mark the approved refund paid, post its credit note to the ERP (one message per
    ERP system, linked to the return), and settle the return if it is inspected."""
    refund.refunded_at = timezone.now()
    refund_transition(refund, RefundStatus.REFUNDED, actor=actor, reason="refunded", fields=("refunded_at",))
    messages = outbox.document_enqueue(document_type=Refund.DOCUMENT_TYPE,
                                       document=_credit_note(authorization, refund))
    postings = [ReturnPosting(return_authorization=authorization, refund=refund, document_type=Refund.DOCUMENT_TYPE,
                              message=message, system_code=message.system.code) for message in messages]
    if not postings:  # no ERP to tell: shown as not sent, never silently missing
        postings = [ReturnPosting(return_authorization=authorization, refund=refund,
                                  document_type=Refund.DOCUMENT_TYPE)]
    for posting in postings:
        posting._history_user = actor
        posting._change_reason = "credit note posted through the outbox"
        posting.save()
    settle_if_done(authorization, actor=actor)
    if authorization.status in (ReturnStatus.AUTHORIZED, ReturnStatus.PARTIALLY_RECEIVED):
        authorization._history_user = actor
        authorization._change_reason = f"refunded {refund.amount} before the units arrived"[:100]
        authorization.save(update_fields=["updated_at"])


def _credit_note(authorization: ReturnAuthorization, refund: Refund) -> dict:
    lines = authorization.lines.select_related("sku").order_by("pk")
    return {
        "id": f"return-{authorization.pk}-refund-{refund.pk}",
        "return": authorization.pk,
        "external_id": authorization.external_id,
        "order": authorization.order_id,
        "location": authorization.location.code,
        "amount": str(refund.amount),
        "refunded_at": refund.refunded_at.isoformat(),
        "lines": [{"sku": line.sku.code, "authorized": line.authorized, "received": line.received,
                   "restocked": line.restocked, "damaged": line.damaged, "written_off": line.written_off,
                   "returned_to_vendor": line.returned_to_vendor, "unit_price": str(line.sku.price)}
                  for line in lines],
    }


def return_postings_dead_lettered(*, message_ids: list[int], actor=None) -> int:
    """The relay gave up on these outbox messages: each one that carried a return's
    credit note opens (or bumps) that return's `return_unreconciled` case, naming the
    message. Returns how many returns it concerned."""
    postings = (ReturnPosting.objects.filter(message_id__in=message_ids)
                .select_related("return_authorization__location", "refund"))
    for posting in postings:
        report_unreconciled(
            posting.return_authorization, why=f"its credit note to {posting.system_code} is a dead letter",
            actor=actor, money_at_risk=posting.refund.amount,
            context={"posting": posting.pk, "message_id": posting.message_id, "system": posting.system_code})
    return len(postings)

