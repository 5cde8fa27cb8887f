"""Outbox rows are written with the change that causes them, and only then."""

import pytest
from django.db import transaction

from integrations.models import ExternalSystem, OutboxMessage
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket
from tests.inventory.factories import ChannelFactory, LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


def test_a_stock_change_writes_an_availability_message_for_each_channel_system(channel_system, stock):
    market = channel_system("market", channel=ChannelFactory(code="mkt", kind="marketplace", safety_buffer=2))
    web = channel_system("web", kind=ExternalSystem.Kind.WEB, channel=ChannelFactory(code="web", kind="web"))

    result = stock(10)

    [(sku_id, location_id)] = result
    messages = {message.system_id: message for message in OutboxMessage.objects.all()}
    assert set(messages) == {market.pk, web.pk}
    # The message names the level; the relay reads what it holds when it sends.
    assert messages[market.pk].payload == messages[web.pk].payload == {"levels": [[sku_id, location_id]]}
    assert messages[market.pk].topic == OutboxMessage.Topic.AVAILABILITY
    assert messages[market.pk].status == OutboxMessage.Status.PENDING
    assert messages[market.pk].idempotency_key != messages[web.pk].idempotency_key
    assert len(messages[market.pk].idempotency_key) == 32
    assert messages[market.pk].coalescing_key == f"availability:{market.pk}:{sku_id}:{location_id}"


def test_a_posting_of_many_levels_writes_one_message_per_system_naming_them_all(channel_system):
    market = channel_system("market")
    location = LocationFactory(code="DC1", dc=True)
    skus = [SkuFactory(code=f"K{index}") for index in range(3)]

    post_movements([Movement(sku.pk, location.pk, Bucket.ON_HAND, 5, reason="receipt") for sku in reversed(skus)])

    message = OutboxMessage.objects.get()
    assert message.system == market
    assert message.payload == {"levels": [[sku.pk, location.pk] for sku in skus]}
    assert message.coalescing_key == ""  # only a one-level message coalesces by key


def test_more_levels_than_one_push_carries_are_split_over_messages(channel_system, monkeypatch):
    monkeypatch.setattr("integrations.outbox.ITEMS_PER_PUSH", 2)
    channel_system("market")
    location = LocationFactory(code="DC1", dc=True)
    skus = [SkuFactory(code=f"K{index}") for index in range(3)]

    post_movements([Movement(sku.pk, location.pk, Bucket.ON_HAND, 5, reason="receipt") for sku in skus])

    payloads = [message.payload["levels"] for message in OutboxMessage.objects.order_by("pk")]
    assert payloads == [[[skus[0].pk, location.pk], [skus[1].pk, location.pk]], [[skus[2].pk, location.pk]]]


def test_a_change_rolled_back_never_produces_an_outbox_message(channel_system, stock,
                                                               django_capture_on_commit_callbacks):
    channel_system("market")
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(Boom), transaction.atomic():
            stock(10)
            assert OutboxMessage.objects.count() == 1  # written inside the transaction…
            raise Boom
    assert OutboxMessage.objects.count() == 0  # …and gone with it
    assert callbacks == []  # nor is the relay woken


def test_the_relay_is_woken_once_the_change_commits(channel_system, stock, django_capture_on_commit_callbacks,
                                                    settings):
    market = channel_system("market")
    settings.INTEGRATIONS_RELAY_ON_COMMIT = True
    with django_capture_on_commit_callbacks() as callbacks:
        stock(10)
    [callback] = callbacks
    assert callback.func.__name__ == "wake_relay" and callback.keywords == {"system_ids": {market.pk}}


def test_inbound_only_paused_or_disabled_systems_get_no_availability(db, stock, channel_system):
    ExternalSystem.objects.create(code="pos-1", name="POS", kind=ExternalSystem.Kind.POS)  # no adapter
    channel_system("off", enabled=False)
    ExternalSystem.objects.create(code="wms", name="WMS", kind=ExternalSystem.Kind.WMS,
                                  adapter=ExternalSystem.Adapter.JSON_HTTP, base_url="http://127.0.0.1:9/wms")
    paused = channel_system("paused", paused=True)

    stock(5)

    # A paused system keeps accumulating (it is sent when resumed); the others get nothing.
    assert list(OutboxMessage.objects.values_list("system_id", flat=True)) == [paused.pk]


