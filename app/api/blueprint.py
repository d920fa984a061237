"""The API blueprint, apart from the package so routes import it without a cycle."""

from __future__ import annotations

from flask_smorest import Blueprint as SchemaBlueprint

from .parser import ChorusParser


class Blueprint(SchemaBlueprint):
    """A flask-smorest Blueprint whose bad bodies are 422 `{"error": ...}`."""

    ARGUMENTS_PARSER = ChorusParser()


bp = Blueprint("api", __name__, url_prefix="/api/v1", description="The staff JSON API")
