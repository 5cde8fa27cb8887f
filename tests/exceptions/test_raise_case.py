"""raise_case: one active case per detection, bumped on repeats, priority with its factors."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from exceptions.models import Case
from exceptions.priority import anomaly
from exceptions.services import CaseReport, raise_case, raise_cases
from exceptions.states import CaseStatus
from tests.inventory.factories import LocationFactory

pytestmark = pytest.mark.django_db


def report(key="k1", money="10.00", **extra):
    return CaseReport(kind="negative_on_hand", dedup_key=key, title="t", money_at_risk=Decimal(money), **extra)


def test_a_new_detection_opens_a_case_in_its_kinds_queue_with_an_sla():
    case = raise_case(report())
    assert (case.status, case.queue, case.severity, case.occurrences) == ("open", "inventory_control", "high", 1)
    assert case.sla_due_at > case.first_seen_at


def test_priority_is_money_times_urgency_times_kind_weight_and_shows_its_factors():
    case = raise_case(report(money="100.00"))
    assert case.priority_factors == {"money_at_risk": "100.00", "urgency": "1.000", "kind_weight": "1.5",
                                     "anomaly": "1.0"}
    assert case.priority == Decimal("150.00")


def test_a_repeat_bumps_the_active_case_instead_of_opening_another():
    raise_case(report(money="10.00"))
    case = raise_case(report(money="40.00", context={"latest": True}))

    assert Case.objects.count() == 1
    assert case.occurrences == 2
    assert case.money_at_risk == Decimal("40.00")
    assert case.context == {"latest": True}
    assert case.last_seen_at >= case.first_seen_at
    assert [row.history_change_reason for row in case.history.order_by("history_date")] == [
        "detected", "detected again"]


def test_after_resolution_a_new_detection_opens_a_new_case():
    first = raise_case(report())
    first.status = CaseStatus.RESOLVED
    first.save()
    second = raise_case(report())
    assert second.pk != first.pk
    assert Case.objects.filter(status="open").count() == 1


def test_reports_sharing_a_key_fold_into_one_raise():
    raise_cases([report("a", "5.00"), report("a", "9.00"), report("b")])
    assert dict(Case.objects.values_list("dedup_key", "occurrences")) == {"a": 2, "b": 1}
    assert Case.objects.get(dedup_key="a").money_at_risk == Decimal("9.00")


def test_the_subject_and_location_are_kept_for_scoping():
    location = LocationFactory(code="S1")
    case = raise_case(report(subject=location, location_id=location.pk))
    assert case.subject == location
    assert case.location_id == location.pk


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_detections_make_one_case_with_every_occurrence():
    barrier = threading.Barrier(8, timeout=10)
    errors = []

    def detect():
        try:
            barrier.wait()
            raise_case(report("hot"))
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=detect) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert Case.objects.get().occurrences == 8


def test_a_problem_that_keeps_coming_back_ranks_higher_and_says_why():
    first = raise_case(report("anomaly:1"))
    assert first.priority_factors["anomaly"] == "1.0"
    once_priority = first.priority

    raise_case(report("anomaly:1", occurrences=3))
    first.refresh_from_db()

    assert first.occurrences == 4
    assert first.priority_factors["anomaly"] == "2.0"
    assert first.priority > once_priority
    assert anomaly(1_000) == Decimal("3.0")
