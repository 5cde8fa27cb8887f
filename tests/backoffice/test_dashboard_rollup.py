"""The dashboard's daily rollup: figures that read it for the whole days of a span equal
the same selectors queried directly over the whole span; days are built on demand and by
the beat task, rebuilt without doubling, and a late change is picked up by the refresh."""

from datetime import timedelta

import pytest
from django.utils import timezone

from backoffice import kpis, rollup
from backoffice.models import DailyFigure, RollupDay, RollupFigure
from backoffice.tasks import dashboard_rollup_refresh
from inventory import selectors as inventory_selectors
from orders import selectors as order_selectors
from orders.models import Order
from retailops.access import LocationScope
from retailops.roles import Role
from tests.backoffice.test_dashboard import browser, exported, world  # noqa: F401 (the fixture)

pytestmark = pytest.mark.django_db
EVERYWHERE = LocationScope(None)


def direct(span, now):
    """The four figures' numbers from their selectors over the whole span, no rollup."""
    accuracy = {row["count__location__code"]: (row["lines"], row["exact"], row["expected_units"],
                                                row["variance_units"])
                for row in inventory_selectors.count_accuracy_by_location(scope=EVERYWHERE, start=span.start,
                                                                          end=span.end)}
    pickups = {row["pickup_location__code"]: (row["due"], row["within"], row["late"], row["missed"])
               for row in order_selectors.pickup_acknowledgement_by_location(scope=EVERYWHERE, start=span.start,
                                                                             end=span.end, now=now)}
    adjustments = {(row["week"].isoformat()[:10], row["reason"], row["root_cause"] or "-"): (row["n"], row["value"])
                   for row in inventory_selectors.adjustment_value_by_week(scope=EVERYWHERE, start=span.start,
                                                                          end=span.end)}
    promises = order_selectors.promises_by_day(scope=EVERYWHERE, start=span.start, end=span.end)
    return accuracy, pickups, adjustments, promises


def through_figures(span, now):
    def rows(key):
        return kpis.figure(key, scope=EVERYWHERE, span=span, now=now).rows

    accuracy = {row["location"]: (row["lines"], row["exact"], row["expected_units"], row["variance_units"])
                for row in rows("accuracy")}
    pickups = {row["location"]: (row["due"], row["within"], row["late"], row["missed"]) for row in rows("pickups")}
    adjustments = {}
    for row in rows("adjustments"):
        reason = row["link"].split("reason=")[1].split("&")[0]
        root_cause = row["link"].split("root_cause=")[1].split("&")[0]
        adjustments[(row["week"], reason, root_cause)] = (row["adjustments"], row["value"])
    promise_rows = rows("promises")
    promises = {"orders": {row["day"]: row["orders"] for row in promise_rows if row["orders"]},
                "holds": {row["day"]: row["holds"] for row in promise_rows if row["holds"]}}
    return accuracy, pickups, adjustments, promises


def as_iso(promises):
    return {kind: {day.isoformat(): n for day, n in per_day.items() if n} for kind, per_day in promises.items()}


@pytest.mark.parametrize("days", [7, 30, 90])
def test_figures_read_through_the_rollup_equal_the_direct_queries(world, days):  # noqa: F811
    now = world["now"]
    span = kpis.preset_span(days, now=now)
    accuracy, pickups, adjustments, promises = through_figures(span, now)
    want_accuracy, want_pickups, want_adjustments, want_promises = direct(span, now)
    assert accuracy == want_accuracy and accuracy
    assert pickups == want_pickups and pickups
    assert adjustments == want_adjustments and adjustments
    assert promises == as_iso(want_promises)
    # The whole days were read from the rollup, built on demand.
    parts = kpis.parts_of(span, scope=EVERYWHERE, now=now)
    assert RollupDay.objects.filter(day__gte=parts.days[0], day__lte=parts.days[1], built_at__isnull=False).count() \
        == (parts.days[1] - parts.days[0]).days + 1
    assert DailyFigure.objects.filter(figure=RollupFigure.COUNTS).exists()


