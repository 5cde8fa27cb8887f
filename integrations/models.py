"""External systems and the API clients (tokens) that act for them."""

from decimal import Decimal
from functools import cached_property

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
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

    class Adapter(models.TextChoices):
        NONE = "", "None (inbound only)"
        JSON_HTTP = "json_http", "JSON over HTTP"
        CSV_SNAPSHOT = "csv_snapshot", "CSV snapshot"

    class Circuit(models.TextChoices):
        CLOSED = "closed"
        OPEN = "open"
        HALF_OPEN = "half_open"

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Without an adapter a system only calls us (inbound API); nothing is sent to it.
    adapter = models.CharField(max_length=16, choices=Adapter.choices, blank=True, default=Adapter.NONE)
    base_url = models.URLField(blank=True)
    # The channel this system sells on: availability pushed to it is that channel's
    # (buffer held back, ineligible locations at 0), and its orders' updates go to it.
    channel = models.ForeignKey("inventory.Channel", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="external_systems")
    # The name of an environment variable holding the secret, never the secret itself.
    credentials_ref = models.CharField(max_length=128, blank=True)
    rate_limit_per_second = models.PositiveIntegerField(default=0, help_text="Requests per second; 0: no limit.")
    timeout_seconds = models.FloatField(default=5.0)
    enabled = models.BooleanField(default=True)
    # Paused by integration support: messages keep accumulating, nothing is sent.
    paused = models.BooleanField(default=False)
    # Runtime state of the relay (written with guarded updates, not tracked in history).
    circuit_state = models.CharField(max_length=16, choices=Circuit.choices, default=Circuit.CLOSED)
    consecutive_failures = models.PositiveIntegerField(default=0)
    circuit_opened_at = models.DateTimeField(null=True, blank=True)
    circuit_retry_at = models.DateTimeField(null=True, blank=True, help_text="When a half-open probe may go.")
    throttled_until = models.DateTimeField(null=True, blank=True, help_text="A 429 asked us to wait until then.")
    # One relay at a time sends to a system (so its in-flight limit and rate limit hold
    # across workers): the one holding this lease, renewed while it works.
    relay_token = models.UUIDField(null=True, blank=True)
    relay_until = models.DateTimeField(null=True, blank=True)
    max_in_flight = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(64)],
        help_text="Requests sent to it at once, at most (within its rate limit).")
    # Freshness: a sync_lagging case opens when its oldest undelivered change is older than this.
    lag_threshold_seconds = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1)],
        help_text="A lagging-sync case opens when its oldest undelivered change is older than this.")
    # Reconciliation: a snapshot line agrees with the ledger when its difference is within
    # these units OR within this percent of the ledger's quantity (either suffices).
    reconcile_tolerance_units = models.PositiveIntegerField(
        default=0, help_text="A snapshot line within this many units of the ledger agrees with it.")
    reconcile_tolerance_percent = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text="A snapshot line within this percent of the ledger's quantity agrees with it.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords(excluded_fields=[
        "circuit_state", "consecutive_failures", "circuit_opened_at", "circuit_retry_at", "throttled_until",
        "relay_token", "relay_until",
    ])

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


