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

BROADCAST_ID_PARAM = {
    "name": "broadcast_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer"},
    "example": 1,
}

PATHS.update(
    {
        "/api/v1/consultations/{code}/broadcast": {
            "post": {
                "summary": "Text the summary to the audience, now or at a time",
                "description": "Answers at once with the number of members who will be "
                "texted (active members of the audience); the texts go out in the "
                "background at SMS_MAX_PER_SECOND segments per second per sender, never "
                "during QUIET_HOURS. Each member gets the summary and how to reply in "
                "their language, or in DEFAULT_LANGUAGE where the summary has no "
                "translation. Refused (422) when a text would cost more than the segment "
                "budget: see the preview. Only an open consultation can be broadcast (409).",
                "parameters": [CODE_PARAM],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": _ref("BroadcastIn")}},
                },
                "responses": {"202": _json(_ref("BroadcastAccepted"), "Accepted")}
                | _errors(404, 409, 422),
            }
        },
        "/api/v1/consultations/{code}/broadcast/preview": {
            "get": {
                "summary": "What a broadcast would send, per language, and what it costs",
                "parameters": [
                    CODE_PARAM,
                    {
                        "name": "kind",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "string",
                            "enum": ["summary", "reminder"],
                            "default": "summary",
                        },
                    },
                ],
                "responses": {"200": _json(_ref("BroadcastPreview"), "The preview")}
                | _errors(404, 422),
            }
        },
        "/api/v1/consultations/{code}/remind": {
            "post": {
                "summary": "Remind the audience members who have not replied yet",
                "parameters": [CODE_PARAM],
                "responses": {"202": _json(_ref("BroadcastAccepted"), "Accepted")}
                | _errors(404, 409, 422),
            }
        },
        "/api/v1/consultations/{code}/outcome": {
            "post": {
                "summary": "Record what was decided; with notify, text every participant",
                "description": "An open consultation is closed first; a draft (or a "
                "consultation already decided) is refused with 409. With notify, every "
                "active member who voted or commented is texted the outcome in their "
                "language (DEFAULT_LANGUAGE where it has no translation).",
                "parameters": [CODE_PARAM],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("OutcomeIn")}},
                },
                "responses": {"200": _json(_ref("OutcomeRecorded"), "Decided")}
                | _errors(404, 409, 422),
            }
        },
        "/api/v1/broadcasts/{broadcast_id}": {
            "get": {
                "summary": "A broadcast's status and counts",
                "parameters": [BROADCAST_ID_PARAM],
                "responses": {"200": _json(_ref("Broadcast"), "The broadcast")} | _errors(404),
            }
        },
        "/api/v1/broadcasts/{broadcast_id}/pause": {
            "post": {
                "summary": "Pause a scheduled or sending broadcast",
                "parameters": [BROADCAST_ID_PARAM],
                "responses": {"200": _json(_ref("Broadcast"), "Paused")} | _errors(404, 409),
            }
        },
        "/api/v1/broadcasts/{broadcast_id}/resume": {
            "post": {
                "summary": "Resume a paused broadcast",
                "parameters": [BROADCAST_ID_PARAM],
                "responses": {"200": _json(_ref("Broadcast"), "Resumed")} | _errors(404, 409),
            }
        },
        "/api/v1/broadcasts/{broadcast_id}/cancel": {
            "post": {
                "summary": "Cancel a broadcast; texts not yet sent are skipped",
                "parameters": [BROADCAST_ID_PARAM],
                "responses": {"200": _json(_ref("Broadcast"), "Cancelled")} | _errors(404, 409),
            }
        },
    }
)

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
                    "quorum": {"type": "integer", "minimum": 0, "maximum": 1000000},
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


SCHEMAS.update(
    {
        "BroadcastIn": {
            "type": "object",
            "additionalProperties": False,  # any other field is refused (422)
            "properties": {
                "at": {
                    "type": "string",
                    "format": "date-time",
                    "description": "Send then (status scheduled) instead of now; a time "
                    "without a zone is in TIMEZONE.",
                }
            },
        },
        "BroadcastAccepted": {
            "type": "object",
            "required": ["broadcast_id", "recipients"],
            "properties": {
                "broadcast_id": {"type": "integer"},
                "recipients": {
                    "type": "integer",
                    "description": "Members who will be texted, counted when the call was made",
                },
                "status": {"type": "string", "enum": ["sending", "scheduled"]},
                "scheduled_at": {"type": "string", "format": "date-time"},
            },
        },
        "Broadcast": {
            "type": "object",
            "required": ["id", "status", "total", "sent", "delivered", "failed", "skipped"],
            "properties": {
                "id": {"type": "integer"},
                "kind": {"type": "string", "enum": ["summary", "reminder", "outcome"]},
                "consultation": {"type": "string", "nullable": True},
                "status": {
                    "type": "string",
                    "enum": ["scheduled", "sending", "paused", "completed", "cancelled"],
                },
                "total": {
                    "type": "integer",
                    "description": "Audience members: texted, to be texted, and skipped",
                },
                "sent": {
                    "type": "integer",
                    "description": "Accepted by Twilio, including those since delivered "
                    "or undelivered",
                },
                "delivered": {"type": "integer"},
                "undelivered": {"type": "integer"},
                "failed": {
                    "type": "integer",
                    "description": "Refused by Twilio or failed after it; never retried",
                },
                "skipped": {
                    "type": "integer",
                    "description": "Never sent: not active when the broadcast started, "
                    "opted out before their turn, or cancelled",
                },
                "pending": {"type": "integer", "description": "Queued or being sent"},
                "scheduled_at": {"type": "string", "format": "date-time", "nullable": True},
                "started_at": {"type": "string", "format": "date-time", "nullable": True},
                "completed_at": {"type": "string", "format": "date-time", "nullable": True},
            },
        },
        "BroadcastPreview": {
            "type": "object",
            "required": ["code", "recipients", "segment_budget", "total_segments", "languages"],
            "properties": {
                "code": {"type": "string"},
                "kind": {"type": "string"},
                "recipients": {"type": "integer"},
                "skipped": {"type": "integer"},
                "segment_budget": {
                    "type": "integer",
                    "description": "Most segments one text may cost",
                },
                "within_budget": {"type": "boolean"},
                "total_segments": {
                    "type": "integer",
                    "description": "Segments the whole broadcast costs (what is billed)",
                },
                "languages": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "language": {"type": "string"},
                            "text_language": {
                                "type": "string",
                                "description": "The language the text is in (the default "
                                "language where there is no translation)",
                            },
                            "body": {"type": "string"},
                            "characters": {"type": "integer"},
                            "segments": {"type": "integer"},
                            "encoding": {"type": "string", "enum": ["GSM-7", "UCS-2"]},
                            "recipients": {"type": "integer"},
                            "within_budget": {"type": "boolean"},
                        },
                    },
                },
            },
        },
        "OutcomeIn": {
            "type": "object",
            "required": ["text"],
            "properties": {
                "text": LANG_TEXT,
                "notify": {"type": "boolean", "default": False},
            },
        },
        "OutcomeRecorded": {
            "type": "object",
            "required": ["code", "status"],
            "properties": {
                "code": {"type": "string"},
                "status": {"type": "string", "enum": ["decided"]},
                "broadcast_id": {"type": "integer", "nullable": True},
                "recipients": {"type": "integer"},
            },
        },
    }
)


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
