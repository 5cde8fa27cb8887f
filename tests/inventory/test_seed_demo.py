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
