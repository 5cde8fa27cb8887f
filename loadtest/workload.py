"""What the load test's users send and how each answer is judged, without locust (so it is
tested on its own: importing locust patches the standard library for gevent).

Every answer falls in one of three outcomes:
- ok: what the contract promises for a valid request (a resent events batch whose every
  event comes back `duplicate` is ok: a resend is no second effect, and no error);
- refused: an expected business refusal the contract names (`insufficient_stock` when a
  hold or an order cannot be placed) — counted apart, never an error;
- error: any 5xx, any other 4xx, or a 2xx whose body breaks the contract.
"""

import random
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode

OK, REFUSED, ERROR = "ok", "refused", "error"

# 409 codes that are business answers, not failures, for the requests the workload sends.
EXPECTED_REFUSALS = frozenset({"insufficient_stock"})

CHANNEL = "web"
HOLD_TTL_SECONDS = 120  # long enough to turn into an order
SHORT_HOLD_TTL_SECONDS = 30  # left alone: beat's reservations_expire (every minute) expires it
# A short hold is read back once this long after it was placed; by then it must be `expired`.
EXPIRY_CHECK_AFTER_SECONDS = SHORT_HOLD_TTL_SECONDS + 150


@dataclass(frozen=True)
class Estate:
    """The location and SKU codes the workload picks from (read once from the master-data API)."""

    stores: tuple[str, ...]
    warehouses: tuple[str, ...]  # DCs and dark stores: receipts land there
    skus: tuple[str, ...]
    pickup_stores: tuple[str, ...] = ()  # stores that offer click and collect

    @classmethod
    def from_api(cls, *, locations: list[dict], skus: list[dict]) -> "Estate":
        active_skus = tuple(sorted(sku["code"] for sku in skus if sku.get("active", True)))
        stores = tuple(sorted(location["code"] for location in locations if location["kind"] == "store"))
        warehouses = tuple(sorted(location["code"] for location in locations
                                  if location["kind"] in {"dc", "dark_store"}))
        if not (stores and warehouses and active_skus):
            raise ValueError(f"an estate needs stores, warehouses and SKUs: got {len(stores)} stores, "
                             f"{len(warehouses)} warehouses, {len(active_skus)} SKUs")
        pickup_stores = tuple(code for code in stores
                              if any(location["code"] == code and location.get("pickup") for location in locations))
        return cls(stores=stores, warehouses=warehouses, skus=active_skus, pickup_stores=pickup_stores)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


# --- Bodies ---------------------------------------------------------------------------------


def events_batch(rng: random.Random, *, kind: str, location: str, skus: tuple[str, ...], size: int,
                 max_quantity: int, occurred_at: str) -> dict:
    """A batch of `size` inventory events of one `kind` (`sale`, `receipt`) at one location,
    each with an event id of its own."""
    return {"events": [
        {"event_id": new_id(f"lt-{kind}"), "type": kind, "sku": rng.choice(skus), "location": location,
         "quantity": rng.randint(1, max_quantity), "occurred_at": occurred_at, "reference": f"loadtest {kind}"}
        for _ in range(size)
    ]}


def sales_batch(rng: random.Random, estate: Estate, *, size: int = 20) -> dict:
    """A till's sales at one store: one or two units a line."""
    return events_batch(rng, kind="sale", location=rng.choice(estate.stores), skus=estate.skus, size=size,
                        max_quantity=2, occurred_at=now_iso())


def receipts_batch(rng: random.Random, estate: Estate, *, size: int = 10) -> dict:
    """The dock's receipts, at a warehouse or a store, by the case (6 to 24 units a line)."""
    location = rng.choice(estate.warehouses if rng.random() < 0.5 else estate.stores)
    return events_batch(rng, kind="receipt", location=location, skus=estate.skus, size=size, max_quantity=24,
                        occurred_at=now_iso())


def hold_body(rng: random.Random, estate: Estate, *, ttl_seconds: int) -> dict:
    return {"sku": rng.choice(estate.skus), "quantity": rng.randint(1, 3), "channel": CHANNEL,
            "ttl_seconds": ttl_seconds, "reference": new_id("lt-cart")}


