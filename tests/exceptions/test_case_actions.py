"""Resolution actions on the case detail: each does its work through the owning service,
records who and why on the case, and stays inside the person's locations."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from backoffice.staff import staff_user_upsert
from casework import actions
from exceptions.models import Case
from exceptions.states import CaseKind
from inventory.ingest import IncomingEvent, events_ingest
from inventory.ledger import Movement, post_movements
from inventory.models import Adjustment, Bucket, CycleCount, InventoryEvent, StockLevel
from orders import services as order_services
from orders.callers import Caller
from orders.models import Allocation
from retailops.access import LocationScope
from retailops.roles import Role
from tests.exceptions.factories import CaseFactory
from tests.inventory.factories import ChannelFactory, LocationFactory, SkuFactory
from tests.mfa import force_login_verified

pytestmark = pytest.mark.django_db

EVERYWHERE = LocationScope(None)


@pytest.fixture
def stores():
    return LocationFactory(code="S1"), LocationFactory(code="S2")


@pytest.fixture
def sku(stores):
    sku = SkuFactory(code="A-1", unit_cost="10.00")
    post_movements([Movement(sku.pk, store.pk, Bucket.ON_HAND, 10, reason="receipt") for store in stores])
    return sku


def browser(role, username, locations=(), **options):
    user = staff_user_upsert(username=username, role=role, password="pw-for-tests-1", location_codes=locations)
    client = Client(**options)
    force_login_verified(client, user)
    client.user = user
    return client


@pytest.fixture
def control(stores):
    return browser(Role.INVENTORY_CONTROL, "control")


def level_case(sku, location, kind=CaseKind.NEGATIVE_ON_HAND, **extra):
    return CaseFactory(kind=kind, sku=sku, location=location, **extra)


def comments(case) -> list[str]:
    return list(case.comments.values_list("body", flat=True))


def flash(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_a_small_adjustment_applies_at_once_and_is_named_on_the_case(control, stores, sku):
    case = level_case(sku, stores[0])
    response = control.post(f"/cases/{case.pk}/adjust/", {"delta": "-2", "reason": "shrink", "note": "Shelf empty"})

    assert response.status_code == 302
    adjustment = Adjustment.objects.get()
    assert (adjustment.status, adjustment.delta, adjustment.reference) == ("applied", -2, f"case:{case.pk}")
    assert StockLevel.objects.get(sku=sku, location=stores[0]).on_hand == 8
    (body,) = comments(case)
    assert f"adjustment #{adjustment.pk}" in body and "Shelf empty" in body
    assert case.comments.get().author == control.user


def test_a_large_adjustment_waits_for_finance(control, stores, sku):
    case = level_case(sku, stores[0])
    control.post(f"/cases/{case.pk}/adjust/", {"delta": "-500", "reason": "shrink"})

    assert Adjustment.objects.get().status == "pending_approval"
    assert StockLevel.objects.get(sku=sku, location=stores[0]).on_hand == 10
    assert "pending approval" in comments(case)[0]


def test_a_refused_adjustment_is_a_message_and_changes_nothing(control, stores, sku):
    case = level_case(sku, stores[0])
    response = control.post(f"/cases/{case.pk}/adjust/", {"delta": "0", "reason": "shrink"}, follow=True)

    assert "delta must not be 0." in response.content.decode()
    assert not Adjustment.objects.exists() and comments(case) == []


def test_a_change_beyond_what_an_adjustment_holds_is_a_message_and_changes_nothing(control, stores, sku):
    case = level_case(sku, stores[0])
    response = control.post(f"/cases/{case.pk}/adjust/", {"delta": str(2**40), "reason": "shrink"}, follow=True)

    assert response.status_code == 200
    assert "delta must be within ±1,000,000,000." in response.content.decode()
    assert not Adjustment.objects.exists() and comments(case) == []


def test_a_rejected_event_is_replayed_from_its_case_once_the_sku_exists(control, stores):
    events_ingest(source="pos-1", actor=None, scope=EVERYWHERE, events=[IncomingEvent(
        event_id="E1", type="receipt", sku="LATE-1", location="S1", quantity=4,
        occurred_at=datetime(2026, 11, 20, 10, tzinfo=UTC))])
    case = Case.objects.get(kind=CaseKind.REJECTED_EVENT)
    assert "Replay event" in control.get(f"/cases/{case.pk}/").content.decode()

    response = control.post(f"/cases/{case.pk}/replay/", {"note": "SKU still missing"})
    assert InventoryEvent.objects.get().status == "rejected"
    assert "still rejected" in comments(case)[0]
    assert any("Unknown SKU" in text for text in flash(response))

    late = SkuFactory(code="LATE-1")
    control.post(f"/cases/{case.pk}/replay/", {"note": "SKU created"})

    event = InventoryEvent.objects.get()
    assert (event.status, event.sku_id) == ("applied", late.pk)
    assert StockLevel.objects.get(sku=late, location=stores[0]).on_hand == 4
    assert "applied" in comments(case)[-1] and "SKU created" in comments(case)[-1]
    assert "Replay event" not in control.get(f"/cases/{case.pk}/").content.decode()


def test_a_stuck_hold_is_released_and_its_units_are_no_longer_committed(control, stores, sku):
    channel = ChannelFactory(code="web")
    hold = order_services.reservation_create(caller=Caller(actor=None, external_system_id=None, scope=EVERYWHERE),
                                             sku_code=sku.code, quantity=3, channel_code=channel.code,
                                             location_code="S1")
    assert StockLevel.objects.get(sku=sku, location=stores[0]).committed == 3
    case = level_case(sku, stores[0], kind=CaseKind.RESERVATION_FAILURE)
    page = control.get(f"/cases/{case.pk}/")
    assert [held.pk for held in page.context["actions"].holds] == [hold.pk]

    control.post(f"/cases/{case.pk}/release/", {"reservation": hold.pk, "note": "Abandoned checkout"})

    assert Allocation.objects.get(pk=hold.pk).status == "released"
    assert StockLevel.objects.get(sku=sku, location=stores[0]).committed == 0
    assert f"Released reservation {hold.pk}" in comments(case)[0]


def test_only_a_hold_of_the_case_can_be_released(control, stores, sku):
    channel = ChannelFactory(code="web")
    elsewhere = order_services.reservation_create(
        caller=Caller(actor=None, external_system_id=None, scope=EVERYWHERE), sku_code=sku.code, quantity=1,
        channel_code=channel.code, location_code="S2")
    case = level_case(sku, stores[0], kind=CaseKind.RESERVATION_FAILURE)
    response = control.post(f"/cases/{case.pk}/release/", {"reservation": elsewhere.pk})

    assert any("not an active hold" in text for text in flash(response))
    assert Allocation.objects.get(pk=elsewhere.pk).status == "reserved"


def test_a_recount_of_the_cases_level_is_scheduled(control, stores, sku):
    case = level_case(sku, stores[0])
    control.post(f"/cases/{case.pk}/recount/", {"note": "Counts look off"})

    count = CycleCount.objects.get()
    assert count.location == stores[0]
    assert list(count.lines.values_list("sku__code", flat=True)) == [sku.code]
    assert f"case #{case.pk}" in count.reason.lower()
    assert f"recount #{count.pk}" in comments(case)[0]


def test_actions_are_offered_only_when_they_fit_the_case_and_the_person(control, stores, sku):
    case = level_case(sku, stores[0])
    offered = control.get(f"/cases/{case.pk}/").context["actions"]
    assert (offered.adjust, offered.recount, offered.replay_event, offered.holds) == (True, True, None, [])

    finance = browser(Role.FINANCE, "fin")
    assert not finance.get(f"/cases/{case.pk}/").context["actions"].any
    no_level = CaseFactory(kind=CaseKind.SYNC_FAILED)
    assert not control.get(f"/cases/{no_level.pk}/").context["actions"].any


@pytest.mark.parametrize("action, data", [
    ("adjust", {"delta": "-1", "reason": "shrink"}),
    ("release", {"reservation": "1"}),
    ("recount", {}),
    ("replay", {}),
    ("replay-all", {"note": "not my store"}),
])
def test_a_store_user_cannot_act_on_another_stores_case(stores, sku, action, data):
    case = level_case(sku, stores[1], kind=CaseKind.RESERVATION_FAILURE)
    store_user = browser(Role.STORE_OPS, "sam", ["S1"])

    assert store_user.post(f"/cases/{case.pk}/{action}/", data).status_code in (403, 404)
    assert comments(case) == []
    assert not Adjustment.objects.exists() and not CycleCount.objects.exists()


def test_a_store_user_acts_at_their_own_store(stores, sku):
    case = level_case(sku, stores[0])
    store_user = browser(Role.STORE_OPS, "sam", ["S1"])
    store_user.post(f"/cases/{case.pk}/recount/", {})
    assert CycleCount.objects.get().location == stores[0]


def test_actions_refuse_a_post_without_a_csrf_token(stores, sku):
    case = level_case(sku, stores[0])
    client = browser(Role.INVENTORY_CONTROL, "control", enforce_csrf_checks=True)
    for action in ("adjust", "replay", "replay-all", "release", "recount"):
        assert client.post(f"/cases/{case.pk}/{action}/", {"delta": "-1", "reason": "shrink"}).status_code == 403
    assert comments(case) == [] and not Adjustment.objects.exists()


def test_a_closed_case_offers_no_actions_and_refuses_them(control, stores, sku):
    case = level_case(sku, stores[0], resolved=True)
    assert not control.get(f"/cases/{case.pk}/").context["actions"].any
    response = control.post(f"/cases/{case.pk}/recount/", {})
    assert any("closed" in text for text in flash(response))
    assert not CycleCount.objects.exists()



# --- Replay all rejected events of a case ----------------------------------------------------


def rejected(*events, source="pos-1"):
    """Send events for codes nobody knows yet: (event id, type, sku, location, quantity, day)."""
    events_ingest(source=source, actor=None, scope=EVERYWHERE, events=[
        IncomingEvent(event_id=event_id, type=kind, sku=sku, location=location, quantity=quantity,
                      occurred_at=datetime(2026, 11, day, 10, tzinfo=UTC))
        for event_id, kind, sku, location, quantity, day in events])


def statuses() -> dict[str, str]:
    return dict(InventoryEvent.objects.values_list("event_id", "status"))


def test_replay_all_takes_in_every_rejected_event_of_the_case_once_the_sku_exists(control, stores):
    rejected(("E1", "receipt", "LATE-1", "S1", 5, 20), ("E2", "sale", "LATE-1", "S1", 2, 21))
    rejected(("E3", "sale", "LATE-1", "S1", 1, 22), ("OTHER", "receipt", "LATE-2", "S1", 9, 22))
    case = Case.objects.get(kind=CaseKind.REJECTED_EVENT, dedup_key__contains="LATE-1")
    assert case.occurrences == 3
    late = SkuFactory(code="LATE-1")

    outcome = actions.case_events_replay_all(case=case, actor=control.user, scope=EVERYWHERE,
                                             note="SKU LATE-1 created in the PIM")

    assert outcome.taken_in == {"applied": ["pos-1:E1", "pos-1:E2", "pos-1:E3"]}  # oldest first
    assert outcome.complete and outcome.summary() == "Replayed 3 rejected events: 3 applied."
    assert statuses() == {"E1": "applied", "E2": "applied", "E3": "applied", "OTHER": "rejected"}
    assert StockLevel.objects.get(sku=late, location=stores[0]).on_hand == 2
    comment = case.comments.get()
    assert comment.author == control.user
    assert comment.body == ("Replayed 3 rejected events: 3 applied.\n"
                            "Applied: pos-1:E1, pos-1:E2, pos-1:E3\n"
                            "Why: SKU LATE-1 created in the PIM")


def test_replay_all_says_how_many_are_still_rejected_and_why_and_runs_again(control, stores):
    rejected(("E1", "receipt", "LATE-1", "NEW-STORE", 5, 20), ("E2", "sale", "LATE-1", "NEW-STORE", 1, 21))
    case = Case.objects.get(kind=CaseKind.REJECTED_EVENT)
    page = control.get(f"/cases/{case.pk}/").content.decode()
    assert "Replay all 2 rejected events of this case" in page and 'for="replay-all-note"' in page
    SkuFactory(code="LATE-1")

    response = control.post(f"/cases/{case.pk}/replay-all/", {"note": "SKU created"}, follow=True)
    assert response.redirect_chain == [(f"/cases/{case.pk}/", 302)]
    assert '<li class="message warning">Replayed 2 rejected events: 2 still rejected: Unknown location ' \
           '&#x27;NEW-STORE&#x27; (2).</li>' in response.content.decode()
    assert statuses() == {"E1": "rejected", "E2": "rejected"}
    assert "Still rejected (Unknown location 'NEW-STORE'): pos-1:E1, pos-1:E2" in comments(case)[0]

    # Rejected for another reason now, still the case's events: fixing that too takes them in.
    store = LocationFactory(code="NEW-STORE")
    response = control.post(f"/cases/{case.pk}/replay-all/", {"note": "Store opened in master data"})
    assert flash(response) == ["Replayed 2 rejected events: 2 applied."]
    assert statuses() == {"E1": "applied", "E2": "applied"}
    assert StockLevel.objects.get(sku__code="LATE-1", location=store).on_hand == 4
    assert [entry.who for entry in control.get(f"/cases/{case.pk}/").context["activity"]
            if entry.is_comment] == ["control", "control"]
    assert "Replay all" not in control.get(f"/cases/{case.pk}/").content.decode()


def test_replay_all_counts_refusals_and_leaves_the_rest_for_the_next_run(control, stores, monkeypatch):
    rejected(*[(f"E{n}", "receipt", "LATE-1", "S1", 1, 20 + n) for n in range(3)])
    case = Case.objects.get(kind=CaseKind.REJECTED_EVENT)
    SkuFactory(code="LATE-1")
    monkeypatch.setattr(actions, "REPLAY_ALL_BATCH", 2)

    outcome = actions.case_events_replay_all(case=case, actor=control.user, scope=LocationScope(frozenset()),
                                             note="Trying from elsewhere")
    assert outcome.refused == {"Location 'S1' is outside your locations": ["pos-1:E0", "pos-1:E1"]}
    assert outcome.left == 1 and not outcome.complete
    assert outcome.summary().endswith("1 more wait for the next run.")
    assert set(statuses().values()) == {"rejected"}  # a refusal leaves the event as it was

    outcome = actions.case_events_replay_all(case=case, actor=control.user, scope=EVERYWHERE, note="Batch one")
    assert (outcome.taken_in, outcome.left) == ({"applied": ["pos-1:E0", "pos-1:E1"]}, 1)


def test_replay_all_needs_a_reason_and_rejected_events(control, stores):
    rejected(("E1", "receipt", "LATE-1", "S1", 5, 20))
    case = Case.objects.get(kind=CaseKind.REJECTED_EVENT)
    SkuFactory(code="LATE-1")

    response = control.post(f"/cases/{case.pk}/replay-all/", {"note": "  "}, follow=True)
    assert flash(response) == ["Say why the events can be replayed now, e.g. which master data was fixed."]
    assert statuses() == {"E1": "rejected"} and comments(case) == []

    control.post(f"/cases/{case.pk}/replay-all/", {"note": "SKU created"}, follow=True)
    response = control.post(f"/cases/{case.pk}/replay-all/", {"note": "Again"})
    assert flash(response)[-1] == f"Case #{case.pk} has no rejected events left to replay."
    assert len(comments(case)) == 1


def test_replay_all_is_offered_to_those_who_may_replay_and_only_for_rejected_events(control, stores, sku):
    rejected(("E1", "receipt", "LATE-1", "S1", 5, 20), ("E2", "receipt", "LATE-1", "S1", 5, 21))
    case = Case.objects.get(kind=CaseKind.REJECTED_EVENT)
    offered = control.get(f"/cases/{case.pk}/").context["actions"]
    assert (offered.rejected_events, offered.replay_all, offered.replay_event.status) == (2, True, "rejected")

    store_user = browser(Role.STORE_OPS, "sam", ["S1"])  # sees the case (their store), may not replay
    assert not store_user.get(f"/cases/{case.pk}/").context["actions"].replay_all
    assert store_user.post(f"/cases/{case.pk}/replay-all/", {"note": "mine"}).status_code == 403
    assert set(statuses().values()) == {"rejected"}

    negative = level_case(sku, stores[0])
    assert control.get(f"/cases/{negative.pk}/").context["actions"].rejected_events == 0


def test_a_case_about_a_ship_order_offers_re_sourcing_and_records_who_and_why(control, stores, sku):
    ChannelFactory(code="web")
    caller = Caller(actor=control.user, external_system_id=None, scope=EVERYWHERE)
    order, _created = order_services.order_create(
        caller=caller, external_id="PICK-1", channel_code="web", fulfillment="ship", region="",
        lines=[order_services.LineInput(line_id="1", sku="A-1", quantity=2)])
    first = Allocation.objects.get(order=order).location
    other = next(store for store in stores if store != first)
    case = CaseFactory(kind=CaseKind.ANOMALY, location=first, context={"order": order.pk})

    page = control.get(f"/cases/{case.pk}/")
    assert page.context["actions"].reallocate_order == order
    assert page.context["actions"].reallocate_from == [first.code]

    response = control.post(f"/cases/{case.pk}/reallocate/", {"from_location": first.code,
                                                               "reason": "units not on the shelf"})

    assert response.status_code == 302
    assert flash(response) == [f"Order PICK-1 re-sourced away from {first.code}."]
    held = Allocation.objects.get(order=order, status="reserved")
    assert held.location == other
    assert comments(case) == [f"Re-sourced order PICK-1 away from {first.code}.\nWhy: units not on the shelf"]
    order.refresh_from_db()
    assert order.history.latest().history_change_reason == (
        f"re-sourced away from {first.code}: case #{case.pk}: units not on the shelf")


def test_re_sourcing_from_a_case_needs_a_reason(control, stores, sku):
    ChannelFactory(code="web")
    caller = Caller(actor=control.user, external_system_id=None, scope=EVERYWHERE)
    order, _created = order_services.order_create(
        caller=caller, external_id="PICK-2", channel_code="web", fulfillment="ship", region="",
        lines=[order_services.LineInput(line_id="1", sku="A-1", quantity=2)])
    first = Allocation.objects.get(order=order).location
    case = CaseFactory(kind=CaseKind.ANOMALY, location=first, context={"order": order.pk})

    response = control.post(f"/cases/{case.pk}/reallocate/", {"from_location": first.code, "reason": " "})

    assert flash(response) == ["Say why the order is re-sourced."]
    assert Allocation.objects.get(order=order).location == first
    assert comments(case) == []


def test_a_pickup_overdue_case_says_why_it_is_not_re_sourced_and_where_units_could_come_from(control, stores, sku):
    ChannelFactory(code="web")
    dc = LocationFactory(code="DC9", kind="dc", pickup=False)
    post_movements([Movement(sku.pk, dc.pk, Bucket.ON_HAND, 40, reason="receipt")])
    caller = Caller(actor=control.user, external_system_id=None, scope=EVERYWHERE)
    order, _created = order_services.order_create(
        caller=caller, external_id="COLLECT-1", channel_code="web", fulfillment="pickup",
        pickup_location_code="S1", lines=[order_services.LineInput(line_id="1", sku="A-1", quantity=3)])
    order_services.pickups_overdue_detect(now=timezone.now() + timedelta(days=2))
    case = Case.objects.get(kind=CaseKind.PICKUP_OVERDUE)

    page = control.get(f"/cases/{case.pk}/")

    offered = page.context["actions"]
    assert offered.reallocate_order is None and offered.pickup_order == order
    assert offered.transfer_sources == [actions.TransferSource(sku="A-1", quantity=3,
                                                               locations=[("DC9", 40), ("S2", 10)])]
    html = page.content.decode()
    assert "is not re-sourced" in html and "the customer chose to collect it at S1".lower() in html.lower()
    assert "DC9 (40 available)" in html
    assert f'action="/cases/{case.pk}/reallocate/"' not in html

    refused = control.post(f"/cases/{case.pk}/reallocate/", {"from_location": "S1", "reason": "store closed"})
    assert flash(refused) == ["A pickup order is collected at S1, the customer's choice, so it is not re-sourced: "
                              "transfer the units to S1, or tell the customer and cancel the order."]
    assert Allocation.objects.get(order=order).location == stores[0]
    assert comments(case) == []


def test_a_pickup_order_no_longer_open_shows_no_pickup_advice(control, stores, sku):
    ChannelFactory(code="web")
    caller = Caller(actor=control.user, external_system_id=None, scope=EVERYWHERE)
    order, _created = order_services.order_create(
        caller=caller, external_id="COLLECT-2", channel_code="web", fulfillment="pickup",
        pickup_location_code="S1", lines=[order_services.LineInput(line_id="1", sku="A-1", quantity=3)])
    order_services.order_cancel(order=order, caller=caller, reason="customer called")
    case = CaseFactory(kind=CaseKind.PICKUP_OVERDUE, location=stores[0], context={"order": order.pk})

    assert control.get(f"/cases/{case.pk}/").context["actions"].pickup_order is None
