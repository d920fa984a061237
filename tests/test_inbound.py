"""POST /twilio/inbound: signatures, exactly-once, and what each kind of text does.

Texts go through the signed webhook; effects are checked through the results API
and the stored rows. The wide table of real-looking replies in ten languages is in
test_inbound_languages.py.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Comment, Member, Message, Vote, VoteChange
from app.sms import segments
from app.sms.render import render
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL
from tests.fake_twilio import sign
from tests.inbound_helpers import World, deliver_at_once, inbound_params, new_sid, twiml_reply

ORG = "Chorus"


def nothing_written(world: World) -> bool:
    """No message, vote or comment rows at all."""
    return (world.count(Message), world.count(Vote), world.count(Comment)) == (0, 0, 0)


# --- signatures ----------------------------------------------------------------------

GOOD = inbound_params("+447400299999", "P12 yes", sid="SM" + "a" * 32)


def _forged(case: str) -> dict[str, str]:
    url = PUBLIC_BASE_URL + "/twilio/inbound"
    if case == "missing":
        return {}
    if case == "empty":
        return {"X-Twilio-Signature": ""}
    if case == "garbage":
        return {"X-Twilio-Signature": "not-a-signature"}
    if case == "wrong token":
        return {"X-Twilio-Signature": sign(url, GOOD, "some-other-token")}
    if case == "other url":
        return {"X-Twilio-Signature": sign("https://evil.example/twilio/inbound", GOOD, AUTH_TOKEN)}
    if case == "request host":  # what request.url would give behind the proxy
        return {"X-Twilio-Signature": sign("http://localhost/twilio/inbound", GOOD, AUTH_TOKEN)}
    if case == "tampered body":
        return {"X-Twilio-Signature": sign(url, {**GOOD, "Body": "P12 no"}, AUTH_TOKEN)}
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    ["missing", "empty", "garbage", "wrong token", "other url", "request host", "tampered body"],
)
def test_forged_or_missing_signature_is_403_and_writes_nothing(world, client, case):
    world.consultation("P12")
    world.member()
    response = client.post("/twilio/inbound", data=GOOD, headers=_forged(case))
    assert response.status_code == 403
    assert nothing_written(world)


def test_signed_request_is_accepted(world):
    world.consultation("P12")
    reply = world.text("+447400299999", "P12 yes", sid=GOOD["MessageSid"])
    assert reply == render_in(world, "welcome", org=ORG)
    assert world.count(Message, Message.direction == "in") == 1


def test_signature_covers_the_raw_query_string(world, signed_post, client):
    """Twilio signs the URL it called, query string included, exactly as written."""
    query = "source=sms&tag=a%20b&x=%7E"
    response = signed_post("/twilio/inbound", inbound_params("+447400299998", "hi"), query=query)
    assert twiml_reply(response) is not None
    # The same signature without the query, or with it re-encoded, is refused.
    params = inbound_params("+447400299998", "hi")
    signature = sign(f"{PUBLIC_BASE_URL}/twilio/inbound?{query}", params, AUTH_TOKEN)
    for path in ("/twilio/inbound", "/twilio/inbound?source=sms&tag=a+b&x=~"):
        response = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
        assert response.status_code == 403, path
    assert world.count(Message, Message.direction == "in") == 1


def test_behind_a_proxy_the_public_base_url_is_what_counts(make_app):
    """Request arrives as http://internal:8000; Twilio signed https://sms.example.net."""
    app = make_app(PUBLIC_BASE_URL="https://sms.example.net")
    client = app.test_client()
    params = inbound_params("+447400299997", "hello")
    good = sign("https://sms.example.net/twilio/inbound", params, AUTH_TOKEN)
    local = sign("http://internal:8000/twilio/inbound", params, AUTH_TOKEN)

    def post(signature):
        headers = {"X-Twilio-Signature": signature, "X-Forwarded-Proto": "https"}
        return client.post(
            "/twilio/inbound", data=params, headers=headers, base_url="http://internal:8000"
        )

    assert post(local).status_code == 403
    accepted = post(good)
    assert twiml_reply(accepted) is not None


