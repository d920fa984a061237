"""Review of inbound texts, the staff API and the public pages: each test here failed before
the fix committed with it (bad input that gave a 500, STOP not honoured, racing writes).

Run on PostgreSQL too (TEST_DATABASE_URL): several of these only fail there.
"""

from __future__ import annotations

import contextlib
import threading

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Comment, Member, Message
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL
from tests.fake_twilio import sign
from tests.inbound_helpers import World, inbound_params, new_sid

# --- public pages ----------------------------------------------------------------------


@pytest.mark.parametrize("page", ["%C2%B2", "%C2%B9%C2%B2"])  # "²", "¹²": digits, not decimals
def test_register_page_number_in_superscript_digits_is_not_a_500(client, page):
    response = client.get(f"/decisions?page={page}")
    assert response.status_code == 200
    assert client.get("/decisions?page=%D9%A1").status_code == 200  # Arabic-Indic 1 still reads


# --- staff API: consultations ----------------------------------------------------------


DRAFT_JSON = '{"code": "Q1", "kind": "yes_no", "title": {"en": "T"}, "summary": {"en": "S"}}'


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


@pytest.mark.parametrize("field", ["closes_at", "remind_at"])
@pytest.mark.parametrize("when", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+05:00"])
def test_date_past_the_calendar_in_utc_is_422_not_a_500(api, field, when):
    response = draft(api, **{field: when})
    assert response.status_code == 422
    assert field in response.get_json()["error"]
    assert api.get("/consultations/Q1").status_code == 404


def test_closing_in_year_9999_is_refused_so_pages_east_of_utc_still_show(make_app):
    """Accepted, it made /c/{code} a 500 wherever TIMEZONE is ahead of UTC."""
    app = make_app(TIMEZONE="Asia/Kolkata")
    client = app.test_client()
    made = app.test_cli_runner().invoke(args=["api-token", "create", "review"])
    headers = {"Authorization": "Bearer " + made.output.strip().splitlines()[-1]}
    payload = {"code": "Q1", "kind": "yes_no", "title": {"en": "T"}, "summary": {"en": "S"}}
    far = client.post(
        "/api/v1/consultations",
        headers=headers,
        json={**payload, "closes_at": "9999-12-31T23:00:00Z"},
    )
    assert far.status_code == 422
    near = client.post(
        "/api/v1/consultations",
        headers=headers,
        json={**payload, "closes_at": "9998-12-31T23:00:00Z"},
    )
    assert near.status_code == 201
    assert client.post("/api/v1/consultations/Q1/open", headers=headers).status_code == 200
    assert client.get("/c/Q1").status_code == 200


@pytest.mark.parametrize("code", ["P12\n", "p12\n"])
def test_code_with_a_final_newline_is_refused_not_a_second_p12(api, code):
    assert draft(api, code="P12").status_code == 201
    response = draft(api, code=code)
    assert response.status_code == 422
    assert "code" in response.get_json()["error"]
    assert api.get("/consultations/P12%0A").status_code == 404


# --- staff API: bodies that are not text or JSON a page can show ----------------------


@pytest.mark.parametrize(
    "path,payload",
    [
        ("/members", '{"phone": "07400 123456", "name": "Amira \\ud800"}'),
        ("/consultations", DRAFT_JSON.replace('"T"', '"T \\udfff"')),
        ("/consultations", DRAFT_JSON.replace('"S"', '"\\ud83d S"')),
    ],
)
def test_lone_surrogate_in_a_json_body_is_422(api, client, path, payload):
    """JSON can spell one; stored, it made the member a 500, and /c/{code} and the register
    a 500 for everyone from then on (it cannot be written as UTF-8)."""
    response = api.post(path, data=payload, content_type="application/json")
    assert response.status_code == 422
    assert "Unicode" in response.get_json()["error"]
    assert client.get("/decisions").status_code == 200


def test_json_nested_too_deep_is_422_not_a_500(api):
    response = api.post(
        "/members", data="[" * 100_000 + "]" * 100_000, content_type="application/json"
    )
    assert response.status_code == 422
    assert response.get_json() == {"error": "the body must be valid JSON"}


# --- NUL characters (PostgreSQL text cannot hold them) ---------------------------------


def test_text_with_a_nul_is_recorded_and_answered_not_a_500(world):
    world.consultation("P12")
    phone = world.member()
    reply = world.text(phone, "yes but\x00 only on weekends")
    assert reply is not None and "P12" in reply
    assert world.results("P12")["votes"]["yes"] == 1
    assert world.rows(Message, Message.direction == "in")[0].body == "yes but only on weekends"
    assert world.rows(Comment)[0].body == "but only on weekends"


def test_note_to_staff_with_a_nul_is_recorded_not_a_500(world):
    phone = world.member()
    assert world.text(phone, "\x00hello\x00 anyone there?") is not None
    assert world.rows(Comment)[0].body == "hello anyone there?"


def test_simulator_text_with_a_nul_is_recorded_not_a_500(world, app):
    from tests.staff_helpers import staff_client
    from tests.test_simulator import send

    client = staff_client(app, "organiser")
    phone = world.member()
    response = send(client, phone=phone, body="help\x00")
    assert response.status_code == 303
    assert world.rows(Message, Message.direction == "in")[0].kind == "help"


def test_web_comment_with_a_nul_is_recorded_not_a_500(world, client):
    from tests.test_personal_page import path_for, submit

    world.consultation("P12")
    path = path_for(world, world.member(), "P12")
    response = submit(client, path, choice="yes", comment="fine\x00 by me")
    assert response.status_code == 303
    assert world.rows(Comment)[0].body == "fine by me"
    assert world.results("P12")["votes"]["yes"] == 1


def test_member_name_with_a_nul_is_422_not_a_500(api):
    response = api.post("/members", json={"phone": "07400 123456", "name": "Amira\u0000"})
    assert response.status_code == 422
    assert "name" in response.get_json()["error"]
    assert api.get("/members/%2B447400123456").status_code == 404


# --- STOP before membership ---------------------------------------------------------------


@pytest.fixture
def sending(make_app):
    """(app, staff API, FakeTwilio): an app whose texts really go out, to FakeTwilio."""
    from tests.outbox_helpers import Staff, finish, start_fake, twilio_env

    fake = start_fake()
    app = make_app(**twilio_env(fake))
    yield app, Staff(app), fake
    finish(app)
    fake.stop()


def test_number_that_texted_stop_gets_no_broadcast_after_staff_add_it(sending):
    """STOP from a stranger, then staff add the number: it was made active and texted."""
    from tests.outbox_helpers import per_phone

    app, staff, fake = sending
    world = World(app, staff, None)
    world.signed_post = lambda path, params: _signed(app, path, params)
    stopped, other = world.stranger(), world.stranger()
    assert world.text(stopped, "STOP") is not None  # the one confirmation
    added = staff.post("/members", json={"phone": stopped, "groups": ["community"]})
    assert added.status_code == 201
    assert added.get_json()["status"] == "opted_out"
    assert added.get_json()["consent"]["opt_out_source"] == "sms"
    assert staff.post("/members", json={"phone": other}).get_json()["status"] == "active"
    staff.consultation()
    sent = staff.post("/consultations/P12/broadcast")
    assert sent.status_code == 202 and sent.get_json()["recipients"] == 1
    # `other` got its welcome (a member staff added) and the broadcast; `stopped` nothing.
    assert stopped not in per_phone(fake) and per_phone(fake)[other] == 2
    assert [b for b in fake.bodies_to(other) if "P12" in b] != []


def test_number_that_texted_stop_then_start_is_added_active(make_app):
    """START after STOP is their consent again (here joining is closed, so staff add them)."""
    from tests.outbox_helpers import Staff

    app = make_app(OPEN_JOINING="false")
    staff = Staff(app)
    world = World(app, staff, None)
    world.signed_post = lambda path, params: _signed(app, path, params)
    number = world.stranger()
    world.text(number, "STOP")
    world.text(number, "START")
    added = staff.post("/members", json={"phone": number})
    assert added.status_code == 201 and added.get_json()["status"] == "active"


def _signed(app, path, params):
    """A signed Twilio POST to `app`."""
    signature = sign(PUBLIC_BASE_URL + path, params, AUTH_TOKEN)
    return app.test_client().post(path, data=params, headers={"X-Twilio-Signature": signature})


# --- texts arriving together ---------------------------------------------------------------


def deliver_together(app, forms: list[dict[str, str]]) -> list[int]:
    """POST each signed inbound form from its own thread, all at once; the status codes."""
    start = threading.Barrier(len(forms))
    codes: list[int | None] = [None] * len(forms)
    errors = []

    def deliver(i: int, form: dict[str, str]) -> None:
        try:
            client = app.test_client()
            signature = sign(PUBLIC_BASE_URL + "/twilio/inbound", form, AUTH_TOKEN)
            start.wait()
            response = client.post(
                "/twilio/inbound", data=form, headers={"X-Twilio-Signature": signature}
            )
            codes[i] = response.status_code
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=item) for item in enumerate(forms)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return codes


