"""The staff JSON API under /api/v1 (see shared/PRODUCT.md).

The routes are declared on a flask-smorest Blueprint with one marshmallow schema per
payload (app/api/schemas.py); `init_app` gives each app its own OpenAPI document built
from those declarations.
"""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

from . import routes  # noqa: F401  (the routes attach themselves to bp)
from .blueprint import bp
from .schemas import ErrorSchema


class ChorusApi(Api):
    """flask-smorest's Api documenting our error body, serving no pages of its own."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        # Api would answer every HTTP error of the whole app (staff pages, public pages)
        # with its own JSON; the blueprint's handlers answer under /api/ only.
        return None


SPEC = {
    "title": "Chorus staff API",
    "version": "1",
    "openapi_version": "3.1.0",
    "info": {
        "description": "Members, consultations, broadcasts and outcomes. "
        'Errors are JSON {"error": "..."} with 401, 404, 409 or 422.'
    },
    "servers": [{"url": "/"}],
    "security": [{"bearer": []}],
}


def init_app(app: Flask) -> ChorusApi:
    """Register the API blueprint on `app` and build its OpenAPI document."""
    api = ChorusApi(spec_kwargs=SPEC)
    # No OPENAPI_URL_PREFIX: the document is served by routes.openapi, inside /api/v1.
    api.init_app(app)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    api.register_blueprint(bp)
    app.extensions["chorus-api"] = api
    return api
