"""POST /api/v1/snapshots and the reconciliation reads (API.md "Snapshots and reconciliation")."""

import json

import pytest

from integrations.models import InventorySnapshot, InventorySnapshotLine
from reconciliation.models import ReconciliationRun
from reconciliation.services import run_execute

pytestmark = pytest.mark.django_db

AS_OF = "2026-03-01T12:00:00+00:00"


def post_json(client, body, **extra):
    return client.post("/api/v1/snapshots", json.dumps(body), content_type="application/json", **extra)


def post_csv(client, text, as_of=AS_OF):
    return client.generic("POST", f"/api/v1/snapshots?as_of={as_of.replace('+', '%2B')}", text.encode(),
                          content_type="text/csv")


def stored() -> tuple[int, int, int]:
    return (InventorySnapshot.objects.count(), InventorySnapshotLine.objects.count(),
            ReconciliationRun.objects.count())


def test_a_json_snapshot_is_accepted_and_queued_once_on_commit(partner_api, ledger,
                                                              django_capture_on_commit_callbacks):
    ledger("A", "DC1", 5)
    client = partner_api("wms", kind="wms")
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_json(client, {"as_of": AS_OF, "lines": [{"sku": "A", "location": "DC1", "on_hand": 5}]})
    assert response.status_code == 202, response.content
    body = response.json()
    run = ReconciliationRun.objects.get()
    assert body == {"id": run.snapshot_id, "status": "queued", "reconciliation": run.pk, "lines": 1}
    assert len(callbacks) == 1
    snapshot = run.snapshot
    assert (snapshot.source, snapshot.sent_by, snapshot.api_client) == ("api", client.issued.client.user,
                                                                         client.issued.client)


def test_resubmitting_the_same_snapshot_answers_200_with_the_same_ids_and_no_second_run(partner_api, ledger):
    ledger("A", "DC1", 5)
    client = partner_api("wms", kind="wms")
    body = {"as_of": AS_OF, "lines": [{"sku": "A", "location": "DC1", "on_hand": 5}]}
    first = post_json(client, body)
    again = post_json(client, {"lines": body["lines"], "as_of": AS_OF})  # the same content, keys reordered
    as_csv = post_csv(client, "sku,location,on_hand\nA,DC1,5\n")  # and as CSV
    assert (first.status_code, again.status_code, as_csv.status_code) == (202, 200, 200)
    assert first.json()["reconciliation"] == again.json()["reconciliation"] == as_csv.json()["reconciliation"]
    assert stored() == (1, 1, 1)
    other_time = post_json(client, {**body, "as_of": "2026-03-02T12:00:00+00:00"})
    assert other_time.status_code == 202 and stored() == (2, 2, 2)


def test_a_csv_snapshot_and_json_lines_are_accepted(partner_api, ledger):
    ledger("A", "DC1", 5)
    client = partner_api("wms", kind="wms")
    assert post_csv(client, "on_hand,sku,location,note\n5,A,DC1,x\n7,B,DC1,\n").status_code == 202
    lines = '{"sku": "A", "location": "DC1", "on_hand": 4}\n\n{"sku": "B", "location": "DC1", "on_hand": 1}\n'
    response = client.generic("POST", "/api/v1/snapshots?as_of=2026-03-01T13:00:00Z", lines.encode(),
                              content_type="application/x-ndjson")
    assert response.status_code == 202 and response.json()["lines"] == 2


@pytest.mark.parametrize(("text", "field"), [
    ("sku,location,on_hand\nA,DC1,5\nB,DC1,five\nC,DC1,x\n", "row 3"),
    ("sku,location,on_hand\nA,DC1,5\nB,DC1,-1\n", "row 3"),
    ("sku,location,on_hand\nA,DC1,5\n,DC1,1\n", "row 3"),
    ("sku,location,on_hand\nA,DC1,5\nB,DC1\n", "row 3"),
    ("sku,location,on_hand\nA,DC1,5\nB,DC1,1\nA,DC1,2\n", "row 4"),
    ("sku,on_hand\nA,5\n", "row 1"),
])
def test_a_malformed_csv_is_refused_whole_naming_the_first_bad_row(partner_api, ledger, text, field):
    ledger("A", "DC1", 5)
    response = post_csv(partner_api("wms", kind="wms"), text)
    assert response.status_code == 400, response.content
    problem = response.json()
    assert problem["code"] == "invalid_snapshot" and problem["errors"][0]["field"] == field
    assert stored() == (0, 0, 0)


