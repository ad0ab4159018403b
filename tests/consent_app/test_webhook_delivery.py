"""Webhook delivery against a real receiver on loopback: signatures, retries with backoff,
timeouts, redirects, leases, and where a webhook may go (SSRF), checked at registration and
again after resolving, connecting to the checked address."""

from __future__ import annotations

import ipaddress
import re
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from pydantic import SecretStr
from sqlalchemy import select, update

from consent_app.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from consent_app.webhook_delivery import (
    GIVE_UP_AFTER,
    Reach,
    checked_target,
    deliver_webhooks,
    parse_target,
    reach,
    signing_secret,
)
from consent_app.webhooks import checked_endpoint, register_endpoint
from marketplace_app.cli import main
from marketplace_app.config import settings_for
from tests.consent_app.conftest import OPERATOR, Marketplace
from tests.webhook_receiver import drip, receiver, slow, status, verify_signature

ALL_EVENTS = ["invitation.canceled", "invitation.accepted"]


@pytest.fixture
def market(app_factory: Callable[..., Flask]) -> Marketplace:
    """A backend whose webhooks may go to loopback (the receiver), mail and webhooks sent
    right after each change."""
    found = Marketplace(app_factory(MARKETPLACE_WEBHOOK_ALLOW_PRIVATE="1"))
    found.add_tenant()
    return found


def register(
    market: Marketplace, key: str, url: str, events: list[str] | None = None
) -> dict[str, Any]:
    answer = market.api(key, "POST", "/webhooks", {"url": url, "events": events or ALL_EVENTS})
    assert answer.status_code == 201, answer.get_json()
    body: dict[str, Any] = answer.get_json()
    return body


def cancel_an_invitation(market: Marketplace, key: str) -> str:
    invitation = market.invite(key).get_json()["id"]
    assert market.api(key, "POST", f"/invitations/{invitation}/cancel").status_code == 200
    return str(invitation)


def log(market: Marketplace, key: str, webhook: str) -> list[dict[str, Any]]:
    answer = market.api(key, "GET", f"/webhooks/{webhook}/deliveries")
    assert answer.status_code == 200
    entries: list[dict[str, Any]] = answer.get_json()["deliveries"]
    return entries


def later(market: Marketplace, seconds: float) -> None:
    """Move the backend's clock (no sleeping)."""
    moment = market.backend.clock() + timedelta(seconds=seconds)
    market.backend.clock = lambda: moment


def test_a_signed_event_is_retried_with_backoff_until_delivered(market: Marketplace) -> None:
    later(market, 0)  # the clock stands still unless moved
    key = market.key()
    with receiver() as hooks:
        webhook = register(market, key, hooks.url())
        assert webhook["secret"].startswith("whsec_") and webhook["id"].startswith("wh_")
        hooks.answer(status(500, b"database down"), status(503))
        invitation = cancel_an_invitation(market, key)

        [first] = hooks.requests  # sent right after the change (inline delivery)
        [entry] = log(market, key, webhook["id"])
        assert entry["state"] == "pending" and entry["attempts"] == 1
        assert entry["status_code"] == 500 and entry["last_error"] == "HTTP 500: database down"
        assert (
            entry["next_attempt_at"] == (market.backend.clock() + timedelta(seconds=60)).isoformat()
        )

        assert market.backend.deliver_webhooks_now().sent == 0  # not due yet
        later(market, 61)
        market.backend.deliver_webhooks_now()  # 503
        [entry] = log(market, key, webhook["id"])
        assert entry["attempts"] == 2 and entry["status_code"] == 503
        # the wait doubles: 120 s after the second failure
        assert (
            entry["next_attempt_at"]
            == (market.backend.clock() + timedelta(seconds=120)).isoformat()
        )
        later(market, 119)
        assert market.backend.deliver_webhooks_now().sent == 0
        later(market, 2)
        assert market.backend.deliver_webhooks_now().sent == 1

        [entry] = log(market, key, webhook["id"])
        assert entry["state"] == "delivered" and entry["attempts"] == 3
        assert entry["status_code"] == 200 and entry["last_error"] is None
        first, second, third = hooks.requests
    # the same event, the same bytes, each attempt signed anew at its own time
    assert first.body == second.body == third.body
    event = first.json()
    assert set(event) == {"id", "type", "created", "data"}
    assert event["id"].startswith("evt_") and event["type"] == "invitation.canceled"
    assert event["data"]["invitation"]["id"] == invitation
    assert {r.headers["marketplace-event-id"] for r in hooks.requests} == {event["id"]}
    assert first.headers["content-type"] == "application/json"
    assert first.headers["marketplace-event-type"] == "invitation.canceled"
    for request in hooks.requests:
        header = request.headers["marketplace-signature"]
        t = int(header.split(",")[0].removeprefix("t="))
        assert verify_signature(webhook["secret"], header, request.body, now=t)
        assert not verify_signature("whsec_other", header, request.body, now=t)
        assert not verify_signature(webhook["secret"], header, request.body + b" ", now=t)
    assert entry["event_id"] == event["id"]
    # delivered: the body is no longer kept
    with market.backend.read() as session:
        assert session.execute(select(WebhookEvent.body)).scalar_one() is None


