"""The console's audit log: search, keyset paging newest first, and the chain's status."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text, update

from app import audit
from app.domain import audit_log as audit_ops
from app.extensions import db
from app.models import AuditEvent
from tests.staff_helpers import post, staff_client


@pytest.fixture
def app(make_app):
    """ "Check the whole log now" walks it at once (no pause between walks)."""
    return make_app(config={"AUDIT_RECHECK_EVERY": 0})


@pytest.fixture
def viewer(app):
    return staff_client(app, "viewer")


def add_events(app, events: list[tuple[str, str, str | None, str | None, dict]]) -> None:
    with app.app_context():
        for actor, action, subject_type, subject_id, data in events:
            audit.record(actor, action, subject_type, subject_id, data)
        db.session.commit()


def seqs(html: str) -> list[int]:
    """The events' numbers on a page, in order."""
    return [int(n) for n in re.findall(r'<th scope="row" class="num">(\d+)</th>', html)]


def tamper(app, sql: str) -> None:
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text(sql))


def test_the_log_newest_first_with_its_status(app, viewer):
    add_events(app, [("staff:a@example.org", "member.created", "member", "7", {"via": "x"})])
    response = viewer.get("/staff/audit")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    numbers = seqs(html)
    assert numbers == sorted(numbers, reverse=True) and len(numbers) >= 3
    assert "<strong>Intact.</strong>" in html
    assert f"The log holds {numbers[0]} events" in html
    assert "member.created" in html and "member 7" in html
    assert "{&#34;via&#34;: &#34;x&#34;}" in html
    assert "<script" not in html


def test_anonymous_is_sent_to_sign_in(app):
    response = app.test_client().get("/staff/audit")
    assert response.status_code == 303 and "/staff/login" in response.headers["Location"]


def test_search_by_actor_action_subject_and_details(app, viewer):
    add_events(
        app,
        [
            ("staff:alice@example.org", "consultation.opened", "consultation", "P12", {}),
            ("staff:bob@example.org", "consultation.closed", "consultation", "P12", {}),
            ("api:crm", "member.created", "member", "41", {"groups": ["allies"]}),
            ("staff:alice@example.org", "member.created", "member", "42", {"name": "Zoë"}),
            ("cli", "api_token.created", "api_token", "3", {"name": "100%_sure"}),
        ],
    )

    def found(query: str) -> list[str]:
        response = viewer.get("/staff/audit?" + query)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        return re.findall(r'<td dir="ltr">([a-z_]+\.[a-z_]+)</td>', html)

    assert found("actor=ALICE") == ["member.created", "consultation.opened"]
    assert found("action=consultation.") == ["consultation.closed", "consultation.opened"]
    assert found("action=member.created&actor=api") == ["member.created"]
    assert found("subject_type=member&subject_id=42") == ["member.created"]
    assert found("subject_type=consultation&actor=bob") == ["consultation.closed"]
    assert found("text=allies") == ["member.created"]
    assert found("text=zoë") == ["member.created"]  # stored as "Zo\u00eb" in the JSON
    assert found("text=100%25_") == ["api_token.created"]  # % and _ are not wildcards
    assert found("text=1000_") == []
    assert found("actor=nobody") == []


def test_search_by_date_range(app, viewer):
    add_events(app, [("staff:x@example.org", "old.thing", None, None, {})])
    add_events(app, [("staff:x@example.org", "new.thing", None, None, {})])
    with app.app_context():
        db.session.execute(
            update(AuditEvent)
            .where(AuditEvent.action == "old.thing")
            .values(created_at=datetime(2024, 3, 10, 12, tzinfo=UTC))
        )
        db.session.commit()
    html = viewer.get("/staff/audit?since=2024-03-10&until=2024-03-10").get_data(as_text=True)
    assert "old.thing" in html and "new.thing" not in html
    html = viewer.get("/staff/audit?since=2024-03-11").get_data(as_text=True)
    assert "old.thing" not in html and "new.thing" in html
    html = viewer.get("/staff/audit?until=2024-03-09").get_data(as_text=True)
    assert "old.thing" not in html and "new.thing" not in html
    assert "No events match." in html


def test_bad_search_gets_the_form_again_with_messages(viewer):
    response = viewer.get("/staff/audit?since=2024-13-01")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert '<p id="since-error" class="field-error">' in html
    response = viewer.get("/staff/audit?since=2024-03-10&until=2024-03-01")
    assert response.status_code == 422
    assert "The end date is before the start date." in response.get_data(as_text=True)


def test_paging_by_keyset_newest_first(app, viewer):
    add_events(app, [("cli", f"bulk.n{n}", None, None, {}) for n in range(120)])
    with app.app_context():
        head = db.session.execute(select(AuditEvent.seq).order_by(AuditEvent.seq.desc())).scalar()
    first = viewer.get("/staff/audit?action=bulk.").get_data(as_text=True)
    assert seqs(first) == list(range(head, head - 50, -1))
    assert "Newer events" not in first
    older = re.search(r'href="(/staff/audit\?before=\d+[^"]*)"', first).group(1)
    second = viewer.get(older.replace("&amp;", "&")).get_data(as_text=True)
    assert seqs(second) == list(range(head - 50, head - 100, -1))
    third_link = re.search(r'href="(/staff/audit\?before=\d+[^"]*)"', second).group(1)
    third = viewer.get(third_link.replace("&amp;", "&")).get_data(as_text=True)
    assert seqs(third) == list(range(head - 100, head - 120, -1))  # the filter holds
    assert "Older events" not in third
    newer = re.search(r'href="(/staff/audit\?after=\d+[^"]*)"', third).group(1)
    assert seqs(viewer.get(newer.replace("&amp;", "&")).get_data(as_text=True)) == seqs(second)


