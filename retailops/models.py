"""Shared records of the API conventions (idempotency)."""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class IdempotencyRecord(models.Model):
    """One `Idempotency-Key` of one client, and the response it produced.

    The row is inserted (committed) before the request runs, so a second request with
    the same key sees it at once; the response is stored in the same transaction as the
    request's effect, so a stored response exists if and only if the effect committed.
    """

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"

    client_key = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    response_headers = models.JSONField(default=dict, blank=True)
    locked_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client_key", "key"], name="idempotency_key_per_client")]

    def __str__(self) -> str:
        return f"{self.client_key} {self.key} ({self.status})"


class SecondFactorEvent(models.Model):
    """One step of a person's second factor: enrolled, verified (with a code or a recovery
    code), refused, or reset by an ops admin. Who, when, from where and, for a reset, by
    whom and why. Failed codes also count towards the sign-in lockout (django-axes)."""

    class Kind(models.TextChoices):
        ENROLLED = "enrolled", "Enrolled an authenticator app"
        VERIFIED = "verified", "Verified with the authenticator app"
        RECOVERY_CODE_USED = "recovery_code_used", "Verified with a recovery code"
        REFUSED = "refused", "Code refused"
        RESET = "reset", "Devices reset"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="second_factor_events")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    address = models.GenericIPAddressField(null=True, blank=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-occurred_at"]

    def __str__(self) -> str:
        return f"{self.user} {self.kind} at {self.occurred_at:%Y-%m-%d %H:%M}"
