"""The OpenAPI 3 document for /api/v1. A test checks it against the real routes."""

from __future__ import annotations

from typing import Any

LANG_TEXT = {
    "type": "object",
    "description": "Text per language code (en, cy, es, fr, pt, pl, ro, ar, ur, bn).",
    "additionalProperties": {"type": "string"},
    "example": {"en": "Open the garden on Sundays?"},
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    """Error responses for an authenticated route: 401 plus `codes`."""
    return {str(c): {"$ref": f"#/components/responses/E{c}"} for c in sorted({401, *codes})}


CODE_PARAM = {
    "name": "code",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z]{1,3}[0-9]{1,4}$"},
    "example": "P12",
}

PATHS: dict[str, Any] = {
    "/api/v1/openapi.json": {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3 document"}},
        }
    },
    "/api/v1/members": {
        "post": {
            "summary": "Add a member",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("MemberIn")}},
            },
            "responses": {"201": _json(_ref("Member"), "Created")} | _errors(409, 422),
        }
    },
    "/api/v1/members/{phone}": {
        "get": {
            "summary": "A member by phone number",
            "parameters": [
                {
                    "name": "phone",
                    "in": "path",
                    "required": True,
                    "description": "E.164, URL-encoded (%2B447400123456)",
                    "schema": {"type": "string"},
                }
            ],
            "responses": {"200": _json(_ref("Member"), "The member")} | _errors(404),
        }
    },
    "/api/v1/consultations": {
        "post": {
            "summary": "Draft a consultation",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("ConsultationIn")}},
            },
            "responses": {"201": _json(_ref("ConsultationStatus"), "Created as a draft")}
            | _errors(409, 422),
        }
    },
    "/api/v1/consultations/{code}": {
        "get": {
            "summary": "A consultation",
            "parameters": [CODE_PARAM],
            "responses": {"200": _json({"type": "object"}, "The consultation")} | _errors(404),
        }
    },
    "/api/v1/consultations/{code}/open": {
        "post": {
            "summary": "Open a draft for votes",
            "parameters": [CODE_PARAM],
            "responses": {"200": _json(_ref("ConsultationStatus"), "Opened")} | _errors(404, 409),
        }
    },
    "/api/v1/consultations/{code}/close": {
        "post": {
            "summary": "Close an open consultation",
            "parameters": [CODE_PARAM],
            "responses": {"200": _json(_ref("ConsultationStatus"), "Closed")} | _errors(404, 409),
        }
    },
    "/api/v1/consultations/{code}/results": {
        "get": {
            "summary": "Tally, comments and participants",
            "parameters": [CODE_PARAM],
            "responses": {"200": _json(_ref("Results"), "Current results")} | _errors(404),
        }
    },
}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "MemberIn": {
        "type": "object",
        "required": ["phone"],
        "properties": {
            "phone": {"type": "string", "example": "07400 123456"},
            "name": {"type": "string"},
            "language": {
                "type": "string",
                "enum": ["en", "cy", "es", "fr", "pt", "pl", "ro", "ar", "ur", "bn"],
            },
            "groups": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Member": {
        "type": "object",
        "required": ["id", "phone", "language", "groups", "status"],
        "properties": {
            "id": {"type": "integer"},
            "phone": {"type": "string", "description": "E.164"},
            "name": {"type": "string", "nullable": True},
            "language": {"type": "string"},
            "groups": {"type": "array", "items": {"type": "string"}},
            "status": {"type": "string", "enum": ["active", "opted_out", "pending"]},
            "consent": {"type": "object"},
        },
    },
    "ConsultationIn": {
        "type": "object",
        "required": ["code", "kind", "title", "summary"],
        "properties": {
            "code": {"type": "string", "pattern": "^[A-Za-z]{1,3}[0-9]{1,4}$"},
            "kind": {"type": "string", "enum": ["yes_no", "choice", "open"]},
            "title": LANG_TEXT,
            "summary": LANG_TEXT,
            "body": LANG_TEXT,
            "options": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["label"],
                    "properties": {"label": LANG_TEXT},
                },
            },
            "audience": {"type": "array", "items": {"type": "string"}},
            "closes_at": {"type": "string", "format": "date-time"},
            "remind_at": {"type": "string", "format": "date-time"},
            "results_public": {"type": "boolean", "default": True},
            "decision": {
                "type": "object",
                "properties": {
                    "by": {"type": "string", "enum": ["community", "staff", "allies"]},
                    "quorum": {"type": "integer", "minimum": 0},
                    "threshold": {"type": "number", "minimum": 0, "maximum": 1},
                },
            },
        },
    },
    "ConsultationStatus": {
        "type": "object",
        "required": ["code", "status"],
        "properties": {
            "code": {"type": "string"},
            "status": {"type": "string", "enum": ["draft", "open", "closed", "decided"]},
        },
    },
    "Results": {
        "type": "object",
        "required": ["code", "status", "votes", "comments", "participants"],
        "properties": {
            "code": {"type": "string"},
            "status": {"type": "string"},
            "votes": {"type": "object", "additionalProperties": {"type": "integer"}},
            "comments": {"type": "integer"},
            "participants": {"type": "integer"},
        },
    },
}


def document() -> dict[str, Any]:
    """The whole OpenAPI 3.0 document."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Chorus staff API",
            "version": "1",
            "description": "Members, consultations, broadcasts and outcomes. "
            'Errors are JSON {"error": "..."}.',
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": SCHEMAS,
            "responses": {
                f"E{c}": _json(_ref("Error"), d)
                for c, d in (
                    (401, "Missing or invalid bearer token"),
                    (404, "Not found"),
                    (409, "Conflicts with the current state"),
                    (422, "Invalid input"),
                )
            },
        },
    }
