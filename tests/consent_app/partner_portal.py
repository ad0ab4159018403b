"""Helpers for tests of the partner pages: register a partner user, sign a client in by the
mailed link (as a partner user would), read the partner sign-in links mailed."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from consent_app.partner_sessions import add_user
from tests.consent_app.conftest import OPERATOR, Marketplace, csrf_token

PARTNER_USER = "sales@contoso.example"
_PARTNER_LINK = re.compile(r"https?://[^/\s]+(/partner/signin/[A-Za-z0-9_-]+)")


def add_partner_user(
    market: Marketplace, slug: str = "contoso-cloud", email: str = PARTNER_USER
) -> None:
    """Register `email` as a user of partner `slug`, as an operator does."""
    market.backend.run(lambda uow: add_user(uow, slug, email, OPERATOR))


def partner_links(market: Marketplace, to: str = PARTNER_USER) -> list[str]:
    """Every partner sign-in link mailed to `to`, oldest first."""
    found = [path for mail in market.mails(to) for path in _PARTNER_LINK.findall(mail.body)]
    return list(dict.fromkeys(found))  # each link is in the English and the Russian text


def ask_for_link(client: FlaskClient, email: str) -> int:
    """Ask for a partner sign-in link; the status of the answer."""
    page = client.get("/partner/signin")
    token = csrf_token(page.get_data(as_text=True))
    return client.post("/partner/signin", data={"csrf_token": token, "email": email}).status_code


def use_link(client: FlaskClient, link: str) -> int:
    """Open a sign-in link and press "Sign in"; the status of the answer to the button."""
    confirm = client.get(link)
    assert confirm.status_code == 200, confirm.get_data(as_text=True)
    token = csrf_token(confirm.get_data(as_text=True))
    return client.post(link, data={"csrf_token": token}).status_code


def partner_client(
    market: Marketplace,
    slug: str = "contoso-cloud",
    email: str = PARTNER_USER,
    *,
    register: bool = True,
) -> FlaskClient:
    """A client signed in to the partner pages of `slug` as `email` (registered first unless
    `register` is False), through the mailed link."""
    if register:
        add_partner_user(market, slug, email)
    client = market.app.test_client()
    assert ask_for_link(client, email) == 200
    links = [link for link in partner_links(market, email)]
    assert links, f"no partner sign-in link was mailed to {email}"
    assert use_link(client, links[-1]) == 302
    return client
