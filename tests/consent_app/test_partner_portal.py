"""The partner's pages: sign-in by mailed link, sessions apart from the customers', the
overview, customers (ending its own DA) and API keys; every page checked for another partner's
things, bad input, and Russian."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from email.header import decode_header, make_header

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from consent_app.audit import verify
from consent_app.db import utcnow
from consent_app.demo import PARTNER_USER as DEMO_PARTNER_USER
from consent_app.demo import prepare_demo
from consent_app.models import (
    AuditEvent,
    Invitation,
    OutboxMessage,
    PartnerKey,
    PartnerSession,
    PartnerSignInToken,
)
from consent_app.partner_sessions import remove_user
from tests.consent_app.conftest import (
    ADMIN,
    CHECKED,
    OPERATOR,
    TENANT,
    Marketplace,
    csrf_token,
)
from tests.consent_app.partner_portal import (
    PARTNER_USER,
    add_partner_user,
    ask_for_link,
    partner_client,
    partner_links,
    use_link,
)
from tests.smtp import smtp_server

OTHER = "cape-collaboration"
OTHER_USER = "ops@cape.example"


def text(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


def with_da(market: Marketplace, slug: str = "contoso-cloud", offer: str = "trial-collab") -> None:
    """The demo tenant accepts `slug`'s trial with delegated administration."""
    key = market.key(slug)
    assert market.invite(key, offer_id=offer, delegated_admin=True).status_code == 201
    decided = market.decide(
        market.link(), authorize_delegated_admin=CHECKED, make_partner_of_record=CHECKED
    )
    assert decided.status_code in (200, 302), text(decided)


# --- signing in ---------------------------------------------------------------------------------


def test_sign_in_by_mailed_link_over_a_real_smtp_server(app_factory: Callable[..., Flask]) -> None:
    with smtp_server() as (url, received):
        market = Marketplace(app_factory(MARKETPLACE_SMTP_URL=url))
        add_partner_user(market)
        client = market.app.test_client()
        assert ask_for_link(client, "Sales@Contoso.Example") == 200
        assert [rcpt for rcpt, _ in received.messages] == [[PARTNER_USER]]
        message = received.messages[0][1]
        subject = str(make_header(decode_header(str(message["Subject"]))))
        assert subject.startswith("Your sign-in link for the partner pages")
        assert subject.endswith("Ссылка для входа на страницы партнёра в Маркетплейсе партнёров")
        body = message.get_payload(decode=True)
        assert isinstance(body, bytes)
        plain = body.decode()
        assert "Contoso Cloud Services (contoso-cloud)" in plain
        assert "Страницы партнёра" in plain or "страницы партнёра" in plain  # English and Russian
        [path] = set(re.findall(r"http://marketplace\.test(/partner/signin/[A-Za-z0-9_-]+)", plain))
        preview = client.get(path)
        assert preview.status_code == 200
        assert "Contoso Cloud Services" in text(preview) and PARTNER_USER in text(preview)
        assert client.get("/partner/").status_code == 302  # the preview signed nobody in
        assert client.post(path, data={"csrf_token": csrf_token(text(preview))}).status_code == 302
        page = client.get("/partner/")
        assert page.status_code == 200 and "signed in as sales@contoso.example" in text(page)
        assert page.headers["Cache-Control"] == "no-store"
        assert "script-src" not in page.headers["Content-Security-Policy"]


def test_the_answer_never_reveals_whether_an_address_is_known(market: Marketplace) -> None:
    add_partner_user(market)
    client = market.app.test_client()
    token = csrf_token(text(client.get("/partner/signin")))
    known = client.post("/partner/signin", data={"csrf_token": token, "email": PARTNER_USER})
    unknown = client.post(
        "/partner/signin", data={"csrf_token": token, "email": "x@contoso.example"}
    )
    assert known.status_code == unknown.status_code == 200
    assert text(known).replace(PARTNER_USER, "@") == text(unknown).replace("x@contoso.example", "@")
    assert len(market.mails(PARTNER_USER)) == 1 and market.mails("x@contoso.example") == []
    # A customer admin's address is no partner user either: no mail at all.
    market.add_tenant()
    client.post("/partner/signin", data={"csrf_token": token, "email": ADMIN})
    assert market.mails(ADMIN) == []


