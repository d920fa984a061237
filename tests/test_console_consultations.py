"""Console: the consultations list, drafting and editing in every language, the segment
and cost figures (server and app/static/segments.js, in chromium), opening and closing."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.config import LANGUAGES
from app.domain import broadcasts as broadcasts_ops
from app.extensions import db
from app.models import AuditEvent, Comment, Consultation, Vote, utcnow
from app.sms import segments
from app.sms.render import render
from tests.outbox_helpers import Person, add_members
from tests.segment_cases import WORST_CASES
from tests.staff_helpers import post, staff_client

SCRIPT = Path(__file__).resolve().parent.parent / "app" / "static" / "segments.js"
NEW = "/staff/consultations/new"


@pytest.fixture
def organiser(app):
    return staff_client(app, "organiser")


@pytest.fixture
def viewer(app):
    return staff_client(app, "viewer")


def count_rows(app, model) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(
            db.session.execute(select(AuditEvent.action).order_by(AuditEvent.seq)).scalars()
        )


def get_consultation(app, code: str) -> Consultation:
    with app.app_context():
        found = db.session.execute(
            select(Consultation).where(Consultation.code == code)
        ).scalar_one()
        db.session.expunge(found)
        return found


def draft_form(**changes: str) -> dict[str, str]:
    """A good form: a yes/no draft in English and Welsh."""
    data = {
        "code": "P12",
        "kind": "yes_no",
        "title_en": "Open the garden on Sundays",
        "summary_en": "Should the garden open on Sundays?",
        "body_en": "The garden is closed on Sundays.\r\nShould it open?",
        "title_cy": "Agor yr ardd ar y Sul",
        "summary_cy": "A ddylai'r ardd agor ar y Sul?",
        "decision_by": "community",
        "results_public": "y",
        "action": "save",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def text_of(answer) -> str:
    return answer.get_data(as_text=True)


def field_error(page: str, field_id: str) -> str:
    """The message shown next to a field (empty when there is none)."""
    found = re.search(rf'<p id="{re.escape(field_id)}-error" class="field-error">([^<]*)</p>', page)
    return html.unescape(found.group(1)) if found else ""


def figures_in(page: str) -> dict[str, dict[str, str]]:
    """Each language's figures as the page shows them."""
    out = {}
    for block in re.finditer(r'data-figures="(\w+)".*?</dl>', page, re.S):
        lang, text = block.group(1), block.group(0)
        values = dict(re.findall(r'data-out="(\w+)"[^>]*>([^<]*)<', text))
        values["amount"] = re.search(r'data-amount="([^"]*)"', text).group(1)
        out[lang] = values
    return out


# ---------------------------------------------------------------------- the list


def test_list_shows_code_title_status_kind_closes_and_participation(app, world, viewer):
    phones = [world.member() for _ in range(3)]
    world.consultation("P1", title={"en": "Garden"})
    world.consultation("C2", "choice", options=["Mon", "Tue"], open_=False)
    world.text(phones[0], "P1 yes")
    world.text(phones[1], "P1 no")
    page = text_of(viewer.get("/staff/consultations"))
    assert "Garden" in page
    row = re.search(r'<a href="/staff/consultations/P1">P1</a>.*?</tr>', page, re.S).group(0)
    assert ">Open<" in row and ">Yes or no<" in row and ">by hand<" in row
    assert re.search(r'class="num">2</td>', row)
    assert ">Draft<" in page and ">Choice<" in page
    only_drafts = text_of(viewer.get("/staff/consultations?status=draft"))
    assert "C2" in only_drafts and "/staff/consultations/P1" not in only_drafts
    assert 'href="/staff/consultations/new"' not in page  # a viewer cannot draft


def test_the_list_is_in_the_navigation(app, viewer):
    page = text_of(viewer.get("/staff/"))
    assert 'href="/staff/consultations"' in page
    assert 'href="/staff/broadcasts"' in page


# ---------------------------------------------------------------------- drafting


