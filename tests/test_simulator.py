"""The phone simulator at /staff/simulator: texting in without Twilio, and the conversation."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Member, Message
from app.sms.render import render
from tests.staff_helpers import staff_client


@pytest.fixture
def client(app):
    """A signed-in organiser (the test app could send real texts)."""
    return staff_client(app, "organiser")


def form_token(client, path="/staff/simulator") -> str:
    """The CSRF token of the form on `path`."""
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def send(client, path="/staff/simulator", **form):
    """Submit the simulator form; returns the redirect response."""
    return client.post(path, data={"csrf_token": form_token(client), **form})


def test_page_is_small_accessible_and_needs_no_javascript(client, world):
    world.member(name="Amira")
    response = client.get("/staff/simulator")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in html
    assert "<script" not in html
    assert len(response.data) < 8000
    # Every form control has a label pointing at it.
    ids = re.findall(r'<(?:input|select|textarea)[^>]* id="([^"]+)"', html)
    assert sorted(ids) == ["body", "member", "phone"]
    for control in ids:
        assert f'<label for="{control}">' in html
    assert "Amira" in html


@pytest.mark.parametrize(("lang", "direction"), [("ar", "rtl"), ("ur", "rtl"), ("cy", "ltr")])
def test_page_language_and_direction(client, lang, direction):
    html = client.get(f"/staff/simulator?lang={lang}").get_data(as_text=True)
    assert f'<html lang="{lang}" dir="{direction}">' in html


def test_texting_as_a_member_goes_through_the_domain(client, world):
    world.consultation("P12")
    phone = world.member()
    world.sent("P12", phone)
    response = send(client, member=phone, phone="", body="yes but on Sundays")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/staff/simulator?phone=%2B447400200001")
    assert world.results("P12")["votes"]["yes"] == 1
    assert world.results("P12")["comments"] == 1
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    # The broadcast, the text and the reply, in order.
    broadcast = html.index("P12: Summary of P12")
    inbound = html.index("yes but on Sundays")
    reply = html.index("P12: your vote YES and your comment are recorded")
    assert broadcast < inbound < reply
    sid = world.rows(Message, Message.direction == "in")[0].twilio_sid
    assert sid.startswith("SM") and len(sid) <= 64


def test_a_typed_number_wins_and_strangers_can_join(client, world):
    member = world.member()
    response = send(client, member=member, phone="07400 399 001", body="JOIN")
    assert response.status_code == 303
    joined = world.get_member("+447400399001")
    assert joined is not None and joined.groups == ["community"]
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    with world.app.app_context():
        assert render("joined", "en", org="Chorus") in html


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"member": "", "phone": "", "body": "yes"}, "Choose a member or type a phone number."),
        ({"phone": "not a number", "body": "yes"}, "That is not a phone number we can use."),
        ({"phone": "+447400399002", "body": "x" * 1601}, "A text can be at most 1600"),
    ],
)
def test_bad_input_gets_a_clear_answer_and_changes_nothing(client, world, form, message):
    response = send(client, **form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert world.count(Message) == 0


def test_bad_phone_in_the_address_bar(client):
    response = client.get("/staff/simulator?phone=nonsense")
    assert response.status_code == 422
    assert "That is not a phone number we can use." in response.get_data(as_text=True)


def test_console_backend_simulator_works_while_the_webhook_is_closed(make_app):
    app = make_app(
        TWILIO_AUTH_TOKEN="", TWILIO_ACCOUNT_SID="", SMS_BACKEND="console", SIMULATOR_OPEN="true"
    )
    client = app.test_client()
    assert (
        client.post(
            "/twilio/inbound", data={"MessageSid": "SMx", "From": "+447400399003"}
        ).status_code
        == 403
    )
    response = send(client, phone="+447400399003", body="hello")
    assert response.status_code == 303
    with app.app_context():
        rows = db.session.execute(select(Message).order_by(Message.id)).scalars().all()
        assert [m.direction for m in rows] == ["in", "out"]
        assert db.session.execute(select(Member)).first() is None


def test_home_links_to_the_simulator(client):
    html = client.get("/").get_data(as_text=True)
    assert 'href="/staff/simulator"' in html


def test_the_page_language_survives_sending(client, world):
    phone = world.member()
    response = send(client, "/staff/simulator?lang=ar", member=phone, body="hi")
    assert response.status_code == 303 and "lang=ar" in response.headers["Location"]
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in html
    assert 'action="/staff/simulator?lang=ar"' in html


@pytest.mark.parametrize("backend", ["twilio", "console"])
def test_without_simulator_open_the_simulator_needs_a_staff_sign_in(make_app, backend):
    """Only SIMULATOR_OPEN=true opens it (make run sets it), whatever the backend."""
    app = make_app(SMS_BACKEND=backend)
    anonymous = app.test_client()
    response = anonymous.get("/staff/simulator")
    assert response.status_code == 303 and "/staff/login" in response.headers["Location"]
    with app.app_context():
        member = Member(phone="+447400399004", language="en", status="active")
        db.session.add(member)
        db.session.commit()
    data = {"member": "+447400399004", "body": "STOP"}
    response = anonymous.post("/staff/simulator", data=data)
    assert response.status_code in (303, 400)
    with app.app_context():
        assert db.session.execute(select(Message)).first() is None
        assert db.session.execute(select(Member.status)).scalar() == "active"


def test_a_text_typed_by_signed_in_staff_names_their_account(client, world):
    phone = world.member()
    assert send(client, member=phone, body="yes").status_code == 303
    with world.app.app_context():
        inbound = db.session.execute(select(Message).where(Message.direction == "in")).scalar()
        assert inbound.entered_by == "staff:organiser@example.org"


def test_a_viewer_cannot_text_from_the_simulator(app, world):
    viewer = staff_client(app, "viewer")
    assert viewer.get("/staff/simulator").status_code == 403


def test_a_post_without_the_form_token_is_refused_and_changes_nothing(client, world):
    phone = world.member()
    response = client.post("/staff/simulator", data={"member": phone, "body": "STOP"})
    assert response.status_code == 400
    with world.app.app_context():
        assert db.session.execute(select(Message)).first() is None


def test_sign_out(client):
    assert client.get("/staff/simulator").status_code == 200
    response = client.post("/staff/logout", data={"csrf_token": form_token(client)})
    assert response.status_code == 303
    assert client.get("/staff/simulator").status_code == 303