def test_a_failing_endpoint_is_given_up_after_three_days(market: Marketplace) -> None:
    key = market.key()
    with receiver() as hooks:
        webhook = register(market, key, hooks.url())
        hooks.answer(*[status(500)] * 200)
        cancel_an_invitation(market, key)
        while log(market, key, webhook["id"])[0]["state"] == "pending":
            due = log(market, key, webhook["id"])[0]["next_attempt_at"]
            market.backend.clock = lambda due=due: datetime.fromisoformat(due)
            market.backend.deliver_webhooks_now()
        [entry] = log(market, key, webhook["id"])
    assert entry["state"] == "failed" and entry["failed_at"] is not None
    # 60 s doubling up to an hour, for three days: about 75 attempts, not hundreds
    assert 60 < entry["attempts"] < 90 and len(hooks.requests) == entry["attempts"]


def test_a_slow_endpoint_times_out(app_factory: Callable[..., Flask]) -> None:
    market = Marketplace(
        app_factory(MARKETPLACE_WEBHOOK_ALLOW_PRIVATE="on", MARKETPLACE_WEBHOOK_TIMEOUT_SECONDS="1")
    )
    market.add_tenant()
    key = market.key()
    with receiver() as hooks:
        webhook = register(market, key, hooks.url())
        hooks.answer(slow(3), drip(3))
        started = time.monotonic()
        cancel_an_invitation(market, key)
        assert time.monotonic() - started < 2.5
        [entry] = log(market, key, webhook["id"])
        assert entry["state"] == "pending" and entry["status_code"] is None
        assert entry["last_error"] == "no answer within 1 s"
        # an answer that trickles in a byte at a time is cut at the deadline too
        later(market, 61)
        started = time.monotonic()
        market.backend.deliver_webhooks_now()
        assert time.monotonic() - started < 2.5
        [entry] = log(market, key, webhook["id"])
        assert entry["attempts"] == 2 and entry["last_error"] == "no answer within 1 s"


