"""The KPI dashboard: its figures equal plain aggregates over the rows behind them, for
the span asked for and the caller's stores; every figure links to its list and exports
its table as CSV."""

import csv
import io
import math
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, F, Q, Sum
from django.test import Client
from django.utils import timezone

from backoffice.staff import staff_user_upsert
from exceptions.models import Case
from exceptions.services import CaseReport, raise_case
from exceptions.states import CaseKind, CaseStatus, Queue
from integrations.models import ExternalSystem, SyncRun
from inventory.models import Adjustment, CycleCount, CycleCountLine
from inventory.states import AdjustmentStatus, CycleCountStatus
from orders.models import Allocation, Order
from orders.states import AllocationOrigin, Fulfillment
from retailops.roles import Role
from tests.exceptions.factories import CaseFactory
from tests.inventory.factories import ChannelFactory, LocationFactory, SkuFactory
from tests.mfa import force_login_verified
from tests.orders.factories import AllocationFactory, OrderFactory

pytestmark = pytest.mark.django_db
PASSWORD = "pw-for-tests-1"


def browser(role, username, locations=()):
    user = staff_user_upsert(username=username, role=role, password=PASSWORD, location_codes=locations)
    client = Client()
    force_login_verified(client, user)
    client.user = user
    return client


def exported(client, key, query="days=30") -> list[dict]:
    response = client.get(f"/dashboard/{key}.csv?{query}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.streaming
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def world():
    """Two stores, a span of history: cases, counts, adjustments, pickups, sync runs,
    orders and holds, some inside the last 7 days, some 8–30 days ago, some older."""
    now = timezone.now()
    s1, s2 = LocationFactory(code="S1", pickup=True), LocationFactory(code="S2", pickup=True)
    sku = SkuFactory(code="A", unit_cost=Decimal("4.00"))
    channel = ChannelFactory(code="web")
    ages = [timedelta(days=2), timedelta(days=5), timedelta(days=12), timedelta(days=25), timedelta(days=60)]
    for index, age in enumerate(ages):
        where = s1 if index % 2 == 0 else s2
        # Cases: opened `age` ago; every other one closed a day later; SLA 24 h after opening.
        closed = index % 2 == 0
        CaseFactory(location=where, queue=Queue.INVENTORY_CONTROL if index < 3 else Queue.STORE_OPS,
                    first_seen_at=now - age, sla_due_at=now - age + timedelta(hours=24),
                    status=CaseStatus.RESOLVED if closed else CaseStatus.OPEN, root_cause="miscount" if closed else "",
                    resolved_at=now - age + timedelta(hours=12 if index == 0 else 36) if closed else None)
        # A submitted count with two lines, one exact and one off by index + 1.
        count = CycleCount.objects.create(location=where, status=CycleCountStatus.SUBMITTED, selection="list",
                                          submitted_at=now - age)
        CycleCountLine.objects.create(count=count, sku=sku, counted_quantity=10, system_quantity=10, variance=0)
        CycleCountLine.objects.create(count=count, sku=SkuFactory(), counted_quantity=8,
                                      system_quantity=8 + index + 1, variance=-(index + 1))
        Adjustment.objects.create(sku=sku, location=where, delta=-(index + 1), reason="shrink" if index % 2 else
                                  "damaged", root_cause="shrink" if index % 2 else "", status=AdjustmentStatus.APPLIED,
                                  on_hand_at_request=10, unit_cost=sku.unit_cost, value=sku.unit_cost * (index + 1),
                                  applied_delta=-(index + 1), applied_at=now - age)
        pickup = OrderFactory(channel=channel, fulfillment=Fulfillment.PICKUP, pickup_location=where,
                              pickup_ack_due_at=now - age,
                              pickup_acknowledged_at=(now - age - timedelta(minutes=5)) if index % 3 == 0 else
                              (now - age + timedelta(minutes=5)) if index % 3 == 1 else None)
        Order.objects.filter(pk=pickup.pk).update(created_at=now - age)
        hold = AllocationFactory(line=None, order=None, sku=sku, channel=channel, location=where, quantity=1,
                                 origin=AllocationOrigin.HOLD)
        Allocation.objects.filter(pk=hold.pk).update(created_at=now - age)
    system = ExternalSystem.objects.create(code="mkt", name="Marketplace", kind=ExternalSystem.Kind.MARKETPLACE)
    for index, age in enumerate(ages * 2):
        SyncRun.objects.create(system=system, job=SyncRun.Job.AVAILABILITY_PUSH, status=SyncRun.Status.SUCCEEDED,
                               started_at=now - age - timedelta(minutes=index), latency_p50_ms=100 * (index + 1),
                               latency_p95_ms=300 * (index + 1))
    # Two refusals of a hold and one of an order, now (detections are counted from history).
    for document in ("reservation r-1", "reservation r-2", "order W-9"):
        raise_case(CaseReport(kind=CaseKind.RESERVATION_FAILURE, dedup_key=f"reservation_failure:{sku.pk}:web",
                              title="Could not promise", sku_id=sku.pk, location_id=s1.pk,
                              context={"document": document}))
    return {"now": now, "s1": s1, "s2": s2, "system": system}


def test_ops_admin_lands_on_the_dashboard_and_every_role_has_it_in_the_top_bar(world):
    admin = browser(Role.OPS_ADMIN, "boss")
    assert admin.get("/").url == "/dashboard/"
    for role in Role:
        client = browser(role, f"{role.value}-person", locations=("S1",) if role == Role.STORE_OPS else ())
        page = client.get("/dashboard/")
        assert page.status_code == 200
        assert b'href="/dashboard/"' in page.content


def test_case_figures_equal_direct_counts_per_queue(world):
    admin = browser(Role.OPS_ADMIN, "boss")
    now = world["now"]
    for days in (7, 30, 90):
        start = now - timedelta(days=days)
        rows = {row["Queue"]: row for row in exported(admin, "cases", f"days={days}")}
        for queue in Queue:
            cases = Case.objects.filter(queue=queue)
            opened = cases.filter(first_seen_at__gte=start).count()
            closed = cases.filter(resolved_at__gte=start).count()
            breached = cases.filter(sla_due_at__gte=start, sla_due_at__lt=now).filter(
                Q(resolved_at__isnull=True) | Q(resolved_at__gt=F("sla_due_at"))).count()
            row = rows[queue.label]
            assert (int(row["Opened"]), int(row["Closed"]), int(row["SLA breached"])) == (opened, closed, breached)
        active = Case.objects.filter(status__in=("open", "assigned", "in_progress"))
        over_7 = active.filter(first_seen_at__lte=now - timedelta(days=7)).count()
        assert sum(int(row["Active over 7 days"]) for row in rows.values()) == over_7


def test_span_selection_changes_what_is_counted(world):
    admin = browser(Role.OPS_ADMIN, "boss")
    week = {row["Location"]: row for row in exported(admin, "accuracy", "days=7")}
    quarter = {row["Location"]: row for row in exported(admin, "accuracy", "days=90")}
    now = world["now"]
    for code, rows in (("S1", week), ("S2", week)):
        lines = CycleCountLine.objects.filter(count__location__code=code,
                                              count__submitted_at__gte=now - timedelta(days=7))
        if lines.exists():
            assert int(rows[code]["Lines counted"]) == lines.count()
            assert int(rows[code]["Lines exact"]) == lines.filter(variance=0).count()
    totals = CycleCountLine.objects.filter(count__location__code="S1").aggregate(n=Count("pk"))
    assert int(quarter["S1"]["Lines counted"]) == totals["n"]
    # A custom range of whole days: the day 12 days ago alone.
    day = (timezone.localtime(now) - timedelta(days=12)).date()
    custom = exported(admin, "accuracy", f"from={day}&to={day}")
    expected = CycleCountLine.objects.filter(count__submitted_at__date=day).values("count__location__code").distinct()
    assert [row["Location"] for row in custom] == [row["count__location__code"] for row in expected]


def test_adjustment_value_per_week_reason_and_root_cause(world):
    admin = browser(Role.OPS_ADMIN, "boss")
    rows = exported(admin, "adjustments", "days=90")
    total = Adjustment.objects.filter(status="applied", applied_at__gte=world["now"] - timedelta(days=90)).aggregate(
        value=Sum("value"))["value"]
    assert sum(Decimal(row["Value"]) for row in rows) == total
    shrink = Adjustment.objects.filter(reason="shrink").aggregate(value=Sum("value"))["value"]
    assert sum(Decimal(row["Value"]) for row in rows if row["Reason"] == "Shrink") == shrink
    assert {row["Root cause"] for row in rows} == {"Shrink or theft", "Not given"}


def test_pickups_and_sync_latency_and_promises(world):
    admin = browser(Role.OPS_ADMIN, "boss")
    now = world["now"]
    start = now - timedelta(days=30)
    pickups = {row["Location"]: row for row in exported(admin, "pickups")}
    for code in ("S1", "S2"):
        due = Order.objects.filter(pickup_location__code=code, pickup_ack_due_at__gte=start)
        assert int(pickups[code]["Due"]) == due.count()
        assert int(pickups[code]["Not acknowledged"]) == due.filter(pickup_acknowledged_at__isnull=True).count()
    (sync,) = exported(admin, "sync")
    runs = SyncRun.objects.filter(started_at__gte=start)
    p50s = sorted(runs.values_list("latency_p50_ms", flat=True))
    p95s = sorted(runs.values_list("latency_p95_ms", flat=True))
    assert int(sync["Runs"]) == len(p50s) == 8
    # Nearest rank: the ceil(n × p)-th smallest.
    assert int(sync["p50 (ms)"]) == p50s[math.ceil(len(p50s) * 0.50) - 1]
    assert int(sync["p95 (ms)"]) == p95s[math.ceil(len(p95s) * 0.95) - 1]
    promises = exported(admin, "promises")
    assert sum(int(row["Holds refused"]) for row in promises) == 2
    assert sum(int(row["Orders short"]) for row in promises) == 1
    assert sum(int(row["Holds made"]) for row in promises) == Allocation.objects.filter(
        origin="hold", created_at__gte=start).count()


def test_a_store_user_sees_only_their_store(world):
    store = browser(Role.STORE_OPS, "shop", locations=("S1",))
    accuracy = exported(store, "accuracy", "days=90")
    assert [row["Location"] for row in accuracy] == ["S1"]
    assert {row["Location"] for row in exported(store, "pickups", "days=90")} == {"S1"}
    assert store.get("/dashboard/sync.csv").status_code == 404  # integration figures are not a store's
    page = store.get("/dashboard/counted-lines/?location=S2&days=90")
    assert b"Nothing in this range" in page.content


def test_every_figure_links_to_the_list_behind_it(world):
    admin = browser(Role.OPS_ADMIN, "boss")
    page = admin.get("/dashboard/?days=90").content.decode()
    assert "/cases/queue/inventory_control/?status=all" in page
    assert "/integrations/mkt/" in page
    assert "/dashboard/counted-lines/?location=S1&amp;days=90" in page
    assert "/orders/?fulfillment=pickup&amp;location=S1" in page
    assert "/cases/?kind=reservation_failure&amp;status=all" in page
    lines = admin.get("/dashboard/counted-lines/?location=S1&days=90")
    assert lines.status_code == 200
    expected = CycleCountLine.objects.filter(count__location__code="S1").count()
    assert len(re.findall(r'href="/inventory/counts/\d+/"', lines.content.decode())) == expected
    adjustments = admin.get("/dashboard/adjustments/?reason=shrink&days=90&format=csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(adjustments.streaming_content).decode())))
    assert len(rows) == Adjustment.objects.filter(reason="shrink").count()


def test_charts_are_svg_with_a_text_alternative(world):
    admin = browser(Role.OPS_ADMIN, "boss")
    page = admin.get("/dashboard/?days=90").content.decode()
    assert page.count("<svg viewBox") == 8  # every figure: the ops admin sees all eight
    assert 'role="img" aria-labelledby="chart-cases-title chart-cases-desc"' in page
    assert '<desc id="chart-cases-desc">Bar chart of Opened, Closed, SLA breached by queue' in page
    assert "<script" not in page.split("</head>")[1]


@pytest.mark.parametrize("query", ["days=12", "from=2026-02-30&to=2026-03-01", "from=2026-03-02&to=2026-03-01",
                                   "from=2020-01-01&to=2026-01-01"])
def test_a_range_it_cannot_have_is_a_message_not_an_error(world, query):
    admin = browser(Role.OPS_ADMIN, "boss")
    page = admin.get(f"/dashboard/?{query}")
    assert page.status_code == 200
    assert b"Showing the last 30 days instead" in page.content


def test_csv_export_quotes_text_that_a_spreadsheet_would_run(world):
    world["s1"].name = "=HYPERLINK(1)"
    world["s1"].save()
    admin = browser(Role.OPS_ADMIN, "boss")
    names = [row["Name"] for row in exported(admin, "accuracy", "days=90")]
    assert "'=HYPERLINK(1)" in names


def test_on_seeded_demo_history_the_figures_equal_direct_queries():
    from django.core.management import call_command

    call_command("seed_demo", "--stores", "3", "--skus", "20", "--no-users", stdout=io.StringIO())
    admin = browser(Role.OPS_ADMIN, "boss")
    now = timezone.now()
    start = now - timedelta(days=90)
    rows = {row["Queue"]: row for row in exported(admin, "cases", "days=90")}
    for queue in Queue:
        cases = Case.objects.filter(queue=queue)
        assert int(rows[queue.label]["Opened"]) == cases.filter(first_seen_at__gte=start).count()
        assert int(rows[queue.label]["Closed"]) == cases.filter(resolved_at__gte=start).count()
    assert sum(int(row["Opened"]) for row in rows.values()) > 100
    for sync in exported(admin, "sync", "days=90"):
        runs = SyncRun.objects.filter(system__code=sync["System"], started_at__gte=start)
        p95s = sorted(runs.values_list("latency_p95_ms", flat=True))
        assert int(sync["Runs"]) == len(p95s) > 2000
        assert int(sync["p95 (ms)"]) == p95s[math.ceil(len(p95s) * 0.95) - 1]
    # Counts, adjustments and pickups made through their services over the 90 days, read
    # mostly through the rollup seed_demo built, equal the direct queries.
    lines = CycleCountLine.objects.filter(count__submitted_at__gte=start, variance__isnull=False)
    accuracy = exported(admin, "accuracy", "days=90")
    assert sum(int(row["Lines counted"]) for row in accuracy) == lines.count() > 150
    assert sum(int(row["Lines exact"]) for row in accuracy) == lines.filter(variance=0).count()
    applied = Adjustment.objects.filter(status=AdjustmentStatus.APPLIED, applied_at__gte=start)
    adjustments = exported(admin, "adjustments", "days=90")
    assert sum(int(row["Adjustments"]) for row in adjustments) == applied.count() > 80
    assert sum(Decimal(row["Value"]) for row in adjustments) == applied.aggregate(total=Sum("value"))["total"]
    due = Order.objects.filter(fulfillment=Fulfillment.PICKUP, pickup_ack_due_at__gte=start,
                               pickup_ack_due_at__lt=now)
    pickups = exported(admin, "pickups", "days=90")
    assert sum(int(row["Due"]) for row in pickups) == due.count() > 60
    assert sum(int(row["Late"]) for row in pickups) == due.filter(
        pickup_acknowledged_at__gt=F("pickup_ack_due_at")).count()
