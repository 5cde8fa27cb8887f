"""`Idempotency-Key` on POST (API.md "Idempotency").

The mechanism is one decorator; these tests drive it through a small view whose effect
is countable (it creates an external system). Endpoints that use it test their own
replays in their apps.
"""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.urls import path
from django.utils import timezone
from rest_framework import status
from rest_framework.response import Response
from rest_framework.test import APIClient
from rest_framework.views import APIView

from backoffice.urls import urlpatterns as project_urlpatterns
from integrations.models import ExternalSystem
from retailops.errors import InvalidState
from retailops.idempotency import idempotency_purge_expired, idempotent
from retailops.models import IdempotencyRecord

pytestmark = pytest.mark.urls(__name__)

release_slow_request = threading.Event()
slow_request_started = threading.Event()


class CreateSystemView(APIView):
    required_scope = "master_data"

    @idempotent
    def post(self, request):
        with transaction.atomic():
            system = ExternalSystem.objects.create(code=request.data["code"], name="x", kind="erp")
        if request.data.get("then") == "wait":
            slow_request_started.set()
            assert release_slow_request.wait(timeout=20)
        if request.data.get("then") == "refuse":
            raise InvalidState("refused after the effect")
        if request.data.get("then") == "crash":
            raise RuntimeError("crash after the effect")
        return Response({"id": system.pk, "code": system.code}, status=status.HTTP_201_CREATED,
                        headers={"Location": f"/systems/{system.pk}"})


urlpatterns = [path("api/v1/test/systems", CreateSystemView.as_view()), *project_urlpatterns]
handler404 = "retailops.problems.page_not_found"

URL = "/api/v1/test/systems"


def post(client, body, key="key-1"):
    return client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
def test_same_key_same_body_replays_the_original_response_without_a_second_effect(partner_api):
    client = partner_api()
    first = post(client, {"code": "erp-1"})
    again = post(client, {"code": "erp-1"})

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert again["Location"] == first["Location"]
    assert "Idempotent-Replayed" not in first
    assert ExternalSystem.objects.filter(code="erp-1").count() == 1


@pytest.mark.django_db
def test_body_equality_ignores_key_order_and_whitespace(partner_api):
    client = partner_api()
    post(client, {"code": "erp-1", "note": "a"})
    again = client.post(URL, data='{ "note": "a",  "code": "erp-1" }', content_type="application/json",
                        HTTP_IDEMPOTENCY_KEY="key-1")
    assert again["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_same_key_different_body_is_422(partner_api):
    client = partner_api()
    post(client, {"code": "erp-1"})
    reused = post(client, {"code": "erp-2"})

    assert reused.status_code == 422
    assert reused["Content-Type"] == "application/problem+json"
    assert reused.json()["code"] == "idempotency_key_reused"
    assert not ExternalSystem.objects.filter(code="erp-2").exists()


@pytest.mark.django_db
def test_keys_are_scoped_per_client(partner_api):
    first = post(partner_api("partner-a"), {"code": "erp-a"})
    second = post(partner_api("partner-b"), {"code": "erp-b"})

    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in second


@pytest.mark.django_db
def test_a_refusal_is_replayed_too(partner_api):
    client = partner_api()
    first = post(client, {"code": "erp-1", "then": "refuse"})
    again = post(client, {"code": "erp-1", "then": "refuse"})

    assert first.status_code == again.status_code == 409
    assert again.json() == first.json()
    assert again["Content-Type"] == "application/problem+json"
    assert again["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
def test_a_server_error_rolls_the_effect_back_and_releases_the_key(partner_api):
    client = partner_api()
    crashed = post(client, {"code": "erp-1", "then": "crash"})
    retried = post(client, {"code": "erp-1"})

    assert crashed.status_code == 500
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried
    assert ExternalSystem.objects.filter(code="erp-1").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "   ", "k" * 256, "k\x00"])
def test_invalid_keys_are_400(partner_api, key):
    response = post(partner_api(), {"code": "erp-1"}, key=key)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert not ExternalSystem.objects.filter(code="erp-1").exists()


@pytest.mark.django_db
def test_a_key_of_255_characters_is_accepted(partner_api):
    assert post(partner_api(), {"code": "erp-1"}, key="k" * 255).status_code == 201


def _fingerprint_of(body) -> str:
    from rest_framework.parsers import JSONParser
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from retailops.idempotency import request_fingerprint

    request = Request(APIRequestFactory().post(URL, body, format="json"), parsers=[JSONParser()])
    return request_fingerprint(request)


@pytest.mark.django_db
def test_a_key_held_by_a_request_that_died_is_taken_over_after_the_lock_timeout(partner_api):
    client = partner_api()
    body = {"code": "erp-1"}
    record = IdempotencyRecord.objects.create(
        client_key=f"client:{client.issued.client.pk}", key="key-1", request_fingerprint=_fingerprint_of(body),
        locked_at=timezone.now(), expires_at=timezone.now() + timedelta(hours=24),
    )
    still_running = post(client, body)
    IdempotencyRecord.objects.filter(pk=record.pk).update(locked_at=timezone.now() - timedelta(hours=1))
    taken_over = post(client, body)

    assert still_running.status_code == 409
    assert still_running.json()["code"] == "idempotency_key_in_use"
    assert taken_over.status_code == 201
    assert ExternalSystem.objects.filter(code="erp-1").count() == 1


@pytest.mark.django_db
def test_expired_keys_are_purged_and_the_key_is_free_again(partner_api):
    client = partner_api()
    post(client, {"code": "erp-1"})
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert idempotency_purge_expired() == 1
    assert not IdempotencyRecord.objects.exists()
    reused_after_expiry = post(client, {"code": "erp-2"})
    assert reused_after_expiry.status_code == 201


@pytest.mark.django_db
def test_records_are_kept_24_hours(partner_api):
    post(partner_api(), {"code": "erp-1"})
    record = IdempotencyRecord.objects.get()
    assert record.expires_at - record.created_at >= timedelta(hours=24) - timedelta(seconds=5)
    assert idempotency_purge_expired() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_same_key_while_the_first_request_runs_is_409_in_use(partner_api):
    client = partner_api()
    token = client._credentials["HTTP_AUTHORIZATION"]
    release_slow_request.clear()
    slow_request_started.clear()
    results = {}

    def first_request():
        own = APIClient()
        own.credentials(HTTP_AUTHORIZATION=token)
        try:
            results["first"] = post(own, {"code": "erp-1", "then": "wait"})
        finally:
            connection.close()

    thread = threading.Thread(target=first_request)
    thread.start()
    try:
        assert slow_request_started.wait(timeout=20)
        results["second"] = post(client, {"code": "erp-1", "then": "wait"})
    finally:
        release_slow_request.set()
        thread.join(timeout=30)

    assert results["second"].status_code == 409
    assert results["second"].json()["code"] == "idempotency_key_in_use"
    assert results["first"].status_code == 201
    replay = post(client, {"code": "erp-1", "then": "wait"})
    assert replay["Idempotent-Replayed"] == "true"
    assert ExternalSystem.objects.filter(code="erp-1").count() == 1
