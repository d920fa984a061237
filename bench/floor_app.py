"""The floor for the inbound benchmark: the least a Twilio webhook can do.

It checks the signature exactly as Chorus must (twilio's RequestValidator against
PUBLIC_BASE_URL + path) and answers a fixed TwiML message. No database, no parsing.
Run under the same gunicorn settings as Chorus: `gunicorn bench.floor_app:app`.
"""

from __future__ import annotations

import os

from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    "<Response><Message>Thanks, your reply was received.</Message></Response>"
)

app = Flask(__name__)
_validator = RequestValidator(os.environ.get("TWILIO_AUTH_TOKEN", ""))
_base = (os.environ.get("PUBLIC_BASE_URL") or "").rstrip("/")


@app.post("/twilio/inbound")
def inbound():
    """403 unless signed; otherwise fixed TwiML."""
    url = (_base or request.host_url.rstrip("/")) + request.path
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature or not _validator.validate(url, request.form, signature):
        abort(403)
    return Response(TWIML, mimetype="application/xml")
