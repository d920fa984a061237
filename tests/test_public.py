"""The public pages: /c/{code}, /decisions, /decisions/log and receipts.

Data goes in through the real routes (staff API, signed texts); the pages are read
as a visitor reads them, and their numbers are compared with the results API's.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text

from app.domain import register as register_ops
from app.extensions import db
from app.models import Consultation, Member, Outcome, Vote
from tests.conftest import TWILIO_FROM
from tests.inbound_helpers import World

#: Every public page, HTML only, stays under this many bytes (uncompressed).
PAGE_BUDGET = 8 * 1024


def check_page(response, lang: str = "en", status: int = 200, budget: int = PAGE_BUDGET) -> str:
    """The page's HTML, after checking what every public page must be."""
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    html = response.get_data(as_text=True)
    direction = "rtl" if lang in ("ar", "ur") else "ltr"
    assert f'<html lang="{lang}" dir="{direction}">' in html
    assert "<script" not in html.lower()
    assert " on" + "click=" not in html.lower()
    assert len(response.data) < budget, len(response.data)
    assert 'href="#main"' in html and '<main id="main">' in html
    assert html.count("<h1") == 1
    # Every visible control has a label pointing at it.
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        if 'type="hidden"' in tag:
            continue
        control = re.search(r'id="([^"]+)"', tag)
        assert control, tag
        assert f'for="{control.group(1)}"' in html, tag
    return html


def tally_cells(html: str) -> dict[str, int]:
    """The tally table's numbers by choice, as the page shows them."""
    return {k: int(v) for k, v in re.findall(r'data-choice="([^"]+)">([0-9]+)<', html)}


def vote_by_text(world: World, code: str, body: str, language: str = "en", **extra) -> str:
    """A member who was sent `code` texts `body`; returns their phone."""
    phone = world.member(language=language, **extra)
    world.sent(code, phone)
    world.text(phone, body)
    return phone


def receipt_of(world: World, phone: str, code: str) -> str:
    """The receipt of `phone`'s vote on `code`."""
    with world.app.app_context():
        return db.session.execute(
            select(Vote.receipt)
            .join(Member, Member.id == Vote.member_id)
            .join(Consultation, Consultation.id == Vote.consultation_id)
            .where(Member.phone == phone, Consultation.code == code)
        ).scalar_one()


# ---------------------------------------------------------------------- /c/{code}


def test_consultation_page_shows_the_numbers_the_results_api_shows(client, world):
    world.consultation("P12", body={"en": "The whole story of P12."})
    for body in ["yes", "YES if it is sunny", "no", "abstain", "no but later"]:
        vote_by_text(world, "P12", body)
    api = world.results("P12")
    assert api["votes"] == {"yes": 2, "no": 2, "abstain": 1}
    html = check_page(client.get("/c/P12"))
    assert tally_cells(html) == api["votes"]
    assert "5 people took part." in html
    assert f"{api['comments']} comments." in html and api["comments"] == 2
    assert "The whole story of P12." in html
    assert "40%" in html  # 2 of 5, in the table and as a bar width
    assert 'style="width:40%"' in html


def test_choice_consultation_tally_matches_the_api(client, world):
    world.consultation("P14", "choice", options=["Library", "Community centre", "Online"])
    for body in ["2", "2", "3", "P14 1"]:
        vote_by_text(world, "P14", body)
    html = check_page(client.get("/c/p14"))  # any case
    assert tally_cells(html) == world.results("P14")["votes"] == {"1": 1, "2": 2, "3": 1}
    assert "2. Community centre" in html


@pytest.mark.parametrize("lang", ["en", "ar", "ur", "cy"])
def test_every_page_in_the_visitors_language(client, world, lang):
    world.consultation("P12", title={"en": "Garden", "ar": "الحديقة"})
    phone = vote_by_text(world, "P12", "yes")
    receipt = receipt_of(world, phone, "P12")
    for path in [
        "/c/P12",
        "/decisions",
        "/decisions/log",
        f"/receipts/P12/{receipt}",
        "/receipts",
        "/",
    ]:
        check_page(client.get(f"{path}?lang={lang}" if "?" not in path else path), lang)
    check_page(client.get(f"/c/NOPE1?lang={lang}"), lang, status=404)
    page = check_page(client.get(f"/c/P12?lang={lang}"), lang)
    if lang == "ar":
        assert "الحديقة" in page and 'lang="en"' not in page.split("<h1>")[1].split("</h1>")[0]


