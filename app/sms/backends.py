"""Where outbound texts go: Twilio's REST API, or the console (development).

A backend's `send` returns the provider's answer or raises `SendError`, whose
`outcome` tells the outbox what to do with the message:

- ``retry``: not sent (429/20429, 5xx, a connection that could not be made, bad
  credentials); try again later with backoff.
- ``in_doubt``: the request went out but no answer came (a read timeout, or the
  connection dropped once it was made); Twilio may have the message. Leave it
  claimed: a status callback reconciles it, or the sweeper asks Twilio's Messages list
  when the claim's lease runs out and re-queues it only if Twilio does not have it.
- ``opted_out``: Twilio says the recipient unsubscribed (21610).
- ``failed``: a permanent refusal (21211 invalid number, 21614 not a mobile, any
  other 4xx): never retried; the code and Twilio's reason are kept for staff.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import requests
from twilio.base import values
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.rest.api.v2010.account.message import MessageInstance
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from ..config import Settings

log = logging.getLogger(__name__)

RETRY, IN_DOUBT, OPTED_OUT, FAILED = "retry", "in_doubt", "opted_out", "failed"

#: Twilio error codes that mean "do not send to this person again".
OPT_OUT_CODES = frozenset({21610})
#: Twilio error codes that are worth retrying whatever their HTTP status.
RETRY_CODES = frozenset({20429, 20003, 20005})


@dataclass(frozen=True)
class Sent:
    """Twilio (or the console) accepted the text: its sid and status."""

    sid: str
    status: str


@dataclass(frozen=True)
class Received:
    """A text a member sent to our number, as Twilio's Messages list shows it."""

    sid: str
    from_: str
    to: str
    body: str
    sent_at: datetime | None


class SendError(Exception):
    """The text was not (or may not have been) accepted; see the module docstring."""

    def __init__(self, outcome: str, code: str | None, reason: str):
        super().__init__(f"{outcome}: {code} {reason}")
        self.outcome = outcome
        self.code = code
        self.reason = reason[:200]


def classify(status: int | None, code: int | None, message: str) -> SendError:
    """Turn a Twilio error answer into a SendError with the right outcome."""
    text = f"Twilio {code or status}: {message}".strip()
    code_text = str(code) if code is not None else (str(status) if status else None)
    if code in OPT_OUT_CODES:
        return SendError(OPTED_OUT, code_text, text)
    if status == 429 or code in RETRY_CODES or (status or 0) >= 500 or status in (401, 403):
        return SendError(RETRY, code_text, text)
    return SendError(FAILED, code_text, text)


