"""Every staff screen in a real browser, as the role that works in it: it renders without
a JS error, a console error or a 5xx answer, and passes the accessibility audit (axe-core
with no serious or critical violation, and the project's own rules: every control
labelled, one h1, no skipped heading level, unique ids). The case screens have their own
walk-through in tests/exceptions/test_browser.py."""

import pytest
from django.utils import timezone

from backoffice.staff import staff_user_upsert
from integrations.models import OutboxMessage
from integrations.outbox import new_idempotency_key
from integrations.services import external_system_ensure
from inventory.adjustments import adjustment_request
from inventory.counts import count_schedule
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket
from inventory.transfers import LineInput, transfer_request
from retailops.access import LocationScope
from retailops.roles import Role
from tests.browser import PASSWORD, audit, sign_in
from tests.inventory.factories import LocationFactory, SkuFactory
from tests.orders.factories import OrderFactory, OrderLineFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EVERYWHERE = LocationScope(None)


@pytest.fixture
def retailer():
    """One of everything a screen lists: a pending adjustment, a count, a transfer, a pickup
    order, and a channel system with a dead letter."""
    dc = LocationFactory(dc=True, code="DC1", name="North DC")
    store = LocationFactory(code="S001", name="Store S001")
    sku = SkuFactory(code="A-1", name="Trail shoe", unit_cost="500.00", price="900.00")
    post_movements([Movement(sku.pk, dc.pk, Bucket.ON_HAND, 50, reason="receipt"),
                    Movement(sku.pk, store.pk, Bucket.ON_HAND, 8, reason="receipt")])
    control = staff_user_upsert(username="control", role=Role.INVENTORY_CONTROL, password=PASSWORD)
    staff_user_upsert(username="finance", role=Role.FINANCE, password=PASSWORD)
    staff_user_upsert(username="support", role=Role.INTEGRATION_SUPPORT, password=PASSWORD)
    adjustment = adjustment_request(sku_code="A-1", location_code="DC1", delta=-10, reason="damaged",
                                    actor=control, scope=EVERYWHERE)
    assert adjustment.status == "pending_approval"  # 10 × 500.00 reaches the approval threshold
    count = count_schedule(location_code="S001", selection="explicit", sku_codes=["A-1"], actor=control,
                           scope=EVERYWHERE)
    transfer = transfer_request(from_code="DC1", to_code="S001", lines=[LineInput(sku="A-1", quantity=5)],
                                actor=control, scope=EVERYWHERE)
    order = OrderFactory(pickup=True, pickup_location=store, external_id="WEB-2001")
    OrderLineFactory(order=order, sku=sku, quantity=1)
    system = external_system_ensure(code="web-shop", kind="web")
    OutboxMessage.objects.create(
        system=system, topic=OutboxMessage.Topic.AVAILABILITY, status=OutboxMessage.Status.DEAD, attempts=8,
        payload={"levels": [[sku.pk, dc.pk]]}, idempotency_key=new_idempotency_key(),
        next_attempt_at=timezone.now(), created_at=timezone.now(), last_error="503 from partner",
    )
    return {"count": count.pk, "transfer": transfer.pk, "order": order.pk, "system": system.code}


SCREENS = [
    ("control", "/orders/"),
    ("control", "/orders/{order}/"),
    ("control", "/inventory/adjustments/new/"),
    ("control", "/inventory/counts/"),
    ("control", "/inventory/counts/{count}/"),
    ("control", "/inventory/transfers/"),
    ("control", "/inventory/transfers/{transfer}/"),
    ("finance", "/inventory/approvals/"),
    ("finance", "/confirm-password/?next=/inventory/approvals/"),
    ("finance", "/sign-in/code/?next=/inventory/approvals/"),
    ("control", "/sign-in/authenticator/"),
    ("support", "/integrations/"),
    ("support", "/integrations/{system}/"),
]


@pytest.mark.parametrize(("username", "path"), SCREENS)
def test_every_staff_screen_renders_cleanly_and_passes_the_accessibility_audit(open_page, axe, retailer,
                                                                                username, path):
    page = open_page()
    sign_in(page, username)
    response = page.goto(path.format(**retailer))
    page.wait_for_load_state("networkidle")

    assert response.status == 200, page.url
    page.watch.assert_clean()
    audit(page, axe)