def test_accept_language_and_the_language_cookie(client, world):
    world.consultation("P12")
    check_page(client.get("/c/P12", headers={"Accept-Language": "ar,en;q=0.5"}), "ar")
    response = client.get("/decisions?lang=ur")
    check_page(response, "ur")
    assert "lang=ur" in response.headers["Set-Cookie"]
    # The cookie carries the choice to the next page, over Accept-Language.
    check_page(client.get("/c/P12", headers={"Accept-Language": "en"}), "ur")


def test_a_fallback_text_is_marked_with_its_own_language(client, world):
    world.consultation("P12", title={"en": "Garden"})
    html = check_page(client.get("/c/P12?lang=ar"), "ar")
    assert '<span lang="en" dir="ltr">Garden</span>' in html


def test_drafts_and_unknown_codes_are_not_found(client, world):
    world.consultation("P20", open_=False, title={"en": "Secret draft"})
    for path in ["/c/P20", "/c/NOPE1", "/c/%21%21", "/receipts/P20/ACDEFG", "/v/nonsense"]:
        html = check_page(client.get(path), status=404)
        assert "Page not found" in html or "No such receipt" in html
        assert "Secret draft" not in html
    assert "P20" not in client.get("/decisions").get_data(as_text=True)


def test_private_results_show_no_tally(client, world):
    world.consultation("P13", results_public=False)
    vote_by_text(world, "P13", "yes")
    html = check_page(client.get("/c/P13"))
    assert tally_cells(html) == {}
    assert "The votes on this consultation are not public." in html
    assert "1 person took part." in html


def test_decision_rule_dates_and_how_to_text(client, api, world):
    response = api.post(
        "/consultations",
        json={
            "code": "P15",
            "kind": "yes_no",
            "title": {"en": "Rule"},
            "summary": {"en": "S"},
            "closes_at": "2030-01-15T12:00:00Z",
            "decision": {"by": "allies", "quorum": 12, "threshold": 0.6},
        },
    )
    assert response.status_code == 201
    api.post("/consultations/P15/open")
    html = check_page(client.get("/c/P15"))
    assert "The Allies Group advises" in html
    assert "at least 12 people take part" in html
    assert "at least 60% of the votes are YES" in html
    # London is on GMT in January (babel joins date and time as the locale does).
    assert re.search(r"Closes: 15 January 2030(,| at) 12:00<", html)
    assert "Times are United Kingdom Time." in html
    assert f"Text {TWILIO_FROM}:" in html
    assert "Reply P15 YES, NO or ABSTAIN" in html
    assert "INFO P15" in html and "STOP" in html


def test_dates_are_in_the_organisations_time_zone(make_app):
    app = make_app(TIMEZONE="America/New_York")
    client = app.test_client()
    with app.app_context():
        from datetime import UTC, datetime

        db.session.add(
            Consultation(
                code="P16",
                kind="open",
                status="open",
                title={"en": "T"},
                summary={"en": "S"},
                closes_at=datetime(2030, 1, 15, 12, 0, tzinfo=UTC),
            )
        )
        db.session.commit()
    html = check_page(client.get("/c/P16"))
    assert re.search(r"Closes: 15 January 2030(,| at) 07:00<", html)
    assert "This consultation asks for comments only." in html


