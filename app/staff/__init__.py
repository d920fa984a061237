"""The staff console: one blueprint (blueprint.py), a module per screen.

Importing a screen's module attaches its routes to the blueprint.
"""

from . import (  # noqa: F401  (each screen's routes attach themselves to bp)
    admin,
    assisted,
    audit_log,
    broadcasts,
    consultations,
    dashboard,
    inbox,
    member_import,
    members,
    outcome,
    results,
    routes,
    translations,
)
from .access import init_app
from .blueprint import bp

__all__ = ["bp", "init_app"]
