"""Master data (SKUs, locations, channels) and, later, the stock ledger."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from simple_history.models import HistoricalRecords

from inventory.states import AdjustmentStatus, CycleCountStatus, TransferStatus

# Codes name things in URLs and partner payloads: keep them URL-safe and unambiguous.
CODE_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
code_validator = RegexValidator(rf"^{CODE_PATTERN}$", "Use letters, digits, '.', '_' or '-' (1 to 64).")


class Sku(models.Model):
    code = models.CharField(max_length=64, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    unit_cost = models.DecimalField(max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))])
    price = models.DecimalField(max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))])
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "SKU"
        constraints = [
            models.CheckConstraint(condition=models.Q(unit_cost__gte=0), name="sku_unit_cost_not_negative"),
            models.CheckConstraint(condition=models.Q(price__gte=0), name="sku_price_not_negative"),
        ]

    def __str__(self) -> str:
        return self.code


class Location(models.Model):
    class Kind(models.TextChoices):
        STORE = "store", "Store"
        DC = "dc", "Distribution centre"
        DARK_STORE = "dark_store", "Dark store"
        THIRD_PARTY = "3pl", "Third-party logistics"
        VIRTUAL = "virtual", "Virtual"

    code = models.CharField(max_length=64, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    region = models.CharField(max_length=64, blank=True)
    ship_from_store = models.BooleanField(default=False, help_text="May fulfil ship orders.")
    pickup = models.BooleanField(default=False, help_text="Offers click-and-collect pickup.")
    capacity = models.PositiveIntegerField(null=True, blank=True)
    pickup_ack_minutes = models.PositiveIntegerField(
        "pickup acknowledgement window (minutes)", null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="How long this location has to acknowledge a pickup order before it becomes a case. "
                  "Empty: the default window (2 hours, unless the deployment sets another).",
    )
    # 0..1: how far the ledger is trusted here. Below the sourcing threshold a location is
    # not offered to ship-from-store until a count verifies it.
    confidence = models.DecimalField(
        max_digits=4, decimal_places=3, default=Decimal("1.000"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("1"))],
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        permissions = [
            ("operate_location", "Can see and act at this location"),
            ("operate_all_locations", "Can see and act at every location"),
        ]

    def __str__(self) -> str:
        return self.code


class Channel(models.Model):
    class Kind(models.TextChoices):
        POS = "pos", "Point of sale"
        WEB = "web", "E-commerce"
        MARKETPLACE = "marketplace", "Marketplace"
        WHOLESALE = "wholesale", "Wholesale"

    code = models.CharField(max_length=64, unique=True, validators=[code_validator])
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    priority = models.IntegerField(default=0, help_text="Higher is served first.")
    safety_buffer = models.PositiveIntegerField(
        default=0, help_text="Units per (SKU, location) held back from this channel."
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    def __str__(self) -> str:
        return self.code


# Object permissions on locations use direct foreign keys (guardian's generic tables key
# on a text object id and get slow at hundreds of stores times thousands of users).
class LocationUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Location, on_delete=models.CASCADE)


class LocationGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Location, on_delete=models.CASCADE)


class Bucket(models.TextChoices):
    """The named states a unit can be in at a location (DESIGN.md "Inventory model")."""

    ON_HAND = "on_hand"
    COMMITTED = "committed"
    DAMAGED = "damaged"
    QUALITY_CONTROL = "quality_control"
    SAFETY_STOCK = "safety_stock"
    INCOMING = "incoming"


class StockLevel(models.Model):
    """The projection of the ledger for one (SKU, location), kept in the same transaction
    as the movements. Not history-tracked: the movements are its history."""

    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="levels")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="levels")
    on_hand = models.IntegerField(default=0)  # may go negative: facts are always recorded
    committed = models.IntegerField(default=0)
    damaged = models.IntegerField(default=0)
    quality_control = models.IntegerField(default=0)
    safety_stock = models.IntegerField(default=0)
    incoming = models.IntegerField(default=0)
    version = models.BigIntegerField(default=0)
    last_counted_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sku", "location"], name="stock_level_per_sku_location"),
            models.CheckConstraint(
                condition=models.Q(committed__gte=0, damaged__gte=0, quality_control__gte=0, safety_stock__gte=0,
                                   incoming__gte=0),
                name="stock_level_buckets_not_negative",
            ),
        ]
        indexes = [models.Index(fields=["location", "sku"], name="stock_level_location_sku")]

    def __str__(self) -> str:
        return f"{self.sku_id}@{self.location_id}"

    @property
    def unavailable(self) -> int:
        return self.damaged + self.quality_control + self.safety_stock

    @property
    def available(self) -> int:
        return self.on_hand - self.committed - self.unavailable


class StockMovement(models.Model):
    """One change of quantity in one bucket. Append-only: never updated or deleted (a
    database trigger refuses it on PostgreSQL); a mistake is corrected by a new movement."""

    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    bucket = models.CharField(max_length=16, choices=Bucket.choices)
    delta = models.IntegerField()
    reason = models.CharField(max_length=32)
    document_type = models.CharField(max_length=32, blank=True)
    document_id = models.CharField(max_length=64, blank=True)
    event = models.ForeignKey("InventoryEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    occurred_at = models.DateTimeField()
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=~models.Q(delta=0), name="stock_movement_delta_not_zero")]
        indexes = [
            models.Index(fields=["sku", "location", "occurred_at"], name="movement_key_occurred"),
            models.Index(fields=["document_type", "document_id"], name="movement_document"),
        ]

    def __str__(self) -> str:
        return f"{self.bucket} {self.delta:+d} ({self.reason})"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError("Stock movements are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Stock movements are append-only.")


class InventoryEvent(models.Model):
    """An inventory fact a partner system sent, stored exactly once per (source, event id).

    Delivery outcomes `duplicate` and `conflict` are answers to a resend; they never make
    a second row (the unique constraint decides), so they are not statuses of a row.
    """

    class Type(models.TextChoices):
        SALE = "sale"
        RETURN = "return"
        RECEIPT = "receipt"
        DAMAGE = "damage"
        ADJUSTMENT = "adjustment"
        COUNT = "count"
        TRANSFER_OUT = "transfer_out"
        TRANSFER_IN = "transfer_in"

    class Status(models.TextChoices):
        APPLIED = "applied"
        REJECTED = "rejected"
        STALE = "stale"
        PENDING_APPROVAL = "pending_approval"

    source = models.CharField(max_length=64, help_text="Code of the sending system.")
    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=32)
    sku_code = models.CharField(max_length=255)
    location_code = models.CharField(max_length=255)
    # Neither has an index: every ingest batch writes a row per event into each index, and
    # nothing looks events up by SKU or location (only the PROTECT check when one is
    # deleted, which is refused anyway once it has events). Staff find events by their
    # case, by sender and id (inventory_event_once_per_source) or, when they did not
    # apply, by sender and codes (inventory_event_open).
    sku = models.ForeignKey(Sku, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                 db_index=False)
    quantity = models.IntegerField()
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    reason = models.CharField(max_length=255, blank=True)
    reference = models.CharField(max_length=255, blank=True)
    payload_hash = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices)
    error_code = models.CharField(max_length=64, blank=True)
    error_detail = models.CharField(max_length=500, blank=True)
    # A count's difference to the ledger when it was received (set for counts only).
    count_variance = models.IntegerField(null=True, blank=True)
    # The request that delivered it: tells a first delivery from a resend in one query.
    delivery_id = models.UUIDField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "event_id"], name="inventory_event_once_per_source")]
        indexes = [
            # Staff look for what did not apply (a rejected event's siblings, to replay them);
            # applied events, nearly every row, stay out of it.
            models.Index(fields=["status", "source", "sku_code", "location_code"], name="inventory_event_open",
                         condition=~models.Q(status="applied")),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.event_id} ({self.status})"


# --- Adjustments and their approval ------------------------------------------------------


def default_approval_threshold() -> Decimal:
    from django.conf import settings

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
    event = models.OneToOneField(InventoryEvent, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="adjustment")
    requested_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    source_system = models.CharField(max_length=64, blank=True, help_text="Code of the partner system, if any.")
    applied_delta = models.IntegerField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        permissions = [("approve_adjustment", "Can approve or reject adjustments (finance)")]
        constraints = [models.CheckConstraint(condition=~models.Q(delta=0), name="adjustment_delta_not_zero")]
        indexes = [
            models.Index(fields=["status", "-id"], name="adjustment_status"),
            models.Index(fields=["location", "status"], name="adjustment_location_status"),
        ]

    def __str__(self) -> str:
        return f"adjustment {self.pk}: {self.delta:+d} ({self.status})"

    DOCUMENT_TYPE = "adjustment"

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


# --- Transfers ----------------------------------------------------------------------------


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


# --- Cycle counts ---------------------------------------------------------------------------


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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    DOCUMENT_TYPE = "cycle_count"

    class Meta:
        permissions = [("review_cyclecount", "Can accept a submitted count or ask for a recount")]
        indexes = [models.Index(fields=["location", "status"], name="cycle_count_location_status")]

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
