"""The snapshot upload screen: a system's CSV, as of a time in the app's time zone, stored
through the one intake and queued; then the run. A malformed file is refused whole with
its first bad row named, in the app's layout, and nothing is stored. Only the roles that
review every location upload."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from integrations.models import InventorySnapshot, InventorySnapshotLine
from reconciliation.models import ReconciliationRun
from reconciliation.services import run_execute
from reconciliation.states import RunStatus
from retailops.roles import Role
from tests.inventory.factories import LocationFactory
from tests.reconciliation.factories import ExternalSystemFactory
from tests.reconciliation.test_review_screens import browser, flashes

pytestmark = pytest.mark.django_db

GOOD = b"sku,location,on_hand\nA,DC1,5\nB,DC1,3\nGHOST,DC1,1\n"


def csv_file(content: bytes, name: str = "snapshot.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


@pytest.fixture
def wms():
    return ExternalSystemFactory(code="wms-up", name="Upload warehouse", kind="wms")


def upload(client, system, content: bytes, *, as_of: str = "2026-03-01T12:00"):
    return client.post("/reconciliation/upload/", {"system": system.pk, "as_of": as_of, "file": csv_file(content)})


@pytest.mark.parametrize("role", [Role.INVENTORY_CONTROL, Role.FINANCE, Role.OPS_ADMIN])
def test_reviewing_roles_see_the_upload_form_and_the_link_to_it(role, wms):
    ExternalSystemFactory(code="shop", kind="web")
    ExternalSystemFactory(code="wms-off", kind="wms", enabled=False)
    client = browser(role, f"user-{role}")

    page = client.get("/reconciliation/upload/")

    assert page.status_code == 200
    assert [system.code for system in page.context["form"].fields["system"].queryset] == ["wms-up"]
    assert 'enctype="multipart/form-data"' in page.content.decode()
    assert 'type="datetime-local"' in page.content.decode()
    assert 'href="/reconciliation/upload/"' in client.get("/reconciliation/").content.decode()


@pytest.mark.parametrize("role", [Role.STORE_OPS, Role.INTEGRATION_SUPPORT])
def test_other_roles_may_not_upload(role, wms):
    LocationFactory(code="DC1")
    client = browser(role, f"user-{role}", locations=("DC1",) if role == Role.STORE_OPS else ())

    assert client.get("/reconciliation/upload/").status_code == 403
    assert upload(client, wms, GOOD).status_code == 403
    assert not InventorySnapshot.objects.exists()
    if role == Role.STORE_OPS:
        assert 'href="/reconciliation/upload/"' not in client.get("/reconciliation/").content.decode()


def test_an_upload_stores_the_snapshot_as_of_local_time_and_queues_its_run(
        wms, ledger, django_capture_on_commit_callbacks):
    ledger("A", "DC1", 5)
    ledger("B", "DC1", 5)
    control = browser(Role.INVENTORY_CONTROL, "control")

    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(control, wms, GOOD)

    run = ReconciliationRun.objects.get()
    assert response.status_code == 302 and response.url == f"/reconciliation/{run.pk}/"
    assert len(callbacks) == 1  # the run is handed to a worker once the upload commits
    snapshot = run.snapshot
    assert (snapshot.source, snapshot.sent_by, snapshot.system, snapshot.line_count) == (
        "upload", control.user, wms, 3)
    assert snapshot.as_of == datetime(2026, 3, 1, 12, 0, tzinfo=ZoneInfo(settings.TIME_ZONE))
    assert run.status == RunStatus.QUEUED
    assert flashes(response) == [f"Snapshot stored (3 lines); reconciliation #{run.pk} is queued and runs in a moment."]
    assert run.history.earliest().history_user == control.user

    run = run_execute(run_id=run.pk)  # what the worker does
    assert (run.status, run.matched, run.variance, run.missing_in_ledger) == (RunStatus.REVIEW, 1, 1, 1)
    page = control.get(response.url)
    assert page.status_code == 200 and "GHOST" in page.content.decode()


def test_the_same_file_again_leads_to_the_run_already_there(wms, django_capture_on_commit_callbacks):
    control = browser(Role.INVENTORY_CONTROL, "control")
    first = upload(control, wms, GOOD)

    with django_capture_on_commit_callbacks() as callbacks:
        again = upload(control, wms, GOOD)

    run = ReconciliationRun.objects.get()
    assert again.url == first.url == f"/reconciliation/{run.pk}/"
    assert not callbacks
    assert "was stored before" in flashes(again)[-1]


@pytest.mark.parametrize(("content", "named"), [
    (b"sku,location,on_hand\nA,DC1,5\nB,DC1,minus two\n", "row 3"),
    (b"sku,location,on_hand\nA,DC1,5\nA,DC1,6\n", "row 3"),
    (b"sku,location\nA,DC1\n", "row 1"),
    (b"sku,location,on_hand\nA,DC1,5\n,DC1,4\n", "row 3"),
    (b"sku,location,on_hand\nA,DC1,5\n\xff\xfe,DC1,4\n", "row 3"),
    (b"", "The file is empty"),
])
def test_a_malformed_file_is_refused_whole_naming_its_first_bad_row(wms, content, named):
    control = browser(Role.INVENTORY_CONTROL, "control")

    response = upload(control, wms, content)

    assert response.status_code == 400
    body = response.content.decode()
    assert "Upload a snapshot" in body and 'class="card inv-form"' in body  # the app's layout, the form again
    [message] = flashes(response)
    assert message.startswith("Nothing was stored: ") and named in message
    assert not InventorySnapshot.objects.exists() and not InventorySnapshotLine.objects.exists()
    assert not ReconciliationRun.objects.exists()


@pytest.mark.parametrize(("left_out", "as_of", "problem"), [
    ("system", "2026-03-01T12:00", "Choose the system"),
    ("", "", "Say when"),
    ("", "yesterday", "Enter the date and time"),
    ("file", "2026-03-01T12:00", "Choose the CSV file"),
])
def test_a_form_missing_a_part_says_which(wms, left_out, as_of, problem):
    control = browser(Role.INVENTORY_CONTROL, "control")
    post = {"system": wms.pk, "as_of": as_of, "file": csv_file(GOOD)}
    post.pop(left_out, None)

    response = control.post("/reconciliation/upload/", post)

    assert response.status_code == 400
    assert problem in flashes(response)[0]
    assert not InventorySnapshot.objects.exists()


def test_the_upload_needs_csrf(wms):
    client = browser(Role.INVENTORY_CONTROL, "control", enforce_csrf_checks=True)

    assert upload(client, wms, GOOD).status_code == 403
    assert not InventorySnapshot.objects.exists()


def test_signed_out_the_upload_asks_to_sign_in(wms):
    response = Client().get("/reconciliation/upload/")

    assert response.status_code == 302 and "login" in response.url


def test_a_failed_run_can_be_run_again_from_its_page(wms, django_capture_on_commit_callbacks):
    from tests.reconciliation.factories import RunFactory

    run = RunFactory(status=RunStatus.FAILED, error="OperationalError: the server closed the connection",
                     snapshot__system=wms)
    control = browser(Role.INVENTORY_CONTROL, "control")
    page = control.get(f"/reconciliation/{run.pk}/")
    assert "Run it again" in page.content.decode()

    with django_capture_on_commit_callbacks() as callbacks:
        response = control.post(f"/reconciliation/{run.pk}/retry/")

    assert response.status_code == 302 and response.url == f"/reconciliation/{run.pk}/"
    assert len(callbacks) == 1
    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.QUEUED, "")
    assert flashes(response) == [f"Reconciliation #{run.pk} is queued again."]
    again = control.post(f"/reconciliation/{run.pk}/retry/")  # no longer failed
    assert again.status_code == 302 and flashes(again)[-1].startswith("Not queued: ")
    assert "Run it again" not in control.get(f"/reconciliation/{run.pk}/").content.decode()
    store = browser(Role.STORE_OPS, "store")
    assert store.post(f"/reconciliation/{run.pk}/retry/").status_code == 403


def test_the_upload_takes_get_and_post_only(wms):
    control = browser(Role.INVENTORY_CONTROL, "control")

    assert control.put("/reconciliation/upload/").status_code == 405
    assert control.delete("/reconciliation/upload/").status_code == 405
