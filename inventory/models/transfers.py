"""Transfers of stock between two locations."""

from django.db import models
from simple_history.models import HistoricalRecords

from inventory.models.master_data import Location, Sku
from inventory.states import TransferStatus


class Transfer(models.Model):
    """Stock moving between two locations: requested → approved → shipped → received →
    closed, or cancelled before it ships. While shipped, its units sit in the
    destination's `incoming`; movements carry document type `transfer` and its id."""

    source = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="transfers_out")
    destination = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="transfers_in")
    status = models.CharField(max_length=16, choices=TransferStatus.choices, default=TransferStatus.REQUESTED)
    reference = models.CharField(max_length=255, blank=True)
    note = models.TextField(blank=True)
    expected_at = models.DateTimeField(null=True, blank=True, help_text="When the units should arrive.")
    requested_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    source_system = models.CharField(max_length=64, blank=True, help_text="Code of the partner system, if any.")
    approved_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    DOCUMENT_TYPE = "transfer"

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~models.Q(source=models.F("destination")),
                                   name="transfer_between_two_locations"),
        ]
        indexes = [
            models.Index(fields=["status", "expected_at"], name="transfer_status_expected"),
            models.Index(fields=["source", "status"], name="transfer_source_status"),
            models.Index(fields=["destination", "status"], name="transfer_destination_status"),
        ]

    def __str__(self) -> str:
        return f"transfer {self.pk}: {self.source_id} → {self.destination_id} ({self.status})"


class TransferLine(models.Model):
    transfer = models.ForeignKey(Transfer, on_delete=models.PROTECT, related_name="lines")
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    shipped = models.PositiveIntegerField(default=0)
    received = models.PositiveIntegerField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["transfer", "sku"], name="transfer_line_per_sku"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="transfer_line_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku_id}"
