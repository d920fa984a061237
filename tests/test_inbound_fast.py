"""The two-round-trip path for common texts (app/domain/inbound_fast.py) answers and
records exactly what the full path does.

One script of texts (votes, changes, repeats, vote + comment, comments, HELP, in all
ten languages, with emoji and non-Latin digits, plus the cases the fast path must
hand over: strangers, STOP, closed, unknown and not-theirs codes, bad choices,
comments-only consultations, repeated MessageSids) is played twice on a clean
database: once as shipped, once with the fast path switched off. Each line of the
script says which path it must take. The replies and every column of every table
must be the same, except the columns `NORMALISED` and `SKIPPED` list (and say why).

It runs on SQLite and on PostgreSQL (both ways of reading there: FAST_PATH_SQL text and
core) in every run: the configured database is one, a private SQLite file the other.
Without PostgreSQL the PostgreSQL variants are skipped, except in CI (CI=true), where
that is a failure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask_migrate import upgrade
from sqlalchemy import Boolean, Column, MetaData, Table, select

from app import create_app
from app.domain import inbound_fast
from app.domain.votes import RECEIPT_ALPHABET, RECEIPT_LENGTH
from app.extensions import db
from app.models import Consultation, Member, Message, Vote, VoteChange
from tests.conftest import AUTH_TOKEN, DATABASE_URL, PUBLIC_BASE_URL, _truncate, make_settings
from tests.fake_twilio import sign
from tests.inbound_helpers import World, deliver_at_once, inbound_params

RECEIPT = re.compile(rf"\b[{RECEIPT_ALPHABET}]{{{RECEIPT_LENGTH}}}\b")
FAST, FULL = True, False  # the path a line of the script must take


def _script(world: World) -> list[tuple[str, str, bool, str | None]]:
    """Set up members and consultations; the texts to send as (phone, body, fast, sid):
    `fast` says the fast path must answer it (FULL: it must hand it to the full path)."""
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
        ("en", "YES", FAST, "SM" + "e1" * 16),
        ("en", "yes", FAST, None),  # the same choice again
        ("en", "no", FAST, None),  # a change
        ("en", "YES", FULL, "SM" + "e1" * 16),  # Twilio's retry of the first text
        ("en", "Q2 1", FAST, None),
        ("en", "q2 2 because it is closer", FAST, None),
        ("en", "The room was cold", FAST, None),  # a comment on the current one (now Q2)
        ("en", "HELP", FAST, None),
        ("en", "Q1 abstain", FAST, None),
        ("en", "Q3 yes", FULL, None),  # comments-only consultation: full path
        ("en", "Q3 I like it", FAST, None),
        ("en", "Q4 yes", FULL, None),  # closed
        ("en", "Q9 yes", FULL, None),  # unknown
        ("en", "Q5 yes", FULL, None),  # not in its audience
        ("en", "Q2 7", FULL, None),  # no such option
        ("en", "👍", FULL, None),  # YES, and the current one (Q2) has no yes
        ("fr", "oui", FAST, None),
        ("fr", "Q2 1", FAST, None),  # accented label: the reply falls back to the number
        ("fr", "2", FAST, None),
        ("fr", "merci pour tout", FAST, None),
        ("fr", "AIDE", FAST, None),
        ("ar", "نعم", FULL, None),  # its current one is Q3, comments-only
        ("ar", "Q2 ٢", FAST, None),
        ("ar", "شكرا", FAST, None),
        ("cy", "Q5 ie", FAST, None),
        ("cy", "na", FAST, None),
        ("cy", "Q1 na", FAST, None),
        ("bn", "Q2 ২ কারণ এটি কাছে", FAST, None),
        ("bn", "HELP", FAST, None),
        ("es", "STOP", FULL, None),  # not a common text
        ("es", "Q1 no", FULL, None),  # opted out: nothing
        ("es", "Sí", FULL, None),  # a bare YES opts back in
        ("es", "Q1 no", FAST, None),
        ("staff", "Please call me", FAST, None),  # nothing open to them: a note to staff
        ("staff", "YES", FULL, None),  # nothing open: full path
        ("stranger", "YES", FULL, None),  # not a member
        ("stranger", "JOIN", FULL, None),
        ("stranger", "YES", FULL, None),
        ("pt", "sim", FAST, None),
        ("pt", "Q2 3 porque é perto", FAST, None),
        ("pt", "AJUDA", FAST, None),
        ("pl", "Tak", FAST, None),
        ("pl", "nie", FAST, None),
        ("pl", "POMOC", FAST, None),
        ("ro", "Q1 da", FAST, None),
        ("ro", "Q1 NU pentru că", FAST, None),
        ("ro", "ajutor", FAST, None),
        ("ur", "ہاں", FAST, None),
        ("ur", "Q2 ۲", FAST, None),
        ("ur", "نہیں", FULL, None),  # Q2 is now current and has no "no": full path
        ("en2", "q1 yes!!", FAST, None),
        ("en2", "Yes please", FAST, None),
        ("en2", "YES🙂", FAST, None),
        ("en2", "👎", FAST, None),
        ("en2", "yse", FAST, None),  # a typo: the reply says what was read
        ("pl", "nei, bo za drogo", FAST, None),  # a typo and a comment
        ("en", "", FULL, None),  # empty: not a common text
        ("en", "x" * 1600, FAST, None),
    ]
    return [(people[who], body, fast, sid) for who, body, fast, sid in texts]


# How the columns that differ between two runs of the same script by design are
# compared. Every other column of every table is compared as it is, so a column added
# to the models is compared without anyone listing it here.
NORMALISED: dict[str, str] = {
    # Surrogate keys: PostgreSQL draws them from sequences, which an insert that is
    # refused (a repeated MessageSid) still advances. Rows are compared in key order,
    # and references to them by the position of the row they name.
    **{f"{t}.id": "position" for t in ("member", "consultation", "vote", "vote_change")},
    **{f"{t}.id": "position" for t in ("comment", "message", "broadcast", "outcome")},
    **{f"{t}.id": "position" for t in ("audit_event", "api_token", "audit_head")},
    # Wall-clock moments: whether one was recorded, not when.
    **{f"{t}.created_at": "moment" for t in ("member", "consultation", "vote", "vote_change")},
    **{f"{t}.created_at": "moment" for t in ("comment", "message", "broadcast", "outcome")},
    **{f"{t}.created_at": "moment" for t in ("audit_event", "api_token")},
    **{f"{t}.updated_at": "moment" for t in ("member", "vote", "message")},
    **{f"member.{c}": "moment" for c in ("consent_at", "opted_out_at")},
    **{f"consultation.{c}": "moment" for c in ("opened_at", "closed_at")},
    **{f"message.{c}": "moment" for c in ("sent_at", "next_attempt_at", "claimed_at")},
    "api_token.last_used_at": "moment",
    # Receipts are drawn at random: renamed in order of first appearance, wherever they are.
    "vote.receipt": "receipts",
    "message.body": "receipts",
    # The script's MessageSids come from a counter that runs on between the two plays.
    "message.twilio_sid": "order",
}
SKIPPED: dict[str, str] = {
    # Each audit hash covers its event's timestamp, so no two runs share one.
    "audit_event.prev_hash": "hash chain over timestamps",
    "audit_event.hash": "hash chain over timestamps",
    "audit_head.hash": "hash chain over timestamps",
    # A new random token for each play.
    "api_token.token_hash": "random token",
}


def _play(world: World, fast_calls: list[bool]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """(text, reply) for every line of the script, and the lines that took the other path
    than the script says (all of them count as FULL when the fast path is off)."""
    off = inbound_fast.COMMON == ()
    replies, wrong = [], []
    for n, (phone, body, fast, sid) in enumerate(_script(world), start=1):
        before = len(fast_calls)
        replies.append((body, world.text(phone, body, sid)))
        took = any(fast_calls[before:])
        if took != (fast and not off):
            wrong.append(f"line {n} {body[:40]!r}: took the {'fast' if took else 'full'} path")
    return replies, wrong


class _Renamer:
    """Values renamed V1, V2... in order of first appearance (receipts, MessageSids)."""

    def __init__(self, pattern: re.Pattern[str] | None = None) -> None:
        self.pattern = pattern
        self.names: dict[str, str] = {}

    def _name(self, value: str) -> str:
        return self.names.setdefault(value, f"V{len(self.names) + 1}")

    def __call__(self, text: str | None) -> str | None:
        if text is None:
            return None
        if self.pattern is None:
            return self._name(text)
        return self.pattern.sub(lambda m: self._name(m.group()), text)


def _columns(table: Table) -> list[Column]:
    """The columns of `table` the comparison looks at: all but SKIPPED."""
    return [c for c in table.columns if f"{table.name}.{c.name}" not in SKIPPED]


def _snapshot(app, receipts: _Renamer) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, as the comparison sees it (see NORMALISED)."""
    order = _Renamer()
    with app.app_context(), db.engine.connect() as conn:
        tables = db.metadata.sorted_tables
        rows = {
            t.name: [r._mapping for r in conn.execute(select(t).order_by(*t.primary_key))]
            for t in tables
        }
        position = {
            t.name: {r["id"]: n for n, r in enumerate(rows[t.name])}
            for t in tables
            if "id" in t.columns
        }

        def compared(table: Table, column: Column, value: Any) -> Any:
            how = NORMALISED.get(f"{table.name}.{column.name}")
            if how == "position" or value is None:
                return None if how == "position" else value
            if column.foreign_keys:
                (key,) = column.foreign_keys
                return ("row", position[key.column.table.name][value])
            if how == "moment":
                return "set"
            if how == "receipts":
                return receipts(value)
            if how == "order":
                return order(value)
            assert how is None, f"{table.name}.{column.name}: no such normalisation {how!r}"
            return value

        return {
            t.name: [{c.name: compared(t, c, r[c.name]) for c in _columns(t)} for r in rows[t.name]]
            for t in tables
        }


