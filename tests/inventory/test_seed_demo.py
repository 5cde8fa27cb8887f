from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client

from backoffice.demo import DEMO_USERS
from backoffice.staff import staff_user_upsert
from exceptions.models import Case
from exceptions.states import CaseKind
from inventory.ledger import ledger_drifts
from inventory.models import Channel, InventoryEvent, Location, Sku, StockLevel, StockMovement

pytestmark = pytest.mark.django_db


def signs_in(username: str, password: str) -> bool:
    """Through the sign-in page, as a person would: a redirect onwards means signed in."""
    return Client().post("/login/", {"username": username, "password": password}).status_code == 302


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", "--stores", "4", "--skus", "30", *args, stdout=out)
    return out.getvalue()


def counts():
    return (Sku.objects.count(), Location.objects.count(), Channel.objects.count(), Sku.history.count())


def test_seed_demo_is_deterministic_and_idempotent(django_user_model):
    output = seed("--demo-users")
    first = counts()
    first_prices = list(Sku.objects.order_by("code").values_list("price", flat=True))
    seed()

    assert first == counts()
    assert first == (30, 7, 3, 30)
    assert list(Sku.objects.order_by("code").values_list("price", flat=True)) == first_prices
    for username in ("control", "store", "finance", "integration", "admin"):
        assert username in output
        assert django_user_model.objects.get(username=username).groups.count() == 1


def stock_state():
    return (
        StockMovement.objects.count(),
        InventoryEvent.objects.count(),
        list(StockLevel.objects.order_by("sku_id", "location_id").values_list(
            "on_hand", "damaged", "quality_control", "version")),
    )


def test_seed_demo_stocks_a_ledger_that_verifies_and_a_rerun_adds_nothing():
    output = seed("--no-users")
    first = stock_state()
    seed("--no-users")

    assert stock_state() == first
    assert "duplicate" in output or "applied" in output
    assert ledger_drifts() == []
    totals = StockLevel.objects.aggregate(damaged=Sum("damaged"), qc=Sum("quality_control"), on_hand=Sum("on_hand"))
    assert totals["damaged"] > 0 and totals["qc"] > 0 and totals["on_hand"] > 0
    assert InventoryEvent.objects.filter(status=InventoryEvent.Status.APPLIED).count() > 50
    # The history ends with a few oversells on purpose, so the queue has something to show.
    assert StockLevel.objects.filter(on_hand__lt=0).exists()
    assert Case.objects.filter(kind=CaseKind.NEGATIVE_ON_HAND).exists()


# --- Demo users: their passwords are published, so they exist only where that is safe ----------


def test_with_debug_off_seed_demo_creates_no_demo_user_unless_asked(django_user_model):
    output = seed()

    assert not django_user_model.objects.filter(username__in=[user.username for user in DEMO_USERS]).exists()
    assert "--demo-users" in output
    assert not any(user.password in output for user in DEMO_USERS)


def test_under_debug_seed_demo_creates_the_demo_users_with_their_published_passwords(settings):
    settings.DEBUG = True  # what `make run` runs with
    first = seed()
    again = seed()  # `make run` a second time still shows them

    for user in DEMO_USERS:
        assert signs_in(user.username, user.password)
        assert f"{user.username:<22} {user.password}" in first
        assert f"{user.username:<22} {user.password}" in again


def test_seed_demo_never_resets_an_existing_users_password(django_user_model):
    staff_user_upsert(username="admin", role="finance", password="their-own-secret-9")

    output = seed("--demo-users")

    admin = django_user_model.objects.get(username="admin")
    assert admin.check_password("their-own-secret-9")
    assert [group.name for group in admin.groups.all()] == ["finance"]
    assert "admin-demo-pass" not in output
    assert signs_in("control", "control-demo-pass")


def test_seed_demo_adds_90_days_of_case_and_sync_history_once():
    from integrations.models import SyncRun

    seed("--no-users")
    first = (Case.objects.filter(dedup_key__startswith="demo-history:").count(), SyncRun.objects.count(),
             list(Case.objects.filter(dedup_key__startswith="demo-history:").order_by("dedup_key")
                  .values_list("kind", "queue", "status")[:50]))
    seed("--no-users")

    assert first[0] > 0 and first[1] > 0
    assert (Case.objects.filter(dedup_key__startswith="demo-history:").count(), SyncRun.objects.count()) == first[:2]
    oldest = Case.objects.filter(dedup_key__startswith="demo-history:").order_by("first_seen_at").first()
    assert (oldest.last_seen_at - oldest.first_seen_at).days == 0
    assert Case.objects.filter(dedup_key__startswith="demo-history:", status="resolved").exists()
    assert Case.objects.filter(dedup_key__startswith="demo-history:", status="open").exists()