def test_listing_contact_is_not_a_user(market: Marketplace) -> None:
    contact = str(market.backend.directory.listings["contoso-cloud"].contact.email)
    assert ask_for_link(market.app.test_client(), contact) == 200
    assert partner_links(market, contact) == []


def test_bad_address_is_a_form_error(market: Marketplace) -> None:
    client = market.app.test_client()
    token = csrf_token(text(client.get("/partner/signin")))
    for bad in ("", "not-an-address", "a@" + "b" * 260 + ".example"):
        page = client.post("/partner/signin", data={"csrf_token": token, "email": bad})
        assert page.status_code == 400
        assert 'class="cp-error"' in text(page)
    assert (
        client.post("/partner/signin", data={"email": PARTNER_USER}).status_code == 400
    )  # no CSRF
    assert market.mails() == []


def test_sign_in_is_rate_limited(market: Marketplace) -> None:
    add_partner_user(market)
    client = market.app.test_client()
    token = csrf_token(text(client.get("/partner/signin")))
    statuses = [
        client.post(
            "/partner/signin", data={"csrf_token": token, "email": PARTNER_USER}
        ).status_code
        for _ in range(7)
    ]
    assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
    assert len(market.mails(PARTNER_USER)) == 5
    limited = client.post("/partner/signin", data={"csrf_token": token, "email": PARTNER_USER})
    assert "Retry-After" in limited.headers
    # Other addresses still get an answer until the per-client limit (10 a minute).
    other = client.post("/partner/signin", data={"csrf_token": token, "email": "b@contoso.example"})
    assert other.status_code == 200


