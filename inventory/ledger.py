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
from functools import cache
from typing import TypeVar

from django.conf import settings
from django.db import OperationalError, connection, models, transaction
from django.db.backends.signals import connection_created
from django.dispatch import Signal, receiver
from django.utils import timezone

from exceptions.services import CaseReport, raise_case
from exceptions.states import CaseKind
from inventory.errors import BucketWouldGoNegative
from inventory.models import Bucket, Location, Sku, StockLevel, StockMovement
from retailops.errors import LockTimeout
from retailops.sql import columns_of, execute, from_row

logger = logging.getLogger(__name__)

LevelKey = tuple[int, int]  # (sku id, location id)
T = TypeVar("T")

# Sent inside the posting transaction with the keys whose levels moved, so a receiver can
# write its own rows (an outbox message, say) atomically with the change.
levels_changed = Signal()

_RETRYABLE_PGCODES = {"40P01", "40001"}  # deadlock detected, serialization failure
_LOCK_NOT_AVAILABLE = "55P03"
# Set on the (per-thread) connection while an outermost in_retrying_transaction runs.
_LOCK_WAITS_BOUNDED = "_retailops_lock_waits_bounded"
# The lock_timeout a connection's session was given when it connected.
_SESSION_LOCK_TIMEOUT_MS = "_retailops_session_lock_timeout_ms"
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
                # A nested call runs inside a transaction whose lock waits are already bounded.
                outermost = not getattr(connection, _LOCK_WAITS_BOUNDED, False)
                if outermost:
                    _bound_lock_waits()
                    setattr(connection, _LOCK_WAITS_BOUNDED, True)
                try:
                    return work()
                finally:
                    if outermost:
                        setattr(connection, _LOCK_WAITS_BOUNDED, False)
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
    if connection.vendor != "postgresql":
        return
    if getattr(connection, _SESSION_LOCK_TIMEOUT_MS, None) == settings.LOCK_TIMEOUT_MS:
        return  # the session's own bound, set when it connected: no round trip per transaction
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{settings.LOCK_TIMEOUT_MS}ms"])


