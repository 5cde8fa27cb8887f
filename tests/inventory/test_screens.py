"""Inventory staff screens: the approval inbox, the adjustment request form, cycle counts
and transfers, as a signed-in person uses them."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from backoffice.staff import staff_user_upsert
from exceptions.models import Case
from exceptions.states import CaseKind
from inventory import counts
from inventory.adjustments import adjustment_request
from inventory.ledger import Movement, post_movements
from inventory.models import Adjustment, Bucket, CycleCount, StockLevel
from inventory.states import AdjustmentStatus, CycleCountStatus, TransferStatus
from inventory.transfers import LineInput, transfer_request
from retailops.access import LocationScope
from tests.inventory.factories import LocationFactory, SkuFactory
from tests.mfa import force_login_verified

pytestmark = pytest.mark.django_db

EVERYWHERE = LocationScope(None)
ON_HAND = 7391  # distinctive: it must never appear on a blind count page


@pytest.fixture
def place(db):
    class Place:
        store = LocationFactory(code="SCR1", name="Screen Store")
        dc = LocationFactory(code="SCR-DC", dc=True)
        dear = SkuFactory(code="SCR-DEAR", name="Espresso machine", unit_cost=Decimal("250.00"))
        cheap = SkuFactory(code="SCR-CHEAP", name="Coffee filter", unit_cost=Decimal("1.00"))

    for sku in (Place.dear, Place.cheap):
        post_movements([Movement(sku.pk, Place.store.pk, Bucket.ON_HAND, ON_HAND, reason="receipt"),
                        Movement(sku.pk, Place.dc.pk, Bucket.ON_HAND, 100, reason="receipt")])
    return Place


def signed_in(username, role, locations=(), **client_options):
    user = staff_user_upsert(username=username, role=role, password="pw-for-tests-1", location_codes=locations)
    client = Client(**client_options)
    force_login_verified(client, user)
    client.user = user
    return client


@pytest.fixture
def finance(place):
    return signed_in("finance-screen", "finance")


@pytest.fixture
def control(place):
    return signed_in("control-screen", "inventory_control")


@pytest.fixture
def clerk(place):
    return signed_in("clerk-screen", "store_ops", locations=[place.store.code])


def pending(place, requester, delta=-10, sku=None):
    return adjustment_request(sku_code=(sku or place.dear).code, location_code=place.store.code, delta=delta,
                              reason="shrink", root_cause="shrink", note="missing from the shelf", actor=requester,
                              scope=EVERYWHERE)


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


def on_hand(sku, location):
    return StockLevel.objects.get(sku=sku, location=location).on_hand


# --- The approval inbox ---------------------------------------------------------------------


def test_finance_lands_on_the_inbox(finance):
    assert finance.get("/").url == "/inventory/approvals/"


def test_inbox_shows_pending_adjustments_by_value(place, finance, control):
    small = pending(place, control.user, delta=-5)
    big = pending(place, control.user, delta=-40)
    response = finance.get("/inventory/approvals/")
    assert response.status_code == 200
    assert [row["adjustment"].pk for row in response.context["rows"]] == [big.pk, small.pk]
    html = response.content.decode()
    for shown in ("10000.00", "control-screen", "shrink", "missing from the shelf", "SCR-DEAR", "Approval 0 of 1",
                  "Recent movements"):
        assert shown in html
    assert len(response.context["rows"][0]["movements"]) == 1  # the receipt at the level


def test_approving_on_the_screen_applies_it(place, finance, control):
    adjustment = pending(place, control.user)
    response = finance.post(f"/inventory/approvals/{adjustment.pk}/approve/", {"note": "checked"}, follow=True)
    assert f"Adjustment {adjustment.pk} approved." in messages_of(response)
    adjustment.refresh_from_db()
    assert adjustment.status == AdjustmentStatus.APPLIED
    assert on_hand(place.dear, place.store) == ON_HAND - 10
    assert "checked" in response.content.decode()  # in the recent decisions


def test_rejecting_needs_a_note(place, finance, control):
    adjustment = pending(place, control.user)
    response = finance.post(f"/inventory/approvals/{adjustment.pk}/reject/", {"note": ""}, follow=True)
    assert any("note" in message for message in messages_of(response))
    adjustment.refresh_from_db()
    assert adjustment.status == AdjustmentStatus.PENDING_APPROVAL
    finance.post(f"/inventory/approvals/{adjustment.pk}/reject/", {"note": "count it first"})
    adjustment.refresh_from_db()
    assert adjustment.status == AdjustmentStatus.REJECTED


def test_self_approval_on_the_screen_is_refused_with_a_message(place, finance):
    own = pending(place, finance.user)
    page = finance.get("/inventory/approvals/").content.decode()
    assert "You requested this adjustment" in page
    response = finance.post(f"/inventory/approvals/{own.pk}/approve/", {"note": ""}, follow=True)
    assert any("Nobody approves or rejects their own adjustment" in message for message in messages_of(response))
    own.refresh_from_db()
    assert own.status == AdjustmentStatus.PENDING_APPROVAL
    assert not own.decisions.exists()
    assert on_hand(place.dear, place.store) == ON_HAND


@pytest.mark.parametrize("role", ["store_ops", "inventory_control", "ops_admin", "integration_support"])
def test_only_finance_opens_the_inbox_or_decides(place, control, role):
    adjustment = pending(place, control.user)
    someone = signed_in(f"not-finance-{role}", role, locations=[place.store.code])
    assert someone.get("/inventory/approvals/").status_code == 403
    assert someone.post(f"/inventory/approvals/{adjustment.pk}/approve/", {}).status_code == 403
    assert someone.post(f"/inventory/approvals/{adjustment.pk}/reject/", {"note": "no"}).status_code == 403
    adjustment.refresh_from_db()
    assert adjustment.status == AdjustmentStatus.PENDING_APPROVAL


def test_a_post_without_a_csrf_token_is_refused(place, control):
    adjustment = pending(place, control.user)
    strict = signed_in("finance-strict", "finance", enforce_csrf_checks=True)
    assert strict.post(f"/inventory/approvals/{adjustment.pk}/approve/", {"note": ""}).status_code == 403
    adjustment.refresh_from_db()
    assert adjustment.status == AdjustmentStatus.PENDING_APPROVAL
    # The page's own form carries the token.
    page = strict.get("/inventory/approvals/")
    assert 'name="csrfmiddlewaretoken"' in page.content.decode()
    token = page.context["csrf_token"]
    strict.post(f"/inventory/approvals/{adjustment.pk}/approve/", {"note": "", "csrfmiddlewaretoken": str(token)})
    adjustment.refresh_from_db()
    assert adjustment.status == AdjustmentStatus.APPLIED


def test_inbox_query_count_does_not_grow_with_adjustments(place, finance, control):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert finance.get("/inventory/approvals/").status_code == 200
        return len(captured)

    pending(place, control.user, delta=-5)
    pending(place, control.user, delta=-6, sku=place.dear)
    few = queries()
    for delta in (-7, -8, -9):
        pending(place, control.user, delta=delta)
    other = staff_user_upsert(username="second-finance", role="finance", password="pw-for-tests-1")
    from inventory.adjustments import adjustment_approve
    from inventory.models import ApprovalPolicy

    ApprovalPolicy.objects.create(threshold=Decimal("1000.00"), second_threshold=Decimal("1500.00"))
    two_approvals = pending(place, control.user, delta=-20)
    adjustment_approve(adjustment=two_approvals, approver=other)
    assert queries() == few


# --- Requesting an adjustment ------------------------------------------------------------------


def test_request_form_prefills_the_current_on_hand(place, clerk):
    response = clerk.get("/inventory/adjustments/new/", {"sku": place.cheap.code, "location": place.store.code})
    assert response.status_code == 200
    assert response.context["form"].initial["expected_on_hand"] == ON_HAND
    assert f"Current on hand: <strong>{ON_HAND}</strong>" in response.content.decode()


def test_request_form_applies_a_small_adjustment(place, clerk):
    response = clerk.post("/inventory/adjustments/new/", {
        "sku": place.cheap.code, "location": place.store.code, "delta": "-3", "reason": "damaged",
        "expected_on_hand": str(ON_HAND), "root_cause": "damage", "note": "dropped"}, follow=True)
    assert any("applied" in message for message in messages_of(response))
    assert on_hand(place.cheap, place.store) == ON_HAND - 3


def test_request_form_shows_errors_next_to_the_fields(place, clerk):
    base = {"sku": place.cheap.code, "location": place.store.code, "delta": "-3", "reason": "damaged"}
    zero = clerk.post("/inventory/adjustments/new/", {**base, "delta": "0"})
    assert zero.status_code == 400
    assert zero.context["form"].errors["delta"] == ["The change must not be 0."]
    unknown = clerk.post("/inventory/adjustments/new/", {**base, "sku": "NO-SUCH"})
    assert "Unknown SKU 'NO-SUCH'." in unknown.context["form"].errors["sku"]
    no_reason = clerk.post("/inventory/adjustments/new/", {**base, "reason": "vibes"})
    assert "reason" in no_reason.context["form"].errors
    stale = clerk.post("/inventory/adjustments/new/", {**base, "expected_on_hand": "5"})
    assert f"is {ON_HAND}, not 5" in " ".join(stale.context["form"].errors["expected_on_hand"])
    assert 'role="alert"' in stale.content.decode()
    elsewhere = clerk.post("/inventory/adjustments/new/", {**base, "location": place.dc.code})
    assert "location" in elsewhere.context["form"].errors  # not a choice for a store user
    assert on_hand(place.cheap, place.store) == ON_HAND
    assert not Adjustment.objects.exists()


# --- Cycle counts --------------------------------------------------------------------------------


def test_schedule_a_count_on_the_screen(place, clerk):
    response = clerk.post("/inventory/counts/schedule/", {
        "location": place.store.code, "selection": "explicit", "skus": "SCR-DEAR, SCR-CHEAP", "reason": "weekly"},
        follow=True)
    count = CycleCount.objects.get()
    assert response.redirect_chain[-1][0] == f"/inventory/counts/{count.pk}/"
    assert count.lines.count() == 2
    errors = clerk.post("/inventory/counts/schedule/", {"location": place.store.code, "selection": "explicit",
                                                        "skus": "NOPE"})
    assert errors.status_code == 400
    assert "Unknown SKU" in " ".join(errors.context["form"].errors["skus"])


def test_the_blind_count_page_never_shows_the_system_quantity(place, control, clerk):
    count = counts.count_schedule(location_code=place.store.code, selection="explicit",
                                  sku_codes=[place.dear.code, place.cheap.code], actor=control.user, scope=EVERYWHERE)
    for url in (f"/inventory/counts/{count.pk}/enter/", f"/inventory/counts/{count.pk}/", "/inventory/counts/"):
        html = clerk.get(url).content.decode()
        assert str(ON_HAND) not in html, url
    entry = clerk.get(f"/inventory/counts/{count.pk}/enter/").content.decode()
    assert "SCR-DEAR" in entry and "Espresso machine" in entry
    for line in count.lines.all():
        assert f'for="id_line_{line.pk}"' in entry


def test_count_entry_submits_and_ops_review_it(place, control, clerk):
    count = counts.count_schedule(location_code=place.store.code, selection="explicit",
                                  sku_codes=[place.dear.code, place.cheap.code], actor=control.user, scope=EVERYWHERE)
    lines = {line.sku.code: line for line in count.lines.select_related("sku")}
    incomplete = clerk.post(f"/inventory/counts/{count.pk}/enter/", {f"line_{lines['SCR-DEAR'].pk}": "1"})
    assert incomplete.status_code == 400
    assert "Enter the units you counted" in incomplete.content.decode()
    response = clerk.post(f"/inventory/counts/{count.pk}/enter/", {
        f"line_{lines['SCR-DEAR'].pk}": str(ON_HAND - 10), f"line_{lines['SCR-CHEAP'].pk}": str(ON_HAND - 2)},
        follow=True)
    assert any("submitted" in message for message in messages_of(response))
    count.refresh_from_db()
    assert count.status == CycleCountStatus.SUBMITTED
    assert on_hand(place.cheap, place.store) == ON_HAND - 2

    detail = control.get(f"/inventory/counts/{count.pk}/").content.decode()
    assert "Pending Approval" in detail and "Applied" in detail and "-10" in detail
    control.post(f"/inventory/counts/{count.pk}/recount/", {"note": "the espresso machines again"})
    count.refresh_from_db()
    assert (count.status, count.round) == (CycleCountStatus.RECOUNT_REQUESTED, 2)
    assert str(ON_HAND) not in clerk.get(f"/inventory/counts/{count.pk}/enter/").content.decode()
    clerk.post(f"/inventory/counts/{count.pk}/enter/", {
        f"line_{lines['SCR-DEAR'].pk}": str(ON_HAND), f"line_{lines['SCR-CHEAP'].pk}": str(ON_HAND - 2)})
    response = control.post(f"/inventory/counts/{count.pk}/accept/", {"note": ""}, follow=True)
    assert f"Count {count.pk} accepted." in messages_of(response)


def test_a_submitted_count_cannot_be_cancelled_on_the_screen(place, control, clerk):
    count = counts.count_schedule(location_code=place.store.code, selection="explicit", sku_codes=[place.cheap.code],
                                  actor=control.user, scope=EVERYWHERE)
    counts.count_submit(count=count, actor=clerk.user, scope=EVERYWHERE,
                        lines=[counts.CountedLine(place.cheap.code, ON_HAND)])
    response = control.post(f"/inventory/counts/{count.pk}/cancel/", {"note": ""}, follow=True)
    assert any("cannot become cancelled" in message for message in messages_of(response))
    count.refresh_from_db()
    assert count.status == CycleCountStatus.SUBMITTED


# --- Transfers -----------------------------------------------------------------------------------


def test_transfer_ship_and_receive_on_the_screen(place, control, clerk):
    transfer = transfer_request(from_code=place.dc.code, to_code=place.store.code,
                                lines=[LineInput(place.dear.code, 5), LineInput(place.cheap.code, 3)],
                                actor=control.user, scope=EVERYWHERE, reference="REPLEN-7")
    listed = clerk.get("/inventory/transfers/", {"status": "requested"})
    assert [row.pk for row in listed.context["page"].object_list] == [transfer.pk]
    assert clerk.get("/inventory/transfers/", {"status": "shipped"}).context["page"].paginator.count == 0

    assert "Ship transfer" not in clerk.get(f"/inventory/transfers/{transfer.pk}/").content.decode()
    refused = clerk.post(f"/inventory/transfers/{transfer.pk}/ship/", {"note": ""}, follow=True)
    assert any("outside" in message for message in messages_of(refused))  # the store is not the source

    shipped = control.post(f"/inventory/transfers/{transfer.pk}/ship/", {"note": "on the truck"}, follow=True)
    assert any("shipped" in message for message in messages_of(shipped))
    assert on_hand(place.dear, place.dc) == 95
    assert StockLevel.objects.get(sku=place.dear, location=place.store).incoming == 5

    detail = clerk.get(f"/inventory/transfers/{transfer.pk}/")
    lines = {line.sku.code: line for line in detail.context["lines"]}
    assert "Receive transfer" in detail.content.decode()
    received = clerk.post(f"/inventory/transfers/{transfer.pk}/receive/", {
        f"line_{lines['SCR-DEAR'].pk}": "4", f"line_{lines['SCR-CHEAP'].pk}": "3", "note": "one missing"},
        follow=True)
    assert any("transfer variance case" in message for message in messages_of(received))
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.RECEIVED
    assert on_hand(place.dear, place.store) == ON_HAND + 4
    assert Case.objects.filter(kind=CaseKind.TRANSFER_VARIANCE).count() == 1
    assert "one missing" in received.content.decode()  # the history