def test_closed_and_decided(client, api, world):
    world.consultation("P17", "choice", options=["A", "B"])
    vote_by_text(world, "P17", "2")
    response = api.post(
        "/consultations/P17/outcome",
        json={"text": {"en": "We chose B. " + "Because. " * 40}, "notify": False},
    )
    assert response.status_code == 200, response.get_json()
    html = check_page(client.get("/c/P17"))
    assert "Decided" in html and "What was decided" in html and "We chose B." in html
    assert "Reply P17" not in html
    assert "This consultation has closed." in html
    register = check_page(client.get("/decisions"))
    row = register.split('href="/c/P17"')[1].split("</tr>")[0]
    assert "Decided" in row and "Community vote" in row
    assert '<td class="n">1</td>' in row
    assert "We chose B." in row and "…" in row  # the summary is cut
    assert len(row) < 600


# ---------------------------------------------------------------------- /decisions


def test_register_lists_every_public_consultation_with_participants(client, world):
    world.consultation("P1")
    world.consultation("P2", results_public=False)
    world.consultation("P3")
    world.close("P3")
    world.consultation("P4", open_=False)
    vote_by_text(world, "P1", "yes")
    vote_by_text(world, "P1", "no")
    vote_by_text(world, "P2", "yes")
    html = check_page(client.get("/decisions"))
    codes = re.findall(r'<a href="/c/([A-Z0-9]+)">', html)
    assert codes == ["P3", "P2", "P1"]  # newest first, no draft
    cells = dict(re.findall(r'href="/c/(P\d)">.*?<td class="n">(\d+)</td>', html))
    assert cells == {"P1": "2", "P2": "1", "P3": "0"}
    assert world.results("P1")["participants"] == 2
    assert "3 consultations" in html


def test_register_pages_stay_under_budget_with_long_texts(client, app):
    outcome = "The spring meeting will be at the community centre on 12 April, as most chose. "
    with app.app_context():
        for n in range(1, 26):
            consultation = Consultation(
                code=f"Q{n}",
                kind="yes_no",
                status="decided",
                title={"en": f"Q{n}: open the community garden on Sundays in spring and summer"},
                summary={},
            )
            db.session.add(consultation)
            db.session.flush()
            db.session.add(Outcome(consultation_id=consultation.id, text={"en": outcome * 5}))
        db.session.commit()
    assert register_ops.PER_PAGE == 10
    first = check_page(client.get("/decisions"))
    assert 'href="/c/Q25"' in first and 'href="/c/Q15"' not in first and "Page 1 of 3" in first
    assert 'rel="next"' in first and 'rel="prev"' not in first
    last = check_page(client.get("/decisions?page=3&lang=ar"), "ar")
    assert 'href="/c/Q5"' in last and 'href="/c/Q6"' not in last and 'rel="next"' not in last
    assert check_page(client.get("/decisions?page=x&lang=en")) == first
    assert check_page(client.get("/decisions?page=99")).count("<tr>") == 1 + 5  # the last page


def test_register_links_the_tamper_evident_log(make_app, api_for):
    app, client, api = api_for()
    api.post(
        "/consultations",
        json={"code": "A1", "kind": "open", "title": {"en": "T"}, "summary": {"en": "S"}},
    )
    api.post("/consultations/A1/open")
    with app.app_context():
        head = db.session.execute(text("SELECT seq, hash FROM audit_head")).one()
    html = check_page(client.get("/decisions"))
    assert f"It has {head.seq} entries." in html and head.seq >= 2
    assert head.hash[:16] in html
    assert 'href="/decisions/log"' in html
    log = check_page(client.get("/decisions/log"))
    assert "The log is intact." in log and head.hash in log
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET actor = 'someone-else' WHERE seq = 1"))
    log = check_page(client.get("/decisions/log"))
    assert "The log is broken" in log and "The log is intact." not in log


@pytest.fixture
def api_for(make_app):
    """An app with the audit check uncached, its client and a staff API caller."""

    def build():
        app = make_app(config={"AUDIT_CHECK_TTL": 0})
        client = app.test_client()
        token = app.test_cli_runner().invoke(args=["api-token", "create", "t"]).output.split()[-1]

        class Api:
            def post(self, path, **kw):
                headers = {"Authorization": f"Bearer {token}"}
                return client.post("/api/v1" + path, headers=headers, **kw)

        return app, client, Api()

    return build


