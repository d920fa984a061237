"""The consultation and broadcast screens in chromium: app/static/segments.js counts
exactly as app/sms/segments.py (the same worst-case strings), the live figures equal
the server's "Check", the form works with JavaScript off, the pages a POST renders
(the form with its errors, the confirm step) pass axe, and a broadcast's progress
page reloads itself with no JavaScript."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.domain import broadcasts as broadcasts_ops
from app.extensions import db
from app.models import Broadcast, Consultation, utcnow
from app.sms import segments
from tests.browser.helpers import axe_violations, browser_sign_in
from tests.outbox_helpers import Person, Staff, add_members, many
from tests.segment_cases import WORST_CASES
from tests.staff_helpers import make_account

SCRIPT = Path(__file__).resolve().parents[2] / "app" / "static" / "segments.js"
NEW = "/staff/consultations/new"


@pytest.fixture
def app(sending_app):
    """Texts go to FakeTwilio, jobs inline (a broadcast sent "now" completes)."""
    return sending_app


@pytest.fixture
def organiser(app, live, page):
    """`page`, signed in as an organiser on the live app; returns the base URL."""
    make_account(app, "organiser")
    browser_sign_in(page, live.url, "organiser@example.org")
    return live.url


def test_the_script_counts_exactly_as_python(page):
    page.set_content('<!doctype html><html lang="en"><head></head><body></body></html>')
    page.add_script_tag(path=str(SCRIPT))
    texts = [text for _, text in WORST_CASES]
    got = page.evaluate(
        """texts => JSON.parse(texts).map(t => {
            const c = ChorusSegments.count(t);
            return [c.encoding, c.segments, c.units, c.perSegment, c.remaining, c.characters,
                    JSON.stringify(ChorusSegments.strip(t))];
        })""",
        json.dumps(texts),  # ASCII JSON: a lone surrogate travels as \ud800
    )
    for (name, text), counted in zip(WORST_CASES, got, strict=True):
        info = segments.count(text)
        want = [info.encoding, info.segments, info.units, info.per_segment, info.remaining]
        assert counted[:5] == want, name
        assert counted[5] == len(text), name
        assert json.loads(counted[6]) == text.strip(), name


READ_FIGURES = """() => Object.fromEntries(
    [...document.querySelectorAll('[data-figures]')].map(e => [e.dataset.figures, {
        characters: e.querySelector('[data-out=characters]').textContent,
        encoding: e.querySelector('[data-out=encoding]').textContent,
        segments: e.querySelector('[data-out=segments]').textContent,
        recipients: e.querySelector('[data-out=recipients]').textContent,
        amount: e.querySelector('[data-out=cost]').dataset.amount,
        fallback: e.querySelector('[data-out=fallback]').hidden,
        over: e.querySelector('[data-out=over]').hidden,
    }]).concat([['total', {
        recipients: document.querySelector('[data-total=recipients]').textContent,
        segments: document.querySelector('[data-total=segments]').textContent,
        amount: document.querySelector('[data-total=cost]').dataset.amount,
        over: document.querySelector('[data-total=over]').hidden,
    }]]))"""


def test_live_figures_equal_the_senders_and_the_servers_check(app, organiser, page):
    """Typed in chromium, over the worst-case strings and every kind: the script's
    figures are app/sms/segments.py's count of the text summary_bodies() makes, and
    equal what "Check" then shows from the server, language by language."""
    add_members(app, [Person(n) for n in range(3)] + [Person(10 + n, "ar") for n in range(2)])
    add_members(app, [Person(20, "cy"), Person(21, "bn"), Person(22, "ur")])
    page.goto(organiser + NEW)
    page.fill("#code", "p12")
    cases = [(n, t) for n, t in WORST_CASES if "\ud800" not in t and "\r" not in t]
    for index, (name, text) in enumerate(cases):
        kind = ("yes_no", "choice", "open")[index % 3]
        page.check(f'input[name="kind"][value="{kind}"]')
        page.fill("#summary_en", text)
        page.fill("#summary_ar", text[::-1] if index % 2 else "")
        page.fill("#options_en-0", "Sunday €" if kind == "choice" else "")
        page.fill("#options_cy-1", text[:90] if kind == "choice" else "")
        live = page.evaluate(READ_FIGURES)
        summaries = {"en": text.strip(), "ar": text[::-1].strip() if index % 2 else ""}
        options = [{"label": {"en": "Sunday €"}}, {"label": {"cy": text[:90].strip()}}]
        draft = Consultation(
            code="P12",
            kind=kind,
            summary={lang: value for lang, value in summaries.items() if value},
            options=[o for o in options if all(o["label"].values())] if kind == "choice" else [],
        )
        with app.test_request_context():
            bodies = broadcasts_ops.summary_bodies(draft, app.config["CHORUS"])
        for lang in ("en", "ar", "cy"):
            info = segments.count(bodies[lang])
            want = [str(len(bodies[lang])), info.encoding, str(info.segments)]
            got = [live[lang]["characters"], live[lang]["encoding"], live[lang]["segments"]]
            assert got == want, (name, lang)
        with page.expect_navigation():
            page.click('button[value="check"]')
        assert page.evaluate(READ_FIGURES) == live, name
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Consultation)).scalar() == 0


def test_the_form_works_without_javascript(app, live, page_without_js):
    page = page_without_js
    make_account(app, "organiser")
    browser_sign_in(page, live.url, "organiser@example.org")
    page.goto(live.url + NEW)
    page.fill("#code", "N1")
    page.fill("#title_en", "No script")
    page.fill("#summary_en", "Does it work without JavaScript?")
    with page.expect_navigation():
        page.click('button[value="check"]')
    assert page.input_value("#summary_en") == "Does it work without JavaScript?"
    with page.expect_navigation():
        page.click('button[value="save"]')
    assert page.url.endswith("/staff/consultations/N1")
    assert "Draft N1 saved." in page.content()
    with app.app_context():
        saved = db.session.execute(select(Consultation)).scalar_one()
        assert saved.summary == {"en": "Does it work without JavaScript?"}


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_the_pages_a_post_renders_pass_axe(app, organiser, page, lang):
    """Every GET page is walked by test_console_accessibility.py; these are the pages
    only a POST shows: the form with its errors, Check, the broadcast's confirm step,
    and the progress of a broadcast under way."""
    add_members(app, [*many(3), Person(5, "ar")])
    Staff(app).consultation(summary={"en": "Open the garden?", "ar": "هل نفتح الحديقة؟"})
    page.context.add_cookies([{"name": "lang", "value": lang, "url": organiser}])
    found = {}

    def check(name: str) -> None:
        assert page.evaluate("document.documentElement.lang") == lang, name
        found[name] = axe_violations(page)

    page.goto(organiser + NEW)
    page.fill("#code", "bad code")
    page.fill("#quorum", "-3")
    with page.expect_navigation():
        page.click('button[value="save"]')
    check("the form with errors")
    page.fill("#summary_ar", "ح" * 500)
    with page.expect_navigation():
        page.click('button[value="check"]')
    check("check, over the budget")
    page.goto(organiser + "/staff/consultations/P12/broadcast")
    page.check('input[name="when"][value="later"]')
    later = (utcnow() + timedelta(days=1)).astimezone(ZoneInfo("Europe/London"))
    page.fill("#at", later.strftime("%Y-%m-%dT%H:%M"))
    with page.expect_navigation():
        page.click('form[action*="/broadcast/confirm"] button[type="submit"]')
    check("the confirm step")
    with page.expect_navigation():
        page.click('form[action*="/broadcast"] button[type="submit"]')
    check("a scheduled broadcast's progress")
    assert {name: v for name, v in found.items() if v} == {}


def test_the_progress_page_reloads_itself_without_javascript(app, live, page_without_js):
    page = page_without_js
    add_members(app, many(2))
    Staff(app).consultation()
    with app.app_context():
        consultation = db.session.execute(select(Consultation)).scalar_one()
        broadcast, _ = broadcasts_ops.create_summary(
            consultation,
            actor="test",
            settings=app.config["CHORUS"],
            at=utcnow() + timedelta(days=1),
        )
        db.session.commit()
        broadcast_id = broadcast.id
    make_account(app, "viewer")
    browser_sign_in(page, live.url, "viewer@example.org")
    path = f"{live.url}/staff/broadcasts/{broadcast_id}"
    page.goto(path)
    # The Refresh header asks for a reload after 5 s: the page loads again by itself.
    page.wait_for_event("load", timeout=15_000)
    assert page.url == path
    with page.expect_navigation():
        page.click("text=Stop updating")
    assert page.url == path + "?auto=off"
    with app.app_context():
        assert db.session.get(Broadcast, broadcast_id).status == "scheduled"