def test_broken_after_a_row_is_edited(app, viewer):
    add_events(app, [("cli", "a.b", None, None, {}), ("cli", "c.d", None, None, {})])
    tamper(app, "UPDATE audit_event SET actor = 'someone-else' WHERE seq = 2")
    response = viewer.get("/staff/audit")
    html = response.get_data(as_text=True)
    assert "<strong>BROKEN.</strong>" in html and "Intact." not in html
    assert "event #2 was changed after it was written" in html


def test_the_check_is_incremental_and_a_whole_walk_finds_an_old_edit(app, viewer):
    add_events(app, [("cli", f"e.n{n}", None, None, {}) for n in range(5)])
    assert "Intact." in viewer.get("/staff/audit").get_data(as_text=True)
    add_events(app, [("cli", "later.one", None, None, {}), ("cli", "later.two", None, None, {})])
    html = viewer.get("/staff/audit").get_data(as_text=True)
    assert "Intact." in html
    assert "(2 just now)" in html  # only what was written since the last look
    assert "(0 just now)" in viewer.get("/staff/audit").get_data(as_text=True)
    # An old event edited after it was checked shows at the next walk of the whole log.
    tamper(app, "UPDATE audit_event SET data = '{\"x\": 1}' WHERE seq = 3")
    assert "Intact." in viewer.get("/staff/audit").get_data(as_text=True)
    response = post(viewer, "/staff/audit/verify")
    assert response.status_code == 303 and response.headers["Location"] == "/staff/audit"
    html = viewer.get("/staff/audit").get_data(as_text=True)
    assert "A check of the whole log has started" in html  # jobs run inline in tests
    assert "<strong>BROKEN.</strong>" in html and "event #3 was changed" in html
    # ...and it stays broken on later looks, in every process (the row is shared).
    assert "BROKEN." in viewer.get("/staff/audit").get_data(as_text=True)
    with app.app_context():
        assert not audit_ops.chain_status().ok


def test_an_edit_of_the_newest_checked_event_shows_at_once(app, viewer):
    add_events(app, [("cli", "a.b", None, None, {})])
    html = viewer.get("/staff/audit").get_data(as_text=True)
    head = seqs(html)[0]
    tamper(app, f"UPDATE audit_event SET actor = 'x' WHERE seq = {head}")
    assert "BROKEN." in viewer.get("/staff/audit").get_data(as_text=True)


def test_an_edit_of_a_new_event_shows_at_once(app, viewer):
    assert "Intact." in viewer.get("/staff/audit").get_data(as_text=True)
    add_events(app, [("cli", "a.b", None, None, {}), ("cli", "c.d", None, None, {})])
    with app.app_context():
        head = db.session.execute(select(AuditEvent.seq).order_by(AuditEvent.seq.desc())).scalar()
    tamper(app, f"UPDATE audit_event SET action = 'x.y' WHERE seq = {head - 1}")
    html = viewer.get("/staff/audit").get_data(as_text=True)
    assert "BROKEN." in html and f"event #{head - 1} was changed" in html


def test_a_deleted_tail_shows(app, viewer):
    add_events(app, [("cli", "a.b", None, None, {}), ("cli", "c.d", None, None, {})])
    assert "Intact." in viewer.get("/staff/audit").get_data(as_text=True)
    with app.app_context():
        head = db.session.execute(select(AuditEvent.seq).order_by(AuditEvent.seq.desc())).scalar()
    tamper(app, f"DELETE FROM audit_event WHERE seq = {head}")
    assert "BROKEN." in viewer.get("/staff/audit").get_data(as_text=True)


def test_the_whole_log_is_walked_again_when_the_last_walk_is_old(app):
    add_events(app, [("cli", f"e.n{n}", None, None, {}) for n in range(3)])
    with app.app_context():
        never = audit_ops.chain_status()
        assert never.walk_due and never.whole_checked_at is None
        first = audit_ops.walk_whole()
        db.session.commit()
        assert first.ok and first.checked_now == first.events
        again = audit_ops.chain_status()
        assert again.checked_now == 0 and not again.walk_due
        assert again.whole_checked_at == first.whole_checked_at
        tamper(app, "UPDATE audit_event SET actor = 'x' WHERE seq = 1")
        assert audit_ops.chain_status().ok  # not walked since: said with the walk's time
        stale = audit_ops.chain_status(full_every=0)
        assert stale.walk_due
        # One of several asking at once queues the walk; asking again meanwhile does not.
        assert audit_ops.ask_for_walk(stale)
        db.session.commit()
        asked = audit_ops.chain_status(full_every=0)
        assert asked.walk_running and not audit_ops.ask_for_walk(asked)
        assert not audit_ops.ask_for_walk(stale)  # the row moved on since `stale` was read
        db.session.rollback()
        walked = audit_ops.walk_whole()
        db.session.commit()
        assert not walked.ok and "#1" in (walked.problem or "")
        assert not audit_ops.chain_status().walk_running


def test_a_page_never_walks_the_whole_log_itself(app, viewer, monkeypatch):
    """With the walk queued (not run inline), the page answers from the checkpoint."""
    add_events(app, [("cli", "a.b", None, None, {})])
    queued = []
    monkeypatch.setattr(
        "app.tasks.audit.jobs",
        lambda: type("J", (), {"enqueue": lambda *a, **k: queued.append(a) or True})(),
    )
    html = viewer.get("/staff/audit").get_data(as_text=True)
    assert "Not checked yet: a check of the whole log has started." in html
    assert "A check of the whole log is under way." in html
    assert len(queued) == 1
    viewer.get("/staff/audit")
    assert len(queued) == 1  # asked for once


def test_the_audit_log_in_arabic_is_right_to_left(viewer):
    html = viewer.get("/staff/audit?lang=ar").get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in html