def test_without_an_auth_token_the_webhook_is_closed(make_app):
    """Console backend: nothing can be verified, so nothing gets in by HTTP."""
    app = make_app(TWILIO_AUTH_TOKEN="", TWILIO_ACCOUNT_SID="", SMS_BACKEND="console")
    params = inbound_params("+447400299996", "yes")
    signature = sign(PUBLIC_BASE_URL + "/twilio/inbound", params, "")
    response = app.test_client().post(
        "/twilio/inbound", data=params, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403
    with app.app_context():
        assert db.session.execute(select(Message)).first() is None


@pytest.mark.parametrize(
    "drop", [("MessageSid", "SmsSid"), ("From",), ("MessageSid", "SmsSid", "From")]
)
def test_missing_sid_or_from_is_400_and_writes_nothing(world, signed_post, drop):
    params = {k: v for k, v in inbound_params("+447400299995", "yes").items() if k not in drop}
    response = signed_post("/twilio/inbound", params)
    assert response.status_code == 400
    assert b"<Response" not in response.data
    assert nothing_written(world)


def test_smssid_alone_is_enough(world, signed_post):
    params = inbound_params("+447400299994", "hello")
    del params["MessageSid"]
    assert twiml_reply(signed_post("/twilio/inbound", params)) is not None
    assert world.rows(Message, Message.direction == "in")[0].twilio_sid == params["SmsSid"]


# --- exactly once --------------------------------------------------------------------


def test_same_message_sid_twice_counts_once_and_answers_the_same(world):
    world.consultation("P12")
    phone = world.member()
    sid = new_sid()
    first = world.text(phone, "yes", sid=sid)
    second = world.text(phone, "yes", sid=sid)
    assert first == second and "P12" in first
    assert world.results("P12")["votes"] == {"yes": 1, "no": 0, "abstain": 0}
    assert world.count(Message, Message.direction == "in") == 1
    assert world.count(Message, Message.direction == "out") == 1
    assert world.count(VoteChange) == 1


def test_retry_with_a_different_body_changes_nothing(world):
    """Twilio never does this, but a replayed sid must not become a second action."""
    world.consultation("P12")
    phone = world.member()
    sid = new_sid()
    first = world.text(phone, "yes", sid=sid)
    assert world.text(phone, "no", sid=sid) == first
    assert world.results("P12")["votes"]["yes"] == 1
    assert world.results("P12")["votes"]["no"] == 0


def test_retry_of_a_text_that_got_no_reply_gets_none_again(world):
    phone = world.member()
    world.text(phone, "STOP")
    sid = new_sid()
    assert world.text(phone, "hello?", sid=sid) is None
    assert world.text(phone, "hello?", sid=sid) is None
    assert world.count(Message, Message.direction == "in") == 2


def test_duplicate_is_caught_by_the_database(world):
    """No look before the insert: the unique key fires, we roll back and replay."""
    from sqlalchemy import event
    from sqlalchemy.exc import IntegrityError

    world.consultation("P12")
    phone = world.member()
    sid = new_sid()
    first = world.text(phone, "no", sid=sid)
    with world.app.app_context():
        engine = db.engine
    errors = []

    def seen(context):
        errors.append(context.sqlalchemy_exception)

    event.listen(engine, "handle_error", seen)
    try:
        assert world.text(phone, "no", sid=sid) == first
    finally:
        event.remove(engine, "handle_error", seen)
    assert len(errors) == 1 and isinstance(errors[0], IntegrityError)
    assert world.results("P12")["votes"]["no"] == 1
    assert world.count(Message, Message.direction == "in") == 1


def test_parallel_deliveries_of_one_sid(world, app):
    """Eight simultaneous deliveries of the same text: one row, one vote, one answer."""
    world.consultation("P12")
    phone = world.member()
    replies, errors = deliver_at_once(app, [inbound_params(phone, "yes")] * 8)
    assert not errors, errors
    assert len(set(replies)) == 1 and "P12" in replies[0]
    assert world.results("P12")["votes"]["yes"] == 1
    assert world.count(Message, Message.direction == "in") == 1
    assert world.count(Message, Message.direction == "out") == 1


# --- recording -----------------------------------------------------------------------


def render_in(world: World, kind: str, language: str = "en", **values) -> str:
    """A message kind as the app renders it."""
    with world.app.app_context():
        return render(kind, language, **values)


def test_inbound_message_is_recorded_in_full(world):
    world.consultation("P12")
    phone = world.member()
    sid = new_sid()
    world.text("07400200001", "yes but café 👍", sid=sid)  # national format From
    inbound = world.rows(Message, Message.direction == "in")[0]
    assert inbound.phone == phone  # stored in E.164
    assert (inbound.twilio_sid, inbound.status) == (sid, "received")
    assert inbound.body == "yes but café 👍"
    assert (inbound.encoding, inbound.segments, inbound.kind) == ("UCS-2", 1, "vote")
    member = world.get_member(phone)
    assert inbound.member_id == member.id
    reply = world.rows(Message, Message.direction == "out")[0]
    assert reply.reply_to_id == inbound.id and reply.member_id == member.id
    assert reply.phone == phone and reply.kind == "vote_comment"
    vote = world.rows(Vote)[0]
    assert (vote.channel, vote.choice) == ("sms", "yes")
    change = world.rows(VoteChange)[0]
    assert (change.message_id, change.choice, change.previous) == (inbound.id, "yes", None)
    comment = world.rows(Comment)[0]
    assert (comment.body, comment.channel, comment.language) == ("but café 👍", "sms", "en")
    assert comment.message_id == inbound.id


def test_vote_change_replaces_the_earlier_vote(world):
    world.consultation("P12")
    phone = world.member()
    first = world.text(phone, "yes")
    receipt = world.rows(Vote)[0].receipt
    assert receipt in first
    second = world.text(phone, "no")
    assert second == render_in(
        world, "vote_changed", code="P12", choice="NO", previous="YES", receipt=receipt
    )
    assert world.results("P12")["votes"] == {"yes": 0, "no": 1, "abstain": 0}
    assert world.results("P12")["participants"] == 1
    assert [(c.previous, c.choice) for c in world.rows(VoteChange)] == [
        (None, "yes"),
        ("yes", "no"),
    ]
    assert world.rows(Vote)[0].receipt == receipt  # the receipt stays


def test_the_same_vote_again_is_confirmed_without_new_history(world):
    world.consultation("P12")
    phone = world.member()
    assert world.text(phone, "yes") == world.text(phone, "Yes!")
    assert world.count(VoteChange) == 1


def test_receipts_are_nine_unambiguous_characters_and_unique(world):
    from app.domain.votes import RECEIPT_ALPHABET

    world.consultation("P12")
    phones = [world.member() for _ in range(6)]
    for phone in phones:
        world.text(phone, "yes")
    receipts = [v.receipt for v in world.rows(Vote)]
    assert len(set(receipts)) == 6
    for receipt in receipts:
        assert len(receipt) == 9 and set(receipt) <= set(RECEIPT_ALPHABET)
        assert not set(receipt) & set("0O1IL2Z5S8B")


def test_after_close_the_reply_says_so_and_how_to_see_the_result(world):
    world.consultation("P12")
    phone = world.member()
    world.sent("P12", phone)
    world.text(phone, "yes")
    world.close("P12")
    for body in ("no", "P12 no", "P12 it was a bad idea anyway"):
        reply = world.text(phone, body)
        assert reply == render_in(world, "closed", code="P12"), body
        assert "RESULTS P12" in reply
    assert world.results("P12")["votes"] == {"yes": 1, "no": 0, "abstain": 0}
    assert world.results("P12")["comments"] == 0


# --- STOP and START -------------------------------------------------------------------


def test_stop_then_votes_are_not_counted_and_get_no_reply(world):
    world.consultation("P12")
    phone = world.member()
    assert world.text(phone, "STOP") == render_in(world, "opted_out")
    member = world.get_member(phone)
    assert member.status == "opted_out" and member.opt_out_source == "sms"
    assert member.opted_out_at is not None
    for body in ("P12 yes", "no", "STOP", "stop please", "help", "hello", ""):
        assert world.text(phone, body) is None, body
    assert world.results("P12")["votes"] == {"yes": 0, "no": 0, "abstain": 0}
    assert world.results("P12")["comments"] == 0
    assert world.count(Message, Message.direction == "in") == 8  # all recorded
    assert world.count(Message, Message.direction == "out") == 1  # one confirmation
    actions = [e.action for e in world.rows(AuditEvent)]
    assert actions.count("member.opted_out") == 1


def test_stop_wins_over_everything(world):
    world.consultation("P12")
    phone = world.member()
    assert world.text(phone, "P12 STOP") == render_in(world, "opted_out")
    assert world.get_member(phone).status == "opted_out"


@pytest.mark.parametrize("body", ["START", "unstop", "join", "YES", "oui", "ie"])
def test_opted_out_member_comes_back(world, body):
    world.consultation("P12")
    phone = world.member(language="fr")
    world.text(phone, "stop")
    assert world.text(phone, body) == render_in(world, "opted_in", "fr", org=ORG)
    member = world.get_member(phone)
    assert member.status == "active" and member.consent_source == "sms"
    assert world.results("P12")["votes"]["yes"] == 0  # the YES was consent, not a vote
    assert "P12" in world.text(phone, "yes")
    assert world.results("P12")["votes"]["yes"] == 1
    assert [e.action for e in world.rows(AuditEvent)][-2:] == [
        "member.opted_out",
        "member.opted_in",
    ]


def test_active_member_start_is_acknowledged(world):
    phone = world.member()
    assert world.text(phone, "START") == render_in(world, "subscribed", org=ORG)


# --- strangers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "language"), [("JOIN", "en"), ("start", "en"), ("ymuno", "cy"), ("unirse", "es")]
)
def test_stranger_join_with_open_joining(world, body, language):
    phone = world.stranger()
    reply = world.text(phone, body)
    assert reply == render_in(world, "joined", language, org=ORG)
    member = world.get_member(phone)
    assert (member.status, member.language, member.groups) == ("active", language, ["community"])
    assert member.consent_source == "sms" and member.consent_at is not None
    inbound = world.rows(Message, Message.direction == "in")[0]
    assert inbound.member_id == member.id


