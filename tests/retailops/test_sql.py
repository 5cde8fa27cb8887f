"""Fixed SQL for hot paths (retailops.sql): the rows it builds are the ORM's rows."""

from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connections
from django.forms.models import model_to_dict

from integrations.authentication import _client_by_token_hash
from integrations.models import ApiClient
from integrations.services import api_client_create, external_system_ensure
from integrations.tokens import hash_token
from inventory.models import Location, Sku
from orders.models import Allocation
from orders.states import AllocationOrigin, AllocationStatus
from retailops.sql import create_with_history, execute, is_in, select_models
from tests.inventory.factories import ChannelFactory, LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db


def fields_of(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields}


def test_models_read_with_fixed_sql_equal_the_orms_decimals_and_datetimes_included():
    SkuFactory(code="A", price="19.99", unit_cost="7.25")
    LocationFactory(code="S1", confidence=Decimal("0.875"))

    (sku,) = select_models(Sku, "code = %s", ["A"])
    (location,) = select_models(Location, "code = %s", ["S1"])

    assert fields_of(sku) == fields_of(Sku.objects.get(code="A"))
    assert fields_of(location) == fields_of(Location.objects.get(code="S1"))
    assert isinstance(sku.price, Decimal) and sku.created_at.tzinfo is not None
    assert not sku._state.adding


def test_a_token_resolves_to_its_client_with_json_scopes_as_a_list():
    issued = api_client_create(system=external_system_ensure(code="mkt", kind="marketplace"),
                               scopes=["orders", "availability"])

    client = _client_by_token_hash(hash_token(issued.token))

    # A scope check is `scope in client.scopes`: on a JSON string it would be a substring test.
    assert client.scopes == ["availability", "orders"]
    assert fields_of(client) == fields_of(ApiClient.objects.get(pk=client.pk))
    assert client.user.username == ApiClient.objects.get(pk=client.pk).user.username
    assert client.external_system.code == "mkt"
    assert _client_by_token_hash(hash_token("rop_not-a-token")) is None


def test_create_with_history_writes_the_row_and_its_created_record(django_user_model):
    user = django_user_model.objects.create(username="checkout")
    sku, location, channel = SkuFactory(), LocationFactory(), ChannelFactory()

    hold = create_with_history(
        Allocation, history_user=user, sku_id=sku.pk, location_id=location.pk, channel_id=channel.pk, quantity=2,
        origin=AllocationOrigin.HOLD, status=AllocationStatus.RESERVED, expires_at=None, reference="cart-1",
        order_id=None, line_id=None, external_system_id=None, created_by_id=user.pk, sourcing={"rule": "test"},
    )

    stored = Allocation.objects.get(pk=hold.pk)
    assert model_to_dict(stored) == model_to_dict(hold)
    assert stored.sourcing == {"rule": "test"} and stored.created_at is not None
    (record,) = stored.history.all()
    assert (record.history_type, record.history_user, record.quantity, record.reference) == ("+", user, 2, "cart-1")


def test_execute_returns_rows_or_nothing_and_is_in_takes_any_number_of_values():
    SkuFactory(code="A")
    SkuFactory(code="B")
    table = Sku._meta.db_table

    where, params = is_in("code", ["B", "A", "Z"])
    assert sorted(execute(f"SELECT code FROM {table} WHERE {where}", params)) == [("A",), ("B",)]
    where, params = is_in("code", [])
    assert execute(f"SELECT code FROM {table} WHERE {where}", params) == []
    assert execute(f"UPDATE {table} SET name = %s WHERE code = %s", ["renamed", "A"]) == []
    assert Sku.objects.get(code="A").name == "renamed"


@pytest.mark.postgres
def test_every_postgresql_session_bounds_lock_waits_and_keeps_generic_plans():
    fresh = connections.create_connection("default")
    try:
        with fresh.cursor() as cursor:
            cursor.execute("SELECT current_setting('lock_timeout'), current_setting('plan_cache_mode')")
            lock_timeout, plan_cache_mode = cursor.fetchone()
    finally:
        fresh.close()
    assert lock_timeout == f"{settings.LOCK_TIMEOUT_MS}ms" or lock_timeout == f"{settings.LOCK_TIMEOUT_MS // 1000}s"
    assert plan_cache_mode == "force_generic_plan"


def test_instances_read_with_fixed_sql_save_and_relate_like_the_orms():
    sku = SkuFactory(code="A", name="Old")
    (read,) = select_models(Sku, "code = %s", ["A"])

    read.name = "New"
    read.save()

    assert Sku.objects.count() == 1 and Sku.objects.get(pk=sku.pk).name == "New"  # an UPDATE, not an INSERT
    assert read == sku and read._state.db == "default"


def test_a_model_someone_listens_to_is_built_through_its_init():
    from django.db.models.signals import post_init

    SkuFactory(code="A")
    heard = []

    def listener(sender, instance, **kwargs):
        heard.append(instance)

    post_init.connect(listener, sender=Sku)
    try:
        (sku,) = select_models(Sku, "code = %s", ["A"])
    finally:
        post_init.disconnect(listener, sender=Sku)
    assert heard == [sku]


def test_only_some_fields_read_the_rest_when_touched(django_assert_num_queries):
    SkuFactory(code="A", name="Trail shoe", price="19.99")

    (sku,) = select_models(Sku, "code = %s", ["A"], only=("id", "code", "price"))

    assert sku.get_deferred_fields() == {field.attname for field in Sku._meta.concrete_fields} - {
        "id", "code", "price"}
    with django_assert_num_queries(0):
        assert (sku.code, sku.price) == ("A", Decimal("19.99"))
    with django_assert_num_queries(1):
        assert sku.name == "Trail shoe"
