"""The console's inbox: texts meant for staff, replies by SMS, marking handled."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import insert, select

from app.domain import inbox as inbox_ops
from app.domain import members as members_ops
from app.extensions import db
from app.models import AuditEvent, Comment, Member, Message
from app.tasks.outbox import send_message
from tests.staff_helpers import post, staff_client


@pytest.fixture
def app(sending_app):
    """Replies really go out: through the outbox to FakeTwilio, jobs inline."""
    return sending_app


@pytest.fixture
def organiser(app):
    return staff_client(app, "organiser")


@pytest.fixture
def viewer(app):
    return staff_client(app, "viewer")


def to_staff(world, text: str = "The gate on Elm Road is broken", **member) -> tuple[str, int]:
    """A member texts free text with nothing open: (their phone, the inbox item's id)."""
    phone = world.member(**member)
    assert world.text(phone, text) is not None
    comment = world.rows(Comment, Comment.body == text)[-1]
    assert comment.consultation_id is None
    return phone, comment.id


def reply(client, item: int, body: str, handled: bool = True, **query):
    data = {f"reply-{item}-body": body}
    if handled:
        data[f"reply-{item}-handled"] = "y"
    path = f"/staff/inbox/{item}/reply"
    if query:
        path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return post(client, path, data)


def staff_replies(world) -> list[Message]:
    return world.rows(Message, Message.kind == inbox_ops.REPLY_KIND)


def audit_actions(app) -> list[str]:
    with app.app_context():
        return list(
            db.session.execute(select(AuditEvent.action).order_by(AuditEvent.seq)).scalars()
        )


def test_a_text_with_nothing_open_is_in_the_inbox_with_name_language_and_time(organiser, world):
    phone, item = to_staff(world, "Hola, ¿cuándo es la reunión?", language="es", name="Lucía")
    html = organiser.get("/staff/inbox").get_data(as_text=True)
    assert "Hola, ¿cuándo es la reunión?" in html
    assert "Lucía" in html and phone in html
    assert "Español" in html  # the language, by its own name
    assert re.search(r"received \d{4}-\d\d-\d\d \d\d:\d\d", html)
    assert f'name="reply-{item}-body"' in html
    assert f'<label for="reply-{item}-body">Reply to Lucía by SMS</label>' in html
    assert "<script" not in html


def test_comments_on_a_consultation_are_not_in_the_inbox(organiser, world):
    world.consultation("P12")
    phone = world.member()
    world.sent("P12", phone)
    world.text(phone, "I think the hall is too small")
    html = organiser.get("/staff/inbox").get_data(as_text=True)
    assert "I think the hall is too small" not in html
    assert "Nothing waiting" in html


def test_a_viewer_sees_the_inbox_masked_and_may_not_reply_or_mark_handled(app, viewer, world):
    phone, item = to_staff(world)
    response = viewer.get("/staff/inbox")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "The gate on Elm Road is broken" in html
    assert phone not in html
    assert phone[:3] + "*" * (len(phone) - 7) + phone[-4:] in html
    assert "reply-" not in html and "Mark handled" not in html
    assert reply(viewer, item, "On it").status_code == 403
    assert post(viewer, f"/staff/inbox/{item}/handled", {"handled": "1"}).status_code == 403
    assert staff_replies(world) == []
    assert world.rows(Comment)[0].handled_at is None


def test_anonymous_is_sent_to_sign_in(app, world):
    response = app.test_client().get("/staff/inbox")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/staff/login")


def test_a_reply_goes_out_by_sms_at_high_priority_and_is_audited(app, organiser, world, fake):
    phone, item = to_staff(world, name="Amira")
    response = reply(organiser, item, "Thanks Amira, we have told the council.")
    assert response.status_code == 303
    assert response.headers["Location"] == "/staff/inbox"
    assert fake.bodies_to(phone)[-1] == "Thanks Amira, we have told the council."
    (sent,) = staff_replies(world)
    inbound = world.rows(Message, Message.direction == "in")[-1]
    assert sent.priority == "high"
    assert sent.status == "sent" and sent.twilio_sid
    assert sent.reply_to_id == inbound.id and sent.phone == phone
    assert sent.entered_by == "staff:organiser@example.org"
    assert "inbox.replied" in audit_actions(app)
    with app.app_context():
        event = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "inbox.replied")
        ).scalar_one()
        assert event.subject_type == "comment" and event.subject_id == str(item)
        assert event.data["message"] == sent.id
        assert phone not in str(event.data)  # members by id in the audit log
    # Handled by default, and the reply shows under the text in the handled view.
    html = organiser.get(response.headers["Location"]).get_data(as_text=True)
    assert "Reply queued (1 text)" in html
    assert "The gate on Elm Road is broken" not in html
    handled = organiser.get("/staff/inbox?show=handled").get_data(as_text=True)
    assert "The gate on Elm Road is broken" in handled
    assert "Thanks Amira, we have told the council." in handled
    assert "Handled by staff:organiser@example.org" in handled


def test_a_reply_can_leave_the_item_unhandled(organiser, world, fake):
    phone, item = to_staff(world)
    assert reply(organiser, item, "Which gate?", handled=False).status_code == 303
    assert fake.bodies_to(phone)[-1] == "Which gate?"
    html = organiser.get("/staff/inbox").get_data(as_text=True)
    assert "The gate on Elm Road is broken" in html and "Which gate?" in html


