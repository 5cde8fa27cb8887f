"""Adjustments of on-hand and finance's approval of them."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from inventory.models.master_data import Location, Sku
from inventory.models.stock import InventoryEvent
from inventory.states import AdjustmentStatus


def default_approval_threshold() -> Decimal:
    return settings.APPROVAL_THRESHOLD


class ApprovalPolicy(models.Model):
    """How much an adjustment may be worth before finance must approve it.

    One row is active at a time (ops admins edit it in the Django admin; the history keeps
    every earlier version). Without a row, `settings.APPROVAL_THRESHOLD` applies alone.
    """

    threshold = models.DecimalField(
        max_digits=14, decimal_places=2, default=default_approval_threshold,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="An adjustment worth this much or more needs a finance approver.",
    )
    second_threshold = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(Decimal("0"))],
        help_text="Optional: worth this much or more needs two different finance approvers.",
    )
    active = models.BooleanField(default=True)
    note = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "approval policies"
        constraints = [
            models.UniqueConstraint(fields=["active"], condition=models.Q(active=True),
                                    name="one_active_approval_policy"),
            models.CheckConstraint(
                condition=models.Q(second_threshold__isnull=True)
                | models.Q(second_threshold__gte=models.F("threshold")),
                name="approval_second_threshold_above_first",
            ),
        ]

    def __str__(self) -> str:
        second = f", two approvers from {self.second_threshold}" if self.second_threshold is not None else ""
        return f"approval from {self.threshold}{second}"

    def approvals_required(self, value: Decimal) -> int:
        if self.second_threshold is not None and value >= self.second_threshold:
            return 2
        return 1 if value >= self.threshold else 0


class Adjustment(models.Model):
    """A correction of on-hand at one level, valued and routed through the approval policy.

    A plain adjustment is relative (`delta`); one made from a count also keeps what was
    counted and when, so applying it later can re-derive the difference (see
    `inventory.adjustments`). Its movement carries document type `adjustment` and its id.
    """

    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    delta = models.IntegerField()
    reason = models.CharField(max_length=32)
    root_cause = models.CharField(max_length=64, blank=True)
    note = models.TextField(blank=True)
    reference = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=24, choices=AdjustmentStatus.choices, default=AdjustmentStatus.DRAFT)
    # What the requester saw: the compare-and-set value they sent, and the level then.
    expected_on_hand = models.IntegerField(null=True, blank=True)
    on_hand_at_request = models.IntegerField()
    unit_cost = models.DecimalField(max_digits=12, decimal_places=2)
    value = models.DecimalField(max_digits=14, decimal_places=2)
    approvals_required = models.PositiveSmallIntegerField(default=0)
    # Set for adjustments made from a count: the counted quantity and when it was counted.
    counted_quantity = models.IntegerField(null=True, blank=True)
    counted_at = models.DateTimeField(null=True, blank=True)
    # No database constraint: events are partitioned on PostgreSQL (see `StockMovement.event`).
    event = models.OneToOneField(InventoryEvent, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="adjustment", db_constraint=False)
    requested_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    source_system = models.CharField(max_length=64, blank=True, help_text="Code of the partner system, if any.")
    applied_delta = models.IntegerField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    # When it happened: a service may be told a past time (e.g. the demo history).
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        permissions = [("approve_adjustment", "Can approve or reject adjustments (finance)")]
        constraints = [models.CheckConstraint(condition=~models.Q(delta=0), name="adjustment_delta_not_zero")]
        indexes = [
            models.Index(fields=["status", "-id"], name="adjustment_status"),
            models.Index(fields=["location", "status"], name="adjustment_location_status"),
            # The dashboard's value per week: adjustments applied within a span.
            models.Index(fields=["applied_at"], name="adjustment_applied",
                         condition=models.Q(status=AdjustmentStatus.APPLIED)),
        ]

    def __str__(self) -> str:
        return f"adjustment {self.pk}: {self.delta:+d} ({self.status})"

    DOCUMENT_TYPE = "adjustment"

    @property
    def needs_two_approvers(self) -> bool:
        """Worth the policy's second threshold or more when it was requested."""
        return self.approvals_required >= 2

    @property
    def is_count(self) -> bool:
        return self.counted_at is not None


class AdjustmentDecision(models.Model):
    """One finance decision on an adjustment: who, when, approve or reject, and why."""

    class Decision(models.TextChoices):
        APPROVE = "approve"
        REJECT = "reject"

    adjustment = models.ForeignKey(Adjustment, on_delete=models.PROTECT, related_name="decisions")
    decided_by = models.ForeignKey("auth.User", on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    note = models.TextField(blank=True)
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # The two approvals of a two-approver adjustment come from two different people.
            models.UniqueConstraint(fields=["adjustment", "decided_by"], condition=models.Q(decision="approve"),
                                    name="one_approval_per_person"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} of adjustment {self.adjustment_id} by {self.decided_by_id}"
