"""The load test's workload: partner systems and staff at once, as a busy day has them.

- Store tills (POS token) send batches of sales, and now and then resend the last batch
  (its events come back `duplicate`: no second effect, and no error).
- The dock (WMS token) sends batches of receipts at warehouses and stores.
- The web shop (web token) reads availability, places checkout holds and then orders from
  them (shipped or cancelled), releases some holds, leaves others to expire (and reads them
  back once beat has expired them), places orders without a hold, and click-and-collect
  orders held at a store (acknowledged by the store and picked up, or cancelled); a store
  without the unit answers 409 insufficient_stock, a refusal and no error.
- Inventory controllers and store managers sign in through the sign-in form (CSRF; neither
  role is asked for a second factor) and open the queue page, case details, the stock
  inquiry, a stock level, the dashboard and the store home.

Each request is named by its kind ("events: sales", "hold: create", "staff: queue page", …),
so locust's statistics group by kind. Outcomes are judged by loadtest/workload.py: an
expected business refusal (409 insufficient_stock) is a success for locust and tallied as
`refused`; anything else unexpected is a locust failure. When locust quits, its figures per
kind, the tally of outcomes per kind, its failures and any exception in this file's code are
written to $LOADTEST_RESULTS (JSON) for loadtest/report.py.

Run by loadtest/run.py (`make loadtest`), which sets the tokens and staff accounts in the
environment: LOADTEST_{POS,WMS,WEB,MASTER_DATA}_TOKEN, LOADTEST_{CONTROL,STORE}_USER and
LOADTEST_{CONTROL,STORE}_PASSWORD.
"""

import json
import os
import random
import time
from collections import Counter, defaultdict

import requests
from locust import HttpUser, between, events, task

from loadtest import workload as w

ESTATE: dict[str, w.Estate] = {}
OUTCOMES: dict[str, Counter] = defaultdict(Counter)


def estate() -> w.Estate:
    return ESTATE["current"]


def _read_all(host: str, path: str, token: str) -> list[dict]:
    rows: list[dict] = []
    url: str | None = f"{host}{path}?limit=500"
    while url:
        response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        response.raise_for_status()
        page = response.json()
        rows.extend(page["results"])
        url = page["next"]
    return rows


@events.test_start.add_listener
def _read_estate(environment, **kwargs):
    """The locations and SKUs to pick from, read once through the master-data API (these
    reads are not part of the measured workload)."""
    token = os.environ["LOADTEST_MASTER_DATA_TOKEN"]
    ESTATE["current"] = w.Estate.from_api(locations=_read_all(environment.host, "/api/v1/locations", token),
                                          skus=_read_all(environment.host, "/api/v1/skus", token))


def _figures(entry) -> dict:
    return {
        "requests": entry.num_requests, "failures": entry.num_failures, "throughput": entry.total_rps,
        **{f"p{point}_ms": entry.get_response_time_percentile(point / 100) if entry.num_requests else None
           for point in (50, 95, 99)},
    }


@events.quitting.add_listener
def _write_results(environment, **kwargs):
    """Every figure of the run, once every user has stopped: locust's per kind and overall,
    the outcome tally per kind, its failures and the workload's own exceptions."""
    path = os.environ.get("LOADTEST_RESULTS")
    if not path:
        return
    stats = environment.stats
    results = {
        "kinds": {entry.name: {**_figures(entry), "outcomes": dict(OUTCOMES.get(entry.name, {}))}
                  for entry in stats.entries.values()},
        "total": {**_figures(stats.total), "outcomes": dict(sum(OUTCOMES.values(), Counter()))},
        "failures": [{"method": error.method, "name": error.name, "error": str(error.error),
                      "occurrences": error.occurrences} for error in stats.errors.values()],
        "exceptions": [{"count": exception["count"], "message": exception["msg"]}
                       for exception in environment.runner.exceptions.values()],
    }
    with open(path, "w") as file:
        json.dump(results, file, indent=1, sort_keys=True)


def _body(response):
    try:
        return response.json()
    except ValueError:
        return None


def call(user: HttpUser, method: str, path: str, *, name: str, judge, **kwargs):
    """One request of kind `name`, judged by `judge(status, body) -> (outcome, why)`;
    returns (outcome, body)."""
    with user.client.request(method, path, name=name, catch_response=True, **kwargs) as response:
        body = _body(response)
        outcome, why = judge(response.status_code, body)
        OUTCOMES[name][outcome] += 1
        if outcome == w.ERROR:
            response.failure(why)
        else:
            response.success()
    return outcome, body