def test_codes_are_kept_as_sent_whatever_they_hold(partner_api):
    client = partner_api("wms", kind="wms")
    text = 'sku,location,on_hand\n"A, large",DC1,5\n"say ""hi""",DC1,1\n"two\nlines",  DC\\1  ,007\n'
    assert post_csv(client, text).status_code == 202
    assert sorted(InventorySnapshotLine.objects.values_list("sku_code", "location_code", "on_hand")) == [
        ("A, large", "DC1", 5), ("say \"hi\"", "DC1", 1), ("two\nlines", "DC\\1", 7)]


def test_a_long_snapshot_names_its_bad_row_wherever_it_is(partner_api):
    """Rows are checked, hashed and written in chunks of thousands, and text decoded in
    blocks: the row named is still the first bad one."""
    client = partner_api("wms", kind="wms")
    rows = [f"S{index},DC1,{index % 7}" for index in range(12_000)]
    duplicate = "\n".join(["sku,location,on_hand", *rows, "S5,DC1,1"]) + "\n"
    response = post_csv(client, duplicate)
    assert response.json()["errors"][0]["field"] == "row 12002" and stored() == (0, 0, 0)
    not_utf8 = ("\n".join(["sku,location,on_hand", *rows[:9_000]]) + "\n").encode() + b"X\xff,DC1,1\n"
    response = client.generic("POST", f"/api/v1/snapshots?as_of={AS_OF.replace('+', '%2B')}", not_utf8,
                              content_type="text/csv")
    assert response.json()["errors"][0]["field"] == "row 9002" and stored() == (0, 0, 0)
    assert post_csv(client, "\n".join(["sku,location,on_hand", *rows]) + "\n").json()["lines"] == 12_000


HEAD = '{"as_of": "' + AS_OF + '", "lines": [{"sku": "A", "location": "DC1", "on_hand": 1}, '


@pytest.mark.parametrize(("body", "field"), [
    (HEAD + '{"sku": "B", "location": "DC1", "on_hand": 1.5}]}', "lines[1].on_hand"),
    (HEAD + '{"sku": "B", "location": "DC1"}]}', "lines[1].on_hand"),
    (HEAD + '{"sku": "B", "location": "DC1", "on_hand": 2', "lines[1]"),
    (HEAD + '{"sku": "B", "location": "", "on_hand": 1}]}', "lines[1].location"),
    (HEAD + '{"sku": "B", "location": "DC1", "on_hand": 1}, {"sku": "A", "location": "DC1", "on_hand": 2}]}',
     "lines[2]"),
    ('{"lines": [{"sku": "A", "location": "DC1", "on_hand": 1}]}', "as_of"),
    ('{"as_of": "' + AS_OF + '"}', "lines"),
    ("[1, 2]", "body"),
])
def test_a_malformed_json_snapshot_is_refused_whole_naming_the_first_bad_row(partner_api, ledger, body, field):
    ledger("A", "DC1", 5)
    response = partner_api("wms", kind="wms").post("/api/v1/snapshots", body, content_type="application/json")
    assert response.status_code == 400, response.content
    problem = response.json()
    assert problem["code"] == "invalid_snapshot" and problem["errors"][0]["field"] == field
    assert stored() == (0, 0, 0)


def test_too_many_lines_are_refused_whole(partner_api, settings):
    settings.SNAPSHOT_MAX_LINES = 2
    response = post_csv(partner_api("wms", kind="wms"), "sku,location,on_hand\nA,DC1,1\nB,DC1,1\nC,DC1,1\n")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "row 4"
    assert stored() == (0, 0, 0)


def test_an_unsupported_body_type_is_415(partner_api):
    response = partner_api("wms", kind="wms").post("/api/v1/snapshots", "x", content_type="text/plain")
    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"


def test_a_line_at_a_known_location_outside_the_token_scope_refuses_the_snapshot(partner_api, ledger):
    ledger("A", "S1", 5)
    ledger("A", "S2", 5)
    client = partner_api("wms", kind="wms", locations=["S1"])
    response = post_csv(client, "sku,location,on_hand\nA,S1,5\nA,S2,5\n")
    assert response.status_code == 403 and response.json()["code"] == "location_out_of_scope"
    assert response.json()["errors"][0]["field"] == "row 3"
    assert stored() == (0, 0, 0)
    # A code the ledger does not know is no one's location: accepted, listed as missing.
    assert post_csv(client, "sku,location,on_hand\nA,S1,5\nA,ELSEWHERE,5\n").status_code == 202


