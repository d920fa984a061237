"""On SQLite, a savepoint that is a request's first write stays inside the request's transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Member


def test_a_first_savepoint_rolls_back_with_the_request(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("the driver quirk is SQLite's")
        with db.session.begin_nested():
            db.session.add(Member(phone="+447400900001", language="en", status="active"))
        db.session.rollback()  # the request fails after its savepoint was released
        count = db.session.execute(select(func.count()).select_from(Member)).scalar_one()
        assert count == 0
