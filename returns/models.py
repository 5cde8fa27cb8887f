"""Returns: the authorisation and its lines, what arrived, what inspection decided, the
refund and its posting to the ERP.

Quantities on a line are the return's own record of the units; the stock itself moves
only through `inventory.ledger.post_movements` (document type `return`, the return's id),
called by `returns.services`. Receipts and inspections are append-only: each row is one
group of units, with who and when.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from returns.states import ACTIVE_REFUND_STATUSES, Disposition, RefundStatus, ReturnStatus


class ReturnAuthorization(models.Model):
    """A customer return: which units may come back to which location, and why."""

    external_id = models.CharField(max_length=255, help_text="The partner's return number (RA).")
    # The partner system that authorised it ("" for staff): partners see only their own.
    source_system = models.CharField(max_length=64, blank=True)
    # The order the units were sold on, by id (orders is a sibling app: an id, not a key).
    order_id = models.PositiveBigIntegerField(null=True, blank=True)
    location = models.ForeignKey("inventory.Location", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=24, choices=ReturnStatus.choices, default=ReturnStatus.AUTHORIZED)
    # False for units that arrived with no authorisation: recorded as they are, and a case.
    authorized = models.BooleanField(default=True)
    note = models.TextField(blank=True)
    # A return taken at a till whose location inspects returns: the till's reference for
    # it (its receipt number), or the event id when it sent none. The desk finds it by this.
    till_reference = models.CharField(max_length=255, blank=True)
    content_hash = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    received_at = models.DateTimeField(null=True, blank=True, help_text="When the first units arrived.")
    inspected_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    DOCUMENT_TYPE = "return"

    class Meta:
        permissions = [("approve_refund", "Can approve or reject refunds of returns (finance)")]
        constraints = [
            models.UniqueConstraint(fields=["source_system", "external_id"], name="return_external_id_per_system"),
            # Events of one till return add to one return while it waits for inspection.
            models.UniqueConstraint(
                fields=["source_system", "location", "till_reference"], name="one_open_till_return_per_reference",
                condition=models.Q(authorized=False, status=ReturnStatus.RECEIVED) & ~models.Q(till_reference="")),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="return_status_created"),
            models.Index(fields=["location", "status"], name="return_location_status"),
            models.Index(fields=["order_id"], name="return_order", condition=models.Q(order_id__isnull=False)),
            # The dashboard's returns cycle time: the returns refunded in a span.
            models.Index(fields=["refunded_at"], name="return_refunded",
                         condition=models.Q(refunded_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"return {self.external_id} ({self.status})"

    # Read from prefetched rows (`returns.selectors.returns_for`): no query per return.
    @property
    def current_refund(self) -> "Refund | None":
        """The standing refund, else the latest rejected one, else None."""
        refunds = sorted(self.refunds.all(), key=lambda refund: refund.pk, reverse=True)
        standing = [refund for refund in refunds if refund.status in ACTIVE_REFUND_STATUSES]
        return (standing or refunds or [None])[0]

    @property
    def erp_posting_status(self) -> str | None:
        """How the credit note fares: dead (any ERP gave up), pending, delivered, or
        not_sent (no ERP was enabled); None before any refund was paid."""
        statuses = {posting.status for posting in self.postings.all()}
        if not statuses:
            return None
        for status in ("dead", "pending", "not_sent"):
            if status in statuses:
                return status
        return "delivered"


class ReturnLine(models.Model):
    """One SKU of a return: authorised, arrived, and where the arrived units went."""

    return_authorization = models.ForeignKey(ReturnAuthorization, on_delete=models.PROTECT, related_name="lines")
    sku = models.ForeignKey("inventory.Sku", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=255, blank=True)
    authorized = models.PositiveIntegerField()
    received = models.PositiveIntegerField(default=0)
    restocked = models.PositiveIntegerField(default=0)
    damaged = models.PositiveIntegerField(default=0)
    written_off = models.PositiveIntegerField(default=0)
    returned_to_vendor = models.PositiveIntegerField(default=0)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["return_authorization", "sku"], name="return_line_per_sku"),
            models.CheckConstraint(
                condition=models.Q(received__gte=models.F("restocked") + models.F("damaged") + models.F("written_off")
                                   + models.F("returned_to_vendor")),
                name="return_line_inspects_no_more_than_received",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.authorized} × {self.sku_id}"

    @property
    def inspected(self) -> int:
        return self.restocked + self.damaged + self.written_off + self.returned_to_vendor

    @property
    def awaiting_inspection(self) -> int:
        """Arrived and still in quality control."""
        return self.received - self.inspected


# The line's column that counts the units of each disposition.
DISPOSITION_FIELD = {
    Disposition.RESTOCK: "restocked",
    Disposition.DAMAGED: "damaged",
    Disposition.WRITE_OFF: "written_off",
    Disposition.RETURN_TO_VENDOR: "returned_to_vendor",
}


class ReturnReceipt(models.Model):
    """Units of one line that arrived, and who took them in. Append-only."""

    return_authorization = models.ForeignKey(ReturnAuthorization, on_delete=models.PROTECT, related_name="receipts")
    line = models.ForeignKey(ReturnLine, on_delete=models.PROTECT, related_name="receipts")
    quantity = models.PositiveIntegerField()
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    received_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=2000, blank=True)
    # The receipt's source when the units came back at a till: the POS `return` event that
    # put them into quality control (its units are on the ledger through that event).
    # No database constraint: events are partitioned on PostgreSQL, and a foreign key must
    # name a unique key of its target, which there includes the partition key (see
    # `inventory.models.StockMovement.event`).
    event = models.ForeignKey("inventory.InventoryEvent", null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+", db_constraint=False)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="return_receipt_positive"),
            models.UniqueConstraint(fields=["event"], condition=models.Q(event__isnull=False),
                                    name="return_receipt_once_per_event"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} received on line {self.line_id}"


class ReturnInspection(models.Model):
    """A group of arrived units inspected together and their disposition. Append-only."""

    return_authorization = models.ForeignKey(ReturnAuthorization, on_delete=models.PROTECT,
                                             related_name="inspections")
    line = models.ForeignKey(ReturnLine, on_delete=models.PROTECT, related_name="inspections")
    disposition = models.CharField(max_length=16, choices=Disposition.choices)
    quantity = models.PositiveIntegerField()
    inspected_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    inspected_at = models.DateTimeField(auto_now_add=True)
    note = models.CharField(max_length=2000, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(quantity__gt=0), name="return_inspection_positive")]

    def __str__(self) -> str:
        return f"{self.quantity} {self.disposition} on line {self.line_id}"


class Refund(models.Model):
    """The money back for a return, through the refund approval policy."""

    class Hold(models.TextChoices):
        NONE = "", "Not held"
        VALUE = "value", "Worth the approval threshold or more"
        BEFORE_RECEIPT = "before_receipt", "Refund before any unit arrived"

    return_authorization = models.ForeignKey(ReturnAuthorization, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    status = models.CharField(max_length=24, choices=RefundStatus.choices, default=RefundStatus.REQUESTED)
    held_for = models.CharField(max_length=16, choices=Hold.choices, blank=True)
    # What the approval policy asked when it was requested: 0 (paid at once), 1, or 2 (worth
    # its second threshold or more: two different finance approvers).
    approvals_required = models.PositiveSmallIntegerField(default=0)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    DOCUMENT_TYPE = "credit_note"

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=Decimal("0")), name="refund_amount_positive"),
            models.UniqueConstraint(fields=["return_authorization"], name="one_active_refund_per_return",
                                    condition=models.Q(status__in=ACTIVE_REFUND_STATUSES)),
        ]
        indexes = [models.Index(fields=["status", "-amount"], name="refund_status_amount")]

    def __str__(self) -> str:
        return f"refund {self.pk} of {self.amount} ({self.status})"

    @property
    def needs_two_approvers(self) -> bool:
        """Worth the approval policy's second threshold or more when it was requested."""
        return self.approvals_required >= 2

    # Read from prefetched decisions (`returns.selectors.refunds_pending_for`).
    @property
    def approvers(self) -> list:
        """Who approved it so far, in order."""
        return [decision.decided_by for decision in sorted(self.decisions.all(), key=lambda d: d.pk)
                if decision.decision == RefundDecision.Decision.APPROVE]

    @property
    def approver_ids(self) -> list[int]:
        return [user.pk for user in self.approvers]


