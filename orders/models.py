"""Orders, their lines, and the allocations that promise stock to them.

One model, `Allocation`, serves both checkout holds and order allocations. A hold is an
allocation without an order line (it has an `expires_at`); an order consumes a hold by
attaching it to one of its lines. Why one model and not two: the units in a level's
`committed` bucket then always equal the sum of the active (reserved or picked)
allocations at that (SKU, location) — one invariant, one table to check — and consuming
a hold is a status-preserving update of one row instead of a "release here, allocate
there" pair that could double-count or lose units between two tables.

Every change of `committed`/`on_hand` that an allocation stands for is posted through
`inventory.ledger.post_movements` by `orders.services`; these models hold data only.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from orders.states import HOLDING_STATUSES, AllocationOrigin, AllocationStatus, Fulfillment, OrderStatus


class Order(models.Model):
    channel = models.ForeignKey("inventory.Channel", on_delete=models.PROTECT, related_name="orders")
    external_id = models.CharField(max_length=255)
    fulfillment = models.CharField(max_length=16, choices=Fulfillment.choices)
    pickup_location = models.ForeignKey("inventory.Location", null=True, blank=True, on_delete=models.PROTECT,
                                        related_name="pickup_orders")
    status = models.CharField(max_length=24, choices=OrderStatus.choices, default=OrderStatus.ALLOCATED)
    # Who placed it: the partner system (partners see only their own orders) and the acting user.
    external_system = models.ForeignKey("integrations.ExternalSystem", null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    # sha256 of the order's content: a resend with the same external id is "the same order"
    # only when this matches.
    content_hash = models.CharField(max_length=64)
    pickup_ack_due_at = models.DateTimeField(null=True, blank=True)
    pickup_acknowledged_at = models.DateTimeField(null=True, blank=True)
    pickup_acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                               on_delete=models.PROTECT, related_name="+")
    # When it happened: a service may be told a past time (e.g. the demo history).
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "external_id"], name="order_external_id_per_channel"),
            models.CheckConstraint(
                condition=~models.Q(fulfillment=Fulfillment.PICKUP) | models.Q(pickup_location__isnull=False),
                name="pickup_order_has_pickup_location",
            ),
        ]
        indexes = [
            models.Index(fields=["channel", "status"], name="order_channel_status"),
            models.Index(fields=["external_system", "status"], name="order_system_status"),
            # The dashboard: orders placed, and pickups falling due, within a span.
            models.Index(fields=["created_at"], name="order_created"),
            models.Index(fields=["pickup_ack_due_at"], name="order_pickup_due",
                         condition=models.Q(fulfillment=Fulfillment.PICKUP)),
            models.Index(fields=["status", "pickup_ack_due_at"], name="order_pickup_ack_due",
                         condition=models.Q(fulfillment=Fulfillment.PICKUP, pickup_acknowledged_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.channel_id}:{self.external_id}"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    line_id = models.CharField(max_length=64)
    sku = models.ForeignKey("inventory.Sku", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    # Why the line went where it did: candidates, their available figures, the deciding rule.
    sourcing = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "line_id"], name="order_line_id_per_order"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="order_line_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id}/{self.line_id}"


class Allocation(models.Model):
    """Units of one SKU promised at one location: a checkout hold (no line yet, with
    `expires_at`) or an order line's allocation. While reserved or picked, its quantity is
    part of the level's `committed`."""

    sku = models.ForeignKey("inventory.Sku", on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey("inventory.Location", on_delete=models.PROTECT, related_name="+")
    channel = models.ForeignKey("inventory.Channel", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    origin = models.CharField(max_length=8, choices=AllocationOrigin.choices)
    status = models.CharField(max_length=16, choices=AllocationStatus.choices, default=AllocationStatus.RESERVED)
    expires_at = models.DateTimeField(null=True, blank=True)
    reference = models.CharField(max_length=255, blank=True)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="allocations")
    line = models.ForeignKey(OrderLine, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="allocations")
    external_system = models.ForeignKey("integrations.ExternalSystem", null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    sourcing = models.JSONField(default=dict, blank=True)
    # When it happened: a service may be told a past time (e.g. the demo history).
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="allocation_quantity_positive"),
            models.CheckConstraint(
                condition=models.Q(line__isnull=True) | models.Q(order__isnull=False),
                name="allocation_line_belongs_to_order",
            ),
        ]
        indexes = [
            # The expiry sweep: due holds, oldest first.
            models.Index(fields=["expires_at"], name="allocation_hold_due",
                         condition=models.Q(status=AllocationStatus.RESERVED, line__isnull=True)),
            models.Index(fields=["sku", "location", "status"], name="allocation_key_status"),
            # The dashboard: checkout holds made within a span.
            models.Index(fields=["created_at"], name="allocation_hold_created",
                         condition=models.Q(origin=AllocationOrigin.HOLD)),
        ]

    def __str__(self) -> str:
        return f"allocation {self.pk}: {self.quantity} × {self.sku_id}@{self.location_id} ({self.status})"

    @property
    def is_hold(self) -> bool:
        return self.line_id is None

    @property
    def is_holding_stock(self) -> bool:
        return self.status in HOLDING_STATUSES