def test_stranger_join_with_open_joining_off(make_app):
    app = make_app(OPEN_JOINING="false")
    # The fixtures' client is bound to the default app: use this app's own.
    from tests.conftest import AUTH_TOKEN as token

    client = app.test_client()
    phone = "+447400388888"
    for body in ("JOIN", "hello", "yes"):
        params = inbound_params(phone, body)
        signature = sign(PUBLIC_BASE_URL + "/twilio/inbound", params, token)
        response = client.post(
            "/twilio/inbound", data=params, headers={"X-Twilio-Signature": signature}
        )
        with app.app_context():
            assert twiml_reply(response) == render("join_closed", "en", org=ORG)
    with app.app_context():
        assert db.session.execute(select(Member)).first() is None


def test_stranger_votes_are_never_counted(world):
    world.consultation("P12")
    phone = world.stranger()
    for body in ("YES", "P12 yes", "1"):
        assert world.text(phone, body) == render_in(world, "welcome", org=ORG)
    # A fourth text the same day gets no welcome: another bot could answer us for ever.
    assert world.text(phone, "no but maybe") is None
    assert world.results("P12")["votes"] == {"yes": 0, "no": 0, "abstain": 0}
    assert world.results("P12")["participants"] == 0
    inbound = world.rows(Message, Message.direction == "in")
    assert len(inbound) == 4 and all(m.member_id is None for m in inbound)
    assert world.get_member(phone) is None


