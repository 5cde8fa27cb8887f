"""The stock ledger's data: levels (the projection), movements (the ledger itself) and the
inbound events partners send."""

from datetime import UTC, datetime, timedelta

from django.db import models

from inventory.models.master_data import Location, Sku


class Bucket(models.TextChoices):
    """The named states a unit can be in at a location (DESIGN.md "Inventory model")."""

    ON_HAND = "on_hand"
    COMMITTED = "committed"
    DAMAGED = "damaged"
    QUALITY_CONTROL = "quality_control"
    SAFETY_STOCK = "safety_stock"
    INCOMING = "incoming"


def unavailable_units() -> models.Expression:
    """Units on hand that may not be sold: damaged, in quality control, or kept as safety stock."""
    return models.F("damaged") + models.F("quality_control") + models.F("safety_stock")


def available_units() -> models.Expression:
    """What may be promised: on hand, less what is committed and what is unavailable.
    The one definition of `available` (DESIGN.md "Inventory model"): the database keeps
    it as a column of every level, so a reader selects it and a promise filters on it."""
    return models.F("on_hand") - models.F("committed") - unavailable_units()


class StockLevel(models.Model):
    """The projection of the ledger for one (SKU, location), kept in the same transaction
    as the movements. Not history-tracked: the movements are its history.

    `unavailable` and `available` are generated columns: the database computes them from
    the buckets whenever a row is written. An instance read before a posting keeps the
    figures it was read with; read it again to see the new ones."""

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
    # The SKU × location confidence (`inventory.confidence`), where its counts are enough to
    # score it; None: the location's confidence stands for it.
    confidence = models.DecimalField(max_digits=4, decimal_places=3, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    unavailable = models.GeneratedField(expression=unavailable_units(), output_field=models.IntegerField(),
                                        db_persist=True)
    available = models.GeneratedField(expression=available_units(), output_field=models.IntegerField(),
                                      db_persist=True)

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


# Clocks drift; a fact dated further ahead than this is refused rather than trusted (the
# ingest and the posting). A movement therefore never occurred more than this after it
# was recorded, which is what lets a query by `occurred_at` skip the months of
# `recorded_at` before it (`occurred_since`).
FUTURE_TOLERANCE = timedelta(minutes=5)


def occurred_since(moment: datetime, *, inclusive: bool = True) -> models.Q:
    """Movements that occurred at or after `moment` (after it, not `inclusive`), said so
    that PostgreSQL reads only the monthly partitions of `recorded_at` that can hold them:
    the bound on `recorded_at` changes no result."""
    occurred = models.Q(occurred_at__gte=moment) if inclusive else models.Q(occurred_at__gt=moment)
    return occurred & models.Q(recorded_at__gte=moment - FUTURE_TOLERANCE)


class StockMovement(models.Model):
    """One change of quantity in one bucket. Append-only: never updated or deleted (a
    database trigger refuses it on PostgreSQL); a mistake is corrected by a new movement.

    On PostgreSQL the table is partitioned by month of `recorded_at` (migration 0021,
    README "Partitioned ledger"): the database's primary key is (id, recorded_at), while
    Django knows `id` alone, which stays unique as the one sequence gives it. The time it
    was recorded, not the time it occurred, chooses the partition: it only grows, so a
    month past receives no row ever again and can be checksummed once and detached,
    where a late event would reopen an `occurred_at` month. A movement never occurred
    more than `LEDGER_FUTURE_TOLERANCE` after it was recorded (the posting refuses it),
    so a query by `occurred_at` also bounds `recorded_at` and is pruned to the partitions
    that can hold its rows (`occurred_since`)."""

    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    bucket = models.CharField(max_length=16, choices=Bucket.choices)
    delta = models.IntegerField()
    reason = models.CharField(max_length=32)
    document_type = models.CharField(max_length=32, blank=True)
    document_id = models.CharField(max_length=64, blank=True)
    # No database constraint: events are partitioned on PostgreSQL, and a foreign key must
    # name a unique key of its target, which there includes the partition key. Django
    # still refuses to delete an event with movements (PROTECT), and events are never
    # deleted; the same model on SQLite, so the two databases keep one schema.
    event = models.ForeignKey("InventoryEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                              db_constraint=False)
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
    a second row (the claim of its `InventoryEventKey` decides), so they are not statuses
    of a row.

    On PostgreSQL the table is partitioned by month of `received_at` (migration 0021): the
    database's primary key is (id, received_at) while Django knows `id`, and foreign keys
    to events carry no database constraint (see `StockMovement.event`).
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
    type = models.CharField(max_length=255)  # as sent: an unknown type is kept whole, and rejected
    sku_code = models.CharField(max_length=255)
    location_code = models.CharField(max_length=255)
    # Neither has an index: every ingest batch writes a row per event into each index, and
    # nothing looks events up by SKU or location (only the PROTECT check when one is
    # deleted, which is refused anyway once it has events). Staff find events by their
    # case, by sender and id (inventory_event_sender_id) or, when they did not apply, by
    # sender and codes (inventory_event_open).
    sku = models.ForeignKey(Sku, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                 db_index=False)
    quantity = models.IntegerField()
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    reason = models.CharField(max_length=255, blank=True)
    reference = models.CharField(max_length=255, blank=True)
    payload_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices)
    error_code = models.CharField(max_length=64, blank=True)
    error_detail = models.CharField(max_length=500, blank=True)
    # A count's difference to the ledger when it was received (set for counts only).
    count_variance = models.IntegerField(null=True, blank=True)
    # The request that delivered it: tells a first delivery from a resend in one query.
    delivery_id = models.UUIDField()

    class Meta:
        indexes = [
            # The event id leads: a batch reads its resent ids back by (source, ids), and
            # with the source first the planner, told by stale statistics that a new sender
            # has few rows, scans every row of that sender and filters the ids (100 ms a
            # batch at 130k rows, and growing) instead of probing the ids. Not unique: on
            # PostgreSQL a unique index of a partitioned table must hold its partition key,
            # so uniqueness lives in `InventoryEventKey`.
            models.Index(fields=["event_id", "source"], name="inventory_event_sender_id"),
            # Staff look for what did not apply (a rejected event's siblings, to replay them);
            # applied events, nearly every row, stay out of it.
            models.Index(fields=["status", "source", "sku_code", "location_code"], name="inventory_event_open",
                         condition=~models.Q(status="applied")),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.event_id} ({self.status})"

    @property
    def payload(self) -> dict:
        """The event as the partner sent it: its columns hold every field (the time as
        the instant it names, in UTC), so it is not stored twice."""
        return {
            "event_id": self.event_id, "type": self.type, "sku": self.sku_code, "location": self.location_code,
            "quantity": self.quantity, "occurred_at": self.occurred_at.astimezone(UTC).isoformat(),
            "reason": self.reason, "reference": self.reference,
        }


class InventoryEventKey(models.Model):
    """The claim of one (source, event id): who received it first, and when.

    Exactly-once rests here, not on the events: a unique index of a table partitioned by
    month only holds within a month, and a resend next month lands in another partition.
    This table is not partitioned, and it is small (two short strings, a uuid, a time).
    The ingest inserts a batch's keys first, ignoring conflicts (ON CONFLICT DO NOTHING),
    and reads them back: the keys carrying its own `delivery_id` are its new events, and
    only those are written as events, in the same transaction. A delivery racing another
    waits on the other's uncommitted key, then finds it claimed, as the unique index on
    the events used to make it. Both databases use it, so there is one mechanism.

    `received_at` is the event row's, so a resend reads its original from the partitions
    from that month on only."""

    source = models.CharField(max_length=64)
    event_id = models.CharField(max_length=255)
    delivery_id = models.UUIDField()
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            # The event id leads, as in the index of the events (see there).
            models.UniqueConstraint(fields=["event_id", "source"], name="inventory_event_once_per_source"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.event_id}"
