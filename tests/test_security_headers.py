"""Headers on every answer, no-store on private pages, and the request size limit."""

from __future__ import annotations

import pytest

from app.security import CSP
from tests.staff_helpers import staff_client


@pytest.mark.parametrize("path", ["/", "/decisions", "/staff/login", "/api/v1/openapi.json"])
def test_every_answer_carries_the_security_headers(app, path):
    response = app.test_client().get(path)
    assert response.status_code == 200
    headers = response.headers
    assert headers["Content-Security-Policy"] == CSP
    assert "frame-ancestors 'none'" in CSP and "script-src 'self'" in CSP
    assert "unsafe-inline" not in CSP.split("script-src")[1].split(";")[0]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Frame-Options"] == "DENY"


def test_staff_pages_are_not_stored_and_public_ones_may_be(app):
    client = staff_client(app, "viewer")
    assert client.get("/staff/").headers["Cache-Control"] == "no-store"
    assert app.test_client().get("/staff/login").headers["Cache-Control"] == "no-store"
    assert "no-store" not in app.test_client().get("/decisions").headers.get("Cache-Control", "")


def test_hsts_only_when_the_public_origin_is_https(make_app):
    plain = make_app(PUBLIC_BASE_URL="http://chorus.test")
    assert "Strict-Transport-Security" not in plain.test_client().get("/").headers
    secure = make_app(PUBLIC_BASE_URL="https://chorus.example.org")
    hsts = secure.test_client().get("/").headers["Strict-Transport-Security"]
    assert hsts.startswith("max-age=31536000")


def test_no_page_carries_an_inline_script(app):
    client = staff_client(app, "admin")
    for path in ("/", "/decisions", "/staff/", "/staff/login", "/staff/simulator"):
        html = client.get(path).get_data(as_text=True)
        for tag in html.split("<script")[1:]:
            assert "src=" in tag.split(">")[0], f"inline script on {path}"


def test_a_request_over_the_limit_gets_413_and_changes_nothing(app, api):
    big = "x" * (1024 * 1024 + 1)
    response = api.post("/members", json={"phone": "+447400123456", "name": big})
    assert response.status_code == 413
    assert response.get_json() == {"error": "the request body is too large"}
    assert api.get("/members/%2B447400123456").status_code == 404
    page = app.test_client().post("/c/P1/link", data={"phone": big})
    assert page.status_code == 413
    assert "more than this page accepts" in page.get_data(as_text=True)
    staff = app.test_client().post("/staff/login", data={"email": big})
    assert staff.status_code == 413  # the console's own answer (app/staff)