def _never_connected(exc: BaseException) -> bool:
    """True when a requests ConnectionError happened before a connection was made (name
    lookup, refused, connect timeout), so nothing can have reached Twilio."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        error = todo.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, NewConnectionError | ConnectTimeoutError):
            return True
        todo += [error.__cause__, error.__context__, getattr(error, "reason", None)]
        todo += [arg for arg in error.args if isinstance(arg, BaseException)]
    return False


class Backend:
    """Sends one text; `sender` names the rate-limit bucket (the From number or service)."""

    name = "backend"
    sender = "default"

    def send(self, to: str, body: str, status_callback: str | None) -> Sent:
        """Hand the text over; raise SendError if it was not accepted."""
        raise NotImplementedError

    def find_accepted(self, to: str, body: str, since: datetime) -> list[str]:
        """Sids of texts with this body that the provider accepted for `to` since `since`.

        Used to reconcile a send interrupted by a crash; raises if the provider
        cannot be asked.
        """
        return []

    def list_received(self, since: datetime) -> list[Received]:
        """Texts members sent to our number since `since`, oldest first; raises SendError
        (retry) when the provider cannot be asked. Nothing to list without a provider."""
        return []

    def close(self) -> None:
        """Close pooled connections."""


class ConsoleBackend(Backend):
    """Development: log that a text went and call it sent, with a local sid (`CONSOLE...`)."""

    name = "console"

    def __init__(self, settings: Settings):
        self.sender = settings.twilio_from or settings.twilio_messaging_service_sid or "console"

    def send(self, to: str, body: str, status_callback: str | None) -> Sent:
        """Log that a text went (never its words); the phone simulator shows it from its row."""
        log.info("SMS to %s (%d characters)", to, len(body))
        return Sent("CONSOLE" + uuid.uuid4().hex, "sent")


class TwilioBackend(Backend):
    """The real twilio client, one per sending thread so each keeps its own connection.

    `per_call=True` makes and closes a client for every text (inline jobs, tests):
    nothing is left open between calls.
    """

    name = "twilio"
    page_size = 1000  # texts per request when reading Twilio's Messages list

    def __init__(self, settings: Settings, timeout: float = 20.0, per_call: bool = False):
        if not (settings.twilio_account_sid and settings.twilio_auth_token):
            raise ValueError("SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        if not (settings.twilio_from or settings.twilio_messaging_service_sid):
            raise ValueError("SMS_BACKEND=twilio needs TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID")
        self.settings = settings
        self.timeout = timeout
        self.per_call = per_call
        self.sender = settings.twilio_messaging_service_sid or settings.twilio_from or ""
        self._local = threading.local()
        self._clients: list[Client] = []
        self._lock = threading.Lock()
        # The client logs every request at INFO; a broadcast would drown the log.
        logging.getLogger("twilio.http_client").setLevel(logging.WARNING)

    def _new_client(self) -> Client:
        http = TwilioHttpClient(pool_connections=True, timeout=self.timeout)
        client = Client(
            self.settings.twilio_account_sid, self.settings.twilio_auth_token, http_client=http
        )
        client.api.base_url = self.settings.twilio_api_base_url
        return client

    def _client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._new_client()
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def send(self, to: str, body: str, status_callback: str | None) -> Sent:
        """POST to Messages.json; classify every failure (see the module docstring)."""
        client = self._new_client() if self.per_call else self._client()
        kwargs: dict[str, str] = {"to": to, "body": body}
        if self.settings.twilio_messaging_service_sid:
            kwargs["messaging_service_sid"] = self.settings.twilio_messaging_service_sid
        else:
            kwargs["from_"] = self.settings.twilio_from or ""
        if status_callback:
            kwargs["status_callback"] = status_callback
        try:
            message = client.messages.create(**kwargs)
        except TwilioRestException as exc:
            raise classify(exc.status, exc.code, exc.msg or "") from None
        except TwilioServiceException as exc:
            raise classify(exc.status, exc.code, exc.detail or exc.title or "") from None
        except requests.ReadTimeout:
            # The request was sent; Twilio may have accepted it. Do not guess.
            raise SendError(IN_DOUBT, None, "no answer from Twilio in time") from None
        except requests.ConnectionError as exc:
            if _never_connected(exc):
                raise SendError(RETRY, None, f"cannot reach Twilio: {type(exc).__name__}") from None
            # Connected, then cut off (reset, closed before the answer): the request may
            # have reached Twilio. Retrying now could send the text twice.
            raise SendError(IN_DOUBT, None, "the connection to Twilio dropped") from None
        except requests.RequestException as exc:
            raise SendError(RETRY, None, f"cannot reach Twilio: {type(exc).__name__}") from None
        finally:
            if self.per_call:
                _close(client)
        # twilio annotates `status` as its Status class of constants; it holds the payload's str.
        return Sent(message.sid or "", cast(str | None, message.status) or "queued")

    def find_accepted(self, to: str, body: str, since: datetime) -> list[str]:
        """Ask Twilio's Messages list (newest first, to this number) for this body."""
        client = self._new_client() if self.per_call else self._client()
        try:
            recent = client.messages.list(to=to, limit=50)
        except (TwilioException, requests.RequestException) as exc:
            # TwilioException covers an answer that is not JSON (an HTML error page).
            raise SendError(RETRY, None, f"cannot list messages: {exc!r}") from None
        finally:
            if self.per_call:
                _close(client)
        return [
            message.sid
            for message in recent
            if message.body == body
            and message.sid
            and (message.date_created is None or message.date_created >= since)
        ]

    def list_received(self, since: datetime) -> list[Received]:
        """Twilio's Messages list, every page, filtered to texts received since `since`.

        Twilio filters `DateSent` by day, so the exact time is applied here. With a
        sender number, only texts to it are asked for; with a Messaging Service, every
        inbound text of the account.
        """
        client = self._new_client() if self.per_call else self._client()
        ours = self.settings.twilio_from and not self.settings.twilio_messaging_service_sid
        try:
            found = client.messages.list(
                to=self.settings.twilio_from if ours else values.unset,
                date_sent_after=since,
                page_size=self.page_size,
            )
        except (TwilioException, requests.RequestException) as exc:
            raise SendError(RETRY, None, f"cannot list messages: {exc!r}") from None
        finally:
            if self.per_call:
                _close(client)
        received = [
            Received(m.sid, m.from_ or "", m.to or "", m.body or "", m.date_sent)
            for m in found
            # twilio types `direction` as its Direction class; the value is a plain string.
            if str(m.direction) == MessageInstance.Direction.INBOUND
            and m.sid
            and (m.date_sent is None or m.date_sent >= since)
        ]
        received.reverse()  # Twilio lists newest first; handle them in the order they came
        return received

    def close(self) -> None:
        """Close every thread's connection pool."""
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            _close(client)
        self._local = threading.local()


def _close(client: Client) -> None:
    session = getattr(client.http_client, "session", None)
    if session is not None:
        session.close()


def make_backend(settings: Settings, timeout: float = 20.0, per_call: bool = False) -> Backend:
    """The backend SMS_BACKEND names."""
    if settings.sms_backend == "twilio":
        return TwilioBackend(settings, timeout=timeout, per_call=per_call)
    return ConsoleBackend(settings)
