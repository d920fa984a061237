"""The two-round-trip path for common texts (app/domain/inbound_fast.py) answers and
records exactly what the full path does.

One script of texts (votes, changes, repeats, vote + comment, comments, HELP, in all
ten languages, with emoji and non-Latin digits, plus the cases the fast path must
hand over: strangers, STOP, closed, unknown and not-theirs codes, bad choices,
comments-only consultations, repeated MessageSids) is played twice on a clean
database: once as shipped, once with the fast path switched off. The replies and
every row written (messages, votes, history, comments, members, audit) must be the
same; receipts, which are random, are compared by where they appear.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.domain import inbound_fast
from app.extensions import db
from app.models import AuditEvent, Comment, Consultation, Member, Message, Vote, VoteChange
from tests.conftest import _truncate
from tests.inbound_helpers import World, deliver_at_once, inbound_params

RECEIPT = re.compile(r"\b[ACDEFGHJKMNPQRTUVWXY34679]{6}\b")


def _script(world: World) -> list[tuple[str, str, str | None]]:
    """Set up members and consultations; the texts to send as (who, body, sid)."""
    world.consultation("Q1", audience=["community"])
    world.consultation(
        "Q2",
        "choice",
        options=[
            {"en": "Library", "fr": "Bibliothèque municipale du quartier"},
            {"en": "Community centre", "ar": "المركز المجتمعي"},
            {"en": "Online"},
        ],
        audience=["community"],
    )
    world.consultation("Q3", "open", audience=["community"])
    world.consultation("Q4", audience=["community"])
    world.close("Q4")
    world.consultation("Q5", audience=["allies"])
    people = {
        "en": world.member("en"),
        "fr": world.member("fr"),
        "ar": world.member("ar"),
        "cy": world.member("cy", groups=["allies", "community"]),
        "bn": world.member("bn"),
        "es": world.member("es"),
        "staff": world.member("en", groups=["staff"]),
        "pt": world.member("pt"),
        "pl": world.member("pl"),
        "ro": world.member("ro"),
        "ur": world.member("ur"),
        "en2": world.member("en"),
        "stranger": world.stranger(),
    }
    world.sent("Q1", people["en"])
    world.sent("Q2", people["fr"])
    world.sent("Q1", people["fr"])
    for who in ("pt", "pl", "ro", "ur", "en2"):
        world.sent("Q1", people[who])
    texts = [
        ("en", "YES", "SM" + "e1" * 16),
        ("en", "yes", None),  # the same choice again
        ("en", "no", None),  # a change
        ("en", "YES", "SM" + "e1" * 16),  # Twilio's retry of the first text
        ("en", "Q2 1", None),
        ("en", "q2 2 because it is closer", None),
        ("en", "The room was cold", None),  # a comment on the current one (now Q2)
        ("en", "HELP", None),
        ("en", "Q1 abstain", None),
        ("en", "Q3 yes", None),  # comments-only consultation: full path
        ("en", "Q3 I like it", None),
        ("en", "Q4 yes", None),  # closed
        ("en", "Q9 yes", None),  # unknown
        ("en", "Q5 yes", None),  # not in its audience
        ("en", "Q2 7", None),  # no such option
        ("en", "👍", None),
        ("fr", "oui", None),
        ("fr", "Q2 1", None),  # accented label: the reply falls back to the number
        ("fr", "2", None),
        ("fr", "merci pour tout", None),
        ("fr", "AIDE", None),
        ("ar", "نعم", None),
        ("ar", "Q2 ٢", None),
        ("ar", "شكرا", None),
        ("cy", "Q5 ie", None),
        ("cy", "na", None),
        ("cy", "Q1 na", None),
        ("bn", "Q2 ২ কারণ এটি কাছে", None),
        ("bn", "HELP", None),
        ("es", "STOP", None),
        ("es", "Q1 no", None),  # opted out: nothing
        ("es", "Sí", None),  # a bare YES opts back in
        ("es", "Q1 no", None),
        ("staff", "Please call me", None),  # nothing open to them: a note to staff
        ("staff", "YES", None),  # nothing open: full path
        ("stranger", "YES", None),
        ("stranger", "JOIN", None),
        ("stranger", "YES", None),
        ("pt", "sim", None),
        ("pt", "Q2 3 porque é perto", None),
        ("pt", "AJUDA", None),
        ("pl", "Tak", None),
        ("pl", "nie", None),
        ("pl", "POMOC", None),
        ("ro", "Q1 da", None),
        ("ro", "Q1 NU pentru că", None),
        ("ro", "ajutor", None),
        ("ur", "ہاں", None),
        ("ur", "Q2 ۲", None),
        ("ur", "نہیں", None),  # Q2 is now current and has no "no": full path
        ("en2", "q1 yes!!", None),
        ("en2", "Yes please", None),
        ("en2", "YES🙂", None),
        ("en2", "👎", None),
        ("en", "", None),
        ("en", "x" * 1600, None),
    ]
    return [(people[who], body, sid) for who, body, sid in texts]


def _play(world: World) -> list[tuple[str, str | None]]:
    """(text, reply) for every text of the script."""
    return [(body, world.text(phone, body, sid)) for phone, body, sid in _script(world)]


class _Receipts:
    """Receipts renamed R1, R2... in order of first appearance."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def __call__(self, text: str | None) -> str | None:
        if text is None:
            return None
        return RECEIPT.sub(
            lambda m: self.names.setdefault(m.group(), f"R{len(self.names) + 1}"), text
        )


