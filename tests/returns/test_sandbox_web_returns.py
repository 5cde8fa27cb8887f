"""The sandbox web shop sends some shipped parcels back: it asks the app for a return
authorisation through POST /api/v1/returns with a token of its web system (scope
`returns`), as a real shop would."""

import json
import time
import urllib.request

import pytest

from connectors.demo import WEB_RETURNS_CLIENT, sandbox_web_returns_token
from connectors.relay import outbox_relay
from integrations.models import ApiClient, ExternalSystem
from returns.models import ReturnAuthorization

pytestmark = [pytest.mark.django_db(transaction=True)]


def configure(sandbox, **returns) -> dict:
    return sandbox.configure(returns=returns)


def sandbox_returns(sandbox, *, count: int, within: float = 15.0) -> list[dict]:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{sandbox.url}/_received", timeout=5) as response:
            returns = json.loads(response.read())["returns"]
        if len(returns) >= count:
            return returns
        time.sleep(0.1)
    raise AssertionError(f"the sandbox asked for {len(returns)} return(s), not {count}")


def ship(shop, external_id: str) -> int:
    created = shop.post("/api/v1/orders", {"external_id": external_id, "channel": "web", "fulfillment": "ship",
                                           "lines": [{"line_id": "1", "sku": "A", "quantity": 2}]}, format="json")
    assert created.status_code == 201, created.json()
    shipped = shop.post(f"/api/v1/orders/{created.json()['id']}/ship", {}, format="json")
    assert shipped.status_code == 200, shipped.json()
    return created.json()["id"]


def test_the_sandbox_web_shop_authorises_returns_of_some_shipments_through_the_api(
        live_server, sandbox, place, partner_api, settings):
    settings.INTEGRATIONS_RELAY_TIME_BUDGET_SECONDS = 10
    ExternalSystem.objects.create(code="demo-web", name="Web shop", kind=ExternalSystem.Kind.WEB,
                                  adapter=ExternalSystem.Adapter.JSON_HTTP, base_url=f"{sandbox.url}/web",
                                  channel=place.web,
                                  timeout_seconds=5)
    issued = sandbox_web_returns_token()
    assert issued.client.scopes == ["returns"] and issued.client.external_system.code == "demo-web"
    shown = configure(sandbox, api_url=live_server.url, token=issued.token, partner="web", every=2)
    assert shown["returns"]["token"] != issued.token  # the sandbox does not echo the secret

    shop = partner_api("shop-orders", kind="web", scopes=["orders"])
    orders = [ship(shop, f"WEB-{index}") for index in range(1, 5)]
    outbox_relay()

    returns = sandbox_returns(sandbox, count=2)
    assert [entry["status"] for entry in returns] == [201, 201], returns
    authorised = ReturnAuthorization.objects.order_by("order_id")
    # Every second shipment the shop heard of came back (the relay sends shipments side by
    # side, so which two is the order they arrived in): one unit of its line, to where it left from.
    external_ids = {order_id: f"WEB-{index}" for index, order_id in enumerate(orders, start=1)}
    assert len(authorised) == 2
    assert [(ra.external_id, ra.source_system, ra.status) for ra in authorised] == [
        (f"RA-{external_ids[ra.order_id]}", "demo-web", "authorized") for ra in authorised]
    assert [(line.sku.code, line.authorized) for line in authorised[0].lines.all()] == [("A", 1)]
    assert authorised[0].location.code == "DC1"


def test_each_start_replaces_the_sandbox_token(db):
    ExternalSystem.objects.create(code="demo-web", name="Web shop", kind=ExternalSystem.Kind.WEB,
                                  adapter=ExternalSystem.Adapter.JSON_HTTP, base_url="http://127.0.0.1:9/web")
    first, second = sandbox_web_returns_token(), sandbox_web_returns_token()
    live = ApiClient.objects.filter(name=WEB_RETURNS_CLIENT, revoked_at__isnull=True)
    assert list(live) == [second.client] and first.client.pk != second.client.pk


def test_without_the_demo_web_system_there_is_no_token(db):
    assert sandbox_web_returns_token() is None
