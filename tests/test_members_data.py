"""Members' data: export, erasure, retention, the welcome text of staff-added members,
the carrier's block (Twilio 21610) after an opt-in, the privacy page, and no message
bodies in the logs.

Everything goes through the real routes where one exists: members and consultations
through the staff API, texts through the signed webhook, Twilio through FakeTwilio.
Run with TEST_DATABASE_URL set for PostgreSQL; the full-dump search runs on both.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import MetaData, select, update

from app import audit
from app.domain import members as members_ops
from app.domain import privacy
from app.extensions import db
from app.models import (
    AuditEvent,
    Comment,
    Consultation,
    Member,
    Message,
    PersonalLink,
    Vote,
    VoteChange,
    utcnow,
)
from app.sms.backends import ConsoleBackend
from app.tasks import broadcasts as broadcast_tasks
from app.tasks import outbox as outbox_tasks
from app.tasks import privacy as privacy_tasks
from tests.inbound_helpers import World
from tests.test_api_schema import check
from tests.test_status_callback import callback
from tests.test_status_callback import post as post_status


@pytest.fixture
def app(sending_app):
    """An app sending through FakeTwilio, jobs inline."""
    return sending_app


@pytest.fixture
def doc(client):
    return client.get("/api/v1/openapi.json").json


def path(phone: str) -> str:
    return "/members/" + quote(phone, safe="")


def national(phone: str) -> list[str]:
    """The forms a UK number is written in: +447400200001, 447400200001, 07400200001,
    07400 200001, 7400200001."""
    digits = phone.removeprefix("+44")
    return [phone, phone[1:], "0" + digits, f"0{digits[:4]} {digits[4:]}", digits]


def dump(app) -> str:
    """Every row of every table the database has (reflected: all tables, all columns),
    as text."""
    lines = []
    with app.app_context():
        meta = MetaData()
        meta.reflect(bind=db.engine)
        with db.engine.connect() as conn:
            for table in meta.sorted_tables:
                for row in conn.execute(select(table)):
                    values = [
                        json.dumps(v, ensure_ascii=False, default=str)
                        if isinstance(v, dict | list)
                        else str(v)
                        for v in row
                    ]
                    lines.append(f"{table.name}: " + " | ".join(values))
    return "\n".join(lines)


def member_row(app, member_id: int) -> Member:
    with app.app_context():
        member = db.session.get(Member, member_id)
        _ = member.groups
        db.session.expunge(member)
        return member


def member_id(app, phone: str) -> int:
    with app.app_context():
        return db.session.execute(select(Member.id).where(Member.phone == phone)).scalar_one()


def a_life(world: World, api, phone: str) -> None:
    """A member's story: votes, a change, comments, STOP, START, a language change."""
    world.consultation("P12")
    world.consultation("P13", "choice", options=["Monday", "Tuesday"], open_=True)
    world.sent("P12", phone)
    assert world.text(phone, "P12 yes because the bins are marvellous") is not None
    assert world.text(phone, "P12 no") is not None
    assert world.text(phone, "P13 2 tuesdays suit my grandmother") is not None
    assert world.text(phone, "please ring me about the allotment") is not None
    assert world.text(phone, "STOP") is not None
    assert world.text(phone, "START") is not None
    assert world.text(phone, "LANG cy") is not None


BODIES = ("bins are marvellous", "grandmother", "allotment")


# ---------------------------------------------------------------------- export


def test_export_holds_everything_about_the_member(world, api, doc):
    phone = world.member(name="Gwen Jones", welcome=True)
    a_life(world, api, phone)
    r = api.get(path(phone) + "/export")
    assert r.status_code == 200, r.json
    got = check(doc, "/api/v1/members/{phone}/export", "get", r)
    assert got["member"]["phone"] == phone and got["member"]["name"] == "Gwen Jones"
    assert got["member"]["language"] == "cy" and got["member"]["groups"] == ["community"]
    consent = got["consent"]
    assert (consent["source"], consent["by"]) == ("sms", None)  # START was their own text
    assert consent["opted_out_at"] is not None and consent["opt_out_source"] == "sms"
    events = [(e["event"], e["by"], e["details"].get("via")) for e in got["consent_history"]]
    assert events[0] == ("member.created", "api:tests", "api")
    assert ("member.opted_out", f"member:{got['member']['id']}", "sms") in events
    assert ("member.opted_in", f"member:{got['member']['id']}", "sms") in events
    assert any(e[0] == "member.language_changed" for e in events)
    texts = got["texts"]
    assert texts[0]["kind"] == members_ops.WELCOME_KIND and texts[0]["direction"] == "out"
    inbound = [t["body"] for t in texts if t["direction"] == "in"]
    assert "P12 yes because the bins are marvellous" in inbound and "STOP" in inbound
    assert sum(t["direction"] == "out" for t in texts) >= 7  # the welcome and every reply
    votes = {v["consultation"]: v for v in got["votes"]}
    assert votes["P12"]["choice"] == "no" and votes["P13"]["choice"] == "2"
    assert [(h["previous"], h["choice"]) for h in votes["P12"]["history"]] == [
        (None, "yes"),
        ("yes", "no"),
    ]
    assert votes["P12"]["receipt"] and votes["P12"]["channel"] == "sms"
    comments = {(c["consultation"], c["body"]) for c in got["comments"]}
    assert ("P12", "because the bins are marvellous") in comments
    assert ("P13", "tuesdays suit my grandmother") in comments
    assert "please ring me about the allotment" in {body for _, body in comments}


