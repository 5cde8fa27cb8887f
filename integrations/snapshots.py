"""Storing a snapshot: one service for the three sources (adapter pull, API, staff upload).

A snapshot of up to `SNAPSHOT_MAX_LINES` lines is never held whole in memory: its rows are
read one at a time from an iterator (the parsers in `integrations.snapshot_formats` read
the request body as a stream), checked, hashed, and written as they come — by COPY on
PostgreSQL, by `bulk_create` in chunks elsewhere — into the snapshot lines table, which
is the staging table reconciliation reads from.

All or nothing: the first bad row (a missing or empty code, an on_hand that is not a
whole number ≥ 0, a second line for the same SKU and location, one line too many) refuses
the whole snapshot, naming that row, and the transaction leaves nothing behind.

Content hash, the canonical form: sha256 over the lines *in the order sent*, each line
its SKU code, location code (stripped) and on_hand in decimal, each followed by a NUL
byte (codes may hold no NUL, so the form is unambiguous whatever else they hold, and the
same whether the lines came as JSON, JSON lines or CSV). The order sent, not a sorted
order, because sorting needs every line at hand (or a second pass over what was written)
while the order sent hashes as it streams, and a resent file comes in the same order. A
reordered copy of a snapshot is thus another snapshot and gets its own run: redundant,
never wrong.
"""

import csv
import hashlib
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, NamedTuple

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from integrations.models import ApiClient, ExternalSystem, InventorySnapshot, InventorySnapshotLine, SyncRun
from retailops.errors import DomainError, InvalidInput

CODE_MAX_LENGTH = 64
ON_HAND_MAX = 2**31 - 1
_CHUNK = 10000


class InvalidSnapshot(InvalidInput):
    """A snapshot refused whole; `field` names the first bad row (`lines[17].on_hand`, `row 18`)."""

    code = "invalid_snapshot"
    title = "The snapshot is invalid; nothing was stored."

    def __init__(self, detail: str, *, field: str) -> None:
        super().__init__(detail, code=self.code, field=field)


class SnapshotLocationOutOfScope(DomainError):
    status = 403
    code = "location_out_of_scope"
    title = "The snapshot names a location outside this token's location scope; nothing was stored."

    def __init__(self, detail: str, *, field: str) -> None:
        super().__init__(detail)
        self.field = field


class SnapshotRow(NamedTuple):
    """One line as read, before any check. `where(column)` names it in an error.

    A named tuple rather than a dataclass: a million of them pass through one intake, and
    a tuple costs a fraction of an object to make."""

    sku: Any
    location: Any
    on_hand: Any
    where: Callable[[str | None], str]


class SnapshotDocument:
    """Rows plus the time they are as of. `as_of()` is asked only after every row was
    read, because a streamed JSON document may carry `as_of` after its lines."""

    def rows(self) -> Iterator[SnapshotRow]:
        raise NotImplementedError

    def as_of(self) -> datetime:
        raise NotImplementedError


class SnapshotLines(SnapshotDocument):
    """A snapshot whose time is known up front (a pull, a CSV with `as_of` given apart)."""

    def __init__(self, *, as_of: datetime, rows: Iterable[SnapshotRow]) -> None:
        self._as_of, self._rows = as_of, rows

    def rows(self) -> Iterator[SnapshotRow]:
        return iter(self._rows)

    def as_of(self) -> datetime:
        return self._as_of


def line_row(index: int, sku: Any, location: Any, on_hand: Any) -> SnapshotRow:
    """A row named like the API's JSON body: `lines[17].on_hand`."""

    def where(column: str | None) -> str:
        return f"lines[{index}].{column}" if column else f"lines[{index}]"

    return SnapshotRow(sku, location, on_hand, where)


def _code(row: SnapshotRow, column: str, value: Any) -> str:
    if value is None:
        raise InvalidSnapshot(f"{row.where(None)} has no {column}.", field=row.where(column))
    if not isinstance(value, str):
        raise InvalidSnapshot(f"{row.where(None)}: {column} must be a text code.", field=row.where(column))
    value = value.strip()
    if not value:
        raise InvalidSnapshot(f"{row.where(None)}: {column} is empty.", field=row.where(column))
    if len(value) > CODE_MAX_LENGTH or "\x00" in value:
        raise InvalidSnapshot(f"{row.where(None)}: {column} must be at most {CODE_MAX_LENGTH} characters, none NUL.",
                              field=row.where(column))
    return value


def _on_hand(row: SnapshotRow) -> int:
    value = row.on_hand
    if isinstance(value, str):  # CSV: text that must be a whole number
        text = value.strip()
        value = int(text) if text.isascii() and text.isdigit() else None
    if value is None and row.on_hand is None:
        raise InvalidSnapshot(f"{row.where(None)} has no on_hand.", field=row.where("on_hand"))
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= ON_HAND_MAX:
        raise InvalidSnapshot(f"{row.where(None)}: on_hand must be a whole number from 0 to {ON_HAND_MAX}.",
                              field=row.where("on_hand"))
    return value


def _plain_code(value: Any) -> str | None:
    """The stripped code when it needs no further look (the common case), else None."""
    if value.__class__ is str:
        value = value.strip()
        if value and len(value) <= CODE_MAX_LENGTH and "\x00" not in value:
            return value
    return None


