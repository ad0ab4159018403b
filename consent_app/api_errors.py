"""JSON errors for every /api/ URL: a stable machine code and a human message (SPEC §6)."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from consent_app.errors import Refused

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


def init_app(app: Flask) -> None:
    """Answer errors under /api/ as JSON, whatever raised them."""

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        response = error_response(error.status, error.code, error.message, error.field)
        if error.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="partner API"'
        return response

    @app.errorhandler(Refused)
    def refused(error: Refused) -> Response:
        return api_error(ApiError(error.status, error.code, error.message, error.field))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response | HTTPException:
        if not request.path.startswith("/api/"):
            return error
        status = error.code or 500
        return error_response(status, _CODES.get(status, "error"), error.description or "")

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response | tuple[str, int]:
        from consent_app.security import redacted

        app.logger.exception("unhandled error on %s", redacted(request.path))
        if request.path.startswith("/api/"):
            return error_response(500, "internal_error", "Something went wrong on our side.")
        from consent_app.pages import words_page

        return words_page("error", 500)
