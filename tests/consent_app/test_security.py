"""Web security: headers on every kind of page, CSP without inline script, cookies, rate
limits with a clear 429, secrets kept out of logs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

from consent_app.security import inline_script_hashes, policy_for_site, redacted, site_policy
from tests.consent_app.conftest import ADMIN, Marketplace, csrf_token


@pytest.fixture
def invited(market: Marketplace) -> tuple[Marketplace, str]:
    market.add_tenant()
    market.invite(market.key(), delegated_admin=True)
    return market, market.link()


def test_customer_pages_forbid_script_framing_caching_and_referrers(
    invited: tuple[Marketplace, str],
) -> None:
    market, link = invited
    for path in (link, "/signin", "/account/"):
        response = market.client.get(path)
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "script-src" not in policy  # no script at all
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    html = market.client.get(link).get_data(as_text=True)
    assert "<script" not in html and " style=" not in html


def test_api_answers_are_data_and_the_partner_api_is_never_cached(
    invited: tuple[Marketplace, str],
) -> None:
    market, _ = invited
    key = market.key()
    response = market.api(key, "GET", "/invitations")
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert response.headers["Cache-Control"] == "no-store"


def test_site_pages_allow_only_their_own_inline_scripts_by_hash(
    app_factory: Callable[..., Flask], tmp_path: Path
) -> None:
    site = tmp_path / "built"
    site.mkdir()
    (site / "index.html").write_text(
        "<html><head><script>var a=1;</script><script src='x.js'></script>"
        '<script id="__config" type="application/json">{"b": 2}</script></head></html>'
    )
    app = app_factory(SITE_DIR=str(site))
    response = app.test_client().get("/")
    response.close()  # the body is an open file
    policy = response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    [only] = inline_script_hashes((site / "index.html").read_bytes())
    assert only in policy  # the executable inline script, not the JSON data block
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert site_policy([only]) == policy_for_site(site)


def test_sign_in_requests_are_rate_limited_with_a_clear_page(market: Marketplace) -> None:
    market.add_tenant()
    client = market.app.test_client()
    token = csrf_token(client.get("/signin").get_data(as_text=True))
    statuses = [
        client.post("/signin", data={"csrf_token": token, "email": ADMIN}).status_code
        for _ in range(7)
    ]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
    limited = client.post("/signin", data={"csrf_token": token, "email": ADMIN})
    assert "Too many requests" in limited.get_data(as_text=True)
    assert "Retry-After" in limited.headers
    assert len(market.mails(ADMIN)) == 5  # no mail beyond the limit


def test_secret_links_are_rate_limited(invited: tuple[Marketplace, str]) -> None:
    market, link = invited
    statuses = {market.client.get(link).status_code for _ in range(61)}
    assert statuses == {200, 429}
    assert market.client.get("/api/v1/search").status_code != 429  # other endpoints unaffected


def test_rate_limits_answer_json_under_the_api(market: Marketplace) -> None:
    from consent_app.security import limiter

    @market.app.get("/api/v1/limited-probe")
    @limiter.limit("1 per minute")
    def probe() -> str:
        return "{}"

    market.client.get("/api/v1/limited-probe")
    response = market.client.get("/api/v1/limited-probe")
    assert response.status_code == 429
    assert response.get_json()["error"] == "too_many_requests"


def test_cookies_are_secure_httponly_samesite_behind_https(
    app_factory: Callable[..., Flask],
) -> None:
    market = Marketplace(app_factory(MARKETPLACE_BASE_URL="https://marketplace.example/"))
    market.add_tenant()
    response = market.client.get("/signin?lang=ru")
    cookies = response.headers.getlist("Set-Cookie")
    assert cookies and all(
        "Secure" in c and "HttpOnly" in c and "SameSite=Lax" in c for c in cookies
    )
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_client_address_from_trusted_proxy(app_factory: Callable[..., Flask]) -> None:
    market = Marketplace(app_factory(MARKETPLACE_TRUSTED_PROXIES="1"))
    market.add_tenant()
    key = market.key()
    market.client.post(
        "/api/v1/invitations",
        json={"type": "trial", "tenant": "fabrikam.onmicrosoft.com", "offer_id": "trial-collab"},
        headers={"Authorization": f"Bearer {key}", "X-Forwarded-For": "203.0.113.9"},
    )
    from sqlalchemy import select

    from consent_app.models import AuditEvent

    with market.backend.read() as session:
        addresses = (
            session.execute(
                select(AuditEvent.remote_addr).where(AuditEvent.action == "invitation.created")
            )
            .scalars()
            .all()
        )
    assert addresses == ["203.0.113.9"]


def test_secrets_are_not_logged(
    invited: tuple[Marketplace, str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    market, link = invited
    token = link.rsplit("/", 1)[1]
    assert redacted(link) == "/invitations/[redacted]"
    assert redacted("/signin/abc?x=1") == "/signin/[redacted]?x=1"
    for secret in ("/partner/signin/", "/leads/confirm/", "/leads/withdraw/"):
        assert redacted(f"{secret}abc") == f"{secret}[redacted]"
    assert redacted("/partner/signin") == "/partner/signin"  # the form, no secret

    def explode(*args: object) -> None:
        raise RuntimeError("exploded")

    monkeypatch.setattr("consent_app.invitation_pages.link_invitation", explode)
    with caplog.at_level(logging.ERROR):
        response = market.client.get(link)
    assert response.status_code == 500
    assert "went wrong" in response.get_data(as_text=True)
    assert caplog.records and token not in caplog.text
    key = market.key()
    assert key not in caplog.text


@pytest.mark.parametrize(
    ("address", "counted_as"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8::1", "2001:db8::/64"),
        ("2001:db8::b", "2001:db8::/64"),  # the same subscriber's network
        ("2001:db8:0:1::1", "2001:db8:0:1::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        (None, "unknown"),
    ],
)
def test_per_client_limits_count_an_ipv6_network(address: str | None, counted_as: str) -> None:
    from consent_app.security import client_key

    assert client_key(address) == counted_as