def expect(*statuses: int):
    return lambda status, body: w.judge(status, body, expected=statuses)


# --- Partner systems ------------------------------------------------------------------------


class Partner(HttpUser):
    abstract = True
    token_variable = ""

    def on_start(self):
        self.rng = random.Random()
        self.client.headers["Authorization"] = f"Bearer {os.environ[self.token_variable]}"


class StoreTills(Partner):
    """A chain's POS: sales batches, and a resend now and then (a till that lost an answer)."""

    weight = 3
    wait_time = between(1, 3)
    token_variable = "LOADTEST_POS_TOKEN"
    last_batch: dict | None = None

    @task(6)
    def sales(self):
        batch = w.sales_batch(self.rng, estate())
        outcome, _body = call(self, "POST", "/api/v1/inventory/events", name="events: sales", json=batch,
                              judge=lambda status, body: w.judge_events(status, body, sent=batch, resend=False))
        if outcome == w.OK:
            self.last_batch = batch

    @task(1)
    def resend(self):
        batch = self.last_batch
        if batch is None:
            return
        call(self, "POST", "/api/v1/inventory/events", name="events: resend", json=batch,
             judge=lambda status, body: w.judge_events(status, body, sent=batch, resend=True))


class Dock(Partner):
    """The WMS: receipts at the warehouses' and stores' docks."""

    weight = 1
    wait_time = between(2, 5)
    token_variable = "LOADTEST_WMS_TOKEN"

    @task
    def receipts(self):
        batch = w.receipts_batch(self.rng, estate())
        call(self, "POST", "/api/v1/inventory/events", name="events: receipts", json=batch,
             judge=lambda status, body: w.judge_events(status, body, sent=batch, resend=False))


class WebShop(Partner):
    """The web shop: product pages read availability; checkouts hold, then order or let go."""

    weight = 4
    wait_time = between(0.5, 2)
    token_variable = "LOADTEST_WEB_TOKEN"

    def on_start(self):
        super().on_start()
        self.abandoned: list[tuple[float, int]] = []  # (when to read it back, hold id)

    def _hold(self, ttl_seconds: int):
        outcome, hold = call(self, "POST", "/api/v1/reservations", name="hold: create",
                             json=w.hold_body(self.rng, estate(), ttl_seconds=ttl_seconds), judge=expect(201))
        return hold if outcome == w.OK else None

    def _ship_or_cancel(self, order: dict):
        if self.rng.random() < 0.8:
            call(self, "POST", f"/api/v1/orders/{order['id']}/ship", name="order: ship", json={}, judge=expect(200))
        else:
            call(self, "POST", f"/api/v1/orders/{order['id']}/cancel", name="order: cancel", json={},
                 judge=expect(200))

    @task(6)
    def availability(self):
        call(self, "GET", w.availability_path(self.rng, estate()), name="availability", judge=expect(200))

    @task(3)
    def checkout(self):
        """A hold, then most often an order from it; else the shopper leaves and it is released."""
        hold = self._hold(w.HOLD_TTL_SECONDS)
        if hold is None:
            return
        if self.rng.random() < 0.7:
            body = w.order_from_hold_body(hold)
            outcome, order = call(self, "POST", "/api/v1/orders", name="order: create from hold", json=body,
                                  headers={"Idempotency-Key": body["external_id"]}, judge=expect(201))
            if outcome == w.OK:
                self._ship_or_cancel(order)
        else:
            call(self, "POST", f"/api/v1/reservations/{hold['id']}/release", name="hold: release", json={},
                 judge=expect(200))

    @task(1)
    def click_and_collect(self):
        """A unit held at a store, ordered for collection there; the store acknowledges it and
        the customer collects it, or the order is cancelled."""
        outcome, hold = call(self, "POST", "/api/v1/reservations", name="hold: create at store",
                             json=w.pickup_hold_body(self.rng, estate(), ttl_seconds=w.HOLD_TTL_SECONDS),
                             judge=expect(201))
        if outcome != w.OK:
            return
        body = w.order_from_hold_body(hold, pickup=True)
        outcome, order = call(self, "POST", "/api/v1/orders", name="order: create for pickup", json=body,
                              headers={"Idempotency-Key": body["external_id"]}, judge=expect(201))
        if outcome != w.OK:
            return
        if self.rng.random() < 0.85:
            call(self, "POST", f"/api/v1/orders/{order['id']}/acknowledge", name="order: acknowledge", json={},
                 judge=expect(200))
            call(self, "POST", f"/api/v1/orders/{order['id']}/pickup", name="order: pick up", json={},
                 judge=expect(200))
        else:
            call(self, "POST", f"/api/v1/orders/{order['id']}/cancel", name="order: cancel", json={},
                 judge=expect(200))

    @task(1)
    def abandoned_cart(self):
        """A short hold nobody comes back for: beat expires it and its units return."""
        hold = self._hold(w.SHORT_HOLD_TTL_SECONDS)
        if hold is not None:
            self.abandoned.append((time.monotonic() + w.EXPIRY_CHECK_AFTER_SECONDS, hold["id"]))

    @task(1)
    def expired_hold_read(self):
        if not self.abandoned or self.abandoned[0][0] > time.monotonic():
            return
        _due, hold_id = self.abandoned.pop(0)
        call(self, "GET", f"/api/v1/reservations/{hold_id}", name="hold: read after expiry",
             judge=w.judge_hold_after_expiry)

    @task(1)
    def order(self):
        body = w.order_body(self.rng, estate())
        outcome, order = call(self, "POST", "/api/v1/orders", name="order: create", json=body,
                              headers={"Idempotency-Key": body["external_id"]}, judge=expect(201))
        if outcome == w.OK:
            self._ship_or_cancel(order)


