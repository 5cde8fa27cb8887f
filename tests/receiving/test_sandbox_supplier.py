"""The sandbox partner plays the demo supplier: it announces deliveries through the partner
API (`POST /api/v1/asns`) with a `receipts` token, as a supplier's system would."""

import json
import urllib.error
import urllib.request

import pytest

from connectors.clients import partner_client_issue
from receiving.models import Asn
from tests.integrations.conftest import sandbox, sandbox_server  # noqa: F401 (fixtures)
from tests.receiving.conftest import asn_body

pytestmark = pytest.mark.django_db(transaction=True)


def supplier_sends(sandbox, **body):  # noqa: F811
    request = urllib.request.Request(sandbox.url + "/_supplier/asns", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_the_sandbox_supplier_announces_a_delivery_once(sandbox, live_server, dock):  # noqa: F811
    token = partner_client_issue(system_code="demo-supplier", kind="supplier", scopes=["receipts"]).token
    notice = asn_body(dock, external_id="SBX-1")

    status, sent = supplier_sends(sandbox, api=live_server.url, token=token, asn=notice)
    _status, resent = supplier_sends(sandbox, api=live_server.url, token=token, asn=notice)

    assert (status, sent["status"], sent["body"]["status"]) == (200, 201, "expected")
    assert resent["status"] == 201 and resent["body"]["id"] == sent["body"]["id"]  # the idempotent replay
    asn = Asn.objects.get()
    assert (asn.source_system, asn.external_id, asn.supplier) == ("demo-supplier", "SBX-1", "ACME")
    assert [(line.sku.code, line.expected) for line in asn.lines.order_by("sku__code")] == [("A", 10), ("B", 5)]
    assert sandbox.call("GET", "/_supplier/sent")["sent"][0]["status"] == 201


def test_the_sandbox_supplier_passes_refusals_on(sandbox, live_server, dock):  # noqa: F811
    token = partner_client_issue(system_code="demo-supplier", kind="supplier", scopes=["receipts"]).token
    no_receipts = partner_client_issue(system_code="demo-wms", kind="wms", scopes=["events"]).token

    unknown_sku = supplier_sends(sandbox, api=live_server.url, token=token,
                                 asn=asn_body(dock, external_id="SBX-2", lines=[{"sku": "NOPE", "quantity": 1}]))
    out_of_scope = supplier_sends(sandbox, api=live_server.url, token=no_receipts, asn=asn_body(dock))
    not_a_url = supplier_sends(sandbox, api="file:///etc/passwd", token=token, asn=asn_body(dock))
    shapeless = supplier_sends(sandbox, api=live_server.url, token=token)

    assert unknown_sku[1]["status"] == 400 and unknown_sku[1]["body"]["code"] == "unknown_sku"
    assert out_of_scope[1]["status"] == 403
    assert not_a_url[0] == 400 and shapeless[0] == 400
    assert not Asn.objects.exists()
