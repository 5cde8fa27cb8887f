"""A generic JSON-over-HTTP partner.

    POST {base_url}/availability          {"items": [{"sku", "location", "available", "version", …}]}
    POST {base_url}/documents/{type}      the document (an ERP posting, an order shipment, …)
    GET  {base_url}/snapshot              {"as_of": ts, "lines": [{"sku", "location", "on_hand"}]}

Every POST carries `Idempotency-Key`; the partner answers a resend with the first answer.
The secret, if the system names one, goes as a bearer token.
"""

from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connectors.adapters.base import (
    Delivery,
    DeliveryFailed,
    Snapshot,
    SnapshotLine,
    Throttled,
    secret_from_environment,
)

# Worth sending again as is: the partner was busy, slow or briefly wrong.
_RETRYABLE_STATUSES = {408, 409, 425, 500, 502, 503, 504}


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: a number of seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or timezone.now())).total_seconds())


class JsonHttpAdapter:
    def __init__(self, system, *, transport: httpx.BaseTransport | None = None):
        self.system = system
        self._headers = {"User-Agent": "RetailOps-integrations/1", "Accept": "application/json"}
        secret = secret_from_environment(system)
        if secret:
            self._headers["Authorization"] = f"Bearer {secret}"
        # Room for as many kept-alive connections as the relay sends requests at once.
        in_flight = max(1, system.max_in_flight)
        self._client = httpx.Client(
            base_url=system.base_url.rstrip("/"), timeout=system.timeout_seconds, headers=self._headers,
            transport=transport,
            limits=httpx.Limits(max_connections=in_flight * 2, max_keepalive_connections=in_flight),
        )

    def close(self) -> None:
        self._client.close()

    def push_availability(self, items: list[dict], *, idempotency_key: str) -> Delivery:
        return self._post("/availability", {"items": items}, idempotency_key=idempotency_key)

    def post_document(self, document_type: str, document: dict, *, idempotency_key: str) -> Delivery:
        return self._post(f"/documents/{document_type}", document, idempotency_key=idempotency_key)

    def fetch_snapshot(self) -> Snapshot:
        response = self._request("GET", "/snapshot")
        try:
            body = response.json()
            as_of = parse_datetime(body["as_of"])
            lines = [SnapshotLine(str(line["sku"]), str(line["location"]), int(line["on_hand"]))
                     for line in body["lines"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise DeliveryFailed(f"The snapshot is not readable: {exc}", retryable=False) from exc
        if as_of is None:
            raise DeliveryFailed("The snapshot has no readable as_of.", retryable=False)
        return Snapshot(as_of=as_of, lines=lines)

    def _post(self, path: str, body: dict, *, idempotency_key: str) -> Delivery:
        response = self._request("POST", path, json=body, headers={"Idempotency-Key": idempotency_key})
        return Delivery(status_code=response.status_code,
                        replayed=response.headers.get("Idempotent-Replayed", "").lower() == "true")

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise DeliveryFailed(f"Timed out after {self.system.timeout_seconds}s: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"Could not reach {self.system.code}: {exc!r}") from exc
        if response.is_success:
            return response
        detail = f"{method} {path} → {response.status_code}: {response.text[:300]}"
        if response.status_code == 429:
            raise Throttled(detail, retry_after=retry_after_seconds(response.headers.get("Retry-After")))
        raise DeliveryFailed(detail, retryable=response.status_code in _RETRYABLE_STATUSES,
                             status_code=response.status_code)