def test_an_endpoint_that_hangs_does_not_hold_up_other_partners(
    app_factory: Callable[..., Flask],
) -> None:
    """A round tries a failing endpoint once: its other deliveries wait for its retry (no
    attempt counted) and another partner's webhook goes out in the same round."""
    market = Marketplace(
        app_factory(
            MARKETPLACE_WEBHOOK_ALLOW_PRIVATE="on",
            MARKETPLACE_WEBHOOK_TIMEOUT_SECONDS="1",
            MARKETPLACE_MAIL_DELIVERY="off",
        )
    )
    contoso, cape = market.key(), market.key("cape-collaboration")
    with receiver() as stuck, receiver() as fine:
        hanging = register(market, contoso, stuck.url())["id"]
        working = register(market, cape, fine.url())["id"]
        stuck.answer(slow(3))  # then 200
        for _ in range(5):
            assert market.api(contoso, "POST", f"/webhooks/{hanging}/test").status_code == 202
        assert market.api(cape, "POST", f"/webhooks/{working}/test").status_code == 202
        started = time.monotonic()
        report = market.backend.deliver_webhooks_now()
        assert time.monotonic() - started < 2.5, "one timeout, not five"
        assert report.sent == 1 and len(fine.requests) == 1
        entries = log(market, contoso, hanging)
        assert sorted(entry["attempts"] for entry in entries) == [0, 0, 0, 0, 1]
        assert {entry["state"] for entry in entries} == {"pending"}
        # at the retry they are all due again
        later(market, 61)
        assert market.backend.deliver_webhooks_now().sent == 5


def test_a_redirect_is_not_followed(market: Marketplace) -> None:
    key = market.key()
    with receiver() as hooks:
        webhook = register(market, key, hooks.url())
        hooks.answer(status(302, Location=hooks.url("/elsewhere")))
        cancel_an_invitation(market, key)
        assert [request.path for request in hooks.requests] == ["/hook"]
    [entry] = log(market, key, webhook["id"])
    assert entry["state"] == "pending" and entry["status_code"] == 302
    assert entry["last_error"] == f"HTTP 302: redirect to {hooks.url('/elsewhere')} not followed"


def test_workers_racing_send_each_delivery_once(app_factory: Callable[..., Flask]) -> None:
    market = Marketplace(
        app_factory(MARKETPLACE_WEBHOOK_ALLOW_PRIVATE="1", MARKETPLACE_MAIL_DELIVERY="off")
    )
    market.add_tenant()
    key = market.key()
    with receiver() as hooks:
        register(market, key, hooks.url())
        for _ in range(12):
            cancel_an_invitation(market, key)
        hooks.answer(*[slow(0.05)] * 12)
        backend = market.backend
        rounds = [
            threading.Thread(
                target=deliver_webhooks, args=(backend.database, backend.settings), daemon=True
            )
            for _ in range(4)
        ]
        for thread in rounds:
            thread.start()
        for thread in rounds:
            thread.join(timeout=30)
        ids = [request.headers["marketplace-event-id"] for request in hooks.requests]
    assert len(ids) == 12 and len(set(ids)) == 12
    with backend.read() as session:
        attempts = session.execute(select(WebhookDelivery.attempts)).scalars().all()
    assert attempts == [1] * 12


def test_a_deleted_endpoint_gets_nothing_more(app_factory: Callable[..., Flask]) -> None:
    market = Marketplace(
        app_factory(MARKETPLACE_WEBHOOK_ALLOW_PRIVATE="1", MARKETPLACE_MAIL_DELIVERY="off")
    )
    market.add_tenant()
    key = market.key()
    with receiver() as hooks:
        webhook = register(market, key, hooks.url())
        cancel_an_invitation(market, key)
        assert market.api(key, "DELETE", f"/webhooks/{webhook['id']}").status_code == 204
        market.backend.deliver_webhooks_now()
        assert hooks.requests == []
    with market.backend.read() as session:
        delivery = session.execute(select(WebhookDelivery)).scalar_one()
        endpoint = session.execute(select(WebhookEndpoint)).scalar_one()
        body = session.execute(select(WebhookEvent.body)).scalar_one()
    assert delivery.failed_at is not None and delivery.last_error == "the endpoint was deleted"
    assert endpoint.deleted_at is not None and endpoint.secret_salt == ""
    assert body is not None  # (emptied by the next delivery round that finishes an event)


