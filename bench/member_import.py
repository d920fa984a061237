"""The console's CSV member import, end to end: a 50,000-row file through the web and
a real worker (PostgreSQL + Redis).

`python -m bench.run --only member_import`. The stack: gunicorn (2 sync workers) and
one `flask --app wsgi worker` on a fresh database holding 100,000 members, the console
SMS backend. A staff organiser signs in over HTTP and:

1. uploads files of 100,000 rows (just under 10 MB, the limit) with no worker running:
   the web request alone is timed (it checks the file as a whole and keeps it); those
   imports are then set aside (discarded, their jobs flushed) before the worker starts;
2. uploads the 50,000-row file (all new, valid numbers) and times the request;
3. waits for the check job to make the preview (the time from the upload's answer);
4. confirms, and waits until the job has added every member (`member_import.status`
   is `done`; a member is added when its row is in `member`);
5. counts the welcome texts the job queued. Their sending (10 a second by default) is
   not timed: the worker is stopped once the import is done.

Targets: the whole import, upload to done, under 60 s; no upload request over ~1 s.
`--quick`: a tenth of the sizes.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import time
from typing import Any

import requests

from . import common, data
from .common import log

ROWS = 50_000
BIG_ROWS = 100_000
BIG_REPEAT = 3
EXISTING = 100_000
TARGET_S = 60.0
REQUEST_TARGET_S = 1.0
PASSWORD = "bench import password"
EMAIL = "importer@example.org"
POLL = 0.05  # seconds between looks at the database
WAIT_S = 600.0  # give up on a step after this long


def csv_file(rows: int, name_length: int = 0) -> bytes:
    """`rows` new members (+44 75.. numbers, never a bench member's +44 7400..), in
    English in the group community; names padded to `name_length` characters."""
    lines = ["phone,name,language,groups"]
    for n in range(1, rows + 1):
        name = f"Imported {n}"
        lines.append(f"+4475{n:08d},{name.ljust(name_length, '.')},en,community")
    return ("\n".join(lines) + "\n").encode()


def big_file(rows: int) -> bytes:
    """`rows` rows with names padded so that the file is just under the 10 MB upload
    limit (names of at most 200 characters: a small `rows` gives a smaller file)."""
    limit = 10 * 1024 * 1024 - 4096
    row = len("+447500000001,,en,community\n")
    content = csv_file(rows, name_length=min(200, limit // rows - row))
    assert len(content) <= limit, len(content)
    return content


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token"[^>]* value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


class Console:
    """An organiser's browser, over HTTP, against the gunicorn under test."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()
        page = self.session.get(f"{base}/staff/login", timeout=30)
        answer = self.session.post(
            f"{base}/staff/login",
            data={"email": EMAIL, "password": PASSWORD, "csrf_token": _csrf(page.text)},
            allow_redirects=False,
            timeout=30,
        )
        assert answer.status_code == 303, f"sign-in answered {answer.status_code}"

    def upload(self, content: bytes, name: str) -> tuple[int, float]:
        """POST the file as the import form does: (import id, seconds the request took)."""
        token = _csrf(self.session.get(f"{self.base}/staff/members/import", timeout=30).text)
        began = time.perf_counter()
        answer = self.session.post(
            f"{self.base}/staff/members/import",
            data={"csrf_token": token},
            files={"file": (name, content, "text/csv")},
            allow_redirects=False,
            timeout=120,
        )
        took = time.perf_counter() - began
        assert answer.status_code == 303, f"upload answered {answer.status_code}"
        return int(answer.headers["Location"].rsplit("/", 1)[1]), took

    def page(self, import_id: int) -> str:
        return self.session.get(f"{self.base}/staff/members/imports/{import_id}", timeout=30).text

    def confirm(self, import_id: int) -> float:
        """Press "Import N members": seconds the request took."""
        token = _csrf(self.page(import_id))
        began = time.perf_counter()
        answer = self.session.post(
            f"{self.base}/staff/members/imports/{import_id}/confirm",
            data={"csrf_token": token},
            allow_redirects=False,
            timeout=60,
        )
        took = time.perf_counter() - began
        assert answer.status_code == 303, f"confirm answered {answer.status_code}"
        return took

    def close(self) -> None:
        self.session.close()


class Database:
    """Looks at the benchmark database (one connection, autocommit)."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)

    def one(self, sql: str, params: tuple = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row and len(row) == 1 else row

    def wait_status(self, import_id: int, statuses: tuple[str, ...]) -> float:
        """Wait until the import's status is one of `statuses`; when it was seen (monotonic)."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            status = self.one("SELECT status FROM member_import WHERE id = %s", (import_id,))
            if status in statuses:
                return time.perf_counter()
            time.sleep(POLL)
        raise TimeoutError(f"import {import_id} never became {statuses}")

    def close(self) -> None:
        self.conn.close()


def _wait_worker(timeout: float = 60.0) -> None:
    """Wait until an RQ worker has registered in our Redis db."""
    import redis

    connection = redis.Redis.from_url(common.REDIS_URL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if connection.scard("rq:workers"):
            return
        time.sleep(0.2)
    raise TimeoutError("the worker did not start")


def run(quick: bool = False) -> dict[str, Any]:
    """Upload, check, confirm, add: every step timed."""
    divide = 10 if quick else 1
    rows, big_rows, existing = ROWS // divide, BIG_ROWS // divide, EXISTING // divide
    common.fresh_redis()
    url = common.fresh_database("postgresql")
    port = common.free_port()
    env = common.base_env(url, port, REDIS_URL=common.REDIS_URL, SMS_BACKEND="console")
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM"):
        env.pop(name, None)
    common.run_flask(env, "db", "upgrade")
    subprocess.run(
        common.flask_cmd("staff", "create", EMAIL, "--role", "organiser"),
        cwd=common.ROOT,
        env=env,
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    took = data.insert_members(url, existing)
    log(f"member_import: {existing:,} members already there ({took:.1f} s)")
    db = Database(url)
    db.conn.execute("ANALYZE")
    results: dict[str, Any] = {
        "rows": rows,
        "existing_members": existing,
        "target_s": TARGET_S,
        "request_target_s": REQUEST_TARGET_S,
    }
    with common.processes() as procs:
        web = procs.start("web-import", common.gunicorn_argv("wsgi:app", port), env)
        common.wait_port(port, proc=web.popen)
        console = Console(f"http://127.0.0.1:{port}")
        for _ in range(4):  # both gunicorn workers: templates compiled, connections open
            console.page(0)
            console.session.get(f"http://127.0.0.1:{port}/staff/members/import", timeout=30)

        results["busy_cores_before"] = common.wait_quiet()

        # 1. The largest file the form takes, with no worker: the request alone.
        content = big_file(big_rows)
        times, set_aside = [], []
        for n in range(BIG_REPEAT):
            import_id, request_s = console.upload(content, f"big-{n}.csv")
            times.append(request_s)
            set_aside.append(import_id)
            log(f"  upload of {big_rows:,} rows, {len(content) / 2**20:.1f} MiB: {request_s:.2f} s")
        total_rows = db.one("SELECT total_rows FROM member_import WHERE id = %s", (set_aside[0],))
        assert total_rows == big_rows, total_rows
        db.conn.execute(
            "UPDATE member_import SET status = 'discarded', data = NULL WHERE id = ANY(%s)",
            (set_aside,),
        )
        common.fresh_redis()  # their check jobs, never to run
        results["big_file"] = {
            "rows": big_rows,
            "bytes": len(content),
            "request_s": [round(t, 3) for t in times],
            "median_s": round(statistics.median(times), 3),
            "max_s": round(max(times), 3),
        }

        # 2-5. The 50,000-row file, through the worker.
        procs.start("worker-import", common.flask_cmd("worker"), env)
        _wait_worker()
        content = csv_file(rows)
        began = time.perf_counter()
        import_id, upload_s = console.upload(content, "members.csv")
        answered = time.perf_counter()
        checking_page = console.page(import_id)
        checked_at = db.wait_status(import_id, ("preview", "discarded"))
        check_s = checked_at - answered
        to_add = db.one("SELECT to_add FROM member_import WHERE id = %s", (import_id,))
        log(f"  upload {upload_s:.2f} s; checked {check_s:.1f} s later: {to_add:,} to add")
        preview = console.page(import_id)
        confirm_began = time.perf_counter()
        confirm_s = console.confirm(import_id)
        done_at = db.wait_status(import_id, ("done",))
        add_s = done_at - confirm_began
        total_s = done_at - began
        added = db.one("SELECT added FROM member_import WHERE id = %s", (import_id,))
        members = db.one("SELECT count(*) FROM member WHERE phone LIKE '+4475%%'")
        welcomes = db.one("SELECT count(*) FROM message WHERE kind = 'added'")
        welcomes_sent = db.one(
            "SELECT count(*) FROM message WHERE kind = 'added' AND status <> 'queued'"
        )
        log(
            f"  confirm {confirm_s:.2f} s; all {members:,} added {add_s:.1f} s after it; "
            f"{welcomes:,} welcomes queued ({welcomes_sent:,} sent so far); "
            f"upload to done {total_s:.1f} s"
        )
        console.close()
    db.close()
    common.drop_database("postgresql")
    common.fresh_redis()
    results.update(
        {
            "upload_request_s": round(upload_s, 3),
            "checking_page_shown": "Checking the file" in checking_page,
            "check_s": round(check_s, 2),
            "preview_shown": f"{rows:,}".replace(",", "") in preview.replace(",", ""),
            "confirm_request_s": round(confirm_s, 3),
            "add_s": round(add_s, 2),
            "total_s": round(total_s, 2),
            "to_add": to_add,
            "added": added,
            "members_added": members,
            "welcomes_queued": welcomes,
            "welcomes_sent_when_done": welcomes_sent,
        }
    )
    results["under_target"] = total_s < TARGET_S and members == rows
    results["requests_under_target"] = (
        max(upload_s, confirm_s, results["big_file"]["max_s"]) < REQUEST_TARGET_S
    )
    return results
