"""Staff screens for orders: the filtered list and one order with its sourcing
explanation, history and fulfilment actions — scoped to the user's locations."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from orders.models import Order
from orders.states import AllocationStatus, OrderStatus
from orders.views import PAGE_SIZE
from retailops.roles import Role
from tests.inventory.factories import ChannelFactory, LocationFactory
from tests.mfa import force_login_verified
from tests.orders.factories import AllocationFactory, OrderFactory, order_placed, staff_caller, stock

pytestmark = pytest.mark.django_db


@pytest.fixture
def control(staff_api):
    """An inventory-control user (all locations, may act on orders) signed in to the screens."""
    client = Client()
    client.user = staff_api(Role.INVENTORY_CONTROL, username="control").user
    client.force_login(client.user)
    return client


def signed_in(staff_api, role, **kwargs) -> Client:
    client = Client()
    client.user = staff_api(role, **kwargs).user
    force_login_verified(client, client.user)
    return client


def listed(response) -> list[str]:
    """External ids of the list's rows, in the order shown."""
    return [order.external_id for order in response.context["page"].object_list]


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def created_at(order, when) -> None:
    # created_at is auto_now_add; a list test needs orders of other days.
    Order.objects.filter(pk=order.pk).update(created_at=when)


# --- Access -----------------------------------------------------------------------------------