def test_a_custom_range_of_whole_days_reads_only_the_rollup(world):  # noqa: F811
    now = world["now"]
    last = timezone.localtime(now).date() - timedelta(days=1)
    span, problem = kpis.span_from({"from": (last - timedelta(days=40)).isoformat(), "to": last.isoformat()}, now=now)
    assert not problem
    parts = kpis.parts_of(span, scope=EVERYWHERE, now=now)
    assert parts.direct == [] and parts.days == (span.first_day, span.last_day)
    assert through_figures(span, now)[:3] == direct(span, now)[:3]


def test_a_store_user_reads_directly_and_sees_only_their_store(world):  # noqa: F811
    store = browser(Role.STORE_OPS, "shop", locations=("S1",))
    assert [row["Location"] for row in exported(store, "accuracy", "days=90")] == ["S1"]
    assert not RollupDay.objects.exists()


def test_building_twice_changes_nothing_and_the_refresh_picks_up_a_late_acknowledgement(world):  # noqa: F811
    now = world["now"]
    span = kpis.preset_span(30, now=now)
    before = through_figures(span, now)
    first, last = kpis.parts_of(span, scope=EVERYWHERE, now=now).days
    built = (last - first).days + 1
    # The refresh window again, and every other day of the last year not built yet.
    assert rollup.refresh(now=now) == 3 + rollup.KEPT_DAYS - built
    rows = DailyFigure.objects.count()
    assert rollup.refresh(now=now) == 3  # the refresh window alone
    assert DailyFigure.objects.count() == rows
    assert through_figures(span, now) == before
    # A pickup that was never acknowledged is, two days after it fell due, acknowledged late.
    missed = Order.objects.filter(pickup_acknowledged_at__isnull=True, pickup_ack_due_at__gte=now - timedelta(days=3),
                                  pickup_ack_due_at__lt=rollup.midnight(rollup.today(now))).first()
    if missed is None:  # the world's pickups fall due at fixed ages: make one of them the missed one
        missed = Order.objects.filter(pickup_ack_due_at__gte=now - timedelta(days=3)).first()
        Order.objects.filter(pk=missed.pk).update(pickup_acknowledged_at=None)
        rollup.refresh(now=now)
    Order.objects.filter(pk=missed.pk).update(pickup_acknowledged_at=missed.pickup_ack_due_at + timedelta(hours=5))
    dashboard_rollup_refresh.apply(kwargs={}).get()
    assert through_figures(span, timezone.now())[1] == direct(span, timezone.now())[1]


def test_today_is_never_built(world):  # noqa: F811
    now = world["now"]
    today = rollup.today(now)
    assert rollup.days_build(today - timedelta(days=1), today, now=now) == 1
    assert not RollupDay.objects.filter(day=today).exists()


def test_refusals_of_past_days_read_through_the_rollup_equal_the_case_history(world):  # noqa: F811
    from exceptions import selectors as case_selectors
    from exceptions.models import Case
    from exceptions.states import CaseKind

    now = world["now"]
    # The world's three refusals were detected now; move their detections to three days ago.
    Case.history.filter(kind=CaseKind.RESERVATION_FAILURE).update(history_date=now - timedelta(days=3))
    span = kpis.preset_span(30, now=now)
    rows = kpis.figure("promises", scope=EVERYWHERE, span=span, now=now).rows
    got = {row["day"]: (row["short"], row["failed"]) for row in rows if row["short"] or row["failed"]}
    want = {row["day"].isoformat(): (row["orders"], row["total"] - row["orders"]) for row in
            case_selectors.detections_by_day(kind=CaseKind.RESERVATION_FAILURE, scope=EVERYWHERE, start=span.start,
                                             end=span.end)}
    assert got == want == {(timezone.localtime(now) - timedelta(days=3)).date().isoformat(): (1, 2)}
    assert DailyFigure.objects.filter(figure=RollupFigure.REFUSALS, m1=3, m2=1).exists()
