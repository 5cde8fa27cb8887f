"""The outbox relay: claim due messages, send them, record what happened.

One relay at a time works a system, holding a lease on it (`relay_token`, renewed while
it works, so a relay that dies frees the system when the lease runs out). It keeps up to
the system's `max_in_flight` requests in flight, spaced by its rate limit, on the
worker process's kept-alive HTTP client for the system, and claims more as requests
come back: many systems and many requests to one system go at once, and a request is
never held back for another system's.

A claim takes up to a batch of due messages with `SELECT … FOR UPDATE SKIP LOCKED`,
supersedes availability messages that a newer one for the same (system, sku, location)
makes pointless (whether or not the newer one is in this claim), leases the rest by
moving their `next_attempt_at` forward, groups availability messages into pushes of up
to ITEMS_PER_PUSH levels, fixes each push's idempotency key on its messages
(`push_key`), and commits; only then does anything go out — no HTTP inside a
transaction. A push sent again (after a failure, or after a worker died mid-send) is the
same messages under the same key, so the partner applies it once. Every outcome is
written for a whole push in one statement, and only while the relay still holds the
claim (`claim_token`), so a relay whose lease ran out cannot overwrite a newer outcome.

An availability message names the levels that changed; what it sends is their
availability read just before sending (one read per claim), with each level's
`version`. Latest wins by construction: a message sent late carries the newest state,
never the state of its own moment, and within a claim a level goes with the newest
message that names it.

Failures: a retryable one waits an exponential backoff with jitter; a 429 waits its
`Retry-After` and holds back the whole system until then; after INTEGRATIONS_MAX_ATTEMPTS,
or at once for a request the partner refuses as wrong, the push's messages are dead
letters and an integration case is raised. INTEGRATIONS_CIRCUIT_THRESHOLD consecutive
failed requests open the system's circuit: nothing is sent to it until a single half-open
probe, after the cool-down, succeeds.
"""

import logging
import os
import random
import time
import uuid
from collections import defaultdict, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Exists, F, Max, OuterRef, Q, Value, When
from django.utils import timezone

from connectors.adapters import Adapter, DeliveryFailed, NotSupported, Throttled, shared_adapter_for
from connectors.availability import availability_item
from exceptions.services import CaseReport, raise_case
from exceptions.states import CaseKind
from integrations.models import ExternalSystem, OutboxMessage, SyncRun
from integrations.outbox import ITEMS_PER_PUSH, message_levels, new_idempotency_key, relay_wake
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
# How long the relay waits for a request to come back before it looks again for new
# messages of an idle system; and how often it looks for systems that became due.
POLL_SECONDS = 0.02
SCAN_SECONDS = 0.5


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
    claims: int = 0  # claims that found work

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


@dataclass
class Push:
    """One request: a document or order update alone, or availability messages batched
    under one idempotency key (`items` is then what they say, read after the claim)."""

    key: str
    topic: str
    messages: list[OutboxMessage]
    send_by: float  # monotonic: past this the lease may run out mid-send, so it is released
    items: list[dict] | None = None


@dataclass
class SystemWork:
    """A system this run holds: what is claimed and waiting, what is in flight."""

    system: ExternalSystem
    queue: deque = field(default_factory=deque)
    in_flight: int = 0
    next_send_at: float = 0.0
    last_empty_claim: float | None = None
    probing: bool = False
    stopped: bool = False  # throttled, circuit opened or misconfigured: nothing more this run

    @property
    def limit(self) -> int:
        return 1 if self.probing else max(1, self.system.max_in_flight)

    @property
    def interval(self) -> float:
        rate = self.system.rate_limit_per_second
        return 1 / rate if rate else 0.0

    @property
    def idle(self) -> bool:
        return not self.in_flight and not self.queue and (self.stopped or self.last_empty_claim is not None)


# One pool of sending threads per worker process; a forked child makes its own.
_senders: tuple[int, ThreadPoolExecutor] | None = None