class OutboxMessage(models.Model):
    """One outbound message, written in the same transaction as the change that causes it.

    The relay claims due rows (`SELECT … FOR UPDATE SKIP LOCKED`), leases them by moving
    `next_attempt_at` past the lease, sends outside any transaction with the row's
    idempotency key, and records the outcome only if it still holds the claim. A worker
    that dies mid-send leaves the row to be claimed again when the lease runs out; the
    partner deduplicates the resend by its idempotency key.
    """

    class Topic(models.TextChoices):
        AVAILABILITY = "availability"
        ORDER_UPDATE = "order_update"
        DOCUMENT = "document"

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        SUPERSEDED = "superseded", "Superseded by a newer message for the same key"
        DEAD = "dead", "Dead letter"

    # No index of its own: outbox_system_status leads with the system (a busy outbox takes
    # thousands of rows per ingest batch, and every index is written for each).
    system = models.ForeignKey(ExternalSystem, on_delete=models.PROTECT, related_name="outbox_messages",
                               db_index=False)
    topic = models.CharField(max_length=16, choices=Topic.choices)
    payload = models.JSONField()
    idempotency_key = models.CharField(max_length=64)  # unique: see Meta (no pattern-ops twin index)
    # An availability message's payload names levels ({"levels": [[sku id, location id], …]});
    # one for a single level carries "availability:<system>:<sku>:<location>" here, and of
    # several pending for that level only the newest is sent.
    coalescing_key = models.CharField(max_length=128, blank=True)
    # The idempotency key of the request that carries it, fixed before the first send: the
    # relay batches availability messages into one push, and a resend after a crash or a
    # failure goes as the same push with the same key, so the partner applies it once.
    push_key = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claim_token = models.UUIDField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    dead_at = models.DateTimeField(null=True, blank=True)
    replays = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["system", "next_attempt_at", "id"], name="outbox_due",
                         condition=models.Q(status="pending")),
            models.Index(fields=["coalescing_key", "id"], name="outbox_coalescing",
                         condition=~models.Q(coalescing_key="")),
            models.Index(fields=["system", "status", "created_at"], name="outbox_system_status"),
        ]
        constraints = [
            # A constraint rather than unique=True, which on PostgreSQL adds a second
            # (varchar_pattern_ops) index that no query uses.
            models.UniqueConstraint(fields=["idempotency_key"], name="outbox_idempotency_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} → {self.system_id} ({self.status})"


class SyncRun(models.Model):
    """One run of one sync job against one system, with what it did and how long it took."""

    class Job(models.TextChoices):
        AVAILABILITY_PUSH = "availability_push", "Availability push (on change)"
        AVAILABILITY_FULL_PUSH = "availability_full_push", "Availability full push"
        ORDER_UPDATE = "order_update", "Order updates"
        DOCUMENT_POST = "document_post", "Document posting"
        SNAPSHOT_PULL = "snapshot_pull", "Snapshot pull"

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        PARTIAL = "partial", "Partly failed"
        FAILED = "failed"

    system = models.ForeignKey(ExternalSystem, on_delete=models.PROTECT, related_name="sync_runs")
    job = models.CharField(max_length=32, choices=Job.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # Commit-to-acknowledgement latency of the messages this run delivered.
    latency_p50_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_p95_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["system", "job", "-started_at"], name="sync_run_recent"),
            # The dashboard's latency per system over a span, whatever the job.
            # (On PostgreSQL it carries the latencies, so the percentiles read the index alone.)
            models.Index(fields=["system", "started_at"], name="sync_run_system_started",
                         include=["latency_p50_ms", "latency_p95_ms"]),
        ]

    def __str__(self) -> str:
        return f"{self.job} {self.system_id} {self.started_at:%Y-%m-%d %H:%M:%S}"


class InventorySnapshot(models.Model):
    """A system's statement of its quantities as of a time; reconciliation consumes it.
    Lines keep the codes the system sent, so an unknown code is kept, not dropped.

    One model for the three sources (pulled by an adapter, posted to the API, uploaded by
    staff): who sent it is `sent_by` (the person, or a partner token's user) and
    `api_client` (the token), how is `source`. `content_hash` is the sha256 of the lines'
    canonical form (`integrations.snapshots`): the same content for the same system and
    time is the same snapshot, stored once. Snapshots stored before content hashing have
    an empty hash and are not deduplicated."""

    class Source(models.TextChoices):
        PULL = "pull"
        UPLOAD = "upload"
        API = "api"

    system = models.ForeignKey(ExternalSystem, on_delete=models.PROTECT, related_name="snapshots")
    source = models.CharField(max_length=8, choices=Source.choices)
    as_of = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    line_count = models.PositiveIntegerField(default=0)
    content_hash = models.CharField(max_length=64, blank=True, default="")
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    api_client = models.ForeignKey(ApiClient, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    sync_run = models.ForeignKey(SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["system", "-as_of"], name="snapshot_recent")]
        constraints = [
            models.UniqueConstraint(fields=["system", "as_of", "content_hash"], name="snapshot_once_per_content",
                                    condition=~models.Q(content_hash="")),
        ]

    def __str__(self) -> str:
        return f"{self.system_id} as of {self.as_of:%Y-%m-%d %H:%M:%S}"


class InventorySnapshotLine(models.Model):
    """One line of a snapshot, as sent. A snapshot lists a SKU at a location once: the
    intake (`integrations.snapshots`) refuses a second line for the same pair as it
    streams past, naming the row. No unique index repeats that check: a snapshot writes
    up to a million lines at once, and an index over two text codes would cost the
    intake more than everything else it does; the snapshot's index is all a run needs.

    For the same reason the snapshot reference has no database constraint (a check per
    line, as long again as writing the lines): the intake writes every line in the same
    transaction as its snapshot row, with that row's id, and nothing else writes lines;
    Django deletes them with their snapshot (`on_delete`)."""

    snapshot = models.ForeignKey(InventorySnapshot, on_delete=models.CASCADE, related_name="lines",
                                 db_constraint=False)
    sku_code = models.CharField(max_length=64)
    location_code = models.CharField(max_length=64)
    on_hand = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.sku_code}@{self.location_code}: {self.on_hand}"
