"""POST/GET /api/v1/reservations: checkout holds (API.md "Reservations")."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from exceptions.models import Case
from inventory.ledger import ledger_drifts
from inventory.models import StockLevel, StockMovement
from orders.models import Allocation
from retailops.throttling import ClientRateThrottle
from tests.orders.factories import stock

pytestmark = pytest.mark.django_db


def level(sku, location):
    return StockLevel.objects.get(sku=sku, location=location)


@pytest.fixture
def api(partner_api):
    return partner_api()


def test_a_hold_commits_units_and_answers_201(api, shop):
    stock(shop.a, shop.dc, 10)
    before = timezone.now()
    response = api.post("/api/v1/reservations", {"sku": "A", "quantity": 3, "channel": "web"}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["sku"], body["location"], body["quantity"], body["status"]) == ("A", "DC1", 3, "reserved")
    expires_at = Allocation.objects.get(pk=body["id"]).expires_at
    assert before + timedelta(seconds=899) <= expires_at <= timezone.now() + timedelta(seconds=900)
    assert level(shop.a, shop.dc).committed == 3
    assert ledger_drifts() == []


def test_ttl_seconds_sets_the_expiry(api, shop):
    stock(shop.a, shop.dc, 10)
    response = api.post("/api/v1/reservations", {"sku": "A", "quantity": 1, "channel": "web", "ttl_seconds": 60},
                        format="json")
    hold = Allocation.objects.get(pk=response.json()["id"])
    assert timedelta(seconds=55) < hold.expires_at - hold.created_at <= timedelta(seconds=60)


def test_a_hold_at_a_named_location_uses_that_location(api, shop):
    stock(shop.a, shop.dc, 10)
    stock(shop.a, shop.s2, 2)
    response = api.post("/api/v1/reservations", {"sku": "A", "quantity": 2, "channel": "web", "location": "S2"},
                        format="json")
    assert response.status_code == 201
    assert response.json()["location"] == "S2"
    explanation = Allocation.objects.get(pk=response.json()["id"]).sourcing
    assert [candidate["location"] for candidate in explanation["candidates"]] == ["S2"]
    assert explanation["rule"] == "requested_location"


def test_more_than_available_is_409_insufficient_stock_and_holds_nothing(api, shop):
    stock(shop.a, shop.dc, 2)
    response = api.post("/api/v1/reservations", {"sku": "A", "quantity": 3, "channel": "web"}, format="json")

    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "insufficient_stock"
    assert level(shop.a, shop.dc).committed == 0
    assert not Allocation.objects.exists()


def test_a_failed_hold_opens_one_reservation_failure_case_per_sku_and_channel(api, shop):
    stock(shop.a, shop.dc, 1)
    for _ in range(3):
        assert api.post("/api/v1/reservations", {"sku": "A", "quantity": 5, "channel": "web"},
                        format="json").status_code == 409
    case = Case.objects.get()
    assert (case.kind, case.occurrences, case.sku_id) == ("reservation_failure", 3, shop.a.pk)


def test_the_channel_buffer_is_held_back(api, shop):
    shop.web.safety_buffer = 2
    shop.web.save()
    stock(shop.a, shop.dc, 5)
    assert api.post("/api/v1/reservations", {"sku": "A", "quantity": 4, "channel": "web"},
                    format="json").status_code == 409
    assert api.post("/api/v1/reservations", {"sku": "A", "quantity": 3, "channel": "web"},
                    format="json").status_code == 201


def test_damaged_quality_control_and_safety_stock_are_not_available(api, shop):
    stock(shop.a, shop.dc, 10, damaged=2, quality_control=3, safety_stock=4)
    assert api.post("/api/v1/reservations", {"sku": "A", "quantity": 2, "channel": "web"},
                    format="json").status_code == 409
    assert api.post("/api/v1/reservations", {"sku": "A", "quantity": 1, "channel": "web"},
                    format="json").status_code == 201


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"sku": "NOPE", "quantity": 1, "channel": "web"}, "unknown_sku", "sku"),
    ({"sku": "A", "quantity": 1, "channel": "nope"}, "unknown_channel", "channel"),
    ({"sku": "A", "quantity": 1, "channel": "web", "location": "NOWHERE"}, "unknown_location", "location"),
    ({"sku": "A", "quantity": 0, "channel": "web"}, "min_value", "quantity"),
    ({"sku": "A", "quantity": -2, "channel": "web"}, "min_value", "quantity"),
    ({"sku": "A", "quantity": "many", "channel": "web"}, "invalid", "quantity"),
    ({"sku": "A", "channel": "web"}, "required", "quantity"),
    ({"sku": "A", "quantity": 1, "channel": "web", "ttl_seconds": 86401}, "max_value", "ttl_seconds"),
    ({"sku": "A", "quantity": 1, "channel": "web", "ttl_seconds": 0}, "min_value", "ttl_seconds"),
])
def test_bad_input_is_a_400_problem_naming_the_field(api, shop, body, code, field):
    stock(shop.a, shop.dc, 10)
    response = api.post("/api/v1/reservations", body, format="json")
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == code
    assert problem["errors"][0]["field"] == field


@pytest.mark.parametrize(("inactive", "body", "code", "field"), [
    ("sku", {"sku": "A", "quantity": 1, "channel": "web"}, "unknown_sku", "sku"),
    ("channel", {"sku": "A", "quantity": 1, "channel": "web"}, "unknown_channel", "channel"),
    (None, {"sku": "NOPE", "quantity": 1, "channel": "nope"}, "unknown_sku", "sku"),
])
def test_an_inactive_or_unknown_code_is_named_as_before_holding(api, shop, inactive, body, code, field):
    """The hold reads its SKU and channel in one statement; what it cannot use is still
    named field by field, the SKU first."""
    stock(shop.a, shop.dc, 10)
    if inactive:
        getattr(shop, {"sku": "a", "channel": "web"}[inactive]).__class__.objects.filter(
            code=body[inactive]).update(active=False)
    response = api.post("/api/v1/reservations", body, format="json")
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["errors"][0]["field"]) == (code, field)
    assert level(shop.a, shop.dc).committed == 0


def test_a_sku_stocked_nowhere_is_409_insufficient_stock(api, shop):
    response = api.post("/api/v1/reservations", {"sku": "B", "quantity": 1, "channel": "web"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"


@pytest.mark.parametrize("at", [{}, {"location": "S1"}])
def test_a_hold_reads_its_sku_channel_and_levels_once_each(api, shop, at):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    stock(shop.a, shop.dc, 10)
    stock(shop.a, shop.s1, 10)
    hold = {"sku": "A", "quantity": 1, "channel": "web", **at}
    api.post("/api/v1/reservations", hold, format="json")
    with CaptureQueriesContext(connection) as queries:
        response = api.post("/api/v1/reservations", hold, format="json")
    assert response.status_code == 201
    assert response.json()["location"] == at.get("location", "DC1")
    reads = [query["sql"] for query in queries if query["sql"].startswith("SELECT")
             and any(table in query["sql"].split(" WHERE ")[0] for table in ("inventory_sku", "inventory_channel",
                                                                               "inventory_stocklevel"))]
    # The SKU, the channel, the levels (with their locations; only the named one's when a
    # location is named); the response shows what these read.
    assert len(reads) == 3


def test_malformed_json_is_400(api, shop):
    response = api.post("/api/v1/reservations", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


def test_release_gives_the_units_back_and_releasing_twice_answers_the_same(api, shop):
    stock(shop.a, shop.dc, 10)
    hold = {"sku": "A", "quantity": 3, "channel": "web"}
    hold_id = api.post("/api/v1/reservations", hold, format="json").json()["id"]

    first = api.post(f"/api/v1/reservations/{hold_id}/release", format="json")
    second = api.post(f"/api/v1/reservations/{hold_id}/release", format="json")

    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["status"] == "released"
    assert level(shop.a, shop.dc).committed == 0
    assert StockMovement.objects.filter(reason="reservation_released").count() == 1
    assert ledger_drifts() == []


def test_get_reads_a_hold(api, shop):
    stock(shop.a, shop.dc, 10)
    created = api.post("/api/v1/reservations", {"sku": "A", "quantity": 3, "channel": "web", "reference": "cart-9"},
                       format="json").json()
    response = api.get(f"/api/v1/reservations/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created
    assert created["reference"] == "cart-9"


def test_unknown_reservation_is_404(api, shop):
    assert api.get("/api/v1/reservations/999").status_code == 404
    assert api.post("/api/v1/reservations/999/release", format="json").status_code == 404


def test_a_partner_cannot_read_or_release_another_partners_hold(partner_api, shop):
    stock(shop.a, shop.dc, 10)
    hold_id = partner_api("partner-a").post("/api/v1/reservations", {"sku": "A", "quantity": 1, "channel": "web"},
                                            format="json").json()["id"]
    other = partner_api("partner-b")
    assert other.get(f"/api/v1/reservations/{hold_id}").status_code == 404
    assert other.post(f"/api/v1/reservations/{hold_id}/release", format="json").status_code == 404
    assert level(shop.a, shop.dc).committed == 1


def test_a_token_without_the_orders_scope_is_403(partner_api, shop):
    response = partner_api(scopes=["events"]).post("/api/v1/reservations",
                                                   {"sku": "A", "quantity": 1, "channel": "web"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"


def test_no_token_is_401(client, shop):
    response = client.post("/api/v1/reservations", {"sku": "A", "quantity": 1, "channel": "web"},
                           content_type="application/json")
    assert response.status_code == 401


def test_a_location_outside_the_tokens_scope_is_403(partner_api, shop):
    stock(shop.a, shop.s2, 10)
    api = partner_api(locations=["S1"])
    response = api.post("/api/v1/reservations", {"sku": "A", "quantity": 1, "channel": "web", "location": "S2"},
                        format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "location_out_of_scope"


def test_sourcing_for_a_scoped_token_stays_inside_its_locations(partner_api, shop):
    stock(shop.a, shop.dc, 10)
    stock(shop.a, shop.s1, 1)
    api = partner_api(locations=["S1"])
    assert api.post("/api/v1/reservations", {"sku": "A", "quantity": 1, "channel": "web"},
                    format="json").json()["location"] == "S1"
    assert api.post("/api/v1/reservations", {"sku": "A", "quantity": 1, "channel": "web"},
                    format="json").status_code == 409


def test_an_idempotent_replay_holds_once(api, shop):
    stock(shop.a, shop.dc, 10)
    headers = {"HTTP_IDEMPOTENCY_KEY": "hold-1"}
    body = {"sku": "A", "quantity": 2, "channel": "web"}
    first = api.post("/api/v1/reservations", body, format="json", **headers)
    again = api.post("/api/v1/reservations", body, format="json", **headers)

    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert level(shop.a, shop.dc).committed == 2
    other = api.post("/api/v1/reservations", {**body, "quantity": 3}, format="json", **headers)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"


def test_a_replayed_409_stays_409_and_holds_nothing(api, shop):
    stock(shop.a, shop.dc, 1)
    headers = {"HTTP_IDEMPOTENCY_KEY": "hold-2"}
    body = {"sku": "A", "quantity": 2, "channel": "web"}
    assert api.post("/api/v1/reservations", body, format="json", **headers).status_code == 409
    stock(shop.a, shop.dc, 5)
    again = api.post("/api/v1/reservations", body, format="json", **headers)
    assert again.status_code == 409
    assert again["Idempotent-Replayed"] == "true"
    assert level(shop.a, shop.dc).committed == 0


def test_releasing_a_hold_an_order_consumed_is_409_invalid_state(api, shop):
    stock(shop.a, shop.dc, 10)
    hold = {"sku": "A", "quantity": 2, "channel": "web"}
    hold_id = api.post("/api/v1/reservations", hold, format="json").json()["id"]
    api.post("/api/v1/orders", {"external_id": "o-1", "channel": "web", "fulfillment": "ship",
                                "lines": [{"line_id": "1", "sku": "A", "quantity": 2, "reservation": hold_id}]},
             format="json")
    response = api.post(f"/api/v1/reservations/{hold_id}/release", format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert level(shop.a, shop.dc).committed == 2


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"sku": ["A"], "quantity": 1, "channel": "web"}, "invalid", "sku"),
    ({"sku": {"code": "A"}, "quantity": 1, "channel": "web"}, "invalid", "sku"),
    ({"sku": "A" * 65, "quantity": 1, "channel": "web"}, "max_length", "sku"),
    ({"sku": "A", "quantity": 10**30, "channel": "web"}, "max_value", "quantity"),
    ({"sku": "A", "quantity": True, "channel": "web"}, "invalid", "quantity"),
    ({"sku": "A", "quantity": 1.5, "channel": "web"}, "invalid", "quantity"),
    ({"sku": "A", "quantity": None, "channel": "web"}, "null", "quantity"),
    ({"sku": "A", "quantity": [1], "channel": "web"}, "invalid", "quantity"),
    ({"sku": "A", "quantity": 1, "channel": ""}, "blank", "channel"),
    ({"sku": "A", "quantity": 1}, "required", "channel"),
    ({"sku": "A", "quantity": 1, "channel": "web", "location": ["S1"]}, "invalid", "location"),
    ({"sku": "A", "quantity": 1, "channel": "web", "ttl_seconds": 10**30}, "max_value", "ttl_seconds"),
    ({"sku": "A", "quantity": 1, "channel": "web", "ttl_seconds": "soon"}, "invalid", "ttl_seconds"),
    ({"sku": "A", "quantity": 1, "channel": "web", "reference": "r" * 256}, "max_length", "reference"),
    ({"sku": "A", "quantity": 1, "channel": "web", "fulfillment": "drone"}, "invalid_choice", "fulfillment"),
    ({"sku": "A", "quantity": 1, "channel": "web", "fulfillment": "pickup"}, "required", "location"),
])
def test_wrong_types_and_huge_numbers_are_400_problems_naming_the_field(api, shop, body, code, field):
    stock(shop.a, shop.dc, 10)
    response = api.post("/api/v1/reservations", body, format="json")
    assert response.status_code == 400, response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert response.json()["errors"][0]["field"] == field
    assert not Allocation.objects.exists()


@pytest.mark.parametrize("raw", [
    "[]",
    '[{"sku": "A", "quantity": 1, "channel": "web"}]',
    '"A"',
    "42",
    "null",
    '{"sku": "A", "quantity": NaN, "channel": "web"}',
    '{"sku": "A", "quantity": Infinity, "channel": "web"}',
    '{"sku": "A", "quantity": 1e999, "channel": "web"}',
    '{"sku": "A", "quantity": 1, "channel": "web"',
    "\xff\xfe",
])
def test_a_body_that_is_not_a_hold_object_is_a_400_problem(api, shop, raw):
    stock(shop.a, shop.dc, 10)
    response = api.post("/api/v1/reservations", raw, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert not Allocation.objects.exists()


@pytest.mark.parametrize("raw", ['{"note": {"why": "x"}}', '{"note": "%s"}' % ("n" * 501), "[1, 2]", '{"note": '])
def test_a_malformed_release_body_is_400_and_keeps_the_hold(api, shop, raw):
    stock(shop.a, shop.dc, 10)
    hold_id = api.post("/api/v1/reservations", {"sku": "A", "quantity": 1, "channel": "web"},
                       format="json").json()["id"]
    response = api.post(f"/api/v1/reservations/{hold_id}/release", raw, content_type="application/json")
    assert response.status_code == 400
    assert Allocation.objects.get(pk=hold_id).status == "reserved"


@pytest.mark.parametrize("url", ["/api/v1/reservations/99999999999999999999999",
                                 "/api/v1/reservations/99999999999999999999999/release"])
def test_an_id_beyond_any_integer_column_is_404(api, shop, url):
    response = api.get(url) if url.endswith("9") else api.post(url, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_bad_token_is_401(client, shop):
    response = client.post("/api/v1/reservations", {"sku": "A", "quantity": 1, "channel": "web"},
                           content_type="application/json", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_release_without_the_orders_scope_is_403(partner_api, api, shop):
    stock(shop.a, shop.dc, 10)
    hold_id = api.post("/api/v1/reservations", {"sku": "A", "quantity": 1, "channel": "web"},
                       format="json").json()["id"]
    reader = partner_api(scopes=["availability"])
    assert reader.get(f"/api/v1/reservations/{hold_id}").json()["code"] == "missing_scope"
    response = reader.post(f"/api/v1/reservations/{hold_id}/release", format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"


def test_a_hold_outside_the_tokens_location_scope_is_404(partner_api, shop):
    stock(shop.a, shop.dc, 10)
    hold_id = partner_api(locations=["DC1"]).post("/api/v1/reservations",
                                                  {"sku": "A", "quantity": 1, "channel": "web"},
                                                  format="json").json()["id"]
    scoped = partner_api(locations=["S1"])
    assert scoped.get(f"/api/v1/reservations/{hold_id}").status_code == 404
    assert scoped.post(f"/api/v1/reservations/{hold_id}/release", format="json").status_code == 404
    assert level(shop.a, shop.dc).committed == 1


def test_a_key_still_in_use_is_409_idempotency_key_in_use_and_holds_nothing(api, shop, key_in_use):
    stock(shop.a, shop.dc, 10)
    body = {"sku": "A", "quantity": 1, "channel": "web"}
    key_in_use(api, "/api/v1/reservations", body, key="hold-3")
    response = api.post("/api/v1/reservations", body, format="json", HTTP_IDEMPOTENCY_KEY="hold-3")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_use"
    assert not Allocation.objects.exists()


def test_too_many_holds_are_429_with_retry_after(api, shop, monkeypatch):
    monkeypatch.setattr(ClientRateThrottle, "THROTTLE_RATES", {"client": "2/min"})
    cache.clear()
    stock(shop.a, shop.dc, 10)
    body = {"sku": "A", "quantity": 1, "channel": "web"}
    try:
        statuses = [api.post("/api/v1/reservations", body, format="json").status_code for _ in range(2)]
        throttled = api.post("/api/v1/reservations", body, format="json")
    finally:
        cache.clear()
    assert statuses == [201, 201]
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0
    assert level(shop.a, shop.dc).committed == 2
