"""Configuration from environment variables (a `.env` file is read in development).

The names and defaults are the external interface documented in shared/PRODUCT.md.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import time
from pathlib import Path

from .sms.segments import is_gsm7

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("en", "cy", "es", "fr", "pt", "pl", "ro", "ar", "ur", "bn")
RTL_LANGUAGES = frozenset({"ar", "ur"})


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


@dataclass
class Settings:
    """Everything Chorus reads from its environment, resolved once at start-up."""

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
    secret_key_fallbacks: tuple[str, ...] = ()
    log_format: str = "text"
    metrics_token: str | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, instance_path: Path | None = None):
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
            metrics_token=(env.get("METRICS_TOKEN") or "").strip() or None,
        )
