"""`POST /twilio/status`: signed, forward-only, idempotent, reconciling."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from app.domain.outbox import queue as outbox_queue
from app.extensions import db
from app.models import Member, Message
from app.tasks import outbox as outbox_tasks
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE_URL
from tests.fake_twilio import sign
from tests.outbox_helpers import Person, Staff, add_members, finish, phone, start_fake, twilio_env


def new_message(app, status="sent", sid="SM" + "1" * 32, **extra) -> int:
    """An outbound message row in `status`; returns its id."""
    with app.app_context():
        message = outbox_queue.queue_message(phone=phone(1), body="hello", kind="test")
        message.status, message.twilio_sid = status, sid
        for name, value in extra.items():
            setattr(message, name, value)
        db.session.commit()
        return message.id


def row(app, message_id) -> Message:
    """The message as stored now."""
    with app.app_context():
        found = db.session.get(Message, message_id)
        db.session.expunge(found)
        return found


def callback(status, sid="SM" + "1" * 32, **extra) -> dict[str, str]:
    """Form params of a Twilio status callback."""
    params = {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": phone(1),
        "From": "+447700100200",
        "ApiVersion": "2010-04-01",
    }
    params.update(extra)
    return params


def post(client, params, query="", token=AUTH_TOKEN):
    """POST a signed callback to /twilio/status?query."""
    path = "/twilio/status" + (f"?{query}" if query else "")
    signature = sign(PUBLIC_BASE_URL + path, params, token)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


@pytest.mark.parametrize(
    "sequence, final",
    [
        (["sent", "delivered"], "delivered"),
        (["delivered", "sent"], "delivered"),  # out of order: a late "sent" changes nothing
        (["delivered", "delivered", "sent", "sent"], "delivered"),  # repeated
        (["undelivered", "sent", "delivered"], "undelivered"),  # final states are final
        (["queued", "sending", "sent"], "sent"),
        (["failed"], "failed"),
        (["read"], "delivered"),
        (["something-new"], "sent"),  # an unknown status changes nothing
    ],
)
def test_statuses_only_move_forward(app, client, sequence, final):
    message_id = new_message(app)
    for status in sequence:
        assert post(client, callback(status), query=f"m={message_id}").status_code == 204
    assert row(app, message_id).status == final


def test_found_by_sid_without_m(app, client):
    message_id = new_message(app)
    assert post(client, callback("delivered")).status_code == 204
    assert row(app, message_id).status == "delivered"


def test_records_a_missing_sid_and_reconciles_a_claimed_message(app, client):
    """We died after Twilio accepted it but before recording: the callback tells us."""
    message_id = new_message(app, status="sending", sid=None)
    assert (
        post(client, callback("sent", sid="SM" + "9" * 32), query=f"m={message_id}").status_code
        == 204
    )
    stored = row(app, message_id)
    assert (stored.status, stored.twilio_sid) == ("sent", "SM" + "9" * 32)
    with app.app_context():
        assert outbox_tasks.recover_stale() == (0, 0)


def test_undelivered_keeps_the_error_for_staff(app, client):
    message_id = new_message(app)
    post(client, callback("undelivered", ErrorCode="30003"), query=f"m={message_id}")
    stored = row(app, message_id)
    assert (stored.status, stored.error_code) == ("undelivered", "30003")
    assert "unreachable" in stored.failed_reason


def test_21610_in_a_callback_opts_the_member_out(app, client):
    (member_id,) = add_members(app, [Person(1)])
    message_id = new_message(app, member_id=member_id)
    post(client, callback("failed", ErrorCode="21610"), query=f"m={message_id}")
    with app.app_context():
        assert db.session.get(Member, member_id).status == "opted_out"


def test_unknown_message_is_answered_and_ignored(app, client):
    message_id = new_message(app)
    before = row(app, message_id)
    for query in ("m=99999", "m=abc", "m=" + "9" * 40, ""):
        r = post(client, callback("delivered", sid="SM" + "0" * 32), query=query)
        assert r.status_code == 204
    after = row(app, message_id)
    assert (after.status, after.twilio_sid) == (before.status, before.twilio_sid)


@pytest.mark.parametrize(
    "how",
    ["no signature", "wrong token", "other message id", "tampered status"],
)
def test_forged_callbacks_are_refused_and_change_nothing(app, client, how):
    message_id = new_message(app)
    params = callback("undelivered", ErrorCode="30003")
    path = f"/twilio/status?m={message_id}"
    signature = sign(PUBLIC_BASE_URL + path, params, AUTH_TOKEN)
    headers = {"X-Twilio-Signature": signature}
    if how == "no signature":
        headers = {}
    elif how == "wrong token":
        headers = {"X-Twilio-Signature": sign(PUBLIC_BASE_URL + path, params, "nope")}
    elif how == "other message id":
        path = f"/twilio/status?m={message_id + 1}"
    else:
        params = dict(params, MessageStatus="delivered")
    r = app.test_client().post(path, data=params, headers=headers)
    assert r.status_code == 403
    stored = row(app, message_id)
    assert (stored.status, stored.error_code) == ("sent", None)


def test_fake_twilio_callbacks_end_to_end(make_app):
    """Real callbacks from FakeTwilio, reversed and repeated, reach a running app."""
    server = make_server("127.0.0.1", 0, None)  # bind first to learn the port
    port = server.server_port
    server.server_close()
    fake = start_fake(callbacks=True, callback_order="reverse", callback_repeat=2)
    app = make_app(PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", **twilio_env(fake))
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        add_members(app, [Person(1), Person(2), Person(3)])
        staff = Staff(app)
        staff.consultation()
        broadcast_id = staff.post("/consultations/P12/broadcast").json["broadcast_id"]
        log = fake.wait_for_callbacks(12, timeout=10)
        assert {entry["status"] for entry in log} == {204}
        got = staff.get(f"/broadcasts/{broadcast_id}").json
        assert (got["sent"], got["delivered"]) == (3, 3)
        with app.app_context():
            statuses = db.session.execute(select(Message.status)).scalars().all()
        assert statuses == ["delivered"] * 3
    finally:
        server.shutdown()
        server.server_close()
        finish(app)
        fake.stop()
