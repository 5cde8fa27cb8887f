"""Cycle counts: scheduled, counted blind, turned into adjustments."""

from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from inventory.models.adjustments import Adjustment
from inventory.models.master_data import Location, Sku
from inventory.states import CycleCountStatus


class CycleCount(models.Model):
    """A count of some SKUs at one location: scheduled by ops, entered blind by the people
    on the floor, turned into adjustments on submission (see `inventory.counts`).

    scheduled → in_progress → submitted → accepted, or → recount_requested → in_progress
    again (the next round); cancelled before it is submitted.
    """

    class Selection(models.TextChoices):
        EXPLICIT = "explicit", "Chosen SKUs"
        VARIANCE_CASES = "variance_cases", "SKUs with open variance cases"
        RANDOM_SAMPLE = "random_sample", "Random sample of carried SKUs"

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="cycle_counts")
    status = models.CharField(max_length=24, choices=CycleCountStatus.choices, default=CycleCountStatus.SCHEDULED)
    selection = models.CharField(max_length=16, choices=Selection.choices)
    sample_size = models.PositiveIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    round = models.PositiveSmallIntegerField(default=1, help_text="1, then one more per recount.")
    scheduled_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    assigned_to = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(null=True, blank=True)
    submitted_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    accepted_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # When it happened: a service may be told a past time (e.g. the demo history).
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    DOCUMENT_TYPE = "cycle_count"

    class Meta:
        permissions = [("review_cyclecount", "Can accept a submitted count or ask for a recount")]
        indexes = [
            models.Index(fields=["location", "status"], name="cycle_count_location_status"),
            # The dashboard's accuracy: counts submitted within a span.
            models.Index(fields=["submitted_at"], name="cycle_count_submitted"),
        ]

    def __str__(self) -> str:
        return f"count {self.pk} at {self.location_id} ({self.status})"

    @property
    def reference(self) -> str:
        """What its adjustments carry as `reference`, every round's alike."""
        return f"{self.DOCUMENT_TYPE}:{self.pk}"


class CycleCountLine(models.Model):
    """One SKU to count. `system_quantity` is the ledger's on-hand snapshot taken when the
    count is submitted: never shown to the counter (the count is blind)."""

    count = models.ForeignKey(CycleCount, on_delete=models.CASCADE, related_name="lines")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    counted_quantity = models.PositiveIntegerField(null=True, blank=True)
    system_quantity = models.IntegerField(null=True, blank=True)
    variance = models.IntegerField(null=True, blank=True, help_text="counted − system, at submission.")
    adjustment = models.ForeignKey(Adjustment, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                   help_text="The adjustment the latest round's variance became.")
    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["count", "sku"], name="cycle_count_line_per_sku")]

    def __str__(self) -> str:
        return f"{self.sku_id} in count {self.count_id}"
