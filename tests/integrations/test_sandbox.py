"""The sandbox partner itself: dedup by key, ordering by version, fault injection."""

import httpx


def post(sandbox, key, items, partner="market"):
    headers = {"Idempotency-Key": key} if key else {}
    return httpx.post(f"{sandbox.url}/{partner}/availability", json={"items": items}, headers=headers, timeout=5)


def item(version, available=1):
    return {"sku": "A", "location": "L", "available": available, "version": version}


def test_a_resent_key_gets_the_first_answer_and_no_second_effect(sandbox):
    first = post(sandbox, "k1", [item(1, available=5)])
    again = post(sandbox, "k1", [item(1, available=5)])
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert len(sandbox.received()) == 1 and sandbox.counts()["duplicates"] == 1


def test_an_older_version_arriving_late_does_not_overwrite_a_newer_one(sandbox):
    post(sandbox, "k2", [item(2, available=9)])
    post(sandbox, "k1", [item(1, available=3)])
    assert sandbox.state("market")["A|L"]["available"] == 9


def test_faults_are_injected_on_demand(sandbox):
    sandbox.configure(fail_next=1, throttle_next=1, retry_after=4)
    throttled = post(sandbox, "k", [item(1)])
    failed = post(sandbox, "k", [item(1)])
    ok = post(sandbox, "k", [item(1)])
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "4")
    assert (failed.status_code, ok.status_code) == (500, 200)
    assert post(sandbox, "", [item(1)]).status_code == 400
    sandbox.configure(down=True)
    try:
        post(sandbox, "k3", [item(2)])
        raise AssertionError("a down partner answered")
    except httpx.TransportError:
        pass