def test_link_works_once_and_expires(market: Marketplace) -> None:
    add_partner_user(market)
    client = market.app.test_client()
    ask_for_link(client, PARTNER_USER)
    [link] = partner_links(market)
    assert use_link(client, link) == 302
    other = market.app.test_client()
    assert other.get(link).status_code == 410
    token = csrf_token(text(other.get("/partner/signin")))
    assert other.post(link, data={"csrf_token": token}).status_code == 410
    assert other.get("/partner/").status_code == 302
    assert other.get("/partner/signin/not-a-token").status_code == 410
    ask_for_link(other, PARTNER_USER)
    fresh = partner_links(market)[-1]
    with market.backend.write() as session:
        session.execute(
            update(PartnerSignInToken).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    page = other.get(fresh)
    assert page.status_code == 410 and "Ask for a new sign-in link" in text(page)
    assert other.post(fresh, data={"csrf_token": token}).status_code == 410


def test_using_a_link_needs_the_csrf_token(market: Marketplace) -> None:
    add_partner_user(market)
    client = market.app.test_client()
    ask_for_link(client, PARTNER_USER)
    [link] = partner_links(market)
    assert client.post(link, data={}).status_code == 400
    assert use_link(client, link) == 302  # the link was not used up


def test_sign_out_ends_the_session_on_the_server(market: Marketplace) -> None:
    client = partner_client(market)
    copy = market.app.test_client()
    cookie = client.get_cookie("mp_session")
    assert cookie is not None
    copy.set_cookie("mp_session", cookie.value)
    assert copy.get("/partner/").status_code == 200
    token = csrf_token(text(client.get("/partner/")))
    assert client.post("/partner/signout", data={"csrf_token": token}).status_code == 302
    assert client.get("/partner/").status_code == 302
    assert copy.get("/partner/").status_code == 302  # the copied cookie stopped working too


def test_removed_user_loses_access_at_once(market: Marketplace) -> None:
    client = partner_client(market)
    add_partner_user(market, "contoso-cloud", "second@contoso.example")
    ask_for_link(market.app.test_client(), PARTNER_USER)
    unused = partner_links(market)[-1]
    assert client.get("/partner/keys/").status_code == 200
    result = market.run_cli("partners", "remove-user", "contoso-cloud", PARTNER_USER)
    assert result.exit_code == 0, result.output
    for path in ("/partner/", "/partner/keys/", "/partner/customers/"):
        answer = client.get(path)
        assert answer.status_code == 302 and answer.headers["Location"] == "/partner/signin"
    assert market.app.test_client().get(unused).status_code == 410
    with market.backend.read() as session:
        assert session.scalar(select(func.count()).select_from(PartnerSession)) == 0
        # The address left the outbox with the user; the other user's mail is untouched.
        assert (
            session.scalar(select(func.count()).where(OutboxMessage.recipient == PARTNER_USER)) == 0
        )
        actions = list(session.execute(select(AuditEvent.action, AuditEvent.details)))
        assert PARTNER_USER not in repr(actions)  # the log names users by reference only
    assert "partner_user.removed" in [action for action, _ in actions]


def test_delisted_partner_loses_access_at_once(market: Marketplace) -> None:
    client = partner_client(market)
    ask_for_link(market.app.test_client(), PARTNER_USER)
    unused = partner_links(market)[-1]
    directory = market.backend.directory
    listings = {slug: item for slug, item in directory.listings.items() if slug != "contoso-cloud"}
    market.backend.directory = replace(directory, listings=listings)
    assert client.get("/partner/").status_code == 302
    assert client.get("/partner/keys/").status_code == 302
    assert market.app.test_client().get(unused).status_code == 410
    before = len(market.mails(PARTNER_USER))
    assert ask_for_link(market.app.test_client(), PARTNER_USER) == 200
    assert len(market.mails(PARTNER_USER)) == before  # no link for a delisted partner
    market.backend.directory = directory  # listed again: a new sign-in works
    assert partner_client(market, register=False).get("/partner/").status_code == 200


def test_partner_and_customer_sessions_are_separate(market: Marketplace) -> None:
    market.add_tenant()
    partner = partner_client(market)
    assert partner.get("/account/").status_code == 302
    assert partner.get("/account/").headers["Location"] == "/signin"
    customer = market.sign_in()
    assert customer.get("/account/").status_code == 200
    for path in ("/partner/", "/partner/customers/", "/partner/keys/"):
        assert customer.get(path).status_code == 302
    token = csrf_token(text(customer.get("/account/")))
    assert customer.post("/partner/keys/", data={"csrf_token": token}).status_code == 302
    with market.backend.read() as session:
        assert session.scalar(select(func.count()).select_from(PartnerKey)) == 0


def test_one_address_for_two_partners_gets_a_link_for_each(market: Marketplace) -> None:
    add_partner_user(market, "contoso-cloud", "both@example.org")
    add_partner_user(market, OTHER, "both@example.org")
    ask_for_link(market.app.test_client(), "both@example.org")
    links = partner_links(market, "both@example.org")
    assert len(links) == 2 and len(market.mails("both@example.org")) == 1
    names = set()
    for link in links:
        client = market.app.test_client()
        use_link(client, link)
        names.add(re.search(r"Partner pages of ([^<·]+)", text(client.get("/partner/"))).group(1))  # type: ignore[union-attr]
    assert names == {"Contoso Cloud Services ", "Cape Collaboration "}


# --- the overview -------------------------------------------------------------------------------


def test_overview_counts_and_eligibility(market: Marketplace) -> None:
    market.add_tenant()
    market.add_tenant("second.onmicrosoft.com", "Second", ("a@second.example",))
    key = market.key()
    for _ in range(4):
        assert market.invite(key).status_code == 201
    with_da(market)  # accepts the newest
    other = market.invite(key, tenant="second.onmicrosoft.com").get_json()["id"]
    market.decide(market.link("a@second.example"), "decline")
    with market.backend.write() as session:
        oldest = session.scalars(
            select(Invitation.id).where(Invitation.id != other).order_by(Invitation.created_at)
        ).first()
        session.execute(
            update(Invitation)
            .where(Invitation.id == oldest)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    client = partner_client(market)
    page = text(client.get("/partner/"))
    counts = dict(
        (label, int(number))
        for number, label in re.findall(r"<li><strong>(\d+)</strong> ([a-z ]+)</li>", page)
    )
    assert counts == {
        "pending": 3,
        "accepted": 1,
        "declined": 1,
        "expired": 1,
        "where you are the delegated admin partner": 1,
        "where you are the partner of record": 1,
    }
    assert "0 new leads" in page
    assert "Cloud Essentials" in page
    assert "You may ask customers for delegated administration" in page
    # Another partner sees its own counts only.
    mine = text(partner_client(market, OTHER, OTHER_USER).get("/partner/"))
    assert "<strong>0</strong> pending" in mine and "<strong>1</strong>" not in mine


def test_overview_says_why_a_partner_may_not_ask_for_da(market: Marketplace) -> None:
    page = text(partner_client(market, "kanto-device-works", "k@kanto.example").get("/partner/"))
    assert "You may not ask customers for delegated administration." in page
    assert "Your listing does not offer delegated administration" in page
    directory = market.backend.directory
    listing = directory.listings["contoso-cloud"]
    changed = listing.model_copy(update={"programs": ["cloud-referral"]})
    market.backend.directory = replace(
        directory, listings={**directory.listings, "contoso-cloud": changed}
    )
    page = text(partner_client(market).get("/partner/"))
    assert "Your partner programmes do not allow delegated administration" in page
    assert "Cloud Accelerate" in page  # names the programmes that do


# --- customers ----------------------------------------------------------------------------------


def test_customers_and_ending_own_da(market: Marketplace) -> None:
    market.add_tenant()
    with_da(market)
    client = partner_client(market)
    page = text(client.get("/partner/customers/"))
    assert TENANT in page and "Delegated admin partner" in page and "Partner of record" in page
    end = f"/partner/customers/{TENANT}/end-delegated-admin"
    assert end in page
    confirm = client.get(end)
    assert confirm.status_code == 200 and "ends at once" in text(confirm)
    token = csrf_token(text(confirm))
    refused = client.post(end, data={"csrf_token": token})  # the box not ticked
    assert refused.status_code == 400 and "tick the box" in text(refused)
    assert client.post(end, data={"confirm": CHECKED}).status_code == 400  # no CSRF
    key = market.key()
    held = market.api(key, "GET", "/relationships").get_json()["relationships"]
    assert held[0]["delegated_admin"] is True  # nothing changed so far
    done = client.post(end, data={"csrf_token": token, "confirm": CHECKED})
    assert done.status_code == 302 and done.headers["Location"] == "/partner/customers/"
    after = text(client.get("/partner/customers/"))
    assert "has ended" in after and end not in after and "Partner of record" in after
    held = market.api(key, "GET", "/relationships").get_json()["relationships"]
    assert held[0]["delegated_admin"] is False and held[0]["partner_of_record"] is True
    with market.backend.read() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "delegated_admin.ended")
        ).one()
        assert event.details == {"reason": "ended_by_partner"}
        assert re.fullmatch(r"partner:contoso-cloud \(user pu_[0-9a-f]{16}\)", event.actor)
    assert client.get(end).status_code == 404  # nothing left to end


