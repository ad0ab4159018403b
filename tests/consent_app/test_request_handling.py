"""Request handling (issue 12, item 8): hostile bodies, ids, paths, hosts, copied cookies and
floods get a clear 4xx, never a 500, and never an answer shaped by the attacker."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import update
from werkzeug.test import TestResponse

from consent_app import MAX_BODY_BYTES
from consent_app.db import utcnow
from consent_app.models import CustomerSession
from consent_app.settings import SettingsError
from marketplace.validate import load_listings
from marketplace_app.staging import MANIFEST
from search.documents import partner_documents
from search.whoosh_engine import build_index
from search.whoosh_engine import index_root as search_index_root
from tests.conftest import EXAMPLE_LISTINGS, install_example_snapshot
from tests.consent_app.conftest import ADMIN, CHECKED, Marketplace, csrf_token
from tests.serving import serve, stop
from tests.smtp import free_port

FORGED_HOST = "evil.example"


def error_of(response: TestResponse) -> tuple[int, str]:
    body = response.get_json()
    assert isinstance(body, dict) and body.get("message"), response.get_data(as_text=True)
    return response.status_code, body["error"]


@pytest.fixture
def key(market: Marketplace) -> str:
    market.add_tenant()
    return market.key("contoso-cloud")


# --- JSON bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,  # json.loads raises RecursionError
        '{"a":' * 30_000 + "1" + "}" * 30_000,
        # parses, but deeper than any body needs: refused before anything walks it
        '{"type": "trial", "customer": {"email": ' + "[" * 40 + "]" * 40 + "}}",
    ],
    ids=["arrays", "objects", "inside-a-field"],
)
def test_deeply_nested_json_is_a_validation_error(market: Marketplace, key: str, body: str) -> None:
    assert len(body) < MAX_BODY_BYTES  # refused for its depth, not its size
    response = market.client.post(
        "/api/v1/invitations",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert error_of(response) == (400, "validation_error")
    assert "nested" in response.get_json()["message"]
    assert market.mails() == []


# --- ids from URLs and queries -------------------------------------------------------------


@pytest.mark.parametrize(
    "event_id", ["2147483648", "9223372036854775808", "99999999999999999999", "9" * 5000]
)
def test_receipt_ids_out_of_range_are_not_found(market: Marketplace, event_id: str) -> None:
    market.add_tenant()
    client = market.sign_in()
    response = client.get(f"/account/receipts/{event_id}.json")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "invitation_id", ["inv_" + "a" * 5000, "inv_a%00b", "inv_%E2%80%AE", "x" * 33]
)
def test_invitation_ids_that_cannot_exist_are_not_found(
    market: Marketplace, key: str, invitation_id: str
) -> None:
    assert error_of(market.api(key, "GET", f"/invitations/{invitation_id}")) == (404, "not_found")
    cancel = market.api(key, "POST", f"/invitations/{invitation_id}/cancel")
    assert error_of(cancel) == (404, "not_found")


@pytest.mark.parametrize("before", ["inv_a%00b", "9" * 5000, "inv_%E2%80%AE"])
def test_paging_anchors_that_cannot_exist_are_validation_errors(
    market: Marketplace, key: str, before: str
) -> None:
    response = market.api(key, "GET", f"/invitations?before={before}")
    assert error_of(response) == (400, "validation_error")
    assert response.get_json()["field"] == "before"


def test_tenant_in_the_path_that_cannot_exist(market: Marketplace, key: str) -> None:
    response = market.api(key, "DELETE", "/relationships/a%00b.onmicrosoft.com/delegated-admin")
    assert response.status_code in (400, 404)
    assert response.get_json()["error"] in ("validation_error", "not_found")


def test_a_path_too_long_for_the_file_system_is_not_found(market: Marketplace) -> None:
    assert market.client.get("/" + "a" * 300).status_code == 404
    assert market.client.get("/partners/" + "a" * 300 + "/").status_code == 404


# --- unknown API paths ---------------------------------------------------------------------


@pytest.fixture
def site_with_404(app_factory: Callable[..., Flask], tmp_path: Path) -> Marketplace:
    site = tmp_path / "built"
    (site / "partners").mkdir(parents=True)
    (site / "404.html").write_text("<h1>not here</h1>")
    return Marketplace(app_factory(SITE_DIR=str(site)))


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v2/invitations", "/api/x"])
def test_unknown_api_paths_answer_json_404(
    site_with_404: Marketplace, method: str, path: str
) -> None:
    response = site_with_404.client.open(path, method=method)
    assert response.status_code == 404
    if method != "HEAD":
        assert error_of(response) == (404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/v1/invitations", {"GET", "POST"}),
        ("GET", "/api/v1/invitations/inv_0/cancel", {"POST"}),
        ("POST", "/api/v1/search", {"GET"}),
        ("PATCH", "/api/v1/relationships", {"GET"}),
    ],
)
def test_wrong_methods_on_api_paths_answer_json_405(
    site_with_404: Marketplace, method: str, path: str, allowed: set[str]
) -> None:
    response = site_with_404.client.open(path, method=method)
    assert error_of(response) == (405, "method_not_allowed")
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}


# --- redirects and the Host header ---------------------------------------------------------


def assert_not_echoed(response: TestResponse) -> None:
    location = response.headers["Location"]
    assert FORGED_HOST not in location
    assert location.startswith("http://marketplace.test/") or (
        location.startswith("/") and not location.startswith("//")
    ), location


def test_redirects_never_echo_the_host_header(site_with_404: Marketplace) -> None:
    market = site_with_404
    market.add_tenant()
    market.invite(market.key(), delegated_admin=True)
    market.decide(market.link(), authorize_delegated_admin=CHECKED, make_partner_of_record=CHECKED)
    forged = {"Host": FORGED_HOST}
    anonymous = market.app.test_client()
    for path in ("/account", "/account/", "/partners", "/account/receipts/1.json"):
        response = anonymous.get(path, headers=forged)
        assert response.status_code in (301, 302, 308), path
        assert_not_echoed(response)

    # sign-in itself, with the forged host
    client = market.app.test_client()
    page = client.get("/signin", headers=forged)
    client.post(
        "/signin",
        data={"csrf_token": csrf_token(page.get_data(as_text=True)), "email": ADMIN},
        headers=forged,
    )
    link = market.link(ADMIN, "signin")
    confirm = client.get(link, headers=forged)
    signed_in = client.post(
        link, data={"csrf_token": csrf_token(confirm.get_data(as_text=True))}, headers=forged
    )
    assert signed_in.status_code == 302
    assert_not_echoed(signed_in)

    token = csrf_token(client.get("/account/", headers=forged).get_data(as_text=True))
    for path, form in (
        ("/account/partner-of-record", {"action": "clear", "confirm_clear": "y"}),
        ("/account/delegated-admin/revoke", {"partner": "contoso-cloud", "confirm": "y"}),
        ("/account/signout", {}),
    ):
        response = client.post(path, data={"csrf_token": token, **form}, headers=forged)
        assert response.status_code == 302, (path, response.get_data(as_text=True))
        assert_not_echoed(response)


# --- signing out ---------------------------------------------------------------------------


def test_a_copied_session_cookie_stops_working_at_sign_out(market: Marketplace) -> None:
    market.add_tenant()
    client = market.sign_in()
    cookie = client.get_cookie("mp_session")
    assert cookie is not None
    copy = market.app.test_client()
    copy.set_cookie("mp_session", cookie.value)
    page = copy.get("/account/")
    assert page.status_code == 200
    copy_token = csrf_token(page.get_data(as_text=True))

    token = csrf_token(client.get("/account/").get_data(as_text=True))
    assert client.post("/account/signout", data={"csrf_token": token}).status_code == 302
    assert copy.get("/account/").status_code == 302
    assert copy.get("/account/receipts/1.json").status_code == 302
    revoke = copy.post(
        "/account/delegated-admin/revoke",
        data={"csrf_token": copy_token, "partner": "contoso-cloud"},
    )
    assert revoke.status_code == 302 and revoke.headers["Location"].endswith("/signin")


def test_a_session_ends_on_the_server_when_it_expires(market: Marketplace) -> None:
    market.add_tenant()
    client = market.sign_in()
    assert client.get("/account/").status_code == 200
    with market.backend.write() as session:
        session.execute(update(CustomerSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert client.get("/account/").status_code == 302


def test_signing_in_again_starts_a_new_session(market: Marketplace) -> None:
    market.add_tenant()
    first = market.sign_in()
    second = market.sign_in()
    token = csrf_token(first.get("/account/").get_data(as_text=True))
    first.post("/account/signout", data={"csrf_token": token})
    assert first.get("/account/").status_code == 302
    assert second.get("/account/").status_code == 200  # another browser stays signed in


# --- partner API rate limits ---------------------------------------------------------------


def test_invitation_creation_is_limited_per_key(app_factory: Callable[..., Flask]) -> None:
    market = Marketplace(app_factory(MARKETPLACE_INVITATION_RATE_LIMIT="2/minute"))
    market.add_tenant()
    key = market.key("contoso-cloud")
    assert [market.invite(key).status_code for _ in range(2)] == [201, 201]
    limited = market.invite(key)
    assert error_of(limited) == (429, "too_many_requests")
    assert int(limited.headers["Retry-After"]) > 0
    assert len(market.mails()) == 2
    # the limit belongs to the key, not to the client address or the partner's other keys
    other_key = market.key("contoso-cloud")
    assert market.invite(other_key).status_code == 201
    assert market.api(key, "GET", "/invitations").status_code == 200


def test_the_whole_partner_api_is_limited_per_key(app_factory: Callable[..., Flask]) -> None:
    market = Marketplace(app_factory(MARKETPLACE_API_RATE_LIMIT="3 per minute"))
    market.add_tenant()
    key = market.key("contoso-cloud")
    statuses = [
        market.api(key, "GET", "/relationships").status_code,
        market.api(key, "GET", "/invitations").status_code,
        market.invite(key).status_code,
    ]
    assert statuses == [200, 200, 201]
    limited = market.api(key, "GET", "/relationships")
    assert error_of(limited) == (429, "too_many_requests")
    assert "Retry-After" in limited.headers
    assert market.api(market.key("contoso-cloud"), "GET", "/relationships").status_code == 200


def test_requests_without_a_valid_key_do_not_use_a_partners_limit(
    app_factory: Callable[..., Flask],
) -> None:
    market = Marketplace(app_factory(MARKETPLACE_API_RATE_LIMIT="2 per minute"))
    key = market.key("contoso-cloud")
    key_id = key.split("_")[1]
    forged = f"mpk_{key_id}_" + "A" * 43
    assert {market.api(forged, "GET", "/relationships").status_code for _ in range(5)} == {401}
    assert market.api(key, "GET", "/relationships").status_code == 200


def test_rate_limits_can_be_switched_off(app_factory: Callable[..., Flask]) -> None:
    market = Marketplace(
        app_factory(MARKETPLACE_INVITATION_RATE_LIMIT="1/minute", MARKETPLACE_RATE_LIMITS="off")
    )
    market.add_tenant()
    key = market.key("contoso-cloud")
    assert {market.invite(key).status_code for _ in range(3)} == {201}


@pytest.mark.parametrize(
    "setting", ["MARKETPLACE_API_RATE_LIMIT", "MARKETPLACE_INVITATION_RATE_LIMIT"]
)
def test_rate_limit_settings_are_checked_at_start(
    app_factory: Callable[..., Flask], setting: str
) -> None:
    with pytest.raises(SettingsError, match=setting):
        app_factory(**{setting: "lots"})


def test_default_rate_limits(market: Marketplace) -> None:
    settings = market.backend.settings
    assert settings.api_rate_limit == "600 per minute"
    assert settings.invitation_rate_limit == "60 per minute; 1000 per day"


# --- request bodies on the real server -----------------------------------------------------


def _prebuilt(tmp_path: Path) -> None:
    """A site and search index in `tmp_path` (where `tests.serving.serve` puts them) that
    `serve` finds up to date, so it starts without building."""
    instance, site = tmp_path / "instance", tmp_path / "site"
    catalog, loaded = load_listings(EXAMPLE_LISTINGS)
    build_index(
        search_index_root(instance), partner_documents(catalog, [i.listing for i in loaded])
    )
    install_example_snapshot(instance)
    site.mkdir()
    (site / "index.html").write_text("<h1>Partner Marketplace</h1>")
    (site / MANIFEST).write_text('{"files": ["index.html"]}')  # what a build's publish leaves


def test_serve_refuses_an_over_large_body_before_reading_it(tmp_path: Path) -> None:
    _prebuilt(tmp_path)
    port = free_port()
    server = serve(EXAMPLE_LISTINGS, tmp_path, port)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            # Announce 100 MB, send only the headers: the answer must come without the body.
            connection.sendall(
                b"POST /api/v1/invitations HTTP/1.1\r\n"
                b"Host: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\n"
                b"Content-Length: 100000000\r\n\r\n{"
            )
            answer = connection.recv(4096)
        assert answer.startswith(b"HTTP/1.1 413"), answer
    finally:
        stop(server)
