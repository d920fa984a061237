"""The audit log is hash-chained and `audit verify` notices tampering."""

from __future__ import annotations

from sqlalchemy import text

from app.extensions import db


def _history(api):
    api.post("/members", json={"phone": "07400 123456"})
    api.post("/members", json={"phone": "07400 123457"})
    api.post(
        "/consultations",
        json={"code": "A1", "kind": "open", "title": {"en": "T"}, "summary": {"en": "S"}},
    )
    api.post("/consultations/A1/open")


def test_verify_passes_on_real_history(api, runner):
    _history(api)
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "5 events" in result.output


def test_verify_fails_after_a_row_is_edited(app, api, runner):
    _history(api)
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET actor = 'someone-else' WHERE seq = 2"))
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "#2" in result.output


def test_verify_fails_after_a_middle_row_is_deleted(app, api, runner):
    _history(api)
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE seq = 3"))
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1 and "#3" in result.output


def test_verify_fails_after_the_last_row_is_deleted(app, api, runner):
    _history(api)
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE seq = 5"))
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1


def test_verify_fails_when_data_is_rewritten(app, api, runner):
    _history(api)
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text('UPDATE audit_event SET data = \'{"phone": "+1"}\' WHERE seq = 2'))
    assert runner.invoke(args=["audit", "verify"]).exit_code == 1
