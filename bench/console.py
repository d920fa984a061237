"""The staff console at size: every page's server time with 100,000 members,
1,000,000 messages and 50,000 votes (PostgreSQL). The CSV import at size is its own
benchmark (bench/member_import.py: through the web and a real worker).

`python -m bench.run --only console`. The data is written with set-based SQL
(generate_series), then `ANALYZE`; the pages are fetched in-process through the
Flask test client signed in as an admin, so the time is the server's own (rendering
included, no network). Every GET page of the staff blueprint is visited (the same list
the accessibility test walks, tests/console_world.console_pages), each REPEAT times
after one warm-up; the target is under 300 ms for each.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from . import common
from .common import log

MEMBERS = 100_000
MESSAGES = 1_000_000
VOTES = 50_000
COMMENTS = 10_000
REPEAT = 5
TARGET_MS = 300.0
PASSWORD = "bench console password"


def _seed(engine, sizes: dict[str, int]) -> None:
    """Members, groups, consultations, votes, comments and messages, set-based."""
    from sqlalchemy import text

    members, messages, votes, comments = (
        sizes["members"],
        sizes["messages"],
        sizes["votes"],
        sizes["comments"],
    )
    langs = "ARRAY['en','cy','es','fr','pt','pl','ro','ar','ur','bn']"
    statements = [
        f"""INSERT INTO member (phone, name, language, status, consent_at, consent_source,
                created_at, updated_at)
            SELECT '+4474' || lpad(g::text, 8, '0'), 'Member ' || g, ({langs})[1 + g % 10],
                CASE WHEN g % 50 = 0 THEN 'opted_out' ELSE 'active' END, now(), 'staff',
                now() - (g || ' minutes')::interval, now()
            FROM generate_series(1, {members}) AS g""",
        """INSERT INTO member_group (member_id, name) SELECT id, 'community' FROM member""",
        """INSERT INTO member_group (member_id, name)
            SELECT id, 'allies' FROM member WHERE id % 10 = 0""",
        f"""INSERT INTO vote (consultation_id, member_id, choice, channel, receipt,
                created_at, updated_at)
            SELECT c.id, m.id, (ARRAY['yes','no','abstain'])[1 + m.id % 3],
                (ARRAY['sms','sms','sms','web','assisted'])[1 + m.id % 5],
                upper(substr(md5(m.id::text), 1, 10)), now(), now()
            FROM member m CROSS JOIN (SELECT id FROM consultation WHERE code = 'P1') c
            WHERE m.id <= {votes}""",
        f"""INSERT INTO comment (consultation_id, member_id, body, channel, language,
                visible, created_at)
            SELECT c.id, m.id, 'A comment from member ' || m.id, 'sms', m.language, true, now()
            FROM member m CROSS JOIN (SELECT id FROM consultation WHERE code = 'P1') c
            WHERE m.id <= {comments}""",
        f"""INSERT INTO message (direction, member_id, phone, body, kind, status, segments,
                encoding, priority, error_count, created_at, updated_at, sent_at)
            SELECT CASE WHEN g % 3 = 0 THEN 'in' ELSE 'out' END,
                1 + g % {members}, '+4474' || lpad((1 + g % {members})::text, 8, '0'),
                'Text number ' || g, CASE WHEN g % 3 = 0 THEN 'vote' ELSE 'broadcast' END,
                CASE WHEN g % 3 = 0 THEN 'received'
                     WHEN g % 97 = 0 THEN 'failed' ELSE 'delivered' END,
                1, 'GSM-7', 'bulk', 0, now() - (g || ' seconds')::interval, now(), now()
            FROM generate_series(1, {messages}) AS g""",
        "ANALYZE",
    ]
    with engine.begin() as conn:
        for statement in statements:
            started = time.monotonic()
            conn.execute(text(statement))
            what = " ".join(statement.split()[:3])
            log(f"  {what}: {time.monotonic() - started:.1f} s")


def run(quick: bool = False) -> dict[str, Any]:
    """Seed, then time every console page."""
    import dataclasses

    from app import accounts, create_app
    from app.config import Settings
    from app.extensions import db
    from tests.console_world import console_pages

    divide = 100 if quick else 1
    sizes = {
        "members": MEMBERS // divide,
        "messages": MESSAGES // divide,
        "votes": VOTES // divide,
        "comments": COMMENTS // divide,
    }
    url = common.fresh_database("postgresql")
    env = common.base_env(url, 5000, SMS_BACKEND="console")
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"):
        env.pop(name, None)
    settings = Settings.from_env(env)
    app = create_app(dataclasses.replace(settings), TESTING=True, JOBS_EAGER=True)
    results: dict[str, Any] = {"sizes": sizes, "pages": {}, "target_ms": TARGET_MS}
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        values = _consultations(app)
        accounts.create("bench@example.org", "admin", PASSWORD, actor="bench")
        from app.api.auth import create_token

        create_token("bench", "viewer")
        db.session.commit()
        log(f"console: seeding {sizes}")
        _seed(db.engine, sizes)
        values["phone"] = "+447400000001"
    values.update(_ids(app))
    client = app.test_client()
    _sign_in(client)
    for path in console_pages(app, values):
        client.get(path)  # warm-up: templates compiled, caches filled
        times = []
        status = 0
        for _ in range(REPEAT):
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            status = response.status_code
        results["pages"][path] = {
            "status": status,
            "median_ms": round(statistics.median(times), 1),
            "max_ms": round(max(times), 1),
        }
        log(f"  {path}: median {statistics.median(times):.0f} ms, max {max(times):.0f} ms")
    slowest = max(results["pages"].items(), key=lambda item: item[1]["max_ms"])
    results["slowest"] = {"path": slowest[0], **slowest[1]}
    results["all_under_target"] = all(p["max_ms"] < TARGET_MS for p in results["pages"].values())
    with app.app_context():
        db.engine.dispose()
    common.drop_database("postgresql")
    return results


def _consultations(app) -> dict[str, str]:
    """An open yes/no consultation P1 (the votes go there) and a draft choice P2."""
    from app.domain import consultations
    from app.extensions import db

    for code, kind, extra in (
        ("P1", "yes_no", {}),
        ("P2", "choice", {"options": [{"label": {"en": "Parks"}}, {"label": {"en": "Schools"}}]}),
    ):
        payload = {
            "code": code,
            "kind": kind,
            "title": {"en": f"Consultation {code}", "ar": "استشارة"},
            "summary": {"en": f"Summary of {code}"},
            **extra,
        }
        made = consultations.create(payload, actor="bench", timezone="Europe/London")
        if code == "P1":
            consultations.open_(made, actor="bench")
    db.session.commit()
    return {"code": "P1"}


def _ids(app) -> dict[str, str]:
    """Ids for pages that take one (a broadcast, a member...), from the seeded data."""
    from sqlalchemy import text

    from app.extensions import db

    found: dict[str, str] = {}
    with app.app_context():
        broadcast = db.session.execute(
            text(
                "INSERT INTO broadcast (kind, bodies, audience, audience_filter, status, total,"
                " skipped_at_start, created_at) VALUES ('announcement', '{\"en\": \"hi\"}',"
                " '[]', 'all', 'completed', 0, 0, now()) RETURNING id"
            )
        ).scalar_one()
        db.session.commit()
        found["broadcast_id"] = str(broadcast)
        found["member_id"] = "1"
        from app.domain import member_import
        from app.tasks.member_import import check_import

        upload = member_import.create_import(
            b"phone,name,language,groups\n+447599999999,Preview,en,community\n",
            "preview.csv",
            actor="bench",
        )
        import_id = upload.id
        db.session.commit()
        check_import(import_id)  # the job, inline: the page is a preview
        found["import_id"] = str(import_id)
        found["account_id"] = "1"
        found["token_id"] = "1"
        found["vote_id"] = str(
            db.session.execute(text("SELECT min(id) FROM vote")).scalar_one() or 1
        )
        found["comment_id"] = str(
            db.session.execute(text("SELECT min(id) FROM comment")).scalar_one() or 1
        )
        found["vote_id"] = "1"  # member 1's vote on P1 (an assisted vote's receipt page)
    return found


def _sign_in(client) -> None:
    import re

    html = client.get("/staff/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]* value="([^"]+)"', html).group(1)
    answer = client.post(
        "/staff/login",
        data={"email": "bench@example.org", "password": PASSWORD, "csrf_token": token},
    )
    assert answer.status_code == 303, answer.status_code
