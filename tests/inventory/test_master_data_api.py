"""Master data upserts and reads (API.md "Master data")."""

import pytest

from inventory.models import Channel, Location, Sku
from tests.inventory.factories import ChannelFactory, LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db

SKU_BODY = {"name": "Tee black M", "unit_cost": "4.20", "price": "12.50", "active": True}


def test_put_sku_creates_with_201_then_updates_with_200(partner_api):
    client = partner_api(scopes=["master_data"])

    created = client.put("/api/v1/skus/TEE-1", SKU_BODY, format="json")
    updated = client.put("/api/v1/skus/TEE-1", {**SKU_BODY, "price": "13.00"}, format="json")

    assert created.status_code == 201
    assert created.json()["code"] == "TEE-1"
    assert created.json()["price"] == "12.50"
    assert updated.status_code == 200
    assert updated.json()["price"] == "13.00"
    assert Sku.objects.get(code="TEE-1").price == pytest.approx(13)


def test_upsert_records_history_with_actor_and_skips_no_op(partner_api):
    client = partner_api(scopes=["master_data"])
    client.put("/api/v1/skus/TEE-1", SKU_BODY, format="json")
    client.put("/api/v1/skus/TEE-1", SKU_BODY, format="json")  # nothing changed
    client.put("/api/v1/skus/TEE-1", {**SKU_BODY, "name": "Tee black M v2"}, format="json")

    history = Sku.objects.get(code="TEE-1").history.order_by("history_date")
    assert [row.history_type for row in history] == ["+", "~"]
    assert {row.history_user.username for row in history} == {"system:partner-a"}


def test_get_one_and_unknown_code(partner_api):
    client = partner_api(scopes=["master_data"])
    SkuFactory(code="TEE-2")

    assert client.get("/api/v1/skus/TEE-2").json()["code"] == "TEE-2"
    missing = client.get("/api/v1/skus/NOPE")
    assert missing.status_code == 404
    assert missing["Content-Type"] == "application/problem+json"
    assert missing.json()["code"] == "not_found"


def test_location_and_channel_upserts(partner_api):
    client = partner_api(scopes=["master_data"])
    location = client.put("/api/v1/locations/S900", {
        "name": "Store 900", "kind": "store", "region": "north", "ship_from_store": True, "pickup": False,
    }, format="json")
    channel = client.put("/api/v1/channels/web", {
        "name": "Web", "kind": "web", "priority": 5, "safety_buffer": 2,
    }, format="json")

    assert location.status_code == 201, location.json()
    assert location.json()["ship_from_store"] is True
    assert channel.status_code == 201, channel.json()
    assert channel.json()["safety_buffer"] == 2


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({**SKU_BODY, "unit_cost": "cheap"}, "unit_cost", "invalid"),
        ({**SKU_BODY, "price": "-1.00"}, "price", "min_value"),
        ({"unit_cost": "1.00", "price": "2.00"}, "name", "required"),
        ({**SKU_BODY, "active": "perhaps"}, "active", "invalid"),
    ],
)
def test_bad_sku_input_is_a_400_problem(partner_api, body, field, code):
    response = partner_api(scopes=["master_data"]).put("/api/v1/skus/TEE-1", body, format="json")

    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == code
    assert problem["errors"][0]["field"] == field
    assert not Sku.objects.exists()


