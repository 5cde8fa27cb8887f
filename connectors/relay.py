"""The outbox relay: claim due messages, send them, record what happened.

Per system, in turn: claim up to a batch of due messages with `SELECT … FOR UPDATE SKIP
LOCKED` (concurrent relays take disjoint rows), supersede availability messages that a
newer one for the same (system, sku, location) makes pointless, lease the rest by moving
their `next_attempt_at` forward, commit, and only then send — no HTTP inside a
transaction. Every outcome is written only while the relay still holds the claim
(`claim_token`), so a relay whose lease ran out cannot overwrite a newer outcome.

An availability message names the levels that changed; what it sends is their
availability read just before sending (one read per claim), with each level's
`version`. Latest wins by construction: a message sent late carries the newest state,
never the state of its own moment, and within a claim a level goes with the newest
message that names it.

Failures: a retryable one waits an exponential backoff with jitter; a 429 waits its
`Retry-After` and holds back the whole system until then; after INTEGRATIONS_MAX_ATTEMPTS,
or at once for a request the partner refuses as wrong, the message is a dead letter and
an integration case is raised. INTEGRATIONS_CIRCUIT_THRESHOLD consecutive failures open
the system's circuit: nothing is sent to it until a single half-open probe, after the
cool-down, succeeds.
"""

import logging
import random
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, Max, OuterRef, Q
from django.utils import timezone

from connectors.adapters import Adapter, DeliveryFailed, NotSupported, Throttled, adapter_for
from connectors.availability import availability_item
from exceptions.services import CaseReport, raise_case
from exceptions.states import CaseKind
from integrations.models import ExternalSystem, OutboxMessage, SyncRun
from integrations.outbox import message_levels
from inventory.selectors import level_rows, levels_at
from returns.refunds import return_postings_dead_lettered

logger = logging.getLogger(__name__)

Circuit = ExternalSystem.Circuit
Status = OutboxMessage.Status

JOB_OF_TOPIC = {
    OutboxMessage.Topic.AVAILABILITY: SyncRun.Job.AVAILABILITY_PUSH,
    OutboxMessage.Topic.ORDER_UPDATE: SyncRun.Job.ORDER_UPDATE,
    OutboxMessage.Topic.DOCUMENT: SyncRun.Job.DOCUMENT_POST,
}