def test_the_list_needs_a_signed_in_user(client):
    response = client.get("/orders/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_user_without_view_order_gets_403(shop):
    order = OrderFactory(channel=shop.web)
    client = Client()
    client.force_login(get_user_model().objects.create_user(username="nobody", password="pw-for-tests-1"))
    assert client.get("/orders/").status_code == 403
    assert client.get(f"/orders/{order.pk}/").status_code == 403
    assert client.post(f"/orders/{order.pk}/cancel/", {"note": "x"}).status_code == 403


def test_the_navigation_marks_the_orders_list(control):
    assert b'<a href="/orders/" aria-current="page">Orders</a>' in control.get("/orders/").content


def test_store_ops_see_and_act_on_their_stores_only(staff_api, shop):
    stock(shop.a, shop.s1, 5)
    stock(shop.a, shop.s2, 5)
    control = staff_api(Role.INVENTORY_CONTROL).user
    at_s1 = order_placed(caller=staff_caller(control), external_id="AT-S1", lines=[("1", "A", 1)],
                         fulfillment="pickup", pickup_location="S1")
    at_s2 = order_placed(caller=staff_caller(control), external_id="AT-S2", lines=[("1", "A", 1)],
                         fulfillment="pickup", pickup_location="S2")
    store_a = signed_in(staff_api, Role.STORE_OPS, locations=["S1"])

    page = store_a.get("/orders/")
    assert listed(page) == ["AT-S1"]
    assert b"AT-S2" not in page.content
    assert page.context["total"] == 1
    assert store_a.get(f"/orders/{at_s1.pk}/").status_code == 200
    assert store_a.get(f"/orders/{at_s2.pk}/").status_code == 404
    for action in ("acknowledge-pickup", "pickup", "cancel"):
        assert store_a.post(f"/orders/{at_s2.pk}/{action}/", {"note": "mine now"}).status_code == 404
    at_s2.refresh_from_db()
    assert (at_s2.status, at_s2.pickup_acknowledged_at) == (OrderStatus.ALLOCATED, None)
    # The location filter offers only the user's own stores.
    assert [location.code for location in page.context["form"].fields["location"].queryset] == ["S1"]


def test_a_user_who_may_only_view_gets_no_actions_and_403_on_post(staff_api, shop):
    order = OrderFactory(channel=shop.web)
    finance = signed_in(staff_api, Role.FINANCE)
    page = finance.get(f"/orders/{order.pk}/")
    assert page.status_code == 200
    assert page.context["actions"] == {}
    assert b"Cancel order" not in page.content
    assert finance.post(f"/orders/{order.pk}/cancel/", {"note": "no"}).status_code == 403


# --- The list ---------------------------------------------------------------------------------


def test_the_list_is_newest_first_with_counts_per_status(control, shop):
    now = timezone.now()
    for days, external_id, status in [(3, "OLD", OrderStatus.SHIPPED), (2, "MID", OrderStatus.CANCELLED),
                                      (1, "NEW", OrderStatus.ALLOCATED)]:
        created_at(OrderFactory(channel=shop.web, external_id=external_id, status=status), now - timedelta(days=days))

    response = control.get("/orders/")
    assert response.status_code == 200
    assert listed(response) == ["NEW", "MID", "OLD"]
    counts = {item["status"]: item["count"] for item in response.context["status_counts"]}
    assert counts == {"allocated": 1, "partially_shipped": 0, "shipped": 1, "picked_up": 0, "cancelled": 1}
    assert response.context["total"] == 3


def test_the_list_filters_by_what_the_query_string_says(control, shop):
    marketplace = ChannelFactory(code="market")
    now = timezone.now()
    shipped = OrderFactory(channel=shop.web, external_id="WEB-SHIPPED", shipped=True)
    OrderFactory(channel=shop.web, external_id="WEB-PICKUP-S2", pickup=True, pickup_location=shop.s2)
    market = OrderFactory(channel=marketplace, external_id="MKT-AT-DC")
    AllocationFactory(line__order=market, location=shop.dc)
    created_at(shipped, now - timedelta(days=10))

    def ids(**query):
        response = control.get("/orders/", query)
        assert response.status_code == 200
        return sorted(listed(response))

    assert ids(status="shipped") == ["WEB-SHIPPED"]
    assert ids(channel="market") == ["MKT-AT-DC"]
    assert ids(fulfillment="pickup") == ["WEB-PICKUP-S2"]
    assert ids(location="S2") == ["WEB-PICKUP-S2"]  # the pickup location
    assert ids(location="DC1") == ["MKT-AT-DC"]  # an allocation there
    assert ids(q="web-") == ["WEB-PICKUP-S2", "WEB-SHIPPED"]
    day = (now - timedelta(days=10)).date()
    assert ids(created_from=day.isoformat(), created_to=day.isoformat()) == ["WEB-SHIPPED"]
    assert ids(created_from=(now - timedelta(days=1)).date().isoformat()) == ["MKT-AT-DC", "WEB-PICKUP-S2"]
    assert ids(channel="web", status="allocated") == ["WEB-PICKUP-S2"]


def test_the_counts_ignore_the_status_filter_and_links_keep_the_other_filters(control, shop):
    OrderFactory(channel=shop.web, external_id="W-1")
    OrderFactory(channel=shop.web, external_id="W-2", cancelled=True)
    OrderFactory(channel=ChannelFactory(code="market"), external_id="M-1")

    response = control.get("/orders/", {"channel": "web", "status": "cancelled"})
    assert listed(response) == ["W-2"]
    counts = {item["status"]: item["count"] for item in response.context["status_counts"]}
    assert (counts["allocated"], counts["cancelled"]) == (1, 1)
    assert b'href="?channel=web&amp;status=allocated"' in response.content
    # The filters are kept in the form, so "Filter" again keeps them.
    assert b'<option value="web" selected>' in response.content


def test_an_invalid_filter_is_shown_and_ignored(control, shop):
    OrderFactory(channel=shop.web, external_id="W-1")
    response = control.get("/orders/", {"created_from": "2025-05-02", "created_to": "2025-05-01",
                                        "status": "lost"})
    assert response.status_code == 200
    assert "created_to" in response.context["form"].errors
    assert "status" in response.context["form"].errors
    assert b"The end date is before the start date." in response.content


@pytest.mark.parametrize(("field", "day"), [("created_from", "0001-01-01"), ("created_to", "9999-12-31")])
def test_a_date_filter_at_the_edge_of_the_calendar_is_shown_and_ignored(control, shop, field, day):
    OrderFactory(channel=shop.web, external_id="W-1")
    response = control.get("/orders/", {field: day})

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert listed(response) == ["W-1"]


def test_the_list_pages_in_a_fixed_number_of_queries(control, shop, django_assert_num_queries):
    def orders_with_allocations(count):
        for _ in range(count):
            AllocationFactory(line__order__channel=shop.web, location=shop.dc)

    orders_with_allocations(3)
    # Session, user, its permissions (2) and role (navigation); the filter's options
    # (channels, locations); status counts, page count, the page, its allocations.
    with django_assert_num_queries(11):
        small = control.get("/orders/")
    assert len(listed(small)) == 3

    orders_with_allocations(PAGE_SIZE + 5)
    with django_assert_num_queries(11):
        first = control.get("/orders/")
    with django_assert_num_queries(11):
        second = control.get("/orders/", {"page": 2})
    assert len(listed(first)) == PAGE_SIZE
    assert len(listed(second)) == 8
    assert first.context["page"].paginator.num_pages == 2
    assert b'rel="next"' in first.content


# --- One order --------------------------------------------------------------------------------


@pytest.fixture
def placed(staff_api, shop):
    """A two-line ship order sourced for real: line 1 at the DC, line 2 split over stores.
    S3 holds stock but may not ship, so the explanation names why it was left out."""
    s3 = LocationFactory(code="S3", ship_from_store=False)
    stock(shop.a, shop.dc, 5)
    stock(shop.b, shop.s1, 2)
    stock(shop.b, shop.s2, 2)
    stock(shop.b, s3, 9)
    user = staff_api(Role.INVENTORY_CONTROL, username="placer").user
    return order_placed(caller=staff_caller(user), external_id="W-100", lines=[("1", "A", 2), ("2", "B", 3)])


def test_the_detail_shows_lines_allocations_and_the_sourcing_explanation(control, placed):
    response = control.get(f"/orders/{placed.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Order W-100" in page
    line_1, line_2 = response.context["lines"]
    assert [(a.location.code, a.quantity, a.status) for a in line_1["allocations"]] == [("DC1", 2, "reserved")]
    assert sorted((a.location.code, a.quantity) for a in line_2["allocations"]) == [("S1", 2), ("S2", 1)]
    assert line_1["explanation"].rule == "whole_line_at_one_location"
    assert "No one location could serve every line of the order. This line was allocated in full" in page
    assert "split over the fewest locations" in page
    assert "Candidates considered when the line was sourced" in page
    assert "No: not flagged for shipping" in page  # S3, in words
    candidates = {c["location"]: c for c in line_2["explanation"].candidates}
    assert candidates["S3"]["eligible"] is False
    assert (candidates["S1"]["allocated"], candidates["S1"]["kind_label"]) == (2, "Store")
    assert '<th scope="col">Eligible</th>' in page


def test_the_detail_shows_the_merged_history_newest_first(control, placed):
    control.post(f"/orders/{placed.pk}/cancel/", {"note": "customer changed their mind"})
    response = control.get(f"/orders/{placed.pk}/")
    history = response.context["history"]

    assert [row["when"] for row in history] == sorted((row["when"] for row in history), reverse=True)
    newest = history[0]
    assert newest["subject"].startswith("Allocation")
    assert newest["changes"] == [{"field": "status", "old": "reserved", "new": "cancelled"}]
    cancelled = next(row for row in history if row["subject"] == "Order" and row["action"] == "changed")
    assert cancelled["who"].username == "control"
    assert cancelled["reason"] == "customer changed their mind (allocated → cancelled)"
    assert cancelled["changes"] == [{"field": "status", "old": "allocated", "new": "cancelled"}]
    created = {row["subject"]: row for row in history if row["action"] == "created"}
    expected = {"Order", *(f"Allocation {a.pk} ({a.sku.code} at {a.location.code})" for a in placed.allocations.all())}
    assert set(created) == expected
    assert created["Order"]["reason"] == "placed"
    assert created["Order"]["who"].username == "placer"
    assert "status: allocated → cancelled" in response.content.decode()


# --- Actions ----------------------------------------------------------------------------------


def test_cancel_records_the_note_and_the_actor(control, placed):
    response = control.post(f"/orders/{placed.pk}/cancel/", {"note": "duplicate order"}, follow=True)
    assert response.redirect_chain == [(f"/orders/{placed.pk}/", 302)]
    assert messages_of(response) == ["Order cancelled; its units are available again."]
    placed.refresh_from_db()
    assert placed.status == OrderStatus.CANCELLED
    record = placed.history.latest()
    assert (record.history_user.username, record.history_change_reason) == (
        "control", "duplicate order (allocated → cancelled)")
    assert set(placed.allocations.values_list("status", flat=True)) == {AllocationStatus.CANCELLED}


def test_cancel_needs_a_reason(control, placed):
    response = control.post(f"/orders/{placed.pk}/cancel/", {"note": "  "}, follow=True)
    assert messages_of(response) == ["Could not cancel the order: Say why the order is cancelled."]
    placed.refresh_from_db()
    assert placed.status == OrderStatus.ALLOCATED


def test_ship_ships_everything_or_one_location(control, placed):
    response = control.post(f"/orders/{placed.pk}/ship/", {"location": "S1"}, follow=True)
    assert messages_of(response) == ["Shipped."]
    placed.refresh_from_db()
    assert placed.status == OrderStatus.PARTIALLY_SHIPPED
    assert response.context["ship_from"] == ["DC1", "S2"]

    control.post(f"/orders/{placed.pk}/ship/", {"location": ""})
    placed.refresh_from_db()
    assert placed.status == OrderStatus.SHIPPED
    assert placed.history.latest().history_user.username == "control"


def test_shipping_a_cancelled_order_shows_why_not(control, placed):
    control.post(f"/orders/{placed.pk}/cancel/", {"note": "fraud"}, follow=True)
    response = control.post(f"/orders/{placed.pk}/ship/", {}, follow=True)
    assert response.status_code == 200
    assert messages_of(response) == ["Could not ship the order: The order is cancelled; it cannot be shipped."]
    assert b'class="message error"' in response.content
    placed.refresh_from_db()
    assert placed.status == OrderStatus.CANCELLED


@pytest.fixture
def pickup_order(staff_api, shop):
    stock(shop.a, shop.s1, 3)
    user = staff_api(Role.INVENTORY_CONTROL, username="placer").user
    return order_placed(caller=staff_caller(user), external_id="PU-1", lines=[("1", "A", 2)],
                        fulfillment="pickup", pickup_location="S1")


def test_store_ops_acknowledge_and_record_a_pickup_with_notes(staff_api, pickup_order):
    store = signed_in(staff_api, Role.STORE_OPS, username="sue-at-s1", locations=["S1"])
    page = store.get(f"/orders/{pickup_order.pk}/")
    assert set(page.context["actions"]) == {"acknowledge", "pickup", "cancel"}
    assert b"Acknowledgement" in page.content

    response = store.post(f"/orders/{pickup_order.pk}/acknowledge-pickup/", {"note": "on the shelf"}, follow=True)
    assert messages_of(response) == ["Pickup acknowledged."]
    pickup_order.refresh_from_db()
    assert pickup_order.pickup_acknowledged_by.username == "sue-at-s1"
    assert pickup_order.history.latest().history_change_reason == "pickup acknowledged: on the shelf"
    assert "acknowledge" not in response.context["actions"]

    store.post(f"/orders/{pickup_order.pk}/pickup/", {"note": "ID checked"})
    pickup_order.refresh_from_db()
    assert pickup_order.status == OrderStatus.PICKED_UP
    record = pickup_order.history.latest()
    assert (record.history_user.username, record.history_change_reason) == (
        "sue-at-s1", "picked up: ID checked (allocated → picked_up)")


def test_an_overdue_pickup_is_flagged(control, pickup_order):
    Order.objects.filter(pk=pickup_order.pk).update(pickup_ack_due_at=timezone.now() - timedelta(minutes=5))
    response = control.get(f"/orders/{pickup_order.pk}/")
    assert response.context["pickup_overdue"] is True
    assert b"Overdue" in response.content


def test_actions_are_posts_protected_by_csrf(staff_api, placed):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_api(Role.INVENTORY_CONTROL, username="csrf").user)
    assert client.post(f"/orders/{placed.pk}/cancel/", {"note": "no token"}).status_code == 403
    assert client.get(f"/orders/{placed.pk}/cancel/").status_code == 405
    placed.refresh_from_db()
    assert placed.status == OrderStatus.ALLOCATED

    client.get(f"/orders/{placed.pk}/")  # sets the CSRF cookie, as a browser would
    token = client.cookies["csrftoken"].value
    response = client.post(f"/orders/{placed.pk}/cancel/", {"note": "with token", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    placed.refresh_from_db()
    assert placed.status == OrderStatus.CANCELLED


def test_every_form_control_on_the_detail_is_labelled(control, pickup_order):
    page = control.get(f"/orders/{pickup_order.pk}/").content.decode()
    for control_id in ("acknowledge-note", "pickup-note", "cancel-note"):
        assert f'<label for="{control_id}">' in page
        assert f'id="{control_id}"' in page
    assert page.count('name="csrfmiddlewaretoken"') >= 3


def test_re_sourcing_from_the_order_screen_moves_the_units_and_says_who_and_why(control, placed, shop):
    stock(shop.a, shop.s1, 5)
    page = control.get(f"/orders/{placed.pk}/")
    assert page.context["actions"]["reallocate"] is True
    assert page.context["reallocate_from"] == ["DC1", "S1", "S2"]

    response = control.post(f"/orders/{placed.pk}/reallocate/", {"from_location": "DC1",
                                                                 "reason": "pallet damaged at the DC"}, follow=True)

    assert messages_of(response) == ["Re-sourced: the units are now promised from the other locations shown."]
    held = placed.allocations.filter(status=AllocationStatus.RESERVED, line__line_id="1")
    assert list(held.values_list("location__code", flat=True)) == ["S1"]
    assert placed.history.latest().history_change_reason == "re-sourced away from DC1: pallet damaged at the DC"
    assert b"Re-sourced away from DC1 by control: pallet damaged at the DC." in response.content


def test_re_sourcing_that_cannot_be_placed_is_a_message_and_changes_nothing(control, placed):
    response = control.post(f"/orders/{placed.pk}/reallocate/", {"from_location": "DC1", "reason": "dock closed"},
                            follow=True)

    (message,) = messages_of(response)
    assert message.startswith("Could not re-source the order: line '1': 2 × 'A' requested, 0 available")
    assert list(placed.allocations.filter(status=AllocationStatus.RESERVED, line__line_id="1")
                .values_list("location__code", flat=True)) == ["DC1"]
