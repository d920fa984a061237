"""The console's results page: the chart and the table, breakdowns, participation, the
decision rule in words, comments with moderation, and the CSV exports.

Votes come in through the real paths: texts through the signed webhook, web votes
through the domain's record_vote (as the personal page records them), assisted votes
through the console's own form.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, insert, select

from app.domain import results as results_ops
from app.extensions import db
from app.models import AuditEvent, Comment, Consultation, Member, MemberGroup, Vote, utcnow
from app.staff import charts
from tests.results_helpers import (
    add_comment,
    add_vote,
    breakdown,
    chart_bars,
    public_tally,
    read_csv,
    rule_sentences,
    tally_table,
    text,
)
from tests.staff_helpers import post, staff_client

RESULTS = "/staff/consultations/P12/results"


@pytest.fixture
def organiser(app):
    return staff_client(app, "organiser")


@pytest.fixture
def viewer(app):
    return staff_client(app, "viewer")


def consultation(world, code="P12", kind="yes_no", audience=None, decision=None, options=None):
    """Create and open a consultation through the API, with a decision rule."""
    payload = {
        "code": code,
        "kind": kind,
        "title": {"en": f"Title of {code}", "ar": "عنوان"},
        "summary": {"en": f"Summary of {code}"},
    }
    if audience is not None:
        payload["audience"] = audience
    if decision is not None:
        payload["decision"] = decision
    if options is not None:
        payload["options"] = [{"label": {"en": label}} for label in options]
    assert world.api.post("/consultations", json=payload).status_code == 201
    assert world.api.post(f"/consultations/{code}/open").status_code == 200
    return code


def member(world, language="en", groups=("community",)):
    """A member with exactly these groups (none allowed)."""
    phone = world.stranger()
    r = world.api.post(
        "/members", json={"phone": phone, "language": language, "groups": list(groups)}
    )
    assert r.status_code == 201, r.get_json()
    return phone


# ---------------------------------------------------------------------- the tally


def test_chart_table_api_and_public_page_say_the_same_numbers(app, world, organiser):
    consultation(world)
    people = [member(world) for _ in range(6)]
    for phone, choice in zip(people[:3], ["yes", "yes", "no"], strict=True):
        assert world.text(phone, f"P12 {choice}")
    add_vote(app, "P12", people[3], "abstain")
    add_vote(app, "P12", people[4], "yes")
    world.text(people[5], "P12 I have no view but want to say hello")  # a comment only

    page = text(organiser.get(RESULTS))
    api = world.results("P12")
    table = tally_table(page)
    assert table == api["votes"] == {"yes": 3, "no": 1, "abstain": 1}
    public = public_tally(text(app.test_client().get("/c/P12")))
    assert public == table
    bars = chart_bars(page)
    cast = sum(table.values())
    for choice, (count, width) in bars.items():
        assert count == table[choice]
        assert width == pytest.approx(charts.TRACK * count / cast, abs=0.01)  # proportional
    assert bars["yes"][1] == pytest.approx(3 * bars["no"][1])
    assert f"{api['participants']} of the 6 members who may take part took part" in page
    assert api["participants"] == 6
    assert "5 votes cast." in page
    # The chart is an image with a title, a description and text labels; no script.
    assert '<svg class="chart" role="img" aria-labelledby="tally-title tally-desc"' in page
    assert '<title id="tally-title">Votes on P12</title>' in page
    assert "YES: 3 (60%); NO: 1 (20%); ABSTAIN: 1 (20%)" in page
    assert "<script" not in page


def test_choice_consultation_labels_bars_with_the_options(app, world, organiser):
    consultation(world, "C1", kind="choice", options=["Monday", "Tuesday", "Wednesday"])
    phones = [member(world) for _ in range(3)]
    for phone, n in zip(phones, ["2", "2", "3"], strict=True):
        add_vote(app, "C1", phone, n)
    page = text(organiser.get("/staff/consultations/C1/results"))
    assert tally_table(page) == {"1": 0, "2": 2, "3": 1}
    assert ">2. Tuesday</text>" in page
    assert {c: n for c, (n, _) in chart_bars(page).items()} == {"1": 0, "2": 2, "3": 1}


def test_breakdowns_by_channel_language_and_group(app, world, organiser):
    consultation(world)
    en = member(world, "en", ["community"])
    cy = member(world, "cy", ["community", "allies"])
    ar = member(world, "ar", ["allies"])
    lone = member(world, "en", [])
    world.text(en, "P12 YES")
    add_vote(app, "P12", cy, "no", channel="web")
    assert (
        post(
            organiser,
            "/staff/consultations/P12/assisted",
            {"phone": ar, "choice": "yes", "method": "paper"},
        ).status_code
        == 303
    )
    add_vote(app, "P12", lone, "abstain", channel="web")
    add_comment(app, "P12", cy, "Da iawn", channel="sms", language="cy")

    page = text(organiser.get(RESULTS))
    assert breakdown(page, "channel") == {
        "sms": {"yes": 1, "no": 0, "abstain": 0, "total": 1, "comments": 1},
        "web": {"yes": 0, "no": 1, "abstain": 1, "total": 2, "comments": 0},
        "assisted": {"yes": 1, "no": 0, "abstain": 0, "total": 1, "comments": 0},
    }
    assert breakdown(page, "language") == {
        "ar": {"yes": 1, "no": 0, "abstain": 0, "total": 1, "comments": 0},
        "cy": {"yes": 0, "no": 1, "abstain": 0, "total": 1, "comments": 1},
        "en": {"yes": 1, "no": 0, "abstain": 1, "total": 2, "comments": 0},
    }
    groups = breakdown(page, "group")
    assert groups == {
        "allies": {"yes": 1, "no": 1, "abstain": 0, "total": 2, "comments": 1},
        "community": {"yes": 1, "no": 1, "abstain": 0, "total": 2, "comments": 1},
        "": {"yes": 0, "no": 0, "abstain": 1, "total": 1, "comments": 0},
    }
    assert list(groups)[-1] == ""  # members in no group come last
    assert "(no group)" in page
    # Every vote is in exactly one channel row and one language row.
    for kind in ("channel", "language"):
        assert sum(row["total"] for row in breakdown(page, kind).values()) == 4


def test_participation_counts_the_audience_not_pending_members(app, world, organiser):
    consultation(world, audience=["allies"])
    voter = member(world, groups=["allies"])
    member(world, groups=["allies"])
    member(world, groups=["community"])  # not in the audience
    pending = world.stranger()
    world.api.post("/members", json={"phone": pending, "groups": ["allies"]})
    with app.app_context():
        row = db.session.execute(select(Member).where(Member.phone == pending)).scalar_one()
        row.status = "pending"
        db.session.commit()
    add_vote(app, "P12", voter, "yes")
    page = text(organiser.get(RESULTS))
    assert "1 of the 2 members who may take part took part: 50%." in page


# ---------------------------------------------------------------------- the rule in words


def _vote_many(app, world, code, choices):
    for choice in choices:
        add_vote(app, code, member(world), choice)


def test_quorum_and_threshold_reached(app, world, organiser):
    consultation(world, decision={"by": "community", "quorum": 4, "threshold": 0.6})
    _vote_many(app, world, "P12", ["yes", "yes", "yes", "no", "abstain"])
    sentences = rule_sentences(text(organiser.get(RESULTS)))
    assert sentences == [
        "The community decides by vote.",
        "Quorum of 4 reached: 5 took part.",
        "Threshold 60% reached: YES has 60%.",
    ]


def test_quorum_and_threshold_not_reached(app, world, organiser):
    consultation(world, decision={"by": "community", "quorum": 20, "threshold": 0.6})
    # 11 YES of 20 cast: 55%.
    _vote_many(app, world, "P12", ["yes"] * 11 + ["no"] * 9)
    world.text(member(world), "P12 just a comment from someone who did not vote")
    sentences = rule_sentences(text(organiser.get(RESULTS)))
    assert sentences[1:] == [
        "Quorum of 20 reached: 21 took part.",
        "Threshold 60% not reached: YES has 55%.",
    ]
    consultation(world, "P13", decision={"quorum": 20, "threshold": 0.6})
    _vote_many(app, world, "P13", ["yes", "yes", "no"])
    sentences = rule_sentences(text(organiser.get("/staff/consultations/P13/results")))
    assert sentences[1:] == [
        "Quorum of 20 not reached: 3 took part.",
        "Threshold 60% reached: YES has 66.7%.",
    ]


def test_no_rule_and_no_votes(app, world, organiser):
    consultation(world)
    assert rule_sentences(text(organiser.get(RESULTS)))[1:] == [
        "No quorum is set.",
        "No threshold is set.",
    ]
    consultation(world, "P13", decision={"by": "staff", "threshold": 0.5})
    assert rule_sentences(text(organiser.get("/staff/consultations/P13/results"))) == [
        "Staff decide, informed by the replies.",
        "No quorum is set.",
        "Threshold 50% not reached: no votes yet.",
    ]


def test_choice_threshold_names_the_leader_or_the_tie(app, world, organiser):
    consultation(world, "C1", "choice", decision={"threshold": 0.5}, options=["Mon", "Tue", "Wed"])
    _vote_many(app, world, "C1", ["2", "2", "1"])
    assert rule_sentences(text(organiser.get("/staff/consultations/C1/results")))[-1] == (
        "Threshold 50% reached: 2. Tue has 66.7%."
    )
    consultation(world, "C2", "choice", decision={"threshold": 0.4}, options=["Mon", "Tue"])
    _vote_many(app, world, "C2", ["1", "2"])
    assert rule_sentences(text(organiser.get("/staff/consultations/C2/results")))[-1] == (
        "Threshold 40% not reached: 1. Mon, 2. Tue are tied at 50% each."
    )
    consultation(world, "C3", "choice", decision={"threshold": 0.75}, options=["Mon", "Tue"])
    _vote_many(app, world, "C3", ["1", "1", "2"])
    assert rule_sentences(text(organiser.get("/staff/consultations/C3/results")))[-1] == (
        "Threshold 75% not reached: 1. Mon leads with 66.7%."
    )


def test_open_consultation_has_no_vote_to_count(app, world, organiser):
    consultation(world, "O1", "open", decision={"threshold": 0.5})
    page = text(organiser.get("/staff/consultations/O1/results"))
    assert rule_sentences(page)[-1] == "Comments only: there is no vote to count."
    assert "<svg" not in page


def test_check_rule_counts_abstentions_as_cast(app, world):
    consultation(world, decision={"quorum": 0, "threshold": 0.5})
    with app.app_context():
        c = db.session.execute(select(Consultation)).scalar_one()
        check = results_ops.check_rule(
            c, {"votes": {"yes": 2, "no": 1, "abstain": 1}, "participants": 4}
        )
    assert (check.quorum, check.quorum_reached) == (None, None)  # 0: no quorum
    assert (check.threshold_reached, check.leader_share) == (True, 0.5)


# ---------------------------------------------------------------------- comments


def test_comments_are_listed_newest_first_and_paged(app, world, organiser):
    consultation(world)
    phone = member(world)
    ids = [add_comment(app, "P12", phone, f"comment number {n}") for n in range(55)]
    page = text(organiser.get(RESULTS))
    shown = [int(n) for n in re.findall(r'<tr id="comment-(\d+)"', page)]
    assert shown == list(reversed(ids))[:50]
    assert "Page 1 of 2." in page
    older = text(organiser.get(RESULTS + "?page=2"))
    assert [int(n) for n in re.findall(r'<tr id="comment-(\d+)"', older)] == ids[:5][::-1]


def test_hide_takes_a_comment_off_the_public_page_and_is_audited(app, world, organiser):
    consultation(world)
    phone = member(world)
    world.text(phone, "P12 YES and the bins are a disgrace")
    comment_id = world.rows(Comment)[0].id
    public = app.test_client()
    assert "1 comment." in text(public.get("/c/P12"))

    r = post(
        organiser,
        f"/staff/consultations/P12/comments/{comment_id}/hide",
        {"reason": "Names a neighbour"},
    )
    assert r.status_code == 303
    assert r.headers["Location"].endswith(f"{RESULTS}#comment-{comment_id}")
    hidden = world.rows(Comment)[0]
    assert (hidden.visible, hidden.hidden_reason) == (False, "Names a neighbour")
    page = text(public.get("/c/P12"))
    assert "0 comments." in page
    assert "bins" not in page
    assert world.results("P12")["comments"] == 0
    staff_page = text(organiser.get(RESULTS))
    assert "<strong>Hidden</strong>: Names a neighbour" in staff_page
    assert f"Comment {comment_id} is hidden from the public pages." in staff_page
    event = world.rows(AuditEvent, AuditEvent.action == "comment.hidden")[0]
    assert (event.subject_type, event.subject_id) == ("comment", str(comment_id))
    assert event.data == {"consultation": "P12", "reason": "Names a neighbour"}
    assert event.actor == "staff:organiser@example.org"

    r = post(organiser, f"/staff/consultations/P12/comments/{comment_id}/show", {"reason": ""})
    assert r.status_code == 303
    shown = world.rows(Comment)[0]
    assert (shown.visible, shown.hidden_reason) == (True, None)
    assert "1 comment." in text(public.get("/c/P12"))
    assert world.rows(AuditEvent, AuditEvent.action == "comment.shown")[0].data == {
        "consultation": "P12",
        "reason": None,
    }


def test_hiding_needs_a_reason_and_changes_nothing_without_one(app, world, organiser):
    consultation(world)
    comment_id = add_comment(app, "P12", member(world), "hello")
    r = post(organiser, f"/staff/consultations/P12/comments/{comment_id}/hide", {"reason": "  "})
    assert r.status_code == 422
    page = text(r)
    assert 'aria-invalid="true"' in page
    assert "Give a reason for hiding this comment." in page
    assert world.rows(Comment)[0].visible is True
    assert world.count(AuditEvent, AuditEvent.action == "comment.hidden") == 0
    too_long = post(
        organiser, f"/staff/consultations/P12/comments/{comment_id}/hide", {"reason": "x" * 201}
    )
    assert too_long.status_code == 422
    assert world.rows(Comment)[0].visible is True


def test_a_comment_of_another_consultation_is_not_found(app, world, organiser):
    consultation(world)
    consultation(world, "P13")
    other = add_comment(app, "P13", member(world), "elsewhere")
    r = post(organiser, f"/staff/consultations/P12/comments/{other}/hide", {"reason": "x"})
    assert r.status_code == 404
    assert world.rows(Comment)[0].visible is True


def test_viewer_reads_with_masked_numbers_and_cannot_moderate(app, world, viewer):
    consultation(world)
    phone = member(world)
    comment_id = add_comment(app, "P12", phone, "hello")
    page = text(viewer.get(RESULTS))
    assert phone not in page
    assert phone[:3] + "*" * (len(phone) - 7) + phone[-4:] in page
    assert "Reason for hiding" not in page
    for action in ("hide", "show"):
        path = f"/staff/consultations/P12/comments/{comment_id}/{action}"
        r = post(viewer, path, {"reason": "x"})
        assert r.status_code == 403
    assert world.rows(Comment)[0].visible is True


# ---------------------------------------------------------------------- CSV exports


def test_comments_csv_has_every_comment_and_no_phone_number(app, world, viewer, organiser):
    consultation(world)
    phone = member(world, "cy")
    first = add_comment(app, "P12", phone, "Line one,\nline two", language="cy")
    second = add_comment(app, "P12", phone, '=HYPERLINK("http://x")')
    post(organiser, f"/staff/consultations/P12/comments/{first}/hide", {"reason": "Rude"})
    r = viewer.get("/staff/consultations/P12/comments.csv")
    assert r.status_code == 200
    assert r.is_streamed
    assert r.mimetype == "text/csv"
    assert 'filename="P12-comments.csv"' in r.headers["Content-Disposition"]
    body = text(r)
    assert phone not in body and phone[3:] not in body
    rows = read_csv(r)
    assert list(rows[0]) == [
        "id", "time", "channel", "language", "visible", "reason", "body", "member_id"
    ]  # fmt: skip
    with app.app_context():
        member_id = db.session.execute(select(Member.id).where(Member.phone == phone)).scalar()
    assert [(r["id"], r["visible"], r["reason"], r["language"]) for r in rows] == [
        (str(first), "false", "Rude", "cy"),
        (str(second), "true", "", "cy"),
    ]
    assert rows[0]["body"] == "Line one,\nline two"
    assert rows[1]["body"] == '\'=HYPERLINK("http://x")'  # not a formula in a spreadsheet
    assert {r["member_id"] for r in rows} == {str(member_id)}
    assert rows[0]["time"].endswith("+00:00")


def test_votes_csv_is_anonymous(app, world, viewer):
    consultation(world)
    a = member(world, "en", ["community", "allies"])
    b = member(world, "ar", [])
    world.text(a, "P12 YES")
    add_vote(app, "P12", b, "no")
    r = viewer.get("/staff/consultations/P12/votes.csv")
    assert r.status_code == 200 and r.is_streamed
    body = text(r)
    rows = read_csv(r)
    assert list(rows[0]) == ["choice", "channel", "language", "groups", "time"]
    assert [(r["choice"], r["channel"], r["language"], r["groups"]) for r in rows] == [
        ("yes", "sms", "en", "allies;community"),
        ("no", "web", "ar", ""),
    ]
    for vote in world.rows(Vote):
        assert vote.receipt not in body
    for phone in (a, b):
        assert phone not in body and phone[3:] not in body


def test_votes_csv_reads_in_chunks(app, world, viewer, monkeypatch):
    monkeypatch.setattr(results_ops, "EXPORT_CHUNK", 2)
    consultation(world)
    for n in range(5):
        add_vote(app, "P12", member(world, groups=[f"g{n}"]), "yes")
    rows = read_csv(viewer.get("/staff/consultations/P12/votes.csv"))
    assert [r["groups"] for r in rows] == [f"g{n}" for n in range(5)]


# ---------------------------------------------------------------------- scale and languages


def _queries_for(app, client, path):
    statements = []
    with app.app_context():
        engine = db.engine

    def count(*_args):
        statements.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(statements)


def test_the_page_costs_the_same_queries_with_few_or_many_votes(app, world, organiser):
    """Counting is done in SQL: 3,000 votes cost the same statements as 3."""
    consultation(world)
    consultation(world, "P13")
    with app.app_context():
        ids = {c.code: c.id for c in db.session.execute(select(Consultation)).scalars()}
        now = utcnow()
        db.session.execute(
            insert(Member),
            [
                {"phone": f"+4475{n:08d}", "language": ("en", "cy", "ar")[n % 3]}
                for n in range(3000)
            ],
        )
        members = list(db.session.execute(select(Member.id).order_by(Member.id)).scalars())
        db.session.execute(
            insert(MemberGroup), [{"member_id": m, "name": "community"} for m in members]
        )
        rows = [
            {
                "consultation_id": ids["P12" if n < 3 else "P13"],
                "member_id": m,
                "choice": ("yes", "no", "abstain")[n % 3],
                "channel": ("sms", "web", "assisted")[n % 3],
                "receipt": f"R{n:07d}",
                "created_at": now,
                "updated_at": now,
            }
            for n, m in enumerate(members)
        ]
        db.session.execute(insert(Vote), rows)
        db.session.commit()
    few = _queries_for(app, organiser, RESULTS)
    many = _queries_for(app, organiser, "/staff/consultations/P13/results")
    assert few == many
    assert many < 30
    assert tally_table(text(organiser.get("/staff/consultations/P13/results"))) == {
        "yes": 999,
        "no": 999,
        "abstain": 999,
    }


def test_arabic_page_is_right_to_left_with_a_mirrored_chart(app, world, organiser):
    consultation(world)
    add_vote(app, "P12", member(world), "yes")
    page = text(organiser.get(RESULTS + "?lang=ar"))
    assert '<html lang="ar" dir="rtl">' in page
    assert 'direction="rtl"' in page
    svg = page[page.index("<svg") : page.index("</svg>")]
    # Labels and bars start at the right edge; bars grow leftwards.
    assert re.search(r'<text x="592.0"', svg)
    bar = re.search(r'<rect class="bar" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    assert float(bar.group(1)) + float(bar.group(2)) == pytest.approx(charts.WIDTH - charts.PAD)
    assert float(bar.group(2)) == pytest.approx(charts.TRACK)  # the only vote: 100%
    assert '<span lang="en" dir="ltr">Title of P12</span>' not in page  # the Arabic title
    assert "عنوان" in page


def test_unknown_consultation_is_404(organiser):
    assert organiser.get("/staff/consultations/Z99/results").status_code == 404
    assert organiser.get("/staff/consultations/Z99/votes.csv").status_code == 404


def test_signed_out_is_sent_to_sign_in(app):
    r = app.test_client().get(RESULTS)
    assert r.status_code == 303 and "/staff/login" in r.headers["Location"]