def test_create_in_two_languages_with_everything(app, organiser):
    add_members(app, [Person(1, groups=("community",)), Person(2, groups=("allies",))])
    data = draft_form(
        code="c7",
        kind="choice",
        title_ar="افتح الحديقة",
        summary_ar="هل نفتح الحديقة يوم الأحد؟",
        summary_en="Which day should the garden open?",
        **{"options_en-0": "Sunday", "options_en-1": "Monday", "options_cy-0": "Dydd Sul"},
        **{"options_en-3": "Friday"},  # an empty row in between is left out
        decision_by="allies",
        quorum="25",
        threshold="66.5",
        audience="community",
        closes_at="2099-07-01T18:00",
        remind_at="2099-06-30T09:30",
        results_public=None,
    )
    answer = post(organiser, NEW, data)
    assert answer.status_code == 303, text_of(answer)
    assert answer.headers["Location"].endswith("/staff/consultations/C7")
    saved = get_consultation(app, "C7")
    assert saved.status == "draft" and saved.kind == "choice"
    assert saved.title == {
        "en": "Open the garden on Sundays",
        "cy": "Agor yr ardd ar y Sul",
        "ar": "افتح الحديقة",
    }
    assert saved.summary["cy"] == "A ddylai'r ardd agor ar y Sul?"
    assert saved.body == {"en": "The garden is closed on Sundays.\nShould it open?"}
    assert saved.options == [
        {"label": {"en": "Sunday", "cy": "Dydd Sul"}},
        {"label": {"en": "Monday"}},
        {"label": {"en": "Friday"}},
    ]
    assert (saved.decision_by, saved.quorum, saved.threshold) == ("allies", 25, 0.665)
    assert saved.audience == ["community"]
    assert saved.results_public is False
    # Times typed in TIMEZONE (Europe/London, summer time): stored in UTC.
    assert saved.closes_at == datetime(2099, 7, 1, 17, 0, tzinfo=UTC)
    assert saved.remind_at == datetime(2099, 6, 30, 8, 30, tzinfo=UTC)
    assert "consultation.created" in audit_actions(app)

    page = text_of(organiser.get("/staff/consultations/C7"))
    assert "Sat 1 Jul 2099, 18:00" in page or "1 Jul 2099, 18:00" in page
    assert "Europe/London" in page
    assert "1 active member" in page  # the audience: community only
    assert 'href="/staff/consultations/C7/edit"' in page


def test_the_form_shows_every_language_with_lang_and_dir(app, organiser):
    page = text_of(organiser.get(NEW))
    for lang in LANGUAGES:
        direction = "rtl" if lang in ("ar", "ur") else "ltr"
        for field in ("title", "summary", "body"):
            tag = re.search(rf'<(?:input|textarea)[^>]*id="{field}_{lang}"[^>]*>', page).group(0)
            assert f'lang="{lang}"' in tag and f'dir="{direction}"' in tag
        assert f'id="options_{lang}-0"' in page
    assert re.search(r'<label for="summary_ar">', page)
    assert "Europe/London" in page
    assert '<script src="/static/segments.js" defer></script>' in page
    assert "<script>" not in page  # no inline script


def test_arabic_page_renders_rtl(app, organiser):
    page = text_of(organiser.get(NEW + "?lang=ar"))
    assert re.search(r'<html lang="ar" dir="rtl">', page)
    add_members(app, [Person(1)])
    assert post(organiser, NEW, draft_form(title_ar="الحديقة")).status_code == 303
    page = text_of(organiser.get("/staff/consultations/P12?lang=ar"))
    assert '<html lang="ar" dir="rtl">' in page
    assert '<td lang="ar" dir="rtl">الحديقة</td>' in page


