"""A small fake of Twilio's REST API (Messages resource) for tests and benchmarks.

Tests never patch the twilio library. They point the real client at this server::

    from twilio.rest import Client

    with FakeTwilio(latency=0.05) as fake:
        client = Client(fake.account_sid, fake.auth_token)
        client.api.base_url = fake.base_url
        client.messages.create(to="+15005550001", from_="+15005550006", body="hi")
        assert fake.bodies_to("+15005550001") == ["hi"]

It can also run as its own process (benchmarks)::

    python -m tests.fake_twilio --port 8089 --latency 0.15 --auth-token T --account-sid AC...

The process prints its base URL on the first line of stdout and runs until SIGTERM/SIGINT.

Implemented endpoints (under ``/2010-04-01/Accounts/{AccountSid}``):

* ``POST Messages.json``  -- create (form-encoded, HTTP Basic auth), 201 or a Twilio error
* ``GET Messages/{Sid}.json`` -- fetch, 200 or 404 (code 20404)
* ``GET Messages.json`` -- list, newest first, outbound and received texts (optional
  ``To``/``From``/``DateSent>`` filters, ``PageSize``/``Page`` paging with ``next_page_uri``)

Texts that members send to the organisation's number are put in with ``receive()``: they
appear in the list (direction ``inbound``) as they would on Twilio, for reconciliation
and recovery tests. ``fail_list_next()`` makes the list answer an HTML error page, as
Twilio's edge does during an outage.

Plus unauthenticated helpers for out-of-process use: ``GET /_fake/stats``,
``GET /_fake/messages``, ``GET /_fake/callbacks``, ``POST /_fake/reset`` and
``POST /_fake/receive`` (form ``From``, ``Body``, ``To``: a member's text, see ``receive``).

Error bodies follow Twilio's legacy error format, which twilio-python turns into a
``TwilioRestException`` whose ``.status`` is the HTTP status and ``.code`` the body's ``code``
(see ``twilio.base.version.Version.exception``). A non-JSON error body gives ``.code`` equal to
the HTTP status.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import heapq
import itertools
import json
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from twilio.request_validator import RequestValidator

__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "DEFAULT_AUTH_TOKEN",
    "DEFAULT_FROM_NUMBER",
    "FakeTwilio",
    "post_signed",
    "sign",
]

DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "fa4e70c3e2b6fa4e70c3e2b6fa4e70c3"
#: ``From`` reported in callbacks for messages sent through a Messaging Service.
DEFAULT_FROM_NUMBER = "+15005550006"
API_VERSION = "2010-04-01"

_MESSAGES_RE = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages\.json$")
_MESSAGE_RE = re.compile(r"^/2010-04-01/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")

# GSM 03.38 basic character set plus the extension table (extension chars cost two septets).
_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ!\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = set("^{}\\[~]|€\f")
_STATUS_RANK = {"queued": 0, "sent": 1, "delivered": 2, "undelivered": 2, "failed": 2}


def sign(url: str, params: dict[str, str], auth_token: str) -> str:
    """Return the ``X-Twilio-Signature`` Twilio would send for a POST of ``params`` to ``url``.

    Computed with twilio-python's own ``RequestValidator.compute_signature`` (HMAC-SHA1 of the
    full URL followed by the sorted ``name + value`` pairs, base64-encoded).
    """
    return RequestValidator(auth_token).compute_signature(url, params)


def post_signed(
    url: str,
    params: dict[str, str],
    auth_token: str,
    session: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Any:
    """POST ``params`` form-encoded to ``url`` exactly as Twilio sends a webhook.

    Adds ``X-Twilio-Signature`` (see :func:`sign`), Twilio's ``User-Agent`` and
    ``Content-Type``. ``session`` is an optional ``requests.Session`` (a short-lived one is
    used and closed otherwise); extra ``headers`` are merged in. Returns the
    ``requests.Response``.
    """
    import requests

    all_headers = {
        "X-Twilio-Signature": sign(url, params, auth_token),
        "User-Agent": "TwilioProxy/1.1",
        "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        "Accept": "*/*",
    }
    all_headers.update(headers or {})
    if session is not None:
        return session.post(url, data=params, headers=all_headers, timeout=timeout)
    with requests.Session() as own:
        return own.post(url, data=params, headers=all_headers, timeout=timeout)


def num_segments(body: str) -> int:
    """Return how many SMS segments Twilio would bill for ``body`` (GSM-7 or UCS-2)."""
    if all(ch in _GSM_BASIC or ch in _GSM_EXT for ch in body):
        septets = sum(2 if ch in _GSM_EXT else 1 for ch in body)
        return 1 if septets <= 160 else -(-septets // 153)
    units = len(body.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)


def _rfc2822(dt: datetime) -> str:
    return format_datetime(dt)


def _new_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


@dataclass
class _Failure:
    status: int
    code: int | None
    message: str
    raw_body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def render(self) -> tuple[bytes, str]:
        if self.raw_body is not None:
            return self.raw_body.encode("utf-8"), "text/html; charset=utf-8"
        return _error_json(self.status, self.code, self.message), "application/json"


def _error_json(status: int, code: int | None, message: str) -> bytes:
    payload = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return json.dumps(payload).encode("utf-8")


@dataclass(order=True)
class _CallbackChain:
    """Status callbacks of one message, sent in order; ``due`` is when the next one goes."""

    due: float
    seq: int
    url: str = field(compare=False)
    message_sid: str = field(compare=False)
    steps: list[dict[str, str]] = field(compare=False)
    index: int = field(default=0, compare=False)


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that tracks its connections so it can close them and join threads."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], fake: FakeTwilio) -> None:
        self.fake = fake
        self._conn_lock = threading.Lock()
        self._conns: dict[socket.socket, threading.Thread] = {}
        self.connections_accepted = 0
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="fake-twilio-conn",
            daemon=True,
        )
        with self._conn_lock:
            self._conns[request] = thread
            self.connections_accepted += 1
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            with self._conn_lock:
                self._conns.pop(request, None)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # client went away / we shut the socket down
            return
        super().handle_error(request, client_address)

    def close_connections(self, timeout: float) -> None:
        """Shut down every open keep-alive connection and join the handler threads."""
        with self._conn_lock:
            items = list(self._conns.items())
        for sock, _ in items:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for _, thread in items:
            thread.join(max(0.0, deadline - time.monotonic()))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "FakeTwilio/1.0"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request access log."""

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._send(411, _error_json(411, 411, "Length Required"), "application/json")
            self.close_connection = True
            return None
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Twilio-Request-Id", _new_sid("RQ"))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _basic_auth(self) -> tuple[str, str] | None:
        value = self.headers.get("Authorization", "")
        scheme, _, encoded = value.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(encoded).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return (user, password) if sep else None

    def do_POST(self) -> None:
        """Create a message, or run an admin action under ``/_fake/``."""
        body = self._read_body()
        if body is None:
            return
        path = urlsplit(self.path).path
        if path == "/_fake/reset":
            self.server.fake.reset()
            self._send(200, b'{"ok": true}')
            return
        if path == "/_fake/receive":
            # Out of process: a member's text reaching the number (From, Body, To form).
            form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8")).items()}
            sid = self.server.fake.receive(
                form.get("From", ""), form.get("Body", ""), to=form.get("To", DEFAULT_FROM_NUMBER)
            )
            self._send(200, json.dumps({"sid": sid}).encode("utf-8"))
            return
        match = _MESSAGES_RE.match(path)
        if not match:
            self.server.fake._delay()
            self._not_found(path)
            return
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        form = {name: values[-1] for name, values in parsed.items()}
        media = [url for url in parsed.get("MediaUrl", []) if url]
        status, payload, ctype, headers = self.server.fake._create_message(
            match["account"], self._basic_auth(), form, media
        )
        if status == 201 and self.server.fake._take_cut_off():
            # Accepted, but the connection drops before the answer: the sender cannot
            # know whether Twilio has the text.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(status, payload, ctype, headers)

    def do_GET(self) -> None:
        """Fetch or list messages, or read admin state under ``/_fake/``."""
        if self._read_body() is None:
            return
        split = urlsplit(self.path)
        fake = self.server.fake
        if split.path.startswith("/_fake/"):
            admin = fake._admin(split.path)
            if admin is None:
                self._send(404, _error_json(404, 20404, "Unknown admin path"))
            else:
                self._send(200, json.dumps(admin, default=str).encode("utf-8"))
            return
        fake._delay()
        auth_error = fake._check_auth(self._basic_auth())
        if auth_error is not None:
            self._send(401, auth_error)
            return
        one = _MESSAGE_RE.match(split.path)
        many = _MESSAGES_RE.match(split.path)
        if one and one["account"] == fake.account_sid:
            resource = fake._resource(one["sid"])
            if resource is None:
                self._not_found(split.path)
            else:
                self._send(200, json.dumps(resource).encode("utf-8"))
        elif many and many["account"] == fake.account_sid:
            query = {k: v[-1] for k, v in parse_qs(split.query).items()}
            page = fake._list_page(query)
            if page is None:
                html = b"<html><body><h1>503 Service Unavailable</h1></body></html>"
                self._send(503, html, "text/html")
            else:
                self._send(200, json.dumps(page).encode("utf-8"))
        else:
            self._not_found(split.path)

    def _not_found(self, path: str) -> None:
        message = f"The requested resource {path} was not found"
        self._send(404, _error_json(404, 20404, message))

    def _not_allowed(self) -> None:
        if self._read_body() is None:
            return
        self._send(405, _error_json(405, 20004, "Method not allowed"))

    do_PUT = do_DELETE = do_PATCH = _not_allowed


class FakeTwilio:
    """A threaded fake of Twilio's Messages API on 127.0.0.1, usable as a context manager.

    Arguments:
        latency: seconds every answer is delayed (each request in its own thread, so the
            delay does not serialise requests). May be changed while running.
        account_sid, auth_token: credentials HTTP Basic auth must match.
        host, port: where to listen (port 0 picks a free port).
        callbacks: send status callbacks to each message's ``StatusCallback`` URL.
        callback_delay: seconds before each status callback (after acceptance, and between
            the callbacks of one message).
        callback_order: ``"normal"`` (sent, then delivered) or ``"reverse"``.
        callback_repeat: how many times each callback is sent (2 simulates Twilio retries).
        callback_workers: threads sending callbacks (callbacks of one message stay ordered).

    Attributes: ``base_url``, ``account_sid``, ``auth_token``, ``latency``, and the
    thread-safe snapshots ``messages``, ``failures``, ``callback_log``, ``attempts`` and
    ``connections_accepted``.
    """

    def __init__(
        self,
        latency: float = 0.0,
        *,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        host: str = "127.0.0.1",
        port: int = 0,
        callbacks: bool = False,
        callback_delay: float = 0.05,
        callback_order: str = "normal",
        callback_repeat: int = 1,
        callback_workers: int = 16,
        callback_timeout: float = 5.0,
    ) -> None:
        if callback_order not in ("normal", "reverse"):
            raise ValueError("callback_order must be 'normal' or 'reverse'")
        if callback_repeat < 1:
            raise ValueError("callback_repeat must be >= 1")
        self.latency = latency
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.host = host
        self.port = port
        self.callbacks = callbacks
        self.callback_delay = callback_delay
        self.callback_order = callback_order
        self.callback_repeat = callback_repeat
        self.callback_workers = callback_workers
        self.callback_timeout = callback_timeout
        self.base_url = ""

        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._messages: list[dict[str, Any]] = []
        self._inbound: list[dict[str, Any]] = []
        self._list_failures: deque[int] = deque()
        self._by_sid: dict[str, dict[str, Any]] = {}
        self._failures: list[dict[str, Any]] = []
        self._callback_log: list[dict[str, Any]] = []
        self._attempts = 0
        self._fail_next: deque[_Failure] = deque()
        self._cut_off = 0
        self._fail_for: dict[str, list[Any]] = {}
        self._undeliverable: dict[str, tuple[str, int]] = {}
        self._chains: list[_CallbackChain] = []
        self._seq = itertools.count()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeTwilio:
        """Bind the server, start serving (and the callback workers); return ``self``."""
        if self._server is not None:
            raise RuntimeError("FakeTwilio already started")
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self)
        host, port = self._server.server_address[:2]
        self.port = port
        self.base_url = f"http://{host}:{port}"
        serve = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-twilio-server",
            daemon=True,
        )
        self._threads = [serve]
        if self.callbacks:
            for i in range(self.callback_workers):
                self._threads.append(
                    threading.Thread(
                        target=self._callback_worker, name=f"fake-twilio-cb-{i}", daemon=True
                    )
                )
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, close every connection and join all threads. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        server.shutdown()
        server.close_connections(timeout)
        server.server_close()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def __enter__(self) -> FakeTwilio:
        """Start the server; return ``self``."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop the server and join its threads."""
        self.stop()

    # ------------------------------------------------------------------ state

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Snapshot of accepted messages, in acceptance order (copies of the stored dicts).

        Keys: sid, account_sid, to, from_, messaging_service_sid, body, media_urls,
        status_callback, status, num_segments, date_created, received_at and accepted_at
        (``time.monotonic()`` when the request arrived / was answered), params (raw form).
        """
        with self._lock:
            return [dict(m) for m in self._messages]

    @property
    def failures(self) -> list[dict[str, Any]]:
        """Snapshot of rejected POSTs (auth, validation and injected failures).

        Keys: reason ("auth" | "validation" | "injected"), status, code, to, from_, body,
        received_at.
        """
        with self._lock:
            return [dict(f) for f in self._failures]

    @property
    def attempts(self) -> int:
        """Number of POSTs to Messages.json, failures included."""
        with self._lock:
            return self._attempts

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (shows keep-alive reuse)."""
        server = self._server
        return server.connections_accepted if server is not None else 0

    @property
    def callback_log(self) -> list[dict[str, Any]]:
        """Snapshot of status callbacks sent, in sending order.

        Keys: url, params, signature, status (HTTP status, or None when the request itself
        failed), error (exception text or None), message_sid, sent_at (monotonic).
        """
        with self._lock:
            return [dict(c) for c in self._callback_log]

    def bodies_to(self, number: str) -> list[str]:
        """Bodies of accepted messages sent to ``number``, in acceptance order."""
        with self._lock:
            return [m["body"] for m in self._messages if m["to"] == number]

    def message(self, sid: str) -> dict[str, Any] | None:
        """Copy of the accepted message with this sid, or None."""
        with self._lock:
            found = self._by_sid.get(sid)
            return dict(found) if found is not None else None

    def wait_for_messages(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until at least ``n`` messages were accepted; return them or raise TimeoutError."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._messages) >= n, timeout):
                raise TimeoutError(f"{len(self._messages)} messages accepted, wanted {n}")
            return [dict(m) for m in self._messages]

    def wait_for_callbacks(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until at least ``n`` callbacks were sent; return the log or raise TimeoutError."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._callback_log) >= n, timeout):
                raise TimeoutError(f"{len(self._callback_log)} callbacks sent, wanted {n}")
            return [dict(c) for c in self._callback_log]

    def forget(self, number: str) -> int:
        """Forget the accepted messages to ``number`` (a test's set-up texts, such as a new
        member's welcome, that the test is not about); returns how many."""
        with self._changed:
            gone = [m for m in self._messages if m["to"] == number]
            for m in gone:
                self._by_sid.pop(m["sid"], None)
            self._messages[:] = [m for m in self._messages if m["to"] != number]
            return len(gone)

    def reset(self) -> None:
        """Forget messages, failures, attempts, callbacks (pending ones too) and all injection
        rules. Configuration (latency, credentials, callback options) is kept."""
        with self._changed:
            self._messages.clear()
            self._inbound.clear()
            self._list_failures.clear()
            self._by_sid.clear()
            self._failures.clear()
            self._callback_log.clear()
            self._attempts = 0
            self._cut_off = 0
            self._fail_next.clear()
            self._fail_for.clear()
            self._undeliverable.clear()
            self._chains.clear()
            self._changed.notify_all()

    # ------------------------------------------------------------------ failure injection

    def fail_next(
        self,
        n: int = 1,
        status: int = 429,
        code: int | None = 20429,
        message: str = "Too Many Requests",
        *,
        raw_body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Make the next ``n`` authenticated POSTs fail with ``status`` and a Twilio error body.

        ``raw_body`` replaces the JSON body with that text (e.g. a 500 HTML page, for which
        twilio-python sets ``.code`` to the HTTP status). ``headers`` are added to the answer
        (e.g. ``{"Retry-After": "1"}``). Calls queue up in order.
        """
        failure = _Failure(status, code, message, raw_body, dict(headers or {}))
        with self._lock:
            self._fail_next.extend([failure] * n)

    def fail_for(
        self,
        to_number: str,
        status: int = 400,
        code: int | None = 21610,
        times: int | None = None,
        message: str = "Attempt to send to unsubscribed recipient",
        *,
        raw_body: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Make authenticated POSTs to ``to_number`` fail (``times=None``: every time).

        ``fail_next`` failures take precedence. A later call for the same number replaces
        the earlier rule.
        """
        failure = _Failure(status, code, message, raw_body, dict(headers or {}))
        with self._lock:
            self._fail_for[to_number] = [failure, times]

    def cut_off_next(self, n: int = 1) -> None:
        """Accept the next ``n`` messages (they are stored, and get their callbacks) but
        close the connection instead of answering, as a network failure after Twilio has
        the text would look to the sender."""
        with self._lock:
            self._cut_off += n

    def _take_cut_off(self) -> bool:
        with self._lock:
            if self._cut_off <= 0:
                return False
            self._cut_off -= 1
            return True

    def clear_failures(self) -> None:
        """Drop every pending ``fail_next`` / ``fail_for`` / ``cut_off_next`` rule."""
        with self._lock:
            self._fail_next.clear()
            self._fail_for.clear()
            self._cut_off = 0

    def undeliverable(
        self, number: str, error_code: int = 30003, status: str = "undelivered"
    ) -> None:
        """Messages to ``number`` are accepted but their final callback is ``status``
        ("undelivered" or "failed") with ``ErrorCode`` ``error_code``."""
        with self._lock:
            self._undeliverable[number] = (status, error_code)

    # ------------------------------------------------------------------ request handling

    def _delay(self) -> None:
        if self.latency > 0:
            self._stopping.wait(self.latency)

    def _check_auth(self, creds: tuple[str, str] | None) -> bytes | None:
        if creds == (self.account_sid, self.auth_token):
            return None
        return _error_json(401, 20003, "Authenticate")

    def _create_message(
        self,
        account: str,
        creds: tuple[str, str] | None,
        form: dict[str, str],
        media: list[str],
    ) -> tuple[int, bytes, str, dict[str, str]]:
        received_at = time.monotonic()
        to = form.get("To", "")
        from_ = form.get("From") or None
        service = form.get("MessagingServiceSid") or None
        body = form.get("Body", "")
        failure: _Failure | None = None
        reason = ""
        with self._lock:
            self._attempts += 1
            if self._check_auth(creds) is not None or account != self.account_sid:
                failure, reason = _Failure(401, 20003, "Authenticate"), "auth"
            elif self._fail_next:
                failure, reason = self._fail_next.popleft(), "injected"
            elif to in self._fail_for:
                rule = self._fail_for[to]
                failure, reason = rule[0], "injected"
                if rule[1] is not None:
                    rule[1] -= 1
                    if rule[1] <= 0:
                        del self._fail_for[to]
            elif not to:
                failure = _Failure(400, 21604, "A 'To' phone number is required.")
                reason = "validation"
            elif not body and not media and not form.get("ContentSid"):
                failure = _Failure(400, 21602, "Message body is required.")
                reason = "validation"
            elif not from_ and not service:
                failure = _Failure(400, 21603, "A 'From' phone number is required.")
                reason = "validation"
            if failure is not None:
                self._failures.append(
                    {
                        "reason": reason,
                        "status": failure.status,
                        "code": failure.code if failure.raw_body is None else None,
                        "to": to,
                        "from_": from_,
                        "body": body,
                        "received_at": received_at,
                    }
                )
        self._delay()
        if failure is not None:
            payload, ctype = failure.render()
            return failure.status, payload, ctype, failure.headers

        sid = _new_sid("SM")
        message = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from_": from_,
            "messaging_service_sid": service,
            "body": body,
            "media_urls": media,
            "status_callback": form.get("StatusCallback") or None,
            "status": "queued",
            "num_segments": num_segments(body),
            "date_created": _rfc2822(datetime.now(UTC)),
            "sent_day": datetime.now(UTC).date(),
            "order": (time.time(), next(self._seq)),
            "received_at": received_at,
            "accepted_at": time.monotonic(),
            "params": dict(form),
        }
        with self._changed:
            self._messages.append(message)
            self._by_sid[sid] = message
            resource = self._to_resource(message)
            if self.callbacks and message["status_callback"]:
                self._schedule_callbacks(message)
            self._changed.notify_all()
        return 201, json.dumps(resource).encode("utf-8"), "application/json", {}

    def _to_resource(self, m: dict[str, Any]) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{m['account_sid']}/Messages/{m['sid']}"
        undelivered = m["status"] in ("undelivered", "failed")
        return {
            "account_sid": m["account_sid"],
            "api_version": API_VERSION,
            "body": m["body"],
            "date_created": m["date_created"],
            "date_sent": m.get("date_sent"),
            "date_updated": m["date_created"],
            "direction": m.get("direction", "outbound-api"),
            "error_code": m.get("error_code") if undelivered else None,
            "error_message": None,
            "from": m["from_"],
            "messaging_service_sid": m["messaging_service_sid"],
            "num_media": str(len(m["media_urls"])),
            "num_segments": str(m["num_segments"]),
            "price": None,
            "price_unit": "USD",
            "sid": m["sid"],
            "status": m["status"],
            "subresource_uris": {
                "media": f"{uri}/Media.json",
                "feedback": f"{uri}/Feedback.json",
            },
            "to": m["to"],
            "uri": f"{uri}.json",
        }

    def _resource(self, sid: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._by_sid.get(sid)
            return self._to_resource(found) if found is not None else None

    def _list_page(self, query: dict[str, str]) -> dict[str, Any] | None:
        """One page of the list, newest first; None when a list failure is due."""
        after = query.get("DateSent>")
        # Twilio filters DateSent by day, whatever time is given.
        day = datetime.fromisoformat(after.replace("Z", "+00:00")).date() if after else None
        size = max(1, min(int(query.get("PageSize") or 50), 1000))
        page = max(0, int(query.get("Page") or 0))
        with self._lock:
            if self._list_failures:
                self._list_failures.popleft()
                return None
            everything = sorted(
                self._messages + self._inbound, key=lambda m: m["order"], reverse=True
            )
            chosen = [
                self._to_resource(m)
                for m in everything
                if query.get("To", m["to"]) == m["to"]
                and query.get("From", m["from_"]) == m["from_"]
                and (day is None or m["sent_day"] >= day)
            ]
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"
        window = chosen[page * size : (page + 1) * size]
        more = len(chosen) > (page + 1) * size
        keep = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}
        base = uri + "?" + "".join(f"{quote(k)}={quote(v)}&" for k, v in keep.items())
        return {
            "messages": window,
            "end": page * size + max(len(window) - 1, 0),
            "first_page_uri": f"{base}PageSize={size}&Page=0",
            "next_page_uri": f"{base}PageSize={size}&Page={page + 1}" if more else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": f"{base}PageSize={size}&Page={page - 1}" if page else None,
            "start": page * size,
            "uri": uri,
        }

    def receive(
        self, from_: str, body: str, *, to: str = DEFAULT_FROM_NUMBER, at: datetime | None = None
    ) -> str:
        """A member's text reaching the organisation's number (whether or not the webhook
        got it): listed as ``inbound``, ``received``, sent at `at` (default now). Its sid."""
        sent = at or datetime.now(UTC)
        sid = _new_sid("SM")
        message = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from_": from_,
            "messaging_service_sid": None,
            "body": body,
            "media_urls": [],
            "status": "received",
            "num_segments": num_segments(body),
            "date_created": _rfc2822(sent),
            "date_sent": _rfc2822(sent),
            "sent_day": sent.astimezone(UTC).date(),
            "direction": "inbound",
            "order": (sent.timestamp(), next(self._seq)),
        }
        with self._lock:
            self._inbound.append(message)
            self._by_sid[sid] = message
        return sid

    def fail_list_next(self, n: int = 1) -> None:
        """The next `n` list requests answer 503 with an HTML page (not JSON)."""
        with self._lock:
            self._list_failures.extend([503] * n)

    def _admin(self, path: str) -> Any:
        if path == "/_fake/stats":
            with self._lock:
                return {
                    "attempts": self._attempts,
                    "accepted": len(self._messages),
                    "failures": len(self._failures),
                    "callbacks": len(self._callback_log),
                    "connections_accepted": self.connections_accepted,
                }
        if path == "/_fake/messages":
            return self.messages
        if path == "/_fake/callbacks":
            return self.callback_log
        return None

    # ------------------------------------------------------------------ status callbacks

    def _schedule_callbacks(self, message: dict[str, Any]) -> None:
        """Queue the callbacks of an accepted message; caller holds ``self._lock``."""
        final, error_code = self._undeliverable.get(message["to"], ("delivered", None))
        base = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": message["from_"] or DEFAULT_FROM_NUMBER,
            "MessageSid": message["sid"],
            "SmsSid": message["sid"],
            "To": message["to"],
        }
        if message["messaging_service_sid"]:
            base["MessagingServiceSid"] = message["messaging_service_sid"]
        steps = []
        for status in ("sent", final):
            params = dict(base, MessageStatus=status, SmsStatus=status)
            if status in ("undelivered", "failed"):
                params["ErrorCode"] = str(error_code)
            steps.append(params)
        if self.callback_order == "reverse":
            steps.reverse()
        steps = [step for step in steps for _ in range(self.callback_repeat)]
        chain = _CallbackChain(
            due=time.monotonic() + self.callback_delay,
            seq=next(self._seq),
            url=message["status_callback"],
            message_sid=message["sid"],
            steps=steps,
        )
        heapq.heappush(self._chains, chain)

    def _next_chain(self) -> _CallbackChain | None:
        with self._changed:
            while not self._stopping.is_set():
                now = time.monotonic()
                if self._chains and self._chains[0].due <= now:
                    return heapq.heappop(self._chains)
                wait = self._chains[0].due - now if self._chains else None
                self._changed.wait(wait)
        return None

    def _callback_worker(self) -> None:
        import requests

        with requests.Session() as session:
            while (chain := self._next_chain()) is not None:
                params = chain.steps[chain.index]
                signature = sign(chain.url, params, self.auth_token)
                status: int | None = None
                error: str | None = None
                try:
                    response = session.post(
                        chain.url,
                        data=params,
                        headers={
                            "X-Twilio-Signature": signature,
                            "User-Agent": "TwilioProxy/1.1",
                            "I-Twilio-Idempotency-Token": f"{chain.message_sid}-"
                            f"{params['MessageStatus']}",
                        },
                        timeout=self.callback_timeout,
                    )
                    status = response.status_code
                    response.close()
                except requests.RequestException as exc:
                    error = f"{type(exc).__name__}: {exc}"
                with self._changed:
                    if chain.message_sid not in self._by_sid:  # reset() while in flight
                        continue
                    self._callback_log.append(
                        {
                            "url": chain.url,
                            "params": params,
                            "signature": signature,
                            "status": status,
                            "error": error,
                            "message_sid": chain.message_sid,
                            "sent_at": time.monotonic(),
                        }
                    )
                    message = self._by_sid[chain.message_sid]
                    new = params["MessageStatus"]
                    if _STATUS_RANK[new] > _STATUS_RANK[message["status"]]:
                        message["status"] = new
                        if "ErrorCode" in params:
                            message["error_code"] = int(params["ErrorCode"])
                    chain.index += 1
                    if chain.index < len(chain.steps):
                        chain.due = time.monotonic() + self.callback_delay
                        chain.seq = next(self._seq)
                        heapq.heappush(self._chains, chain)
                    self._changed.notify_all()


def main(argv: list[str] | None = None) -> int:
    """Run a FakeTwilio until SIGTERM/SIGINT; print its base URL on stdout first."""
    parser = argparse.ArgumentParser(prog="python -m tests.fake_twilio", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--account-sid", default=DEFAULT_ACCOUNT_SID)
    parser.add_argument("--auth-token", default=DEFAULT_AUTH_TOKEN)
    parser.add_argument("--callbacks", action="store_true", help="send status callbacks")
    parser.add_argument("--callback-delay", type=float, default=0.05)
    parser.add_argument("--callback-order", choices=("normal", "reverse"), default="normal")
    parser.add_argument("--callback-repeat", type=int, default=1)
    args = parser.parse_args(argv)

    done = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    fake = FakeTwilio(
        args.latency,
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        host=args.host,
        port=args.port,
        callbacks=args.callbacks,
        callback_delay=args.callback_delay,
        callback_order=args.callback_order,
        callback_repeat=args.callback_repeat,
    )
    with fake:
        print(fake.base_url, flush=True)
        while not done.wait(0.5):
            pass
        stats = fake._admin("/_fake/stats")
    print(f"fake_twilio: stopped; {json.dumps(stats)}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
