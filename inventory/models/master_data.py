"""Master data: SKUs, locations (with their object permissions) and channels."""

from datetime import time
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

    class ReturnPolicy(models.TextChoices):
        """What a customer return taken at this location's till (a POS `return` event) does."""

        KIND_DEFAULT = "", "The default for its kind"
        RESTOCK = "restock", "Restock at the till (available at once)"
        INSPECT = "inspect", "Into inspection (quality control until dispositioned)"

    # A store's till puts returned units back on the shelf; a DC inspects them first.
    RETURN_POLICY_BY_KIND = {"store": "restock", "dark_store": "restock", "virtual": "restock", "dc": "inspect",
                             "3pl": "inspect"}

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
    # When the shop is open, in TIME_ZONE: a till that sends nothing while it is open is an
    # anomaly (casework.anomalies, POS silence). Closing before opening spans midnight.
    trading_opens_at = models.TimeField("opens at", default=time(9, 0))
    trading_closes_at = models.TimeField("closes at", default=time(21, 0))
    return_policy = models.CharField(
        "till return policy", max_length=8, choices=ReturnPolicy.choices, blank=True, default="",
        help_text="What a POS return at this location does. Empty: the default for its kind "
                  "(stores restock at the till, DCs and 3PLs inspect first).",
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

    @property
    def inspects_returns(self) -> bool:
        """Whether a till return here goes into inspection rather than back on the shelf."""
        policy = self.return_policy or self.RETURN_POLICY_BY_KIND.get(self.kind, self.ReturnPolicy.RESTOCK)
        return policy == self.ReturnPolicy.INSPECT


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
