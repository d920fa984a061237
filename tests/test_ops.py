"""Operations: /healthz, /readyz, /metrics, request ids and JSON logs, gunicorn.conf.py."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys

import pytest
import requests
from itsdangerous import BadSignature

from app import create_app
from app.config import ROOT
from app.worker import sweep

from .conftest import _free_port, make_settings
from .inbound_helpers import inbound_params
from .process_helpers import wait_until_up

DEAD_DATABASE = "postgresql://nobody@127.0.0.1:1/none"


@pytest.fixture
def drop_log_handler():
    """Afterwards, remove Chorus's log handler (it writes to this test's captured stderr)."""
    yield
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "chorus", False)]


def _app_without_database():
    """An app whose database refuses connections (not from make_app: it cleans its database)."""
    return create_app(make_settings(DATABASE_URL=DEAD_DATABASE), TESTING=True, JOBS_EAGER=True)


def test_healthz_is_up_without_touching_the_database():
    """Liveness stays 200 when the database is down (a restart would not help)."""
    app = _app_without_database()
    response = app.test_client().get("/healthz")
    assert (response.status_code, response.json) == (200, {"status": "ok"})


def test_readyz_is_ready_on_a_migrated_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json["checks"]["database"] == "ok"
    assert response.json["checks"]["migrations"] == "ok"


def test_readyz_checks_redis_when_it_is_configured(make_app, rq_setup):
    env, config = rq_setup
    response = make_app(config, **env).test_client().get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json["checks"]["redis"] == "ok"


def test_readyz_names_an_unreachable_database_quickly():
    app = _app_without_database()
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"].startswith("unreachable")


def test_readyz_names_an_unreachable_redis(make_app):
    response = make_app(REDIS_URL="redis://127.0.0.1:1/0").test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["redis"].startswith("unreachable")
    assert response.json["checks"]["database"] == "ok"


def test_readyz_says_when_migrations_are_behind_the_code(app, client):
    app.extensions["chorus_migration_head"] = "9999"  # as if the code had a newer migration
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "run db upgrade" in response.json["checks"]["migrations"]


def _sample(page: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "")
    match = re.search(rf"^{pattern} (\S+)$", page, re.MULTILINE)
    return float(match.group(1)) if match else None


def test_metrics_count_texts_and_time_webhooks(app, client, signed_post):
    before = client.get("/metrics").get_data(as_text=True)
    assert _sample(before, "chorus_texts", direction="in", status="received") is None
    response = signed_post("/twilio/inbound", inbound_params("+447400123456", "hello"))
    assert response.status_code == 200

    # Texts are counted by the sweeper, not on each scrape (a scan of the whole table).
    page = client.get("/metrics").get_data(as_text=True)
    assert _sample(page, "chorus_texts", direction="in", status="received") is None
    assert _sample(page, "chorus_texts_counted_timestamp_seconds") == 0
    with app.app_context():
        assert sweep()["counted"] >= 1
        assert sweep()["counted"] is None  # once per METRICS_COUNT_INTERVAL
    page = client.get("/metrics").get_data(as_text=True)
    assert _sample(page, "chorus_texts", direction="in", status="received") == 1
    assert _sample(page, "chorus_texts_counted_timestamp_seconds") > 0
    assert _sample(page, "chorus_webhook_seconds_count", endpoint="webhooks.inbound") >= 1
    assert _sample(page, "chorus_texts_in_doubt") == 0
    assert _sample(page, "chorus_send_rate_segments_per_second") is not None


def test_metrics_need_the_token_when_one_is_set(make_app):
    client = make_app(METRICS_TOKEN="s3cret").test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200 and "chorus_texts_in_doubt" in ok.get_data(as_text=True)


def test_request_ids_are_echoed_and_insane_ones_replaced(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == (
        "abc-123"
    )
    made = client.get("/healthz", headers={"X-Request-ID": "bad id <script>"}).headers[
        "X-Request-ID"
    ]
    assert re.fullmatch(r"[0-9a-f]{32}", made)


def test_json_logs_carry_the_request_id(make_app, capsys, drop_log_handler):
    app = make_app(LOG_FORMAT="json")

    @app.get("/_log_something")
    def _log_something():
        logging.getLogger("chorus.test").info("texted %s", "P12")
        return "ok"

    app.test_client().get("/_log_something", headers={"X-Request-ID": "req-42"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    ours = [line for line in lines if line["logger"] == "chorus.test"]
    assert ours and ours[-1]["message"] == "texted P12"
    assert ours[-1]["request_id"] == "req-42" and ours[-1]["level"] == "INFO"


def test_gunicorn_conf_adds_up_metrics_from_every_worker(tmp_path):
    """Two workers, requests spread over them: /metrics shows every webhook timed."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "PROMETHEUS"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'ops.sqlite3'}",
        SECRET_KEY="ops-test",
        SMS_BACKEND="console",
        WEB_CONCURRENCY="2",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
        GUNICORN_ACCESS_LOG="-",
    )
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "histogram_1.db").write_bytes(b"left from a previous run")
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT, env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    log = tmp_path / "gunicorn.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "wsgi:app"],
            cwd=ROOT, env=env, stdout=sink, stderr=sink,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/healthz", server, log.read_text)

        # Unsigned: 403, but timed all the same. New connections spread over both workers
        # (the second may still be booting: keep going until both have answered some).
        def writers() -> set[str]:
            return {p.stem.split("_")[-1] for p in (tmp_path / "metrics").glob("histogram_*.db")}

        sent = 0
        while sent < 40 or (len(writers() - {"1"}) < 2 and sent < 2000):
            assert requests.post(f"{base}/twilio/inbound", data={}).status_code == 403
            sent += 1
        assert len(writers() - {"1"}) == 2, writers()
        assert "1" not in writers()  # the file left from an earlier run was cleared
        page = requests.get(f"{base}/metrics").text
        assert _sample(page, "chorus_webhook_seconds_count", endpoint="webhooks.inbound") == sent
        requests.get(f"{base}/api/v1/members/%2B447400123456")
        server.terminate()
        server.wait(timeout=30)
        access = log.read_text()
        assert "/api/v1/members/%2B44******3456" in access and "7400123456" not in access
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_inbound_answers_503_at_once_when_the_database_is_down():
    """No hang, no 500: Twilio sees 503 and the text stays in its Messages list."""
    from .conftest import AUTH_TOKEN, PUBLIC_BASE_URL
    from .fake_twilio import sign

    client = _app_without_database().test_client()
    params = inbound_params("+447400123456", "yes", "SM" + "9" * 32)
    response = client.post(
        "/twilio/inbound",
        data=params,
        headers={
            "X-Twilio-Signature": sign(PUBLIC_BASE_URL + "/twilio/inbound", params, AUTH_TOKEN)
        },
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "database is unavailable" in response.get_data(as_text=True)


def test_the_api_answers_503_in_its_own_format_when_the_database_is_down():
    client = _app_without_database().test_client()
    response = client.get(
        "/api/v1/members/%2B447400123456", headers={"Authorization": "Bearer chorus_x"}
    )
    assert response.status_code == 503
    assert response.json == {"error": "the database is unavailable; try again shortly"}


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_phone_numbers_are_masked_in_every_log_line(make_app, capsys, log_format, drop_log_handler):
    app = make_app(LOG_FORMAT=log_format)

    @app.get("/_log_a_number")
    def _log_a_number():
        logging.getLogger("chorus.test").info("text from %s", "+447400123456")
        logging.getLogger("chorus.test").info("GET /api/v1/members/%2B447400123456 and +3531234567")
        return "ok"

    app.test_client().get("/_log_a_number")
    err = capsys.readouterr().err
    assert "+44******3456" in err and "%2B44******3456" in err and "+35****4567" in err
    assert "7400123456" not in err and "1234567" not in err


def test_the_console_backend_logs_no_message_bodies(caplog):
    from app.sms.backends import ConsoleBackend

    backend = ConsoleBackend(make_settings(SMS_BACKEND="console"))
    with caplog.at_level(logging.INFO):
        backend.send("+447400123456", "P12: your vote YES is counted", None)
    assert caplog.messages and "YES" not in " ".join(caplog.messages)


def test_sessions_signed_with_a_fallback_key_still_open(make_app):
    """Rotation: the old key in SECRET_KEY_FALLBACKS keeps sessions made with it working."""
    old = make_app(SECRET_KEY="old-key")
    cookie = old.session_interface.get_signing_serializer(old).dumps({"staff": "jo"})
    rotated = make_app(SECRET_KEY="new-key", SECRET_KEY_FALLBACKS="old-key")
    assert rotated.session_interface.get_signing_serializer(rotated).loads(cookie) == {
        "staff": "jo"
    }
    forgotten = make_app(SECRET_KEY="new-key")
    with pytest.raises(BadSignature):
        forgotten.session_interface.get_signing_serializer(forgotten).loads(cookie)


def test_personal_links_outlive_a_new_secret_key(make_app):
    """Links are random tokens looked up in the database, not signatures: a new
    SECRET_KEY leaves every link already texted to members working."""
    from app.domain import links
    from app.extensions import db
    from app.models import Consultation, Member

    with make_app(SECRET_KEY="old-key").app_context():
        member = Member(phone="+447400000007", language="en")
        consultation = Consultation(code="P3", kind="yes_no", status="open")
        db.session.add_all([member, consultation])
        db.session.flush()
        token = links.issue(member.id, consultation.id)
        db.session.commit()
    with make_app(SECRET_KEY="new-key").app_context():
        found = links.find(token)
        assert found is not None and found[1].code == "P3"
