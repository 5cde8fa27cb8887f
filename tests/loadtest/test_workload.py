"""The load test's requests (loadtest/workload.py) against the real API and pages: what it
sends is what the contract takes, and how it judges an answer (ok, refused, error)."""

import dataclasses
import random

import pytest
from django.test import Client

from backoffice.staff import staff_user_upsert
from inventory.models import Location, Sku
from loadtest import report
from loadtest import workload as w
from tests.exceptions.factories import CaseFactory
from tests.inventory.factories import ChannelFactory, LocationFactory, SkuFactory
from tests.orders.factories import stock

pytestmark = pytest.mark.django_db

PASSWORD = "load-test-pass-42"


@pytest.fixture
def estate(db):
    skus = [SkuFactory(code=f"LT-{n}") for n in range(1, 4)]
    dc = LocationFactory(code="DC1", kind=Location.Kind.DC, pickup=False)
    LocationFactory(code="S1", pickup=True)
    ChannelFactory(code="web")
    for sku in skus:
        stock(sku, dc, 100)
    return w.Estate(stores=("S1",), warehouses=("DC1",), skus=tuple(sku.code for sku in skus), pickup_stores=("S1",))


def test_the_estate_is_read_from_the_master_data_api(estate, partner_api):
    api = partner_api(scopes=["master_data"])
    locations = api.get("/api/v1/locations?limit=500").json()["results"]
    skus = api.get("/api/v1/skus?limit=500").json()["results"]

    assert w.Estate.from_api(locations=locations, skus=skus) == estate


def test_an_estate_without_stores_is_refused():
    with pytest.raises(ValueError, match="0 stores"):
        w.Estate.from_api(locations=[{"code": "DC1", "kind": "dc"}], skus=[{"code": "A", "active": True}])


def test_a_sales_batch_is_applied_and_its_resend_is_all_duplicates(estate, partner_api):
    api = partner_api(scopes=["events"], kind="pos")
    batch = w.sales_batch(random.Random(1), estate, size=5)

    first = api.post("/api/v1/inventory/events", batch, format="json")
    again = api.post("/api/v1/inventory/events", batch, format="json")

    assert w.judge_events(first.status_code, first.json(), sent=batch, resend=False) == (w.OK, "")
    assert w.judge_events(again.status_code, again.json(), sent=batch, resend=True) == (w.OK, "")
    # A batch that was not taken once already, judged as a resend, is an error (and the reverse).
    assert w.judge_events(again.status_code, again.json(), sent=batch, resend=False) == (
        w.ERROR, "events duplicate (expected all applied)")


def test_a_receipts_batch_is_applied(estate, partner_api):
    api = partner_api(scopes=["events"], kind="wms")
    batch = w.receipts_batch(random.Random(2), estate, size=4)

    response = api.post("/api/v1/inventory/events", batch, format="json")

    assert w.judge_events(response.status_code, response.json(), sent=batch, resend=False) == (w.OK, "")
    assert {event["type"] for event in batch["events"]} == {"receipt"}


def test_results_out_of_order_are_an_error():
    batch = {"events": [{"event_id": "a"}, {"event_id": "b"}]}
    body = {"results": [{"event_id": "b", "status": "applied"}, {"event_id": "a", "status": "applied"}]}

    assert w.judge_events(200, body, sent=batch, resend=False)[0] == w.ERROR


def test_a_hold_becomes_an_order_that_ships(estate, partner_api):
    api = partner_api(scopes=["orders"], kind="web")
    rng = random.Random(3)

    hold = api.post("/api/v1/reservations", w.hold_body(rng, estate, ttl_seconds=w.HOLD_TTL_SECONDS), format="json")
    assert w.judge(hold.status_code, hold.json(), expected=(201,)) == (w.OK, "")
    order = api.post("/api/v1/orders", w.order_from_hold_body(hold.json()), format="json")
    assert w.judge(order.status_code, order.json(), expected=(201,)) == (w.OK, "")
    shipped = api.post(f"/api/v1/orders/{order.json()['id']}/ship", {}, format="json")
    assert shipped.status_code == 200


def test_an_order_without_a_hold_is_placed(estate, partner_api):
    api = partner_api(scopes=["orders"], kind="web")

    response = api.post("/api/v1/orders", w.order_body(random.Random(4), estate), format="json")

    assert w.judge(response.status_code, response.json(), expected=(201,)) == (w.OK, "")


def test_insufficient_stock_is_a_refusal_not_an_error(estate, partner_api):
    api = partner_api(scopes=["orders"], kind="web")
    body = {**w.hold_body(random.Random(5), estate, ttl_seconds=60), "quantity": 1000}

    response = api.post("/api/v1/reservations", body, format="json")

    assert w.judge(response.status_code, response.json(), expected=(201,)) == (w.REFUSED, "insufficient_stock")


