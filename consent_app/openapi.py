"""The OpenAPI 3.1 document of the partner API and the search API, served at
`/api/v1/openapi.json`. The invitation request's schema is generated from the same pydantic
model that validates requests, so the document and the checks cannot drift apart."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from consent_app.invitations import InvitationRequest
from consent_app.leads import SHOWN_STATUSES
from consent_app.models import INVITATION_TYPES, LEAD_STATUSES
from consent_app.rules import Status
from consent_app.webhooks import EVENT_TYPES, MAX_ENDPOINTS, TEST_EVENT
from marketplace.catalog import SITE_LANGUAGES
from search.engine import (
    FACET_VALUE_FORMS,
    FILTER_FACETS,
    MAX_FILTER_VALUES,
    MAX_PAGE,
    MAX_PER_PAGE,
    MAX_QUERY_LENGTH,
    SORTS,
)

bp = Blueprint("openapi", __name__)

_REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    words = {
        400: "invalid input (`validation_error`, with `field`)",
        401: "missing, unknown or revoked API key (`unauthorized`)",
        403: "not allowed (`not_eligible_for_delegated_admin`, `partner_not_listed`)",
        404: "no such resource of yours (`not_found`)",
        409: "the invitation is no longer pending (`invalid_state`), or another request changed "
        "the same thing at the same moment, again and again (`conflict`: retry)",
        413: "body larger than 256 KB (`payload_too_large`)",
        415: "body is not application/json (`unsupported_media_type`)",
        422: "refused by a rule (`unknown_offer`, `cloud_not_supported`, `customer_required`, "
        "`domain_not_verified`, `customer_is_partner`)",
        429: "over this API key's rate limit (`too_many_requests`); `Retry-After` says when",
        503: "the search index is not built yet (`search_unavailable`)",
    }
    return {str(status): _json(_ref("Error"), words[status]) for status in statuses}


_INVITATION = {
    "type": "object",
    "required": [
        "id",
        "type",
        "status",
        "tenant",
        "offer_id",
        "services",
        "licenses",
        "trial_days",
        "delegated_admin_requested",
        "delegated_admin_roles",
        "delegated_admin_days",
        "prices",
        "currency",
        "billing",
        "created_at",
        "expires_at",
    ],
    "properties": {
        "id": {"type": "string"},
        "type": {"enum": list(INVITATION_TYPES)},
        "status": {"enum": [str(status) for status in Status]},
        "tenant": {"type": "string"},
        "offer_id": {"type": ["string", "null"]},
        "services": {"type": "array", "items": {"type": "string"}},
        "licenses": {
            "type": ["object", "null"],
            "additionalProperties": {"type": "integer", "minimum": 1},
        },
        "trial_days": {"type": ["integer", "null"]},
        "delegated_admin_requested": {"type": "boolean"},
        "delegated_admin_roles": {"type": ["array", "null"], "items": {"type": "string"}},
        "delegated_admin_days": {"type": ["integer", "null"], "minimum": 1},
        "prices": {
            "type": ["object", "null"],
            "description": "A priced purchase offer: service -> price per license per month, "
            "a decimal string with the currency's minor units; null when unpriced.",
            "additionalProperties": {"type": "string", "pattern": r"^(0|[1-9][0-9]*)(\.[0-9]+)?$"},
        },
        "currency": {"type": ["string", "null"], "description": "ISO 4217, with prices."},
        "billing": {"enum": ["monthly", "annual", None], "description": "With prices."},
        "created_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": "string", "format": "date-time"},
        "decided_at": {"type": "string", "format": "date-time"},
        "delegated_admin_granted": {"type": "boolean"},
        "delegated_admin_granted_roles": {"type": "array", "items": {"type": "string"}},
        "delegated_admin_granted_until": {"type": "string", "format": "date-time"},
        "partner_of_record": {"type": "boolean"},
    },
    "additionalProperties": False,
}

_SEARCH_RESULT = {
    "type": "object",
    "required": ["total", "hits", "facets", "suggestion"],
    "properties": {
        "total": {"type": "integer", "minimum": 0},
        "hits": {
            "type": "array",
            "items": {
                "type": "object",
                "required": [
                    *("slug", "name", "summary", "url", "score", "highlights", "logo"),
                    *("regions", "programs", "delegated_admin", "trial", "published", "lang"),
                ],
                "properties": {
                    "slug": {"type": "string"},
                    "name": {"type": "string"},
                    "summary": {"type": "string"},
                    "url": {"type": "string", "description": "The partner page's URL path."},
                    "score": {"type": "number", "description": "0 without query text."},
                    "highlights": {
                        "type": "object",
                        "description": "Field -> partner text, HTML-escaped, matches in <mark>.",
                        "additionalProperties": {"type": "string"},
                    },
                    "logo": {
                        "type": ["string", "null"],
                        "description": "The URL path of the logo on the site, if there is one.",
                    },
                    "regions": {
                        "type": "array",
                        "description": "Countries served (ISO 3166-1 alpha-2), or worldwide.",
                        "items": {"type": "string"},
                    },
                    "programs": {
                        "type": "array",
                        "description": "Partner program ids.",
                        "items": {"type": "string"},
                    },
                    "delegated_admin": {
                        "type": "boolean",
                        "description": "The partner offers delegated administration.",
                    },
                    "trial": {
                        "type": "boolean",
                        "description": "The listing has at least one trial offer.",
                    },
                    "published": {
                        "type": "string",
                        "format": "date",
                        "description": "When the listing was first published (UTC).",
                    },
                    "lang": {
                        "enum": list(SITE_LANGUAGES),
                        "description": "The language of name and summary: en where the "
                        "listing has no translation into `lang` and shows its English text.",
                    },
                },
            },
        },
        "facets": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 0},
            },
        },
        "suggestion": {"type": ["string", "null"]},
    },
}


def _facet_parameter(facet: str) -> dict[str, Any]:
    """A facet filter: repeated for several values (`service=teams&service=defender`)."""
    pattern, words = FACET_VALUE_FORMS[facet]
    return {
        "name": facet,
        "in": "query",
        "description": f"Partners with any of these values ({words}); the filters of "
        "different facets must all hold. A partner serving worldwide matches every region.",
        "style": "form",
        "explode": True,
        "schema": {
            "type": "array",
            "maxItems": MAX_FILTER_VALUES,
            "items": {"type": "string", "pattern": pattern},
        },
    }


def _search_parameters() -> list[dict[str, Any]]:
    return [
        {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": MAX_QUERY_LENGTH}},
        *[_facet_parameter(facet) for facet in FILTER_FACETS],
        {"name": "delegated_admin", "in": "query", "schema": {"enum": ["true", "false", "1", "0"]}},
        {"name": "lang", "in": "query", "schema": {"enum": list(SITE_LANGUAGES)}},
        {
            "name": "sort",
            "in": "query",
            "description": "relevance (the default with `q`), name (the default without: the "
            "name shown in `lang`, ignoring case) or newest (first published, newest first, "
            "then by name).",
            "schema": {"enum": list(SORTS)},
        },
        {
            "name": "page",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
        },
        {
            "name": "per_page",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
        },
    ]


_LEAD = {
    "type": "object",
    "description": "A visitor's confirmed request to be contacted. Withdrawn by the visitor: "
    'status "withdrawn" and every personal field null.',
    "required": ["id", "created_at", "name", "email", "company", "country", "message", "status"],
    "properties": {
        "id": {"type": "string"},
        "created_at": {
            "type": "string",
            "format": "date-time",
            "description": "when the visitor confirmed it",
        },
        "name": {"type": ["string", "null"]},
        "email": {"type": ["string", "null"]},
        "company": {"type": ["string", "null"]},
        "country": {"type": ["string", "null"], "description": "ISO 3166-1 alpha-2"},
        "message": {"type": ["string", "null"]},
        "status": {"enum": list(SHOWN_STATUSES)},
    },
}


def _lead_paths(secured: list[dict[str, list[str]]]) -> dict[str, Any]:
    """The leads' paths (README: Leads)."""
    withdrawn = _json(
        _ref("Error"),
        "the visitor withdrew the lead (`lead_withdrawn`), or another request changed it at "
        "the same moment, again and again (`conflict`: retry)",
    )
    return {
        "/api/v1/leads": {
            "get": {
                "operationId": "listLeads",
                "summary": "Your leads, newest first",
                "security": secured,
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                    {"name": "before", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["leads"],
                            "properties": {"leads": {"type": "array", "items": _ref("Lead")}},
                        },
                        "your leads",
                    ),
                    **_errors(400, 401, 403, 429),
                },
            },
        },
        "/api/v1/leads/{lead_id}": {
            "patch": {
                "operationId": "updateLead",
                "summary": "Record how a lead is going",
                "security": secured,
                "parameters": [
                    {
                        "name": "lead_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "maxLength": 100},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["status"],
                                "additionalProperties": False,
                                "properties": {"status": {"enum": list(LEAD_STATUSES)}},
                            }
                        }
                    },
                },
                "responses": {
                    "200": _json(_ref("Lead"), "the lead"),
                    **_errors(400, 401, 403, 404, 413, 415, 429),
                    "409": withdrawn,
                },
            },
        },
    }


