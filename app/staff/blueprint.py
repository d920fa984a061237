"""The staff blueprint, apart from the package so each screen's module imports it
without a cycle. `access.enforce` runs before every request to it."""

from __future__ import annotations

from flask import Blueprint

from .access import enforce

bp = Blueprint("staff", __name__, url_prefix="/staff")
bp.before_request(enforce)