def test_without_listening_systems_a_posting_costs_one_extra_query(db, stock):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    stock(1)  # creates the SKU, location and level
    with CaptureQueriesContext(connection) as queries:
        stock(1)
    touching = [query["sql"] for query in queries if "integrations_" in query["sql"]]
    assert len(touching) == 1 and "integrations_externalsystem" in touching[0]


def test_shipping_an_order_tells_the_order_channel_system(channel_system, partner_api, stock):
    web_channel = ChannelFactory(code="web", kind="web")
    web = channel_system("web", kind=ExternalSystem.Kind.WEB, channel=web_channel)
    channel_system("other")  # another channel's system hears of availability only
    stock(10)
    client = partner_api("shop-1", kind="web")
    created = client.post("/api/v1/orders", {"external_id": "O-1", "channel": "web", "fulfillment": "ship",
                                             "lines": [{"line_id": "1", "sku": "A", "quantity": 3}]}, format="json")
    assert created.status_code == 201, created.json()
    shipped = client.post(f"/api/v1/orders/{created.json()['id']}/ship", {}, format="json")
    assert shipped.status_code == 200, shipped.json()

    update = OutboxMessage.objects.get(topic=OutboxMessage.Topic.ORDER_UPDATE)
    assert update.system == web
    assert update.payload["document_type"] == "shipment"
    assert update.payload["document"]["order"] == "O-1"
    assert update.payload["document"]["lines"] == [{"sku": "A", "location": "DC1", "quantity": 3}]


def test_documents_go_to_every_erp_system(db, sandbox):
    from integrations.outbox import document_enqueue

    erp = ExternalSystem.objects.create(code="erp", name="ERP", kind=ExternalSystem.Kind.ERP,
                                        adapter=ExternalSystem.Adapter.JSON_HTTP, base_url=f"{sandbox.url}/erp")
    assert len(document_enqueue(document_type="adjustment", document={"id": 7, "value": "12.50"})) == 1
    message = OutboxMessage.objects.get()
    assert (message.system, message.topic) == (erp, OutboxMessage.Topic.DOCUMENT)


def test_an_applied_adjustment_posts_its_document_to_the_erp_and_a_pending_one_does_not(db, sandbox, stock):
    from inventory.adjustments import adjustment_request
    from retailops.access import LocationScope

    erp = ExternalSystem.objects.create(code="erp", name="ERP", kind=ExternalSystem.Kind.ERP,
                                        adapter=ExternalSystem.Adapter.JSON_HTTP, base_url=f"{sandbox.url}/erp")
    stock(10)  # SKU A at DC1, unit cost 10.00 (the factory's)
    everywhere = LocationScope(None)

    small = adjustment_request(sku_code="A", location_code="DC1", delta=-2, reason="damaged", actor=None,
                               scope=everywhere)
    big = adjustment_request(sku_code="A", location_code="DC1", delta=500, reason="found_stock", actor=None,
                             scope=everywhere)

    documents = OutboxMessage.objects.filter(topic=OutboxMessage.Topic.DOCUMENT)
    assert (small.status, big.status) == ("applied", "pending_approval")
    assert [(message.system, message.payload["document_type"]) for message in documents] == [(erp, "adjustment")]
    document = documents.get().payload["document"]
    assert document | {"applied_at": None} == {
        "id": small.pk, "sku": "A", "location": "DC1", "delta": -2, "unit_cost": "10.00", "value": "20.00",
        "reason": "damaged", "root_cause": "", "applied_at": None,
    }


def test_the_relay_woken_by_name_is_the_relay_task():
    """The outbox sits below the relay and wakes it by its task name: the name must hold."""
    from connectors.tasks import outbox_relay
    from integrations.outbox import RELAY_TASK
    from retailops.celery import app

    assert outbox_relay.name == RELAY_TASK
    assert app.tasks[RELAY_TASK].run is outbox_relay.run
