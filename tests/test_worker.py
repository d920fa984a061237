"""Workers: RQ queues and a burst SimpleWorker in this process, Redis flushed mid-broadcast,
and real `flask --app wsgi worker` processes, one of them SIGKILLed mid-batch."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from app.domain.outbox import queue as outbox_queue
from app.extensions import db
from app.models import Broadcast, Message, utcnow
from app.tasks import broadcasts as broadcast_tasks
from app.tasks import outbox as outbox_tasks
from app.tasks import sender as sending
from app.worker import Sweeper, make_worker, run, sweep
from tests.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    DATABASE_URL,
    PUBLIC_BASE_URL,
    REDIS_URL,
    TWILIO_FROM,
)
from tests.outbox_helpers import (
    Person,
    Staff,
    add_members,
    finish,
    many,
    messages,
    per_phone,
    phone,
    start_fake,
    twilio_env,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def rq_app(make_app, fake, rq_setup):
    """An app whose jobs go to RQ (nothing runs until a worker does), sending with threads."""
    env, config = rq_setup
    made = make_app(config={**config, "OUTBOX_SEND_THREADS": 4}, **twilio_env(fake), **env)
    yield made
    finish(made)


def work(app) -> None:
    """Run a burst worker until the queues are empty, then let the sends in flight finish."""
    make_worker(app).work(burst=True)
    assert sending.outbox(app).wait_idle(30)


def broadcast(app, count: int) -> int:
    """`count` members, P12 open, broadcast requested; returns the broadcast id."""
    add_members(app, many(count))
    staff = Staff(app)
    staff.consultation()
    r = staff.post("/consultations/P12/broadcast")
    assert r.status_code == 202
    return r.json["broadcast_id"]


def status_of(app, broadcast_id: int) -> str:
    with app.app_context():
        return db.session.get(Broadcast, broadcast_id).status


def test_a_worker_sends_a_queued_broadcast(rq_app, fake):
    broadcast_id = broadcast(rq_app, 250)
    assert fake.messages == []  # the API only queued it
    work(rq_app)
    assert len(per_phone(fake)) == 250
    assert set(per_phone(fake).values()) == {1}
    assert {m.status for m in messages(rq_app)} == {"sent"}
    with rq_app.app_context():
        broadcast_tasks.pump(broadcast_id)  # nothing left to send: queues the completion
    work(rq_app)  # completion is a job (the sender may also have queued it already)
    assert status_of(rq_app, broadcast_id) == "completed"


def test_replies_go_before_queued_bulk(rq_app, fake):
    broadcast(rq_app, 150)
    add_members(rq_app, [Person(999)])
    with rq_app.app_context():
        outbox_tasks.send_text(phone=phone(999), body="Your vote is counted", kind="reply")
    work(rq_app)
    bodies = [m["body"] for m in fake.messages]
    assert len(bodies) == 152  # 151 summaries (the replying member is in the audience too)
    # The high queue is taken first: the reply is among the first texts out, not after
    # the 150 queued before it (its claim may wait a moment for the expansion's commit).
    assert bodies.index("Your vote is counted") < 10


def test_redis_flushed_mid_broadcast_loses_and_repeats_nothing(rq_app, fake):
    broadcast_id = broadcast(rq_app, 350)
    make_worker(rq_app).work(burst=True, max_jobs=2)  # the expansion, then batch 0
    assert sending.outbox(rq_app).wait_idle(30)
    sent_before = len(fake.messages)
    assert 0 < sent_before < 350
    rq_app.extensions["chorus_jobs"].redis.flushdb()  # every queued job and lease is gone
    work(rq_app)
    assert len(fake.messages) == sent_before  # nothing left in Redis to run
    with rq_app.app_context():
        assert sweep()["batches"] > 0  # the sweeper finds the rest in the database
    work(rq_app)
    counts = per_phone(fake)
    assert sorted(counts) == sorted(phone(n) for n in range(350))
    assert set(counts.values()) == {1}
    with rq_app.app_context():
        sweep()
    assert status_of(rq_app, broadcast_id) == "completed"


def test_pause_holds_back_a_worker_and_resume_releases_it(rq_app, fake):
    broadcast_id = broadcast(rq_app, 120)
    staff = Staff(rq_app)
    assert staff.post(f"/broadcasts/{broadcast_id}/pause").status_code == 200
    work(rq_app)  # expands, sends nothing
    assert fake.messages == []
    with rq_app.app_context():
        assert db.session.execute(select(func.count()).select_from(Message)).scalar() == 120
        sweep()
    work(rq_app)
    assert fake.messages == []
    assert staff.post(f"/broadcasts/{broadcast_id}/resume").json["status"] == "sending"
    work(rq_app)
    assert len(per_phone(fake)) == 120


def test_worker_command_without_redis_runs_jobs_in_process(make_app, fake):
    app = make_app(config={"JOBS_EAGER": False, "OUTBOX_SEND_THREADS": 4}, **twilio_env(fake))
    try:
        assert not app.extensions["chorus_jobs"].uses_redis
        add_members(app, many(30))
        staff = Staff(app)
        staff.consultation()
        at = (utcnow() + timedelta(hours=1)).isoformat()
        broadcast_id = staff.post("/consultations/P12/broadcast", json={"at": at}).json[
            "broadcast_id"
        ]
        with app.app_context():
            db.session.execute(update(Broadcast).values(scheduled_at=utcnow()))
            db.session.commit()
        run(app, burst=True)  # one sweep: starts it, expands, sends, waits
        assert len(per_phone(fake)) == 30
        with app.app_context():
            sweep()
        assert status_of(app, broadcast_id) == "completed"
    finally:
        finish(app)


def test_claims_of_a_process_that_stopped_beating_come_back_before_the_lease(rq_app, fake):
    add_members(rq_app, [Person(1), Person(2)])
    coordinator = rq_app.extensions["chorus_jobs"]
    with rq_app.app_context():
        ghost = outbox_queue.queue_message(phone=phone(1), body="from a dead worker", kind="t")
        live = outbox_queue.queue_message(phone=phone(2), body="from a live worker", kind="t")
        ghost.status, ghost.claimed_at, ghost.claimed_by = "sending", utcnow(), "ghost"
        live.status, live.claimed_at, live.claimed_by = "sending", utcnow(), "alive"
        db.session.commit()
        coordinator.beat("alive", 60)
        assert outbox_tasks.recover_stale() == (0, 0)  # first look: "ghost" is only a suspect
        coordinator.redis.set("chorus:suspect:ghost", f"{time.time() - 10:.3f}")
        assert outbox_tasks.recover_stale() == (0, 1)  # silent for long enough: taken back
        sweep()
    work(rq_app)
    assert fake.bodies_to(phone(1)) == ["from a dead worker"]
    assert fake.bodies_to(phone(2)) == []  # a beating worker keeps its claim


# ---------------------------------------------------------------------- real processes


def worker_env(fake, rate: int) -> dict[str, str]:
    """The environment of a `flask --app wsgi worker` process for this test run."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "CHORUS_"))}
    env.update(
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL or "",
        SECRET_KEY="test-secret",
        PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        SMS_BACKEND="twilio",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_FROM=TWILIO_FROM,
        TWILIO_API_BASE_URL=fake.base_url,
        SMS_MAX_PER_SECOND=str(rate),
        QUIET_HOURS="",
        # The claims' lease is the production one: the killed worker's claims come
        # back because its heartbeat stops. Short batch leases and sweeps.
        CHORUS_OUTBOX_LEASE_SECONDS="60",
        CHORUS_OUTBOX_HTTP_TIMEOUT="5",
        CHORUS_OUTBOX_BATCH_LEASE="2",
        CHORUS_OUTBOX_HEARTBEAT_TTL="2",
        CHORUS_SWEEP_INTERVAL="0.5",
    )
    return env


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    """A real worker process (in its own process group, with its RQ scheduler child)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", "worker"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Signal a worker's process group and reap it."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@pytest.mark.skipif(REDIS_URL is None, reason="needs a real Redis shared with subprocesses")
def test_sigkilled_worker_loses_nothing(make_app, tmp_path):
    fake = start_fake(latency=0.05)
    app = make_app(config={"JOBS_EAGER": False}, REDIS_URL=REDIS_URL, **twilio_env(fake))
    from redis import Redis

    Redis.from_url(REDIS_URL).flushdb()
    workers: list[subprocess.Popen] = []
    env = worker_env(fake, rate=200)
    log = tmp_path / "workers.log"
    try:
        total = 800
        broadcast_id = broadcast(app, total)
        workers.append(start_worker(env, log))
        fake.wait_for_messages(total // 3, timeout=30)
        os.killpg(workers[0].pid, signal.SIGKILL)  # mid-batch, sends in flight
        workers[0].wait(timeout=5)
        with app.app_context():
            in_flight = db.session.execute(
                select(func.count()).where(Message.status == "sending")
            ).scalar()
        assert len(fake.messages) < total, "killed before the end"
        workers.append(start_worker(env, log))
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            with app.app_context():
                pending = db.session.execute(
                    select(func.count()).where(Message.status.in_(("queued", "sending")))
                ).scalar()
                state = db.session.get(Broadcast, broadcast_id).status
            if pending == 0 and state == "completed":
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"not finished: {pending} pending\n{log.read_text()[-3000:]}")
        counts = per_phone(fake)
        assert sorted(counts) == sorted(phone(n) for n in range(total)), "zero lost"
        duplicates = sum(n - 1 for n in counts.values())
        print(f"killed with {in_flight} in flight; {duplicates} sent twice")
        assert duplicates <= in_flight
        assert {m.status for m in messages(app)} == {"sent"}
    finally:
        for proc in workers:
            stop_group(proc)
        finish(app)
        fake.stop()
        Redis.from_url(REDIS_URL).flushdb()


def test_without_redis_the_web_process_starts_one_sweeper_with_its_first_request(make_app):
    """worker.init_app (called by the factory) owns the in-process sweeper; tests and
    apps with Redis never start one."""
    app = make_app(config={"TESTING": False, "JOBS_EAGER": False, "SWEEP_INTERVAL": 60})
    assert "chorus_sweeper" not in app.extensions
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    sweeper = app.extensions["chorus_sweeper"]
    try:
        assert isinstance(sweeper, Sweeper) and sweeper.is_alive()
        assert sweeper.interval == 60
        client.get("/healthz")
        assert app.extensions["chorus_sweeper"] is sweeper  # one per process
    finally:
        sweeper.stop()
        sweeper.join(5)
    testing = make_app()
    testing.test_client().get("/healthz")
    assert testing.extensions["chorus_sweeper"] is False