def test_export_is_for_organisers_and_known_numbers(app, api, world, runner):
    phone = world.member()
    result = runner.invoke(args=["api-token", "create", "watcher", "--role", "viewer"])
    viewer = {"Authorization": "Bearer " + result.output.strip().splitlines()[-1]}
    client = app.test_client()
    r = client.get("/api/v1" + path(phone) + "/export", headers=viewer)
    assert r.status_code == 403 and set(r.json) == {"error"}
    r = client.delete("/api/v1" + path(phone), headers=viewer)
    assert r.status_code == 403
    assert api.get(path("+447400999999") + "/export").status_code == 404
    # Any form the default region allows, like the member's own answer.
    assert api.get(path("07400 200001") + "/export").status_code == 200


def test_the_member_answer_shows_who_added_them(world, api):
    phone = world.member()
    consent = api.get(path(phone)).json["consent"]
    assert (consent["source"], consent["by"]) == ("api", "api:tests")
    assert consent["at"] is not None and consent["carrier_blocked_at"] is None


# ---------------------------------------------------------------------- erasure


def test_erasure_leaves_the_number_nowhere_and_the_tallies_as_they_were(
    app, world, api, client, runner
):
    phone = world.member(name="Gwen Jones", welcome=True)
    other = world.member()
    a_life(world, api, phone)
    world.text(other, "P12 yes")
    before = {code: world.results(code) for code in ("P12", "P13")}
    register = _register(client)
    text = dump(app)
    assert all(form in text for form in national(phone)[:2])  # the search can find it
    ident = member_id(app, phone)

    r = client.delete("/api/v1" + path(phone), headers=api.headers)
    assert r.status_code == 204 and r.get_data() == b""

    text = dump(app)
    for needle in (*national(phone), "Gwen", *BODIES):
        assert needle not in text, needle
    after = {code: world.results(code) for code in ("P12", "P13")}
    for code in after:  # every vote still counts; comments are gone
        assert after[code]["votes"] == before[code]["votes"]
        assert after[code]["participants"] == before[code]["participants"]
    assert _register(client) == register
    assert world.count(Comment, Comment.member_id == ident) == 0
    assert world.count(Vote, Vote.member_id == ident) == 2
    assert world.count(VoteChange) == 4  # the history of the votes, anonymous now
    tomb = member_row(app, ident)
    assert (tomb.status, tomb.name, tomb.phone) == ("erased", None, f"erased:{ident}")
    assert tomb.erased_at is not None and tomb.groups == ["community"]
    # The erasure is in the audit log, by id, and the log still verifies.
    events = world.rows(AuditEvent, AuditEvent.action == "member.erased")
    assert [(e.subject_id, e.actor) for e in events] == [(str(ident), "api:tests")]
    assert events[0].data["votes_kept"] == 2
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    # The number is unknown now: a second erasure, the answer and the export are 404.
    assert client.delete("/api/v1" + path(phone), headers=api.headers).status_code == 404
    assert api.get(path(phone)).status_code == 404
    assert api.get(path(phone) + "/export").status_code == 404
    # Texting in again, they are a stranger: nothing links them to the tombstone.
    world.text(phone, "hello")
    assert world.count(Message, Message.member_id == ident, Message.phone == phone) == 0


def _register(client) -> str:
    """The public register's table (the page also counts audit events, which grow)."""
    html = client.get("/decisions").get_data(as_text=True)
    return html[html.index("<table>") : html.index("</table>")]


