"""Public pages: consultations, the decision register, receipts."""

from .routes import bp

__all__ = ["bp"]
