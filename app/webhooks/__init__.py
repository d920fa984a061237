"""Twilio webhooks: inbound SMS and delivery status callbacks."""

from flask import Blueprint

bp = Blueprint("webhooks", __name__, url_prefix="/twilio")

from . import routes, status  # noqa: E402,F401