def _signed_post(app) -> Callable[..., Any]:
    """POST form params to `app` as Twilio would (signed)."""
    client = app.test_client()

    def post(path, params):
        signature = sign(PUBLIC_BASE_URL + path, params, AUTH_TOKEN)
        return client.post(path, data=params, headers={"X-Twilio-Signature": signature})

    return post


def _fresh_world(app) -> World:
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

    return World(app, Api(), _signed_post(app))


def _postgresql_missing() -> None:
    """Skip a PostgreSQL variant here; in CI, fail instead (it must run there)."""
    reason = "no PostgreSQL: set TEST_DATABASE_URL to a PostgreSQL database to run this variant"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the differential test must run on PostgreSQL)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def _private_sqlite(tmp_path_factory) -> Iterator[Any]:
    """An app on a SQLite file of its own, migrated, when the configured database is not
    SQLite (so the differential test runs on SQLite in a PostgreSQL run too)."""
    path = tmp_path_factory.mktemp("differential") / "chorus.sqlite3"
    made = create_app(
        make_settings(DATABASE_URL=f"sqlite:///{path}"), TESTING=True, JOBS_EAGER=True
    )
    with made.app_context():
        upgrade()
    yield made
    with made.app_context():
        db.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql-text", "postgresql-core"])
def differential_app(request, make_app, monkeypatch):
    """The app for one variant of the differential test: the configured database when it
    is that kind, a private SQLite file for SQLite otherwise."""
    kind, _, read = request.param.partition("-")
    configured = "postgresql" if "postgresql" in DATABASE_URL else "sqlite"
    if kind == configured:
        # The other read is broken, so the variant cannot pass on the wrong one.
        if read == "core":
            monkeypatch.setattr(inbound_fast, "PG_READ", "SELECT 'not the core read'")
        elif read == "text":
            monkeypatch.setattr(inbound_fast, "READ", None)
        return make_app(config={"FAST_PATH_SQL": read or "text"})
    if kind == "sqlite":
        return request.getfixturevalue("_private_sqlite")
    _postgresql_missing()