def _snapshot(app, rename: _Receipts) -> dict[str, list]:
    with app.app_context():
        s = db.session
        codes = dict(s.execute(select(Consultation.id, Consultation.code)).all())
        phones = dict(s.execute(select(Member.id, Member.phone)).all())
        messages = list(s.execute(select(Message).order_by(Message.id)).scalars())
        position = {m.id: i for i, m in enumerate(messages)}
        votes = {v.id: v for v in s.execute(select(Vote)).scalars()}
        sids: dict[str, int] = {}  # MessageSids differ between runs: compare their order
        return {
            "messages": [
                (
                    m.direction,
                    m.phone,
                    phones.get(m.member_id),
                    m.kind,
                    rename(m.body),
                    m.status,
                    codes.get(m.consultation_id),
                    position.get(m.reply_to_id),
                    m.segments,
                    m.encoding,
                    m.priority,
                    m.error_count,
                    sids.setdefault(m.twilio_sid, len(sids)) if m.direction == "in" else None,
                    m.sent_at is not None,
                    m.broadcast_id,
                )
                for m in messages
            ],
            "votes": sorted(
                (
                    codes[v.consultation_id],
                    phones[v.member_id],
                    v.choice,
                    v.channel,
                    v.entered_by,
                    rename(v.receipt),
                    v.updated_at >= v.created_at,
                )
                for v in votes.values()
            ),
            "history": [
                (
                    codes[votes[h.vote_id].consultation_id],
                    phones[votes[h.vote_id].member_id],
                    h.choice,
                    h.previous,
                    h.channel,
                    h.entered_by,
                    position.get(h.message_id),
                )
                for h in s.execute(select(VoteChange).order_by(VoteChange.id)).scalars()
            ],
            "comments": [
                (
                    codes.get(c.consultation_id),
                    phones[c.member_id],
                    c.body,
                    c.channel,
                    c.language,
                    c.visible,
                    position.get(c.message_id),
                )
                for c in s.execute(select(Comment).order_by(Comment.id)).scalars()
            ],
            "members": sorted(
                (m.phone, m.status, m.language, m.consent_source, m.opt_out_source, m.groups)
                for m in s.execute(select(Member)).scalars()
            ),
            "audit": [
                (e.action, e.subject_type)
                for e in s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars()
            ],
        }


def _fresh_world(app, signed_post) -> World:
    """A World on an emptied database, with a new staff token."""
    _truncate(app)
    client = app.test_client()
    result = app.test_cli_runner().invoke(args=["api-token", "create", "tests"])
    assert result.exit_code == 0, result.output
    headers = {"Authorization": f"Bearer {result.output.strip().splitlines()[-1]}"}

    class Api:
        def get(self, path, **kw):
            return client.get("/api/v1" + path, headers=headers, **kw)

        def post(self, path, **kw):
            return client.post("/api/v1" + path, headers=headers, **kw)

    return World(app, Api(), signed_post)


@pytest.fixture
def fast_calls(monkeypatch):
    """How many texts the fast path handled (it returned an answer)."""
    calls = []
    real = inbound_fast._attempts

    def spy(*args):
        done = real(*args)
        calls.append(done is not None)
        return done

    monkeypatch.setattr(inbound_fast, "_attempts", spy)
    return calls


def test_fast_path_answers_and_records_what_the_full_path_does(
    app, signed_post, fast_calls, monkeypatch
):
    fast = _fresh_world(app, signed_post)
    fast_replies = _play(fast)
    rename_fast = _Receipts()
    fast_replies = [(body, rename_fast(r)) for body, r in fast_replies]
    fast_rows = _snapshot(app, rename_fast)
    handled = sum(fast_calls)

    monkeypatch.setattr(inbound_fast, "COMMON", ())
    full = _fresh_world(app, signed_post)
    full_replies = _play(full)
    rename_full = _Receipts()
    full_replies = [(body, rename_full(r)) for body, r in full_replies]
    full_rows = _snapshot(app, rename_full)

    # The fast path really took the common texts: every vote, comment and HELP of an
    # active member, except votes whose current consultation is comments-only (Q3) or
    # has no such choice, and, with it switched off, none at all.
    assert handled == 39, handled
    assert sum(fast_calls) == handled
    for fast_reply, full_reply in zip(fast_replies, full_replies, strict=True):
        assert fast_reply == full_reply
    for table in fast_rows:
        assert fast_rows[table] == full_rows[table], table
    # And the script said something: votes, history, comments, replies.
    assert len(fast_rows["votes"]) >= 9
    assert len(fast_rows["history"]) > len(fast_rows["votes"])
    assert len(fast_rows["comments"]) >= 6