def pickup_hold_body(rng: random.Random, estate: Estate, *, ttl_seconds: int) -> dict:
    """A click-and-collect cart: one unit held at a store that offers collection. The store
    may not carry the SKU or have it left: then the answer is 409 insufficient_stock."""
    return {"sku": rng.choice(estate.skus), "quantity": 1, "channel": CHANNEL,
            "location": rng.choice(estate.pickup_stores), "fulfillment": "pickup", "ttl_seconds": ttl_seconds,
            "reference": new_id("lt-cart")}


def order_from_hold_body(hold: dict, *, pickup: bool = False) -> dict:
    """An order whose one line consumes the hold: shipped, or collected at the hold's store."""
    fulfillment = {"fulfillment": "pickup", "pickup_location": hold["location"]} if pickup else {"fulfillment": "ship"}
    return {"external_id": new_id("lt-order"), "channel": CHANNEL, **fulfillment,
            "lines": [{"line_id": "1", "sku": hold["sku"], "quantity": hold["quantity"], "reservation": hold["id"]}]}


def order_body(rng: random.Random, estate: Estate, *, max_lines: int = 3) -> dict:
    """An order placed without a hold: one to `max_lines` different SKUs."""
    skus = rng.sample(estate.skus, rng.randint(1, max_lines))
    return {"external_id": new_id("lt-order"), "channel": CHANNEL, "fulfillment": "ship",
            "lines": [{"line_id": str(number), "sku": sku, "quantity": rng.randint(1, 2)}
                      for number, sku in enumerate(skus, start=1)]}


def availability_path(rng: random.Random, estate: Estate, *, skus: int = 5) -> str:
    """A product page's or a feed's read: a few SKUs everywhere, for the web channel."""
    query = [("sku", sku) for sku in rng.sample(estate.skus, skus)] + [("channel", CHANNEL)]
    return f"/api/v1/availability?{urlencode(query)}"


# --- Judging answers --------------------------------------------------------------------------


def problem_code(body) -> str:
    return body.get("code", "") if isinstance(body, dict) else ""


def judge(status: int, body, *, expected: tuple[int, ...], refusals: frozenset[str] = EXPECTED_REFUSALS,
          ) -> tuple[str, str]:
    """(outcome, why) of one answer: `expected` statuses are ok, a 409 with one of `refusals`
    is refused, anything else an error (why says what came back)."""
    if status in expected:
        return OK, ""
    code = problem_code(body)
    if status == 409 and code in refusals:
        return REFUSED, code
    return ERROR, f"HTTP {status} {code}".rstrip()


def judge_events(status: int, body, *, sent: dict, resend: bool) -> tuple[str, str]:
    """A batch of valid events: every event `applied` (or, for a resend of a batch already
    taken, every event `duplicate`), one result per event, in order."""
    outcome, why = judge(status, body, expected=(200,))
    if outcome != OK:
        return outcome, why
    wanted = "duplicate" if resend else "applied"
    results = body.get("results", []) if isinstance(body, dict) else []
    sent_ids = [event["event_id"] for event in sent["events"]]
    if [result.get("event_id") for result in results] != sent_ids:
        return ERROR, "results do not answer the events in order"
    others = sorted({result.get("status") for result in results} - {wanted})
    if others:
        return ERROR, f"events {', '.join(map(str, others))} (expected all {wanted})"
    return OK, ""


def judge_hold_after_expiry(status: int, body) -> tuple[str, str]:
    """A short hold read back well after its expiry: beat must have expired it."""
    outcome, why = judge(status, body, expected=(200,))
    if outcome != OK:
        return outcome, why
    if body.get("status") != "expired":
        return ERROR, f"hold still {body.get('status')} after its expiry"
    return OK, ""


# --- Staff pages ------------------------------------------------------------------------------

_CSRF = re.compile(r'name="csrfmiddlewaretoken"\s+value="([^"]+)"')
_CASE_LINK = re.compile(r'href="/cases/(\d+)/"')


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on a page (the sign-in form)."""
    match = _CSRF.search(html)
    if match is None:
        raise ValueError("no CSRF token on the page")
    return match.group(1)


def case_ids(html: str) -> list[int]:
    """The cases a queue page links to, in page order, each once."""
    return list(dict.fromkeys(int(found) for found in _CASE_LINK.findall(html)))