def test_unknown_location_kind_is_a_400(partner_api):
    response = partner_api(scopes=["master_data"]).put(
        "/api/v1/locations/S1", {"name": "x", "kind": "moon"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_choice"


def test_code_that_is_not_url_safe_is_not_routed(partner_api):
    response = partner_api(scopes=["master_data"]).put("/api/v1/skus/a%20b", SKU_BODY, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_lists_paginate_by_cursor_and_filter(partner_api, django_assert_num_queries):
    client = partner_api(scopes=["master_data"])
    for index in range(5):
        SkuFactory(code=f"A-{index}", active=index != 3)

    client.get("/api/v1/skus")  # the token's first use records last_used_at
    with django_assert_num_queries(2):  # token lookup + one page; no query per row
        first = client.get("/api/v1/skus?limit=2")
    second = client.get(first.json()["next"])
    inactive = client.get("/api/v1/skus?active=false")

    assert [row["code"] for row in first.json()["results"]] == ["A-0", "A-1"]
    assert [row["code"] for row in second.json()["results"]] == ["A-2", "A-3"]
    assert [row["code"] for row in inactive.json()["results"]] == ["A-3"]
    assert inactive.json()["next"] is None


def test_location_list_query_count_does_not_grow_with_rows(partner_api, django_assert_num_queries):
    client = partner_api(scopes=["master_data"])
    for index in range(30):
        LocationFactory(code=f"L{index:02d}")
    ChannelFactory(code="web")
    client.get("/api/v1/channels")

    with django_assert_num_queries(2):
        response = client.get("/api/v1/locations?kind=store")
    assert len(response.json()["results"]) == 30


def test_partner_sees_only_its_locations(partner_api):
    LocationFactory(code="S001")
    LocationFactory(code="S002")
    client = partner_api(scopes=["master_data"], locations=["S001"])

    listed = client.get("/api/v1/locations").json()["results"]
    other = client.get("/api/v1/locations/S002")
    write_other = client.put("/api/v1/locations/S002", {"name": "x", "kind": "store"}, format="json")
    create_new = client.put("/api/v1/locations/S777", {"name": "x", "kind": "store"}, format="json")

    assert [row["code"] for row in listed] == ["S001"]
    assert other.status_code == 404
    assert write_other.status_code == 403
    assert create_new.status_code == 403
    assert Location.objects.get(code="S002").name != "x"


def test_a_token_of_some_locations_cannot_change_chain_wide_master_data(partner_api):
    SkuFactory(code="TEE-1", name="Tee")
    ChannelFactory(code="web", name="Web")
    LocationFactory(code="S001")
    client = partner_api(scopes=["master_data"], locations=["S001"])

    responses = [
        client.put("/api/v1/skus/TEE-1", SKU_BODY, format="json"),
        client.put("/api/v1/skus/TEE-9", SKU_BODY, format="json"),
        client.put("/api/v1/channels/web", {"name": "x", "kind": "web"}, format="json"),
        client.put("/api/v1/channels/new", {"name": "x", "kind": "web"}, format="json"),
    ]

    assert [(response.status_code, response["Content-Type"], response.json()["code"]) for response in responses] == [
        (403, "application/problem+json", "permission_denied")] * 4
    assert (Sku.objects.get().name, Channel.objects.get().name) == ("Tee", "Web")
    assert client.get("/api/v1/skus/TEE-1").status_code == 200  # reading stays open to the scope


def test_token_without_master_data_scope_is_403(partner_api):
    response = partner_api(scopes=["events"]).get("/api/v1/skus")
    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"


def test_only_ops_admin_staff_may_write_master_data(staff_api):
    store = staff_api("store_ops")
    admin = staff_api("ops_admin")

    assert store.get("/api/v1/skus").status_code == 200
    assert store.put("/api/v1/skus/X1", SKU_BODY, format="json").status_code == 403
    assert admin.put("/api/v1/skus/X1", SKU_BODY, format="json").status_code == 201


def test_store_ops_user_sees_only_their_locations(staff_api):
    LocationFactory(code="S001")
    LocationFactory(code="S002")
    store = staff_api("store_ops", locations=["S001"])
    control = staff_api("inventory_control")

    assert [row["code"] for row in store.get("/api/v1/locations").json()["results"]] == ["S001"]
    assert store.get("/api/v1/locations/S002").status_code == 404
    assert len(control.get("/api/v1/locations").json()["results"]) == 2


@pytest.mark.parametrize("capacity", [2**31, 2**63, -1])
def test_a_capacity_beyond_its_column_is_a_400(partner_api, capacity):
    response = partner_api(scopes=["master_data"]).put(
        "/api/v1/locations/S901", {"name": "Store 901", "kind": "store", "capacity": capacity}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == "capacity"
    assert not Location.objects.filter(code="S901").exists()


def test_the_largest_capacity_its_column_holds_is_taken(partner_api):
    response = partner_api(scopes=["master_data"]).put(
        "/api/v1/locations/S902", {"name": "Store 902", "kind": "store", "capacity": 2**31 - 1}, format="json")

    assert response.status_code == 201, response.content
    assert Location.objects.get(code="S902").capacity == 2**31 - 1


@pytest.mark.parametrize(("url", "parameter"), [
    ("/api/v1/skus", "active"),
    ("/api/v1/locations", "ship_from_store"),
    ("/api/v1/locations", "pickup"),
    ("/api/v1/channels", "active"),
])
@pytest.mark.parametrize("value", ["maybe", "yes", "2", "\x00"])
def test_a_boolean_filter_that_is_not_a_boolean_is_a_400_not_ignored(partner_api, url, parameter, value):
    response = partner_api(scopes=["master_data"]).get(url, {parameter: value})

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == parameter


def test_boolean_filters_take_the_values_they_always_took(partner_api):
    SkuFactory(code="ON")
    SkuFactory(code="OFF", inactive=True)
    client = partner_api(scopes=["master_data"])

    def codes(**query):
        response = client.get("/api/v1/skus", query)
        assert response.status_code == 200, response.content
        return [sku["code"] for sku in response.json()["results"]]

    assert codes(active="false") == codes(active="False") == ["OFF"]
    assert codes(active="true") == codes(active="True") == ["ON"]
    assert codes(active="") == codes() == ["OFF", "ON"]