def backoff_seconds(attempts: int) -> float:
    """Wait before attempt `attempts + 1`: base × 2^(attempts−1), capped, with "equal
    jitter" (half fixed, half random) so that failed messages do not retry in lockstep."""
    ceiling = min(settings.INTEGRATIONS_BACKOFF_MAX_SECONDS,
                  settings.INTEGRATIONS_BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


@dataclass
class Tally:
    """What one relay run did for one (system, job): becomes a SyncRun."""

    started_at: datetime
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors: list[str] = field(default_factory=list)
    latencies_ms: list[int] = field(default_factory=list)

    def error(self, message: str) -> None:
        if len(self.errors) < 20:
            self.errors.append(message[:500])


@dataclass
class RelayRun:
    token: uuid.UUID
    deadline: float
    tallies: dict[tuple[int, str], Tally] = field(default_factory=dict)

    def tally(self, system_id: int, topic: str) -> Tally:
        key = (system_id, JOB_OF_TOPIC[topic])
        if key not in self.tallies:
            self.tallies[key] = Tally(started_at=timezone.now())
        return self.tallies[key]

    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for tally in self.tallies.values():
            for name, count in tally.counts.items():
                totals[name] += count
        return dict(totals)


def outbox_relay(*, time_budget: float | None = None, batch_size: int | None = None) -> dict[str, int]:
    """Relay due messages until none is due or the time budget is spent; safe to run
    concurrently and twice. Returns the counts (delivered, failed, dead, …)."""
    budget = settings.INTEGRATIONS_RELAY_TIME_BUDGET_SECONDS if time_budget is None else time_budget
    batch_size = batch_size or settings.INTEGRATIONS_RELAY_BATCH
    run = RelayRun(token=uuid.uuid4(), deadline=time.monotonic() + budget)
    adapters: dict[int, Adapter] = {}
    try:
        while time.monotonic() < run.deadline:
            progressed = False
            for system in _systems_with_due_messages():
                probing = system.circuit_state != Circuit.CLOSED
                if probing and not _begin_probe(system):
                    continue
                claimed = _claim(system, limit=1 if probing else batch_size, run=run)
                if not claimed:
                    continue
                progressed = True
                try:
                    if system.pk not in adapters:
                        adapters[system.pk] = adapter_for(system)
                except (DeliveryFailed, NotSupported) as exc:  # misconfigured: a person must fix it
                    for message in claimed:
                        _dead_letter(system, message, str(exc), status_code=None, run=run,
                                     tally=run.tally(system.pk, message.topic))
                    continue
                _deliver(system, claimed, adapter=adapters[system.pk], run=run)
            if not progressed:
                break
    finally:
        for adapter in adapters.values():
            adapter.close()
        _record_runs(run)
    return run.totals()


def _systems_with_due_messages() -> list[ExternalSystem]:
    now = timezone.now()
    due = OutboxMessage.objects.filter(system=OuterRef("pk"), status=Status.PENDING, next_attempt_at__lte=now)
    return list(
        ExternalSystem.objects.filter(enabled=True, paused=False)
        .exclude(adapter=ExternalSystem.Adapter.NONE)
        .filter(Q(throttled_until__isnull=True) | Q(throttled_until__lte=now))
        .filter(Q(circuit_state=Circuit.CLOSED) | Q(circuit_retry_at__lte=now))
        .filter(Exists(due))
        .select_related("channel")
        .order_by("pk")
    )


def _begin_probe(system: ExternalSystem) -> bool:
    """Take the one half-open probe of an open circuit whose cool-down is over. The probe
    itself is leased: if its relay dies, another probe may go when the lease runs out."""
    now = timezone.now()
    taken = (
        ExternalSystem.objects.filter(pk=system.pk, circuit_retry_at__lte=now)
        .exclude(circuit_state=Circuit.CLOSED)
        .update(circuit_state=Circuit.HALF_OPEN,
                circuit_retry_at=now + timedelta(seconds=settings.INTEGRATIONS_LEASE_SECONDS))
    )
    if taken:
        system.circuit_state = Circuit.HALF_OPEN
    return bool(taken)


@transaction.atomic
def _claim(system: ExternalSystem, *, limit: int, run: RelayRun) -> list[OutboxMessage]:
    now = timezone.now()
    rows = list(
        OutboxMessage.objects.select_for_update(skip_locked=True)
        .filter(system=system, status=Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")[:limit]
    )
    if not rows:
        return []
    superseded = _superseded(rows)
    superseded |= _assign_levels([message for message in rows if message.pk not in superseded])
    if superseded:
        OutboxMessage.objects.filter(pk__in=superseded).update(status=Status.SUPERSEDED, claim_token=None)
        for message in rows:
            if message.pk in superseded:
                run.tally(system.pk, message.topic).counts["superseded"] += 1
    claimed = [message for message in rows if message.pk not in superseded]
    lease_until = now + timedelta(seconds=settings.INTEGRATIONS_LEASE_SECONDS)
    OutboxMessage.objects.filter(pk__in=[message.pk for message in claimed]).update(
        claim_token=run.token, next_attempt_at=lease_until
    )
    for message in claimed:
        message.claim_token, message.next_attempt_at = run.token, lease_until
    return claimed


def _superseded(rows: list[OutboxMessage]) -> set[int]:
    """One-level availability messages with a newer message for the same level: latest wins."""
    keys = {message.coalescing_key for message in rows if message.coalescing_key}
    if not keys:
        return set()
    newest = dict(
        OutboxMessage.objects.filter(coalescing_key__in=keys)
        .values("coalescing_key").annotate(newest=Max("pk")).values_list("coalescing_key", "newest")
    )
    return {message.pk for message in rows if message.coalescing_key and newest[message.coalescing_key] > message.pk}


def _assign_levels(rows: list[OutboxMessage]) -> set[int]:
    """Give each claimed availability message the levels it is to send (`levels_to_send`):
    a level named by several goes with the newest of them only, since each send reads
    the level's state at that moment. Returns the messages left with nothing to send."""
    taken: set[tuple[int, int]] = set()
    empty = set()
    for message in sorted(rows, key=lambda row: row.pk, reverse=True):
        if message.topic != OutboxMessage.Topic.AVAILABILITY:
            continue
        message.levels_to_send = [key for key in message_levels(message) if key not in taken]
        taken.update(message.levels_to_send)
        if not message.levels_to_send:
            empty.add(message.pk)
    return empty


def _availability_items(system: ExternalSystem, claimed: list[OutboxMessage]) -> dict[int, list[dict]]:
    """What each availability message tells the system: the current availability of its
    levels for the system's channel, read once for the whole claim, each item stamped
    with the time its message was written (when the level was last known to change)."""
    messages = [message for message in claimed if message.topic == OutboxMessage.Topic.AVAILABILITY]
    if not messages:
        return {}
    rows = {(row["sku_id"], row["location_id"]): row
            for row in level_rows(levels_at(key for message in messages for key in message.levels_to_send))}
    items = {}
    for message in messages:
        changed_at = message.created_at.isoformat()
        items[message.pk] = [availability_item(rows[key], channel=system.channel) | {"changed_at": changed_at}
                             for key in message.levels_to_send if key in rows]
    return items


def _deliver(system: ExternalSystem, claimed: list[OutboxMessage], *, adapter: Adapter, run: RelayRun) -> None:
    # Stop early enough that every send fits in the lease: past it, another relay may send too.
    lease_deadline = time.monotonic() + settings.INTEGRATIONS_LEASE_SECONDS - system.timeout_seconds
    interval = 1 / system.rate_limit_per_second if system.rate_limit_per_second else 0.0
    last_sent = 0.0
    items = _availability_items(system, claimed)
    for index, message in enumerate(claimed):
        if time.monotonic() >= min(lease_deadline, run.deadline):
            _release(claimed[index:], run=run, at=timezone.now())
            return
        if interval:
            time.sleep(max(0.0, last_sent + interval - time.monotonic()))
            last_sent = time.monotonic()
        tally = run.tally(system.pk, message.topic)
        if message.pk in items and not items[message.pk]:  # its levels are gone: nothing to say
            if _held(message, run).update(status=Status.SUPERSEDED, claim_token=None):
                tally.counts["superseded"] += 1
            continue
        tally.counts["attempted"] += 1
        try:
            _send(adapter, message, items.get(message.pk))
        except Throttled as exc:
            until = _throttled(system, message, exc, run=run, tally=tally)
            _release(claimed[index + 1:], run=run, at=until)
            return
        except NotSupported as exc:
            _dead_letter(system, message, str(exc), status_code=None, run=run, tally=tally)
        except DeliveryFailed as exc:
            if not exc.retryable:
                _dead_letter(system, message, str(exc), status_code=exc.status_code, run=run, tally=tally)
                continue
            if _failed(system, message, exc, run=run, tally=tally):
                _release(claimed[index + 1:], run=run, at=timezone.now())
                return
        else:
            _delivered(system, message, run=run, tally=tally)


def _send(adapter: Adapter, message: OutboxMessage, items: list[dict] | None) -> None:
    if message.topic == OutboxMessage.Topic.AVAILABILITY:
        adapter.push_availability(items, idempotency_key=message.idempotency_key)
    else:
        adapter.post_document(message.payload["document_type"], message.payload["document"],
                              idempotency_key=message.idempotency_key)


def _held(message: OutboxMessage, run: RelayRun):
    """The message's row, only while this run still holds its claim."""
    return OutboxMessage.objects.filter(pk=message.pk, claim_token=run.token, status=Status.PENDING)


def _release(messages: list[OutboxMessage], *, run: RelayRun, at: datetime) -> None:
    if messages:
        OutboxMessage.objects.filter(pk__in=[m.pk for m in messages], claim_token=run.token,
                                     status=Status.PENDING).update(claim_token=None, next_attempt_at=at)


def _delivered(system: ExternalSystem, message: OutboxMessage, *, run: RelayRun, tally: Tally) -> None:
    now = timezone.now()
    if _held(message, run).update(status=Status.DELIVERED, delivered_at=now, claim_token=None,
                                  attempts=F("attempts") + 1):
        tally.counts["delivered"] += 1
        tally.latencies_ms.append(int((now - message.created_at).total_seconds() * 1000))
    if system.consecutive_failures or system.circuit_state != Circuit.CLOSED:
        ExternalSystem.objects.filter(pk=system.pk).update(
            consecutive_failures=0, circuit_state=Circuit.CLOSED, circuit_opened_at=None, circuit_retry_at=None
        )
        if system.circuit_state != Circuit.CLOSED:
            logger.info("Circuit of %s closed again.", system.code)
        system.consecutive_failures, system.circuit_state = 0, Circuit.CLOSED


def _failed(system: ExternalSystem, message: OutboxMessage, exc: DeliveryFailed, *, run: RelayRun,
            tally: Tally) -> bool:
    """A retryable failure: back off, or dead-letter after the last attempt. Returns True
    when it opened the system's circuit (the rest of the batch then waits)."""
    attempts = message.attempts + 1
    tally.error(f"#{message.pk}: {exc}")
    if attempts >= settings.INTEGRATIONS_MAX_ATTEMPTS:
        _dead_letter(system, message, str(exc), status_code=exc.status_code, run=run, tally=tally)
    else:
        tally.counts["failed"] += 1
        _held(message, run).update(
            attempts=attempts, claim_token=None, last_error=str(exc)[:2000], last_status_code=exc.status_code,
            next_attempt_at=timezone.now() + timedelta(seconds=backoff_seconds(attempts)),
        )
    return _count_failure(system)


def _count_failure(system: ExternalSystem) -> bool:
    ExternalSystem.objects.filter(pk=system.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    failures = ExternalSystem.objects.values_list("consecutive_failures", flat=True).get(pk=system.pk)
    system.consecutive_failures = failures
    if system.circuit_state != Circuit.HALF_OPEN and failures < settings.INTEGRATIONS_CIRCUIT_THRESHOLD:
        return False
    now = timezone.now()
    ExternalSystem.objects.filter(pk=system.pk).update(
        circuit_state=Circuit.OPEN, circuit_opened_at=now,
        circuit_retry_at=now + timedelta(seconds=settings.INTEGRATIONS_CIRCUIT_COOLDOWN_SECONDS),
    )
    logger.warning("Circuit of %s opened after %d consecutive failures.", system.code, failures)
    system.circuit_state = Circuit.OPEN
    return True


def _throttled(system: ExternalSystem, message: OutboxMessage, exc: Throttled, *, run: RelayRun,
               tally: Tally) -> datetime:
    """429: wait as long as the partner asked (or a backoff if it did not say), for the
    whole system. A throttled send is not the message's fault: it does not use an attempt."""
    wait = exc.retry_after if exc.retry_after is not None else backoff_seconds(message.attempts + 1)
    until = timezone.now() + timedelta(seconds=min(wait, settings.INTEGRATIONS_RETRY_AFTER_MAX_SECONDS))
    tally.counts["throttled"] += 1
    _held(message, run).update(claim_token=None, next_attempt_at=until, last_error=str(exc)[:2000],
                               last_status_code=429)
    ExternalSystem.objects.filter(pk=system.pk).update(throttled_until=until)
    if system.circuit_state == Circuit.HALF_OPEN:  # the partner answered: it is up
        ExternalSystem.objects.filter(pk=system.pk).update(circuit_state=Circuit.CLOSED, consecutive_failures=0,
                                                           circuit_opened_at=None, circuit_retry_at=None)
        system.circuit_state = Circuit.CLOSED
    return until


@transaction.atomic
def _dead_letter(system: ExternalSystem, message: OutboxMessage, error: str, *, status_code: int | None,
                 run: RelayRun, tally: Tally) -> None:
    now = timezone.now()
    if not _held(message, run).update(status=Status.DEAD, dead_at=now, claim_token=None, attempts=F("attempts") + 1,
                                      last_error=error[:2000], last_status_code=status_code):
        return
    tally.counts["dead"] += 1
    tally.error(f"#{message.pk} dead letter: {error}")
    dead_count = OutboxMessage.objects.filter(system=system, status=Status.DEAD).count()
    raise_case(CaseReport(
        kind=CaseKind.DEAD_LETTER,
        dedup_key=f"dead_letter:{system.code}",
        title=f"Messages to {system.code} are dead letters",
        detail=f"Message #{message.pk} ({message.topic}) failed for good: {error[:500]}",
        subject=system,
        context={"message_id": message.pk, "topic": message.topic, "attempts": message.attempts + 1,
                 "last_error": error[:500], "status_code": status_code, "dead_letters": dead_count},
    ))
    if message.topic == OutboxMessage.Topic.DOCUMENT:  # a return's credit note: its return is unreconciled
        return_postings_dead_lettered(message_ids=[message.pk])


def _record_runs(run: RelayRun) -> None:
    now = timezone.now()
    runs = []
    for (system_id, job), tally in run.tallies.items():
        counts = dict(tally.counts)
        delivered, broken = counts.get("delivered", 0), counts.get("failed", 0) + counts.get("dead", 0)
        status = (SyncRun.Status.SUCCEEDED if not broken
                  else SyncRun.Status.PARTIAL if delivered else SyncRun.Status.FAILED)
        latencies = sorted(tally.latencies_ms)
        runs.append(SyncRun(
            system_id=system_id, job=job, status=status, started_at=tally.started_at, finished_at=now,
            counts=counts, errors=tally.errors,
            duration_ms=int((now - tally.started_at).total_seconds() * 1000),
            latency_p50_ms=percentile(latencies, 50), latency_p95_ms=percentile(latencies, 95),
        ))
    if runs:
        SyncRun.objects.bulk_create(runs)


def percentile(sorted_values: list[int], pct: float) -> int | None:
    """Nearest-rank percentile of an ascending list; None for no values."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[int(rank) - 1]
