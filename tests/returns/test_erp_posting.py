"""The credit note of a refunded return reaches the sandbox ERP through the outbox
relay: once, even when the worker is killed mid-delivery (the worker fault harness of
tests/integrations), and a dead letter opens the return's case."""

import pytest

from connectors.relay import outbox_relay
from exceptions.models import Case
from exceptions.states import CaseKind
from integrations.models import ExternalSystem, OutboxMessage
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket, Location
from retailops.access import LocationScope
from returns import refunds, services
from returns.models import ReturnAuthorization
from tests.integrations.test_worker import assert_each_message_applied_once, delivered, wait_until
from tests.inventory.factories import LocationFactory, SkuFactory

EVERYWHERE = LocationScope(None)


def erp_on(sandbox, path="erp"):
    return ExternalSystem.objects.create(code="erp", name="ERP", kind=ExternalSystem.Kind.ERP,
                                         adapter=ExternalSystem.Adapter.JSON_HTTP, base_url=f"{sandbox.url}/{path}",
                                         timeout_seconds=2)


def refunded_returns(count: int, actor=None) -> list[ReturnAuthorization]:
    sku = SkuFactory(code="RET-A")
    location = LocationFactory(code="RET-DC", kind=Location.Kind.DC, pickup=False)
    post_movements([Movement(sku.pk, location.pk, Bucket.ON_HAND, 1, reason="receipt")])
    made = []
    for index in range(count):
        authorization, _new = services.return_authorize(
            external_id=f"RA-{index:03d}", location_code=location.code, lines=[services.LineInput(sku.code, 1)],
            actor=actor, scope=EVERYWHERE)
        services.return_receive(authorization=authorization, lines=[services.LineInput(sku.code, 1)], actor=actor,
                                scope=EVERYWHERE)
        refunds.refund_request(authorization=authorization, amount=sku.price, actor=actor, scope=EVERYWHERE)
        made.append(authorization)
    return made


def posting_statuses() -> set:
    from returns.selectors import returns_for

    return {authorization.erp_posting_status for authorization in returns_for(scope=EVERYWHERE)}


@pytest.mark.django_db
def test_the_sandbox_erp_takes_the_credit_note(sandbox):
    erp_on(sandbox)
    [authorization] = refunded_returns(1)
    assert outbox_relay() == {"attempted": 1, "delivered": 1}
    [received] = sandbox.received("erp")
    assert received["path"].endswith("/documents/credit_note")
    assert received["body"]["external_id"] == authorization.external_id
    assert posting_statuses() == {"delivered"}


@pytest.mark.django_db
def test_a_credit_note_the_relay_dead_letters_opens_the_returns_case(sandbox):
    erp_on(sandbox, path="erp/not/here")  # the sandbox refuses the path: resending cannot help
    [authorization] = refunded_returns(1)
    assert outbox_relay() == {"attempted": 1, "dead": 1}
    case = Case.objects.get(kind=CaseKind.RETURN_UNRECONCILED)
    assert case.subject_id == str(authorization.pk)
    assert case.context["message_id"] == OutboxMessage.objects.get().pk
    assert Case.objects.filter(kind=CaseKind.DEAD_LETTER).exists()
    assert posting_statuses() == {"dead"}


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_credit_notes_are_delivered_exactly_once_when_the_worker_is_killed_mid_delivery(start_worker, queue,
                                                                                        sandbox):
    erp_on(sandbox)
    sandbox.configure(latency_ms=40)
    worker = start_worker()
    made = refunded_returns(40)
    wait_until(lambda: len(sandbox.received()) >= 5, timeout=20, queue=queue, what="the first credit notes")
    worker.kill()
    assert len(sandbox.received()) < len(made), "every note went before the kill: nothing was tested"

    start_worker()
    wait_until(lambda: delivered() == len(made), timeout=40, queue=queue, what="every credit note")
    assert_each_message_applied_once(sandbox)
    assert {received["body"]["external_id"] for received in sandbox.received()} == {
        authorization.external_id for authorization in made}
    assert posting_statuses() == {"delivered"}
