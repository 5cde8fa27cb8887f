"""Partner tokens and staff personal tokens (API.md "Auth")."""

import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from integrations.models import ApiClient, ExternalSystem
from retailops.models import SecondFactorEvent
from tests.inventory.factories import LocationFactory
from tests.mfa import authenticator_for, code_now

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_login_throttle():
    """The token login is throttled per address, and every test here calls from the same one."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def run_create_api_client(*args) -> list[str]:
    out = StringIO()
    call_command("create_api_client", *args, stdout=out)
    return out.getvalue().strip().splitlines()


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def all_text_in_database() -> str:
    """Every text column of every table, to look for a leaked secret."""
    chunks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            chunks.extend(str(value) for row in cursor.fetchall() for value in row)
    return "\n".join(chunks)


def test_create_api_client_prints_the_token_last_and_stores_only_its_hash():
    LocationFactory(code="S001")
    lines = run_create_api_client("mkt-1", "--kind", "marketplace", "--scopes", "events,availability",
                                  "--locations", "S001")
    token = lines[-1]

    client = ApiClient.objects.get()
    assert token.startswith("rop_") and len(token) > 40
    assert client.token_hash != token and len(client.token_hash) == 64
    assert client.scopes == ["availability", "events"]
    assert client.location_ids == frozenset({client.locations.get().pk})
    assert ExternalSystem.objects.get(code="mkt-1").kind == "marketplace"
    assert token not in all_text_in_database()


@pytest.mark.parametrize(("kind", "scopes"), [
    ("pos", ["availability", "events", "orders", "returns"]),
    ("web", ["availability", "orders", "returns"]),
    ("marketplace", ["availability", "orders", "returns"]),
    ("wms", ["availability", "events", "receipts", "snapshots", "transfers"]),
    ("erp", ["events", "master_data", "receipts", "snapshots", "transfers"]),
    ("supplier", ["availability", "receipts"]),
])
def test_without_scopes_a_token_gets_those_usual_for_its_kind_and_every_location(kind, scopes):
    """API.md v1.1: the scopes usual for the kind, not every scope."""
    token = run_create_api_client("system-1", "--kind", kind)[-1]
    client = ApiClient.objects.get()
    assert client.scopes == scopes
    assert client.location_ids is None
    expected = 200 if "master_data" in scopes else 403
    assert bearer(token).get("/api/v1/skus").status_code == expected


def test_without_scopes_a_token_of_some_locations_gets_no_master_data():
    LocationFactory(code="S001")
    run_create_api_client("erp-1", "--kind", "erp", "--locations", "S001")
    assert ApiClient.objects.get().scopes == ["events", "receipts", "snapshots", "transfers"]


def test_the_usual_scopes_follow_the_kind_of_an_existing_system():
    run_create_api_client("wms-1", "--kind", "wms", "--scopes", "events")
    run_create_api_client("wms-1")  # --kind defaults to web; the system stays a WMS
    assert ApiClient.objects.order_by("pk").last().scopes == ["availability", "events", "receipts", "snapshots",
                                                              "transfers"]


def test_all_scopes_only_when_asked_for():
    everything = "events,availability,orders,returns,transfers,snapshots,receipts,master_data"
    run_create_api_client("erp-1", "--kind", "erp", "--scopes", everything)
    assert set(ApiClient.objects.get().scopes) == set(everything.split(","))


def test_unknown_scope_or_location_is_refused():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="Unknown scopes"):
        run_create_api_client("erp-1", "--scopes", "everything")
    with pytest.raises(CommandError, match="Unknown locations"):
        run_create_api_client("erp-1", "--locations", "NOWHERE")
    assert not ApiClient.objects.exists()


def test_token_use_records_last_used_time():
    token = run_create_api_client("erp-1", "--kind", "erp")[-1]
    bearer(token).get("/api/v1/skus")
    assert ApiClient.objects.get().last_used_at is not None


def test_revoked_and_expired_tokens_are_401():
    revoked = run_create_api_client("erp-1", "--kind", "erp")[-1]
    expired = run_create_api_client("erp-2", "--kind", "erp")[-1]
    ApiClient.objects.filter(external_system__code="erp-1").update(revoked_at=timezone.now())
    ApiClient.objects.filter(external_system__code="erp-2").update(expires_at=timezone.now() - timedelta(seconds=1))

    assert bearer(revoked).get("/api/v1/skus").status_code == 401
    assert bearer(expired).get("/api/v1/skus").status_code == 401


def test_a_token_of_a_disabled_system_is_401_from_the_next_request():
    token = run_create_api_client("erp-1", "--kind", "erp")[-1]
    assert bearer(token).get("/api/v1/skus").status_code == 200
    system = ExternalSystem.objects.get(code="erp-1")
    system.enabled = False
    system.save()

    refused = bearer(token).get("/api/v1/skus")
    assert (refused.status_code, refused.json()["code"]) == (401, "authentication_failed")
    system.enabled = True
    system.save()
    assert bearer(token).get("/api/v1/skus").status_code == 200


def test_a_revocation_saved_in_this_process_counts_from_the_next_request():
    token = run_create_api_client("erp-1", "--kind", "erp")[-1]
    for _ in range(2):  # the first use records last_used_at, the second remembers that row
        assert bearer(token).get("/api/v1/skus").status_code == 200
    client = ApiClient.objects.get()
    client.revoked_at = timezone.now()
    client.save()

    assert bearer(token).get("/api/v1/skus").status_code == 401


def test_a_revocation_made_elsewhere_counts_from_the_next_request():
    token = run_create_api_client("erp-1", "--kind", "erp")[-1]
    for _ in range(2):
        assert bearer(token).get("/api/v1/skus").status_code == 200
    # Another process revokes it, with no signal and no save() here.
    ApiClient.objects.update(revoked_at=timezone.now())

    assert bearer(token).get("/api/v1/skus").status_code == 401


def test_every_request_reads_the_client_in_one_query(django_assert_num_queries):
    token = run_create_api_client("erp-1", "--kind", "erp")[-1]
    client = bearer(token)
    client.get("/api/v1/skus")  # the first use records last_used_at
    with django_assert_num_queries(2):  # the token's client, with its user and system; one page
        assert client.get("/api/v1/skus").status_code == 200


def test_an_expiry_counts_on_every_request_even_while_remembered():
    token = run_create_api_client("erp-1", "--kind", "erp")[-1]
    assert bearer(token).get("/api/v1/skus").status_code == 200
    ApiClient.objects.update(expires_at=timezone.now() + timedelta(milliseconds=300))
    assert bearer(token).get("/api/v1/skus").status_code == 200  # read again, remembered with its expiry
    time.sleep(0.35)

    assert bearer(token).get("/api/v1/skus").status_code == 401


def token_login(username: str, password: str = "pw-for-tests-1", **extra):
    return APIClient().post("/api/v1/auth/token", {"username": username, "password": password, **extra},
                            format="json")


def test_staff_exchange_password_for_a_token_that_acts_with_their_role(staff_api):
    alice = staff_api("ops_admin", username="alice").user
    response = token_login("alice", code=code_now(authenticator_for(alice)))

    assert response.status_code == 201
    token = response.json()["token"]
    assert token not in all_text_in_database()
    created = bearer(token).put("/api/v1/skus/A1", {"name": "a", "unit_cost": "1", "price": "2"}, format="json")
    assert created.status_code == 201


def test_staff_token_of_a_role_without_permission_is_403(staff_api):
    fiona = staff_api("finance", username="fiona").user
    token = token_login("fiona", code=code_now(authenticator_for(fiona))).json()["token"]
    response = bearer(token).put("/api/v1/skus/A1", {"name": "a", "unit_cost": "1", "price": "2"}, format="json")
    assert response.status_code == 403


def test_people_without_a_second_factor_get_a_token_with_their_password(staff_api):
    staff_api("inventory_control", username="ivan")

    assert token_login("ivan").status_code == 201


@pytest.mark.parametrize("role", ["finance", "ops_admin"])
def test_the_password_alone_gets_no_token_for_those_who_give_a_second_factor(staff_api, role):
    authenticator_for(staff_api(role, username="fiona").user)

    response = token_login("fiona")

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "mfa_required"
    assert not ApiClient.objects.filter(kind="staff").exists()


def test_a_wrong_or_reused_code_gets_no_token_and_is_on_record(staff_api):
    fiona = staff_api("finance", username="fiona").user
    code = code_now(authenticator_for(fiona))
    assert token_login("fiona", code=code).status_code == 201

    reused = token_login("fiona", code=code)
    wrong = token_login("fiona", code="000000" if code != "000000" else "111111")

    assert (reused.status_code, reused.json()["code"]) == (401, "invalid_mfa_code")
    assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_mfa_code")
    assert ApiClient.objects.filter(kind="staff").count() == 1
    kinds = list(SecondFactorEvent.objects.filter(user=fiona).order_by("pk").values_list("kind", flat=True))
    assert kinds == ["verified", "refused", "refused"]


def test_someone_who_must_give_a_second_factor_but_never_enrolled_is_sent_to_enrol(staff_api):
    staff_api("finance", username="fiona")

    response = token_login("fiona", code="123456")

    assert response.status_code == 403
    assert response.json()["code"] == "mfa_enrolment_required"


@pytest.mark.parametrize("body", [{"username": "alice", "password": "wrong"}, {"username": "ghost", "password": "x"}])
def test_wrong_credentials_are_401(staff_api, body):
    staff_api("ops_admin", username="alice")
    response = APIClient().post("/api/v1/auth/token", body, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


def test_service_users_cannot_log_in_for_a_token():
    run_create_api_client("erp-1", "--kind", "erp")
    response = APIClient().post("/api/v1/auth/token", {"username": "system:erp-1", "password": ""}, format="json")
    assert response.status_code in (400, 401)
    assert not ApiClient.objects.filter(kind="staff").exists()


def test_token_login_is_throttled_per_address(monkeypatch):
    from django.core.cache import cache

    from retailops.throttling import LoginRateThrottle

    monkeypatch.setattr(LoginRateThrottle, "THROTTLE_RATES", {"token_login": "3/min"})
    cache.clear()
    statuses = [
        APIClient().post("/api/v1/auth/token", {"username": "x", "password": "y"}, format="json").status_code
        for _ in range(4)
    ]
    cache.clear()
    assert statuses == [401, 401, 401, 429]