class RefundDecision(models.Model):
    """One finance decision on a held refund: who, when, approve or reject, and why.
    Append-only; the refund's history has the status changes they caused."""

    class Decision(models.TextChoices):
        APPROVE = "approve"
        REJECT = "reject"

    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, related_name="decisions")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    note = models.TextField(blank=True)
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # The two approvals of a two-approver refund come from two different people.
            models.UniqueConstraint(fields=["refund", "decided_by"], condition=models.Q(decision="approve"),
                                    name="one_refund_approval_per_person"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} of refund {self.refund_id} by {self.decided_by_id}"


class ReturnPosting(models.Model):
    """The return's document for one ERP system, sent through the outbox. Its delivery
    status is the outbox message's; `message` is empty when no ERP system was enabled."""

    return_authorization = models.ForeignKey(ReturnAuthorization, on_delete=models.PROTECT, related_name="postings")
    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, related_name="postings")
    document_type = models.CharField(max_length=32)
    message = models.OneToOneField("integrations.OutboxMessage", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    system_code = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"{self.document_type} of return {self.return_authorization_id} → {self.system_code or 'no ERP'}"

    @property
    def status(self) -> str:
        """pending | delivered | dead (a dead letter) | superseded | not_sent (no ERP)."""
        return self.message.status if self.message is not None else "not_sent"
