"""Operations: health and readiness checks, Prometheus metrics (logs: app/logs.py)."""

from .routes import bp

__all__ = ["bp"]
