"""The goods receipt reaches the ERP exactly once through the outbox and a real worker,
and the notice shows how its posting went. Uses the integrations worker harness."""

import time

import pytest

from integrations.models import ExternalSystem, OutboxMessage
from tests.integrations.conftest import sandbox, sandbox_server  # noqa: F401 (fixtures)
from tests.integrations.test_worker import (  # noqa: F401 (fixtures)
    assert_each_message_applied_once,
    kick,
    queue,
    start_worker,
    wait_until,
)
from tests.receiving.conftest import asn_body

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


# The harness's fixtures are imported above, so the arguments below name them again.
def test_the_goods_receipt_reaches_the_erp_exactly_once_and_shows_on_the_asn(start_worker, queue, sandbox,  # noqa: F811
                                                                             partner_api, dock):
    ExternalSystem.objects.create(code="erp", name="ERP", kind=ExternalSystem.Kind.ERP,
                                  adapter=ExternalSystem.Adapter.JSON_HTTP, base_url=f"{sandbox.url}/erp",
                                  timeout_seconds=2)
    sandbox.configure(error_rate=0.5, seed=3)  # the ERP fails half the time: retried, never doubled
    supplier = partner_api("acme", scopes=["receipts"], kind="supplier")
    asn = supplier.post("/api/v1/asns", asn_body(dock), format="json").json()
    lines = {"lines": [{"sku": "A", "quantity": 9, "damaged": 1}, {"sku": "B", "quantity": 5}]}
    headers = {"HTTP_IDEMPOTENCY_KEY": "receipt-1"}
    first = supplier.post(f"/api/v1/asns/{asn['id']}/receive", lines, format="json", **headers)
    resent = supplier.post(f"/api/v1/asns/{asn['id']}/receive", lines, format="json", **headers)
    assert first.json()["erp_posting"] == {"status": "pending", "documents": 1}
    assert resent["Idempotent-Replayed"] == "true"

    start_worker()
    wait_until(lambda: OutboxMessage.objects.filter(status=OutboxMessage.Status.DELIVERED).count() == 1,
               timeout=30, queue=queue, what="the goods receipt")
    kick(queue)
    time.sleep(0.5)

    [received] = sandbox.received("erp")
    assert received["path"].endswith("/documents/goods_receipt")  # the sandbox ERP takes any document type
    document = received["body"]
    assert (document["external_id"], document["location"]) == ("ASN-1", "DC1")
    assert [(line["sku"], line["received"], line["damaged"]) for line in document["lines"]] == [("A", 9, 1),
                                                                                               ("B", 5, 0)]
    assert_each_message_applied_once(sandbox)
    shown = supplier.get(f"/api/v1/asns/{asn['id']}").json()
    assert shown["erp_posting"] == {"status": "delivered", "documents": 1}