@pytest.mark.parametrize(("status", "body", "why"), [
    (500, None, "HTTP 500"),
    (409, {"code": "order_exists"}, "HTTP 409 order_exists"),
    (400, {"code": "invalid"}, "HTTP 400 invalid"),
    (0, None, "HTTP 0"),  # no answer at all (locust's connection error)
])
def test_anything_else_unexpected_is_an_error(status, body, why):
    assert w.judge(status, body, expected=(201,)) == (w.ERROR, why)


def test_a_hold_read_after_its_expiry_must_be_expired():
    assert w.judge_hold_after_expiry(200, {"status": "expired"}) == (w.OK, "")
    assert w.judge_hold_after_expiry(200, {"status": "reserved"}) == (w.ERROR, "hold still reserved after its expiry")


def test_availability_path_reads_several_skus_for_the_web_channel(estate, partner_api):
    api = partner_api(scopes=["availability"], kind="web")

    response = api.get(w.availability_path(random.Random(6), estate, skus=2))

    assert response.status_code == 200
    assert len(response.json()["totals"]) == 2


def test_staff_sign_in_through_the_form_with_its_csrf_token_then_the_queue_links_its_cases(estate):
    staff_user_upsert(username="lt-control", role="inventory_control", password=PASSWORD)
    case = CaseFactory()
    browser = Client(enforce_csrf_checks=True)

    token = w.csrf_token(browser.get("/login/").content.decode())
    signed_in = browser.post("/login/", {"username": "lt-control", "password": PASSWORD,
                                         "csrfmiddlewaretoken": token})
    queue = browser.get("/cases/queue/inventory_control/")

    assert signed_in.status_code == 302
    assert queue.status_code == 200
    assert w.case_ids(queue.content.decode()) == [case.pk]


def test_a_page_without_a_form_has_no_csrf_token():
    with pytest.raises(ValueError, match="no CSRF token"):
        w.csrf_token("<p>nothing here</p>")


def _figures(requests, failures, refused=0, p99=None):
    return {"requests": requests, "failures": failures, "throughput": requests / 60, "p50_ms": 10.0,
            "p95_ms": 20.0, "p99_ms": p99, "outcomes": {"ok": requests - refused - failures, "refused": refused}}


def test_the_report_has_a_row_per_kind_in_name_order_then_the_total():
    results = {"kinds": {"order: create": _figures(30, 0, refused=4, p99=120.0), "availability": _figures(60, 1)},
               "total": _figures(90, 1, refused=4, p99=110.0), "failures": [], "exceptions": []}

    rows = report.rows_from(results)
    lines = report.table(rows).splitlines()

    assert [row.kind for row in rows] == ["availability", "order: create", "all kinds"]
    assert (rows[1].refused, rows[1].errors, rows[0].errors) == (4, 0, 1)
    assert lines[0].split() == ["kind", "requests", "req/s", "p50", "ms", "p95", "ms", "p99", "ms", "refused",
                                "errors"]
    assert lines[2].split() == ["availability", "60", "1.00", "10", "20", "-", "0", "1"]
    assert lines[-2].startswith("---")  # a rule above the total
    assert lines[-1].split() == ["all", "kinds", "90", "1.50", "10", "20", "110", "4", "1"]


def test_a_click_and_collect_hold_is_ordered_acknowledged_and_picked_up(estate, partner_api):
    stock(Sku.objects.get(code="LT-1"), Location.objects.get(code="S1"), 2)
    api = partner_api(scopes=["orders"], kind="web")
    estate = dataclasses.replace(estate, skus=("LT-1",))

    hold = api.post("/api/v1/reservations", w.pickup_hold_body(random.Random(7), estate, ttl_seconds=60), format="json")
    order = api.post("/api/v1/orders", w.order_from_hold_body(hold.json(), pickup=True), format="json")
    acknowledged = api.post(f"/api/v1/orders/{order.json()['id']}/acknowledge", {}, format="json")
    picked_up = api.post(f"/api/v1/orders/{order.json()['id']}/pickup", {}, format="json")

    assert (hold.status_code, hold.json()["location"]) == (201, "S1")
    assert (order.status_code, order.json()["fulfillment"]) == (201, "pickup")
    assert (acknowledged.status_code, picked_up.status_code) == (200, 200)


def test_a_click_and_collect_hold_at_a_store_without_the_unit_is_refused(estate, partner_api):
    api = partner_api(scopes=["orders"], kind="web")
    estate = dataclasses.replace(estate, skus=("LT-2",))  # held at DC1 only

    response = api.post("/api/v1/reservations", w.pickup_hold_body(random.Random(8), estate, ttl_seconds=60),
                        format="json")

    assert w.judge(response.status_code, response.json(), expected=(201,)) == (w.REFUSED, "insufficient_stock")


def test_only_stores_that_offer_collection_take_click_and_collect():
    locations = [{"code": "DC1", "kind": "dc"}, {"code": "S1", "kind": "store", "pickup": True},
                 {"code": "S2", "kind": "store", "pickup": False}]

    estate = w.Estate.from_api(locations=locations, skus=[{"code": "A"}])

    assert (estate.stores, estate.pickup_stores) == (("S1", "S2"), ("S1",))
