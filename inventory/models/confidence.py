"""Location confidence: how far the ledger at a location is trusted, scored with its factors."""

from django.db import models

from inventory.models.master_data import Location, Sku


class LocationConfidence(models.Model):
    """One scoring of one location (append-only: the table is the score's history). The
    current score is copied to `Location.confidence`, which sourcing reads; each row keeps
    the factors that made it, so a person sees why (see `inventory.confidence`)."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Nightly run"
        ON_DEMAND = "on_demand", "Asked for on the location page"
        COMMAND = "command", "Management command"

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="confidence_scores")
    score = models.DecimalField(max_digits=4, decimal_places=3)
    previous = models.DecimalField(max_digits=4, decimal_places=3)
    # One entry per factor: value, estate median, MAD, robust z, weight, multiplier, basis.
    factors = models.JSONField(default=dict)
    window_days = models.PositiveSmallIntegerField()
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    actor = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    computed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["location", "-computed_at"], name="confidence_location_latest")]

    def __str__(self) -> str:
        return f"{self.location_id}: {self.score} ({self.computed_at:%Y-%m-%d %H:%M})"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError("Confidence scores are append-only.")
        super().save(*args, **kwargs)


class LevelConfidence(models.Model):
    """One scoring of one SKU at one location, made with the location run where that level
    has enough counts of its own (append-only: its history). The current score is copied to
    `StockLevel.confidence`, which the ship-from-store gate reads before the location's."""

    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    score = models.DecimalField(max_digits=4, decimal_places=3)
    previous = models.DecimalField(max_digits=4, decimal_places=3, null=True, blank=True)
    # One entry per factor, as for a location; the estate is every level with enough data.
    factors = models.JSONField(default=dict)
    window_days = models.PositiveSmallIntegerField()
    trigger = models.CharField(max_length=16, choices=LocationConfidence.Trigger.choices)
    actor = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    computed_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["sku", "location", "-computed_at"], name="confidence_level_latest")]

    def __str__(self) -> str:
        return f"{self.sku_id}@{self.location_id}: {self.score} ({self.computed_at:%Y-%m-%d %H:%M})"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError("Confidence scores are append-only.")
        super().save(*args, **kwargs)