def test_another_partner_cannot_see_or_end_da(market: Marketplace) -> None:
    market.add_tenant()
    with_da(market)
    other = partner_client(market, OTHER, OTHER_USER)
    assert TENANT not in text(other.get("/partner/customers/"))
    end = f"/partner/customers/{TENANT}/end-delegated-admin"
    assert other.get(end).status_code == 404
    token = csrf_token(text(other.get("/partner/customers/")))
    assert other.post(end, data={"csrf_token": token, "confirm": CHECKED}).status_code == 404
    for bad in ("nope.onmicrosoft.com", "not a domain", "%00", "x" * 300):
        assert other.get(f"/partner/customers/{bad}/end-delegated-admin").status_code == 404
    held = market.api(market.key(), "GET", "/relationships").get_json()["relationships"]
    assert held[0]["delegated_admin"] is True


# --- API keys -----------------------------------------------------------------------------------


def test_issue_once_use_and_revoke_a_key(market: Marketplace) -> None:
    client = partner_client(market)
    page = client.get("/partner/keys/")
    assert "You have no API key yet." in text(page)
    issued = client.post("/partner/keys/", data={"csrf_token": csrf_token(text(page))})
    assert issued.status_code == 201 and issued.headers["Cache-Control"] == "no-store"
    secret = re.search(r"mpk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", text(issued))
    assert secret
    key = secret.group(0)
    key_id = key.split("_")[1]
    assert market.api(key, "GET", "/relationships").status_code == 200
    listed = text(client.get("/partner/keys/"))
    assert key_id in listed and key not in listed  # shown once, never again
    revoke = f"/partner/keys/{key_id}/revoke"
    token = csrf_token(listed)
    refused = client.post(revoke, data={"csrf_token": token})
    assert refused.status_code == 400 and "tick the box" in text(refused)
    assert client.post(revoke, data={"confirm": CHECKED}).status_code == 400  # no CSRF
    assert market.api(key, "GET", "/relationships").status_code == 200
    done = client.post(revoke, data={"csrf_token": token, "confirm": CHECKED})
    assert done.status_code == 302
    assert "revoked on" in text(client.get("/partner/keys/"))
    assert market.api(key, "GET", "/relationships").status_code == 401
    again = client.post(revoke, data={"csrf_token": token, "confirm": CHECKED})
    assert again.status_code == 409
    assert client.post("/partner/keys/nope/revoke", data={"csrf_token": token}).status_code == 404
    with market.backend.read() as session:
        actors = dict(
            session.execute(
                select(AuditEvent.action, AuditEvent.actor).where(
                    AuditEvent.action.in_(["key.issued", "key.revoked"])
                )
            ).all()
        )
        assert all("(user pu_" in actor for actor in actors.values()), actors
        report = verify(session)
        assert report.ok, report


