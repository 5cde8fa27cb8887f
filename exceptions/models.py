"""Cases: every discrepancy, rejected event, failed sync or variance a person must see."""

from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from simple_history.models import HistoricalRecords

from exceptions.states import ACTIVE_STATUSES, CaseKind, CaseStatus, Queue, Severity


class Case(models.Model):
    kind = models.CharField(max_length=32, choices=CaseKind.choices)
    status = models.CharField(max_length=16, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    escalated = models.BooleanField(default=False)
    queue = models.CharField(max_length=24, choices=Queue.choices)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True)

    # What the case is about: any object, plus the SKU and location for scoping and filters.
    subject_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT)
    subject_id = models.CharField(max_length=64, blank=True)
    subject = GenericForeignKey("subject_type", "subject_id")
    sku = models.ForeignKey("inventory.Sku", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey("inventory.Location", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    # The evidence each kind needs: payloads, quantities, the document.
    context = models.JSONField(default=dict, blank=True)

    dedup_key = models.CharField(max_length=255)
    occurrences = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    money_at_risk = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    priority = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal("0"))
    priority_factors = models.JSONField(default=dict, blank=True)
    sla_due_at = models.DateTimeField()

    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="assigned_cases")
    root_cause = models.CharField(max_length=64, blank=True)
    resolution_note = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            # At most one active case per detection: a repeat bumps it instead.
            models.UniqueConstraint(fields=["dedup_key"], condition=models.Q(status__in=ACTIVE_STATUSES),
                                    name="one_active_case_per_dedup_key"),
        ]
        indexes = [
            models.Index(fields=["queue", "status", "-priority"], name="case_queue_priority"),
            models.Index(fields=["location", "status"], name="case_location_status"),
            models.Index(fields=["kind", "status"], name="case_kind_status"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}: {self.title}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES
