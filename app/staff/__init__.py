"""The staff console: one blueprint (blueprint.py), a module per screen.

Importing a screen's module attaches its routes to the blueprint.
"""

# Each screen's module attaches its routes to bp when imported.
from . import broadcasts, consultations, routes  # noqa: F401
from .access import init_app
from .blueprint import bp

__all__ = ["bp", "init_app"]
