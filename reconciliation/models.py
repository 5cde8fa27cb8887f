"""Reconciliation runs: a snapshot compared with the ledger as of its time.

A run belongs to one stored snapshot (`integrations.InventorySnapshot`, whatever its
source). Its lines are written set-based by `reconciliation.engine` (one INSERT … SELECT,
up to a million rows), so lines carry no simple-history: what staff decide about a line
is the append-only `LineDecision` log, and the line's `decision` columns are its latest
entry, kept for filtering.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from reconciliation.states import Classification, Decision, RunStatus

ZERO = Decimal("0")
# Lines staff look at one by one (the rest agree with the ledger).
TO_LOOK_AT = [Classification.VARIANCE.value, Classification.MISSING_IN_LEDGER.value]


class ReconciliationRun(models.Model):
    snapshot = models.OneToOneField("integrations.InventorySnapshot", on_delete=models.PROTECT,
                                    related_name="reconciliation")
    system = models.ForeignKey("integrations.ExternalSystem", on_delete=models.PROTECT, related_name="+")
    as_of = models.DateTimeField()
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    # The system's tolerance when the run started: a later change does not rewrite history.
    tolerance_units = models.PositiveIntegerField(default=0)
    tolerance_percent = models.DecimalField(max_digits=5, decimal_places=2, default=ZERO)
    # Summary figures (API.md "summary"), written when the run finishes.
    lines = models.PositiveIntegerField(default=0)
    matched = models.PositiveIntegerField(default=0)
    timing = models.PositiveIntegerField(default=0)
    variance = models.PositiveIntegerField(default=0)
    missing_in_ledger = models.PositiveIntegerField(default=0)
    variance_value = models.DecimalField(max_digits=14, decimal_places=2, default=ZERO)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        indexes = [
            models.Index(fields=["system", "-created_at"], name="recon_run_system_recent"),
            models.Index(fields=["status", "-created_at"], name="recon_run_status_recent"),
        ]

    def __str__(self) -> str:
        return f"reconciliation {self.pk} ({self.status})"


class ReconciliationLine(models.Model):
    """One snapshot line beside the ledger. Codes are kept as sent: a line whose SKU or
    location the ledger does not know has `sku`/`location` null and is
    `missing_in_ledger`, listed, never dropped."""

    # No single-column indexes: a run writes up to a million lines and every index is
    # written for each; the composite indexes below lead with the run.
    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="line_set", db_index=False)
    # The SKU and location come from the join on their codes in the same statement that
    # writes the line, so they exist; a database check per line (two per row, a million
    # rows) would cost the run more than the comparison itself. Django still protects them
    # (`on_delete`); the run keeps its database constraint.
    sku = models.ForeignKey("inventory.Sku", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                            db_index=False, db_constraint=False)
    location = models.ForeignKey("inventory.Location", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+", db_index=False, db_constraint=False)
    sku_code = models.CharField(max_length=64)
    location_code = models.CharField(max_length=64)
    snapshot_on_hand = models.IntegerField()
    # Null when the ledger does not know the SKU or location (missing_in_ledger).
    ledger_on_hand_at_as_of = models.IntegerField(null=True, blank=True)
    ledger_on_hand_now = models.IntegerField(null=True, blank=True)
    # snapshot − ledger as of the snapshot's time; null when missing in the ledger.
    difference = models.IntegerField(null=True, blank=True)
    classification = models.CharField(max_length=24, choices=Classification.choices)
    unit_cost = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    # |difference| × unit cost for a variance; 0 otherwise.
    value = models.DecimalField(max_digits=14, decimal_places=2, default=ZERO)
    decision = models.CharField(max_length=16, choices=Decision.choices, blank=True, default=Decision.UNDECIDED)
    decided_at = models.DateTimeField(null=True, blank=True)
    # A copy of the latest decision's actor, for filtering; that `LineDecision` row holds the
    # checked reference. No database check here: null on every line a run writes, it would
    # still cost a trigger per line (as much again as writing the line).
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", db_index=False, db_constraint=False)

    class Meta:
        # A run writes up to a million lines, and each index is written for each line it
        # covers. One index covers them all: a run's lines, costliest first (its default
        # order, and a store's lines read in that order); every agreeing line has a value
        # of 0 and the lines come in id order, so it grows at one end. The lines staff
        # look at one by one (variance, unknown to the ledger: a few in a hundred) have
        # the indexes of the review's filters.
        indexes = [
            models.Index(fields=["run", "-value", "id"], name="recon_line_value"),
            models.Index(fields=["run", "classification", "-value", "id"], name="recon_line_class_value",
                         condition=models.Q(classification__in=TO_LOOK_AT)),
            models.Index(fields=["run", "location", "-value", "id"], name="recon_line_location",
                         condition=models.Q(classification__in=TO_LOOK_AT)),
            models.Index(fields=["run", "sku_code"], name="recon_line_sku_code",
                         condition=models.Q(classification__in=TO_LOOK_AT)),
            # Only decided lines have a decider (a user's lines, before deleting the user).
            models.Index(fields=["decided_by"], name="recon_line_decided_by",
                         condition=models.Q(decided_by__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.sku_code}@{self.location_code}: {self.classification}"


class LineDecision(models.Model):
    """Append-only: one row per action staff took on a line, with who and why, and what
    it made (an adjustment, a case, an outbox message)."""

    line = models.ForeignKey(ReconciliationLine, on_delete=models.CASCADE, related_name="decisions")
    action = models.CharField(max_length=16, choices=Decision.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)
    adjustment = models.ForeignKey("inventory.Adjustment", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    case = models.ForeignKey("exceptions.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    outbox_message = models.ForeignKey("integrations.OutboxMessage", null=True, blank=True,
                                       on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} on line {self.line_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError("Line decisions are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Line decisions are append-only.")


class RunAccuracy(models.Model):
    """Inventory accuracy of one run at one location (null: codes the ledger does not
    know), for the dashboard: agreeing means matched or timing."""

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="accuracy")
    location = models.ForeignKey("inventory.Location", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    lines = models.PositiveIntegerField(default=0)
    agreeing_lines = models.PositiveIntegerField(default=0)
    # Σ |snapshot on hand|, and of agreeing lines.
    units = models.BigIntegerField(default=0)
    agreeing_units = models.BigIntegerField(default=0)
    # Σ snapshot on hand × unit cost, and of agreeing lines.
    value = models.DecimalField(max_digits=16, decimal_places=2, default=ZERO)
    agreeing_value = models.DecimalField(max_digits=16, decimal_places=2, default=ZERO)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "location"], name="run_accuracy_per_location"),
            models.UniqueConstraint(fields=["run"], condition=models.Q(location__isnull=True),
                                    name="run_accuracy_one_unknown_row"),
        ]
        indexes = [models.Index(fields=["location", "run"], name="run_accuracy_location")]

    def __str__(self) -> str:
        return f"run {self.run_id} at {self.location_id}: {self.agreeing_lines}/{self.lines}"