_WEBHOOK = {
    "type": "object",
    "required": ["id", "url", "events", "created_at"],
    "properties": {
        "id": {"type": "string"},
        "url": {"type": "string"},
        "events": {"type": "array", "items": {"enum": list(EVENT_TYPES)}},
        "created_at": {"type": "string", "format": "date-time"},
    },
    "additionalProperties": False,
}

_WEBHOOK_DELIVERY = {
    "type": "object",
    "description": "One event sent (or being sent) to one endpoint.",
    "required": [
        "event_id",
        "type",
        "state",
        "created_at",
        "attempts",
        "status_code",
        "last_error",
        "last_attempt_at",
        "next_attempt_at",
        "delivered_at",
        "failed_at",
    ],
    "properties": {
        "event_id": {"type": "string", "description": "The event's id (`evt_…`)."},
        "type": {"enum": [*EVENT_TYPES, TEST_EVENT]},
        "state": {"enum": ["pending", "delivered", "failed"]},
        "created_at": {"type": "string", "format": "date-time"},
        "attempts": {"type": "integer", "minimum": 0},
        "status_code": {"type": ["integer", "null"], "description": "The last answer's."},
        "last_error": {"type": ["string", "null"]},
        "last_attempt_at": {"type": ["string", "null"], "format": "date-time"},
        "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
        "delivered_at": {"type": ["string", "null"], "format": "date-time"},
        "failed_at": {"type": ["string", "null"], "format": "date-time"},
    },
    "additionalProperties": False,
}


