"""Reading a snapshot as it arrives: JSON, JSON lines or CSV, from a byte stream.

Each format yields one row at a time (`integrations.snapshots.SnapshotRow`) without
holding the body in memory: JSON through ijson's event parser, JSON lines and CSV line by
line. Each row knows how to name itself in an error: `lines[17].on_hand` in a JSON body,
`line 18` in JSON lines, `row 18` in a CSV (its header is row 1).

    application/json      {"as_of": ts, "lines": [{"sku", "location", "on_hand"}, …]}
    application/x-ndjson  one {"sku", "location", "on_hand"} object a line; as_of apart
    text/csv              header `sku,location,on_hand` (any order, more columns ignored); as_of apart
"""

import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import ijson
from django.conf import settings
from django.utils.dateparse import parse_datetime

from integrations.snapshots import InvalidSnapshot, SnapshotDocument, SnapshotRow, line_row
from retailops.errors import InvalidInput
from retailops.parsers import MAX_DEPTH, JSONParser

JSON = "application/json"
JSON_LINES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines")
CSV = "text/csv"
MEDIA_TYPES = (JSON, *JSON_LINES, CSV)
COLUMNS = ("sku", "location", "on_hand")
_NOT_A_VALUE = object()  # an array or object where a scalar belongs


class _Limited(io.RawIOBase):
    """A request body read through, refused once it passes SNAPSHOT_MAX_BYTES."""

    def __init__(self, stream) -> None:
        self.stream, self.read_so_far = stream, 0
        self.limit = settings.SNAPSHOT_MAX_BYTES

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.stream.read(len(buffer))
        self.read_so_far += len(data)
        if self.read_so_far > self.limit:
            raise InvalidSnapshot(f"The body is larger than {self.limit} bytes.", field="body")
        buffer[:len(data)] = data
        return len(data)


def _buffered(stream) -> io.BufferedReader:
    return io.BufferedReader(_Limited(stream), buffer_size=64 * 1024)


def parse_as_of(value: Any, *, field: str = "as_of") -> datetime:
    parsed = parse_datetime(value) if isinstance(value, str) and "\x00" not in value else None
    if parsed is None:
        raise InvalidSnapshot("as_of must be an ISO 8601 timestamp with an offset.", field=field)
    if parsed.tzinfo is None:
        raise InvalidSnapshot("as_of needs a UTC offset.", field=field)
    return parsed


class JsonSnapshot(SnapshotDocument):
    """`{"as_of", "lines": [...]}` read by events: keys in any order, unknown keys ignored."""

    def __init__(self, stream, *, as_of: str | None = None) -> None:
        self.stream, self._as_of, self._as_of_default = _buffered(stream), None, as_of

    def rows(self) -> Iterator[SnapshotRow]:
        index, line, saw_lines, depth, not_an_object = 0, None, False, 0, False
        try:
            for prefix, event, value in ijson.parse(self.stream, use_float=False):
                if event in ("start_map", "start_array"):
                    depth += 1
                    if depth > MAX_DEPTH:
                        raise InvalidInput(JSONParser.too_deep, code="malformed_json", field="body")
                elif event in ("end_map", "end_array"):
                    depth -= 1
                if not_an_object:
                    continue  # read on only to tell a too-deep document from a wrong shape
                if prefix == "lines.item":
                    if event == "start_map":
                        line = {}
                    elif event == "end_map":
                        yield line_row(index, line.get("sku"), line.get("location"), line.get("on_hand"))
                        index, line = index + 1, None
                    elif event != "map_key":
                        raise InvalidSnapshot(f"lines[{index}] must be an object.", field=f"lines[{index}]")
                elif line is not None and prefix.startswith("lines.item."):
                    column = prefix[len("lines.item."):]
                    if column in COLUMNS:
                        if event in ("start_map", "start_array"):
                            line[column] = _NOT_A_VALUE
                        elif event not in ("end_map", "end_array", "map_key") and column not in line:
                            line[column] = value
                elif prefix == "lines":
                    if event not in ("start_array", "end_array"):
                        raise InvalidSnapshot("lines must be an array of lines.", field="lines")
                    saw_lines = True
                elif prefix == "as_of" and event not in ("start_map", "start_array", "end_map", "end_array"):
                    self._as_of = value
                elif prefix == "" and event in ("start_array", "string", "number", "boolean", "null"):
                    not_an_object = True
        except ijson.JSONError as exc:
            where = f"lines[{index}]" if saw_lines else "body"
            raise InvalidSnapshot(f"{where}: the JSON is malformed ({exc}).", field=where) from None
        if not_an_object:
            raise InvalidSnapshot("The body must be a JSON object with as_of and lines.", field="body")
        if not saw_lines:
            raise InvalidSnapshot("The snapshot has no lines array.", field="lines")

    def as_of(self) -> datetime:
        return parse_as_of(self._as_of if self._as_of is not None else self._as_of_default)


