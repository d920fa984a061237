"""Configuration from environment variables (a `.env` file is read in development).

The names and defaults are the external interface documented in shared/PRODUCT.md.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import MISSING, dataclass, fields
from datetime import time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from flask import current_app

from .sms.segments import is_gsm7

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("en", "cy", "es", "fr", "pt", "pl", "ro", "ar", "ur", "bn")
RTL_LANGUAGES = frozenset({"ar", "ur"})


def _seconds(env: dict[str, str], name: str, default: float) -> float:
    """A positive number of seconds from `env`, or `default` when unset."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not value > 0:
        raise ValueError(f"{name} must be more than 0 seconds")
    return value


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def parse_quiet_hours(value: str | None) -> tuple[time, time] | None:
    """Read `HH:MM-HH:MM` into (start, end); empty turns quiet hours off."""
    if value is None:
        value = "21:00-08:00"
    value = value.strip()
    if not value:
        return None
    match = re.fullmatch(r"(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})", value)
    if not match:
        raise ValueError(f"QUIET_HOURS must look like 21:00-08:00, not {value!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return time(h1, m1), time(h2, m2)


def instance_secret(instance_path: Path) -> str:
    """Return the SECRET_KEY kept in `instance/`, generating it on first run."""
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


@dataclass(frozen=True)
class Settings:
    """Everything Chorus reads from its environment, resolved once at start-up.

    The app holds one, as `app.config["CHORUS"]`; code reads it through `settings()`
    or takes it as an argument named `settings`. A test changes a field with
    `dataclasses.replace`.
    """

    database_url: str
    redis_url: str | None
    secret_key: str
    public_base_url: str | None
    sms_backend: str
    twilio_account_sid: str | None
    twilio_auth_token: str | None
    twilio_from: str | None
    twilio_messaging_service_sid: str | None
    twilio_api_base_url: str
    sms_max_per_second: float
    default_language: str
    default_region: str
    timezone: str
    quiet_hours: tuple[time, time] | None
    open_joining: bool
    org_name: str
    secret_key_fallbacks: tuple[str, ...]
    in_doubt_give_up: float
    log_format: str
    metrics_token: str | None
    simulator_open: bool
    sms_price_per_segment: Decimal
    sms_price_currency: str
    link_texts_per_day: int
    message_retention_days: int
    # The tunables (the fields with a default below), each read from CHORUS_<NAME>,
    # e.g. CHORUS_OUTBOX_SEND_THREADS; see docs/broadcasts.md.
    # Threads sending concurrently in one worker process.
    outbox_send_threads: int = 32
    # How long a claim ('sending') may last before the sweeper takes it back.
    outbox_lease_seconds: float = 60.0
    # Timeout of one Twilio call; must stay well below the lease.
    outbox_http_timeout: float = 20.0
    # Backoff after a retryable failure: base * 2**(attempt-1), capped, with jitter.
    outbox_retry_base: float = 2.0
    outbox_retry_cap: float = 600.0
    outbox_max_attempts: int = 10
    # A batch job sends for at most this long, then yields to the high queue.
    outbox_slice_seconds: float = 3.0
    # Batches of one broadcast queued or running at once.
    outbox_batch_window: int = 16
    # How long a running batch's lease lasts without renewal (a killed worker's batch
    # is free again after this).
    outbox_batch_lease: float = 15.0
    # A sending process says it is alive every quarter of this, for this long; its
    # claims are taken back once two looks half of this apart both miss it.
    outbox_heartbeat_ttl: float = 6.0
    # Seconds between sweeps.
    sweep_interval: float = 5.0
    # Seconds between looks at Twilio's Messages list for texts Chorus missed, and how
    # recent a text may be and still be left to its webhook (app.domain.inbound_recovery).
    inbound_recovery_interval: float = 60.0
    inbound_recovery_grace: float = 120.0
    # Seconds between counts of texts by direction and status for /metrics (a scan of
    # the whole message table, so not on every scrape; app/domain/counts.py).
    metrics_count_interval: float = 30.0

    @classmethod
    def from_env(
        cls, env: dict[str, str] | None = None, instance_path: Path | None = None
    ) -> Settings:
        """Build settings from `env` (default: os.environ)."""
        env = dict(os.environ if env is None else env)
        instance_path = instance_path or ROOT / "instance"
        db = env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'chorus.sqlite3'}"
        if db.startswith("postgres://"):  # Heroku-style URLs
            db = "postgresql://" + db[len("postgres://") :]
        if db.startswith("postgresql://"):
            db = "postgresql+psycopg://" + db[len("postgresql://") :]
        sid = env.get("TWILIO_ACCOUNT_SID") or None
        token = env.get("TWILIO_AUTH_TOKEN") or None
        backend = (env.get("SMS_BACKEND") or ("twilio" if sid and token else "console")).lower()
        if backend not in {"twilio", "console"}:
            raise ValueError(f"SMS_BACKEND must be twilio or console, not {backend!r}")
        org_name = (env.get("ORG_NAME") or "Chorus").strip()
        # Texts name the organisation; the one-segment budget holds only for a short GSM name.
        if len(org_name) > 20 or not is_gsm7(org_name):
            raise ValueError("ORG_NAME must be at most 20 plain (GSM-7) characters")
        public_base_url = (env.get("PUBLIC_BASE_URL") or "").rstrip("/") or None
        if backend == "twilio":
            # Twilio signs webhooks for the public URL, and every host must share one key
            # (a key generated per host would break links and sessions between them).
            missing = [
                name for name in ("PUBLIC_BASE_URL", "SECRET_KEY") if not env.get(name, "").strip()
            ]
            if missing:
                raise ValueError(
                    f"SMS_BACKEND=twilio needs {' and '.join(missing)} set in the environment"
                )
        log_format = (env.get("LOG_FORMAT") or "text").strip().lower()
        if log_format not in {"text", "json"}:
            raise ValueError(f"LOG_FORMAT must be text or json, not {log_format!r}")
        language = env.get("DEFAULT_LANGUAGE") or "en"
        if language not in LANGUAGES:
            raise ValueError(f"DEFAULT_LANGUAGE must be one of {', '.join(LANGUAGES)}")
        return cls(
            database_url=db,
            redis_url=env.get("REDIS_URL") or None,
            secret_key=env.get("SECRET_KEY") or instance_secret(instance_path),
            public_base_url=public_base_url,
            sms_backend=backend,
            twilio_account_sid=sid,
            twilio_auth_token=token,
            twilio_from=env.get("TWILIO_FROM") or None,
            twilio_messaging_service_sid=env.get("TWILIO_MESSAGING_SERVICE_SID") or None,
            twilio_api_base_url=(env.get("TWILIO_API_BASE_URL") or "https://api.twilio.com").rstrip(
                "/"
            ),
            sms_max_per_second=float(env.get("SMS_MAX_PER_SECOND") or 10),
            default_language=language,
            default_region=(env.get("DEFAULT_REGION") or "GB").upper(),
            timezone=env.get("TIMEZONE") or "Europe/London",
            quiet_hours=parse_quiet_hours(env.get("QUIET_HOURS")),
            open_joining=_bool(env.get("OPEN_JOINING"), True),
            org_name=org_name,
            secret_key_fallbacks=tuple(
                key.strip()
                for key in (env.get("SECRET_KEY_FALLBACKS") or "").split(",")
                if key.strip()
            ),
            log_format=log_format,
            in_doubt_give_up=_seconds(env, "IN_DOUBT_GIVE_UP", 3600),
            metrics_token=(env.get("METRICS_TOKEN") or "").strip() or None,
            simulator_open=_bool(env.get("SIMULATOR_OPEN"), False),
            sms_price_per_segment=_price(env.get("SMS_PRICE_PER_SEGMENT")),
            sms_price_currency=(env.get("SMS_PRICE_CURRENCY") or "GBP").strip().upper(),
            link_texts_per_day=_whole(env, "LINK_TEXTS_PER_DAY", 500),
            message_retention_days=_whole(env, "MESSAGE_RETENTION_DAYS", 365),
            **tunables(env),
        )


