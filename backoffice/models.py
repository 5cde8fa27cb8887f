"""What the back office keeps of its own: who wants which notifications, and every
notification decided, one row per event × recipient (so none is sent twice)."""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords


class NotificationKind(models.TextChoices):
    SLA_BREACH = "sla_breach", "A case in my queue passed its SLA"
    ESCALATION = "escalation", "A case was escalated"
    APPROVAL_WAITING = "approval_waiting", "An adjustment waits for approval"
    QUEUE_DIGEST = "queue_digest", "My queue's daily digest"


class Delivery(models.TextChoices):
    IMMEDIATE = "immediate", "Immediately"
    DIGEST = "digest", "In a daily digest"
    OFF = "off", "Off"


class NotificationPreference(models.Model):
    """How one person wants one kind of notification; without a row, the kind's default."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=24, choices=NotificationKind.choices)
    delivery = models.CharField(max_length=16, choices=Delivery.choices)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="one_notification_preference_per_kind")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}: {self.delivery}"


class SentNotification(models.Model):
    """One notification for one person about one event (`event_key`, e.g. "sla_breach:case:12").

    The unique key is the guarantee: the job that decides to notify inserts this row in
    its own transaction, so running it again (or twice at once) finds the row and decides
    nothing. Sending is a Celery task that claims the row (`sent_at` from null) first.
    An item of a daily digest is sent inside its digest (`digest`), itself a row here.
    """

    event_key = models.CharField(max_length=200)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=24, choices=NotificationKind.choices)
    delivery = models.CharField(max_length=16, choices=Delivery.choices)
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    digest = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="items")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event_key", "recipient"], name="one_notification_per_event_and_recipient"),
        ]
        indexes = [
            # Immediate mail not sent yet; digest items not yet in a digest.
            models.Index(fields=["delivery", "id"], name="notification_unsent",
                         condition=models.Q(sent_at__isnull=True, digest__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.event_key} → {self.recipient_id}"


class RollupFigure(models.TextChoices):
    ORDERS = "orders", "Orders placed"
    HOLDS = "holds", "Checkout holds made"
    REFUSALS = "refusals", "Reservation failures detected"
    PICKUPS = "pickups", "Pickup acknowledgements"
    COUNTS = "counts", "Counted lines"
    ADJUSTMENTS = "adjustments", "Applied adjustments"


class RollupDay(models.Model):
    """A whole day (in TIME_ZONE) whose dashboard rollup is built, and when it was.

    Derived data: `backoffice.rollup` rebuilds a day from the rows behind it whenever it
    likes (so no history is kept); nobody edits it."""

    day = models.DateField(unique=True)
    built_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.day}: built {self.built_at or 'never'}"


class DailyFigure(models.Model):
    """One day's totals behind a dashboard figure, per location or per reason × root cause
    where the figure has them. The measures m1–m4 mean what `backoffice.rollup.MEASURES`
    says for the figure (e.g. pickups: due, in time, late, not acknowledged)."""

    day = models.DateField()
    figure = models.CharField(max_length=16, choices=RollupFigure.choices)
    location = models.ForeignKey("inventory.Location", null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="+")
    reason = models.CharField(max_length=32, blank=True)
    root_cause = models.CharField(max_length=32, blank=True)
    m1 = models.BigIntegerField(default=0)
    m2 = models.BigIntegerField(default=0)
    m3 = models.BigIntegerField(default=0)
    m4 = models.BigIntegerField(default=0)
    value = models.DecimalField(max_digits=16, decimal_places=2, default=0)

    class Meta:
        indexes = [models.Index(fields=["figure", "day"], name="daily_figure_day")]

    def __str__(self) -> str:
        return f"{self.figure} {self.day} at {self.location_id}"
