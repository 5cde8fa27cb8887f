"""Return authorisation and refund statuses, and the moves between them.

The tables are the whole lifecycle: a move not listed raises `InvalidState` (409
`invalid_state`), checked under the return's row lock by `returns.services`.

A return follows the units: authorised → (partially) received → inspected → refunded →
closed; cancelled or expired before anything arrived. The refund has a lifecycle of its
own (it may even come before the units, with finance's approval); the return becomes
`refunded` once it is both inspected and refunded, whichever happened last.
"""

from django.db import models


class ReturnStatus(models.TextChoices):
    AUTHORIZED = "authorized"
    PARTIALLY_RECEIVED = "partially_received", "Partially received"
    RECEIVED = "received"
    INSPECTED = "inspected"
    REFUNDED = "refunded"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


RETURN_TRANSITIONS: dict[str, set[str]] = {
    ReturnStatus.AUTHORIZED: {ReturnStatus.PARTIALLY_RECEIVED, ReturnStatus.RECEIVED, ReturnStatus.CANCELLED,
                              ReturnStatus.EXPIRED},
    # Another parcel of the same return; or the customer keeps the rest and it is closed short.
    ReturnStatus.PARTIALLY_RECEIVED: {ReturnStatus.PARTIALLY_RECEIVED, ReturnStatus.RECEIVED, ReturnStatus.CLOSED},
    ReturnStatus.RECEIVED: {ReturnStatus.INSPECTED},
    ReturnStatus.INSPECTED: {ReturnStatus.REFUNDED, ReturnStatus.CLOSED},
    ReturnStatus.REFUNDED: {ReturnStatus.CLOSED},
    ReturnStatus.CLOSED: set(),
    ReturnStatus.CANCELLED: set(),
    ReturnStatus.EXPIRED: set(),
}

# Units may arrive while the return is in one of these.
RECEIVING_STATUSES = (ReturnStatus.AUTHORIZED, ReturnStatus.PARTIALLY_RECEIVED)
# Units that arrived may be inspected while the return is in one of these.
INSPECTING_STATUSES = (ReturnStatus.PARTIALLY_RECEIVED, ReturnStatus.RECEIVED)
# A refund may be asked for while the return is in one of these.
REFUNDABLE_STATUSES = (ReturnStatus.AUTHORIZED, ReturnStatus.PARTIALLY_RECEIVED, ReturnStatus.RECEIVED,
                       ReturnStatus.INSPECTED)
# Still open: the aging filter and the periodic checks look at these.
OPEN_STATUSES = (ReturnStatus.AUTHORIZED, ReturnStatus.PARTIALLY_RECEIVED, ReturnStatus.RECEIVED,
                 ReturnStatus.INSPECTED, ReturnStatus.REFUNDED)


class Disposition(models.TextChoices):
    """What inspection decides for a group of units (API.md "Returns")."""

    RESTOCK = "restock", "Restock (available again)"
    DAMAGED = "damaged", "Damaged (kept, not for sale)"
    WRITE_OFF = "write_off", "Write off"
    RETURN_TO_VENDOR = "return_to_vendor", "Return to vendor"


class RefundStatus(models.TextChoices):
    REQUESTED = "requested"
    PENDING_APPROVAL = "pending_approval", "Waiting for finance"
    APPROVED = "approved"
    REFUNDED = "refunded"
    REJECTED = "rejected"


REFUND_TRANSITIONS: dict[str, set[str]] = {
    # Below the policy's threshold and after a receipt it is paid at once; else finance decides.
    RefundStatus.REQUESTED: {RefundStatus.PENDING_APPROVAL, RefundStatus.APPROVED},
    RefundStatus.PENDING_APPROVAL: {RefundStatus.APPROVED, RefundStatus.REJECTED},
    # Approving pays in the same transaction; `approved` is seen in the history only.
    RefundStatus.APPROVED: {RefundStatus.REFUNDED},
    RefundStatus.REFUNDED: set(),
    RefundStatus.REJECTED: set(),
}

# A refund in one of these stands: a return has at most one (a rejected one may be asked again).
ACTIVE_REFUND_STATUSES = (RefundStatus.REQUESTED, RefundStatus.PENDING_APPROVAL, RefundStatus.APPROVED,
                          RefundStatus.REFUNDED)