def test_erasure_cancels_the_texts_still_queued(app, world, api, fake, client):
    phone = world.member(welcome=True)
    other = world.member()
    world.consultation("P12")
    # A scheduled broadcast, paused and expanded: its texts wait, queued.
    at = (utcnow() + timedelta(days=1)).replace(microsecond=0).isoformat()
    broadcast_id = api.post("/consultations/P12/broadcast", json={"at": at}).json["broadcast_id"]
    assert api.post(f"/broadcasts/{broadcast_id}/pause").json["status"] == "paused"
    with app.app_context():
        assert broadcast_tasks.expand_rows(broadcast_id) == 2
        # And a one-to-one text waiting for its retry.
        db.session.add(
            Message(
                direction="out",
                member_id=member_id(app, phone),
                phone=phone,
                body="Still to go: the allotment",
                kind="test",
                status="queued",
                next_attempt_at=utcnow() + timedelta(hours=1),
            )
        )
        db.session.commit()
    fake.reset()
    assert client.delete("/api/v1" + path(phone), headers=api.headers).status_code == 204
    theirs = world.rows(Message, Message.phone.like("erased:%"), Message.status == "skipped")
    assert {m.kind for m in theirs} == {"summary", "test"}
    assert all(m.body == "" for m in theirs)
    assert api.post(f"/broadcasts/{broadcast_id}/resume").status_code == 200
    with app.app_context():
        db.session.execute(update(Message).values(next_attempt_at=None))
        db.session.commit()
        broadcast_tasks.start(broadcast_id)
        outbox_tasks.pump_singles()
    assert [m["to"] for m in fake.messages] == [other]


def test_no_audit_event_ever_holds_a_number(app, world, api, fake, client):
    """Create, vote, opt out and in, change language, get blocked by the carrier, be
    erased: the audit log names the member by id only, and verifies after erasure."""
    phone = world.member(welcome=True)
    stranger = world.stranger()
    world.consultation("P12")
    world.text(phone, "P12 yes")
    world.text(phone, "STOP")
    world.text(phone, "YMUNO")
    world.text(phone, "LANG 3")
    world.text(stranger, "JOIN")
    world.text(stranger, "STOP")
    fake.fail_for(phone, status=400, code=21610)
    assert api.post("/consultations/P12/broadcast").status_code == 202
    member = world.get_member(phone)
    assert member.carrier_blocked_at is not None
    world.text(phone, "START")
    with app.app_context():
        audited = db.session.execute(select(AuditEvent)).scalars().all()
        text = "\n".join(
            f"{e.actor} {e.action} {e.subject_type} {e.subject_id} "
            f"{json.dumps(e.data, ensure_ascii=False)}"
            for e in audited
        )
    actions = {e.action for e in audited}
    assert {"member.created", "member.opted_out", "member.opted_in"} <= actions
    assert {"member.language_changed", "member.carrier_blocked"} <= actions
    assert "member.carrier_unblocked" in actions
    for number in (phone, stranger):
        for form in national(number):
            assert form not in text, form
    for number in (phone, stranger):
        assert client.delete("/api/v1" + path(number), headers=api.headers).status_code == 204
    for number in (phone, stranger):
        for form in national(number):
            assert form not in dump(app), form
    with app.app_context():
        assert audit.verify().ok


def test_the_personal_page_of_an_erased_member_is_gone(app, world, api, client):
    from app.domain import links

    phone = world.member()
    world.consultation("P12")
    with app.app_context():
        member = db.session.get(Member, member_id(app, phone))
        consultation = db.session.execute(
            select(Consultation).where(Consultation.code == "P12")
        ).scalar_one()
        token = links.issue(member.id, consultation.id)
        db.session.commit()
    assert client.get(f"/v/{token}").status_code == 200
    assert client.delete("/api/v1" + path(phone), headers=api.headers).status_code == 204
    assert client.get(f"/v/{token}").status_code == 404
    assert world.count(PersonalLink) == 0  # the erasure revoked it: not even its hash is left


def test_erase_twice_in_the_domain_is_not_found(app, world):
    phone = world.member()
    with app.app_context():
        member = db.session.get(Member, member_id(app, phone))
        privacy.erase_member(member, "tests")
        db.session.commit()
        with pytest.raises(privacy.NotFound):
            privacy.erase_member(member, "tests")
        with pytest.raises(privacy.NotFound):
            privacy.export_member(member)


# ---------------------------------------------------------------------- retention


def _aged(app, days: int, count: int, status: str = "delivered", body: str = "old words") -> None:
    with app.app_context():
        when = utcnow() - timedelta(days=days)
        for n in range(count):
            db.session.add(
                Message(
                    direction="out",
                    phone=f"+4474009{n:05d}",
                    body=f"{body} {n}",
                    kind="test",
                    status=status,
                    segments=2,
                    created_at=when,
                    updated_at=when,
                )
            )
        db.session.commit()