class _Checked:
    """Checks rows as they stream past, hashing and counting them.

    The common row (two plain codes, an on_hand already whole or all digits) takes a short
    path; any other goes through the full checks, which name what is wrong with it. Checked
    lines are handed on in chunks, and each chunk's canonical form is hashed at once."""

    def __init__(self, rows: Iterator[SnapshotRow], *, forbidden_locations: frozenset[str]) -> None:
        self.rows, self.forbidden = rows, forbidden_locations
        self.digest = hashlib.sha256()
        self.count = 0
        # "sku NUL location" per line (~100 MB for a million): a duplicate is found as it comes.
        self.seen: set[str] = set()

    def chunks(self) -> Iterator[list[tuple[str, str, int]]]:
        limit, forbidden, seen = settings.SNAPSHOT_MAX_LINES, self.forbidden, self.seen
        chunk: list[tuple[str, str, int]] = []
        for row in self.rows:
            if self.count >= limit:
                raise InvalidSnapshot(f"A snapshot has at most {limit} lines; {row.where(None)} is one too many.",
                                      field=row.where(None))
            sku, location, on_hand = _plain_code(row.sku), _plain_code(row.location), row.on_hand
            if sku is None:
                sku = _code(row, "sku", row.sku)
            if location is None:
                location = _code(row, "location", row.location)
            if on_hand.__class__ is str and on_hand.isascii() and on_hand.isdigit() and len(on_hand) < 10:
                on_hand = int(on_hand)  # nine digits at most: always within ON_HAND_MAX
            elif on_hand.__class__ is not int or not 0 <= on_hand <= ON_HAND_MAX:
                on_hand = _on_hand(row)
            if forbidden and location in forbidden:
                raise SnapshotLocationOutOfScope(
                    f"{row.where(None)}: location '{location}' is outside this token's location scope.",
                    field=row.where("location"))
            key = f"{sku}\x00{location}"
            if key in seen:
                raise InvalidSnapshot(
                    f"{row.where(None)} lists SKU '{sku}' at '{location}' twice (a line before it has them).",
                    field=row.where(None))
            seen.add(key)
            self.count += 1
            chunk.append((sku, location, on_hand))
            if len(chunk) == _CHUNK:
                yield self._hashed(chunk)
                chunk = []
        if chunk:
            yield self._hashed(chunk)

    def _hashed(self, chunk: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
        self.digest.update("".join(f"{sku}\x00{location}\x00{on_hand}\x00" for sku, location, on_hand in chunk)
                           .encode())
        return chunk


def _write_lines(snapshot_id: int, chunks: Iterable[list[tuple[str, str, int]]]) -> None:
    """Write the checked lines as they come: COPY (CSV, a chunk at a time) on PostgreSQL,
    `bulk_create` in chunks elsewhere."""
    if connection.vendor == "postgresql":
        table = InventorySnapshotLine._meta.db_table
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        with connection.cursor() as cursor, cursor.copy(
            f"COPY {table} (snapshot_id, sku_code, location_code, on_hand) FROM STDIN WITH (FORMAT csv)"
        ) as copy:
            for chunk in chunks:
                buffer.seek(0)
                buffer.truncate()
                writer.writerows((snapshot_id, sku, location, on_hand) for sku, location, on_hand in chunk)
                copy.write(buffer.getvalue())
        return
    for chunk in chunks:
        InventorySnapshotLine.objects.bulk_create(
            InventorySnapshotLine(snapshot_id=snapshot_id, sku_code=sku, location_code=location, on_hand=on_hand)
            for sku, location, on_hand in chunk)


class _AlreadyStored(Exception):
    def __init__(self, snapshot: InventorySnapshot) -> None:
        self.snapshot = snapshot


def _valid_as_of(value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidSnapshot("as_of must be an ISO 8601 timestamp with an offset.", field="as_of")
    if value.tzinfo is None:
        raise InvalidSnapshot("as_of needs a UTC offset.", field="as_of")
    return value


def snapshot_store(*, system: ExternalSystem, document: SnapshotDocument, source: str, sent_by=None,
                   api_client: ApiClient | None = None, sync_run: SyncRun | None = None,
                   forbidden_locations: frozenset[str] = frozenset()) -> tuple[InventorySnapshot, bool]:
    """Store a snapshot, or find it: the same content for the same system and `as_of`
    again is the snapshot already stored (returned with `False`), and nothing is added.

    `forbidden_locations`: location codes the sender may not state (outside a partner
    token's location scope); a line naming one refuses the snapshot (403).
    """
    checked = _Checked(document.rows(), forbidden_locations=forbidden_locations)
    try:
        # The row exists before its lines (they point at it); its `as_of`, known only once
        # a streamed document has been read to the end, is set afterwards.
        with transaction.atomic():
            snapshot = InventorySnapshot.objects.create(
                system=system, source=source, as_of=timezone.now(), sent_by=sent_by,
                api_client=api_client, sync_run=sync_run)
            _write_lines(snapshot.pk, checked.chunks())
            as_of = _valid_as_of(document.as_of())
            content_hash = checked.digest.hexdigest()
            existing = InventorySnapshot.objects.filter(system=system, as_of=as_of, content_hash=content_hash).first()
            if existing is not None:
                raise _AlreadyStored(existing)
            snapshot.as_of, snapshot.content_hash, snapshot.line_count = as_of, content_hash, checked.count
            try:
                with transaction.atomic():
                    snapshot.save(update_fields=["as_of", "content_hash", "line_count"])
            except IntegrityError:  # the same content stored meanwhile by a concurrent request
                raise _AlreadyStored(InventorySnapshot.objects.get(
                    system=system, as_of=as_of, content_hash=content_hash)) from None
    except _AlreadyStored as stored:
        return stored.snapshot, False
    return snapshot, True