BAD = [
    ("bad-code", {"code": "12P"}, "code", "1 to 3 letters"),
    ("no-code", {"code": ""}, "code", "code"),
    ("no-title", {"title_en": "", "title_cy": ""}, "title_en", "title"),
    ("no-summary", {"summary_en": " ", "summary_cy": ""}, "summary_en", "summary"),
    ("long-summary", {"summary_cy": "a" * 481}, "summary_cy", "480"),
    ("long-title", {"title_en": "t" * 201}, "title_en", "200"),
    ("control-character", {"summary_en": "a\x01b"}, "summary_en", "control"),
    ("quorum-negative", {"quorum": "-1"}, "quorum", "0 to"),
    ("quorum-not-a-number", {"quorum": "many"}, "quorum", ""),
    ("threshold-too-big", {"threshold": "150"}, "threshold", "0 to 100"),
    ("unknown-kind", {"kind": "poll"}, "kind", ""),
    ("closes-in-the-past", {"closes_at": "2001-01-01T10:00"}, "closes_at", "future"),
    ("not-a-time", {"closes_at": "tomorrow"}, "closes_at", ""),
    (
        "remind-after-close",
        {"closes_at": "2099-01-01T10:00", "remind_at": "2099-01-02T10:00"},
        "remind_at",
        "closes_at",
    ),
    ("remind-without-close", {"remind_at": "2099-01-02T10:00"}, "remind_at", "closes_at"),
    ("unknown-group", {"audience": "nobody"}, "audience", ""),
]


@pytest.mark.parametrize(
    ("changes", "field", "words"), [pytest.param(*case[1:], id=case[0]) for case in BAD]
)
def test_bad_input_is_shown_by_its_field_and_nothing_is_written(
    app, organiser, changes, field, words
):
    before = audit_actions(app)
    answer = post(organiser, NEW, draft_form(**changes))
    assert answer.status_code == 422
    page = text_of(answer)
    message = field_error(page, field)
    assert message, f"no message next to {field}"
    assert words.lower() in message.lower()
    assert f'href="#{field}"' in page  # the summary at the top links to the field
    assert count_rows(app, Consultation) == 0
    assert audit_actions(app) == before
    # What was typed is still there.
    assert "The garden is closed on Sundays.\nShould it open?</textarea>" in page


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"kind": "choice", "options_en-0": "Only one"}, "at least 2"),
        ({"kind": "yes_no", "options_en-0": "A", "options_en-1": "B"}, "only for a choice"),
    ],
)
def test_options_that_do_not_fit_the_kind_are_refused(app, organiser, changes, words):
    answer = post(organiser, NEW, draft_form(**changes))
    assert answer.status_code == 422
    assert words in text_of(answer)
    assert count_rows(app, Consultation) == 0


def test_the_domain_refuses_what_the_form_let_through_by_the_field(app, organiser):
    """A code already taken: the domain says so (409) next to the code."""
    assert post(organiser, NEW, draft_form()).status_code == 303
    before = audit_actions(app)
    answer = post(organiser, NEW, draft_form(title_en="Another"))
    assert answer.status_code == 409
    assert "already exists" in field_error(text_of(answer), "code")
    assert count_rows(app, Consultation) == 1
    assert audit_actions(app) == before


def test_check_and_more_rows_write_nothing(app, organiser):
    for action in ("check", "more_options"):
        answer = post(organiser, NEW, draft_form(action=action))
        assert answer.status_code == 200
    page = text_of(answer)
    assert 'id="options_en-7"' in page and 'id="options_en-8"' not in page  # 4 + 4 rows
    assert count_rows(app, Consultation) == 0
    assert "consultation.created" not in audit_actions(app)


# ---------------------------------------------------------------------- figures


def expected_body(code: str, summary: str, kind_line: str = "YES, NO or ABSTAIN") -> str:
    typed = summary.replace("\r\n", "\n").replace("\r", "\n").strip()
    return f"{code}: {typed}\nReply {code} {kind_line}"


def test_check_counts_exactly_as_the_sender_will(app, organiser):
    """Over the worst-case strings: the figures "Check" shows are app/sms/segments.py's
    for the exact text the summary broadcast sends, priced for the audience."""
    add_members(app, [Person(n) for n in range(3)] + [Person(9, "ar")])
    price = app.config["CHORUS"].sms_price_per_segment
    for name, text in WORST_CASES:
        if "\ud800" in text:
            continue  # a form cannot carry a lone surrogate
        answer = post(organiser, NEW, draft_form(summary_en=text, summary_cy=None, action="check"))
        assert answer.status_code == 200, name
        shown = figures_in(text_of(answer))
        body = expected_body("P12", text)
        info = segments.count(body)
        assert shown["en"]["characters"] == str(len(body)), name
        assert shown["en"]["encoding"] == info.encoding, name
        assert shown["en"]["segments"] == str(info.segments), name
        assert shown["en"]["recipients"] == "3", name
        assert Decimal(shown["en"]["amount"]) == price * info.segments * 3, name
        # Welsh has no summary: its members would get the English text, counted the same.
        assert shown["cy"]["segments"] == str(info.segments), name
    assert count_rows(app, Consultation) == 0