def test_stranger_welcome_is_in_the_language_of_their_text(world):
    assert world.text(world.stranger(), "oui") == render_in(world, "welcome", "fr", org=ORG)


def test_stranger_stop_silences_that_number_until_join(world):
    phone = world.stranger()
    assert world.text(phone, "STOP") == render_in(world, "opted_out")
    assert world.text(phone, "hello") is None
    assert world.text(phone, "STOP") is None
    assert world.text(phone, "JOIN") == render_in(world, "joined", org=ORG)
    assert world.get_member(phone).status == "active"


def test_pending_member_is_like_a_stranger_but_can_join(world, app):
    world.consultation("P12")
    phone = world.member(language="pl")
    with app.app_context():
        member = db.session.execute(select(Member).where(Member.phone == phone)).scalar_one()
        member.status = "pending"
        db.session.commit()
    assert world.text(phone, "tak") == render_in(world, "welcome", "pl", org=ORG)
    assert world.results("P12")["votes"]["yes"] == 0
    assert world.text(phone, "JOIN") == render_in(world, "joined", "pl", org=ORG)
    assert world.get_member(phone).status == "active"
    assert "P12" in world.text(phone, "tak")
    assert world.results("P12")["votes"]["yes"] == 1


# --- bodies at the edges --------------------------------------------------------------