def test_audit_check_is_reused_until_the_head_moves(client, app, world):
    world.consultation("A2")
    assert "The log is intact." in client.get("/decisions/log").get_data(as_text=True)
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET actor = 'x' WHERE seq = 1"))
    # Within the minute, the cached check answers (the chain is not re-read)...
    assert "The log is intact." in client.get("/decisions/log").get_data(as_text=True)
    # ...but a new event moves the head, and the next check reads everything again.
    world.consultation("A3")
    assert "The log is broken" in client.get("/decisions/log").get_data(as_text=True)


def test_public_pages_are_cacheable_and_answer_304(client, world):
    world.consultation("P12")
    first = client.get("/c/P12")
    assert first.headers["Cache-Control"] == "public, no-cache"
    assert "Accept-Language" in first.headers["Vary"]
    again = client.get("/c/P12", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    vote_by_text(world, "P12", "yes")
    changed = client.get("/c/P12", headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200


# ---------------------------------------------------------------------- receipts


def test_receipt_found_in_any_case_and_never_shows_who(client, world):
    world.consultation("P12")
    phone = vote_by_text(world, "P12", "no", name="Zebedee Quill")
    receipt = receipt_of(world, phone, "P12")
    for path in [f"/receipts/P12/{receipt}", f"/receipts/p12/{receipt.lower()}"]:
        html = check_page(client.get(path))
        assert f"Receipt {receipt}" in html
        assert "This vote counts, as: <span>NO</span>" in html
        assert "It came by text message." in html
        assert "The consultation is open" in html
        assert "Zebedee" not in html and "Quill" not in html
        for digits in (phone, phone[1:], phone[3:], phone[-6:]):
            assert digits not in html
    response = client.get(f"/receipts/P12/{receipt}")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_receipt_after_close_and_after_a_change(client, world):
    world.consultation("P12")
    phone = vote_by_text(world, "P12", "yes")
    world.text(phone, "no")
    receipt = receipt_of(world, phone, "P12")
    world.close("P12")
    html = check_page(client.get(f"/receipts/P12/{receipt}"))
    assert "<span>NO</span>" in html
    assert "this is the final vote, and it is in the count" in html


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/receipts/P12/ACDEFG", "There is no vote with the receipt ACDEFG on P12."),
        ("/receipts/P12/%3Cb%3E", "There is no vote with the receipt &lt;b&gt; on P12."),
        ("/receipts/P99/ACDEFG", "There is no consultation with the code P99."),
    ],
)
def test_unknown_receipt_is_a_clear_404(client, world, path, says):
    world.consultation("P12")
    vote_by_text(world, "P12", "yes")
    html = check_page(client.get(path), status=404)
    assert "No such receipt" in html and says in html
    assert 'action="/receipts"' in html


def test_receipt_of_another_consultation_is_not_found(client, world):
    world.consultation("P12")
    world.consultation("P13")
    phone = vote_by_text(world, "P12", "yes")
    receipt = receipt_of(world, phone, "P12")
    check_page(client.get(f"/receipts/P13/{receipt}"), status=404)


def test_receipt_form_on_the_consultation_page_finds_the_vote(client, world):
    world.consultation("P12")
    phone = vote_by_text(world, "P12", "abstain")
    receipt = receipt_of(world, phone, "P12")
    html = check_page(client.get("/c/P12"))
    assert '<form method="get" action="/receipts">' in html
    assert '<input type="hidden" name="consultation" value="P12">' in html
    typed = f" {receipt[:3].lower()}-{receipt[3:]} "
    response = client.get("/receipts", query_string={"consultation": "p12", "receipt": typed})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/receipts/P12/{receipt}"
    assert "ABSTAIN" in check_page(client.get(response.headers["Location"]))


def test_receipt_form_needs_both_fields(client):
    check_page(client.get("/receipts"))
    html = check_page(client.get("/receipts?receipt=ABC"), status=422)
    assert "Give the consultation code and the receipt" in html