@pytest.fixture
def world(app, api, signed_post):
    world = World(app, api, signed_post)
    world.consultation("Q1")
    return world


@pytest.mark.parametrize("in_transaction", [False, True], ids=["own", "in-transaction"])
def test_a_receipt_drawn_twice_is_drawn_again_and_nothing_of_the_clash_is_kept(
    world, monkeypatch, in_transaction
):
    first, second = world.member(), world.member()
    world.text(first, "Q1 yes")
    taken = world.rows(Vote)[0].receipt
    draws = iter([taken, "ACDEFG"])
    monkeypatch.setattr(inbound_fast, "new_receipt", lambda: next(draws))

    if in_transaction:
        # The request shares this app context, so its session is already in a
        # transaction: the write goes into a savepoint of it.
        with world.app.app_context():
            db.session.execute(select(Member.id)).all()
            assert inbound_fast._session_busy()
            reply = world.text(second, "Q1 no")
    else:
        reply = world.text(second, "Q1 no")

    assert "ACDEFG" in reply and taken not in reply
    votes = {v.receipt: v.choice for v in world.rows(Vote)}
    assert votes == {taken: "yes", "ACDEFG": "no"}
    assert world.count(Message, Message.phone == second, Message.direction == "in") == 1
    assert world.count(Message, Message.phone == second, Message.direction == "out") == 1
    assert world.count(VoteChange) == 2


def test_a_vote_that_appears_between_the_read_and_the_write_is_changed_not_doubled(
    world, monkeypatch
):
    phone = world.member()
    real = inbound_fast._seen
    raced = []

    def seen_then_race(rows):
        seen = real(rows)
        if not raced:  # another request records this member's vote right now
            raced.append(True)
            with world.app.app_context(), db.engine.begin() as conn:
                member_id = conn.execute(select(Member.id).where(Member.phone == phone)).scalar()
                q1 = conn.execute(select(Consultation.id)).scalar()
                conn.execute(
                    Vote.__table__.insert().values(
                        consultation_id=q1,
                        member_id=member_id,
                        choice="no",
                        channel="web",
                        receipt="ACDEFG",
                    )
                )
        return seen

    monkeypatch.setattr(inbound_fast, "_seen", seen_then_race)
    reply = world.text(phone, "YES")

    assert raced
    [vote] = world.rows(Vote)
    assert (vote.choice, vote.receipt, vote.channel) == ("yes", "ACDEFG", "sms")
    assert "ACDEFG" in reply
    [change] = world.rows(VoteChange)
    assert (change.choice, change.previous) == ("yes", "no")
    assert world.count(Message, Message.direction == "in") == 1
    assert world.results("Q1")["votes"] == {"yes": 1, "no": 0, "abstain": 0}


def test_one_member_voting_from_eight_requests_at_once_has_one_vote(world, app):
    """Distinct texts, same member, same moment: the unique key keeps one vote, every
    text is stored and answered once, and the history has every change."""
    phone = world.member()
    bodies = ["yes", "no", "abstain", "yes", "no", "Q1 yes", "Q1 no", "Q1 abstain"]
    replies, errors = deliver_at_once(app, [inbound_params(phone, body) for body in bodies])

    assert not errors, errors
    assert len(replies) == len(bodies) and all(r and "Q1" in r for r in replies)
    [vote] = world.rows(Vote)
    assert sum(world.results("Q1")["votes"].values()) == 1
    assert world.count(Message, Message.direction == "in") == len(bodies)
    assert world.count(Message, Message.direction == "out") == len(bodies)
    history = world.rows(VoteChange)
    assert history[0].previous is None and all(h.previous for h in history[1:])
    assert history[-1].choice == vote.choice
    assert all(vote.receipt in r for r in replies)


def test_the_result_says_whether_the_caller_must_commit(world, app):
    """The webhook's one rule: commit the session unless the result says `committed`.
    Only PostgreSQL's fast path at the start of a request writes in autocommit."""
    from app.config import settings
    from app.domain.inbound import handle_inbound

    world.consultation("P12")
    phone = world.member()
    postgres = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    with app.app_context():
        fast = handle_inbound(settings(), "SM" + "1" * 32, phone, "", "P12 yes")
        assert fast.reply and fast.committed is postgres
        if not fast.committed:
            db.session.commit()
        db.session.remove()
        full = handle_inbound(settings(), "SM" + "2" * 32, phone, "", "LANG")
        assert full.reply and full.committed is False
        db.session.rollback()  # not committed: nothing of it stays
        db.session.remove()
        stored = {m.twilio_sid for m in db.session.scalars(select(Message))}
    assert "SM" + "1" * 32 in stored and "SM" + "2" * 32 not in stored
