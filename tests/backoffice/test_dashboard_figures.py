"""The dashboard's accuracy from reconciliation runs and its returns cycle time: their
numbers equal direct queries over the rows behind them, for the span and the caller's
stores; each links to the list behind it and exports as CSV."""

import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from reconciliation.models import RunAccuracy
from reconciliation.states import RunStatus
from retailops.roles import Role
from returns.models import ReturnAuthorization
from tests.backoffice.test_dashboard import browser, exported
from tests.inventory.factories import LocationFactory
from tests.reconciliation.factories import ExternalSystemFactory, RunFactory, SnapshotFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def history():
    now = timezone.now()
    s1, s2 = LocationFactory(code="S1", pickup=True), LocationFactory(code="S2", pickup=True)
    system = ExternalSystemFactory(code="erp-r")
    # Runs as of 3, 20 and 60 days ago; one still queued (no accuracy counts), one failed.
    for index, age in enumerate([3, 20, 60]):
        snapshot = SnapshotFactory(system=system, as_of=now - timedelta(days=age))
        run = RunFactory(snapshot=snapshot, status=RunStatus.CLOSED if index else RunStatus.REVIEW)
        for location, off in ((s1, index + 1), (s2, 0)):
            RunAccuracy.objects.create(run=run, location=location, lines=50, agreeing_lines=50 - off, units=500,
                                       agreeing_units=500 - 3 * off, value=Decimal("1000.00"),
                                       agreeing_value=Decimal("1000.00") - 7 * off)
        RunAccuracy.objects.create(run=run, location=None, lines=4, agreeing_lines=0, units=40, agreeing_units=0,
                                   value=Decimal("0"), agreeing_value=Decimal("0"))
    failed = RunFactory(snapshot=SnapshotFactory(system=system, as_of=now - timedelta(days=2)),
                        status=RunStatus.FAILED)
    RunAccuracy.objects.create(run=failed, location=s1, lines=50, agreeing_lines=0, units=1, agreeing_units=0)
    # Returns: authorised, received after `receive` hours, refunded `refund` hours later.
    plans = [(s1, 2, 24, 10), (s1, 5, 48, 30), (s1, 9, 12, 2), (s1, 40, 100, 50), (s2, 4, 30, 6), (s2, 6, None, 5),
             (s2, 1, 72, None)]
    for index, (location, days_ago, receive, refund) in enumerate(plans):
        refunded_at = now - timedelta(days=days_ago)
        received_at = refunded_at - timedelta(hours=refund) if receive is not None and refund is not None else None
        authorised = (received_at or refunded_at) - timedelta(hours=receive or 20)
        if refund is None:  # received, not refunded yet
            received_at, refunded_at = now - timedelta(days=days_ago), None
            authorised = received_at - timedelta(hours=receive)
        ra = ReturnAuthorization.objects.create(external_id=f"RA-{index}", source_system="web", location=location,
                                                status="refunded" if refunded_at else "received",
                                                received_at=received_at, refunded_at=refunded_at)
        ReturnAuthorization.objects.filter(pk=ra.pk).update(created_at=authorised)
    return {"now": now, "s1": s1, "s2": s2}


def test_reconciliation_accuracy_equals_the_runs_accuracy_rows(history):
    admin = browser(Role.OPS_ADMIN, "boss")
    for days in (7, 30, 90):
        rows = {row["Location"]: row for row in exported(admin, "reconciliation", f"days={days}")}
        start = history["now"] - timedelta(days=days)
        finished = RunAccuracy.objects.filter(run__as_of__gte=start, run__status__in=["review", "closed"],
                                              location__isnull=False)
        assert set(rows) == set(finished.values_list("location__code", flat=True))
        for code, row in rows.items():
            want = finished.filter(location__code=code).aggregate(
                lines=Sum("lines"), agreeing=Sum("agreeing_lines"), units=Sum("units"),
                agreeing_units=Sum("agreeing_units"), value=Sum("value"), agreeing_value=Sum("agreeing_value"))
            assert int(row["Lines compared"]) == want["lines"]
            assert int(row["Lines agreeing"]) == want["agreeing"]
            assert Decimal(row["Line accuracy"].rstrip("%")) == (Decimal(want["agreeing"]) * 100 / want["lines"]
                                                                 ).quantize(Decimal("0.1"))
            assert Decimal(row["Unit accuracy"]) == (Decimal(want["agreeing_units"]) * 100 / want["units"]
                                                     ).quantize(Decimal("0.1"))
            assert Decimal(row["Value agreeing"]) == want["agreeing_value"]
            assert Decimal(row["Value accuracy"]) == (want["agreeing_value"] * 100 / want["value"]
                                                      ).quantize(Decimal("0.1"))
    # 30 days: the runs of 3 and 20 days ago (the failed one is left out); S1 was off by 1 and 2.
    s1 = {row["Location"]: row for row in exported(admin, "reconciliation", "days=30")}["S1"]
    assert (s1["Runs"], s1["Lines compared"], s1["Lines agreeing"]) == ("2", "100", "97")