def distinct_days(moments) -> int:
    return len({moment.date() for moment in moments if moment is not None})


def test_seed_demo_spreads_counts_adjustments_and_pickups_over_90_days_once():
    from backoffice.models import RollupDay
    from inventory.models import Adjustment, CycleCount
    from orders.models import Order

    seed("--no-users")
    first = (CycleCount.objects.count(), Adjustment.objects.count(), Order.objects.count(), stock_state())
    seed("--no-users")

    assert (CycleCount.objects.count(), Adjustment.objects.count(), Order.objects.count(), stock_state()) == first
    assert distinct_days(CycleCount.objects.values_list("submitted_at", flat=True)) >= 60
    assert distinct_days(Adjustment.objects.filter(status="applied").values_list("applied_at", flat=True)) >= 60
    assert distinct_days(Order.objects.values_list("pickup_acknowledged_at", flat=True)) >= 60
    # Their movements happened then too, through the services, not stamped afterwards.
    for document_type in ("adjustment", "order"):
        assert distinct_days(StockMovement.objects.filter(document_type=document_type)
                             .values_list("occurred_at", flat=True)) >= 60
    assert ledger_drifts() == []
    # The dashboard's daily rollup holds those days already.
    assert RollupDay.objects.filter(built_at__isnull=False).count() >= 89


# --- Demo returns: one in each state, through the returns services -----------------------------


def returns_state():
    from returns.models import Refund, ReturnAuthorization, ReturnInspection, ReturnReceipt

    return (
        sorted(ReturnAuthorization.objects.values_list("external_id", "status", "authorized")),
        sorted(Refund.objects.values_list("return_authorization__external_id", "status", "amount")),
        ReturnReceipt.objects.count(), ReturnInspection.objects.count(),
        Case.objects.filter(kind=CaseKind.RETURN_UNRECONCILED).count(), StockMovement.objects.count(),
    )


def test_seed_demo_makes_returns_in_every_state_and_a_rerun_adds_nothing():
    from returns.models import Refund, ReturnAuthorization

    output = seed("--no-users")
    first = returns_state()
    seed("--no-users")

    assert returns_state() == first
    assert "Demo returns:" in output
    statuses = set(ReturnAuthorization.objects.values_list("status", flat=True))
    assert statuses == {"authorized", "partially_received", "received", "inspected", "refunded", "closed",
                        "cancelled", "expired"}
    pending = Refund.objects.get(status="pending_approval")
    assert pending.held_for == "value" and pending.return_authorization.status == "received"
    unauthorised = ReturnAuthorization.objects.get(authorized=False)
    case = Case.objects.get(kind=CaseKind.RETURN_UNRECONCILED)
    assert case.dedup_key == f"return_unreconciled:{unauthorised.pk}"
    # The paid refunds sent their credit notes; the units that came back are on the ledger.
    assert Refund.objects.filter(status="refunded").count() == 2
    assert StockMovement.objects.filter(document_type="return").exists()
    assert ledger_drifts() == []


def test_seed_demo_returns_are_the_same_for_the_same_seed():
    seed("--no-users")
    from returns.models import ReturnAuthorization

    assert list(ReturnAuthorization.objects.order_by("external_id").values_list(
        "external_id", "location__code", "lines__sku__code", "lines__authorized")) == [
        ("DEMO-RA-0001", "S001", "SKU-00003", 2), ("DEMO-RA-0002", "DC-NORTH", "SKU-00007", 3),
        ("DEMO-RA-0003", "DC-NORTH", "SKU-00011", 2), ("DEMO-RA-0004", "DARK-01", "SKU-00013", 2),
        ("DEMO-RA-0005", "DC-SOUTH", "SKU-00017", 1), ("DEMO-RA-0006", "S001", "SKU-00019", 1),
        ("DEMO-RA-0007", "DARK-01", "SKU-00023", 1), ("DEMO-RA-0008", "DC-SOUTH", "SKU-00029", 2),
        ("DEMO-RA-0009", "DC-NORTH", "SKU-00005", 4), ("DEMO-UNAUTHORISED-1", "DC-NORTH", "SKU-00001", 0),
    ]


