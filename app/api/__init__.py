"""The staff JSON API under /api/v1 (see shared/PRODUCT.md)."""

from .routes import bp

__all__ = ["bp"]