def test_retention_empties_old_bodies_in_bounded_batches(app):
    _aged(app, 400, 5)
    _aged(app, 10, 3, body="recent words")
    _aged(app, 400, 1, status="queued", body="still to send")
    with app.app_context():
        assert privacy_tasks.clear_old_bodies(batches=2, batch=2) == 4  # two batches of two
        assert privacy_tasks.clear_old_bodies(batches=2, batch=2) == 1
        assert privacy_tasks.clear_old_bodies() == 0
        rows = db.session.execute(select(Message).order_by(Message.id)).scalars().all()
        old = [m for m in rows if m.created_at < utcnow() - timedelta(days=365)]
        assert [(m.body, m.status, m.segments) for m in old if m.status == "delivered"] == [
            ("", "delivered", 2)
        ] * 5
        assert [m.body for m in old if m.status == "queued"] == ["still to send 0"]
        assert sorted(m.body for m in rows if m.body.startswith("recent")) == [
            "recent words 0",
            "recent words 1",
            "recent words 2",
        ]
        assert all(m.updated_at == m.created_at for m in old)  # its story is unchanged


def test_retention_reads_the_setting_and_runs_in_the_sweep(make_app):
    from app.worker import sweep

    app = make_app(MESSAGE_RETENTION_DAYS="30")
    _aged(app, 31, 2)
    _aged(app, 29, 1, body="kept")
    with app.app_context():
        done = sweep()
        assert done["retention"] == 2
        bodies = sorted(db.session.execute(select(Message.body)).scalars())
    assert bodies == ["", "", "kept 0"]


# ---------------------------------------------------------------------- the welcome


def test_a_member_added_by_staff_is_welcomed_first(app, world, api, fake):
    phone = world.member(welcome=True)
    (first,) = fake.bodies_to(phone)
    assert "Chorus" in first and "STOP" in first
    row = world.rows(Message, Message.phone == phone)[0]
    assert (row.kind, row.status, row.priority) == ("added", "sent", "high")
    member = world.get_member(phone)
    assert (member.consent_source, member.consent_by) == ("api", "api:tests")


def test_the_welcome_goes_before_a_broadcast_queued_right_after(app, world, api, fake):
    """Twilio refuses the welcome for a while (429): the broadcast that follows waits."""
    fake.fail_for("+447400200001", status=429, code=20429, times=1, message="Too many")
    phone = world.member(welcome=True)
    assert phone == "+447400200001"
    other = world.member()
    world.consultation("P12")
    assert api.post("/consultations/P12/broadcast").json["recipients"] == 2
    assert fake.bodies_to(phone) == []  # the welcome is waiting to retry: nothing overtook it
    assert [b for b in fake.bodies_to(other) if "P12" in b] != []
    held = world.rows(Message, Message.phone == phone, Message.kind == "summary")[0]
    assert held.status == "queued" and held.next_attempt_at is not None
    with app.app_context():
        # Time passes: everything is due again, and the sweeper does its rounds.
        db.session.execute(update(Message).values(next_attempt_at=None))
        db.session.commit()
        outbox_tasks.pump_singles()
        broadcast_tasks.pump_broadcasts()
    bodies = fake.bodies_to(phone)
    assert len(bodies) == 2 and bodies[0].startswith("Welcome to Chorus")
    assert "P12" in bodies[1]


def test_no_welcome_for_a_number_that_said_stop(app, world, api, fake):
    phone = world.stranger()
    world.text(phone, "STOP")
    r = api.post("/members", json={"phone": phone})
    assert r.status_code == 201 and r.json["status"] == "opted_out"
    assert fake.bodies_to(phone) == []


# ---------------------------------------------------------------------- carrier blocks