def test_the_snapshot_scope_is_needed_and_staff_cannot_post(partner_api, staff_api):
    response = post_csv(partner_api("wms", kind="wms", scopes=["events"]), "sku,location,on_hand\n")
    assert response.status_code == 403
    assert post_csv(staff_api("inventory_control"), "sku,location,on_hand\n").status_code == 403


# --- Reads ----------------------------------------------------------------------------------


@pytest.fixture
def finished(partner_api, ledger):
    """A run of system `wms` over S1 and S2, executed; its client."""
    ledger("A", "S1", 5, unit_cost="2.00")
    ledger("B", "S1", 5, unit_cost="3.00")
    ledger("A", "S2", 5)
    client = partner_api("wms", kind="wms")
    response = post_csv(client, "sku,location,on_hand\nA,S1,4\nB,S1,1\nA,S2,5\nZ,NOWHERE,1\n")
    run_execute(run_id=response.json()["reconciliation"])
    return response.json()["reconciliation"], client


def test_a_run_reads_with_its_summary(finished):
    run_id, client = finished
    body = client.get(f"/api/v1/reconciliations/{run_id}").json()
    assert body["status"] == "review" and body["system"] == "wms"
    assert body["summary"] == {"lines": 4, "matched": 1, "timing": 0, "variance": 2, "missing_in_ledger": 1,
                               "variance_value": "14.00"}


def test_lines_list_costliest_first_and_filter_by_classification(finished):
    run_id, client = finished
    lines = client.get(f"/api/v1/reconciliations/{run_id}/lines").json()["results"]
    assert [(line["sku"], line["location"], line["value"]) for line in lines][:2] == [
        ("B", "S1", "12.00"), ("A", "S1", "2.00")]
    assert set(lines[0]) >= {"sku", "location", "snapshot_on_hand", "ledger_on_hand_at_as_of", "ledger_on_hand_now",
                             "difference", "classification", "value", "decision"}
    missing = client.get(f"/api/v1/reconciliations/{run_id}/lines?classification=missing_in_ledger").json()
    assert [line["sku"] for line in missing["results"]] == ["Z"]
    assert client.get(f"/api/v1/reconciliations/{run_id}/lines?classification=bogus").status_code == 400


def test_lines_paginate_by_cursor(finished):
    run_id, client = finished
    first = client.get(f"/api/v1/reconciliations/{run_id}/lines?limit=3").json()
    second = client.get(first["next"]).json()
    assert len(first["results"]) == 3 and len(second["results"]) == 1 and second["next"] is None


def test_a_partner_sees_only_its_own_systems_runs(finished, partner_api):
    run_id, _client = finished
    other = partner_api("erp", kind="erp")
    assert other.get(f"/api/v1/reconciliations/{run_id}").status_code == 404
    assert other.get(f"/api/v1/reconciliations/{run_id}/lines").status_code == 404
    assert other.get("/api/v1/reconciliations").json()["results"] == []
    listed = finished[1].get("/api/v1/reconciliations?status=review&system=wms").json()["results"]
    assert [run["id"] for run in listed] == [run_id]


def test_a_location_scoped_partner_sees_only_lines_in_its_scope(finished, partner_api):
    run_id, _client = finished
    scoped = partner_api("wms", kind="wms", locations=["S2"])
    lines = scoped.get(f"/api/v1/reconciliations/{run_id}/lines").json()["results"]
    assert sorted((line["sku"], line["location"]) for line in lines) == [("A", "S2"), ("Z", "NOWHERE")]


def test_store_ops_see_only_their_stores_lines_and_central_roles_see_all(finished, staff_api):
    run_id, _client = finished
    store = staff_api("store_ops", locations=["S1"])
    lines = store.get(f"/api/v1/reconciliations/{run_id}/lines").json()["results"]
    assert sorted(line["location"] for line in lines) == ["S1", "S1"]
    assert store.get(f"/api/v1/reconciliations/{run_id}").status_code == 200
    control = staff_api("inventory_control")
    assert len(control.get(f"/api/v1/reconciliations/{run_id}/lines").json()["results"]) == 4
    assert staff_api("integration_support").get(f"/api/v1/reconciliations/{run_id}").status_code == 403


def test_the_lines_list_takes_a_fixed_number_of_queries(finished, django_assert_max_num_queries):
    run_id, client = finished
    with django_assert_max_num_queries(8):
        client.get(f"/api/v1/reconciliations/{run_id}/lines")