def _text_lines(stream, where_prefix: str) -> Iterator[tuple[int, str]]:
    text = io.TextIOWrapper(_buffered(stream), encoding="utf-8-sig", newline="")
    number = 0
    try:
        for number, text_line in enumerate(text, start=1):
            yield number, text_line
    except UnicodeDecodeError as error:
        # The text is decoded a block at a time, before any of its lines is handed out: the
        # bad byte is in the line after those handed out, plus one per line break before it.
        bad = number + 1 + error.object[:error.start].count(b"\n")
        raise InvalidSnapshot(f"{where_prefix} {bad} is not UTF-8.", field=f"{where_prefix} {bad}") from None


class JsonLinesSnapshot(SnapshotDocument):
    def __init__(self, stream, *, as_of: str | None) -> None:
        self.stream, self._as_of = stream, as_of

    def rows(self) -> Iterator[SnapshotRow]:
        for number, text_line in _text_lines(self.stream, "line"):
            if not text_line.strip():
                continue
            where = f"line {number}"
            try:
                line = json.loads(text_line)
            except (ValueError, RecursionError):
                raise InvalidSnapshot(f"{where} is not valid JSON.", field=where) from None
            if not isinstance(line, dict):
                raise InvalidSnapshot(f"{where} must be a JSON object.", field=where)
            yield SnapshotRow(line.get("sku"), line.get("location"), line.get("on_hand"),
                              lambda column, where=where: f"{where}.{column}" if column else where)

    def as_of(self) -> datetime:
        return parse_as_of(self._as_of)


def _csv_row(number: int):
    """How a CSV row names itself in an error (`row 18`), made only if one is raised."""
    return lambda _column: f"row {number}"


class CsvSnapshot(SnapshotDocument):
    def __init__(self, stream, *, as_of: str | None) -> None:
        self.stream, self._as_of = stream, as_of

    def rows(self) -> Iterator[SnapshotRow]:
        lines = (text_line for _number, text_line in _text_lines(self.stream, "row"))
        reader = csv.reader(lines)
        try:
            header = next(reader, None)
            if header is None:
                raise InvalidSnapshot("The CSV is empty; its first row is the header sku,location,on_hand.",
                                      field="row 1")
            names = [name.strip().lower() for name in header]
            missing = [column for column in COLUMNS if column not in names]
            if missing:
                raise InvalidSnapshot(f"row 1: the header lacks the columns {', '.join(missing)}.", field="row 1")
            positions = [names.index(column) for column in COLUMNS]
            sku_at, location_at, on_hand_at = positions
            width = max(positions) + 1
            for record in reader:
                if not record:
                    continue  # a blank line
                where = _csv_row(reader.line_num)
                if len(record) >= width:
                    yield SnapshotRow(record[sku_at], record[location_at], record[on_hand_at], where)
                else:
                    sku, location, on_hand = (record[i] if i < len(record) else None for i in positions)
                    yield SnapshotRow(sku, location, on_hand, where)
        except csv.Error as exc:
            where = f"row {reader.line_num}"
            raise InvalidSnapshot(f"{where} is not valid CSV ({exc}).", field=where) from None

    def as_of(self) -> datetime:
        return parse_as_of(self._as_of)


def snapshot_document(media_type: str, stream, *, as_of: str | None) -> SnapshotDocument:
    """The reader for a body of this media type (one of `MEDIA_TYPES`)."""
    if media_type == JSON:
        return JsonSnapshot(stream, as_of=as_of)
    if media_type in JSON_LINES:
        return JsonLinesSnapshot(stream, as_of=as_of)
    if media_type == CSV:
        return CsvSnapshot(stream, as_of=as_of)
    raise ValueError(media_type)
