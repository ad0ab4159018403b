"""The partner API and the search API fuzzed from their published OpenAPI document with
schemathesis (valid and invalid requests): no answer is a 5xx, every error is JSON with a
stable code, and every answer matches the document."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from consent_app.openapi import openapi_document
from marketplace.validate import load_listings
from search.documents import partner_documents
from search.whoosh_engine import build_index
from search.whoosh_engine import index_root as search_index_root
from tests.conftest import EXAMPLE_LISTINGS
from tests.consent_app.conftest import Marketplace

EXAMPLES_PER_MODE = 400


def error_is_json_with_a_code(ctx: Any, response: Any, case: Any) -> None:
    """Every error answer is `{"error": code, "message": …}`."""
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body.get("error"), str) and body["error"], body
        assert isinstance(body.get("message"), str), body


def test_api_fuzzed_from_its_openapi_document(app_factory: Callable[..., Flask]) -> None:
    # Hundreds of requests with one key in seconds: limits high enough to fuzz the endpoints.
    app = app_factory(
        MARKETPLACE_API_RATE_LIMIT="100000 per minute",
        MARKETPLACE_INVITATION_RATE_LIMIT="100000 per minute",
    )
    catalog, loaded = load_listings(EXAMPLE_LISTINGS)
    documents = partner_documents(catalog, [item.listing for item in loaded])
    build_index(search_index_root(Path(app.instance_path)), documents)
    market = Marketplace(app)
    market.add_tenant()
    key = market.key("contoso-cloud")
    market.invite(key, delegated_admin=True)  # something to read, list and cancel
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    seen: dict[int, int] = {}

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @given(case=schema.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_MODE,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def one_request(case: Any) -> None:
            response = case.call(headers={"Authorization": f"Bearer {key}"})
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            case.validate_response(
                response,
                checks=[
                    not_a_server_error,
                    status_code_conformance,
                    content_type_conformance,
                    response_schema_conformance,
                ],
                additional_checks=[error_is_json_with_a_code],
            )

        one_request()
    print("statuses seen:", sorted(seen.items()))
    assert not [status for status in seen if status >= 500]
    assert 200 in seen and 400 in seen  # both sides were reached


def test_the_document_is_served(market: Marketplace) -> None:
    served = market.client.get("/api/v1/openapi.json").get_json()
    assert served == openapi_document()
    assert served["openapi"] == "3.1.0"
    assert set(served["paths"]) >= {"/api/v1/invitations", "/api/v1/search"}