def test_reconciliation_accuracy_drills_down_to_the_runs_and_their_lines(history):
    admin = browser(Role.OPS_ADMIN, "boss")
    page = admin.get("/dashboard/?days=90").content.decode()
    assert "Inventory accuracy from reconciliation" in page
    assert "/dashboard/reconciliation-runs/?location=S1&amp;days=90" in page
    listing = admin.get("/dashboard/reconciliation-runs/?location=S1&days=90")
    assert listing.status_code == 200
    body = listing.content.decode()
    run_ids = list(RunAccuracy.objects.filter(location__code="S1", run__status__in=["review", "closed"])
                   .order_by("-run__as_of").values_list("run_id", flat=True))
    assert len(run_ids) == 3
    for run_id in run_ids:
        assert f"/reconciliation/{run_id}/?location=S1" in body
    csv_rows = admin.get("/dashboard/reconciliation-runs/?location=S1&days=90&format=csv")
    assert b"".join(csv_rows.streaming_content).decode().count("\n") == 4  # a header and three runs


def nearest(values, pct):
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * pct / 100)) - 1]


def hours(delta):
    return (Decimal(int(delta.total_seconds())) / 3600).quantize(Decimal("0.1"))


def test_returns_cycle_time_equals_the_returns_refunded_in_the_span(history):
    admin = browser(Role.OPS_ADMIN, "boss")
    for days in (7, 30, 90):
        start = history["now"] - timedelta(days=days)
        rows = {row["Location"]: row for row in exported(admin, "returns", f"days={days}")}
        refunded = ReturnAuthorization.objects.filter(refunded_at__gte=start)
        assert set(rows) == set(refunded.values_list("location__code", flat=True))
        for code, row in rows.items():
            mine = list(refunded.filter(location__code=code))
            assert int(row["Refunded"]) == len(mine)
            total = [ra.refunded_at - ra.created_at for ra in mine]
            received = [ra for ra in mine if ra.received_at is not None]
            assert Decimal(row["Whole cycle p50 (h)"]) == hours(nearest(total, 50))
            assert Decimal(row["Whole cycle p90 (h)"]) == hours(nearest(total, 90))
            if received:
                assert Decimal(row["To receive p50 (h)"]) == hours(nearest(
                    [ra.received_at - ra.created_at for ra in received], 50))
                assert Decimal(row["Receipt to refund p90 (h)"]) == hours(nearest(
                    [ra.refunded_at - ra.received_at for ra in received], 90))
            else:
                assert row["To receive p50 (h)"] == ""
    # 30 days at S1: received after 24, 48 and 12 hours; the median is 24 h, p90 48 h.
    s1 = {row["Location"]: row for row in exported(admin, "returns", "days=30")}["S1"]
    assert (s1["Refunded"], s1["To receive p50 (h)"], s1["To receive p90 (h)"]) == ("3", "24.0", "48.0")
    assert (s1["Receipt to refund p50 (h)"], s1["Whole cycle p90 (h)"]) == ("10.0", "78.0")


def test_a_store_user_sees_their_store_alone_and_the_returns_list_behind_it(history):
    store = browser(Role.STORE_OPS, "shop", locations=("S2",))
    assert [row["Location"] for row in exported(store, "returns", "days=90")] == ["S2"]
    assert [row["Location"] for row in exported(store, "reconciliation", "days=90")] == ["S2"]
    listing = store.get("/dashboard/reconciliation-runs/?location=S1&days=90")
    assert b"Nothing in this range" in listing.content
    page = store.get("/dashboard/?days=90").content.decode()
    assert "/returns/?location=S2" in page and "/returns/?location=S1" not in page