def test_a_changed_secret_key_is_reported_not_signed_with(
    app_factory: Callable[..., Flask], tmp_path: Path
) -> None:
    market = Marketplace(
        app_factory(MARKETPLACE_WEBHOOK_ALLOW_PRIVATE="1", MARKETPLACE_MAIL_DELIVERY="off")
    )
    market.add_tenant()
    key = market.key()
    with receiver() as hooks:
        webhook = register(market, key, hooks.url())
        cancel_an_invitation(market, key)
        settings = market.backend.settings.model_copy(
            update={"secret_key": SecretStr("another key")}
        )
        report = deliver_webhooks(market.backend.database, settings)
        assert hooks.requests == []
    assert report.undeliverable == 1
    [entry] = log(market, key, webhook["id"])
    assert entry["state"] == "failed" and "secret key changed" in entry["last_error"]


def test_the_secret_is_derived_not_stored(market: Marketplace) -> None:
    key = market.key()
    webhook = register(market, key, "http://127.0.0.1:9/hook")
    with market.backend.read() as session:
        endpoint = session.execute(select(WebhookEndpoint)).scalar_one()
    assert webhook["secret"] not in repr(vars(endpoint))
    instance_key = market.backend.settings.secret_key.get_secret_value()
    assert signing_secret(instance_key, endpoint.secret_salt) == webhook["secret"]
    assert signing_secret("another key", endpoint.secret_salt) != webhook["secret"]
    listed = market.api(key, "GET", "/webhooks").get_json()["webhooks"]
    assert "secret" not in listed[0]


def _cli(market: Marketplace, *args: str) -> Result:
    """`marketplace` on the test's installation, with webhooks allowed to loopback."""
    ran = CliRunner().invoke(
        main,
        [*args, "--instance", str(market.backend.settings.instance_dir)],
        env={
            "MARKETPLACE_DATABASE_URL": market.backend.settings.database_url,
            "MARKETPLACE_WEBHOOK_ALLOW_PRIVATE": "1",
        },
    )
    assert ran.exception is None or isinstance(ran.exception, SystemExit), repr(ran.exception)
    return ran


def test_mail_send_delivers_webhooks_too(app_factory: Callable[..., Flask]) -> None:
    market = Marketplace(
        app_factory(MARKETPLACE_WEBHOOK_ALLOW_PRIVATE="1", MARKETPLACE_MAIL_DELIVERY="off")
    )
    market.add_tenant()
    key = market.key()
    with receiver() as hooks:
        register(market, key, hooks.url())
        cancel_an_invitation(market, key)
        assert hooks.requests == []
        ran = _cli(market, "mail", "send")
        assert ran.exit_code == 0, ran.output
        assert "Webhooks: 1 delivered; 0 failed and will be retried; 0 given up." in ran.output
        assert len(hooks.requests) == 1


def test_config_shows_the_webhook_settings(market: Marketplace) -> None:
    shown = _cli(market, "config").output
    assert re.search(r"MARKETPLACE_WEBHOOK_ALLOW_PRIVATE\s+on\b", shown), shown
    assert re.search(r"MARKETPLACE_WEBHOOK_TIMEOUT_SECONDS\s+5\b", shown), shown


# --- where a webhook may go ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("93.184.216.34", Reach.PUBLIC),
        ("2606:2800:220:1:248:1893:25c8:1946", Reach.PUBLIC),
        ("::ffff:93.184.216.34", Reach.PUBLIC),
        ("10.0.0.1", Reach.PRIVATE),
        ("172.16.5.4", Reach.PRIVATE),
        ("192.168.1.1", Reach.PRIVATE),
        ("127.0.0.1", Reach.PRIVATE),
        ("127.8.9.10", Reach.PRIVATE),
        ("169.254.169.254", Reach.PRIVATE),
        ("100.64.0.1", Reach.PRIVATE),  # shared address space (CGNAT)
        ("192.0.2.10", Reach.PRIVATE),  # documentation
        ("198.18.0.1", Reach.PRIVATE),  # benchmarking
        ("::1", Reach.PRIVATE),
        ("fe80::1", Reach.PRIVATE),
        ("fc00::1", Reach.PRIVATE),
        ("fec0::1", Reach.PRIVATE),  # site-local
        ("::ffff:127.0.0.1", Reach.PRIVATE),  # IPv4-mapped
        ("::ffff:169.254.169.254", Reach.PRIVATE),
        ("2002:7f00:1::", Reach.PRIVATE),  # 6to4 of 127.0.0.1
        ("64:ff9b::a00:1", Reach.PRIVATE),  # NAT64 of 10.0.0.1
        ("0.0.0.0", Reach.NEVER),  # noqa: S104 - an address refused, not one to bind
        ("::", Reach.NEVER),
        ("224.0.0.1", Reach.NEVER),
        ("239.1.2.3", Reach.NEVER),
        ("ff02::1", Reach.NEVER),
        ("255.255.255.255", Reach.NEVER),
        ("240.0.0.1", Reach.NEVER),
    ],
)
def test_which_addresses_may_receive_webhooks(address: str, expected: Reach) -> None:
    assert reach(ipaddress.ip_address(address)) is expected