@pytest.mark.parametrize("body", ["", "   ", "?!", "\u200b"])
def test_empty_body_gets_a_short_help(world, body):
    phone = world.member()
    assert world.text(phone, body) == render_in(world, "empty")
    assert world.count(Message, Message.direction == "in") == 1


def test_long_body_is_stored_and_is_a_comment(world):
    world.consultation("P12")
    phone = world.member()
    long = ("The bins on Elm Road are never collected on time. " * 40)[:1700]
    assert world.text(phone, long) == render_in(world, "comment_recorded", code="P12")
    assert world.rows(Comment)[0].body == long.strip()
    huge = "x" * 7000
    world.text(phone, huge)
    inbound = world.rows(Message, Message.direction == "in")[-1]
    assert len(inbound.body) == 5000
    assert world.results("P12")["comments"] == 2


# --- commands ------------------------------------------------------------------------


def test_help(world):
    phone = world.member(language="es")
    for body in ("HELP", "info", "ayuda"):
        assert world.text(phone, body) == render_in(world, "help", "es", org=ORG)


def test_language_change_applies_to_the_next_reply(world):
    world.consultation(
        "P14",
        "choice",
        options=[{"en": "Library", "cy": "Llyfrgell"}, {"en": "Community centre"}],
    )
    phone = world.member()
    assert "Library" in world.text(phone, "1")
    reply = world.text(phone, "lang cy")
    assert reply == render_in(world, "language_set", "cy", name="Cymraeg")
    assert world.get_member(phone).language == "cy"
    assert "Llyfrgell" in world.text(phone, "1")
    # A menu number works too; the audit log has both changes.
    world.text(phone, "LANG 1")
    assert world.get_member(phone).language == "en"
    changes = [e.data for e in world.rows(AuditEvent) if e.action == "member.language_changed"]
    assert changes == [
        {"from": "en", "to": "cy", "via": "sms"},
        {"from": "cy", "to": "en", "via": "sms"},
    ]


@pytest.mark.parametrize("body", ["LANG", "language", "iaith", "lang klingon"])
def test_language_menu(world, body):
    phone = world.member()
    reply = world.text(phone, body)
    assert reply.startswith(render_in(world, "language_menu", menu="").strip())
    assert "1 English" in reply and "10 Bangla" in reply
    assert world.get_member(phone).language == "en"


def test_info_and_more(world):
    body = "The garden is closed on Sundays. Volunteers have offered to open it."
    world.consultation("P12", body={"en": body}, title={"en": "Sunday garden"})
    world.consultation("P13")
    phone = world.member()
    world.sent("P12", phone)
    assert world.text(phone, "MORE") == f"P12: Sunday garden\n{body}"
    assert world.text(phone, "P12") == f"P12: Sunday garden\n{body}"
    assert world.text(phone, "info P99") == render_in(world, "unknown_code", code="P99")
    # Full text falls back to the summary; asking about P13 makes it the one "yes" means.
    assert world.text(phone, "INFO P13") == "P13: Title of P13\nSummary of P13"
    assert world.text(phone, "yes").startswith("P13: your vote YES is counted")


