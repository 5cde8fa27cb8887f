"""Concurrency on PostgreSQL with real threads: no deadlock reaches a client, nothing is
applied twice, and the ledger stays exact."""

import random
import threading
from collections import defaultdict

import pytest
from django.db import connection
from rest_framework.test import APIClient

from inventory.ledger import ledger_drifts
from inventory.models import InventoryEvent, StockLevel
from tests.inventory.factories import LocationFactory, SkuFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

URL = "/api/v1/inventory/events"


def run_in_threads(work_items, worker, threads: int):
    """Run worker(item) for every item on `threads` threads, each with its own connection."""
    items = list(work_items)
    lock = threading.Lock()
    responses, errors = [], []

    def loop():
        try:
            while True:
                with lock:
                    if not items:
                        return
                    item = items.pop()
                try:
                    responses.append(worker(item))
                except Exception as exc:  # surfaced by the assertion below
                    errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=loop) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=120)
    assert not errors, errors
    return responses


def make_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def event(event_id, type_, sku, location, quantity=1):
    return {"event_id": event_id, "type": type_, "sku": sku, "location": location, "quantity": quantity,
            "occurred_at": "2026-11-20T10:00:00+00:00"}


@pytest.fixture
def keys():
    skus = [SkuFactory(code=f"A{n}").code for n in range(4)]
    locations = [LocationFactory(code=f"S{n}").code for n in range(3)]
    return [(sku, location) for sku in skus for location in locations]


def test_eight_writers_on_overlapping_levels_never_fail_and_totals_are_exact(keys, partner_api):
    token = partner_api(scopes=["events"]).issued.token
    rng = random.Random(3)
    expected = defaultdict(int)
    batches = []
    for batch_number in range(48):
        batch = []
        # Each batch touches the same hot levels in its own random order.
        for n, (sku, location) in enumerate(rng.sample(keys, len(keys))):
            type_ = rng.choice(["sale", "receipt"])
            quantity = rng.randint(1, 5)
            expected[(sku, location)] += quantity if type_ == "receipt" else -quantity
            batch.append(event(f"b{batch_number}-{n}", type_, sku, location, quantity))
        batches.append(batch)

    def post(batch):
        return make_client(token).post(URL, {"events": batch}, format="json")

    responses = run_in_threads(batches, post, threads=8)

    assert [response.status_code for response in responses] == [200] * len(batches)
    assert all(r.json()["summary"]["applied"] == len(keys) for r in responses)
    levels = {(level.sku.code, level.location.code): level.on_hand
              for level in StockLevel.objects.select_related("sku", "location")}
    assert levels == dict(expected)
    assert ledger_drifts() == []


def test_two_thousand_events_delivered_twice_concurrently_and_shuffled_apply_once(keys, partner_api):
    token = partner_api(scopes=["events"]).issued.token
    rng = random.Random(11)
    events = [event(f"e{n}", rng.choice(["sale", "receipt", "receipt"]), *rng.choice(keys), rng.randint(1, 3))
              for n in range(2000)]
    expected = defaultdict(int)
    for item in events:
        expected[(item["sku"], item["location"])] += item["quantity"] * (1 if item["type"] == "receipt" else -1)

    deliveries = []
    for _copy in range(2):
        shuffled = events[:]
        rng.shuffle(shuffled)
        deliveries.extend(shuffled[start:start + 250] for start in range(0, len(shuffled), 250))
    rng.shuffle(deliveries)

    def post(batch):
        return make_client(token).post(URL, {"events": batch}, format="json")

    responses = run_in_threads(deliveries, post, threads=6)

    assert [response.status_code for response in responses] == [200] * len(deliveries)
    summary = defaultdict(int)
    for response in responses:
        for status, count in response.json()["summary"].items():
            summary[status] += count
    assert summary["applied"] == 2000
    assert summary["duplicate"] == 2000
    assert summary["conflict"] == 0
    assert InventoryEvent.objects.count() == 2000
    levels = {(level.sku.code, level.location.code): level.on_hand
              for level in StockLevel.objects.select_related("sku", "location")}
    assert levels == {key: value for key, value in expected.items()}
    assert ledger_drifts() == []