def test_figures_are_what_the_broadcast_preview_says(app, organiser):
    """The form's figures for the saved draft equal the API's preview of it, once open."""
    add_members(app, [Person(1), Person(2), Person(3, "ar"), Person(4, "cy"), Person(5, "fr")])
    data = draft_form(
        kind="choice",
        summary_ar="هل نفتح الحديقة؟ " * 5,
        **{"options_en-0": "Sunday {best}", "options_en-1": "Monday", "options_ar-0": "الأحد"},
    )
    shown = figures_in(text_of(post(organiser, NEW, {**data, "action": "check"})))
    assert post(organiser, NEW, data).status_code == 303
    with app.app_context():
        consultation = db.session.execute(select(Consultation)).scalar_one()
        preview = broadcasts_ops.preview(consultation, app.config["CHORUS"])
    for entry in preview["languages"]:
        lang = entry["language"]
        assert shown[lang]["characters"] == str(entry["characters"]), lang
        assert shown[lang]["segments"] == str(entry["segments"]), lang
        assert shown[lang]["encoding"] == entry["encoding"], lang
        assert shown[lang]["recipients"] == str(entry["recipients"]), lang


def test_cost_uses_the_price_and_currency(make_app):
    app = make_app(SMS_PRICE_PER_SEGMENT="0.0079", SMS_PRICE_CURRENCY="USD")
    organiser = staff_client(app, "organiser")
    add_members(app, [Person(n, "ar") for n in range(7)])
    arabic = "ح" * 110  # with the code and how to reply: 3 UCS-2 segments
    answer = post(organiser, NEW, draft_form(summary_ar=arabic, action="check"))
    page = text_of(answer)
    shown = figures_in(page)
    with app.app_context():
        reply = render("broadcast_yes_no", "ar", code="P12")
    info = segments.count(f"P12: {arabic}\n{reply}")
    assert info.segments == 3
    assert shown["ar"]["amount"] == f"{Decimal('0.0079') * 3 * 7:f}" == "0.1659"
    assert "$0.17" in page  # the total, in US dollars (rounded to cents)
    assert re.search(r'data-total="segments">21<', page)
    assert re.search(r'data-total="cost" data-amount="0.1659"', page)


def test_over_the_segment_budget_is_flagged(app, organiser):
    add_members(app, [Person(1)])
    answer = post(organiser, NEW, draft_form(summary_en="a" * 1000, action="check"))
    page = text_of(answer)
    assert re.search(r'<p class="field-error" data-out="over">', page)
    assert re.search(r'<p class="field-error" data-total="over">', page)


# ---------------------------------------------------------------------- editing


def test_edit_a_draft_then_only_drafts(app, organiser):
    add_members(app, [Person(1)])
    data = draft_form(**{"kind": "choice", "options_en-0": "A", "options_en-1": "B"})
    data.update(closes_at="2099-07-01T18:00")
    assert post(organiser, NEW, data).status_code == 303
    page = text_of(organiser.get("/staff/consultations/P12/edit"))
    assert 'value="Open the garden on Sundays"' in page
    assert 'id="options_en-1" lang="en"' in page and 'value="B"' in page
    assert 'value="2099-07-01T18:00"' in page  # back in TIMEZONE
    assert 'name="code"' not in page  # the code stays

    changed = {**data, "title_en": "Open it on Sundays", "options_en-1": "", "options_en-2": "C"}
    changed.pop("code")
    answer = post(organiser, "/staff/consultations/P12/edit", changed)
    assert answer.status_code == 303, text_of(answer)
    saved = get_consultation(app, "P12")
    assert saved.title["en"] == "Open it on Sundays"
    assert saved.options == [{"label": {"en": "A"}}, {"label": {"en": "C"}}]
    assert "consultation.updated" in audit_actions(app)

    bad = {**changed, "title_en": "x" * 300}
    answer = post(organiser, "/staff/consultations/P12/edit", bad)
    assert answer.status_code == 422
    assert get_consultation(app, "P12").title["en"] == "Open it on Sundays"

    assert post(organiser, "/staff/consultations/P12/open").status_code == 303
    answer = organiser.get("/staff/consultations/P12/edit")
    assert answer.status_code == 303
    answer = post(organiser, "/staff/consultations/P12/edit", {**changed, "title_en": "Late"})
    assert answer.status_code == 303
    assert get_consultation(app, "P12").title["en"] == "Open it on Sundays"
    assert "Only a draft can be edited" in text_of(organiser.get("/staff/consultations/P12"))