def _webhook_paths(secured: list[dict[str, list[str]]]) -> dict[str, Any]:
    """The webhooks' paths (README: Webhooks)."""
    webhook_id = {
        "name": "webhook_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "maxLength": 100},
    }
    refused = _json(
        _ref("Error"),
        "the URL leads to a private, loopback or link-local address, or is http:// to a public "
        f"one (`webhook_target_not_allowed`); you have {MAX_ENDPOINTS} endpoints already "
        "(`too_many_webhooks`)",
    )
    created = {
        "type": "object",
        "required": ["id", "url", "events", "created_at", "secret"],
        "properties": {
            **_WEBHOOK["properties"],  # type: ignore[dict-item]
            "secret": {
                "type": "string",
                "description": "The signing secret, shown this once: the HMAC-SHA256 key of "
                "the Marketplace-Signature header.",
            },
        },
        "additionalProperties": False,
    }
    return {
        "/api/v1/webhooks": {
            "post": {
                "operationId": "createWebhook",
                "summary": "Register a webhook endpoint",
                "security": secured,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["url", "events"],
                                "additionalProperties": False,
                                "properties": {
                                    "url": {
                                        "type": "string",
                                        "maxLength": 2000,
                                        "description": "https:// and a public address.",
                                    },
                                    "events": {
                                        "type": "array",
                                        "minItems": 1,
                                        "uniqueItems": True,
                                        "items": {"enum": list(EVENT_TYPES)},
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json(created, "registered; the secret is not shown again"),
                    **_errors(400, 401, 403, 413, 415, 429),
                    "422": refused,
                },
            },
            "get": {
                "operationId": "listWebhooks",
                "summary": "Your webhook endpoints",
                "security": secured,
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["webhooks"],
                            "properties": {"webhooks": {"type": "array", "items": _ref("Webhook")}},
                        },
                        "your endpoints",
                    ),
                    **_errors(401, 403, 429),
                },
            },
        },
        "/api/v1/webhooks/{webhook_id}": {
            "get": {
                "operationId": "getWebhook",
                "summary": "One of your webhook endpoints",
                "security": secured,
                "parameters": [webhook_id],
                "responses": {
                    "200": _json(_ref("Webhook"), "the endpoint"),
                    **_errors(401, 403, 404, 429),
                },
            },
            "delete": {
                "operationId": "deleteWebhook",
                "summary": "Delete a webhook endpoint: nothing more is sent to it",
                "security": secured,
                "parameters": [webhook_id],
                "responses": {
                    "204": {"description": "deleted"},
                    **_errors(401, 403, 404, 409, 429),
                },
            },
        },
        "/api/v1/webhooks/{webhook_id}/deliveries": {
            "get": {
                "operationId": "listWebhookDeliveries",
                "summary": "The endpoint's delivery log, newest first",
                "security": secured,
                "parameters": [
                    webhook_id,
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                ],
                "responses": {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["deliveries"],
                            "properties": {
                                "deliveries": {
                                    "type": "array",
                                    "items": _ref("WebhookDelivery"),
                                }
                            },
                        },
                        "the delivery log",
                    ),
                    **_errors(400, 401, 403, 404, 429),
                },
            },
        },
        "/api/v1/webhooks/{webhook_id}/test": {
            "post": {
                "operationId": "testWebhook",
                "summary": "Send a test event to the endpoint",
                "security": secured,
                "parameters": [webhook_id],
                "responses": {
                    "202": _json(
                        {
                            "type": "object",
                            "required": ["id", "type"],
                            "properties": {
                                "id": {"type": "string"},
                                "type": {"const": TEST_EVENT},
                            },
                        },
                        "queued; see the delivery log",
                    ),
                    **_errors(401, 403, 404, 409, 429),
                },
            },
        },
    }