def test_join_sent_twice_at_once_by_a_new_number_records_both_texts(world, app):
    """The loser of the member insert used to poison its transaction: a 500, its text lost."""
    for _ in range(3):
        phone = world.stranger()
        codes = deliver_together(app, [inbound_params(phone, "JOIN") for _ in range(4)])
        assert codes == [200] * 4
        assert world.count(Member, Member.phone == phone) == 1
        assert world.count(Message, Message.phone == phone, Message.direction == "in") == 4


# --- the audit log under concurrency -----------------------------------------------------


@pytest.mark.parametrize("before", [0, 1])
def test_audit_events_of_two_transactions_at_once_both_commit_in_one_chain(app, before):
    """Two requests each append an event while the other is open.

    On an empty log (before=0) both added the head row and the loser failed (PostgreSQL);
    on SQLite, where SELECT ... FOR UPDATE locks nothing, both read one head and the
    loser failed on the unique seq whatever the log held.
    """
    from app import audit

    with app.app_context():
        for n in range(before):
            audit.record("review", "review.before", "review", n)
        db.session.commit()
    both_written = threading.Barrier(2)
    errors = []

    def write(n):
        try:
            with app.app_context():
                audit.record("review", "review.event", "review", n)
                # With the head locked the other waits for our commit, so this times out.
                with contextlib.suppress(threading.BrokenBarrierError):
                    both_written.wait(timeout=2)
                db.session.commit()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    with app.app_context():
        seqs = db.session.execute(select(AuditEvent.seq).order_by(AuditEvent.seq)).scalars()
        assert list(seqs) == list(range(1, before + 3))
        assert audit.verify().ok