def test_another_partner_cannot_see_or_revoke_a_key(market: Marketplace) -> None:
    theirs = market.key("contoso-cloud")
    key_id = theirs.split("_")[1]
    other = partner_client(market, OTHER, OTHER_USER)
    page = text(other.get("/partner/keys/"))
    assert key_id not in page
    token = csrf_token(page)
    answer = other.post(
        f"/partner/keys/{key_id}/revoke", data={"csrf_token": token, "confirm": CHECKED}
    )
    assert answer.status_code == 404
    assert market.api(theirs, "GET", "/relationships").status_code == 200
    issued = other.post("/partner/keys/", data={"csrf_token": token})
    new_id = re.search(r"mpk_([0-9a-f]{16})_", text(issued)).group(1)  # type: ignore[union-attr]
    with market.backend.read() as session:
        assert (
            session.scalar(select(PartnerKey.partner_slug).where(PartnerKey.key_id == new_id))
            == OTHER
        )
    assert new_id not in text(partner_client(market).get("/partner/keys/"))


# --- Russian, headers, demo ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "russian"),
    [
        ("/partner/", "Что вы можете предлагать"),
        ("/partner/customers/", "Клиенты"),
        ("/partner/keys/", "Выпустить новый ключ"),
    ],
)
def test_pages_in_russian(market: Marketplace, path: str, russian: str) -> None:
    client = partner_client(market)
    page = text(client.get(f"{path}?lang=ru"))
    assert russian in page and "Страницы партнёра" in page and "Обзор" in page
    for english in ("Overview", "API keys", "signed in as", "Sign out"):
        assert english not in page


def test_sign_in_pages_in_russian(market: Marketplace) -> None:
    client = market.app.test_client()
    page = text(client.get("/partner/signin?lang=ru"))
    assert "Вход на страницы партнёра" in page
    token = csrf_token(page)
    sent = text(client.post("/partner/signin", data={"csrf_token": token, "email": "a@b.example"}))
    assert "ссылка для входа уже в пути" in sent
    assert "410" not in text(client.get("/partner/signin/unknown"))
    assert "Ссылка для входа не работает" in text(client.get("/partner/signin/unknown"))


def test_demo_prints_a_partner_sign_in_link(app_factory: Callable[..., Flask]) -> None:
    market = Marketplace(app_factory(MARKETPLACE_MAIL_DELIVERY="off"))  # as `serve --demo`
    demo = prepare_demo(market.backend)
    market.backend.deliver_now()
    path = "/" + demo.partner_sign_in_link.split("/", 3)[3]
    client = market.app.test_client()
    assert use_link(client, path) == 302
    assert f"signed in as {DEMO_PARTNER_USER}" in text(client.get("/partner/"))
    again = prepare_demo(market.backend)  # a second run reuses the user
    assert again.partner_sign_in_link != demo.partner_sign_in_link


def test_audit_log_verifies_after_user_changes(market: Marketplace) -> None:
    partner_client(market)
    market.backend.run(lambda uow: remove_user(uow, "contoso-cloud", PARTNER_USER, OPERATOR))
    result = market.run_cli("audit", "verify")
    assert result.exit_code == 0, result.output
