"""schemathesis against /api/v1/openapi.json: whatever it sends, the API never answers 500,
and every refusal is the documented `{"error": "..."}`."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

EXAMPLES = 25  # per operation; every operation of the document is fuzzed


def test_no_request_makes_the_api_fail(app, token):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10  # the document lists the API, not nothing
    headers = {"Authorization": f"Bearer {token}"}
    for operation in operations:

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def call(case):
            response = case.call(headers=headers)
            where = f"{case.method} {case.formatted_path}: {response.text[:300]}"
            assert response.status_code < 500, where
            if response.status_code >= 400:
                assert set(response.json()) == {"error"}, where

        call()
