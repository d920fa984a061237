"""The staff console: one blueprint (blueprint.py), a module per screen.

Importing a screen's module attaches its routes to the blueprint.
"""

from . import dashboard, member_import, members, routes  # noqa: F401  (routes attach to bp)
from .access import init_app
from .blueprint import bp

__all__ = ["bp", "init_app"]
