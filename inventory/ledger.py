"""The ledger: the one way stock changes.

Every change of quantity anywhere in the product is a `Movement` posted here. Posting
locks the affected `StockLevel` rows in a fixed (sku id, location id) order — so two
writers touching the same levels in any order queue up instead of deadlocking — writes
the movements, moves the levels by the same deltas and bumps their version, all in one
transaction. `balance == sum(movements)` therefore holds for every level at every
commit, and `verify_ledger` proves it.

Lock waits are bounded (LOCK_TIMEOUT_MS): a stuck transaction becomes a retryable
`LockTimeout`, not a hung request. A deadlock or serialization failure is retried here a
few times before anyone sees it.
"""

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.dispatch import Signal
from django.utils import timezone

from exceptions.services import CaseReport, raise_case
from exceptions.states import CaseKind
from inventory.errors import BucketWouldGoNegative
from inventory.models import Bucket, Sku, StockLevel, StockMovement
from retailops.errors import LockTimeout

logger = logging.getLogger(__name__)

LevelKey = tuple[int, int]  # (sku id, location id)
T = TypeVar("T")

# Sent inside the posting transaction with the keys whose levels moved, so a receiver can
# write its own rows (an outbox message, say) atomically with the change.
levels_changed = Signal()

_RETRYABLE_PGCODES = {"40P01", "40001"}  # deadlock detected, serialization failure
_LOCK_NOT_AVAILABLE = "55P03"
MAX_ATTEMPTS = 4

_BUCKET_COLUMNS = [bucket.value for bucket in Bucket]


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


@dataclass
class Posting:
    """What to write: movements, and the levels a count has just verified."""

    movements: list[Movement] = field(default_factory=list)
    counted_at: dict[LevelKey, datetime] = field(default_factory=dict)


@dataclass
class PostingResult:
    levels: dict[LevelKey, StockLevel]
    movements: int


def _pgcode(exc: BaseException) -> str | None:
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) or getattr(getattr(cause, "diag", None), "sqlstate", None)


