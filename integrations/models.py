"""External systems and the API clients (tokens) that act for them."""

from functools import cached_property

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords


class ExternalSystem(models.Model):
    """A partner system: POS, e-commerce, marketplace, WMS, ERP or supplier."""

    class Kind(models.TextChoices):
        POS = "pos", "Point of sale"
        WEB = "web", "E-commerce"
        MARKETPLACE = "marketplace", "Marketplace"
        WMS = "wms", "Warehouse management"
        ERP = "erp", "ERP"
        SUPPLIER = "supplier", "Supplier"

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    base_url = models.URLField(blank=True)
    # The name of an environment variable holding the secret, never the secret itself.
    credentials_ref = models.CharField(max_length=128, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class ApiClient(models.Model):
    """A bearer token. Partner tokens act for an external system, with scopes and a
    location scope; staff tokens act for a staff user with that user's role.

    Only the SHA-256 of the token is stored: tokens are 256-bit random strings, so a fast
    hash is enough to make a leaked table useless, and it allows lookup by hash.
    """

    class Kind(models.TextChoices):
        PARTNER = "partner"
        STAFF = "staff"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    external_system = models.ForeignKey(
        ExternalSystem, null=True, blank=True, on_delete=models.PROTECT, related_name="api_clients"
    )
    # The principal recorded as actor: a service user for partners, the person for staff.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_clients")
    token_hash = models.CharField(max_length=64, unique=True)
    token_prefix = models.CharField(max_length=16, help_text="The first characters, to recognise a token.")
    scopes = models.JSONField(default=list, blank=True)
    all_locations = models.BooleanField(default=True)
    locations = models.ManyToManyField("inventory.Location", blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords(excluded_fields=["last_used_at", "token_hash"])

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="partner") | models.Q(external_system__isnull=False),
                name="partner_client_has_system",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.token_prefix}…)"

    @property
    def is_partner(self) -> bool:
        return self.kind == self.Kind.PARTNER

    @cached_property
    def location_ids(self) -> frozenset[int] | None:
        """None means every location."""
        if self.all_locations:
            return None
        return frozenset(self.locations.values_list("pk", flat=True))
