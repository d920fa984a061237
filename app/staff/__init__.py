"""The staff console, including the phone simulator."""

from .routes import bp

__all__ = ["bp"]
