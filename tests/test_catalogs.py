"""Compiled catalogs: made at start-up, so a deployment without `make` speaks every language."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests
from babel.support import Translations
from twilio.request_validator import RequestValidator

from app import catalogs
from app.config import LANGUAGES, ROOT

from .conftest import _free_port
from .process_helpers import wait_until_up


def _copy_catalogs(tmp_path: Path, languages: tuple[str, ...]) -> Path:
    source = tmp_path / "translations"
    for language in languages:
        folder = source / language / "LC_MESSAGES"
        folder.mkdir(parents=True)
        shutil.copyfile(
            ROOT / "translations" / language / "LC_MESSAGES" / "messages.po", folder / "messages.po"
        )
    return source


def _arabic(text: str) -> int:
    return sum(unicodedata.bidirectional(ch) == "AL" for ch in text)


def _translate(folder: Path, language: str, message: str) -> str:
    return Translations.load(str(folder), [language]).gettext(message)


def test_missing_catalogs_are_compiled_and_translate(tmp_path):
    """No .mo at all: every language is compiled in place and really translates."""
    source = _copy_catalogs(tmp_path, ("en", "ar", "cy"))
    used = catalogs.ensure_compiled(source, ("en", "ar", "cy"), spare=tmp_path / "spare")
    assert used == source
    for language in ("en", "ar", "cy"):
        assert (source / language / "LC_MESSAGES" / "messages.mo").exists()
    english = _translate(source, "en", "Sign in")
    assert _translate(source, "ar", "Sign in") != english
    assert _arabic(_translate(source, "ar", "Sign in")) > 0


def test_a_catalog_older_than_its_po_is_compiled_again(tmp_path):
    """Edit a .po after compiling: the next start-up compiles that language again."""
    source = _copy_catalogs(tmp_path, ("en", "ar"))
    catalogs.ensure_compiled(source, ("en", "ar"), spare=tmp_path / "spare")
    mo = source / "ar" / "LC_MESSAGES" / "messages.mo"
    en_mo = source / "en" / "LC_MESSAGES" / "messages.mo"
    old = time.time() - 100
    os.utime(mo, (old, old))
    os.utime(en_mo, (old, old))
    po = source / "ar" / "LC_MESSAGES" / "messages.po"
    edited = po.read_text(encoding="utf-8").replace(
        'msgid "Sign in"\nmsgstr "', 'msgid "Sign in"\nmsgstr "EDITED '
    )
    po.write_text(edited, encoding="utf-8")
    catalogs.ensure_compiled(source, ("en", "ar"), spare=tmp_path / "spare")
    assert _translate(source, "ar", "Sign in").startswith("EDITED ")
    assert en_mo.stat().st_mtime == pytest.approx(old)  # the fresh one was left alone


def test_a_language_without_any_catalog_stops_start_up(tmp_path):
    """A supported language with neither .po nor .mo: a clear error naming it."""
    source = _copy_catalogs(tmp_path, ("en",))
    with pytest.raises(catalogs.CatalogError, match=r"no translation catalog for ar"):
        catalogs.ensure_compiled(source, ("en", "ar"), spare=tmp_path / "spare")


def test_a_broken_po_stops_start_up_naming_it(tmp_path):
    """A .po that cannot be compiled: a clear error naming the language and the file."""
    source = _copy_catalogs(tmp_path, ("en",))
    (source / "en" / "LC_MESSAGES" / "messages.po").write_bytes(b'msgid "x\nmsgstr \xff\xfe')
    with pytest.raises(catalogs.CatalogError, match=r"the en catalog .* could not be compiled"):
        catalogs.ensure_compiled(source, ("en",), spare=tmp_path / "spare")


def test_read_only_code_compiles_into_the_spare_folder(tmp_path, monkeypatch):
    """Where translations/ cannot be written, every catalog is compiled under the spare one."""
    source = _copy_catalogs(tmp_path, ("en", "ar"))
    monkeypatch.setattr(catalogs.os, "access", lambda *_args, **_kw: False)
    used = catalogs.ensure_compiled(source, ("en", "ar"), spare=tmp_path / "spare")
    assert used == tmp_path / "spare"
    assert not (source / "ar" / "LC_MESSAGES" / "messages.mo").exists()
    assert _arabic(_translate(used, "ar", "Sign in")) > 0


# -- The README's production steps, from a fresh clone, without make -----------------------


def _fresh_clone(target: Path) -> None:
    """What `git clone` gives: the tracked files as they are in this working tree."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        path = ROOT / name.decode()
        if path.is_file():
            (target / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / name.decode())


