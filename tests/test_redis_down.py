"""Redis down: texts in are still answered; work asked for meanwhile is queued again from
the database by the sweeper once Redis is back, and sent once."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

from app.tasks import sender as sending
from app.worker import make_worker, sweep
from tests.conftest import _free_port
from tests.inbound_helpers import inbound_params, new_sid, twiml_reply
from tests.outbox_helpers import Staff, add_members, finish, many, per_phone, phone, twilio_env

DEAD_REDIS = "redis://127.0.0.1:1/0"


def test_texts_in_are_answered_while_redis_is_down(make_app, signed_post):
    app = make_app({"JOBS_EAGER": False}, REDIS_URL=DEAD_REDIS)
    staff = Staff(app)
    staff.consultation()
    add_members(app, many(1))
    response = signed_post("/twilio/inbound", inbound_params(phone(0), "P12 yes", new_sid()))
    assert response.status_code == 200
    assert "YES" in twiml_reply(response)
    assert staff.get("/consultations/P12/results").json["votes"]["yes"] == 1


class RedisServer:
    """A private redis-server on a fixed port that a test can stop and start again."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def redis_server():
    """A private Redis this test may stop (never the shared one)."""
    if shutil.which("redis-server") is None:
        pytest.skip("needs redis-server to stop and start one")
    server = RedisServer()
    server.start()
    yield server
    server.stop()


def test_a_broadcast_asked_for_while_redis_is_down_goes_out_once_when_it_is_back(
    make_app, fake, redis_server
):
    app = make_app(
        {"JOBS_EAGER": False, "OUTBOX_SEND_THREADS": 4},
        REDIS_URL=redis_server.url,
        **twilio_env(fake),
    )
    try:
        add_members(app, many(20))
        staff = Staff(app)
        staff.consultation()
        redis_server.stop()
        answer = staff.post("/consultations/P12/broadcast")
        assert answer.status_code == 202, answer.json  # the database has it
        assert fake.messages == []

        redis_server.start()  # empty: whatever was queued before is gone too
        with app.app_context():
            sweep()  # queues the expansion again, from the database
        for _ in range(5):  # expansion, batches, completion: each a job
            make_worker(app).work(burst=True)
            assert sending.outbox(app).wait_idle(30)
            with app.app_context():
                sweep()
        assert len(per_phone(fake)) == 20 and set(per_phone(fake).values()) == {1}
        status = staff.get(f"/broadcasts/{answer.json['broadcast_id']}").json
        assert (status["status"], status["sent"]) == ("completed", 20)
    finally:
        finish(app)
