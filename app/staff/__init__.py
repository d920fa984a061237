"""The staff console: one blueprint (blueprint.py), a module per screen.

Importing a screen's module attaches its routes to the blueprint.
"""

from . import (
    admin,  # noqa: F401  (staff and tokens)
    audit_log,  # noqa: F401  (the audit log)
    inbox,  # noqa: F401  (the inbox)
    routes,  # noqa: F401  (the routes attach themselves to bp)
)
from .access import init_app
from .blueprint import bp

__all__ = ["bp", "init_app"]
