"""The database goes away and comes back (a TCP proxy in front of PostgreSQL is cut):
the webhook answers 503 at once, the sweeper logs and carries on, and once the
database is back the text that could not be taken is recovered from Twilio's list
and the work queued meanwhile is done."""

from __future__ import annotations

import contextlib
import socket
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Message, Vote
from app.worker import sweep
from tests.conftest import AUTH_TOKEN, DATABASE_URL, PUBLIC_BASE_URL, TWILIO_FROM, _free_port
from tests.fake_twilio import sign
from tests.inbound_helpers import inbound_params
from tests.outbox_helpers import Staff, add_members, finish, many, phone, twilio_env

TARGET_PORT = int(DATABASE_URL.rsplit(":", 1)[1].split("/")[0]) if ":" in DATABASE_URL[11:] else 0

pytestmark = pytest.mark.skipif(
    not DATABASE_URL.startswith("postgresql"),
    reason="cuts a TCP connection to PostgreSQL (SQLite has none)",
)


class Proxy:
    """Forwards 127.0.0.1:port to PostgreSQL until cut (refusing, and dropping what is open)."""

    def __init__(self, target_port: int) -> None:
        self.port, self.target = _free_port(), target_port
        self.listener: socket.socket | None = None
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()

    def start(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        if self.listener is not None:
            # shutdown() first: a bare close() leaves it listening while accept() waits.
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            self.listener = None
        with self.lock:
            for s in self.open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.open.clear()


@pytest.fixture
def proxy():
    """A running proxy to the test PostgreSQL; cut after the apps using it are cleaned up
    (requested before make_app, so torn down after it)."""
    running = Proxy(TARGET_PORT)
    running.start()
    yield running
    running.cut()


def test_a_database_outage_is_survived_and_caught_up(proxy, make_app, fake):
    target = TARGET_PORT
    app = make_app(
        DATABASE_URL=DATABASE_URL.replace(f":{target}/", f":{proxy.port}/"),
        CHORUS_INBOUND_RECOVERY_GRACE="1",
        CHORUS_INBOUND_RECOVERY_INTERVAL="0.001",  # every sweep looks at Twilio's list
        **twilio_env(fake),
    )
    client = app.test_client()
    try:
        add_members(app, many(1))
        Staff(app).consultation()
        proxy.cut()

        # Down: Twilio has the text; the webhook answers 503 and writes nothing.
        sent_at = datetime.now(UTC) - timedelta(seconds=5)
        sid = fake.receive(phone(0), "P12 yes", to=TWILIO_FROM, at=sent_at)
        params = inbound_params(phone(0), "P12 yes", sid)
        signature = sign(PUBLIC_BASE_URL + "/twilio/inbound", params, AUTH_TOKEN)
        response = client.post(
            "/twilio/inbound", data=params, headers={"X-Twilio-Signature": signature}
        )
        assert response.status_code == 503
        with app.app_context():
            during = sweep()  # the worker's sweep: each duty fails and is logged
            db.session.remove()
        assert "error" in during.values() and during["recovered_inbound"] in ("error", 0)

        proxy.start()  # the database is back: the next sweep catches up
        with app.app_context():
            after = sweep()
            assert after["recovered_inbound"] == 1, after
            assert db.session.scalar(select(func.count()).select_from(Vote)) == 1
            stored = select(func.count()).select_from(Message).where(Message.twilio_sid == sid)
            assert db.session.scalar(stored) == 1
        assert any("YES" in body for body in fake.bodies_to(phone(0)))  # answered by text
    finally:
        finish(app)
