"""Review of inbound texts, the staff API and the public pages: each test here failed before
the fix committed with it (bad input that gave a 500, STOP not honoured, racing writes).

Run on PostgreSQL too (TEST_DATABASE_URL): several of these only fail there.
"""

from __future__ import annotations

import pytest

from tests.inbound_helpers import World


@pytest.fixture
def world(app, api, signed_post):
    """Members, consultations and a signed texter on the test app."""
    return World(app, api, signed_post)


# --- public pages ----------------------------------------------------------------------


@pytest.mark.parametrize("page", ["%C2%B2", "%C2%B9%C2%B2"])  # "²", "¹²": digits, not decimals
def test_register_page_number_in_superscript_digits_is_not_a_500(client, page):
    response = client.get(f"/decisions?page={page}")
    assert response.status_code == 200
    assert client.get("/decisions?page=%D9%A1").status_code == 200  # Arabic-Indic 1 still reads


# --- staff API: consultations ----------------------------------------------------------


def draft(api, **fields):
    """POST a small yes/no draft with `fields` added; the response."""
    payload = {"code": "Q1", "kind": "yes_no", "title": {"en": "T"}, "summary": {"en": "S"}}
    return api.post("/consultations", json={**payload, **fields})


@pytest.mark.parametrize("quorum", [2**31, 10**12, 10**30])
def test_quorum_too_big_for_the_column_is_422_not_a_500(api, quorum):
    response = draft(api, decision={"by": "community", "quorum": quorum})
    assert response.status_code == 422
    assert "quorum" in response.get_json()["error"]
    assert api.get("/consultations/Q1").status_code == 404
    assert draft(api, decision={"by": "community", "quorum": 1_000_000}).status_code == 201
