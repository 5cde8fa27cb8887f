"""Lists paginate by cursor (API.md "Lists"); a cursor or a page size the list cannot use
is the client's mistake, a 400 problem, never a 404 or a 500."""

from base64 import b64encode

import pytest

from tests.inventory.factories import SkuFactory

pytestmark = pytest.mark.django_db


def crafted(querystring: str) -> str:
    return b64encode(querystring.encode("ascii")).decode("ascii")


@pytest.fixture
def client(partner_api):
    SkuFactory.create_batch(3)
    return partner_api(scopes=["master_data", "events"])


def test_pages_follow_their_next_links(client):
    first = client.get("/api/v1/skus", {"limit": 2}).json()
    second = client.get(first["next"]).json()

    assert len(first["results"]) == 2
    assert len(second["results"]) == 1
    assert second["next"] is None


@pytest.mark.parametrize(("url", "cursor"), [
    ("/api/v1/skus", "not-a-cursor"),
    ("/api/v1/skus", crafted("o=-1")),
    ("/api/v1/skus", crafted("p=%00")),  # ordered by code
    ("/api/v1/cases", crafted("p=abc")),  # ordered by id
    ("/api/v1/cases", crafted("p=1.5")),
])
def test_a_cursor_the_list_did_not_give_out_is_a_400(client, url, cursor):
    response = client.get(url, {"cursor": cursor})

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_cursor"
    assert response.json()["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize("limit", ["abc", "0", "-1", "1.5", "\x00"])
def test_a_page_size_that_is_not_a_positive_integer_is_a_400(client, limit):
    response = client.get("/api/v1/skus", {"limit": limit})

    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["field"] == "limit"


def test_a_page_size_above_the_maximum_is_the_maximum(client):
    assert client.get("/api/v1/skus", {"limit": 10_000}).status_code == 200
