"""Location confidence: robust z-scores against the estate, combined into a score whose
factors are kept and shown; it closes the ship-from-store gate and raises the rank of
cases at a distrusted location."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse

from backoffice.staff import staff_user_upsert
from exceptions.models import Case
from exceptions.services import CaseReport, raise_case
from exceptions.states import CaseKind
from inventory import counts
from inventory.confidence import scoring
from inventory.confidence.services import locations_score
from inventory.models import CycleCount, LevelConfidence, Location, LocationConfidence, StockLevel
from orders.callers import Caller
from orders.services import LineInput, order_create
from retailops.access import LocationScope
from retailops.roles import Role
from tests.inventory.factories import ChannelFactory, LocationFactory, SkuFactory
from tests.inventory.test_screens import signed_in
from tests.orders.factories import stock

pytestmark = pytest.mark.django_db

EVERYWHERE = LocationScope(None)
STORES = ("CF-A", "CF-B", "CF-C", "CF-D")
SKUS = [f"CF-{n}" for n in range(6)]


# --- The arithmetic ------------------------------------------------------------------------------


def test_robust_z_uses_the_median_and_mad():
    estate = scoring.estate_of([1.0, 2.0, 3.0, 4.0, 100.0])
    assert (estate.median, estate.mad) == (3.0, 1.0)
    assert scoring.robust_z(100.0, estate) == pytest.approx(0.6745 * 97)
    assert scoring.robust_z(1.0, estate) == pytest.approx(-0.6745 * 2)


def test_with_no_spread_the_mean_absolute_deviation_stands_in_and_alike_is_zero():
    estate = scoring.estate_of([0.0, 0.0, 0.0, 0.8])
    assert estate.mad == 0
    assert scoring.robust_z(0.8, estate) == pytest.approx(0.8 / (1.2533 * 0.2))
    assert scoring.robust_z(0.5, scoring.estate_of([0.5, 0.5, 0.5])) == 0.0


def test_only_the_bad_direction_takes_away_and_three_z_takes_the_whole_weight():
    assert scoring.multiplier(-4.0, 0.45) == 1.0
    assert scoring.multiplier(1.5, 0.45) == pytest.approx(0.775)
    assert scoring.multiplier(9.0, 0.45) == pytest.approx(0.55)
    assert scoring.combined([0.55, 0.8]) == Decimal("0.440")
    assert scoring.combined([]) == Decimal("1.000")


# --- End to end ----------------------------------------------------------------------------------


@pytest.fixture
def estate(db):
    class Estate:
        stores = {code: LocationFactory(code=code, name=f"Store {code}", ship_from_store=True) for code in STORES}
        skus = {code: SkuFactory(code=code) for code in SKUS}
        web = ChannelFactory(code="cf-web")
        control = staff_user_upsert(username="cf-control", role=Role.INVENTORY_CONTROL, password="pw-for-tests-1")

    for store in Estate.stores.values():
        for sku in Estate.skus.values():
            stock(sku, store, 20)
    return Estate


def count_at(estate, store_code, *, differences: int):
    """A cycle count of five SKUs at a store; `differences` of them counted one short."""
    count = counts.count_schedule(location_code=store_code, selection=CycleCount.Selection.EXPLICIT,
                                  sku_codes=SKUS[:5], actor=estate.control, scope=EVERYWHERE)
    lines = [counts.CountedLine(code, 19 if index < differences else 20) for index, code in enumerate(SKUS[:5])]
    counts.count_submit(count=count, lines=lines, actor=estate.control, scope=EVERYWHERE)


def counted_everywhere(estate, *, at_a: int):
    count_at(estate, "CF-A", differences=at_a)
    for code in STORES[1:]:
        count_at(estate, code, differences=0)


def confidence(code):
    return Location.objects.get(code=code).confidence


def test_counts_with_variance_close_the_ship_from_store_gate_with_the_reason(estate):
    caller = Caller(actor=estate.control, external_system_id=None, scope=EVERYWHERE)
    counted_everywhere(estate, at_a=4)

    run = locations_score()

    assert run.scored == 4
    assert confidence("CF-A") < Decimal("0.80") <= confidence("CF-B")
    assert [confidence(code) for code in STORES[1:]] == [Decimal("1.000")] * 3
    # A ship order now skips CF-A, though CF-A has the most available (19 after the count, vs 20: on par),
    # and says why.
    stock(estate.skus["CF-5"], estate.stores["CF-A"], 100)
    order, _created = order_create(caller=caller, external_id="cf-1", channel_code="cf-web", fulfillment="ship",
                                   lines=[LineInput("1", "CF-5", 30)])
    line = order.lines.prefetch_related("allocations__location").get()
    assert "CF-A" not in {allocation.location.code for allocation in line.allocations.all()}
    excluded = {candidate["location"]: candidate.get("excluded") for candidate in line.sourcing["candidates"]}
    assert excluded["CF-A"] == "confidence below threshold"


def test_every_score_keeps_its_factors_and_history(estate):
    counted_everywhere(estate, at_a=4)
    locations_score()
    score = LocationConfidence.objects.filter(location__code="CF-A").get()
    variance = score.factors["count_variance_rate"]
    assert variance["scored"] and variance["value"] == 0.8 and variance["median"] == 0.0
    assert variance["z"] == pytest.approx(round(0.8 / (1.2533 * 0.2), 2))
    assert variance["multiplier"] == pytest.approx(0.55)
    assert score.score == Decimal("0.550") and score.previous == Decimal("1.000")
    change = Location.history.filter(code="CF-A").order_by("-history_id").first()
    assert change.confidence == Decimal("0.550") and change.history_change_reason.startswith("confidence recomputed")


def test_scoring_again_changes_nothing(estate):
    counted_everywhere(estate, at_a=4)
    locations_score()
    before = Location.history.filter(code="CF-A").count()
    run = locations_score()
    assert run.changed == []
    assert Location.history.filter(code="CF-A").count() == before
    assert confidence("CF-A") == Decimal("0.550")


def test_too_little_data_takes_nothing_away(estate):
    count_at(estate, "CF-A", differences=4)
    count_at(estate, "CF-B", differences=0)  # two locations with counts: fewer than the estate minimum of 3
    locations_score()
    assert confidence("CF-A") == Decimal("1.000")
    factor = LocationConfidence.objects.get(location__code="CF-A").factors["count_variance_rate"]
    assert not factor["scored"] and "fewer than 3 locations" in factor["why"]


def test_a_case_at_a_distrusted_location_ranks_higher(estate):
    def report(code):
        store = estate.stores[code]
        return CaseReport(kind=CaseKind.NEGATIVE_ON_HAND, dedup_key=f"cf:{code}", title="t", location_id=store.pk,
                          sku_id=estate.skus["CF-5"].pk, money_at_risk=Decimal("100"))

    at_a, at_b = raise_case(report("CF-A")), raise_case(report("CF-B"))
    assert at_a.priority == at_b.priority
    counted_everywhere(estate, at_a=4)
    locations_score()
    at_a.refresh_from_db()
    at_b.refresh_from_db()
    assert at_a.priority > at_b.priority
    now_a = confidence("CF-A")
    assert now_a < Decimal("0.80")
    assert at_a.priority_factors["location_confidence"] == str(now_a)
    assert Decimal(at_a.priority_factors["anomaly"]) == 2 - now_a  # seen once (1.0) × (2 − confidence)
    assert at_a.history.first().history_change_reason.startswith("ranked again")
    # A new case there is ranked with the location's confidence from the start.
    fresh = raise_case(CaseReport(kind=CaseKind.NEGATIVE_ON_HAND, dedup_key="cf:A2", title="t",
                                  location_id=estate.stores["CF-A"].pk, money_at_risk=Decimal("100")))
    assert fresh.priority == at_a.priority
    assert Case.objects.filter(kind=CaseKind.NEGATIVE_ON_HAND, location__code="CF-A").count() == 2


def test_the_command_scores_every_location(estate, capsys):
    counted_everywhere(estate, at_a=4)
    call_command("location_confidence")
    assert "scored: 4" in capsys.readouterr().out
    assert LocationConfidence.objects.get(location__code="CF-A").trigger == LocationConfidence.Trigger.COMMAND


def test_the_location_page_explains_and_control_can_rescore(estate):
    counted_everywhere(estate, at_a=4)
    control = signed_in("cf-control-2", Role.INVENTORY_CONTROL)
    page = control.get(reverse("inventory:location_detail", args=["CF-A"]))
    assert page.status_code == 200 and page.context["latest"] is None
    done = control.post(reverse("inventory:location_rescore", args=["CF-A"]), follow=True)
    assert done.status_code == 200
    assert "CF-A is now 0.550" in next(str(message) for message in done.context["messages"])
    assert done.context["factors"][0]["label"] == "Count lines with a variance"
    assert b"Why this confidence" in done.content and b"Paused: below 0.80" in done.content
    assert LocationConfidence.objects.filter(trigger=LocationConfidence.Trigger.ON_DEMAND,
                                             actor=control.user).count() == 4


@pytest.mark.parametrize("role", [Role.STORE_OPS, Role.FINANCE, Role.INTEGRATION_SUPPORT])
def test_only_control_and_ops_admins_rescore(estate, role):
    client = signed_in(f"cf-{role}", role, locations=["CF-A"] if role == Role.STORE_OPS else ())
    assert client.get(reverse("inventory:location_detail", args=["CF-A"])).status_code == 200
    assert b"Score confidence now" not in client.get(reverse("inventory:location_detail", args=["CF-A"])).content
    assert client.post(reverse("inventory:location_rescore", args=["CF-A"])).status_code == 403
    assert not LocationConfidence.objects.exists()


def test_ops_admin_may_rescore(estate):
    admin = signed_in("cf-admin", Role.OPS_ADMIN)
    assert admin.post(reverse("inventory:location_rescore", args=["CF-A"])).status_code == 302


# --- Per SKU × location ------------------------------------------------------------------------


def counted_rounds(estate, *, rounds: int = 3):
    """At every store, `rounds` counts of five SKUs: each store finds one SKU of its own
    (CF-0 at CF-A, CF-1 at CF-B, …) a unit short every time, the rest exact. So the stores
    are alike (one level in five with a variance each) and each level is counted enough."""
    for _ in range(rounds):
        for index, code in enumerate(STORES):
            count = counts.count_schedule(location_code=code, selection=CycleCount.Selection.EXPLICIT,
                                          sku_codes=SKUS[:5], actor=estate.control, scope=EVERYWHERE)
            on_hand = dict(StockLevel.objects.filter(location__code=code).values_list("sku__code", "on_hand"))
            counts.count_submit(count=count, actor=estate.control, scope=EVERYWHERE, lines=[
                counts.CountedLine(sku, on_hand[sku] - (1 if sku == SKUS[index] else 0)) for sku in SKUS[:5]])


def level_score(sku_code, location_code):
    return StockLevel.objects.get(sku__code=sku_code, location__code=location_code).confidence


def test_a_sku_whose_counts_vary_at_a_location_scores_low_while_the_rest_of_the_location_stays_high(estate):
    counted_rounds(estate)

    run = locations_score()

    assert run.levels == 20  # 4 stores × 5 SKUs counted three times; CF-5 never
    assert [confidence(code) for code in STORES] == [Decimal("1.000")] * 4
    assert level_score("CF-0", "CF-A") == Decimal("0.550") < Decimal("0.80")
    assert level_score("CF-1", "CF-A") == level_score("CF-0", "CF-B") == Decimal("1.000")
    history = LevelConfidence.objects.get(sku__code="CF-0", location__code="CF-A")
    variance = history.factors["count_variance_rate"]
    assert variance["scored"] and variance["value"] == 1.0 and variance["basis"] == 3
    assert (variance["median"], variance["estate"]) == (0.0, 20)
    assert not history.factors["event_problem_rate"]["scored"]  # no events: nothing taken away


def test_a_level_without_enough_counts_has_no_score_and_its_location_stands_for_it(estate):
    counted_rounds(estate, rounds=2)  # two count lines per level: below the minimum of three

    assert locations_score().levels == 0
    assert not LevelConfidence.objects.exists()
    assert level_score("CF-0", "CF-A") is None


def test_a_level_that_falls_below_the_minimum_loses_its_score(estate, settings):
    counted_rounds(estate)
    locations_score()
    settings.CONFIDENCE_LEVEL_MIN_COUNTED_LINES = 4

    assert locations_score().levels == 0
    assert level_score("CF-0", "CF-A") is None


def test_the_level_score_closes_the_ship_from_store_gate_for_that_sku_only(estate):
    caller = Caller(actor=estate.control, external_system_id=None, scope=EVERYWHERE)
    counted_rounds(estate)
    locations_score()
    for sku in ("CF-0", "CF-1"):  # CF-A holds the most of both
        stock(estate.skus[sku], estate.stores["CF-A"], 100)

    distrusted, _ = order_create(caller=caller, external_id="cf-level-1", channel_code="cf-web", fulfillment="ship",
                                 lines=[LineInput("1", "CF-0", 30)])
    trusted, _ = order_create(caller=caller, external_id="cf-level-2", channel_code="cf-web", fulfillment="ship",
                              lines=[LineInput("1", "CF-1", 30)])

    line = distrusted.lines.prefetch_related("allocations__location").get()
    assert "CF-A" not in {allocation.location.code for allocation in line.allocations.all()}
    excluded = {candidate["location"]: candidate.get("excluded") for candidate in line.sourcing["candidates"]}
    assert excluded["CF-A"] == "confidence below threshold"
    assert {allocation.location.code for allocation in trusted.lines.get().allocations.all()} == {"CF-A"}


# The level page's queries (session, user, permissions, the level, filters, ledger page, the
# SKU elsewhere…): the same for any level; one more where the level has a score of its own.
LEVEL_PAGE_QUERIES = 10


def test_the_level_page_explains_its_own_score_or_says_the_location_stands(estate, django_assert_num_queries):
    counted_rounds(estate)
    locations_score()
    client = signed_in("cf-control-3", Role.INVENTORY_CONTROL)
    scored = reverse("inventory:stock_level", args=["CF-0", "CF-A"])
    unscored = reverse("inventory:stock_level", args=["CF-5", "CF-A"])

    page = client.get(scored).content.decode()
    assert "Why this confidence" in page and "0.550" in page
    assert "Count lines with a variance" in page and "not offered CF-0 from here" in page
    assert "the location's confidence (1.000) stands for it" in client.get(unscored).content.decode()
    with django_assert_num_queries(LEVEL_PAGE_QUERIES):
        client.get(unscored)
    with django_assert_num_queries(LEVEL_PAGE_QUERIES + 1):  # its latest scoring, for the factors
        client.get(scored)