def _twiml_body(response: requests.Response) -> str:
    assert response.status_code == 200, response.text
    message = ET.fromstring(response.text).find("Message")
    assert message is not None, response.text
    return "".join(message.itertext())


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(),
    reason="needs a git checkout to clone from",
)
def test_production_steps_without_make_answer_in_arabic(tmp_path):
    """Fresh clone, `db upgrade`, gunicorn: an Arabic-speaking member is answered in Arabic."""
    clone = tmp_path / "fresh"
    _fresh_clone(clone)
    assert not list(clone.glob("translations/*/LC_MESSAGES/*.mo"))  # git ignores them

    port = _free_port()
    token = "prod-test-auth-token"
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "CHORUS_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'chorus.sqlite3'}",
        SECRET_KEY="prod-test-secret",
        PUBLIC_BASE_URL=base,
        SMS_BACKEND="twilio",
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_AUTH_TOKEN=token,
        TWILIO_FROM="+447700100200",
        TWILIO_API_BASE_URL="http://127.0.0.1:9",
        QUIET_HOURS="",
    )
    env.pop("REDIS_URL", None)

    def flask(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", *args],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    flask("db", "upgrade")
    assert (clone / "translations/ar/LC_MESSAGES/messages.mo").exists()
    api_token = flask("api-token", "create", "ops").strip().splitlines()[-1]

    log = tmp_path / "gunicorn.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "wsgi:app", "-b", f"127.0.0.1:{port}", "-w", "1"],
            cwd=clone,
            env=env,
            stdout=sink,
            stderr=sink,
        )
    try:
        wait_until_up(f"{base}/healthz", server, log.read_text)

        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {api_token}"
        phone = "+447400123456"
        made = api.post(f"{base}/api/v1/members", json={"phone": phone, "language": "ar"})
        assert made.status_code == 201, made.text
        consultation = {
            "code": "P12",
            "kind": "yes_no",
            "title": {"en": "Garden", "ar": "الحديقة"},
            "summary": {"en": "Open the garden on Sundays?", "ar": "فتح الحديقة أيام الأحد؟"},
        }
        assert api.post(f"{base}/api/v1/consultations", json=consultation).status_code == 201
        assert api.post(f"{base}/api/v1/consultations/P12/open").status_code == 200

        validator = RequestValidator(token)
        url = f"{base}/twilio/inbound"

        def text(body: str, sid: str) -> str:
            params = {
                "MessageSid": sid,
                "AccountSid": env["TWILIO_ACCOUNT_SID"],
                "From": phone,
                "To": env["TWILIO_FROM"],
                "Body": body,
                "NumMedia": "0",
            }
            signature = validator.compute_signature(url, params)
            return _twiml_body(
                requests.post(url, data=params, headers={"X-Twilio-Signature": signature})
            )

        for body, sid in (("yes", "SM" + "1" * 32), ("HELP", "SM" + "2" * 32)):
            reply = text(body, sid)
            letters = [ch for ch in reply if unicodedata.bidirectional(ch) in {"L", "AL", "R"}]
            # Mostly Arabic script: codes (P12) and keywords (STOP) are the only Latin.
            assert _arabic(reply) > len(letters) / 2, f"{body!r} answered: {reply!r}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_every_supported_language_has_a_catalog_in_the_repository():
    """The .po files ship with the code: one per supported language."""
    for language in LANGUAGES:
        assert (ROOT / "translations" / language / "LC_MESSAGES" / "messages.po").exists()
