"""How long checking the audit chain takes, whole and incrementally, and the audit page's
query: `python -m bench.audit_chain [--events 100000] [--database URL] [--no-wait]`.

Builds EVENTS hash-chained events in a scratch database (a SQLite file under
BENCH_TMP by default; give a PostgreSQL URL of a database you own to measure there:
its schema is dropped and rebuilt), then times `app.audit.verify()` over all of them,
`verify` from the last checked event after 10 new ones, the background job's walk,
`chain_status` (the console's look: the events since the checkpoint), and a page of
the audit log's search (newest, filtered, free text). Prints one line each.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, insert, text

from . import common

BATCH = 10_000


def _timed(label: str, fn, repeat: int = 3) -> float:
    best = float("inf")
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    common.log(f"  {label}: {best * 1000:.1f} ms ({result!r:.80})")
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audit_chain", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--database", help="a DATABASE_URL to use (its schema is rebuilt)")
    parser.add_argument("--no-wait", action="store_true", help="do not wait for a quiet machine")
    args = parser.parse_args(argv)

    # The app is imported here so that `--help` stays instant.
    from flask_migrate import upgrade

    from app import audit, create_app
    from app.config import Settings
    from app.domain import audit_log
    from app.extensions import db
    from app.models import AuditEvent, AuditHead, utcnow

    common.WORK_DIR.mkdir(parents=True, exist_ok=True)
    url = args.database
    if url is None:
        path = common.WORK_DIR / "audit-chain.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(str(path) + suffix).unlink()
        url = f"sqlite:///{path}"
    settings = Settings.from_env(
        {"DATABASE_URL": url, "SECRET_KEY": "bench"}, instance_path=common.WORK_DIR
    )
    app = create_app(settings)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade()
        db.session.execute(delete(AuditEvent))
        db.session.execute(delete(AuditHead))
        common.log(f"building {args.events:,} events on {db.engine.dialect.name}")
        prev = audit.GENESIS
        start = utcnow() - timedelta(days=365)
        actions = ("member.created", "consultation.opened", "staff.signed_in", "inbox.replied")
        rows = []
        for seq in range(1, args.events + 1):
            event = AuditEvent(
                seq=seq,
                created_at=start + timedelta(seconds=seq * 300),
                actor=f"staff:person{seq % 7}@example.org",
                action=actions[seq % len(actions)],
                subject_type="member",
                subject_id=str(seq % 5000),
                data={"via": "console", "n": seq},
                prev_hash=prev,
            )
            event.hash = audit.digest(event)
            prev = event.hash
            rows.append({name: getattr(event, name) for name in audit.FIELDS})
            if len(rows) == BATCH:
                db.session.execute(insert(AuditEvent), rows)
                rows = []
        if rows:
            db.session.execute(insert(AuditEvent), rows)
        db.session.add(AuditHead(id=1, seq=args.events, hash=prev))
        db.session.commit()

        if not args.no_wait:
            common.wait_quiet()
        whole = audit.verify()
        assert whole.ok, whole.problem
        _timed(f"verify, whole chain of {args.events:,}", lambda: audit.verify().checked, 2)
        for _ in range(10):
            audit.record("bench", "bench.event", None, None, {})
        db.session.commit()
        _timed(
            "verify, the 10 events after the last checked",
            lambda: audit.verify(whole.seq, whole.hash).checked,
        )

        _timed("walk_whole (the background job)", lambda: audit_log.walk_whole().checked_now, 2)
        db.session.commit()
        for _ in range(10):
            audit.record("bench", "bench.event", None, None, {})
        db.session.commit()

        def look() -> bool:
            status = audit_log.chain_status()
            db.session.commit()
            return status.ok

        _timed("chain_status, 10 new events (the page's first look)", look, 1)
        _timed("chain_status, nothing new (the page's usual look)", look)
        newest = audit_log.Search()
        _timed(
            "a page of the log, newest first",
            lambda: len(audit_log.search_page(newest, timezone="Europe/London").events),
        )
        deep = audit_log.Search(actor="person3", action="inbox.")
        _timed(
            "a page, actor and action filters",
            lambda: len(audit_log.search_page(deep, timezone="Europe/London").events),
        )
        rare = audit_log.Search(text='"n": 17')
        _timed(
            "a page, free text matching few events (scans the log)",
            lambda: len(audit_log.search_page(rare, timezone="Europe/London").events),
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