def test_21610_after_an_opt_in_in_welsh_is_a_carrier_block_not_an_opt_out(
    app, world, api, fake, client
):
    phone = world.member("cy")
    world.consultation("P12")
    assert world.text(phone, "STOP") is not None  # Twilio blocks the number too
    assert world.text(phone, "YMUNO") is not None  # active in Chorus, not at Twilio
    fake.fail_for(phone, status=400, code=21610)
    api.post("/consultations/P12/broadcast")
    member = world.get_member(phone)
    assert member.status == "active"  # their wish stands
    assert member.carrier_blocked_at is not None
    assert "YMUNO" in member.carrier_blocked_reason and "START" in member.carrier_blocked_reason
    shown = api.get(path(phone)).json["consent"]
    assert shown["carrier_blocked_at"] and "START" in shown["carrier_blocked_reason"]
    exported = api.get(path(phone) + "/export").json
    assert exported["consent"]["carrier_blocked_reason"] == member.carrier_blocked_reason
    assert "member.carrier_blocked" in [e["event"] for e in exported["consent_history"]]
    # Nothing is sent meanwhile: no broadcast, no reply (the vote still counts).
    fake.clear_failures()
    fake.reset()
    preview = api.get("/consultations/P12/broadcast/preview").json
    assert preview["recipients"] == 0
    assert world.text(phone, "P12 ydw") is None
    assert world.results("P12")["votes"]["yes"] == 1
    assert world.text(phone, "YMUNO") is None  # still not a word Twilio takes
    assert world.get_member(phone).carrier_blocked_at is not None
    # START lifts Twilio's block and Chorus's with it.
    assert world.text(phone, "START") is not None
    member = world.get_member(phone)
    assert (member.status, member.carrier_blocked_at, member.carrier_blocked_reason) == (
        "active",
        None,
        None,
    )
    assert api.get("/consultations/P12/broadcast/preview").json["recipients"] == 1
    assert fake.messages == []


def test_21610_in_a_status_callback_after_an_opt_in(app, world, api, client):
    phone = world.stranger()
    assert world.text(phone, "ymuno") is not None  # joins by text, in Welsh
    ident = member_id(app, phone)
    with app.app_context():
        message = Message(
            direction="out",
            member_id=ident,
            phone=phone,
            body="hello",
            kind="test",
            status="sent",
            twilio_sid="SM" + "7" * 32,
        )
        db.session.add(message)
        db.session.commit()
        message_id = message.id
    params = callback("failed", sid="SM" + "7" * 32, ErrorCode="21610", To=phone)
    assert post_status(client, params, query=f"m={message_id}").status_code == 204
    member = member_row(app, ident)
    assert member.status == "active" and member.carrier_blocked_at is not None
    assert "YMUNO" in member.carrier_blocked_reason
    # A repeated callback changes nothing more.
    post_status(client, params, query=f"m={message_id}")
    assert world.count(AuditEvent, AuditEvent.action == "member.carrier_blocked") == 1
    assert world.text(phone, "unstop") is not None
    assert member_row(app, ident).carrier_blocked_at is None


def test_21610_without_an_opt_in_of_their_own_opts_out_and_shows_the_block(app, world, api, fake):
    phone = world.member()
    world.consultation("P12")
    fake.fail_for(phone, status=400, code=21610)
    api.post("/consultations/P12/broadcast")
    member = world.get_member(phone)
    assert (member.status, member.opt_out_source) == ("opted_out", "twilio-21610")
    assert member.carrier_blocked_at is not None and "START" in member.carrier_blocked_reason
    fake.clear_failures()
    assert world.text(phone, "START") is not None
    member = world.get_member(phone)
    assert (member.status, member.carrier_blocked_at) == ("active", None)


# ---------------------------------------------------------------------- logs


def test_the_console_backend_logs_no_message_bodies(make_app, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "the allotment key is under the third flowerpot"
    app = make_app(SMS_BACKEND="console")
    with app.app_context():
        backend = ConsoleBackend(app.config["CHORUS"])
        sent = backend.send("+447400200001", secret, None)
        assert sent.sid.startswith("CONSOLE")
        world_api = app.test_client()
        token = app.test_cli_runner().invoke(args=["api-token", "create", "logs"])
        headers = {"Authorization": "Bearer " + token.output.strip().splitlines()[-1]}
        r = world_api.post("/api/v1/members", json={"phone": "07400 200002"}, headers=headers)
        assert r.status_code == 201
        welcome = db.session.execute(
            select(Message.body, Message.status).where(Message.kind == "added")
        ).one()
    assert welcome.status == "sent"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "SMS to" in logged
    assert secret not in logged and welcome.body not in logged
    assert "flowerpot" not in caplog.text


# ---------------------------------------------------------------------- the privacy page


def test_the_privacy_page_says_what_is_kept_and_how_to_ask(make_app):
    app = make_app(MESSAGE_RETENTION_DAYS="90", ORG_NAME="Camden Voices")
    client = app.test_client()
    r = client.get("/privacy")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in html
    assert "90 days" in html and "Camden Voices" in html and "HELP" in html
    assert "+447700100200" in html  # TWILIO_FROM, where to text
    assert "<script" not in html and len(r.get_data()) < 8000
    arabic = client.get("/privacy?lang=ar").get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in arabic
    home = client.get("/").get_data(as_text=True)
    assert 'href="/privacy"' in home