REFUSED_TARGETS = [
    "https://10.0.0.1/hook",
    "https://127.0.0.1/hook",
    "https://127.0.0.1:8443/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[::ffff:7f00:1]/hook",
    "https://localhost/hook",  # a name that resolves to loopback
    "https://LOCALHOST./hook",
    "https://100.64.1.1/hook",
    "https://[fe80::1]/hook",
    "https://0.0.0.0/hook",
    "https://224.0.0.1/hook",
]


@pytest.mark.parametrize("url", REFUSED_TARGETS)
def test_private_targets_are_refused_at_registration(market_public: Marketplace, url: str) -> None:
    key = market_public.key()
    answer = market_public.api(
        key, "POST", "/webhooks", {"url": url, "events": ["invitation.accepted"]}
    )
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["error"] == "webhook_target_not_allowed"
    assert answer.get_json()["field"] == "url"
    assert market_public.api(key, "GET", "/webhooks").get_json()["webhooks"] == []


@pytest.fixture
def market_public(app_factory: Callable[..., Flask]) -> Marketplace:
    """A backend as in production: webhooks go to public HTTPS addresses only."""
    return Marketplace(app_factory(MARKETPLACE_MAIL_DELIVERY="off"))


def test_plain_http_is_refused_without_allow_private(market_public: Marketplace) -> None:
    key = market_public.key()
    for url in ("http://93.184.216.34/hook", "http://127.0.0.1/hook"):
        answer = market_public.api(
            key, "POST", "/webhooks", {"url": url, "events": ["invitation.accepted"]}
        )
        assert answer.status_code == 400
        assert answer.get_json() == {
            "error": "validation_error",
            "message": "url: must start with https:// (webhooks are sent over TLS only)",
            "field": "url",
        }
    public = market_public.api(
        key,
        "POST",
        "/webhooks",
        {"url": "https://93.184.216.34/hook", "events": ["invitation.accepted"]},
    )
    assert public.status_code == 201


def test_allow_private_admits_loopback_and_http_only_there(market: Marketplace) -> None:
    key = market.key()
    assert register(market, key, "http://127.0.0.1:9/hook")
    assert register(market, key, "https://10.1.2.3/hook")
    assert register(market, key, "http://localhost:9/hook")
    for url, error in (
        ("http://93.184.216.34/hook", "webhook_target_not_allowed"),  # plain http, public
        ("https://0.0.0.0/hook", "webhook_target_not_allowed"),  # never a server
        ("https://224.0.0.1/hook", "webhook_target_not_allowed"),
        ("ftp://127.0.0.1/hook", "validation_error"),
    ):
        answer = market.api(key, "POST", "/webhooks", {"url": url, "events": ALL_EVENTS})
        assert answer.get_json()["error"] == error, url


def _endpoint_for(market: Marketplace, url: str, resolves_to: list[str]) -> None:
    """Register `url` as if its name resolved to `resolves_to` then."""
    new = checked_endpoint(url, ALL_EVENTS, market.backend.settings, resolve=lambda *_: resolves_to)
    market.backend.run(lambda uow: register_endpoint(uow, "contoso-cloud", new, OPERATOR))


