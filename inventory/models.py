"""Master data (SKUs, locations, channels) and, later, the stock ledger."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase
from simple_history.models import HistoricalRecords

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
    sku = models.ForeignKey(Sku, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
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
            models.Index(fields=["status", "received_at"], name="inventory_event_status"),
            models.Index(fields=["location", "sku", "occurred_at"], name="inventory_event_key"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.event_id} ({self.status})"