def test_long_info_without_an_outbox_is_one_text_of_1600(world, monkeypatch):
    from app.domain import inbound

    monkeypatch.setattr(inbound, "_outbox", lambda: None)
    body = " ".join(f"Paragraph {n} of the full text." for n in range(150))
    world.consultation("P12", body={"en": body})
    reply = world.text(world.member(), "INFO P12")
    assert len(reply) <= 1600 and reply.endswith("...")
    assert reply.startswith("P12: Title of P12\nParagraph 0 of")


def test_long_info_with_an_outbox_queues_the_rest(world, monkeypatch):
    """The first part is the TwiML reply; the rest are queued one-to-one texts."""
    import types

    from app.domain import inbound

    sent: list[int] = []

    def queue_message(**kw):
        from app.models import Message as M

        m = M(direction="out", status="queued", **kw)
        db.session.add(m)
        db.session.flush()
        return m

    from app.tasks import outbox as outbox_tasks

    body = " ".join(f"Paragraph {n} of the full text." for n in range(150))
    world.consultation("P12", body={"en": body})
    phone = world.member()
    fake = types.SimpleNamespace(queue_message=queue_message)
    monkeypatch.setattr(inbound, "_outbox", lambda: fake)
    monkeypatch.setattr(outbox_tasks, "send_soon", sent.append)
    reply = world.text(phone, "more p12")
    queued = world.rows(Message, Message.status == "queued")
    assert sent == [m.id for m in queued] and len(queued) == 2
    assert all(m.priority == "high" and m.kind == "info" and m.phone == phone for m in queued)
    whole = " ".join([reply, *(m.body for m in queued)])
    assert whole == f"P12: Title of P12\n{body}"
    assert all(len(part) <= 1600 for part in [reply, *(m.body for m in queued)])


def test_results_public_and_private(world):
    world.consultation("P12")
    world.consultation("P13", "choice", options=["A", "B", "C"], results_public=False)
    world.consultation("P15", "open")
    voters = [world.member() for _ in range(3)]
    for phone, body in zip(voters, ["yes", "yes", "no"], strict=True):
        world.text(phone, f"P12 {body}")
    phone = voters[0]
    assert world.text(phone, "RESULTS P12") == render_in(
        world, "results_yes_no", code="P12", yes=2, no=1, abstain=0, people=3
    )
    assert world.text(phone, "results P13") == render_in(world, "results_private", code="P13")
    world.text(phone, "P15 more trees")
    assert world.text(phone, "results P15") == render_in(
        world, "results_open", code="P15", comments=1
    )


def test_results_of_a_choice_show_the_leading_options(world):
    world.consultation("P14", "choice", options=["A", "B", "C"])
    for body in ["2", "2", "3"]:
        world.text(world.member(), f"P14 {body}")
    assert world.text(world.member(), "RESULTS P14") == render_in(
        world, "results_choice", code="P14", tally="2:2, 3:1, 1:0", people=3
    )


# --- which consultation -----------------------------------------------------------------


def test_two_open_consultations_sent_the_reply_names_the_other(world):
    world.consultation("P12")
    world.consultation("P13")
    phone = world.member()
    world.sent("P12", phone)
    world.sent("P13", phone)
    reply = world.text(phone, "yes")
    receipt = world.rows(Vote)[0].receipt
    assert reply == render_in(
        world, "vote_recorded_other", code="P13", choice="YES", receipt=receipt, other="P12"
    )
    assert "Text P12" in reply
    assert world.results("P13")["votes"]["yes"] == 1
    assert world.results("P12")["votes"]["yes"] == 0
    # Following the advice votes on the other one, by code, without ambiguity.
    assert world.text(phone, "P12 yes").startswith("P12: your vote YES is counted")
    assert world.results("P12")["votes"]["yes"] == 1


