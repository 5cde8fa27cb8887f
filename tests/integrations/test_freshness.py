"""Freshness: each system's lag (its oldest undelivered change) and commit → receipt
over the last hour on the health screens, and a sync_lagging case that opens past the
system's threshold and resolves itself once the system has caught up."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from connectors.freshness import sync_lag_check
from exceptions.models import Case
from exceptions.states import CaseKind, CaseStatus, RootCause
from integrations.models import OutboxMessage
from retailops.roles import Role
from tests.integrations.test_screens import ExternalSystemFactory, OutboxMessageFactory, browser

pytestmark = pytest.mark.django_db


@pytest.fixture
def support():
    return browser(Role.INTEGRATION_SUPPORT, "ivy")


def test_the_overview_shows_each_systems_lag_and_last_hours_freshness(support):
    market = ExternalSystemFactory(code="market", lag_threshold_seconds=60)
    OutboxMessageFactory(system=market, age=timedelta(minutes=3))  # the oldest undelivered change
    OutboxMessageFactory(system=market, age=timedelta(seconds=5))
    for seconds in (0.2, 0.3, 0.4, 0.5, 2.0):
        OutboxMessageFactory(system=market, delivered=True, age=timedelta(minutes=10),
                             latency=timedelta(seconds=seconds))
    OutboxMessageFactory(system=market, delivered=True, age=timedelta(hours=2), latency=timedelta(minutes=5))
    OutboxMessageFactory(system=market, status=OutboxMessage.Status.SUPERSEDED, age=timedelta(hours=5))
    web = ExternalSystemFactory(code="web")
    OutboxMessageFactory(system=web, delivered=True, latency=timedelta(milliseconds=150))

    response = support.get("/integrations/")

    rows = {row.system.code: row for row in response.context["rows"]}
    assert 180_000 <= rows["market"].lag_ms < 185_000 and rows["market"].is_lagging
    # The last hour only: the slow delivery two hours ago does not count.
    assert (rows["market"].freshness_p50_ms, rows["market"].freshness_p95_ms) == (400, 2000)
    assert rows["web"].lag_ms is None and not rows["web"].is_lagging
    assert (rows["web"].freshness_p50_ms, rows["web"].freshness_p95_ms) == (150, 150)
    assert response.context["totals"]["lagging"] == 1
    page = response.content.decode()
    assert "3 min" in page and "lagging · limit 60 s" in page and "400 ms" in page and "2.0 s" in page


def test_the_system_page_shows_its_lag_and_freshness(support):
    market = ExternalSystemFactory(code="market", lag_threshold_seconds=300)
    OutboxMessageFactory(system=market, age=timedelta(seconds=90))
    OutboxMessageFactory(system=market, delivered=True, latency=timedelta(milliseconds=700))

    page = support.get("/integrations/market/").content.decode()

    assert "1.5 min" in page or "2 min" in page
    assert "limit 300 s" in page and "700 ms" in page


def test_a_system_lagging_past_its_threshold_gets_one_case_that_resolves_when_it_catches_up():
    market = ExternalSystemFactory(code="market", lag_threshold_seconds=60)
    quick = ExternalSystemFactory(code="quick", lag_threshold_seconds=60)
    stale = OutboxMessageFactory(system=market, age=timedelta(minutes=2))
    OutboxMessageFactory(system=quick, age=timedelta(seconds=10))  # under its threshold

    assert sync_lag_check().lagging == 1
    assert sync_lag_check().lagging == 1  # seen again: the same case, bumped

    case = Case.objects.get(kind=CaseKind.SYNC_LAGGING)
    assert case.subject == market and case.queue == "integration" and case.occurrences == 2
    assert case.context["threshold_seconds"] == 60 and case.context["lag_seconds"] >= 120

    OutboxMessage.objects.filter(pk=stale.pk).update(status=OutboxMessage.Status.DELIVERED,
                                                    delivered_at=timezone.now())
    check = sync_lag_check()

    assert (check.lagging, check.resolved) == (0, 1)
    case.refresh_from_db()
    assert (case.status, case.root_cause) == (CaseStatus.RESOLVED, RootCause.CONDITION_CLEARED)
    assert not Case.objects.filter(kind=CaseKind.SYNC_LAGGING, status__in=["open", "assigned"]).exists()


def test_the_threshold_is_per_system():
    ExternalSystemFactory(code="patient", lag_threshold_seconds=600)
    OutboxMessageFactory(system=ExternalSystemFactory(code="strict", lag_threshold_seconds=5),
                         age=timedelta(seconds=30))
    OutboxMessageFactory(system=ExternalSystemFactory(code="lenient", lag_threshold_seconds=600),
                         age=timedelta(seconds=30))

    assert sync_lag_check().lagging == 1
    assert Case.objects.get(kind=CaseKind.SYNC_LAGGING).subject.code == "strict"


def test_beat_checks_the_lag_often():
    entry = settings.CELERY_BEAT_SCHEDULE["integrations-sync-lag-check"]
    assert entry["task"] == "connectors.tasks.sync_lag_check" and entry["schedule"] <= 60
