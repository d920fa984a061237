"""Tests for the fake Twilio REST API, driven through the real twilio-python client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.fake_twilio import FakeTwilio, post_signed, sign

REPO_ROOT = Path(__file__).resolve().parent.parent
TO = "+15005550001"
FROM = "+15005550006"


def make_client(fake: FakeTwilio, auth_token: str | None = None) -> Client:
    """Return a real twilio Client pointed at ``fake``."""
    client = Client(fake.account_sid, auth_token or fake.auth_token)
    client.api.base_url = fake.base_url
    return client


def close_client(client: Client) -> None:
    """Close the pooled HTTP session of a twilio Client (no ResourceWarnings)."""
    session = client.http_client.session
    if session is not None:
        session.close()


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    """A running FakeTwilio without latency."""
    with FakeTwilio() as running:
        yield running


@pytest.fixture
def client(fake: FakeTwilio) -> Iterator[Client]:
    """A twilio Client pointed at the ``fake`` fixture."""
    twilio_client = make_client(fake)
    yield twilio_client
    close_client(twilio_client)


class CallbackReceiver:
    """A tiny HTTP server recording form POSTs (url, params, headers) in arrival order."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8")
                params = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
                host = self.headers["Host"]
                with receiver._lock:
                    receiver.received.append(
                        {
                            "url": f"http://{host}{self.path}",
                            "params": params,
                            "headers": dict(self.headers),
                        }
                    )
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))

    def __enter__(self) -> CallbackReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def statuses(self, message_sid: str) -> list[str]:
        """MessageStatus values received for one message, in arrival order."""
        with self._lock:
            return [
                r["params"]["MessageStatus"]
                for r in self.received
                if r["params"].get("MessageSid") == message_sid
            ]


# --------------------------------------------------------------------------- REST API


def test_create_message_is_recorded_and_fetchable(fake: FakeTwilio, client: Client) -> None:
    status_url = "http://127.0.0.1:9/status"
    message = client.messages.create(
        to=TO, from_=FROM, body="Hello, chorus!", status_callback=status_url
    )

    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.account_sid == fake.account_sid
    assert (message.to, message.from_, message.body) == (TO, FROM, "Hello, chorus!")
    assert message.status == "queued"
    assert message.direction == "outbound-api"
    assert message.num_segments == "1"
    assert message.error_code is None
    assert message.date_created is not None

    [recorded] = fake.messages
    assert recorded["sid"] == message.sid
    assert recorded["to"] == TO and recorded["from_"] == FROM
    assert recorded["messaging_service_sid"] is None
    assert recorded["status_callback"] == status_url
    assert recorded["received_at"] <= recorded["accepted_at"]
    assert fake.bodies_to(TO) == ["Hello, chorus!"]
    assert fake.attempts == 1 and fake.failures == []

    fetched = client.messages(message.sid).fetch()
    assert fetched.body == "Hello, chorus!" and fetched.sid == message.sid
    assert [m.sid for m in client.messages.list(to=TO)] == [message.sid]

    with pytest.raises(TwilioRestException) as excinfo:
        client.messages("SM" + "0" * 32).fetch()
    assert (excinfo.value.status, excinfo.value.code) == (404, 20404)


def test_messaging_service_and_segments(fake: FakeTwilio, client: Client) -> None:
    service = "MG" + "1" * 32
    long_unicode = "ж" * 71  # UCS-2: 70 per single segment, 67 per part
    message = client.messages.create(to=TO, messaging_service_sid=service, body=long_unicode)
    assert message.messaging_service_sid == service
    assert message.num_segments == "2"
    assert fake.messages[0]["messaging_service_sid"] == service
    assert fake.messages[0]["from_"] is None


def test_wrong_token_is_401(fake: FakeTwilio) -> None:
    bad = make_client(fake, auth_token="not-the-token")
    try:
        with pytest.raises(TwilioRestException) as excinfo:
            bad.messages.create(to=TO, from_=FROM, body="nope")
    finally:
        close_client(bad)
    assert excinfo.value.status == 401
    assert excinfo.value.code == 20003
    assert fake.messages == []
    assert fake.attempts == 1
    assert [f["reason"] for f in fake.failures] == ["auth"]


def test_missing_to_or_body_is_400(fake: FakeTwilio, client: Client) -> None:
    with pytest.raises(TwilioRestException) as no_body:
        client.messages.create(to=TO, from_=FROM)
    with pytest.raises(TwilioRestException) as no_to:
        client.messages.create(to="", from_=FROM, body="hi")
    assert (no_body.value.status, no_body.value.code) == (400, 21602)
    assert (no_to.value.status, no_to.value.code) == (400, 21604)
    assert fake.messages == [] and fake.attempts == 2


def test_fail_next_then_success(fake: FakeTwilio, client: Client) -> None:
    fake.fail_next(1, status=429, code=20429, headers={"Retry-After": "1"})

    with pytest.raises(TwilioRestException) as excinfo:
        client.messages.create(to=TO, from_=FROM, body="first try")
    assert excinfo.value.status == 429
    assert excinfo.value.code == 20429
    assert "Too Many Requests" in excinfo.value.msg

    client.messages.create(to=TO, from_=FROM, body="second try")
    assert fake.bodies_to(TO) == ["second try"]
    assert fake.attempts == 2
    assert [(f["reason"], f["status"], f["code"]) for f in fake.failures] == [
        ("injected", 429, 20429)
    ]


