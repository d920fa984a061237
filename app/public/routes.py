"""Public page routes."""

from flask import render_template

from . import bp


@bp.get("/")
def home():
    """The front page: where to go next (the register, the phone simulator)."""
    return render_template("home.html")