def test_same_code_drafted_twice_at_once_is_one_201_and_one_409(app, token):
    """The unique code fired in the second request's flush: a 500 instead of a 409."""
    headers = {"Authorization": f"Bearer {token}"}
    for n in range(5):
        code = f"R{n}"
        start = threading.Barrier(4)
        codes, errors = [], []

        def post(code=code, start=start, codes=codes, errors=errors):
            try:
                client = app.test_client()
                start.wait()
                response = client.post(
                    "/api/v1/consultations",
                    headers=headers,
                    data=DRAFT_JSON.replace('"Q1"', f'"{code}"'),
                    content_type="application/json",
                )
                codes.append(response.status_code)
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=post) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors
        assert sorted(codes) == [201, 409, 409, 409]


@pytest.mark.parametrize("char", ["\x0b", "\x1b", "\x01", "\ufffe"])
@pytest.mark.parametrize("field", ["title", "summary", "body", "option"])
def test_staff_text_with_a_control_character_is_422(api, field, char):
    """Stored, it made every TwiML reply quoting it (INFO, a confirmation naming the option)
    ill-formed XML: Twilio drops the reply and the member gets nothing."""
    text = {"en": f"Line one{char}line two"}
    fields = {"kind": "choice", "options": [{"label": {"en": "A"}}, {"label": {"en": "B"}}]}
    if field == "option":
        fields["options"][1] = {"label": text}
    else:
        fields[field] = text
    response = draft(api, **fields)
    assert response.status_code == 422
    assert "control characters" in response.get_json()["error"]


def test_staff_text_keeps_line_breaks_and_tabs(api, world):
    assert draft(api, body={"en": "Line one\r\nline two\n\tthree"}).status_code == 201
    assert api.post("/consultations/Q1/open").status_code == 200
    reply = world.text(world.member(), "INFO Q1")
    assert "line two" in reply


# --- Twilio retries after a STOP ----------------------------------------------------------


def test_retry_of_an_earlier_text_after_stop_gets_no_reply(world):
    """The stored answer is not replayed to someone who has since said STOP."""
    world.consultation("P12")
    phone = world.member()
    sid = new_sid()
    assert "P12" in world.text(phone, "yes", sid=sid)
    assert world.text(phone, "STOP") is not None
    assert world.text(phone, "yes", sid=sid) is None
    assert world.results("P12")["votes"]["yes"] == 1
    assert world.count(Message, Message.direction == "in") == 2


def test_retry_of_a_strangers_text_after_stop_gets_no_reply(world):
    phone = world.stranger()
    sid = new_sid()
    assert world.text(phone, "hello", sid=sid) is not None  # the welcome
    assert world.text(phone, "STOP") is not None
    assert world.text(phone, "hello", sid=sid) is None


def test_retry_of_the_stop_itself_replays_its_one_confirmation(world):
    phone = world.member()
    sid = new_sid()
    first = world.text(phone, "STOP", sid=sid)
    assert first is not None and world.text(phone, "STOP", sid=sid) == first


def test_retry_after_stop_and_start_replays_again(world):
    world.consultation("P12")
    phone = world.member()
    sid = new_sid()
    first = world.text(phone, "yes", sid=sid)
    world.text(phone, "STOP")
    world.text(phone, "START")
    assert world.text(phone, "yes", sid=sid) == first


def test_retry_after_an_opt_out_by_the_carrier_gets_no_reply(world):
    """Opted out without a STOP text (Twilio's 21610 on a send): silenced the same."""
    from app.domain import members

    world.consultation("P12")
    phone = world.member()
    sid = new_sid()
    assert world.text(phone, "yes", sid=sid) is not None
    with world.app.app_context():
        member = db.session.execute(select(Member).where(Member.phone == phone)).scalar_one()
        members.opt_out(member, "twilio-21610")
        db.session.commit()
    assert world.text(phone, "yes", sid=sid) is None
