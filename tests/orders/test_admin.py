"""Orders in the Django admin: read, never written (they change through the services)."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from backoffice.staff import staff_user_upsert
from orders.models import Allocation, Order
from orders.states import AllocationOrigin, AllocationStatus
from tests.inventory.factories import LocationFactory
from tests.mfa import force_login_verified
from tests.orders.factories import OrderLineFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(params=["superuser", "ops_admin"])
def admin_client(request):
    if request.param == "superuser":
        user = get_user_model().objects.create_superuser(username="root", password="pw-for-tests-1")
    else:
        user = staff_user_upsert(username="ops", role="ops_admin", password="pw-for-tests-1")
    client = Client(raise_request_exception=False)  # a server error is an answer to check, not a crash
    force_login_verified(client, user)
    return client


@pytest.fixture
def allocation(db):
    line = OrderLineFactory()
    return Allocation.objects.create(line=line, order=line.order, sku=line.sku, location=LocationFactory(),
                                     channel=line.order.channel, quantity=1, origin=AllocationOrigin.ORDER,
                                     status=AllocationStatus.RESERVED)


@pytest.mark.parametrize("model", ["order", "allocation"])
def test_read_only_models_offer_no_add_and_their_add_page_is_refused(admin_client, allocation, model):
    changelist = admin_client.get(f"/admin/orders/{model}/")
    add_page = admin_client.get(f"/admin/orders/{model}/add/")
    add_posted = admin_client.post(f"/admin/orders/{model}/add/", {})

    assert changelist.status_code == 200
    assert f"/admin/orders/{model}/add/" not in changelist.content.decode()
    assert (add_page.status_code, add_posted.status_code) == (403, 403)
    assert Order.objects.count() == 1


@pytest.mark.parametrize("model", ["order", "allocation"])
def test_read_only_models_are_shown_without_save_or_delete(admin_client, allocation, model):
    pk = allocation.order_id if model == "order" else allocation.pk
    page = admin_client.get(f"/admin/orders/{model}/{pk}/change/")
    posted = admin_client.post(f"/admin/orders/{model}/{pk}/change/", {"status": "cancelled"})

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert admin_client.get(f"/admin/orders/{model}/{pk}/history/").status_code == 200
    assert admin_client.get(f"/admin/orders/{model}/{pk}/delete/").status_code == 403
    assert posted.status_code == 403
    assert Order.objects.get().status == allocation.order.status
