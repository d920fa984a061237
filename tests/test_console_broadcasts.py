"""Console: broadcasting a consultation (preview of the exact texts, confirm, schedule),
reminders, the progress page and pause/resume/cancel, the broadcasts list.

Jobs run inline (JOBS_EAGER) and texts go through the real twilio client to FakeTwilio,
as in tests/test_broadcast.py.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from app.domain import broadcasts as broadcasts_ops
from app.extensions import db
from app.models import AuditEvent, Broadcast, Consultation, Message, utcnow
from app.tasks import broadcasts as broadcast_tasks
from app.worker import sweep
from tests.outbox_helpers import (
    Person,
    Staff,
    add_members,
    many,
    per_phone,
    phone,
    twilio_env,
)
from tests.staff_helpers import post, staff_client


@pytest.fixture
def app(sending_app):
    """An app sending through FakeTwilio, jobs inline."""
    return sending_app


@pytest.fixture
def organiser(app):
    return staff_client(app, "organiser")


@pytest.fixture
def viewer(app):
    return staff_client(app, "viewer")


def text_of(answer) -> str:
    return answer.get_data(as_text=True)


def broadcasts_in(app) -> list[Broadcast]:
    with app.app_context():
        rows = list(db.session.execute(select(Broadcast).order_by(Broadcast.id)).scalars())
        db.session.expunge_all()
        return rows


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(
            db.session.execute(select(AuditEvent.action).order_by(AuditEvent.seq)).scalars()
        )


def count_rows(app, model) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def counts_shown(page: str) -> dict[str, int]:
    return {name: int(n) for name, n in re.findall(r'data-count="(\w+)">(\d+)<', page)}


def progress_bar(page: str) -> tuple[int, int]:
    found = re.search(r'<progress id="progress" max="(\d+)" value="(\d+)">', page)
    assert found, "no <progress> bar"
    return int(found.group(2)), int(found.group(1))


NEW = "/staff/consultations/P12/broadcast"


def test_preview_shows_the_exact_texts_recipients_segments_cost_and_duration(app, staff, organiser):
    add_members(app, [*many(3), Person(5, "ar"), Person(6, "fr"), Person(7, status="opted_out")])
    staff.consultation(summary={"en": "Open the garden? {Sundays}", "ar": "هل نفتح الحديقة؟"})
    answer = organiser.get(NEW)
    assert answer.status_code == 200
    page = html.unescape(text_of(answer))
    with app.app_context():
        consultation = db.session.execute(select(Consultation)).scalar_one()
        preview = broadcasts_ops.preview(consultation, app.config["CHORUS"])
    price = app.config["CHORUS"].sms_price_per_segment
    for entry in preview["languages"]:
        # The text is the sender's, byte for byte, in its own language and direction.
        direction = "rtl" if entry["text_language"] == "ar" else "ltr"
        assert (
            f'<div class="sms-text" lang="{entry["text_language"]}" dir="{direction}">'
            f"{entry['body']}</div>"
        ) in page
    arabic = next(e for e in preview["languages"] if e["language"] == "ar")
    row = re.search(r"<th scope=\"row\">Arabic.*?</tr>", page, re.S).group(0)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells == [
        str(arabic["characters"]),
        str(arabic["segments"]),
        "1",
        f"£{price * arabic['segments']:.2f}",
    ]
    assert "UCS-2" in row
    french = re.search(r"<th scope=\"row\">French.*?</tr>", page, re.S).group(0)
    assert "text in English" in french
    total = preview["total_segments"]
    assert re.search(r"<dt>Recipients</dt><dd>5 \(and 1 member", page)
    assert f"<dt>Segments</dt><dd>{total}</dd>" in page
    assert f"<dt>Estimated cost</dt><dd>£{price * total:.2f}</dd>" in page
    assert "at 1000 segments a second" in page  # SMS_MAX_PER_SECOND of the test app
    assert count_rows(app, Broadcast) == 0


def test_duration_at_the_send_rate_and_quiet_hours(make_app, fake):
    app = make_app(**twilio_env(fake, SMS_MAX_PER_SECOND="2", QUIET_HOURS="21:00-08:00"))
    organiser = staff_client(app, "organiser")
    add_members(app, many(240))
    Staff(app).consultation()
    page = text_of(organiser.get(NEW))
    # 240 one-segment texts at 2 segments a second: 2 minutes.
    assert "about 2 minutes, at 2 segments a second" in page
    assert "no broadcast text is sent between 21:00 and 08:00 (Europe/London)" in page


def test_confirm_then_send_makes_one_broadcast_and_texts_everyone(app, staff, organiser, fake):
    add_members(app, [*many(3), Person(5, "cy")])
    staff.consultation(summary={"en": "Open the garden?", "cy": "Agor yr ardd?"})
    form = {"kind": "summary", "when": "now"}

    confirm = post(organiser, NEW + "/confirm", form)
    assert confirm.status_code == 200
    page = text_of(confirm)
    assert "4 members will be texted now." in page
    assert "Send to 4 members" in page
    assert 'action="/staff/consultations/P12/broadcast"' in page
    assert count_rows(app, Broadcast) == 0  # the confirm step writes nothing
    assert fake.messages == []

    sent = post(organiser, NEW, form)
    assert sent.status_code == 303
    (broadcast,) = broadcasts_in(app)
    assert sent.headers["Location"].endswith(f"/staff/broadcasts/{broadcast.id}")
    assert (broadcast.kind, broadcast.created_by) == ("summary", "staff:organiser@example.org")
    assert sorted(per_phone(fake)) == sorted([*(phone(n) for n in range(3)), phone(5)])
    bodies = {m["to"]: m["body"] for m in fake.messages}
    assert bodies[phone(5)] == "P12: Agor yr ardd?\n" + broadcast.bodies["cy"].split("\n", 1)[1]
    assert "broadcast.created" in audit_actions(app)

    progress = organiser.get(sent.headers["Location"])
    page = text_of(progress)
    assert "Broadcast started: 4 members." in page
    shown = counts_shown(page)
    assert (shown["sent"], shown["failed"], shown["skipped"], shown["total"]) == (4, 0, 0, 4)
    assert progress_bar(page) == (4, 4)
    assert "Refresh" not in progress.headers  # completed: nothing more to watch
    assert "Stop updating" not in page


def test_with_personal_links_each_member_gets_their_own(app, staff, organiser, fake):
    """The option on the form: the confirm step shows the texts with a link (x's for
    each member's token) and their cost; each member is sent a link of their own."""
    add_members(app, many(2))
    staff.consultation(summary={"en": "Open the garden?"})
    page = text_of(organiser.get(NEW))
    assert "Include each member's personal link" in page
    form = {"kind": "summary", "when": "now", "links": "y"}
    confirm = text_of(post(organiser, NEW + "/confirm", form))
    assert "/v/" + broadcasts_ops.PREVIEW_TOKEN in confirm
    assert 'name="links" value="y"' in confirm
    assert post(organiser, NEW, form).status_code == 303
    (broadcast,) = broadcasts_in(app)
    assert broadcast.links
    tokens = {re.search(r"/v/([A-Za-z0-9]{12})$", m["body"]).group(1) for m in fake.messages}
    assert len(tokens) == 2
    shown = text_of(organiser.get(f"/staff/broadcasts/{broadcast.id}"))
    assert "/v/" + broadcasts_ops.PREVIEW_TOKEN in shown and "#CHORUSLINK#" not in shown
    for token in tokens:
        assert token not in shown


def test_schedule_for_later_in_the_timezone(app, staff, organiser, fake):
    add_members(app, many(2))
    staff.consultation()
    local = (utcnow() + timedelta(days=2)).astimezone(ZoneInfo("Europe/London"))
    typed = local.strftime("%Y-%m-%dT%H:%M")
    form = {"kind": "summary", "when": "later", "at": typed}
    page = text_of(post(organiser, NEW + "/confirm", form))
    assert "2 members will be texted at" in page and "(Europe/London)" in page
    assert f'name="at" value="{typed}"' in page
    answer = post(organiser, NEW, form)
    assert answer.status_code == 303
    (broadcast,) = broadcasts_in(app)
    assert broadcast.status == "scheduled"
    want = datetime.strptime(typed, "%Y-%m-%dT%H:%M").replace(tzinfo=ZoneInfo("Europe/London"))
    assert broadcast.scheduled_at == want.astimezone(UTC)
    assert fake.messages == []
    progress = organiser.get(answer.headers["Location"])
    assert progress.headers["Refresh"] == "5"  # reloads itself, no JavaScript needed
    page = text_of(progress)
    assert "Scheduled for" in page
    assert f'href="/staff/broadcasts/{broadcast.id}?auto=off">Stop updating<' in page
    stopped = organiser.get(f"/staff/broadcasts/{broadcast.id}?auto=off")
    assert "Refresh" not in stopped.headers
    assert f'href="/staff/broadcasts/{broadcast.id}">Update this page' in text_of(stopped)
    assert "broadcast.scheduled" in audit_actions(app)

    with app.app_context():
        db.session.execute(update(Broadcast).values(scheduled_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        sweep()
    assert len(fake.messages) == 2


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ({"when": "later", "at": "2001-01-01T10:00"}, "at", "passed"),
        ({"when": "later", "at": ""}, "at", "date and time"),
        ({"when": "later", "at": "soon"}, "at", ""),
        ({"when": "whenever"}, "when", ""),
        ({"kind": "reminder", "when": "later", "at": "2099-01-01T10:00"}, "when", "reminder"),
    ],
)
def test_a_bad_time_is_refused_by_its_field_and_nothing_is_sent(
    app, staff, organiser, fake, form, field, words
):
    add_members(app, many(2))
    staff.consultation()
    for path in (NEW + "/confirm", NEW):
        answer = post(organiser, path, {"kind": "summary", **form})
        assert answer.status_code == 422, path
        message = re.search(rf'id="{field}-error" class="field-error">([^<]*)<', text_of(answer))
        assert message and words in html.unescape(message.group(1)), path
    assert count_rows(app, Broadcast) == 0
    assert fake.messages == []


def test_only_an_open_consultation_and_within_budget(app, staff, organiser, fake):
    add_members(app, [Person(1, "ar")])
    staff.consultation(open_it=False)
    answer = organiser.get(NEW)
    assert answer.status_code == 409
    assert "only an open consultation can be broadcast" in text_of(answer)
    assert post(organiser, NEW, {"kind": "summary", "when": "now"}).status_code == 409

    staff.consultation("L1", summary={"en": "Short", "ar": "ح" * 470})
    page = text_of(organiser.get("/staff/consultations/L1/broadcast"))
    assert "Over the budget of 6 segments" in page
    assert 'action="/staff/consultations/L1/broadcast/confirm"' not in page
    answer = post(organiser, "/staff/consultations/L1/broadcast", {"kind": "summary"})
    assert answer.status_code == 422
    assert "budget" in text_of(answer)
    assert count_rows(app, Broadcast) == 0
    assert fake.messages == []


def test_progress_page_numbers(app, staff, viewer, organiser):
    ids = add_members(app, many(6))
    staff.consultation()
    with app.app_context():
        consultation = db.session.execute(select(Consultation)).scalar_one()
        broadcast, _ = broadcasts_ops.create_summary(
            consultation, actor="test", settings=app.config["CHORUS"]
        )
        db.session.commit()
        broadcast_id = broadcast.id
        broadcast_tasks.expand_rows(broadcast_id)
        states = ["delivered", "delivered", "sent", "failed", "skipped", "queued"]
        for member_id, state in zip(ids, states, strict=True):
            db.session.execute(
                update(Message)
                .where(Message.broadcast_id == broadcast_id, Message.member_id == member_id)
                .values(status=state)
            )
        db.session.execute(
            update(Broadcast).where(Broadcast.id == broadcast_id).values(skipped_at_start=1)
        )
        db.session.commit()
    answer = viewer.get(f"/staff/broadcasts/{broadcast_id}")
    page = text_of(answer)
    assert counts_shown(page) == {
        "sent": 3,
        "delivered": 2,
        "undelivered": 0,
        "failed": 1,
        "skipped": 2,
        "unknown": 0,
        "pending": 1,
        "total": 7,
    }
    assert progress_bar(page) == (6, 7)  # sent + failed + skipped of everyone
    assert "Done: 6 of 7" in page
    assert answer.headers["Refresh"] == "5"  # still sending
    assert "Pause" not in page  # a viewer gets no buttons
    assert "Pause" in text_of(organiser.get(f"/staff/broadcasts/{broadcast_id}"))

    listing = text_of(viewer.get("/staff/broadcasts"))
    row = re.search(rf'href="/staff/broadcasts/{broadcast_id}".*?</tr>', listing, re.S).group(0)
    assert re.findall(r'class="num">(\d+)<', row) == ["7", "3", "1"]
    assert 'href="/staff/consultations/P12"' in row
    assert "Sending" in row
    assert "P12" in text_of(viewer.get("/staff/broadcasts?status=sending"))
    assert f"/staff/broadcasts/{broadcast_id}" not in text_of(
        viewer.get("/staff/broadcasts?status=completed")
    )


def test_pause_resume_cancel(app, staff, organiser, fake):
    add_members(app, many(4))
    staff.consultation()
    with app.app_context():
        consultation = db.session.execute(select(Consultation)).scalar_one()
        broadcast, _ = broadcasts_ops.create_summary(
            consultation, actor="test", settings=app.config["CHORUS"]
        )
        db.session.commit()
        broadcast_id = broadcast.id
        broadcast_tasks.expand_rows(broadcast_id)  # rows queued, nothing sent yet
    base = f"/staff/broadcasts/{broadcast_id}"

    assert post(organiser, base + "/pause").status_code == 303
    assert broadcasts_in(app)[0].status == "paused"
    paused = organiser.get(base)
    page = text_of(paused)
    assert "Broadcast paused." in page and ">Resume<" in page
    assert "Refresh" not in paused.headers
    answer = post(organiser, base + "/pause")  # twice: refused, said so
    assert answer.status_code == 303
    assert "cannot be paused" in text_of(organiser.get(base))
    with app.app_context():
        broadcast_tasks.pump(broadcast_id)
    assert fake.messages == []

    assert post(organiser, base + "/resume").status_code == 303
    assert broadcasts_in(app)[0].status == "completed"
    assert len(fake.messages) == 4

    # A second one, cancelled while its rows wait: a confirmation page first.
    with app.app_context():
        consultation = db.session.execute(select(Consultation)).scalar_one()
        second, _ = broadcasts_ops.create_summary(
            consultation, actor="test", settings=app.config["CHORUS"]
        )
        db.session.commit()
        second_id = second.id
        broadcast_tasks.expand_rows(second_id)
    page = text_of(organiser.get(f"/staff/broadcasts/{second_id}/cancel"))
    assert "4 texts not yet sent will be skipped" in page
    assert broadcasts_in(app)[1].status == "sending"
    assert post(organiser, f"/staff/broadcasts/{second_id}/cancel").status_code == 303
    assert broadcasts_in(app)[1].status == "cancelled"
    shown = counts_shown(text_of(organiser.get(f"/staff/broadcasts/{second_id}")))
    assert (shown["skipped"], shown["sent"]) == (4, 0)
    assert len(fake.messages) == 4
    actions = audit_actions(app)
    assert {"broadcast.paused", "broadcast.resumed", "broadcast.cancelled"} <= set(actions)


def test_send_a_reminder_to_those_who_have_not_replied(app, world, organiser, fake):
    phones = [world.member() for _ in range(3)]
    world.consultation("P12")
    world.text(phones[0], "P12 yes")
    page = text_of(organiser.get(NEW + "?kind=reminder"))
    assert "Remind: P12" in page
    assert "<dt>Recipients</dt><dd>2</dd>" in page
    assert 'name="when" value="now"' in page and 'name="at"' not in page
    form = {"kind": "reminder", "when": "now"}
    assert "2 members will be texted now." in text_of(post(organiser, NEW + "/confirm", form))
    assert post(organiser, NEW, form).status_code == 303
    (broadcast,) = broadcasts_in(app)
    assert (broadcast.kind, broadcast.audience_filter) == ("reminder", "not_voted")
    assert sorted(per_phone(fake)) == sorted(phones[1:])
    assert all(m["body"].startswith("Reminder") for m in fake.messages)
    page = text_of(organiser.get("/staff/consultations/P12"))
    assert f'href="/staff/broadcasts/{broadcast.id}"' in page
    assert 'href="/staff/consultations/P12/broadcast?kind=reminder"' in page


def test_a_viewer_gets_403_on_every_change(app, staff, viewer, fake):
    add_members(app, many(2))
    staff.consultation()
    with app.app_context():
        consultation = db.session.execute(select(Consultation)).scalar_one()
        broadcast, _ = broadcasts_ops.create_summary(
            consultation, actor="test", settings=app.config["CHORUS"], at=utcnow() + timedelta(1)
        )
        db.session.commit()
        broadcast_id = broadcast.id
    assert viewer.get("/staff/broadcasts").status_code == 200
    assert viewer.get(f"/staff/broadcasts/{broadcast_id}").status_code == 200
    for path in (NEW, NEW + "?kind=reminder", f"/staff/broadcasts/{broadcast_id}/cancel"):
        assert viewer.get(path).status_code == 403, path
    for path in (
        NEW + "/confirm",
        NEW,
        f"/staff/broadcasts/{broadcast_id}/pause",
        f"/staff/broadcasts/{broadcast_id}/resume",
        f"/staff/broadcasts/{broadcast_id}/cancel",
    ):
        assert post(viewer, path, {"kind": "summary", "when": "now"}).status_code == 403, path
    assert [b.status for b in broadcasts_in(app)] == ["scheduled"]
    assert fake.messages == []


def test_unknown_broadcasts_are_404(app, organiser):
    assert organiser.get("/staff/broadcasts/999").status_code == 404
    assert post(organiser, "/staff/broadcasts/999/pause").status_code == 404
    assert organiser.get("/staff/consultations/Z9/broadcast").status_code == 404


def test_arabic_pages_render_rtl(app, staff, organiser):
    add_members(app, [Person(1, "ar")])
    staff.consultation(summary={"en": "Open?", "ar": "هل نفتح الحديقة؟"})
    page = text_of(organiser.get(NEW + "?lang=ar"))
    assert '<html lang="ar" dir="rtl">' in page
    assert '<div class="sms-text" lang="ar" dir="rtl">P12: هل نفتح الحديقة؟' in page
    post(organiser, NEW, {"kind": "summary", "when": "now"})
    (broadcast,) = broadcasts_in(app)
    page = text_of(organiser.get(f"/staff/broadcasts/{broadcast.id}?lang=ar"))
    assert '<html lang="ar" dir="rtl">' in page
    assert 'lang="ar" dir="rtl">P12: هل نفتح الحديقة؟' in page


def test_cost_figure(make_app, fake):
    app = make_app(**twilio_env(fake, SMS_PRICE_PER_SEGMENT="0.0325", SMS_PRICE_CURRENCY="EUR"))
    organiser = staff_client(app, "organiser")
    add_members(app, [*many(3), *(Person(10 + n, "ar") for n in range(2))])
    Staff(app).consultation(summary={"en": "a" * 200, "ar": "هل نفتح الحديقة؟"})
    page = text_of(organiser.get(NEW))
    # English: 200 + code and how to reply = 2 segments x 3; Arabic: 1 x 2 -> 8 segments.
    assert "<dt>Segments</dt><dd>8</dd>" in page
    assert f"€{Decimal('0.0325') * 8:.2f}" == "€0.26"
    assert "<dt>Estimated cost</dt><dd>€0.26</dd>" in page