def test_cut_off_next_stores_the_text_and_drops_the_answer(
    fake: FakeTwilio, client: Client
) -> None:
    fake.cut_off_next(1)

    with pytest.raises(requests.ConnectionError):
        client.messages.create(to=TO, from_=FROM, body="accepted, unanswered")
    client.messages.create(to=TO, from_=FROM, body="answered")

    assert fake.bodies_to(TO) == ["accepted, unanswered", "answered"]
    assert fake.failures == []


def test_fail_for_number(fake: FakeTwilio, client: Client) -> None:
    stopped, flaky, other = "+15005550009", "+15005550010", "+15005550011"
    fake.fail_for(stopped)  # always: 400 / 21610
    fake.fail_for(flaky, status=503, code=30001, times=1, message="Queue overflow")

    for _ in range(2):
        with pytest.raises(TwilioRestException) as excinfo:
            client.messages.create(to=stopped, from_=FROM, body="x")
        assert (excinfo.value.status, excinfo.value.code) == (400, 21610)
    with pytest.raises(TwilioRestException) as excinfo:
        client.messages.create(to=flaky, from_=FROM, body="x")
    assert (excinfo.value.status, excinfo.value.code) == (503, 30001)

    client.messages.create(to=flaky, from_=FROM, body="retried")
    client.messages.create(to=other, from_=FROM, body="fine")
    assert fake.bodies_to(flaky) == ["retried"]
    assert fake.bodies_to(other) == ["fine"]
    assert fake.bodies_to(stopped) == []
    assert fake.attempts == 5 and len(fake.failures) == 3


def test_500_with_non_json_body(fake: FakeTwilio, client: Client) -> None:
    fake.fail_next(1, status=500, raw_body="<html><body>Internal Server Error</body></html>")
    with pytest.raises(TwilioRestException) as excinfo:
        client.messages.create(to=TO, from_=FROM, body="x")
    # twilio-python falls back to the HTTP status as the code when the body is not JSON.
    assert (excinfo.value.status, excinfo.value.code) == (500, 500)
    assert fake.failures[0]["code"] is None


def test_reset_clears_state(fake: FakeTwilio, client: Client) -> None:
    client.messages.create(to=TO, from_=FROM, body="x")
    fake.fail_next(3)
    fake.fail_for(TO)
    fake.reset()
    assert (fake.messages, fake.failures, fake.attempts) == ([], [], 0)
    client.messages.create(to=TO, from_=FROM, body="after reset")
    assert fake.bodies_to(TO) == ["after reset"]


def test_keep_alive_reuses_one_connection(fake: FakeTwilio, client: Client) -> None:
    for i in range(5):
        client.messages.create(to=TO, from_=FROM, body=str(i))
    assert fake.connections_accepted == 1


