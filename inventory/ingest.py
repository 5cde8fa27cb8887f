"""Inbound inventory events: every partner fact taken exactly once (API.md "Inventory events").

A batch of up to 1,000 events costs a fixed number of statements, whatever its size:
resolve codes (2), insert the events ignoring conflicts (1) and read back which were
ours (1), lock every level once (1, plus 2 when levels are new), then the posting
(`inventory.ledger.post_movements`); applied receipts add one case raise per sender,
location and day (receiving's receiver of `inventory.signals.receipts_recorded`). Dedup
is the unique constraint on (source, event id), never a read-then-write, so two
deliveries of one event racing each other apply it once.
"""

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import NamedTuple

from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from exceptions.services import CaseReport, raise_cases
from exceptions.states import CaseKind
from inventory.adjustments import PendingCount, adjustments_from_counts, approval_policy_current
from inventory.errors import LocationOutOfScope
from inventory.ledger import FUTURE_TOLERANCE, Movement, lock_levels, post_movements
from inventory.models import Bucket, InventoryEvent
from inventory.selectors import locations_by_code, skus_by_code
from inventory.signals import AppliedEvent, receipts_recorded, till_returns_held
from retailops.access import LocationScope
from retailops.errors import InvalidState
from retailops.transactions import in_retrying_transaction

EventType = InventoryEvent.Type
Status = InventoryEvent.Status
_EVENT_TYPES = frozenset(EventType.values)

MAX_BATCH = 1000

# type → (bucket, sign). Counts are special: their delta is counted − on hand. A return
# at a location whose till-return policy is to inspect also holds its units in quality
# control (`Location.inspects_returns`).
_EFFECTS = {
    EventType.SALE: (Bucket.ON_HAND, -1),
    EventType.RETURN: (Bucket.ON_HAND, +1),
    EventType.RECEIPT: (Bucket.ON_HAND, +1),
    EventType.DAMAGE: (Bucket.DAMAGED, +1),
    EventType.ADJUSTMENT: (Bucket.ON_HAND, +1),
    EventType.TRANSFER_OUT: (Bucket.ON_HAND, -1),
    EventType.TRANSFER_IN: (Bucket.ON_HAND, +1),
}


