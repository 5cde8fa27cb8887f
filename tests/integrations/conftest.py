"""Fixtures of the integrations tests: the sandbox partner and channel systems pointed at it."""

import json
import urllib.request

import pytest

from connectors.sandbox import start_in_thread
from integrations.models import ExternalSystem
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket
from tests.inventory.factories import ChannelFactory, LocationFactory, SkuFactory


class Sandbox:
    """The sandbox partner on a free loopback port, read and steered over HTTP like any client."""

    def __init__(self, server):
        self.server = server
        self.url = server.url

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    def configure(self, **changes) -> dict:
        return self.call("POST", "/_config", changes)

    def received(self, partner: str | None = None) -> list[dict]:
        return self.call("GET", "/_received" + (f"?partner={partner}" if partner else ""))["received"]

    def counts(self) -> dict:
        return self.call("GET", "/_received")["counts"]

    def state(self, partner: str) -> dict:
        return self.call("GET", "/_state")["availability"].get(partner, {})


@pytest.fixture(scope="session")
def sandbox_server():
    server = start_in_thread()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def sandbox(sandbox_server):
    sandbox_server.state.reset()
    return Sandbox(sandbox_server)


@pytest.fixture
def channel_system(db, sandbox):
    """Make a channel system that the sandbox plays: channel_system("market", kind="marketplace")."""

    def make(code: str = "market", *, kind: str = ExternalSystem.Kind.MARKETPLACE, channel=None, **fields):
        channel = channel if channel is not None else ChannelFactory(code=f"ch-{code}", kind="marketplace")
        return ExternalSystem.objects.create(
            code=code, name=code, kind=kind, adapter=ExternalSystem.Adapter.JSON_HTTP,
            base_url=f"{sandbox.url}/{code}", channel=channel, **({"timeout_seconds": 2} | fields),
        )

    return make


@pytest.fixture
def stock(db):
    """Post a change: stock(delta, sku="A", location="DC1") → the posting result."""

    def change(delta: int, *, sku: str = "A", location: str = "DC1"):
        sku_row = SkuFactory(code=sku)
        location_row = LocationFactory(code=location, dc=True)
        return post_movements([Movement(sku_row.pk, location_row.pk, Bucket.ON_HAND, delta, reason="receipt")])

    return change
