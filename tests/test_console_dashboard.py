"""The console's dashboard: open consultations with participation, broadcasts in flight,
the inbox, failed texts of the last day; links to the screens that exist; a fixed
number of aggregate queries whatever the data."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, insert, select

from app.extensions import db
from app.models import Broadcast, Consultation, Member, Message, utcnow
from app.staff.dashboard import screen_url
from tests.staff_helpers import staff_client


@pytest.fixture
def viewer(app):
    return staff_client(app, "viewer")


def html_of(client, path="/staff/") -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def row_of(html: str, heading: str) -> str:
    """The table row whose header cell reads `heading` (text inside tags allowed)."""
    for row in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        header = re.search(r'<th scope="row">(.*?)</th>', row, re.S)
        if header and heading in re.sub(r"<[^>]+>", "", header.group(1)):
            return row
    raise AssertionError(f"no row for {heading!r}")


def cells(row: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", cell).strip()
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    ]


def add_broadcast(app, status: str, statuses: dict[str, int], code: str | None = None) -> int:
    """A broadcast row with messages in the given statuses (as a send leaves them)."""
    with app.app_context():
        consultation_id = None
        if code:
            consultation_id = db.session.execute(
                select(Consultation.id).where(Consultation.code == code)
            ).scalar_one()
        total = sum(statuses.values())
        broadcast = Broadcast(
            kind="announcement",
            consultation_id=consultation_id,
            bodies={"en": "News"},
            status=status,
            total=total,
            scheduled_at=utcnow() + timedelta(hours=1) if status == "scheduled" else None,
        )
        db.session.add(broadcast)
        db.session.flush()
        now = utcnow()
        rows = []
        n = 0
        for message_status, how_many in statuses.items():
            for _ in range(how_many):
                n += 1
                rows.append(
                    {
                        "direction": "out",
                        "phone": f"+4474005{broadcast.id:02d}{n:03d}",
                        "body": "News",
                        "kind": "announcement",
                        "status": message_status,
                        "broadcast_id": broadcast.id,
                        "batch": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
        if rows:
            db.session.execute(insert(Message), rows)
        db.session.commit()
        return broadcast.id


def test_an_empty_console_says_so(viewer):
    html = html_of(viewer)
    assert "0 open consultations" in html
    assert "0 broadcasts in flight" in html
    assert "0 texts for staff in the inbox" in html
    assert "0 texts failed in the last 24 hours" in html
    assert "No consultation is open." in html
    assert "No broadcast is sending, scheduled or paused." in html


def test_open_consultations_with_participation_so_far(world, viewer):
    world.consultation("P1", audience=["allies"])
    world.consultation("P2")
    world.consultation("P3", open_=False)  # a draft: not shown
    voter = world.member(groups=["allies"])
    commenter = world.member(groups=["allies", "community"])
    world.member(groups=["allies"])  # has not taken part
    world.member(groups=["community"])
    leaver = world.member(groups=["allies"])
    world.text(leaver, "STOP")  # not in the audience any more
    for phone in (voter, commenter):
        world.sent("P1", phone)
    world.text(voter, "P1 yes")
    world.text(commenter, "P1 we need more benches")
    world.text(voter, "P2 no")

    html = html_of(viewer)
    assert "2 open consultations" in html
    assert cells(row_of(html, "P1"))[2:] == ["2", "3", "67%"]  # took part, audience, share
    assert cells(row_of(html, "P2"))[2:] == ["1", "4", "25%"]
    assert "P3" not in html


def test_broadcasts_in_flight_with_their_counts(world, viewer, app):
    world.consultation("P4")
    sending = add_broadcast(
        app, "sending", {"queued": 3, "sending": 1, "sent": 2, "delivered": 4, "failed": 1}, "P4"
    )
    paused = add_broadcast(app, "paused", {"queued": 5})
    scheduled = add_broadcast(app, "scheduled", {})
    completed = add_broadcast(app, "completed", {"delivered": 2})  # done: not shown
    html = html_of(viewer)
    assert "3 broadcasts in flight" in html
    row = row_of(html, f"(#{sending})")
    assert "Announcement P4" in row
    # status, recipients, sent, waiting, failed, skipped
    assert cells(row) == ["sending", "11", "6", "4", "1", "0"]
    assert cells(row_of(html, f"(#{paused})"))[:5] == ["paused", "5", "0", "5", "0"]
    assert cells(row_of(html, f"(#{scheduled})"))[0].startswith("scheduled, ")
    assert f"(#{completed})" not in html


def test_inbox_counts_texts_for_staff(world, viewer):
    first = world.member()
    second = world.member()
    world.text(first, "Hello, is anyone there?")  # nothing open: a note to staff
    world.text(second, "Can I bring my sister next time?")
    world.consultation("P5")
    world.sent("P5", first)
    world.text(first, "P5 what about Sundays")  # a comment on P5, not for the inbox
    assert "2 texts for staff in the inbox" in html_of(viewer)


def test_failed_texts_of_the_last_day(app, viewer):
    now = utcnow()
    with app.app_context():
        base = {"direction": "out", "phone": "+447400111111", "body": "x", "kind": "summary"}
        db.session.execute(
            insert(Message),
            [
                {**base, "status": "failed", "created_at": now, "updated_at": now},
                {**base, "status": "undelivered", "created_at": now, "updated_at": now},
                {**base, "status": "delivered", "created_at": now, "updated_at": now},
                {
                    **base,
                    "status": "failed",
                    "created_at": now - timedelta(days=3),
                    "updated_at": now - timedelta(days=2),
                },
            ],
        )
        db.session.commit()
    html = html_of(viewer)
    assert '<li class="warning">2 texts failed in the last 24 hours</li>' in html


def test_figures_link_to_screens_that_exist(app, viewer):
    main = html_of(viewer).split('<main id="main">', 1)[1].split("</main>")[0]
    # The screens of other modules are linked once they exist: never a link to a page
    # that is not there.
    for link in re.findall(r'href="([^"]+)"', main):
        assert viewer.get(link).status_code == 200, link
    with app.test_request_context():
        assert screen_url("staff.members") == "/staff/members"
        assert screen_url("staff.no_such_screen") is None
        assert screen_url("staff.member") is None  # exists, but needs a member id


def statements(app, client) -> int:
    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def count_it(*args):
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", count_it)
    try:
        html_of(client)
    finally:
        event.remove(engine, "before_cursor_execute", count_it)
    return len(seen)


def test_the_same_few_queries_however_much_there_is(world, app, viewer):
    world.consultation("P1")
    world.consultation("P2", audience=["allies"])
    add_broadcast(app, "sending", {"queued": 2, "sent": 1})
    few = statements(app, viewer)
    for code in ("P3", "P4", "P5"):
        world.consultation(code, audience=["allies"])  # same audience: counted once
    for _ in range(3):
        add_broadcast(app, "paused", {"queued": 3, "failed": 1})
    for _ in range(5):
        world.text(world.member(), "YES")
    assert statements(app, viewer) == few


def test_the_dashboard_in_arabic_is_right_to_left(world, app, viewer):
    world.consultation("P1", title={"en": "Garden", "ar": "الحديقة"})
    add_broadcast(app, "sending", {"queued": 1})
    html = html_of(viewer, "/staff/?lang=ar")
    assert '<html lang="ar" dir="rtl">' in html
    assert "الحديقة" in html
    assert "<script" not in html
    with app.app_context():
        assert db.session.execute(select(Member)).first() is None