def test_no_reply_to_a_member_who_opted_out(app, organiser, world, fake):
    phone, item = to_staff(world, name="Sam")
    world.text(phone, "STOP")
    sent_before = len(fake.bodies_to(phone))
    html = organiser.get("/staff/inbox").get_data(as_text=True)
    assert "Has opted out (texted STOP)." in html
    assert f'name="reply-{item}-body"' not in html
    response = reply(organiser, item, "Are you sure?")
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "has opted out" in page and "no reply was sent" in page
    assert staff_replies(world) == []
    assert len(fake.bodies_to(phone)) == sent_before
    assert "inbox.replied" not in audit_actions(app)
    assert world.rows(Comment)[0].handled_at is None  # nothing written


def test_the_outbox_skips_a_reply_if_the_member_stops_before_it_goes(app, world, fake):
    """The outbox's own STOP guard holds for staff replies too."""
    phone, item = to_staff(world)
    with app.app_context():
        message = inbox_ops.reply(item, "We'll be in touch", actor="staff:test")
        message_id = message.id
        db.session.commit()
        member = db.session.execute(select(Member).where(Member.phone == phone)).scalar_one()
        members_ops.opt_out(member, "sms")
        db.session.commit()
        send_message(message_id)
    (skipped,) = staff_replies(world)
    assert skipped.status == "skipped"
    assert "We'll be in touch" not in fake.bodies_to(phone)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("   ", "Write the reply first."),
        ("x" * 1531, "A reply can be at most 10 texts long; this one would be 11."),
        ("ش" * 671, "A reply can be at most 10 texts long; this one would be 11."),
    ],
)
def test_a_reply_must_be_written_and_fit_the_sms_limits(app, organiser, world, fake, body, message):
    _, item = to_staff(world)
    response = reply(organiser, item, body)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'<p id="reply-{item}-body-error" class="field-error">{message}</p>' in html
    assert 'aria-invalid="true"' in html
    assert staff_replies(world) == []
    assert world.rows(Comment)[0].handled_at is None


def test_the_longest_reply_that_fits_is_sent(organiser, world, fake):
    _, item = to_staff(world)
    assert reply(organiser, item, "x" * 1530).status_code == 303
    assert staff_replies(world)[0].segments == 10


def test_marking_handled_takes_it_out_of_the_inbox_and_back(app, organiser, world):
    _, item = to_staff(world)
    with app.app_context():
        assert inbox_ops.unhandled_count() == 1
    response = post(organiser, f"/staff/inbox/{item}/handled", {"handled": "1"})
    assert response.status_code == 303
    assert "The gate on Elm Road is broken" not in organiser.get("/staff/inbox").get_data(
        as_text=True
    )
    with app.app_context():
        assert inbox_ops.unhandled_count() == 0
    handled = organiser.get("/staff/inbox?show=handled").get_data(as_text=True)
    assert "The gate on Elm Road is broken" in handled
    assert "Handled by staff:organiser@example.org" in handled
    comment = world.rows(Comment)[0]
    assert comment.handled_by == "staff:organiser@example.org" and comment.handled_at
    # And back into the inbox.
    response = post(organiser, f"/staff/inbox/{item}/handled?show=handled", {"handled": "0"})
    assert response.headers["Location"] == "/staff/inbox?show=handled"
    assert "The gate on Elm Road is broken" in organiser.get("/staff/inbox").get_data(as_text=True)
    assert audit_actions(app)[-2:] == ["inbox.handled", "inbox.reopened"]


def test_an_unknown_item_is_not_found(organiser, world):
    response = reply(organiser, 999, "Hello")
    assert response.status_code == 303
    assert "no such message" in organiser.get(response.headers["Location"]).get_data(as_text=True)


def test_the_inbox_is_paged_newest_first(app, organiser, world):
    phone = world.member(name="Busy")
    with app.app_context():
        member_id = db.session.execute(select(Member.id).where(Member.phone == phone)).scalar()
        db.session.execute(
            insert(Comment),
            [
                {
                    "member_id": member_id,
                    "body": f"note {n:02d}",
                    "channel": "sms",
                    "language": "en",
                }
                for n in range(30)
            ],
        )
        db.session.commit()
        assert inbox_ops.unhandled_count() == 30
    first = organiser.get("/staff/inbox").get_data(as_text=True)
    shown = re.findall(r"note (\d\d)", first)
    assert shown == [f"{n:02d}" for n in range(29, 4, -1)]  # the newest 25, newest first
    assert "Newer messages" not in first
    older = re.search(r'href="(/staff/inbox\?before=\d+)"', first).group(1)
    second = organiser.get(older).get_data(as_text=True)
    assert re.findall(r"note (\d\d)", second) == ["04", "03", "02", "01", "00"]
    assert "Older messages" not in second
    newer = re.search(r'href="(/staff/inbox\?after=\d+)"', second).group(1)
    again = organiser.get(newer.replace("&amp;", "&")).get_data(as_text=True)
    assert re.findall(r"note (\d\d)", again) == shown


def test_the_inbox_in_arabic_is_right_to_left(organiser, world):
    to_staff(world, "متى الاجتماع؟", language="ar", name="سارة")
    html = organiser.get("/staff/inbox?lang=ar").get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in html
    assert (
        '<blockquote lang="ar" dir="rtl"><p class="text-body">متى الاجتماع؟</p></blockquote>'
        in html
    )
    assert "<bdi>سارة</bdi>" in html
