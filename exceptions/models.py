"""Cases: every discrepancy, rejected event, failed sync or variance a person must see."""

from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from exceptions.states import ACTIVE_STATUSES, TRANSITIONS, CaseKind, CaseStatus, Queue, RootCause, Severity


class Case(models.Model):
    # Validated against CaseKind by raise_case; no `choices` here, so an app that adds a
    # kind to CaseKind needs no migration of this table.
    kind = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    escalated = models.BooleanField(default=False)
    escalated_at = models.DateTimeField(null=True, blank=True)
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
    # The external system whose data the case is about (a partner may read those cases).
    source = models.CharField(max_length=64, blank=True)

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
    # A detector saw the condition go away; a person confirms before the case closes.
    condition_cleared_at = models.DateTimeField(null=True, blank=True)
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
            # The queue page: active cases of a team, escalated first, then by priority.
            models.Index(fields=["queue", "-escalated", "-priority", "-id"],
                         condition=models.Q(status__in=ACTIVE_STATUSES), name="case_active_queue_rank"),
            models.Index(fields=["-escalated", "-priority", "-id"],
                         condition=models.Q(status__in=ACTIVE_STATUSES), name="case_active_rank"),
            models.Index(fields=["assignee", "status"], name="case_assignee_status"),
            # The dashboard's flow per queue: opened, closed and SLA due within a span (on
            # PostgreSQL they carry what the counts group and filter by: index-only scans).
            models.Index(fields=["first_seen_at"], name="case_first_seen", include=["queue"]),
            models.Index(fields=["resolved_at"], name="case_resolved", include=["queue"]),
            models.Index(fields=["sla_due_at"], name="case_sla_due", include=["queue", "resolved_at"]),
            # The counts at the top of a queue (per kind, by age, overdue) read only this index.
            models.Index(fields=["queue", "kind", "first_seen_at", "sla_due_at", "escalated"],
                         condition=models.Q(status__in=ACTIVE_STATUSES), name="case_active_queue_summary"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind}: {self.title}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_overdue(self) -> bool:
        return self.is_active and self.sla_due_at < timezone.now()

    @property
    def kind_label(self) -> str:
        return CaseKind(self.kind).label if self.kind in CaseKind.values else self.kind

    @property
    def root_cause_label(self) -> str:
        return RootCause(self.root_cause).label if self.root_cause in RootCause.values else self.root_cause

    def can_become(self, status: str) -> bool:
        return status in TRANSITIONS.get(self.status, set())


class CaseComment(models.Model):
    """A note a person adds while working a case; shown in its activity log."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["case", "created_at"], name="case_comment_case_created")]

    def __str__(self) -> str:
        return f"comment on #{self.case_id} by {self.author_id}"