@pytest.fixture
def fast_calls(monkeypatch):
    """Whether the fast path answered, for each common text it was offered."""
    calls: list[bool] = []
    real = inbound_fast._attempts

    def spy(*args):
        done = real(*args)
        calls.append(done is not None)
        return done

    monkeypatch.setattr(inbound_fast, "_attempts", spy)
    return calls


def test_fast_path_answers_and_records_what_the_full_path_does(
    differential_app, fast_calls, monkeypatch
):
    app = differential_app
    fast_replies, fast_wrong = _play(_fresh_world(app), fast_calls)
    rename_fast = _Renamer(RECEIPT)
    fast_replies = [(body, rename_fast(r)) for body, r in fast_replies]
    fast_rows = _snapshot(app, rename_fast)

    monkeypatch.setattr(inbound_fast, "COMMON", ())
    full_replies, full_wrong = _play(_fresh_world(app), fast_calls)
    rename_full = _Renamer(RECEIPT)
    full_replies = [(body, rename_full(r)) for body, r in full_replies]
    full_rows = _snapshot(app, rename_full)
    _truncate(app)

    # Each line took the path the script says (and, switched off, none took the fast one).
    assert not fast_wrong, "\n".join(fast_wrong)
    assert not full_wrong, "\n".join(full_wrong)
    for n, (fast_reply, full_reply) in enumerate(zip(fast_replies, full_replies, strict=True)):
        assert fast_reply == full_reply, f"line {n + 1}"
    for table, rows in fast_rows.items():
        assert len(rows) == len(full_rows[table]), table
        for n, (fast_row, full_row) in enumerate(zip(rows, full_rows[table], strict=True)):
            differ = {c: (v, full_row[c]) for c, v in fast_row.items() if full_row[c] != v}
            assert not differ, f"{table} row {n + 1}: (fast, full) {differ}"
    # And the script said something: votes, history, comments, replies.
    assert len(fast_rows["vote"]) >= 9
    assert len(fast_rows["vote_change"]) > len(fast_rows["vote"])
    assert len(fast_rows["comment"]) >= 6


