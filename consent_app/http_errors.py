"""How errors reach people over HTTP: the one table from refusal types to status codes, and
JSON errors for every /api/ URL: a stable machine code and a human message (README: Partner API).

Also what every JSON endpoint reads its body with, and the answer for /api/ paths no view
serves (a JSON 404, or a 405 naming the methods the path has) rather than the site's 404 page.
Customer pages find their words for a refusal by its `code` (`consent_app.pages.refusal_text`).
"""

from __future__ import annotations

from typing import Any, NoReturn

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from consent_app import refusals
from consent_app.refusals import Refused

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


STATUS: dict[type[Refused], int] = {
    refusals.InvalidInput: 400,
    refusals.DelegatedAdminNotRequested: 400,
    refusals.NotConfirmed: 400,
    refusals.TermsNotAccepted: 400,
    refusals.Unauthorized: 401,
    refusals.PartnerNotListed: 403,
    refusals.NotEligibleForDelegatedAdmin: 403,
    refusals.NotFound: 404,  # and UnknownPartner, a kind of NotFound
    refusals.InvalidState: 409,
    refusals.AlreadyRevoked: 409,
    refusals.TenantExists: 409,
    refusals.Unchanged: 409,
    refusals.ReplacementNeedsConfirmation: 409,
    refusals.DelegatedAdminChanged: 409,
    refusals.ConcurrentChange: 409,
}
"""The HTTP status of each refusal; every other rule that refuses answers 422."""


def status_for(refused: Refused) -> int:
    """The HTTP status a refusal is answered with (`STATUS`, nearest type first)."""
    for kind in type(refused).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 422


MAX_JSON_DEPTH = 32
"""How deep a JSON body may nest. API bodies need three levels; deeper ones are refused before
any code that recurses sees them (Python's own parser raises RecursionError near 1000)."""

_UNKNOWN_PATH = "api_unknown_path"
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class ApiError(Exception):
    """Raised by API views; answered as {"error": code, "message": ..., "field": ...}."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error_response(status: int, code: str, message: str, field: str | None = None) -> Response:
    """The JSON error answer."""
    body: dict[str, str] = {"error": code, "message": message}
    if field:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    return response


def _nested_deeper_than(value: Any, limit: int) -> bool:
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            if depth > limit:
                return True
            pending.extend((child, depth + 1) for child in item)
    return False


def json_body() -> Any:
    """The request's JSON body: ApiError 415 if it is not JSON, 400 if it does not parse or
    nests deeper than `MAX_JSON_DEPTH`."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        body = request.get_json(silent=True)
        too_deep = _nested_deeper_than(body, MAX_JSON_DEPTH)
    except RecursionError:
        too_deep = True
    if too_deep:
        raise ApiError(
            400, "validation_error", f"the body is nested more than {MAX_JSON_DEPTH} levels deep"
        )
    if body is None:
        raise ApiError(400, "validation_error", "the body is not valid JSON")
    return body


def unknown_path(rest: str) -> NoReturn:
    """No view serves this /api/ path with this method: 405 if the path has other methods,
    else 404."""
    adapter = current_app.create_url_adapter(request)
    assert adapter is not None
    allowed = []
    for method in _METHODS:
        try:
            rule, _ = adapter.match(request.path, method=method, return_rule=True)
        except HTTPException:
            continue
        if rule.endpoint != _UNKNOWN_PATH:
            allowed.append(method)
    if allowed:
        raise MethodNotAllowed(valid_methods=allowed)
    raise ApiError(404, "not_found", f"there is no API at {request.path[:200]}")


def init_app(app: Flask) -> None:
    """Answer errors under /api/ as JSON, whatever raised them, and unknown /api/ paths too."""
    # More specific than the site's catch-all, less than any API route (static parts win).
    app.add_url_rule(
        "/api/<path:rest>",
        endpoint=_UNKNOWN_PATH,
        view_func=unknown_path,
        methods=_METHODS,
        provide_automatic_options=False,
    )
    app.extensions["csrf"].exempt(unknown_path)  # nothing to protect: it only refuses

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        response = error_response(error.status, error.code, error.message, error.field)
        if error.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="partner API"'
        return response

    @app.errorhandler(Refused)
    def refused(error: Refused) -> Response:
        return api_error(ApiError(status_for(error), error.code, error.message, error.field))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response | HTTPException:
        if not request.path.startswith("/api/"):
            return error
        status = error.code or 500
        response = error_response(status, _CODES.get(status, "error"), error.description or "")
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response | tuple[str, int]:
        from consent_app.security import redacted

        app.logger.exception("unhandled error on %s", redacted(request.path))
        if request.path.startswith("/api/"):
            return error_response(500, "internal_error", "Something went wrong on our side.")
        from consent_app.pages import words_page

        return words_page("error", 500)
