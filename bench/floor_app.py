"""The floor for the inbound benchmark: the least a Twilio webhook can do.

It checks the signature exactly as Chorus must (twilio's RequestValidator against
PUBLIC_BASE_URL + path) and answers a fixed TwiML message. No database, no parsing.
Run under the same gunicorn settings as Chorus: `gunicorn bench.floor_app:app`.

With FLOOR_DATABASE_URL set it also stores each text (one INSERT and a COMMIT through
SQLAlchemy Core, the same engine options Chorus uses): "floor + one write", a
reference for what a single durable write costs on this machine.
"""

from __future__ import annotations

import os

from flask import Flask, Response, abort, request
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, create_engine
from twilio.request_validator import RequestValidator

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    "<Response><Message>Thanks, your reply was received.</Message></Response>"
)

app = Flask(__name__)
_validator = RequestValidator(os.environ.get("TWILIO_AUTH_TOKEN", ""))
_base = (os.environ.get("PUBLIC_BASE_URL") or "").rstrip("/")

TABLE = Table(
    "floor_inbound",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("sid", String(64)),  # not unique: the floor's list of texts is reused
    Column("phone", String(32)),
    Column("body", Text),
)


def engine_for(url: str):
    """An engine with the options Chorus uses (app/__init__.py)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return create_engine(url, pool_size=10, max_overflow=20)
    return create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})


def create_table(url: str) -> None:
    """Create the floor's table (done by the harness before gunicorn starts)."""
    engine = engine_for(url)
    TABLE.metadata.create_all(engine)
    engine.dispose()


_engine = (
    engine_for(os.environ["FLOOR_DATABASE_URL"]) if os.environ.get("FLOOR_DATABASE_URL") else None
)
_insert = TABLE.insert()


@app.post("/twilio/inbound")
def inbound():
    """403 unless signed; otherwise (store the text, then) fixed TwiML."""
    url = (_base or request.host_url.rstrip("/")) + request.path
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not _validator.validate(url, request.form, signature):
        abort(403)
    if _engine is not None:
        form = request.form
        with _engine.begin() as conn:
            conn.execute(
                _insert, {"sid": form["MessageSid"], "phone": form["From"], "body": form["Body"]}
            )
    return Response(TWIML, mimetype="application/xml")