def test_every_column_of_every_table_is_compared_but_the_listed_ones(world):
    """The comparison reads the tables' columns from the models: a column added later is
    compared unless someone lists it (with a reason) in SKIPPED."""
    world.text(world.member(), "Q1 yes but later")
    tables = {t.name: t for t in db.metadata.sorted_tables}
    for name in (*NORMALISED, *SKIPPED):
        table, column = name.split(".")
        assert column in tables[table].columns, f"{name} is listed but is no column"
    snapshot = _snapshot(world.app, _Renamer(RECEIPT))
    assert set(snapshot) == set(tables)
    for name, table in tables.items():
        skipped = {k.split(".")[1] for k in SKIPPED if k.split(".")[0] == name}
        expected = {c.name for c in table.columns} - skipped
        assert {c.name for c in _columns(table)} == expected, name
        for row in snapshot[name]:
            assert set(row) == expected, name
    assert all(snapshot[t] for t in ("member", "consultation", "vote", "message", "comment"))

    grown = tables["vote"].to_metadata(MetaData())
    grown.append_column(Column("weight", Boolean))
    assert "weight" in {c.name for c in _columns(grown)}


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
                        receipt="ACDEFGHJK",
                    )
                )
        return seen

    monkeypatch.setattr(inbound_fast, "_seen", seen_then_race)
    reply = world.text(phone, "YES")

    assert raced
    [vote] = world.rows(Vote)
    assert (vote.choice, vote.receipt, vote.channel) == ("yes", "ACDEFGHJK", "sms")
    assert "ACDEFGHJK" in reply
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