@pytest.mark.parametrize(
    "at_delivery", [["127.0.0.1"], ["93.184.216.34", "10.0.0.7"], ["::ffff:127.0.0.1"]]
)
def test_a_name_that_resolves_elsewhere_later_is_checked_again(
    app_factory: Callable[..., Flask], at_delivery: list[str]
) -> None:
    # DNS rebinding: public when registered, private when delivered
    market = Marketplace(app_factory(MARKETPLACE_MAIL_DELIVERY="off"))
    market.add_tenant()
    key = market.key()
    with receiver() as hooks:
        _endpoint_for(market, f"https://hooks.contoso.test:{hooks.port}/hook", ["93.184.216.34"])
        cancel_an_invitation(market, key)
        backend = market.backend
        report = deliver_webhooks(
            backend.database, backend.settings, resolve=lambda *_: at_delivery
        )
        assert hooks.requests == []
    assert report.failed == 1
    with backend.read() as session:
        delivery = session.execute(select(WebhookDelivery)).scalar_one()
    assert delivery.last_error == (
        "not sent: leads to a private, loopback or link-local address: webhooks go to public "
        "addresses only"
    ), "the private address itself is not named"
    assert delivery.delivered_at is None and delivery.failed_at is None  # retried later


def test_the_checked_address_is_connected_to_with_the_host_named(
    market: Marketplace,
) -> None:
    key = market.key()
    with receiver() as hooks:
        _endpoint_for(market, f"http://hooks.contoso.test:{hooks.port}/hook", ["127.0.0.1"])
        cancel_an_invitation(market, key)  # (inline: the system resolver knows no such name)
        assert hooks.requests == []
        resolved: list[str] = []

        def resolve(host: str, port: int, timeout: float) -> list[str]:
            resolved.append(host)
            return ["127.0.0.1"]

        backend = market.backend
        later(market, 61)
        report = deliver_webhooks(
            backend.database, backend.settings, clock=backend.clock, resolve=resolve
        )
        assert report.sent == 1 and resolved == ["hooks.contoso.test"]
        [request] = hooks.requests
    assert request.headers["host"] == f"hooks.contoso.test:{hooks.port}"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for hooks.contoso.test (openssl)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=hooks.contoso.test",
            "-addext", "subjectAltName=DNS:hooks.contoso.test",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def test_tls_names_the_host_while_connecting_to_the_checked_address(
    market: Marketplace, certificate: tuple[Path, Path]
) -> None:
    cert, private_key = certificate
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(cert, private_key)
    trusting = ssl.create_default_context(cafile=str(cert))
    key = market.key()
    backend = market.backend
    with receiver(tls=server_side) as hooks:
        _endpoint_for(market, f"https://hooks.contoso.test:{hooks.port}/hook", ["127.0.0.1"])
        cancel_an_invitation(market, key)  # inline, untrusted: fails, retried later
        later(market, 61)
        report = deliver_webhooks(
            backend.database,
            backend.settings,
            clock=backend.clock,
            resolve=lambda *_: ["127.0.0.1"],
            tls=trusting,
        )
        assert report.sent == 1
        assert hooks.server_names[-1] == "hooks.contoso.test"  # SNI
        assert hooks.requests[-1].headers["host"] == f"hooks.contoso.test:{hooks.port}"
    # a certificate for another name is refused, though the address is the same
    with receiver(tls=server_side) as hooks:
        with backend.write() as session:
            session.execute(
                update(WebhookEndpoint).values(url=f"https://other.contoso.test:{hooks.port}/")
            )
        cancel_an_invitation(market, key)
        later(market, 61)
        deliver_webhooks(
            backend.database,
            backend.settings,
            clock=backend.clock,
            resolve=lambda *_: ["127.0.0.1"],
            tls=trusting,
        )
        assert hooks.requests == []
    with backend.read() as session:
        errors = session.execute(select(WebhookDelivery.last_error)).scalars().all()
    assert any("TLS certificate not accepted" in (error or "") for error in errors)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "must be a URL of 1 to 2000 characters"),
        ("https://" + "a" * 1995, "must be a URL of 1 to 2000 characters"),
        ("example.com/hook", "must be an https:// URL"),
        ("ftp://example.com/hook", "must be an https:// URL"),
        ("https:///hook", "must be an https:// URL"),
        ("https://user:pw@example.com/hook", "must not contain a user name or password"),
        ("https://example.com/hook#part", "must not contain a #fragment"),
        ("https://example.com:99999/hook", "port that is not a number"),
        ("https://example.com:0/hook", "port that is not a number"),
        ("https://exa mple.com/hook", "must not contain spaces"),
        ("https://example.com/a\x00b", "must not contain spaces or control characters"),
        ("https://exa_mple..com/hook", "is not a host name"),
        ("https://example.com/путь", "must be ASCII after the host name"),
        ("https://1.2.3/hook", "is not a host name"),
    ],
)
def test_malformed_urls_are_named(url: str, message: str) -> None:
    from consent_app.refusals import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        parse_target(url, allow_private=False)
    assert refused.value.field == "url" and message in refused.value.message