@dataclass(frozen=True)
class IncomingEvent:
    """One event as the partner sent it, already checked for shape and types."""

    event_id: str
    type: str
    sku: str
    location: str
    quantity: int
    occurred_at: datetime
    reason: str = ""
    reference: str = ""

    def payload(self) -> dict:
        """The event's content, its time in UTC: as the stored event shows it
        (`InventoryEvent.payload`), so a resend compares with the original field by field."""
        return {
            "event_id": self.event_id, "type": self.type, "sku": self.sku, "location": self.location,
            "quantity": self.quantity, "occurred_at": self.occurred_at.astimezone(UTC).isoformat(),
            "reason": self.reason, "reference": self.reference,
        }

    def content_hash(self) -> str:
        """Same id and same content is a resend; the same instant at another UTC offset is
        the same content."""
        return hashlib.sha256(json.dumps(self.payload(), sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class EventResult:
    event_id: str
    status: str
    error_code: str = ""
    error_detail: str = ""


@dataclass
class IngestResult:
    results: list[EventResult]

    @property
    def summary(self) -> dict[str, int]:
        counts = Counter(result.status for result in self.results)
        return {status: counts.get(status, 0) for status in
                ("applied", "duplicate", "rejected", "stale", "conflict", "pending_approval")}


def _rejection(event: IncomingEvent, *, skus: dict, locations: dict, scope: LocationScope,
               now: datetime) -> tuple[str, str] | None:
    if event.type not in _EVENT_TYPES:
        return "unknown_type", f"Unknown event type '{event.type}'."
    if event.type == EventType.COUNT:
        if event.quantity < 0:
            return "invalid_quantity", "A count cannot be negative."
    elif event.type == EventType.ADJUSTMENT:
        if event.quantity == 0:
            return "invalid_quantity", "An adjustment must change the quantity."
    elif event.quantity <= 0:
        return "invalid_quantity", f"A {event.type} needs a positive quantity."
    if event.sku not in skus:
        return "unknown_sku", f"Unknown SKU '{event.sku}'."
    location = locations.get(event.location)
    if location is None:
        return "unknown_location", f"Unknown location '{event.location}'."
    if not scope.allows(location.pk):
        return "location_out_of_scope", f"Location '{event.location}' is outside this token's location scope."
    if event.occurred_at > now + FUTURE_TOLERANCE:
        return "occurred_in_future", "occurred_at is in the future."
    return None


@in_retrying_transaction
def events_ingest(*, source: str, events: list[IncomingEvent], actor, scope: LocationScope,
                  arrived_at: Mapping[str, datetime] | None = None) -> IngestResult:
    """Record a batch of partner events; apply each new valid one to the ledger.

    Each new event is stamped received now. An import of history that is replayed after
    the fact (the demo's week of till and dock events) gives, by event id, when each one
    first arrived (`arrived_at`, never later than now), so its latency is the one it had;
    the API never does."""
    if not 1 <= len(events) <= MAX_BATCH:
        raise ValueError(f"A batch holds 1 to {MAX_BATCH} events.")
    now = timezone.now()
    arrived_at = arrived_at or {}
    delivery_id = uuid.uuid4()
    skus = skus_by_code(event.sku for event in events)
    locations = locations_by_code(event.location for event in events)

    # The first occurrence of an id in the batch is the delivery; later ones are resends.
    first: dict[str, IncomingEvent] = {}
    for event in events:
        first.setdefault(event.event_id, event)

    hashes = {event_id: event.content_hash() for event_id, event in first.items()}
    rows = []
    for event in sorted(first.values(), key=lambda e: e.event_id):  # a fixed order of unique-key locks
        rejection = _rejection(event, skus=skus, locations=locations, scope=scope, now=now)
        sku, location = skus.get(event.sku), locations.get(event.location)
        rows.append(dict(
            source=source, event_id=event.event_id, type=event.type, sku_code=event.sku,
            location_code=event.location, sku_id=sku.pk if sku else None,
            location_id=location.pk if location else None, quantity=event.quantity,
            occurred_at=event.occurred_at, received_at=min(arrived_at.get(event.event_id, now), now),
            reason=event.reason, reference=event.reference,
            payload_hash=hashes[event.event_id],
            status=str(Status.REJECTED if rejection else Status.APPLIED),
            error_code=rejection[0] if rejection else "", error_detail=rejection[1] if rejection else "",
            delivery_id=delivery_id,
        ))
    InventoryEvent.objects.bulk_create([InventoryEvent(**row) for row in rows], ignore_conflicts=True,
                                       batch_size=MAX_BATCH)
    stored = _stored_events(source, list(first))
    ours = {event_id: row for event_id, row in stored.items() if row.delivery_id == delivery_id}

    statuses, stale = _apply_new_events(
        [event for event in events if event.event_id in ours and first[event.event_id] is event
         and ours[event.event_id].status == Status.APPLIED],
        ours=ours, skus=skus, locations=locations, actor=actor, source=source,
    )

    results: list[EventResult] = []
    seen: set[str] = set()
    to_report: list[tuple[str, IncomingEvent]] = []  # (rejected | conflict, event), in the batch's order
    for event in events:
        row = stored[event.event_id]
        is_first_delivery = event.event_id in ours and event.event_id not in seen
        seen.add(event.event_id)
        if is_first_delivery:
            status = statuses.get(event.event_id, row.status)
            results.append(EventResult(event.event_id, status, row.error_code, row.error_detail))
            if status == Status.REJECTED:
                to_report.append((Status.REJECTED, event))
        elif row.payload_hash == (hashes[event.event_id] if first[event.event_id] is event
                                  else event.content_hash()):
            results.append(EventResult(event.event_id, "duplicate"))
        else:
            results.append(EventResult(event.event_id, "conflict", "event_id_reused",
                                       "This event id was already received with different content."))
            to_report.append(("conflict", event))
    if stale or to_report:
        # Cases name their event row; the rows are read whole only when there are cases.
        instances = InventoryEvent.objects.in_bulk(
            [stored[event.event_id].pk for event, *_rest in stale]
            + [stored[event.event_id].pk for _kind, event in to_report]
        )

        def instance(event: IncomingEvent) -> InventoryEvent:
            return instances[stored[event.event_id].pk]

        case_reports = [_stale_case(source, event, instance(event), counted_at, sku, location)
                        for event, counted_at, sku, location in stale]
        case_reports += [
            _rejected_case(source, event, instance(event)) if kind == Status.REJECTED
            else _conflict_case(source, event, instance(event))
            for kind, event in to_report
        ]
        raise_cases(case_reports, actor=actor)
    return IngestResult(results)


class _StoredEvent(NamedTuple):
    """What a batch needs to know of each stored row of its event ids."""

    pk: int
    event_id: str
    payload_hash: str
    delivery_id: uuid.UUID
    status: str
    error_code: str
    error_detail: str
    sku_id: int | None
    location_id: int | None


def _stored_events(source: str, event_ids: list[str]) -> dict[str, _StoredEvent]:
    if not event_ids:
        return {}
    return {row.event_id: row for row in map(_StoredEvent._make, InventoryEvent.objects.filter(
        source=source, event_id__in=event_ids).values_list(*_StoredEvent._fields))}


def _applied(row, event, *, sku, location, source: str) -> AppliedEvent:
    return AppliedEvent(event_pk=row.pk, source=source, event_id=event.event_id, reference=event.reference,
                        sku_id=sku.pk, location_id=location.pk, quantity=event.quantity,
                        occurred_at=event.occurred_at, sku_code=sku.code, location_code=location.code,
                        unit_cost=sku.unit_cost)


def _apply_new_events(events, *, ours, skus, locations, actor, source):
    """Post the new, valid events; returns their statuses and the stale ones, as
    (event, last counted at, sku, location). Till returns held for inspection and
    receipts put on hand are told to whoever listens (`inventory.signals`), in this
    transaction."""
    if not events:
        return {}, []
    keys = {(skus[e.sku].pk, locations[e.location].pk) for e in events}
    levels = lock_levels(keys, fields=("on_hand", "last_counted_at"))
    on_hand = {key: level["on_hand"] for key, level in levels.items()}
    counted_at = {key: level["last_counted_at"] for key, level in levels.items()}
    policy = approval_policy_current() if any(event.type == EventType.COUNT for event in events) else None
    pending_counts: list[PendingCount] = []

    statuses: dict[str, str] = {}
    variances: dict[str, int] = {}
    movements: list[Movement] = []
    newly_counted: dict[tuple[int, int], datetime] = {}
    stale: list[tuple] = []
    held: list[AppliedEvent] = []
    receipts: list[AppliedEvent] = []
    for event in events:
        sku, location = skus[event.sku], locations[event.location]
        key = (sku.pk, location.pk)
        row = ours[event.event_id]
        if counted_at[key] is not None and event.occurred_at < counted_at[key]:
            statuses[event.event_id] = Status.STALE
            stale.append((event, counted_at[key], sku, location))
            continue
        if event.type == EventType.COUNT:
            variance = event.quantity - on_hand[key]
            variances[event.event_id] = variance
            if policy.approvals_required(abs(variance) * sku.unit_cost):
                statuses[event.event_id] = Status.PENDING_APPROVAL
                pending_counts.append(PendingCount(event_id=row.pk, sku=sku, location_id=location.pk,
                                                   counted=event.quantity, counted_at=event.occurred_at,
                                                   on_hand=on_hand[key]))
                continue
            bucket, delta = Bucket.ON_HAND, variance
            counted_at[key] = newly_counted[key] = event.occurred_at
        else:
            bucket, sign = _EFFECTS[event.type]
            delta = sign * event.quantity
        if bucket == Bucket.ON_HAND:
            on_hand[key] += delta
        if delta:
            movements.append(Movement(
                sku_id=sku.pk, location_id=location.pk, bucket=bucket, delta=delta, reason=event.type,
                occurred_at=event.occurred_at, event_id=row.pk,
            ))
        if event.type == EventType.RETURN and location.inspects_returns:
            # The location's till-return policy: the units are on hand but held in quality
            # control, unavailable, until someone inspects them.
            movements.append(Movement(
                sku_id=sku.pk, location_id=location.pk, bucket=Bucket.QUALITY_CONTROL, delta=delta,
                reason="return_to_inspection", occurred_at=event.occurred_at, event_id=row.pk,
            ))
            held.append(_applied(row, event, sku=sku, location=location, source=source))
        if event.type == EventType.RECEIPT:
            receipts.append(_applied(row, event, sku=sku, location=location, source=source))
        statuses[event.event_id] = Status.APPLIED

    post_movements(movements, counted_at=newly_counted, actor=actor, document_type="inventory_event")
    for status in (Status.STALE, Status.PENDING_APPROVAL):
        ids = [ours[event_id].pk for event_id, value in statuses.items() if value == status]
        if ids:
            InventoryEvent.objects.filter(pk__in=ids).update(status=status)
    if variances:
        _record_count_variances({ours[event_id].pk: variance for event_id, variance in variances.items()})
    if pending_counts:  # finance approves them as adjustments
        adjustments_from_counts(pending_counts, actor=actor, policy=policy)
    if held:  # the returns desk takes them from here
        till_returns_held.send(sender=InventoryEvent, held=held, actor=actor)
    if receipts:  # receiving decides what a delivery without a notice means
        receipts_recorded.send(sender=InventoryEvent, receipts=receipts, actor=actor)
    return statuses, stale


def _record_count_variances(variances: dict[int, int]) -> None:
    InventoryEvent.objects.filter(pk__in=list(variances)).update(count_variance=Case(
        *[When(pk=pk, then=Value(variance)) for pk, variance in variances.items()], output_field=IntegerField()
    ))


def _rejected_case(source: str, event: IncomingEvent, row: InventoryEvent) -> CaseReport:
    return CaseReport(
        kind=CaseKind.REJECTED_EVENT,
        dedup_key=f"rejected_event:{source}:{row.error_code}:{event.sku}:{event.location}"[:255],
        title=f"{source} sent events that were rejected: {row.error_detail}",
        subject=row, sku_id=row.sku_id, location_id=row.location_id,
        context={"source": source, "event": event.payload(), "error": {"code": row.error_code,
                                                                        "detail": row.error_detail}},
    )


def _conflict_case(source: str, event: IncomingEvent, row: InventoryEvent) -> CaseReport:
    return CaseReport(
        kind=CaseKind.DUPLICATE_CONFLICT,
        dedup_key=f"duplicate_conflict:{source}:{event.event_id}"[:255],
        title=f"{source} reused event id {event.event_id} with different content",
        subject=row, sku_id=row.sku_id, location_id=row.location_id,
        context={"source": source, "original": row.payload, "received": event.payload()},
    )


def _stale_case(source, event, row, counted_at, sku, location) -> CaseReport:
    return CaseReport(
        kind=CaseKind.STALE_EVENT,
        dedup_key=f"stale_event:{sku.pk}:{location.pk}",
        title=f"{event.type} of {event.quantity} × {sku.code} at {location.code} predates the last count",
        subject=row, sku_id=sku.pk, location_id=location.pk,
        money_at_risk=Decimal(event.quantity) * sku.price,
        context={"source": source, "event": event.payload(), "last_counted_at": counted_at.isoformat()},
    )


# --- Replaying a rejected event ----------------------------------------------------------

# Rejections that fixing master data cannot cure: the partner was not allowed there.
_NOT_REPLAYABLE = frozenset({"location_out_of_scope"})


@in_retrying_transaction
def event_replay(*, event: InventoryEvent, actor, scope: LocationScope | None = None) -> InventoryEvent:
    """Take a rejected event in again, now that its master data may be fixed (a SKU or
    location created since it arrived).

    The event keeps its identity: its stored row is the one (source, event id) ever
    holds, so the replay updates that row under its lock instead of inserting another,
    and then runs the same checks and the same posting as `events_ingest`. A second
    replay, or a replay racing a resend, finds the row no longer rejected and is refused,
    so the fact is still applied exactly once. If it still fails the checks it stays
    rejected, with the new reason.

    Only `rejected` rows replay. A `conflict` is not a row's status but the answer to a
    resend that reused an event id: the stored row is the original fact, and taking the
    other content in would break the id's identity. A rejection for being outside the
    sender's location scope is not a master-data problem either, so it is refused too.
    `scope` is the person's (default: every location): a replay at a location they may
    not act at is refused (`LocationOutOfScope`) and leaves the row as it was.
    """
    scope = scope if scope is not None else LocationScope(None)
    row = InventoryEvent.objects.select_for_update().get(pk=event.pk)
    if row.status != Status.REJECTED:
        raise InvalidState(f"Event {row.source}:{row.event_id} is {row.get_status_display().lower()}, "
                           "not rejected; only a rejected event can be replayed.")
    if row.error_code in _NOT_REPLAYABLE:
        raise InvalidState(f"Event {row.source}:{row.event_id} was rejected for its sender's location scope; "
                           "replaying it would bypass that.")
    incoming = IncomingEvent(event_id=row.event_id, type=row.type, sku=row.sku_code, location=row.location_code,
                             quantity=row.quantity, occurred_at=row.occurred_at, reason=row.reason,
                             reference=row.reference)
    skus = skus_by_code([row.sku_code])
    locations = locations_by_code([row.location_code])
    sku, location = skus.get(row.sku_code), locations.get(row.location_code)
    if location is not None and not scope.allows(location.pk):  # the person's limit, not the event's fault
        raise LocationOutOfScope(f"Location '{location.code}' is outside your locations.")
    rejection = _rejection(incoming, skus=skus, locations=locations, scope=LocationScope(None), now=timezone.now())
    row.sku_id, row.location_id = (sku.pk if sku else None), (location.pk if location else None)
    if rejection:
        row.error_code, row.error_detail = rejection
        row.save(update_fields=["sku", "location", "error_code", "error_detail"])
        return row
    # Marked applied first, as a fresh insert would be; the posting then demotes it to
    # stale or pending approval when the ledger says so.
    row.status, row.error_code, row.error_detail = Status.APPLIED, "", ""
    row.save(update_fields=["sku", "location", "status", "error_code", "error_detail"])
    stored = _StoredEvent(pk=row.pk, event_id=row.event_id, payload_hash=row.payload_hash,
                          delivery_id=row.delivery_id, status=row.status, error_code="", error_detail="",
                          sku_id=row.sku_id, location_id=row.location_id)
    _statuses, stale = _apply_new_events([incoming], ours={row.event_id: stored}, skus=skus, locations=locations,
                                         actor=actor, source=row.source)
    row.refresh_from_db()
    if stale:
        raise_cases([_stale_case(row.source, stale_event, row, counted_at, stale_sku, stale_location)
                     for stale_event, counted_at, stale_sku, stale_location in stale], actor=actor)
    return row
