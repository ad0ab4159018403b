"""Refusals of the consent rules, independent of how they reach a person (JSON or a page)."""

from __future__ import annotations


class Refused(Exception):
    """A request the rules do not allow; nothing was changed.

    `code` is stable (the API's `error`), `message` says why and what to do, `status` is the
    HTTP status an API answers with, `field` names the offending input when there is one.
    """

    def __init__(self, code: str, message: str, status: int = 422, field: str | None = None):
        super().__init__(message)
        self.code, self.message, self.status, self.field = code, message, status, field