# --- Staff in the browser -----------------------------------------------------------------------


class Staff(HttpUser):
    """Signs in through the sign-in form, as a browser does: the form's CSRF token, then the
    post; a page that answers anything but 200 (a redirect to sign in again included) is an
    error."""

    abstract = True
    account = ""  # CONTROL or STORE: LOADTEST_<account>_USER / _PASSWORD

    def on_start(self):
        self.rng = random.Random()
        self.case_ids: list[int] = []
        token = w.csrf_token(self.page("/login/", "staff: sign-in form"))
        credentials = {"username": os.environ[f"LOADTEST_{self.account}_USER"],
                       "password": os.environ[f"LOADTEST_{self.account}_PASSWORD"]}
        call(self, "POST", "/login/", name="staff: sign in", data={**credentials, "csrfmiddlewaretoken": token},
             allow_redirects=False, judge=self._signed_in)

    @staticmethod
    def _signed_in(status, body):
        return (w.OK, "") if status == 302 else (w.ERROR, f"sign-in answered HTTP {status}")

    def page(self, path: str, name: str) -> str:
        with self.client.get(path, name=name, catch_response=True, allow_redirects=False) as response:
            outcome, why = w.judge(response.status_code, None, expected=(200,))
            OUTCOMES[name][outcome] += 1
            if outcome == w.ERROR:
                response.failure(why)
            else:
                response.success()
            return response.text if outcome == w.OK else ""

    def queue(self, path: str):
        found = w.case_ids(self.page(path, "staff: queue page"))
        if found:
            self.case_ids = found

    def case_detail(self):
        if self.case_ids:
            self.page(f"/cases/{self.rng.choice(self.case_ids)}/", "staff: case detail")


class InventoryController(Staff):
    weight = 1
    wait_time = between(3, 8)
    account = "CONTROL"

    @task(3)
    def queue_page(self):
        self.queue("/cases/queue/inventory_control/")

    @task(3)
    def case(self):
        self.case_detail()

    @task(2)
    def stock_inquiry(self):
        self.page(f"/inventory/stock/?q={self.rng.choice(estate().skus)}", "staff: stock inquiry")

    @task(2)
    def stock_level(self):
        sku, location = self.rng.choice(estate().skus), self.rng.choice(estate().warehouses)
        self.page(f"/inventory/stock/{sku}/at/{location}/", "staff: stock level")

    @task(1)
    def dashboard(self):
        self.page("/dashboard/", "staff: dashboard")


class StoreManager(Staff):
    weight = 1
    wait_time = between(3, 8)
    account = "STORE"

    @task(2)
    def home(self):
        """The store home: the store's cases beside the pickups waiting at the counter."""
        found = w.case_ids(self.page("/", "staff: store home"))
        if found:
            self.case_ids = found

    @task(2)
    def queue_page(self):
        self.queue("/cases/queue/store_ops/")

    @task(2)
    def case(self):
        self.case_detail()

    @task(2)
    def stock_inquiry(self):
        self.page(f"/inventory/stock/?q={os.environ['LOADTEST_STORE_LOCATION']}", "staff: stock inquiry")

    @task(1)
    def dashboard(self):
        self.page("/dashboard/", "staff: dashboard")