# --- Demo supplier notices: one in each state, through the receiving services ------------------


def asns_state():
    from receiving.models import Asn, AsnLine

    return (
        sorted(Asn.objects.values_list("external_id", "status", "expected_at", "location__code")),
        sorted(AsnLine.objects.values_list("asn__external_id", "sku__code", "expected", "received", "damaged",
                                           "released")),
        sorted(Case.objects.filter(kind=CaseKind.RECEIPT_VARIANCE)
               .exclude(dedup_key__startswith="receipt_without_asn:")
               .values_list("dedup_key", "occurrences", "money_at_risk")),
        StockMovement.objects.filter(document_type="asn").count(),
    )


def test_seed_demo_makes_asns_in_every_state_with_their_cases_and_a_rerun_adds_nothing():
    from receiving.models import Asn
    from receiving.selectors import erp_posting

    output = seed("--no-users")
    first = asns_state()
    again = seed("--no-users")

    assert asns_state() == first
    assert "Demo supplier notices:" in output and "(7 new)" in output and "(0 new)" in again
    by_id = {asn.external_id: asn for asn in Asn.objects.all()}
    assert {external_id: asn.status for external_id, asn in by_id.items()} == {
        "DEMO-ASN-0001": "expected", "DEMO-ASN-0002": "partially_received", "DEMO-ASN-0003": "received",
        "DEMO-ASN-0004": "closed", "DEMO-ASN-0005": "cancelled", "DEMO-ASN-0006": "expected",
        "DEMO-ASN-0007": "received"}
    assert {asn.source_system for asn in by_id.values()} == {"demo-supplier"}
    cases = {key: occurrences for key, occurrences, _value in first[2]}
    assert cases == {f"asn_overdue:{by_id['DEMO-ASN-0006'].pk}": 1,
                     f"receipt_variance:{by_id['DEMO-ASN-0007'].pk}": 1}
    variance = Case.objects.get(dedup_key=f"receipt_variance:{by_id['DEMO-ASN-0007'].pk}")
    assert {line["sku"]: line["variance"] for line in variance.context["lines"]} == {
        "SKU-00020": ["short"], "SKU-00022": ["damaged"]}
    # Each delivery's goods receipt went to the ERP through the outbox; a cancelled notice sent none.
    assert erp_posting(by_id["DEMO-ASN-0002"])["documents"] == 1
    assert erp_posting(by_id["DEMO-ASN-0005"]) is None
    incoming = StockLevel.objects.filter(location__code="DC-NORTH", sku__code="SKU-00002").get().incoming
    assert incoming == 120  # DEMO-ASN-0001 is on its way
    assert ledger_drifts() == []


def test_seed_demo_asns_are_the_same_for_the_same_seed():
    seed("--no-users")
    from receiving.models import AsnLine

    assert list(AsnLine.objects.order_by("asn__external_id", "sku__code").values_list(
        "asn__external_id", "asn__location__code", "sku__code", "expected", "received", "damaged")) == [
        ("DEMO-ASN-0001", "DC-NORTH", "SKU-00002", 120, 0, 0), ("DEMO-ASN-0001", "DC-NORTH", "SKU-00004", 60, 0, 0),
        ("DEMO-ASN-0002", "DC-SOUTH", "SKU-00006", 80, 40, 0), ("DEMO-ASN-0002", "DC-SOUTH", "SKU-00008", 40, 0, 0),
        ("DEMO-ASN-0003", "DC-NORTH", "SKU-00010", 50, 50, 0),
        ("DEMO-ASN-0004", "DC-SOUTH", "SKU-00012", 30, 30, 0), ("DEMO-ASN-0004", "DC-SOUTH", "SKU-00014", 30, 30, 0),
        ("DEMO-ASN-0005", "DC-NORTH", "SKU-00016", 25, 0, 0),
        ("DEMO-ASN-0006", "DC-SOUTH", "SKU-00018", 90, 0, 0),
        ("DEMO-ASN-0007", "DC-NORTH", "SKU-00020", 40, 36, 0), ("DEMO-ASN-0007", "DC-NORTH", "SKU-00022", 20, 20, 3),
    ]