def in_retrying_transaction(work: Callable[[], T]) -> T:
    """Run `work` in a transaction (a savepoint when nested); retry deadlocks and
    serialization failures with a short backoff; turn a lock timeout into `LockTimeout`."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                _bound_lock_waits()
                return work()
        except OperationalError as exc:
            code = _pgcode(exc)
            if code == _LOCK_NOT_AVAILABLE:
                raise LockTimeout() from exc
            if code in _RETRYABLE_PGCODES and attempt < MAX_ATTEMPTS:
                logger.warning("Retrying a posting after %s (attempt %d)", code, attempt)
                time.sleep(0.01 * 2**attempt)
                continue
            raise
    raise AssertionError("unreachable")


def _bound_lock_waits() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{settings.LOCK_TIMEOUT_MS}ms"])


def _select_levels(keys: list[LevelKey], *, lock: bool) -> list[StockLevel]:
    rows = ", ".join(["(%s, %s)"] * len(keys))
    params = [value for key in keys for value in key]
    table = StockLevel._meta.db_table
    for_update = " FOR UPDATE" if lock and connection.features.has_select_for_update else ""
    sql = (
        f"SELECT * FROM {table} WHERE (sku_id, location_id) IN (VALUES {rows}) "  # noqa: S608 (no user input)
        f"ORDER BY sku_id, location_id{for_update}"
    )
    return list(StockLevel.objects.raw(sql, params))


def lock_levels(keys: Iterable[LevelKey]) -> dict[LevelKey, StockLevel]:
    """Lock the level rows of `keys` in (sku, location) order, creating missing ones.

    Must run inside a transaction. Existing rows are locked first, in order; rows that did
    not exist are inserted (a concurrent insert of the same key waits on ours) and then
    locked, also in order.
    """
    keys = sorted(set(keys))
    if not keys:
        return {}
    levels = {(level.sku_id, level.location_id): level for level in _select_levels(keys, lock=True)}
    missing = [key for key in keys if key not in levels]
    if missing:
        StockLevel.objects.bulk_create(
            [StockLevel(sku_id=sku_id, location_id=location_id) for sku_id, location_id in missing],
            ignore_conflicts=True,
        )
        for level in _select_levels(missing, lock=True):
            levels[(level.sku_id, level.location_id)] = level
    return levels


def apply_posting(
    levels: dict[LevelKey, StockLevel],
    posting: Posting,
    *,
    actor=None,
    document_type: str = "",
    document_id: str = "",
    allow_negative_on_hand: bool = True,
) -> PostingResult:
    """Write the movements and move the (already locked) levels by the same deltas."""
    now = timezone.now()
    deltas: dict[LevelKey, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_BUCKET_COLUMNS, 0))
    for movement in posting.movements:
        if movement.key not in levels:
            raise ValueError(f"Level {movement.key} was not locked before posting.")
        deltas[movement.key][movement.bucket] += movement.delta

    for key, change in deltas.items():
        level = levels[key]
        for bucket, delta in change.items():
            may_go_negative = bucket == Bucket.ON_HAND and allow_negative_on_hand
            if delta < 0 and getattr(level, bucket) + delta < 0 and not may_go_negative:
                raise BucketWouldGoNegative(
                    f"{bucket} would go from {getattr(level, bucket)} to {getattr(level, bucket) + delta}.",
                    bucket=bucket,
                )

    StockMovement.objects.bulk_create(
        [
            StockMovement(
                sku_id=movement.sku_id,
                location_id=movement.location_id,
                bucket=movement.bucket,
                delta=movement.delta,
                reason=movement.reason,
                document_type=document_type,
                document_id=document_id,
                event_id=movement.event_id,
                actor=actor,
                occurred_at=movement.occurred_at or now,
            )
            for movement in posting.movements
            if movement.delta
        ],
        batch_size=1000,
    )
    touched = set(deltas) | set(posting.counted_at)
    _update_levels(levels, deltas, posting.counted_at, touched, now)

    went_negative = [
        levels[key] for key, change in deltas.items()
        if change[Bucket.ON_HAND] < 0 and levels[key].on_hand < 0
    ]
    if went_negative:
        _report_negative_on_hand(went_negative, actor=actor)
    if touched:
        levels_changed.send(sender=StockLevel, keys=sorted(touched))
    return PostingResult(levels=levels, movements=len(posting.movements))


def _update_levels(levels, deltas, counted_at, touched, now) -> None:
    """One UPDATE for every touched level: deltas are added, never absolute values."""
    if not touched:
        return
    postgres = connection.vendor == "postgresql"
    timestamp = "CAST(%s AS timestamptz)" if postgres else "%s"
    integer = "CAST(%s AS BIGINT)"
    row = "(" + ", ".join([integer] * (1 + len(_BUCKET_COLUMNS)) + [timestamp]) + ")"
    params: list = []
    for key in sorted(touched):
        change = deltas.get(key) or dict.fromkeys(_BUCKET_COLUMNS, 0)
        params.append(levels[key].pk)
        params.extend(change[bucket] for bucket in _BUCKET_COLUMNS)
        params.append(counted_at.get(key))
    table = StockLevel._meta.db_table
    value_columns = ", ".join(f"d_{bucket}" for bucket in _BUCKET_COLUMNS)
    assignments = ", ".join(f"{bucket} = {table}.{bucket} + v.d_{bucket}" for bucket in _BUCKET_COLUMNS)
    sql = (
        f"WITH v(id, {value_columns}, counted_at) AS (VALUES {', '.join([row] * len(touched))}) "  # noqa: S608
        f"UPDATE {table} SET {assignments}, version = {table}.version + 1, "
        f"last_counted_at = COALESCE(v.counted_at, {table}.last_counted_at), updated_at = %s "
        f"FROM v WHERE {table}.id = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, now])
    for key in touched:
        level = levels[key]
        for bucket, delta in (deltas.get(key) or {}).items():
            setattr(level, bucket, getattr(level, bucket) + delta)
        level.version += 1
        if counted_at.get(key):
            level.last_counted_at = counted_at[key]


def _report_negative_on_hand(levels: list[StockLevel], *, actor) -> None:
    prices = dict(Sku.objects.filter(pk__in={level.sku_id for level in levels}).values_list("pk", "price"))
    for level in levels:
        missing_units = -level.on_hand
        raise_case(
            CaseReport(
                kind=CaseKind.NEGATIVE_ON_HAND,
                dedup_key=f"negative_on_hand:{level.sku_id}:{level.location_id}",
                title=f"On-hand is {level.on_hand}: more units left than the ledger had",
                subject=level,
                sku_id=level.sku_id,
                location_id=level.location_id,
                money_at_risk=Decimal(missing_units) * prices.get(level.sku_id, Decimal("0")),
                context={"on_hand": level.on_hand, "committed": level.committed, "version": level.version},
            ),
            actor=actor,
        )


def post_movements(
    movements: list[Movement],
    *,
    actor=None,
    document_type: str = "",
    document_id: str = "",
    guard: Callable[[dict[LevelKey, StockLevel]], None] | None = None,
    allow_negative_on_hand: bool = True,
) -> PostingResult:
    """Post movements atomically. `guard` sees the locked levels first and may refuse
    (raise a DomainError) — that is how promises check availability under the lock."""

    def work() -> PostingResult:
        levels = lock_levels(movement.key for movement in movements)
        if guard is not None:
            guard(levels)
        return apply_posting(
            levels, Posting(movements=movements), actor=actor, document_type=document_type,
            document_id=document_id, allow_negative_on_hand=allow_negative_on_hand,
        )

    return in_retrying_transaction(work)
