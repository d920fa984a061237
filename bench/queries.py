"""Diagnostic: SQL statements (round trips) per inbound text, by kind of text.

`python -m bench.queries [--db postgresql|sqlite]` sets up the inbound benchmark's
database (members, Q1 texted, Q1 + Q2 open), posts one signed text of each kind
through the app in-process (Flask test client, so no HTTP), and counts the statements
sent for each. On PostgreSQL they are counted at the driver (psycopg), so the fast
path's own statements and psycopg's BEGIN/COMMIT count too: each is a round trip. On
SQLite they are counted through SQLAlchemy's events. Not a speed number: it explains one.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter

from . import common, data, inbound

MEMBERS = 50
SAMPLES = [
    ("first vote, bare", "YES"),
    ("vote change, bare", "NO"),
    ("vote, other consultation (code)", "Q2 3"),
    ("vote + comment", "q1 yes because the library is closer"),
    ("comment", "The room was too cold at the last meeting"),
    ("HELP", "HELP"),
]


def main(argv: list[str] | None = None) -> int:
    """Print statements and in-process time per text kind."""
    parser = argparse.ArgumentParser(prog="python -m bench.queries", description=__doc__)
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args(argv)
    kind = args.db if args.db == "sqlite" or common.pg_available() else "sqlite"
    port = 5000
    url, env = inbound.setup(kind, MEMBERS, port)
    os.environ.update(env)
    from app import create_app
    from tests.fake_twilio import sign

    app = create_app()
    client = app.test_client()
    with app.app_context():
        api_token = _token(app)
    for payload in (data.yes_no(inbound.YES_NO), data.choice(inbound.CHOICE)):
        headers = {"Authorization": f"Bearer {api_token}"}
        assert (
            client.post("/api/v1/consultations", json=payload, headers=headers).status_code == 201
        )
        code = payload["code"]
        assert client.post(f"/api/v1/consultations/{code}/open", headers=headers).status_code == 200
    q1 = inbound.common_rows(url, "select id from consultation where code = 'Q1'")[0][0]
    inbound.record_texted(url, q1, MEMBERS, "Q1 summary")

    statements: list[str] = []
    if kind == "postgresql":
        _count_psycopg(statements)
    else:
        _count_sqlalchemy(app, statements)

    print(
        f"database: {kind}; statements counted for member 0; wall and CPU time = mean"
        f" over {MEMBERS} members, one at a time\n"
    )
    print("| text | statements | wall ms | CPU ms | statements (member 0) |")
    print("|---|---:|---:|---:|---|")
    signed = f"http://127.0.0.1:{port}{inbound.PATH}"
    for label, body in SAMPLES:
        times, cpu = [], []
        for member in range(MEMBERS):
            text = inbound.Text(member=member, body=body, kind="", code=None, choice=None)
            params = inbound.twilio_params(text, common.TWILIO_FROM)
            headers = {"X-Twilio-Signature": sign(signed, params, common.AUTH_TOKEN)}
            if member == 0:
                statements.clear()
            began, began_cpu = time.perf_counter(), time.process_time()
            response = client.post(inbound.PATH, data=params, headers=headers)
            times.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
            assert response.status_code == 200, response.data
            if member == 0:
                seen = list(statements)
        counts = Counter(seen)
        detail = ", ".join(f"{s} x{n}" if n > 1 else s for s, n in counts.items())
        mean = sum(times[1:]) / (len(times) - 1)
        mean_cpu = sum(cpu[1:]) / (len(cpu) - 1)
        print(f"| {label} (`{body}`) | {len(seen)} | {mean:.2f} | {mean_cpu:.2f} | {detail} |")
    common.drop_database(kind)
    return 0


def _count_sqlalchemy(app, statements: list[str]) -> None:
    from sqlalchemy import event

    from app.extensions import db

    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _count(conn, cursor, statement, params, context, executemany):
        statements.append(_label(statement))

    @event.listens_for(engine, "begin")
    def _begin(conn):
        statements.append("BEGIN")

    @event.listens_for(engine, "commit")
    def _commit(conn):
        statements.append("COMMIT")


def _count_psycopg(statements: list[str]) -> None:
    """Count every statement psycopg sends: cursor executes and its own BEGIN/COMMIT."""
    import psycopg

    execute = psycopg.Cursor.execute
    command = psycopg.Connection._exec_command

    def counted_execute(self, query, *args, **kwargs):
        statements.append(_label(query if isinstance(query, str) else str(query)))
        return execute(self, query, *args, **kwargs)

    def counted_command(self, cmd, *args, **kwargs):
        text = cmd.decode() if isinstance(cmd, bytes) else str(cmd)
        statements.append(_label(text))
        return command(self, cmd, *args, **kwargs)

    psycopg.Cursor.execute = counted_execute
    psycopg.Connection._exec_command = counted_command


def _label(statement: str) -> str:
    words = statement.split()
    if not words:
        return "?"
    if words[0].upper() == "WITH":
        return "WITH ... (one write)"
    return (words[0].upper() + " " + _table(statement)).strip()


def _table(statement: str) -> str:
    words = statement.replace("\n", " ").split()
    upper = [w.upper() for w in words]
    for marker in ("FROM", "INTO", "UPDATE"):
        if marker in upper:
            i = upper.index(marker)
            if i + 1 < len(words):
                return words[i + 1].strip('"(')
    return ""


def _token(app) -> str:
    from app.api.auth import create_token
    from app.extensions import db

    _, token = create_token("bench-queries")
    db.session.commit()
    return token


if __name__ == "__main__":
    sys.exit(main())
