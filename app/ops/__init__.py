"""Operations: health and readiness checks, Prometheus metrics, request ids in logs."""

from flask import Blueprint

bp = Blueprint("ops", __name__)

from . import routes  # noqa: E402,F401