def test_open_and_close_ask_first_and_are_audited(app, organiser):
    add_members(app, [Person(1)])
    assert post(organiser, NEW, draft_form()).status_code == 303
    page = text_of(organiser.get("/staff/consultations/P12/open"))
    assert "Open P12" in page and 'action="/staff/consultations/P12/open"' in page
    assert get_consultation(app, "P12").status == "draft"  # asking changed nothing
    assert post(organiser, "/staff/consultations/P12/open").status_code == 303
    assert get_consultation(app, "P12").status == "open"
    page = text_of(organiser.get("/staff/consultations/P12"))
    for path in ("/results", "/assisted", "/outcome", "/broadcast", "/close"):
        assert f'href="/staff/consultations/P12{path}' in page
    assert "only a draft can be opened" in text_of(organiser.get("/staff/consultations/P12/open"))
    assert post(organiser, "/staff/consultations/P12/close").status_code == 303
    assert get_consultation(app, "P12").status == "closed"
    actions = audit_actions(app)
    assert actions.index("consultation.opened") < actions.index("consultation.closed")


def test_participation_against_the_audience(app, world, viewer):
    phones = [world.member() for _ in range(4)]
    world.consultation("O3", "open")
    world.text(phones[0], "O3 more benches please")
    page = text_of(viewer.get("/staff/consultations/O3"))
    assert "1 of 4 (25%)" in page
    assert count_rows(app, Comment) == 1 and count_rows(app, Vote) == 0


# ---------------------------------------------------------------------- who may


CHANGES = [
    ("get", NEW),
    ("post", NEW),
    ("get", "/staff/consultations/P12/edit"),
    ("post", "/staff/consultations/P12/edit"),
    ("get", "/staff/consultations/P12/open"),
    ("post", "/staff/consultations/P12/open"),
    ("get", "/staff/consultations/P12/close"),
    ("post", "/staff/consultations/P12/close"),
]


def test_a_viewer_reads_but_gets_403_on_every_change(app, world, viewer):
    world.member()
    world.consultation("P12", open_=False)
    assert viewer.get("/staff/consultations").status_code == 200
    assert viewer.get("/staff/consultations/P12").status_code == 200
    page = text_of(viewer.get("/staff/consultations/P12"))
    assert "/edit" not in page and "/open" not in page
    for method, path in CHANGES:
        answer = viewer.get(path) if method == "get" else post(viewer, path, draft_form())
        assert answer.status_code == 403, (method, path)
    saved = get_consultation(app, "P12")
    assert (saved.status, saved.title) == ("draft", {"en": "Title of P12"})


def test_unknown_codes_are_404(app, organiser):
    assert organiser.get("/staff/consultations/Z99").status_code == 404
    assert organiser.get("/staff/consultations/Z99/edit").status_code == 404
    assert organiser.get("/staff/consultations/not-a-code").status_code == 404


def test_time_helpers_use_the_timezone(app):
    """closes_at shown back in TIMEZONE (the form's datetime-local value)."""
    from app.staff.figures import local_input  # the helper under test

    with app.test_request_context():
        moment = datetime(2099, 1, 15, 12, 0, tzinfo=UTC)
        assert local_input(moment) == datetime(2099, 1, 15, 12, 0)
        summer = datetime(2099, 7, 15, 12, 0, tzinfo=UTC)
        assert local_input(summer) == summer.astimezone(ZoneInfo("Europe/London")).replace(
            tzinfo=None
        )
        assert local_input(utcnow() + timedelta(days=1)) is not None
