"""A system that states its stock as a CSV file (`sku,location,on_hand`), read from
`{base_url}/snapshot.csv` (HTTP) or a `file://` path. It takes no pushes.

The time the quantities hold for comes from an `as_of` column, a `# as_of: <ts>` first
line, or the `Last-Modified` header / file time, in that order.
"""

import csv
import io
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlparse

import httpx
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connectors.adapters.base import DeliveryFailed, NotSupported, Snapshot, SnapshotLine, secret_from_environment

REQUIRED_COLUMNS = ("sku", "location", "on_hand")


def parse_snapshot_csv(text: str, *, default_as_of: datetime | None = None) -> Snapshot:
    """Read a snapshot CSV; a malformed file is refused whole, naming the first bad row."""
    as_of = None
    lines = text.splitlines()
    if lines and lines[0].startswith("#"):
        _label, _sep, value = lines[0][1:].partition(":")
        as_of = parse_datetime(value.strip())
        lines = lines[1:]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    missing = [column for column in REQUIRED_COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise DeliveryFailed(f"The snapshot CSV lacks the columns {', '.join(missing)}.", retryable=False)
    rows = []
    for number, row in enumerate(reader, start=2):
        try:
            rows.append(SnapshotLine(row["sku"].strip(), row["location"].strip(), int(row["on_hand"])))
        except (TypeError, ValueError):
            raise DeliveryFailed(f"Row {number} has no whole-number on_hand.", retryable=False) from None
        if as_of is None and row.get("as_of"):
            as_of = parse_datetime(row["as_of"].strip())
    as_of = as_of or default_as_of or timezone.now()
    if timezone.is_naive(as_of):
        as_of = timezone.make_aware(as_of, UTC)
    return Snapshot(as_of=as_of, lines=rows)


class CsvSnapshotAdapter:
    def __init__(self, system):
        self.system = system

    def close(self) -> None:
        pass

    def push_availability(self, items: list[dict], *, idempotency_key: str):
        raise NotSupported(f"{self.system.code} only supplies CSV snapshots.")

    def post_document(self, document_type: str, document: dict, *, idempotency_key: str):
        raise NotSupported(f"{self.system.code} only supplies CSV snapshots.")

    def fetch_snapshot(self) -> Snapshot:
        url = urlparse(self.system.base_url)
        if url.scheme == "file":
            path = Path(url.path)
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise DeliveryFailed(f"Cannot read {path}: {exc}") from exc
            modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
            return parse_snapshot_csv(text, default_as_of=modified)
        headers = {}
        secret = secret_from_environment(self.system)
        if secret:
            headers["Authorization"] = f"Bearer {secret}"
        try:
            response = httpx.get(self.system.base_url.rstrip("/") + "/snapshot.csv", headers=headers,
                                 timeout=self.system.timeout_seconds)
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"Could not reach {self.system.code}: {exc!r}") from exc
        if not response.is_success:
            raise DeliveryFailed(f"GET snapshot.csv → {response.status_code}",
                                 retryable=response.status_code >= 500, status_code=response.status_code)
        modified = None
        if response.headers.get("Last-Modified"):
            try:
                modified = parsedate_to_datetime(response.headers["Last-Modified"])
            except (TypeError, ValueError):
                modified = None
        return parse_snapshot_csv(response.text, default_as_of=modified)
