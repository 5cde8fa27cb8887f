"""Pickup orders: each store's acknowledgement window (its own, else the default), and a
missed window turning into one pickup_overdue case for the store, bumped while it stays
missed and never raised for an order acknowledged or collected in time."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from exceptions.models import Case
from exceptions.states import CaseKind, Queue
from orders.models import Order
from orders.services import pickups_overdue_detect
from tests.mfa import force_login_verified
from tests.orders.factories import stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(partner_api):
    return partner_api()


def place_pickup(api, external_id="P-1", quantity=2) -> Order:
    response = api.post("/api/v1/orders", {"external_id": external_id, "channel": "web", "fulfillment": "pickup",
                                           "pickup_location": "S1",
                                           "lines": [{"line_id": "1", "sku": "A", "quantity": quantity}]},
                        format="json")
    assert response.status_code == 201, response.content
    return Order.objects.get(pk=response.json()["id"])


def window_of(order: Order) -> timedelta:
    return order.pickup_ack_due_at - order.created_at


def test_a_store_without_its_own_window_gets_the_default(api, shop, settings):
    stock(shop.a, shop.s1, 10)
    assert abs(window_of(place_pickup(api, "P-1")) - timedelta(hours=2)) < timedelta(seconds=5)
    settings.PICKUP_ACK_WINDOW_MINUTES = 45
    assert abs(window_of(place_pickup(api, "P-2")) - timedelta(minutes=45)) < timedelta(seconds=5)


def test_a_store_with_its_own_window_uses_it_and_the_change_is_in_its_history(api, shop, django_user_model):
    stock(shop.a, shop.s1, 10)
    shop.s1._history_user = django_user_model.objects.create(username="ops")
    shop.s1.pickup_ack_minutes = 30
    shop.s1.save()
    assert abs(window_of(place_pickup(api)) - timedelta(minutes=30)) < timedelta(seconds=5)
    change = shop.s1.history.latest()
    assert (change.pickup_ack_minutes, change.history_user.username) == (30, "ops")


def test_an_ops_admin_sets_a_stores_window_in_the_admin(staff_api, shop):
    from django.test import Client

    from inventory.models import Location
    from retailops.roles import Role

    admin = Client()
    force_login_verified(admin, staff_api(Role.OPS_ADMIN, username="ops").user)
    url = f"/admin/inventory/location/{shop.s1.pk}/change/"
    assert b"pickup acknowledgement window (minutes)" in admin.get(url).content.lower()
    form = {name: value for name, value in Location.objects.filter(pk=shop.s1.pk).values(
        "code", "name", "kind", "region", "ship_from_store", "pickup", "active", "return_policy").get().items()
        if value is not False}
    form |= {"trading_opens_at": "09:00", "trading_closes_at": "21:00"}
    response = admin.post(url, {**form, "pickup_ack_minutes": "45"})
    assert response.status_code == 302, response.content
    shop.s1.refresh_from_db()
    assert shop.s1.pickup_ack_minutes == 45
    assert shop.s1.history.latest().history_user.username == "ops"
    assert admin.post(url, {**form, "pickup_ack_minutes": "0"}).status_code == 200  # refused: at least a minute
    shop.s1.refresh_from_db()
    assert shop.s1.pickup_ack_minutes == 45


def test_a_missed_window_opens_one_pickup_overdue_case_for_the_store(api, shop):
    stock(shop.a, shop.s1, 10)
    order = place_pickup(api, quantity=2)
    due = order.pickup_ack_due_at

    assert pickups_overdue_detect(now=due - timedelta(minutes=1)) == 0
    assert not Case.objects.exists()

    assert pickups_overdue_detect(now=due + timedelta(minutes=10)) == 1
    assert pickups_overdue_detect(now=due + timedelta(minutes=20)) == 1
    case = Case.objects.get()
    assert (case.kind, case.queue, case.location, case.occurrences) == (
        CaseKind.PICKUP_OVERDUE, Queue.STORE_OPS, shop.s1, 2)
    assert case.money_at_risk == Decimal("40.00")  # 2 × A at 20.00
    assert case.subject_id == str(order.pk)
    assert "P-1" in case.title and "S1" in case.title

    assert api.post(f"/api/v1/orders/{order.pk}/acknowledge", format="json").status_code == 200
    assert pickups_overdue_detect(now=due + timedelta(minutes=30)) == 0
    assert Case.objects.get().occurrences == 2


@pytest.mark.parametrize("action", ["acknowledge", "pickup", "cancel"])
def test_an_order_acknowledged_collected_or_cancelled_in_time_is_never_overdue(api, shop, action):
    stock(shop.a, shop.s1, 10)
    order = place_pickup(api)
    assert api.post(f"/api/v1/orders/{order.pk}/{action}", format="json").status_code == 200
    assert pickups_overdue_detect(now=timezone.now() + timedelta(days=1)) == 0
    assert not Case.objects.exists()


def test_the_overdue_detector_runs_on_beat(settings):
    entry = next(entry for entry in settings.CELERY_BEAT_SCHEDULE.values()
                 if entry["task"] == "orders.tasks.pickups_overdue_detect")
    assert entry["schedule"]
