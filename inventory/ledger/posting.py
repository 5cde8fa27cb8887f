"""`post_movements`: the one way stock changes.

Every change of quantity anywhere in the product is a list of `Movement`s posted here with
the business document that caused it (an event batch, an order, a transfer, an adjustment,
a count…). In one transaction the movements are appended, the levels move by the same
deltas and their `version` goes up, and every channel system is told through the outbox
that their availability changed. `balance == sum(movements)` therefore holds for every
level at every commit, and `verify_ledger` proves it.

There are two kinds of posting (DESIGN.md "Principles", 2):

- A **fact** — a sale at a till, a receipt, a count, a shipment — already happened, so it
  is always recorded. Its levels are locked in the ledger's one order (`lock_levels`),
  missing ones created, checked under the lock and moved by their deltas in one statement
  (`sql.move_levels`). On-hand may go negative (that opens a case); no other bucket may.
- A **promise** — a hold, an allocation, a transfer shipping units it must have — names,
  per level, the units that must be available (`require_available`). Each level moves by
  one guarded update, `UPDATE … SET committed = committed + q WHERE available >= n`, so
  the check and the change happen under the row lock in one statement, levels in the
  same order as every lock. A level that does not hold raises `NotAvailable` and the
  caller's transaction undoes whatever the posting had moved.

A movement carries when it happened (`occurred_at`): a partner's event time, or the time
a service was told (`posting_time`, e.g. the demo's 90 days of history); never a time
ahead of the clock, which as-of reads (reconciliation, a count re-derived on approval)
would take for a change still to come and subtract from the level that already holds it.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import F, Q
from django.utils import timezone

from exceptions.services import CaseReport, raise_cases
from exceptions.states import CaseKind
from integrations import outbox
from inventory.errors import BucketWouldGoNegative, InsufficientStock, OccurredInFuture
from inventory.ledger import sql
from inventory.ledger.locks import LevelKey, lock_levels
from inventory.models import FUTURE_TOLERANCE, Bucket, Sku, StockLevel, StockMovement
from retailops.transactions import in_retrying_transaction


def posting_time(now: datetime | None = None) -> datetime:
    """When a service records what it does: the time its caller gives (`now=`, for a fact
    entered late or the demo history), else the current time. A time ahead of the clock
    is refused (`OccurredInFuture`, 422): see the module docstring."""
    current = timezone.now()
    if now is None:
        return current
    if now > current + FUTURE_TOLERANCE:
        raise OccurredInFuture(f"{now.isoformat()} is in the future.", field="now")
    return now


@dataclass(frozen=True)
class Movement:
    sku_id: int
    location_id: int
    bucket: str
    delta: int
    reason: str
    occurred_at: datetime | None = None
    event_id: int | None = None

    @property
    def key(self) -> LevelKey:
        return (self.sku_id, self.location_id)


class NotAvailable(InsufficientStock):
    """A promise's level had fewer available units than it required; nothing was kept.
    `available` is what the level had (None when it does not exist)."""

    def __init__(self, key: LevelKey, *, required: int, available: int | None) -> None:
        super().__init__(f"{required} units needed, {max(available or 0, 0)} available.")
        self.key = key
        self.required = required
        self.available = available


@in_retrying_transaction(savepoint=False)
def post_movements(movements: Iterable[Movement], *, actor=None, document_type: str = "", document_id: str = "",
                   require_available: Mapping[LevelKey, int] | None = None,
                   counted_at: Mapping[LevelKey, datetime] | None = None) -> list[LevelKey]:
    """Post `movements` caused by one document, atomically; returns the levels it moved.
    Inside a caller's transaction it is part of it: a posting that fails leaves that
    transaction to be rolled back, never half kept.

    `require_available` makes the posting a promise: per level, how many units must be
    available before it moves (see the module docstring). `counted_at` marks levels a
    count has just verified (a fact), with or without a movement."""
    movements = list(movements)
    counted_at = dict(counted_at or {})
    if require_available and counted_at:
        raise ValueError("A count is a fact: it is not posted with a promise.")
    deltas: dict[LevelKey, dict[str, int]] = defaultdict(dict)
    for movement in movements:
        change = deltas[movement.key]
        change[movement.bucket] = change.get(movement.bucket, 0) + movement.delta
    keys = sorted(set(deltas) | set(counted_at))
    if not keys:
        return []
    now = timezone.now()
    if any(movement.occurred_at is not None and movement.occurred_at > now + FUTURE_TOLERANCE
           for movement in movements):
        raise OccurredInFuture("A movement cannot occur in the future.", field="occurred_at")
    # The rows that only append come first: the levels' row locks are taken last, so they
    # are held for the least time before the commit. A refusal undoes these with the rest.
    StockMovement.objects.bulk_create([
        StockMovement(sku_id=movement.sku_id, location_id=movement.location_id, bucket=movement.bucket,
                      delta=movement.delta, reason=movement.reason, document_type=document_type,
                      document_id=document_id, event_id=movement.event_id, actor=actor,
                      occurred_at=movement.occurred_at or now, recorded_at=now)
        for movement in movements if movement.delta
    ], batch_size=1000)
    outbox.availability_changed(keys=keys)
    if require_available:
        _move_promised(keys, deltas, require_available, now=now)
    else:
        went_negative = _move_facts(keys, deltas, counted_at, now=now)
        if went_negative:
            _report_negative_on_hand(went_negative, actor=actor)
    return keys


def _move_facts(keys: list[LevelKey], deltas: dict[LevelKey, dict[str, int]], counted_at: dict[LevelKey, datetime],
                *, now: datetime) -> list[dict]:
    """Lock the levels, check the deltas under the lock, move them in one statement.
    Returns, as they are after the posting, those whose on-hand it took (or kept) below zero."""
    levels = lock_levels(keys, fields=("id", *Bucket.values, "version"))
    went_negative = []
    for key, change in deltas.items():
        level = levels[key]
        for bucket, delta in change.items():
            moved = level[bucket] + delta
            if moved < 0 and delta < 0 and bucket != Bucket.ON_HAND:
                raise BucketWouldGoNegative(f"{bucket} would go from {level[bucket]} to {moved}.", bucket=bucket)
            level[bucket] = moved
        level["version"] += 1  # as the statement below moves the row
        if change.get(Bucket.ON_HAND, 0) < 0 and level[Bucket.ON_HAND] < 0:
            went_negative.append(level)
    sql.move_levels({levels[key]["id"]: change for key, change in deltas.items()}, now=now)
    counted_by_time: dict[datetime, list[LevelKey]] = defaultdict(list)
    for key, at in counted_at.items():
        counted_by_time[at].append(key)
    for at, counted in counted_by_time.items():  # a count's levels share its time
        not_moved = [levels[key]["id"] for key in counted if key not in deltas]
        moved = [levels[key]["id"] for key in counted if key in deltas]
        # A count entered late never takes back what a later count verified.
        not_later = Q(last_counted_at__isnull=True) | Q(last_counted_at__lt=at)
        StockLevel.objects.filter(not_later, pk__in=not_moved).update(last_counted_at=at, version=F("version") + 1,
                                                                      updated_at=now)
        StockLevel.objects.filter(not_later, pk__in=moved).update(last_counted_at=at)
    return went_negative


def _move_promised(keys: list[LevelKey], deltas: dict[LevelKey, dict[str, int]],
                   require_available: Mapping[LevelKey, int], *, now: datetime) -> None:
    """One guarded update per level, in the ledger's lock order. A decrement is guarded
    too: no bucket but on-hand goes below zero."""
    for key in keys:
        change = {bucket: delta for bucket, delta in deltas.get(key, {}).items() if delta}
        guard = {f"{bucket}__gte": -delta for bucket, delta in change.items() if delta < 0 and bucket != Bucket.ON_HAND}
        required = require_available.get(key)
        if required is not None:
            guard["available__gte"] = required
        moved = {bucket: F(bucket) + delta for bucket, delta in change.items()}
        row = StockLevel.objects.filter(sku_id=key[0], location_id=key[1])
        if row.filter(**guard).update(**moved, version=F("version") + 1, updated_at=now):
            continue
        if not guard:  # a level that gets its first units
            lock_levels([key])
            if row.update(**moved, version=F("version") + 1, updated_at=now):
                continue
        _refuse(key, change, required)


def _refuse(key: LevelKey, change: dict[str, int], required: int | None) -> None:
    current = StockLevel.objects.filter(sku_id=key[0], location_id=key[1]).first()
    for bucket, delta in change.items():
        if bucket != Bucket.ON_HAND and delta < 0 and (current is None or getattr(current, bucket) + delta < 0):
            have = getattr(current, bucket) if current else 0
            raise BucketWouldGoNegative(f"{bucket} would go from {have} to {have + delta}.", bucket=bucket)
    raise NotAvailable(key, required=required or 0, available=current.available if current else None)


def _report_negative_on_hand(levels: list[dict], *, actor) -> None:
    """One case per level; its subject is the level, read whole here (this is rare)."""
    subjects = StockLevel.objects.in_bulk([level["id"] for level in levels])
    prices = dict(Sku.objects.filter(pk__in={level["sku_id"] for level in levels}).values_list("pk", "price"))
    raise_cases([
        CaseReport(
            kind=CaseKind.NEGATIVE_ON_HAND,
            dedup_key=f"negative_on_hand:{level['sku_id']}:{level['location_id']}",
            title=f"On-hand is {level['on_hand']}: more units left than the ledger had",
            subject=subjects[level["id"]],
            sku_id=level["sku_id"],
            location_id=level["location_id"],
            money_at_risk=Decimal(-level["on_hand"]) * prices.get(level["sku_id"], Decimal("0")),
            context={"on_hand": level["on_hand"], "committed": level["committed"], "version": level["version"]},
        )
        for level in levels
    ], actor=actor)
