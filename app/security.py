"""Headers every answer carries, and the size of what a request may send.

- Content-Security-Policy: scripts only from this origin (no inline script anywhere;
  the console's one script is a static file), no framing (`frame-ancestors 'none'`),
  forms post only here. Inline styles stay allowed: the pages carry their few rules
  in a <style> block to be one small download on a slow connection.
- nosniff; Referrer-Policy `no-referrer`, so a personal link's token in the address
  never leaks to another site; HSTS when PUBLIC_BASE_URL is https.
- `Cache-Control: no-store` on staff pages and personal pages (a shared computer's
  back button must not show them to the next person).
- MAX_CONTENT_LENGTH: 1 MiB for any request (a route that takes uploads raises its
  own limit); a bigger one gets 413 with a clear answer.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, render_template, request
from flask_babel import gettext
from werkzeug.exceptions import RequestEntityTooLarge

from .config import settings

MAX_REQUEST = 1024 * 1024
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PRIVATE_PREFIXES = ("/staff/", "/v/")


def secure_headers(response: Response) -> Response:
    """Add the security headers to `response`."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    base = settings().public_base_url
    if base and base.startswith("https://"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if request.path.startswith(PRIVATE_PREFIXES):
        headers["Cache-Control"] = "no-store"
    return response


def too_large(error: RequestEntityTooLarge):
    """413 with a clear answer: JSON under /api/, a page elsewhere."""
    message = gettext("That is more than this page accepts. Send something smaller.")
    if request.path.startswith("/api/"):
        response = jsonify({"error": "the request body is too large"})
        response.status_code = 413
        return response
    return render_template("error.html", message=message), 413


def init_app(app: Flask) -> None:
    """Set the request limit and add the headers to every answer."""
    if app.config.get("MAX_CONTENT_LENGTH") is None:  # Flask's default is None: no limit
        app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST
    app.after_request(secure_headers)
    app.register_error_handler(RequestEntityTooLarge, too_large)