def test_one_sent_and_one_not_is_not_ambiguous(world):
    world.consultation("P12")
    world.consultation("P13")
    phone = world.member()
    world.sent("P12", phone)
    reply = world.text(phone, "no")
    assert reply.startswith("P12: your vote NO") and "P13" not in reply


def test_nothing_sent_uses_the_newest_open_one_in_the_audience(world):
    world.consultation("P12")
    world.consultation("P13", audience=["allies"])
    phone = world.member()  # community only: P13 is not theirs
    assert world.text(phone, "yes").startswith("P12: your vote YES")


def test_audience_refusal(world):
    world.consultation("P13", audience=["allies"])
    phone = world.member(groups=["community"])
    for body in ("P13 yes", "P13 yes but why not me", "P13 I want a say"):
        assert world.text(phone, body) == render_in(world, "not_in_audience", code="P13")
    assert world.results("P13")["votes"]["yes"] == 0
    assert world.results("P13")["comments"] == 0
    ally = world.member(groups=["allies"])
    assert world.text(ally, "P13 yes").startswith("P13: your vote YES")


def test_unknown_and_draft_codes(world):
    world.consultation("P20", open_=False)
    phone = world.member()
    assert world.text(phone, "P99 yes") == render_in(world, "unknown_code", code="P99")
    assert world.text(phone, "P20 yes") == render_in(world, "unknown_code", code="P20")
    assert world.count(Vote) == 0


@pytest.mark.parametrize(
    ("kind", "body", "expected"),
    [
        ("choice", "yes", "choose_number"),
        ("choice", "4", "choose_number"),
        ("choice", "P14 7", "choose_number"),
        ("yes_no", "2", "choose_yes_no"),
    ],
)
def test_choice_must_fit_the_kind(world, kind, body, expected):
    world.consultation("P14", kind, options=["A", "B", "C"] if kind == "choice" else None)
    phone = world.member()
    values = {"count": 3} if expected == "choose_number" else {}
    assert world.text(phone, body) == render_in(world, expected, code="P14", **values)
    assert world.count(Vote) == 0


def test_open_consultation_takes_comments_only(world):
    world.consultation("P15", "open")
    phone = world.member()
    assert world.text(phone, "yes") == render_in(world, "comment_recorded", code="P15")
    assert world.count(Vote) == 0
    assert world.rows(Comment)[0].body == "yes"


def test_free_text_with_nothing_open_goes_to_staff(world):
    phone = world.member()
    assert world.text(phone, "The lift is broken again") == render_in(world, "comment_to_staff")
    comment = world.rows(Comment)[0]
    assert comment.consultation_id is None and comment.body == "The lift is broken again"


def test_vote_with_nothing_open(world):
    phone = world.member()
    assert world.text(phone, "yes") == render_in(world, "nothing_open")
    assert world.text(phone, "MORE") == render_in(world, "nothing_open")


def test_choice_confirmation_shows_number_and_a_short_label(world):
    world.consultation("P14", "choice", options=["A very long option label indeed", "B"])
    phone = world.member()
    receipt_reply = world.text(phone, "1")
    assert "your vote 1 A very long option l is counted" in receipt_reply


def test_an_accented_label_falls_back_to_the_number_to_keep_the_budget(world):
    # "Ŵ" is not GSM-7: with the label the English reply would be UCS-2 and two segments.
    world.consultation("P15", "choice", options=["Ŵyl Haf yn y parc", "B"])
    reply = world.text(world.member(), "1")
    assert "your vote 1 is counted" in reply
    assert segments.count(reply).segments == 1


def test_a_plain_label_is_kept_in_welsh(world):
    world.consultation("P16", "choice", options=[{"en": "Library", "cy": "Llyfrgell"}, "B"])
    reply = world.text(world.member("cy"), "1")
    assert "1 Llyfrgell" in reply


def test_language_change_names_the_language_in_its_own_script(world):
    phone = world.member()
    reply = world.text(phone, "LANG 8")
    assert "العربية" in reply
