"""The member page's data buttons: export everything as JSON, erase on request, and the
carrier's block shown to staff."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Member, Message, utcnow
from tests.staff_helpers import post, staff_client


def _member_id(app, phone: str) -> int:
    with app.app_context():
        return db.session.execute(select(Member.id).where(Member.phone == phone)).scalar_one()


def test_an_organiser_downloads_everything_held_about_a_member(app, world):
    phone = world.member(name="Nia")
    world.consultation("P12")
    world.text(phone, "yes but only on Sundays")
    member_id = _member_id(app, phone)
    client = staff_client(app, "organiser")
    page = client.get(f"/staff/members/{member_id}").get_data(as_text=True)
    assert f"/staff/members/{member_id}/export.json" in page
    answer = client.get(f"/staff/members/{member_id}/export.json")
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"].startswith("attachment")
    data = answer.get_json()
    assert data["member"]["phone"] == phone
    assert any("Sundays" in text["body"] for text in data["texts"])
    assert (
        staff_client(app, "viewer", "v@example.org")
        .get(f"/staff/members/{member_id}/export.json")
        .status_code
        == 403
    )


def test_erasure_asks_first_then_removes_the_number_and_keeps_the_vote(app, world):
    phone = world.member(name="Nia")
    world.consultation("P12")
    world.text(phone, "yes")
    member_id = _member_id(app, phone)
    client = staff_client(app, "organiser")
    confirm = client.get(f"/staff/members/{member_id}/erase")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Member, member_id).phone == phone  # asking erased nothing
    done = post(client, f"/staff/members/{member_id}/erase")
    assert done.status_code == 303
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Erased" in page and phone not in page
    assert world.results("P12")["votes"]["yes"] == 1
    with app.app_context():
        assert db.session.get(Member, member_id).phone != phone
    assert client.get(f"/staff/members/{member_id}/erase").status_code == 404
    viewer = staff_client(app, "viewer", "v@example.org")
    assert post(viewer, f"/staff/members/{member_id}/erase").status_code == 403


def test_a_member_blocked_by_the_carrier_is_shown_with_the_reason(app, world):
    phone = world.member()
    member_id = _member_id(app, phone)
    with app.app_context():
        member = db.session.get(Member, member_id)
        member.carrier_blocked_at = utcnow()
        member.carrier_blocked_reason = "Twilio 21610: texting START lifts it."
        db.session.commit()
    page = staff_client(app, "viewer").get(f"/staff/members/{member_id}").get_data(as_text=True)
    assert "Blocked by the carrier" in page and "Twilio 21610" in page


def test_a_member_added_in_the_console_gets_the_welcome_first(app, world):
    client = staff_client(app, "organiser")
    answer = post(
        client,
        "/staff/members/new",
        {"phone": "07400 123987", "name": "Nia", "language": "cy", "groups": "community"},
    )
    assert answer.status_code == 303, answer.get_data(as_text=True)
    with app.app_context():
        member = db.session.execute(
            select(Member).where(Member.phone == "+447400123987")
        ).scalar_one()
        assert member.consent_by == "staff:organiser@example.org"
        welcome = db.session.execute(
            select(Message).where(Message.member_id == member.id)
        ).scalar_one()
        assert welcome.kind == "added" and welcome.priority == "high"
