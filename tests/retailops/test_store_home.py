"""Store operations land on their stores' work: the cases at their stores beside the
pickups waiting at their counters (overdue acknowledgements first), and nothing of
another store's."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from backoffice.staff import staff_user_upsert
from exceptions.states import CaseKind, CaseStatus, Queue
from retailops.roles import Role
from tests.exceptions.factories import CaseFactory
from tests.inventory.factories import LocationFactory
from tests.mfa import force_login_verified
from tests.orders.factories import AllocationFactory, OrderFactory, OrderLineFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def stores():
    return LocationFactory(code="S1"), LocationFactory(code="S2")


def signed_in(role, username, locations=()):
    client = Client()
    force_login_verified(client, staff_user_upsert(username=username, role=role, password="pw-for-tests-1",
                                         location_codes=locations))
    return client


def pickup(store, external_id, *, due_in=timedelta(hours=2), acknowledged=False, units=1, **extra):
    order = OrderFactory(pickup=True, pickup_location=store, external_id=external_id,
                         pickup_ack_due_at=timezone.now() + due_in,
                         pickup_acknowledged_at=timezone.now() if acknowledged else None, **extra)
    OrderLineFactory(order=order, quantity=units)
    return order


def shown_pickups(response) -> list[str]:
    return [order.external_id for order in response.context["pickups"]]


def test_store_ops_land_on_their_stores_cases_and_pickups(stores):
    s1, s2 = stores
    CaseFactory(location=s1, title="Negative at my store")
    CaseFactory(location=s1, kind=CaseKind.PICKUP_OVERDUE, queue=Queue.STORE_OPS, title="Late pickup at my store")
    CaseFactory(location=s2, title="Negative at another store")
    CaseFactory(location=s1, status=CaseStatus.RESOLVED, title="Closed at my store")
    pickup(s1, "DUE-LATER", due_in=timedelta(hours=3), units=4)
    pickup(s1, "OVERDUE-LONG", due_in=-timedelta(hours=2))
    pickup(s1, "OVERDUE-JUST", due_in=-timedelta(minutes=5))
    pickup(s1, "WAITING-FOR-CUSTOMER", acknowledged=True, due_in=-timedelta(hours=5))
    pickup(s2, "AT-ANOTHER-STORE", due_in=-timedelta(hours=9))
    pickup(s1, "ALREADY-COLLECTED", status="picked_up")
    OrderFactory(external_id="SHIP-ORDER", pickup_location=None)

    response = signed_in(Role.STORE_OPS, "sam", ["S1"]).get("/")

    assert response.status_code == 200
    assert "home_store_ops.html" in {template.name for template in response.templates}
    page = response.content.decode()
    assert "Negative at my store" in page and "Late pickup at my store" in page
    assert "another store" not in page and "Closed at my store" not in page
    assert "Pickup overdue" in page  # the kind's label, not its code
    assert shown_pickups(response) == ["OVERDUE-LONG", "OVERDUE-JUST", "DUE-LATER", "WAITING-FOR-CUSTOMER"]
    assert [order.ack_overdue for order in response.context["pickups"]] == [True, True, False, False]
    counts = response.context["pickup_counts"]
    assert (counts.to_acknowledge, counts.overdue, counts.to_hand_over) == (3, 2, 1)
    overdue = response.context["pickups"][0]
    assert f'href="/orders/{overdue.pk}/"' in page
    assert "overdue by 2h" in page and "to hand over" in page
    assert response.context["case_summary"].total == 2


def test_a_store_sees_the_pickups_at_its_own_counter_only(stores):
    """An order allocated at S1 but collected at S2 is S2's counter's work."""
    s1, s2 = stores
    elsewhere = pickup(s2, "COLLECTED-AT-S2")
    AllocationFactory(line=elsewhere.lines.get(), location=s1)

    home = signed_in(Role.STORE_OPS, "sam", ["S1"]).get("/")
    assert shown_pickups(home) == []
    assert "No pickups waiting at your stores." in home.content.decode()
    assert shown_pickups(signed_in(Role.STORE_OPS, "kim", ["S2"]).get("/")) == ["COLLECTED-AT-S2"]
    both = signed_in(Role.STORE_OPS, "lee", ["S1", "S2"]).get("/")
    assert shown_pickups(both) == ["COLLECTED-AT-S2"]
    assert both.context["stores"] == ["S1", "S2"]


def test_a_store_user_without_a_store_sees_nothing(stores):
    CaseFactory(location=stores[0])
    pickup(stores[0], "SOMEWHERE")
    response = signed_in(Role.STORE_OPS, "new-hire").get("/")
    assert response.context["case_rows"] == [] and shown_pickups(response) == []
    assert "No store is assigned to your account yet" in response.content.decode()


def test_other_roles_still_land_where_they_work():
    assert signed_in(Role.INVENTORY_CONTROL, "ic").get("/")["Location"] == "/cases/"
    assert signed_in(Role.FINANCE, "fin").get("/")["Location"] == "/inventory/approvals/"
    assert signed_in(Role.INTEGRATION_SUPPORT, "int").get("/")["Location"] == "/integrations/"


def test_the_store_home_costs_the_same_queries_for_any_number_of_rows(stores, django_assert_num_queries):
    client = signed_in(Role.STORE_OPS, "sam", ["S1"])
    CaseFactory(location=stores[0])
    pickup(stores[0], "FIRST")
    client.get("/")
    # session, user, the user's role (home, navigation), permissions (user + group),
    # location scope, the store codes, the cases, the case counts, the pickups, their counts
    with django_assert_num_queries(12):
        client.get("/")
    CaseFactory.create_batch(30, location=stores[0])
    for number in range(40):
        pickup(stores[0], f"MORE-{number}", units=2)
    with django_assert_num_queries(12):
        response = client.get("/")
    assert len(response.context["case_rows"]) == 10 and len(response.context["pickups"]) == 25
    assert "Showing the first 25" in response.content.decode()