def _sender_pool() -> ThreadPoolExecutor:
    global _senders
    if _senders is None or _senders[0] != os.getpid():
        _senders = (os.getpid(), ThreadPoolExecutor(max_workers=settings.INTEGRATIONS_RELAY_THREADS,
                                                    thread_name_prefix="outbox-send"))
    return _senders[1]


def outbox_relay(*, system_id: int | None = None, time_budget: float | None = None,
                 batch_size: int | None = None) -> dict[str, int]:
    """Relay due messages until none is due or the time budget is spent; safe to run
    concurrently and twice. With `system_id`, only that system's (the task on a system's
    own queue); without, every system's. Returns the counts (delivered, failed, dead, …)."""
    budget = settings.INTEGRATIONS_RELAY_TIME_BUDGET_SECONDS if time_budget is None else time_budget
    batch_size = batch_size or settings.INTEGRATIONS_RELAY_BATCH
    run = RelayRun(token=uuid.uuid4(), deadline=time.monotonic() + budget)
    works: dict[int, SystemWork] = {}
    in_flight: dict[Future, tuple[SystemWork, Push]] = {}
    try:
        next_scan = 0.0
        claims_before_check = -1  # claims that returned work since the last look for due messages
        while True:
            now = time.monotonic()
            open_for_work = now < run.deadline
            if open_for_work and now >= next_scan:
                _take_systems(works, run, only=system_id)
                next_scan = now + SCAN_SECONDS
            for work in list(works.values()):
                if open_for_work:
                    _feed(work, run=run, batch_size=batch_size, in_flight=in_flight)
                if work.idle:
                    _let_go(work, run)
                    del works[work.system.pk]
            if not in_flight:
                if not open_for_work:
                    break
                if not works:
                    # Let go of every system, then look once more: a message committed
                    # while this run held its system was skipped by the relay it woke.
                    # (Twice running without claiming anything: whatever is due is not
                    # ours to take — rows locked elsewhere — and beat comes back for it.)
                    if run.claims == claims_before_check or not _systems_with_due_messages(only=system_id):
                        break
                    claims_before_check = run.claims
                    next_scan = 0.0
                    continue
            timeout = POLL_SECONDS
            waiting = [work.next_send_at - now for work in works.values() if work.queue and work.next_send_at > now]
            if waiting:
                timeout = max(0.0, min(timeout, *waiting))
            done, _pending = wait(list(in_flight), timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:
                work, push = in_flight.pop(future)
                work.in_flight -= 1
                _outcome(work, push, future, run=run)
    finally:
        let_go = []
        for work in works.values():
            _release([message for push in work.queue for message in push.messages], run=run, at=timezone.now())
            work.queue.clear()
            if not work.in_flight:
                _let_go(work, run)
                let_go.append(work.system.pk)
        _record_runs(run)
        # The time budget is spent with messages still coming: their wake-ups passed over
        # the systems this run held, so it wakes the next relay of each itself.
        still_due = [system.pk for system in _systems_with_due_messages() if system.pk in let_go]
        if still_due:
            relay_wake(system_ids=still_due)
    return run.totals()


# --- Which systems this run works --------------------------------------------------------


def _systems_with_due_messages(*, exclude: list[int] = (), only: int | None = None) -> list[ExternalSystem]:
    now = timezone.now()
    due = OutboxMessage.objects.filter(system=OuterRef("pk"), status=Status.PENDING, next_attempt_at__lte=now)
    systems = ExternalSystem.objects.filter(pk=only) if only is not None else ExternalSystem.objects.all()
    return list(
        systems.filter(enabled=True, paused=False)
        .exclude(adapter=ExternalSystem.Adapter.NONE)
        .exclude(pk__in=exclude)
        .filter(Q(throttled_until__isnull=True) | Q(throttled_until__lte=now))
        .filter(Q(circuit_state=Circuit.CLOSED) | Q(circuit_retry_at__lte=now))
        .filter(Q(relay_until__isnull=True) | Q(relay_until__lte=now))
        .filter(Exists(due))
        .select_related("channel")
        .order_by("pk")
    )


def systems_due() -> list[ExternalSystem]:
    """The systems a relay could work now: enabled, not paused, throttled, broken or held
    by another relay, with messages due."""
    return _systems_with_due_messages()


def _take_systems(works: dict[int, SystemWork], run: RelayRun, *, only: int | None = None) -> None:
    """Renew the lease on the systems this run holds; take those with due messages that
    no other relay holds."""
    now = timezone.now()
    lease_until = now + timedelta(seconds=settings.INTEGRATIONS_LEASE_SECONDS)
    if works:
        ExternalSystem.objects.filter(pk__in=list(works), relay_token=run.token).update(relay_until=lease_until)
    for system in _systems_with_due_messages(exclude=list(works), only=only):
        taken = (
            ExternalSystem.objects.filter(pk=system.pk)
            .filter(Q(relay_until__isnull=True) | Q(relay_until__lte=now))
            .update(relay_token=run.token, relay_until=lease_until)
        )
        if not taken:
            continue
        work = SystemWork(system=system)
        if system.circuit_state != Circuit.CLOSED:
            if not _begin_probe(system):
                _let_go(work, run)
                continue
            work.probing = True
        works[system.pk] = work


def _let_go(work: SystemWork, run: RelayRun) -> None:
    ExternalSystem.objects.filter(pk=work.system.pk, relay_token=run.token).update(relay_token=None,
                                                                                   relay_until=None)


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


# --- Claiming and sending ------------------------------------------------------------------


def _feed(work: SystemWork, *, run: RelayRun, batch_size: int, in_flight: dict) -> None:
    """Fill the system's free request slots: claim when nothing is waiting, send what
    the rate limit allows now."""
    while not work.stopped and work.in_flight < work.limit:
        if not work.queue:
            now = time.monotonic()
            if now >= run.deadline:  # a claim now would only be released again
                return
            if work.last_empty_claim is not None and now - work.last_empty_claim < POLL_SECONDS:
                return
            pushes = _claim_and_render(work, run=run, limit=1 if work.probing else batch_size)
            if not pushes:
                work.last_empty_claim = now
                return
            work.last_empty_claim = None
            work.queue.extend(pushes)
        now = time.monotonic()
        if now < work.next_send_at:
            return
        push = work.queue.popleft()
        if now >= min(push.send_by, run.deadline):
            _release(push.messages, run=run, at=timezone.now())
            continue
        try:
            adapter = shared_adapter_for(work.system)
        except (DeliveryFailed, NotSupported) as exc:  # misconfigured: a person must fix it
            _dead_letter(work.system, push.messages, str(exc), status_code=None, run=run)
            continue
        run.tally(work.system.pk, push.topic).counts["attempted"] += len(push.messages)
        work.in_flight += 1
        work.next_send_at = now + work.interval
        in_flight[_sender_pool().submit(_send, adapter, push)] = (work, push)


def _claim_and_render(work: SystemWork, *, run: RelayRun, limit: int) -> list[Push]:
    pushes = _claim(work.system, limit=limit, run=run)
    if pushes:
        run.claims += 1
    return _render(work.system, pushes, run=run)


@transaction.atomic
def _claim(system: ExternalSystem, *, limit: int, run: RelayRun) -> list[Push]:
    now = timezone.now()
    rows = list(
        OutboxMessage.objects.select_for_update(skip_locked=True)
        .filter(system=system, status=Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")[:limit]
    )
    if not rows:
        return []
    rows += _rest_of_their_pushes(system, rows, now=now)
    superseded, newer = _superseded(rows)
    # What supersedes goes now: left for a later claim, a busy level would be superseded
    # again and again, and its partner would not hear of it while it keeps changing.
    rows += list(OutboxMessage.objects.select_for_update(skip_locked=True)
                 .filter(pk__in=newer, status=Status.PENDING, next_attempt_at__lte=now).order_by("pk"))
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
    return _pushes(system, claimed)


def _rest_of_their_pushes(system: ExternalSystem, rows: list[OutboxMessage], *, now: datetime) -> list:
    """Messages sent before as one push are sent again as that push: the claim takes the
    due rest of the pushes its rows belong to (the batch limit may have cut one)."""
    keys = {row.push_key for row in rows if row.push_key}
    if not keys:
        return []
    return list(
        OutboxMessage.objects.select_for_update(skip_locked=True)
        .filter(system=system, status=Status.PENDING, next_attempt_at__lte=now, push_key__in=keys)
        .exclude(pk__in=[row.pk for row in rows])
        .order_by("pk")
    )


def _superseded(rows: list[OutboxMessage]) -> tuple[set[int], set[int]]:
    """One-level availability messages with a newer message for the same level, wherever
    that one is (in this claim, waiting, in flight or delivered): latest wins. Returns
    them, and the newest messages that supersede them from outside the claim."""
    keys = {message.coalescing_key for message in rows if message.coalescing_key}
    if not keys:
        return set(), set()
    newest = dict(
        OutboxMessage.objects.filter(coalescing_key__in=keys)
        .values("coalescing_key").annotate(newest=Max("pk")).values_list("coalescing_key", "newest")
    )
    superseded = {message.pk for message in rows
                  if message.coalescing_key and newest[message.coalescing_key] > message.pk}
    claimed = {message.pk for message in rows}
    return superseded, {newest[message.coalescing_key] for message in rows
                        if message.pk in superseded and newest[message.coalescing_key] not in claimed}


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


def _pushes(system: ExternalSystem, claimed: list[OutboxMessage]) -> list[Push]:
    """Group the claim into requests and fix each push's key on its messages.

    A document or order update goes alone under its own key. Availability messages that
    went out before as one push go again under that push's key, unless part of that push
    is elsewhere (in another relay's claim): then the part here gets a key of its own,
    so that it can never be taken for a request that carried other levels. The others
    are batched in order, up to ITEMS_PER_PUSH levels a push; a push of one message uses
    that message's key."""
    send_by = (time.monotonic() + settings.INTEGRATIONS_LEASE_SECONDS - system.timeout_seconds)
    pushes = [Push(key=message.idempotency_key, topic=message.topic, messages=[message], send_by=send_by)
              for message in claimed if message.topic != OutboxMessage.Topic.AVAILABILITY]
    availability = sorted((m for m in claimed if m.topic == OutboxMessage.Topic.AVAILABILITY), key=lambda m: m.pk)
    earlier = {message.push_key for message in availability if message.push_key}
    split = set()
    if earlier:
        split = set(
            OutboxMessage.objects.filter(system=system, status=Status.PENDING, push_key__in=earlier)
            .exclude(pk__in=[message.pk for message in availability])
            .values_list("push_key", flat=True).distinct()
        )
    resent: dict[str, list[OutboxMessage]] = defaultdict(list)
    fresh: list[OutboxMessage] = []
    for message in availability:
        if message.push_key and message.push_key not in split:
            resent[message.push_key].append(message)
        else:
            fresh.append(message)
    groups: list[list[OutboxMessage]] = []
    levels = 0
    for message in fresh:
        if not groups or levels + len(message.levels_to_send) > ITEMS_PER_PUSH:
            groups.append([])
            levels = 0
        groups[-1].append(message)
        levels += len(message.levels_to_send)
    keyed = {}
    for group in groups:
        key = group[0].idempotency_key if len(group) == 1 else new_idempotency_key()
        keyed[key] = group
        for message in group:
            message.push_key = key
    if keyed:
        OutboxMessage.objects.filter(pk__in=[message.pk for group in groups for message in group]).update(
            push_key=Case(*[When(pk__in=[message.pk for message in group], then=Value(key))
                            for key, group in keyed.items()]))
    keyed.update(resent)
    pushes += [Push(key=key, topic=OutboxMessage.Topic.AVAILABILITY, messages=group, send_by=send_by)
               for key, group in sorted(keyed.items(), key=lambda entry: entry[1][0].pk)]
    return pushes


def _render(system: ExternalSystem, pushes: list[Push], *, run: RelayRun) -> list[Push]:
    """What each availability push tells the system: the current availability of its
    messages' levels for the system's channel, read once for the whole claim, each item
    stamped with the time its message was written (when the level was last known to
    change). A message whose levels are all gone has nothing to say: superseded."""
    messages = [message for push in pushes if push.topic == OutboxMessage.Topic.AVAILABILITY
                for message in push.messages]
    if not messages:
        return pushes
    rows = {(row["sku_id"], row["location_id"]): row
            for row in level_rows(levels_at(key for message in messages for key in message.levels_to_send))}
    silent = []
    for push in pushes:
        if push.topic != OutboxMessage.Topic.AVAILABILITY:
            continue
        push.items = []
        for message in push.messages:
            changed_at = message.created_at.isoformat()
            items = [availability_item(rows[key], channel=system.channel) | {"changed_at": changed_at}
                     for key in message.levels_to_send if key in rows]
            if not items:
                silent.append(message)
            push.items += items
    if silent:
        superseded = _held_many(silent, run).update(status=Status.SUPERSEDED, claim_token=None)
        run.tally(system.pk, OutboxMessage.Topic.AVAILABILITY).counts["superseded"] += superseded
        gone = {message.pk for message in silent}
        for push in pushes:
            push.messages = [message for message in push.messages if message.pk not in gone]
    return [push for push in pushes if push.messages]


def _send(adapter: Adapter, push: Push):
    """In a sending thread: HTTP only, no database. Returns the delivery or the exception."""
    try:
        if push.topic == OutboxMessage.Topic.AVAILABILITY:
            return adapter.push_availability(push.items, idempotency_key=push.key)
        [message] = push.messages
        return adapter.post_document(message.payload["document_type"], message.payload["document"],
                                     idempotency_key=push.key)
    except (DeliveryFailed, NotSupported) as exc:
        return exc


def _outcome(work: SystemWork, push: Push, future: Future, *, run: RelayRun) -> None:
    system = work.system
    try:
        result = future.result()
    except Exception as exc:  # a bug in sending: the messages wait out their lease and go again
        logger.exception("Sending to %s failed unexpectedly.", system.code)
        result = DeliveryFailed(f"Unexpected error: {exc!r}")
    if isinstance(result, Throttled):
        until = _throttled(system, push, result, run=run)
        _stop(work, run=run, at=until)
    elif isinstance(result, NotSupported):
        _dead_letter(system, push.messages, str(result), status_code=None, run=run)
    elif isinstance(result, DeliveryFailed):
        if not result.retryable:
            _dead_letter(system, push.messages, str(result), status_code=result.status_code, run=run)
        elif _failed(system, push, result, run=run):
            _stop(work, run=run, at=timezone.now())
    else:
        _delivered(system, push, run=run)
        work.probing = False
    if work.probing:  # the probe failed
        _stop(work, run=run, at=timezone.now())


def _stop(work: SystemWork, *, run: RelayRun, at: datetime) -> None:
    """Nothing more goes to the system in this run: what waits is released until `at`."""
    work.stopped = True
    _release([message for push in work.queue for message in push.messages], run=run, at=at)
    work.queue.clear()


# --- Outcomes, each written for a whole push while the claim holds -----------------------


def _held_many(messages: list[OutboxMessage], run: RelayRun):
    """The messages' rows, only those this run still holds."""
    return OutboxMessage.objects.filter(pk__in=[message.pk for message in messages], claim_token=run.token,
                                        status=Status.PENDING)


def _release(messages: list[OutboxMessage], *, run: RelayRun, at: datetime) -> None:
    if messages:
        _held_many(messages, run).update(claim_token=None, next_attempt_at=at)


def _delivered(system: ExternalSystem, push: Push, *, run: RelayRun) -> None:
    now = timezone.now()
    tally = run.tally(system.pk, push.topic)
    delivered = _held_many(push.messages, run).update(status=Status.DELIVERED, delivered_at=now, claim_token=None,
                                                      attempts=F("attempts") + 1)
    tally.counts["delivered"] += delivered
    if delivered == len(push.messages):
        tally.latencies_ms += [int((now - message.created_at).total_seconds() * 1000) for message in push.messages]
    if system.consecutive_failures or system.circuit_state != Circuit.CLOSED:
        ExternalSystem.objects.filter(pk=system.pk).update(
            consecutive_failures=0, circuit_state=Circuit.CLOSED, circuit_opened_at=None, circuit_retry_at=None
        )
        if system.circuit_state != Circuit.CLOSED:
            logger.info("Circuit of %s closed again.", system.code)
        system.consecutive_failures, system.circuit_state = 0, Circuit.CLOSED


def _failed(system: ExternalSystem, push: Push, exc: DeliveryFailed, *, run: RelayRun) -> bool:
    """A retryable failure: the push backs off, or its messages are dead letters after
    the last attempt. Returns True when it opened the system's circuit."""
    tally = run.tally(system.pk, push.topic)
    attempts = max(message.attempts for message in push.messages) + 1
    tally.error(f"push {push.key} ({len(push.messages)} messages): {exc}")
    if attempts >= settings.INTEGRATIONS_MAX_ATTEMPTS:
        _dead_letter(system, push.messages, str(exc), status_code=exc.status_code, run=run)
    else:
        tally.counts["failed"] += _held_many(push.messages, run).update(
            attempts=F("attempts") + 1, claim_token=None, last_error=str(exc)[:2000],
            last_status_code=exc.status_code,
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


def _throttled(system: ExternalSystem, push: Push, exc: Throttled, *, run: RelayRun) -> datetime:
    """429: wait as long as the partner asked (or a backoff if it did not say), for the
    whole system. A throttled send is not the messages' fault: it uses no attempt."""
    attempts = max(message.attempts for message in push.messages) + 1
    wait_seconds = exc.retry_after if exc.retry_after is not None else backoff_seconds(attempts)
    until = timezone.now() + timedelta(seconds=min(wait_seconds, settings.INTEGRATIONS_RETRY_AFTER_MAX_SECONDS))
    run.tally(system.pk, push.topic).counts["throttled"] += _held_many(push.messages, run).update(
        claim_token=None, next_attempt_at=until, last_error=str(exc)[:2000], last_status_code=429)
    ExternalSystem.objects.filter(pk=system.pk).update(throttled_until=until)
    if system.circuit_state == Circuit.HALF_OPEN:  # the partner answered: it is up
        ExternalSystem.objects.filter(pk=system.pk).update(circuit_state=Circuit.CLOSED, consecutive_failures=0,
                                                           circuit_opened_at=None, circuit_retry_at=None)
        system.circuit_state = Circuit.CLOSED
    return until


@transaction.atomic
def _dead_letter(system: ExternalSystem, messages: list[OutboxMessage], error: str, *, status_code: int | None,
                 run: RelayRun) -> None:
    """The messages failed for good: dead letters, and one case for the system."""
    ids = list(_held_many(messages, run).select_for_update().values_list("pk", flat=True))
    if not ids:
        return
    now = timezone.now()
    OutboxMessage.objects.filter(pk__in=ids).update(status=Status.DEAD, dead_at=now, claim_token=None,
                                                    attempts=F("attempts") + 1, last_error=error[:2000],
                                                    last_status_code=status_code)
    dead = [message for message in messages if message.pk in set(ids)]
    first = dead[0]
    tally = run.tally(system.pk, first.topic)
    tally.counts["dead"] += len(dead)
    tally.error(f"#{first.pk} dead letter: {error}")
    dead_count = OutboxMessage.objects.filter(system=system, status=Status.DEAD).count()
    raise_case(CaseReport(
        kind=CaseKind.DEAD_LETTER,
        dedup_key=f"dead_letter:{system.code}",
        title=f"Messages to {system.code} are dead letters",
        detail=f"Message #{first.pk} ({first.topic}) failed for good: {error[:500]}"
               + (f" (and {len(dead) - 1} more sent with it)" if len(dead) > 1 else ""),
        subject=system,
        occurrences=len(dead),
        context={"message_id": first.pk, "message_ids": ids[:100], "topic": first.topic,
                 "attempts": first.attempts + 1, "last_error": error[:500], "status_code": status_code,
                 "dead_letters": dead_count},
    ))
    documents = [message.pk for message in dead if message.topic == OutboxMessage.Topic.DOCUMENT]
    if documents:  # a return's credit note: its return is unreconciled
        return_postings_dead_lettered(message_ids=documents)


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
