"""Who sees which returns (partner system, token location scope, store ops), the till
return policy per location, and two inspections of the same units racing."""

import threading

import pytest
from django.db import connection
from django.utils import timezone

from inventory.models import Location, StockLevel
from retailops.access import LocationScope
from returns import services
from returns.errors import ExceedsExpected
from returns.models import ReturnAuthorization
from tests.returns.conftest import URL, act, assert_ledger_clean, authorize

pytestmark = pytest.mark.django_db


def test_a_partner_sees_and_acts_only_on_its_own_systems_returns(partner_api, place):
    shop = partner_api("shop", scopes=["returns"], kind="web")
    other = partner_api("market", scopes=["returns"])
    created = authorize(shop)
    assert ReturnAuthorization.objects.get().source_system == "shop"
    assert other.get(f"{URL}/{created['id']}").status_code == 404
    assert act(other, created["id"], "receive", {"lines": [{"sku": "A", "quantity": 1}]}).status_code == 404
    assert other.get(URL).json()["results"] == []
    assert shop.get(f"{URL}/{created['id']}").status_code == 200
    # The same RA number from another system is another return.
    assert authorize(other)["id"] != created["id"]


def test_a_partner_needs_the_returns_scope(partner_api, place):
    assert partner_api("shop", scopes=["orders"]).get(URL).status_code == 403


def test_a_token_location_scope_limits_returns(partner_api, place):
    wms = partner_api("wms", scopes=["returns"], locations=["DC1"], kind="wms")
    response = wms.post(URL, {"external_id": "RA-S1", "location": "S1", "lines": [{"sku": "A", "quantity": 1}]},
                        format="json")
    assert response.status_code == 403 and response.json()["code"] == "location_out_of_scope"
    assert authorize(wms, location="DC1")["location"] == "DC1"


def test_store_ops_see_and_act_only_at_their_stores(staff_api, control, place):
    clerk = staff_api("store_ops", locations=["S1"])
    mine = authorize(control, external_id="RA-S1", location="S1")
    theirs = authorize(control, external_id="RA-S2", location="S2")
    assert [row["external_id"] for row in clerk.get(URL).json()["results"]] == ["RA-S1"]
    assert clerk.get(f"{URL}/{theirs['id']}").status_code == 404
    assert act(clerk, theirs["id"], "receive", {"lines": [{"sku": "A", "quantity": 1}]}).status_code == 404
    assert act(clerk, mine["id"], "receive", {"lines": [{"sku": "A", "quantity": 1}]}).status_code == 200


def test_finance_reads_returns_but_does_not_receive_them(finance, control, place):
    created = authorize(control)
    assert finance.get(f"{URL}/{created['id']}").status_code == 200
    assert act(finance, created["id"], "receive", {"lines": [{"sku": "A", "quantity": 1}]}).status_code == 403


# --- The till return policy ---------------------------------------------------------------


def till_return(client, location: str, event_id: str):
    response = client.post("/api/v1/inventory/events", {"events": [{
        "event_id": event_id, "type": "return", "sku": "A", "location": location, "quantity": 2,
        "occurred_at": timezone.now().isoformat()}]}, format="json")
    assert response.json()["summary"]["applied"] == 1, response.json()
    return StockLevel.objects.get(sku__code="A", location__code=location)


def test_a_store_till_return_is_restocked_at_once_by_default(partner_api, place):
    stock = till_return(partner_api("pos", kind="pos"), "S1", "r-1")
    assert (stock.on_hand, stock.quality_control, stock.available) == (2, 0, 2)


def test_a_dc_till_return_goes_into_inspection_by_default(partner_api, place):
    stock = till_return(partner_api("pos", kind="pos"), "DC1", "r-1")
    assert (stock.on_hand, stock.quality_control, stock.available) == (52, 2, 50)
    assert_ledger_clean()


def test_the_policy_is_set_per_location(partner_api, place):
    Location.objects.filter(code="S1").update(return_policy=Location.ReturnPolicy.INSPECT)
    Location.objects.filter(code="DC1").update(return_policy=Location.ReturnPolicy.RESTOCK)
    pos = partner_api("pos", kind="pos")
    store = till_return(pos, "S1", "r-1")
    assert (store.on_hand, store.quality_control) == (2, 2)
    dc = till_return(pos, "DC1", "r-2")
    assert (dc.on_hand, dc.quality_control) == (52, 0)
    assert_ledger_clean()


# --- Two inspections of the same units at once -----------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_inspections_of_the_same_units_at_once_exactly_one_wins(place):
    scope = LocationScope(None)
    authorization, _new = services.return_authorize(external_id="RA-RACE", location_code="S1",
                                                    lines=[services.LineInput("A", 3)], actor=None, scope=scope)
    services.return_receive(authorization=authorization, lines=[services.LineInput("A", 3)], actor=None,
                            scope=scope)
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def inspect(disposition: str) -> None:
        try:
            start.wait()
            services.return_inspect(authorization=authorization, actor=None, scope=scope,
                                    lines=[services.InspectionInput("A", 2, disposition)])
            outcomes.append(disposition)
        except ExceedsExpected:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=inspect, args=(disposition,)) for disposition in ("restock", "damaged")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes).count("refused") == 1 and len(outcomes) == 2
    [line] = authorization.lines.all()
    # Two of the three units were inspected, once: the loser found only one waiting.
    assert line.restocked + line.damaged == 2 and line.received == 3
    stock = StockLevel.objects.get(sku=place.a, location=place.store)
    assert stock.quality_control == 1 and stock.on_hand == 3
    assert_ledger_clean()