def test_requests_are_served_concurrently() -> None:
    """32 clients' requests are inside the fake at once: each waits (where the latency
    would be) until all 32 have arrived, which a server handling one at a time never
    lets happen. (How fast it is: `python -m bench.micro`.)"""
    clients, per_client = 32, 4
    with FakeTwilio() as fake:
        together = threading.Barrier(clients)
        # Instead of the latency's sleep; the timeout only ends a serialised run.
        fake._delay = lambda: together.wait(timeout=60)
        twilio_clients = [make_client(fake) for _ in range(clients)]
        errors: list[BaseException] = []

        def send(c: Client, i: int) -> None:
            try:
                for j in range(per_client):
                    c.messages.create(to=f"+1500555{i:04d}", from_=FROM, body=f"{i}-{j}")
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(c, i)) for i, c in enumerate(twilio_clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for c in twilio_clients:
            close_client(c)

    assert errors == []
    assert len(fake.messages) == clients * per_client
    assert not together.broken


def test_latency_is_waited_out_on_each_request() -> None:
    """The fake waits `latency` seconds on each request (on its stop event, so that
    stopping it is not held up by requests in flight)."""
    waits: list[float | None] = []

    class Recording(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout)
            return False

    with FakeTwilio(latency=0.25) as fake:
        fake._stopping = Recording()
        client = make_client(fake)
        client.messages.create(to=TO, from_=FROM, body="a")
        client.messages.create(to=TO, from_=FROM, body="b")
        close_client(client)
        fake._stopping = threading.Event()
    assert waits == [0.25, 0.25]


# --------------------------------------------------------------------------- callbacks


def assert_signed(received: list[dict[str, Any]], auth_token: str) -> None:
    """Every received callback carries a valid X-Twilio-Signature for ``auth_token``."""
    validator = RequestValidator(auth_token)
    wrong = RequestValidator("some-other-token")
    for r in received:
        signature = r["headers"]["X-Twilio-Signature"]
        assert validator.validate(r["url"], r["params"], signature), r
        assert not wrong.validate(r["url"], r["params"], signature)


def test_status_callbacks_are_signed_and_ordered() -> None:
    with (
        CallbackReceiver() as receiver,
        FakeTwilio(callbacks=True, callback_delay=0.01, auth_token="cb-token") as fake_cb,
    ):
        client = make_client(fake_cb)
        bounced = "+15005550099"
        fake_cb.undeliverable(bounced)
        url = f"{receiver.base_url}/twilio/status?tenant=7"
        ok = client.messages.create(to=TO, from_=FROM, body="a", status_callback=url)
        bad = client.messages.create(to=bounced, from_=FROM, body="b", status_callback=url)
        client.messages.create(to=TO, from_=FROM, body="no callback url")
        log = fake_cb.wait_for_callbacks(4, timeout=5)
        with fake_cb._lock:  # nothing beyond the 4 expected callbacks is still to come
            assert fake_cb._chains == []
        fetched = client.messages(bad.sid).fetch()
        close_client(client)

    assert len(receiver.received) == 4 and len(fake_cb.callback_log) == 4
    assert receiver.statuses(ok.sid) == ["sent", "delivered"]
    assert receiver.statuses(bad.sid) == ["sent", "undelivered"]
    assert {entry["status"] for entry in log} == {204}
    assert_signed(receiver.received, "cb-token")

    final = next(
        r["params"]
        for r in receiver.received
        if r["params"]["MessageSid"] == bad.sid and r["params"]["MessageStatus"] == "undelivered"
    )
    assert final["ErrorCode"] == "30003"
    assert final["SmsStatus"] == "undelivered" and final["SmsSid"] == bad.sid
    assert final["AccountSid"] == fake_cb.account_sid
    assert (final["To"], final["From"]) == (bounced, FROM)
    assert all("ErrorCode" not in r["params"] for r in receiver.received if r["params"]["To"] == TO)
    assert fetched.status == "undelivered" and fetched.error_code == 30003
    assert receiver.received[0]["url"] == url


def test_callbacks_reverse_order() -> None:
    with (
        CallbackReceiver() as receiver,
        FakeTwilio(callbacks=True, callback_delay=0.01, callback_order="reverse") as fake,
    ):
        client = make_client(fake)
        url = f"{receiver.base_url}/status"
        message = client.messages.create(to=TO, from_=FROM, body="x", status_callback=url)
        fake.wait_for_callbacks(2, timeout=5)
        close_client(client)
    assert receiver.statuses(message.sid) == ["delivered", "sent"]
    assert fake.message(message.sid)["status"] == "delivered"
    assert_signed(receiver.received, fake.auth_token)


def test_callbacks_repeated() -> None:
    with (
        CallbackReceiver() as receiver,
        FakeTwilio(callbacks=True, callback_delay=0.01, callback_repeat=2) as fake,
    ):
        client = make_client(fake)
        url = f"{receiver.base_url}/status"
        message = client.messages.create(to=TO, from_=FROM, body="x", status_callback=url)
        fake.wait_for_callbacks(4, timeout=5)
        close_client(client)
    assert receiver.statuses(message.sid) == ["sent", "sent", "delivered", "delivered"]
    assert_signed(receiver.received, fake.auth_token)


def test_wait_for_callbacks_times_out(fake: FakeTwilio) -> None:
    with pytest.raises(TimeoutError):
        fake.wait_for_callbacks(1, timeout=0.05)


def test_sign_and_post_signed() -> None:
    token = "webhook-token"
    with CallbackReceiver() as receiver:
        url = f"{receiver.base_url}/sms/inbound"
        params = {"From": "+15005550001", "To": FROM, "Body": "YES ñ", "MessageSid": "SM1"}
        response = post_signed(url, params, token)
        with requests.Session() as session:
            second = post_signed(url, params, token, session=session)
    assert (response.status_code, second.status_code) == (204, 204)
    assert sign(url, params, token) == RequestValidator(token).compute_signature(url, params)
    assert receiver.received[0]["params"] == params
    assert receiver.received[0]["headers"]["X-Twilio-Signature"] == sign(url, params, token)
    assert_signed(receiver.received, token)


# --------------------------------------------------------------------------- CLI


def test_cli_prints_url_serves_and_stops_on_sigterm() -> None:
    sid = "AC" + "f" * 32
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    command = [sys.executable, "-m", "tests.fake_twilio", "--port", "0", "--latency", "0.01"]
    command += ["--account-sid", sid, "--auth-token", "cli-token"]
    with subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            base_url = proc.stdout.readline().strip()
            assert base_url.startswith("http://127.0.0.1:")
            client = Client(sid, "cli-token")
            client.api.base_url = base_url
            client.messages.create(to=TO, from_=FROM, body="from the CLI")
            close_client(client)
            with requests.Session() as session:
                stats = session.get(f"{base_url}/_fake/stats", timeout=5).json()
                bodies = [m["body"] for m in session.get(f"{base_url}/_fake/messages").json()]
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, stderr
    assert stats["accepted"] == 1 and stats["attempts"] == 1
    assert bodies == ["from the CLI"]
    assert json.loads(stderr.split("stopped; ", 1)[1])["accepted"] == 1
