"""Advance shipping notices: what a supplier (or the ERP or WMS on its behalf) says is on
its way to one of our locations, and what arrived against it.

The notice's units are in the location's `incoming` while it is awaited; receiving moves
them to `on_hand` (damaged ones also into `damaged`). Every change of quantity is posted by
`receiving.services` through `inventory.ledger.post_movements` with document type `asn`;
these models hold data only, with their history.
"""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from receiving.states import AsnStatus


class Asn(models.Model):
    DOCUMENT_TYPE = "asn"

    # The partner system that sent it (its code; empty when staff entered it): an external
    # id is unique per sender.
    source_system = models.CharField(max_length=64, blank=True)
    external_id = models.CharField(max_length=255)
    supplier = models.CharField(max_length=200, blank=True)
    purchase_order = models.CharField(max_length=255, blank=True)
    location = models.ForeignKey("inventory.Location", on_delete=models.PROTECT, related_name="+")
    expected_at = models.DateTimeField()
    status = models.CharField(max_length=24, choices=AsnStatus.choices, default=AsnStatus.EXPECTED)
    # sha256 of the notice's content: a resend is "the same notice" only when this matches.
    content_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    # The outbox messages that carry its goods receipts to the ERP (their delivery status is
    # the notice's `erp_posting`).
    erp_messages = models.JSONField(default=list, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "advance shipping notice"
        constraints = [
            models.UniqueConstraint(fields=["external_id", "source_system"], name="asn_external_id_per_source"),
        ]
        indexes = [
            models.Index(fields=["location", "status"], name="asn_location_status"),
            models.Index(fields=["status", "expected_at"], name="asn_awaited_due",
                         condition=models.Q(status__in=["expected", "partially_received"])),
        ]

    def __str__(self) -> str:
        return f"ASN {self.external_id}"


class AsnLine(models.Model):
    """One SKU of a notice: what was announced (0 for a SKU that arrived unannounced) and
    what arrived, of which damaged. `released` is what has left `incoming` so far."""

    asn = models.ForeignKey(Asn, on_delete=models.CASCADE, related_name="lines")
    sku = models.ForeignKey("inventory.Sku", on_delete=models.PROTECT, related_name="+")
    expected = models.PositiveIntegerField()
    received = models.PositiveIntegerField(default=0)
    damaged = models.PositiveIntegerField(default=0)
    released = models.PositiveIntegerField(default=0)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["asn", "sku"], name="asn_line_per_sku"),
            models.CheckConstraint(condition=models.Q(damaged__lte=models.F("received")),
                                   name="asn_line_damaged_within_received"),
        ]

    def __str__(self) -> str:
        return f"{self.asn_id}/{self.sku_id}"

    @property
    def variance(self) -> int:
        return self.received - self.expected
