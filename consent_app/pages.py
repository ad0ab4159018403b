"""What every customer page shares: message pages, refusals in words, headers, error pages."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError

from consent_app.i18n import WORDS, language, translate
from consent_app.refusals import Refused

CUSTOMER_PREFIXES = ("/invitations/", "/signin", "/account", "/_consent/", "/partner/")


def message_page(
    heading: str,
    paragraphs: list[str],
    status: int = 200,
    action_url: str | None = None,
    action_label: str | None = None,
) -> tuple[str, int]:
    """A page with a heading, some text and an optional button link."""
    page = render_template(
        "message.html",
        heading=heading,
        paragraphs=paragraphs,
        action_url=action_url,
        action_label=action_label,
    )
    return page, status


def words_page(key: str, status: int, **values: object) -> tuple[str, int]:
    """A message page from the strings `<key>_title` and `<key>_text`."""
    current = language()
    return message_page(
        translate(current, f"{key}_title", **values),
        [translate(current, f"{key}_text", **values)],
        status,
    )


def refusal_text(refused: Refused) -> str:
    """A refusal in the customer's language (the rule's own English message as a fallback)."""
    key = f"refused.{refused.code}"
    current = language()
    return translate(current, key) if key in WORDS[current] else refused.message


def is_customer_page() -> bool:
    """True for the pages this app renders for customers (not the site, not the APIs)."""
    return request.path.startswith(CUSTOMER_PREFIXES)


def init_app(app: Flask) -> None:
    """Error pages and the settings templates show."""

    @app.context_processor
    def installation() -> dict[str, object]:
        from consent_app.backend import backend

        return {"settings": backend().settings}

    @app.errorhandler(CSRFError)
    def csrf_failed(error: CSRFError) -> tuple[str, int]:
        return words_page("csrf", 400)
