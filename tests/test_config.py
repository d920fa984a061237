"""Configuration is read from the environment with the documented defaults."""

from __future__ import annotations

from datetime import time

import pytest

from app.config import Settings


def settings(tmp_path, **env):
    return Settings.from_env(env, instance_path=tmp_path)


def test_defaults(tmp_path):
    s = settings(tmp_path)
    assert s.database_url.startswith("sqlite:///") and s.database_url.endswith(".sqlite3")
    assert s.redis_url is None
    assert s.sms_backend == "console"
    assert s.twilio_api_base_url == "https://api.twilio.com"
    assert s.sms_max_per_second == 10
    assert (s.default_language, s.default_region, s.timezone) == ("en", "GB", "Europe/London")
    assert s.quiet_hours == (time(21, 0), time(8, 0))
    assert s.open_joining is True


def test_secret_key_is_generated_once_into_instance(tmp_path):
    first = settings(tmp_path).secret_key
    assert len(first) == 64 and (tmp_path / "secret_key").exists()
    assert settings(tmp_path).secret_key == first
    assert settings(tmp_path, SECRET_KEY="given").secret_key == "given"


TWILIO = {
    "TWILIO_ACCOUNT_SID": "AC1",
    "TWILIO_AUTH_TOKEN": "t",
    "PUBLIC_BASE_URL": "https://chorus.example.org",
    "SECRET_KEY": "one-key-for-every-host",
}


def test_twilio_credentials_switch_the_backend(tmp_path):
    s = settings(tmp_path, **TWILIO)
    assert s.sms_backend == "twilio"
    assert settings(tmp_path, **TWILIO, SMS_BACKEND="console").sms_backend == "console"


@pytest.mark.parametrize(
    "missing", [("PUBLIC_BASE_URL",), ("SECRET_KEY",), ("PUBLIC_BASE_URL", "SECRET_KEY")]
)
def test_twilio_refuses_to_start_without_public_url_and_shared_key(tmp_path, missing):
    """Each host would generate its own key, and signatures need the public URL."""
    env = {k: v for k, v in TWILIO.items() if k not in missing}
    with pytest.raises(ValueError) as refused:
        settings(tmp_path, **env)
    assert (
        str(refused.value)
        == f"SMS_BACKEND=twilio needs {' and '.join(missing)} set in the environment"
    )
    assert not (tmp_path / "secret_key").exists()


def test_console_backend_still_generates_a_key(tmp_path):
    assert len(settings(tmp_path, SMS_BACKEND="console").secret_key) == 64


def test_secret_key_fallbacks_and_ops_settings(tmp_path):
    s = settings(
        tmp_path, SECRET_KEY_FALLBACKS=" old-1, ,old-2 ", LOG_FORMAT="JSON", METRICS_TOKEN="m"
    )
    assert s.secret_key_fallbacks == ("old-1", "old-2")
    assert (s.log_format, s.metrics_token) == ("json", "m")
    defaults = settings(tmp_path)
    assert (defaults.secret_key_fallbacks, defaults.log_format, defaults.metrics_token) == (
        (),
        "text",
        None,
    )


def test_postgres_urls_use_psycopg3(tmp_path):
    assert (
        settings(tmp_path, DATABASE_URL="postgres://u@h/db").database_url
        == "postgresql+psycopg://u@h/db"
    )


@pytest.mark.parametrize(
    "env",
    [
        {"QUIET_HOURS": "late"},
        {"SMS_BACKEND": "carrier-pigeon"},
        {"DEFAULT_LANGUAGE": "de"},
        {"ORG_NAME": "A" * 21},
        {"ORG_NAME": "Gŵyl"},
        {"LOG_FORMAT": "xml"},
    ],
)
def test_bad_settings_are_refused_clearly(tmp_path, env):
    with pytest.raises(ValueError):
        settings(tmp_path, **env)


def test_empty_quiet_hours_turns_them_off(tmp_path):
    assert settings(tmp_path, QUIET_HOURS="").quiet_hours is None
    assert settings(tmp_path, OPEN_JOINING="false").open_joining is False


def test_tunables_are_read_from_chorus_variables_with_their_defaults(tmp_path):
    s = settings(tmp_path)
    assert (s.outbox_send_threads, s.outbox_lease_seconds, s.outbox_max_attempts) == (32, 60, 10)
    assert (s.outbox_retry_base, s.outbox_batch_window, s.sweep_interval) == (2.0, 16, 5.0)
    tuned = settings(
        tmp_path,
        CHORUS_OUTBOX_SEND_THREADS="8",
        CHORUS_OUTBOX_RETRY_BASE="0.5",
        CHORUS_SWEEP_INTERVAL="1",
        CHORUS_OUTBOX_MAX_ATTEMPTS="",
    )
    assert tuned.outbox_send_threads == 8 and isinstance(tuned.outbox_send_threads, int)
    assert (tuned.outbox_retry_base, tuned.sweep_interval) == (0.5, 1.0)
    assert tuned.outbox_max_attempts == 10  # empty: the default