def _price(raw: str | None) -> Decimal:
    """SMS_PRICE_PER_SEGMENT: a non-negative decimal (default 0.04)."""
    try:
        price = Decimal((raw or "0.04").strip())
    except InvalidOperation:
        raise ValueError(f"SMS_PRICE_PER_SEGMENT must be a number, not {raw!r}") from None
    if not price.is_finite() or price < 0:
        raise ValueError(f"SMS_PRICE_PER_SEGMENT must be a number of 0 or more, not {raw!r}")
    return price


def _whole(env: dict[str, str], name: str, default: int) -> int:
    """A whole number of at least 1 from `env[name]`, or `default`."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a whole number of 1 or more, not {raw!r}")
    return int(raw)


def tunables(env: dict[str, str]) -> dict[str, Any]:
    """The tunables set in `env` (CHORUS_OUTBOX_SEND_THREADS=8 and so on), typed."""
    found: dict[str, Any] = {}
    for field in fields(Settings):
        if field.default is MISSING:
            continue  # not a tunable
        value = (env.get("CHORUS_" + field.name.upper()) or "").strip()
        if value:
            number = float(value)
            # Field types are strings here (from __future__ import annotations).
            found[field.name] = int(number) if field.type == "int" else number
    return found


def settings() -> Settings:
    """The current app's Settings (needs an app context)."""
    found: Settings = current_app.config["CHORUS"]
    return found