def openapi_document() -> dict[str, Any]:
    """The whole document."""
    request_schema = InvitationRequest.model_json_schema(ref_template=_REF)
    components = request_schema.pop("$defs", {})
    components["InvitationRequest"] = request_schema
    components["Invitation"] = _INVITATION
    components["SearchResult"] = _SEARCH_RESULT
    components["Lead"] = _LEAD
    components["Webhook"] = _WEBHOOK
    components["WebhookDelivery"] = _WEBHOOK_DELIVERY
    components["Error"] = {
        "type": "object",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "description": "A stable machine code."},
            "message": {"type": "string", "description": "What went wrong, for a person."},
            "field": {"type": "string", "description": "The input at fault, when one is."},
        },
    }
    invitation_id = {
        "name": "invitation_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "maxLength": 100},
    }
    secured: list[dict[str, list[str]]] = [{"partnerKey": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Partner Marketplace API",
            "version": "1",
            "description": "Partner API (invitations, offers, relationships; a partner's API "
            "key as a Bearer token) and the public partner search API.",
        },
        "components": {
            "schemas": components,
            "securitySchemes": {"partnerKey": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/api/v1/invitations": {
                "post": {
                    "operationId": "createInvitation",
                    "summary": "Create a trial invitation or a purchase offer",
                    "security": secured,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("InvitationRequest")}},
                    },
                    "responses": {
                        "201": _json(
                            {
                                "type": "object",
                                "required": ["id", "status", "expires_at"],
                                "properties": {
                                    "id": {"type": "string"},
                                    "status": {"const": "pending"},
                                    "expires_at": {"type": "string", "format": "date-time"},
                                },
                            },
                            "created; the link was mailed to the customer",
                        ),
                        **_errors(400, 401, 403, 413, 415, 422, 429),
                    },
                },
                "get": {
                    "operationId": "listInvitations",
                    "summary": "Your invitations, newest first",
                    "security": secured,
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                        },
                        {"name": "before", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["invitations"],
                                "properties": {
                                    "invitations": {"type": "array", "items": _ref("Invitation")}
                                },
                            },
                            "your invitations",
                        ),
                        **_errors(400, 401, 403, 429),
                    },
                },
            },
            "/api/v1/invitations/{invitation_id}": {
                "get": {
                    "operationId": "getInvitation",
                    "summary": "One of your invitations",
                    "security": secured,
                    "parameters": [invitation_id],
                    "responses": {
                        "200": _json(_ref("Invitation"), "the invitation"),
                        **_errors(401, 403, 404, 429),
                    },
                },
            },
            "/api/v1/invitations/{invitation_id}/cancel": {
                "post": {
                    "operationId": "cancelInvitation",
                    "summary": "Withdraw a pending invitation",
                    "security": secured,
                    "parameters": [invitation_id],
                    "responses": {
                        "200": _json(_ref("Invitation"), "canceled"),
                        **_errors(401, 403, 404, 409, 429),
                    },
                },
            },
            "/api/v1/invitations/{invitation_id}/resend": {
                "post": {
                    "operationId": "resendInvitation",
                    "summary": "Mail a pending invitation again: new links to the same "
                    "recipients (the old links stop working); its expiry is unchanged",
                    "security": secured,
                    "parameters": [invitation_id],
                    "responses": {
                        "200": _json(_ref("Invitation"), "sent again"),
                        **_errors(401, 403, 404, 409, 422, 429),
                    },
                },
            },
            "/api/v1/relationships": {
                "get": {
                    "operationId": "listRelationships",
                    "summary": "Tenants where you are the DA partner or partner of record",
                    "security": secured,
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["relationships"],
                                "properties": {
                                    "relationships": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": [
                                                "tenant",
                                                "delegated_admin",
                                                "partner_of_record",
                                                "since",
                                            ],
                                            "properties": {
                                                "tenant": {"type": "string"},
                                                "delegated_admin": {"type": "boolean"},
                                                "partner_of_record": {"type": "boolean"},
                                                "since": {"type": "string", "format": "date-time"},
                                                "roles": {
                                                    "type": ["array", "null"],
                                                    "items": {"type": "string"},
                                                },
                                                "expires_at": {
                                                    "type": ["string", "null"],
                                                    "format": "date-time",
                                                },
                                            },
                                        },
                                    }
                                },
                            },
                            "your relationships",
                        ),
                        **_errors(401, 403, 429),
                    },
                },
            },
            "/api/v1/relationships/{tenant}/delegated-admin": {
                "delete": {
                    "operationId": "endDelegatedAdmin",
                    "summary": "End your own delegated administration of a tenant",
                    "security": secured,
                    "parameters": [
                        {
                            "name": "tenant",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "maxLength": 253},
                        }
                    ],
                    "responses": {
                        "204": {"description": "ended"},
                        **_errors(400, 401, 403, 404, 429),
                    },
                },
            },
            **_lead_paths(secured),
            **_webhook_paths(secured),
            "/api/v1/search": {
                "get": {
                    "operationId": "searchPartners",
                    "summary": "Ranked partners, facet counts and a spelling suggestion",
                    "parameters": _search_parameters(),
                    "responses": {
                        "200": _json(_ref("SearchResult"), "results"),
                        **_errors(400, 503),
                    },
                },
            },
        },
    }


@bp.get("/api/v1/openapi.json")
def document() -> ResponseReturnValue:
    """The OpenAPI document (public: it describes, it reveals nothing)."""
    response = jsonify(openapi_document())
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