@receiver(connection_created, dispatch_uid="inventory.ledger.bound_session_lock_waits")
def _bound_session_lock_waits(sender, connection, **kwargs) -> None:
    """Every PostgreSQL session waits at most LOCK_TIMEOUT_MS for a lock, whatever runs on it."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, false)", [f"{settings.LOCK_TIMEOUT_MS}ms"])
    setattr(connection, _SESSION_LOCK_TIMEOUT_MS, settings.LOCK_TIMEOUT_MS)


# --- Set-based statements on PostgreSQL --------------------------------------------------
#
# A posting of 1,000 movements is a handful of statements, but Django's bulk_create still
# prepares every value of every row in Python and psycopg then quotes each one into the SQL
# text (client-side binding): together most of an ingest batch's time. On PostgreSQL the
# hot statements below send one binary array per column instead (server-side binding,
# `%b`), through Django's cursor wrapper so they are still logged and counted like any
# other query. Other databases take the plain ORM path; both write the same rows.


def uses_array_statements() -> bool:
    return connection.vendor == "postgresql"


def execute_with_arrays(sql: str, params: list) -> list[tuple]:
    """Run `sql` whose `%b` placeholders take whole arrays; the rows it returns, if any.
    Planned for the arrays at hand: a batch of ten rows and one of a thousand differ."""
    return execute(sql, params, prepare=False)


def insert_columns(model: type[models.Model], columns: dict[str, list], *, ignore_conflicts: bool = False,
                   returning: tuple[str, ...] = ()) -> list[tuple]:
    """INSERT … SELECT FROM unnest(one array per column) (PostgreSQL only). `columns` maps
    field names to equally long lists of values ready for the database (JSON as text)."""
    sql, params = _insert_statement(model, columns)
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(connection.ops.quote_name(model._meta.get_field(name).column)
                                         for name in returning)
    return execute_with_arrays(sql, params)


def _insert_statement(model: type[models.Model], columns: dict[str, list]) -> tuple[str, list]:
    fields = [model._meta.get_field(name) for name in columns]
    names = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    arrays = ", ".join(f"%b::{field.db_type(connection)}[]" for field in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608 (no user input)
    return sql, list(columns.values())


def _select_levels(keys: list[LevelKey], *, lock: bool) -> list[StockLevel]:
    """The level rows of `keys` in (sku, location) order, locked in that order when asked
    (the sort runs below the row locking). On PostgreSQL the keys travel as two arrays."""
    table = StockLevel._meta.db_table
    _names, columns = columns_of(StockLevel, alias="t")
    for_update = " FOR UPDATE OF t" if lock and connection.features.has_select_for_update else ""
    if uses_array_statements():
        source = (f"unnest(%b::bigint[], %b::bigint[]) AS k(sku_id, location_id) "
                  f"JOIN {table} t ON t.sku_id = k.sku_id AND t.location_id = k.location_id")
        params = [[sku for sku, _ in keys], [location for _, location in keys]]
    else:
        pairs = ", ".join(["(%s, %s)"] * len(keys))
        source = f"{table} t WHERE (t.sku_id, t.location_id) IN (VALUES {pairs})"
        params = [value for key in keys for value in key]
    sql = f"SELECT {columns} FROM {source} ORDER BY t.sku_id, t.location_id{for_update}"  # noqa: S608
    return [from_row(StockLevel, row) for row in execute(sql, params, prepare=False)]


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
            if delta >= 0:
                continue
            may_go_negative = bucket == Bucket.ON_HAND and allow_negative_on_hand
            if getattr(level, bucket) + delta < 0 and not may_go_negative:
                raise BucketWouldGoNegative(
                    f"{bucket} would go from {getattr(level, bucket)} to {getattr(level, bucket) + delta}.",
                    bucket=bucket,
                )

    movements = [movement for movement in posting.movements if movement.delta]
    touched = set(deltas) | set(posting.counted_at)
    if uses_array_statements() and touched:
        # One statement: the movements are inserted by a CTE of the levels' UPDATE.
        insert_sql, insert_params = _movement_insert_statement(movements, actor=actor, document_type=document_type,
                                                               document_id=document_id, now=now)
        update_sql, update_params = _level_update_statement(levels, deltas, posting.counted_at, touched, now)
        execute_with_arrays(f"WITH inserted AS ({insert_sql}) {update_sql}" if movements else update_sql,
                            [*insert_params, *update_params] if movements else update_params)
        _update_loaded_levels(levels, deltas, posting.counted_at, touched)
    else:
        _insert_movements(movements, actor=actor, document_type=document_type, document_id=document_id, now=now)
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


def _insert_movements(movements: list[Movement], *, actor, document_type: str, document_id: str, now) -> None:
    if not movements:
        return
    if not uses_array_statements():
        StockMovement.objects.bulk_create(
            [
                StockMovement(
                    sku_id=movement.sku_id, location_id=movement.location_id, bucket=movement.bucket,
                    delta=movement.delta, reason=movement.reason, document_type=document_type,
                    document_id=document_id, event_id=movement.event_id, actor=actor,
                    occurred_at=movement.occurred_at or now,
                )
                for movement in movements
            ],
            batch_size=1000,
        )
        return
    execute_with_arrays(*_movement_insert_statement(movements, actor=actor, document_type=document_type,
                                                    document_id=document_id, now=now))


def _movement_insert_statement(movements: list[Movement], *, actor, document_type: str, document_id: str,
                               now) -> tuple[str, list]:
    count = len(movements)
    actor_id = actor.pk if actor is not None and getattr(actor, "pk", None) is not None else None
    return _insert_statement(StockMovement, {
        "sku": [movement.sku_id for movement in movements],
        "location": [movement.location_id for movement in movements],
        "bucket": [str(movement.bucket) for movement in movements],
        "delta": [movement.delta for movement in movements],
        "reason": [str(movement.reason) for movement in movements],
        "document_type": [document_type] * count,
        "document_id": [document_id] * count,
        "event": [movement.event_id for movement in movements],
        "actor": [actor_id] * count,
        "occurred_at": [movement.occurred_at or now for movement in movements],
        "recorded_at": [now] * count,
    })


def _update_levels(levels, deltas, counted_at, touched, now) -> None:
    """One UPDATE for every touched level: deltas are added, never absolute values."""
    if not touched:
        return
    if uses_array_statements():
        execute_with_arrays(*_level_update_statement(levels, deltas, counted_at, touched, now))
    else:
        _update_levels_with_values(levels, deltas, counted_at, touched, now)
    _update_loaded_levels(levels, deltas, counted_at, touched)


def _update_loaded_levels(levels, deltas, counted_at, touched) -> None:
    """Move the locked level objects the way the UPDATE moved their rows."""
    for key in touched:
        level = levels[key]
        for bucket, delta in (deltas.get(key) or {}).items():
            setattr(level, bucket, getattr(level, bucket) + delta)
        level.version += 1
        if counted_at.get(key):
            level.last_counted_at = counted_at[key]


def _level_update_statement(levels, deltas, counted_at, touched, now) -> tuple[str, list]:
    keys = sorted(touched)
    zero = dict.fromkeys(_BUCKET_COLUMNS, 0)
    params: list = [[levels[key].pk for key in keys]]
    params.extend([(deltas.get(key) or zero)[bucket] for key in keys] for bucket in _BUCKET_COLUMNS)
    params.append([counted_at.get(key) for key in keys])
    table = StockLevel._meta.db_table
    value_columns = ", ".join(f"d_{bucket}" for bucket in _BUCKET_COLUMNS)
    arrays = ", ".join(["%b::bigint[]"] + ["%b::integer[]"] * len(_BUCKET_COLUMNS) + ["%b::timestamptz[]"])
    assignments = ", ".join(f"{bucket} = {table}.{bucket} + v.d_{bucket}" for bucket in _BUCKET_COLUMNS)
    return (
        f"UPDATE {table} SET {assignments}, version = {table}.version + 1, "  # noqa: S608 (no user input)
        f"last_counted_at = COALESCE(v.counted_at, {table}.last_counted_at), updated_at = %b "
        f"FROM unnest({arrays}) AS v(id, {value_columns}, counted_at) WHERE {table}.id = v.id",
        [now, *params],
    )


def _update_levels_with_values(levels, deltas, counted_at, touched, now) -> None:
    integer = "CAST(%s AS BIGINT)"
    row = "(" + ", ".join([integer] * (1 + len(_BUCKET_COLUMNS)) + ["%s"]) + ")"
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


class PromiseRefused(Exception):
    """`post_promise` found too little available, or the location changed, under the lock.
    Nothing was written. Carries what it saw: the level's available units now (None when
    the level does not exist) and whether the location's fields differ from the plan's."""

    def __init__(self, *, available: int | None, location_changed: bool) -> None:
        super().__init__("The promise's guard did not hold.")
        self.available = available
        self.location_changed = location_changed


def post_promise(movement: Movement, *, required_available: int, location_fields: dict | None = None,
                 actor=None, document_type: str = "", document_id: str = "") -> StockLevel:
    """Commit units at one level if `required_available` units (on_hand − committed −
    unavailable) are there under the row lock and, when given, the location's
    `location_fields` still hold the values the caller decided with. Raises
    `PromiseRefused` otherwise.

    The checkout hold's posting: a single movement into `committed`. On PostgreSQL the
    guard, the level update and the movement are one statement, so the hot level is
    locked for that statement and the commit, not for a round trip per step; elsewhere it
    is `post_movements` with the same guard. Either way it runs in the caller's
    transaction (or its own) and announces `levels_changed` like every posting."""
    if movement.bucket != Bucket.COMMITTED or movement.delta <= 0:
        raise ValueError("post_promise commits units; other movements go through post_movements.")
    location_fields = location_fields or {}
    if not uses_array_statements():
        def guard(levels: dict[LevelKey, StockLevel]) -> None:
            available = levels[movement.key].available
            changed = _location_changed(movement.location_id, location_fields)
            if available < required_available or changed:
                raise PromiseRefused(available=available, location_changed=changed)

        result = post_movements([movement], actor=actor, document_type=document_type, document_id=document_id,
                                guard=guard)
        return result.levels[movement.key]

    def work() -> StockLevel:
        now = timezone.now()
        actor_id = actor.pk if actor is not None and getattr(actor, "pk", None) is not None else None
        rows = execute(_promise_sql(tuple(location_fields)), [
            movement.delta, now, movement.sku_id, movement.location_id, required_available,
            movement.location_id, *location_fields.values(),
            movement.delta, movement.reason, document_type, document_id, actor_id, now, now,
        ])
        if not rows:
            level = StockLevel.objects.filter(sku_id=movement.sku_id, location_id=movement.location_id).first()
            raise PromiseRefused(available=level.available if level else None,
                                 location_changed=_location_changed(movement.location_id, location_fields))
        level = from_row(StockLevel, rows[0])
        levels_changed.send(sender=StockLevel, keys=[movement.key])
        return level

    # One statement: inside the caller's transaction it needs no savepoint of its own.
    return work() if connection.in_atomic_block else in_retrying_transaction(work)


def _location_changed(location_id: int, fields: dict) -> bool:
    if not fields:
        return False
    current = Location.objects.filter(pk=location_id).values(*fields).first()
    return current != fields


@cache
def _promise_sql(location_fields: tuple[str, ...]) -> str:
    table = StockLevel._meta.db_table
    _names, level_columns = columns_of(StockLevel)
    movement_columns = ", ".join(StockMovement._meta.get_field(name).column for name in (
        "sku", "location", "bucket", "delta", "reason", "document_type", "document_id", "actor", "occurred_at",
        "recorded_at"))
    unchanged = "".join(f" AND {Location._meta.get_field(name).column} = %s" for name in location_fields)
    return (
        f"WITH level AS (UPDATE {table} SET committed = {table}.committed + %s, "  # noqa: S608 (no user input)
        f"version = {table}.version + 1, updated_at = %s "
        f"WHERE sku_id = %s AND location_id = %s "
        f"AND on_hand - committed - damaged - quality_control - safety_stock >= %s "
        f"AND EXISTS (SELECT 1 FROM {Location._meta.db_table} WHERE id = %s{unchanged}) RETURNING *), "
        f"moved AS (INSERT INTO {StockMovement._meta.db_table} ({movement_columns}) "
        f"SELECT sku_id, location_id, '{Bucket.COMMITTED.value}', %s, %s, %s, %s, %s, %s, %s FROM level) "
        f"SELECT {level_columns} FROM level"
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