def test_an_international_host_name_is_kept_in_ascii() -> None:
    target = parse_target("https://Bücher.example/hook?x=1", allow_private=False)
    assert (target.host, target.port, target.path) == ("xn--bcher-kva.example", 443, "/hook?x=1")


def test_a_name_that_does_not_resolve_is_refused_at_registration(tmp_path: Path) -> None:
    from consent_app.refusals import InvalidInput
    from consent_app.webhook_delivery import ResolutionFailed

    def nothing(host: str, port: int, timeout: float) -> list[str]:
        raise ResolutionFailed(f"{host} does not resolve")

    with pytest.raises(InvalidInput) as refused:
        checked_target("https://nowhere.contoso.test/", False, nothing)
    assert refused.value.field == "url" and "does not resolve" in refused.value.message
    settings = settings_for(tmp_path / "instance")
    assert settings.webhook_allow_private is False and settings.webhook_timeout_seconds == 5


def test_given_up_deliveries_are_dropped_with_their_bodies(market: Marketplace) -> None:
    key = market.key()
    with receiver() as hooks:
        register(market, key, hooks.url())
        hooks.answer(status(500))
        cancel_an_invitation(market, key)
        with market.backend.read() as session:
            created = session.execute(select(WebhookEvent.created_at)).scalar_one()
        moment = created + GIVE_UP_AFTER
        market.backend.clock = lambda: moment
        hooks.answer(status(500))
        assert market.backend.deliver_webhooks_now().undeliverable == 1
    with market.backend.read() as session:
        assert session.execute(select(WebhookEvent.body)).scalar_one() is None


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("on", True), ("0", False), ("off", False)]
)
def test_allow_private_setting(tmp_path: Path, value: str, expected: bool) -> None:
    settings = settings_for(tmp_path / "instance", MARKETPLACE_WEBHOOK_ALLOW_PRIVATE=value)
    assert settings.webhook_allow_private is expected


def test_bad_webhook_settings_are_named(tmp_path: Path) -> None:
    from consent_app.settings import SettingsError

    for name, value, words in (
        ("MARKETPLACE_WEBHOOK_ALLOW_PRIVATE", "yes", "must be on or off"),
        ("MARKETPLACE_WEBHOOK_TIMEOUT_SECONDS", "0", "from 1 to 60"),
        ("MARKETPLACE_WEBHOOK_TIMEOUT_SECONDS", "61", "from 1 to 60"),
        ("MARKETPLACE_WEBHOOK_RETRY_SECONDS", "soon", "whole number of seconds"),
    ):
        with pytest.raises(SettingsError) as refused:
            settings_for(tmp_path / "instance", **{name: value})
        assert name in str(refused.value) and words in str(refused.value)
