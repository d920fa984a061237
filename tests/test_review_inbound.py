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
