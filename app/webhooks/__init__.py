"""Twilio webhooks: inbound SMS and delivery status callbacks."""

from . import status  # noqa: F401  (attaches its route to bp)
from .routes import bp

__all__ = ["bp"]
