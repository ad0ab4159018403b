"""Trust boundaries (README: Partner API): a partner never chooses who administers a tenant,
every rule that allowed a request is checked again when the customer decides, and no
partner-supplied text can make a customer's decision or revocation fail."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from consent_app.models import AuditEvent, DelegatedAdminGrant, Invitation, OutboxMessage, Tenant
from consent_app.partners import PartnerDirectory, revoke_key
from marketplace_app.cli import main
from tests.conftest import EXAMPLE_LISTINGS
from tests.consent_app.conftest import (
    ADMIN,
    CHECKED,
    OPERATOR,
    TENANT,
    Marketplace,
    csrf_token,
)
from tests.consent_app.test_partner_api import error_of
from tests.smtp import smtp_server

NEW_TENANT = "newco.onmicrosoft.com"
BOSS = "boss@newco.example"


def change_listing(market: Marketplace, slug: str, **changes: Any) -> None:
    """What a redeploy with an edited listing does: the backend's directory changes under a
    pending invitation (`None` delists the partner)."""
    directory = market.backend.directory
    listings = dict(directory.listings)
    if changes.get("delist"):
        del listings[slug]
    else:
        listings[slug] = listings[slug].model_copy(update=changes)
    market.backend.directory = PartnerDirectory(directory.catalog, listings)


def invite_new_customer(*args: Any, market: Marketplace | None = None, **body: Any) -> Any:
    """A new customer's invitation: `invite_new_customer(market, key, …)` or
    `invite_new_customer(key, market=market, …)`."""
    if market is None:
        market, key = args
    else:
        (key,) = args
    request: dict[str, Any] = {
        "tenant": NEW_TENANT,
        "customer": {"email": BOSS, "company": "NewCo"},
    }
    request.update(body)
    return market.invite(key, **request)


def grants(market: Marketplace) -> list[DelegatedAdminGrant]:
    with market.backend.read() as session:
        return list(session.execute(select(DelegatedAdminGrant)).scalars())


def state_of(market: Marketplace) -> str:
    with market.backend.read() as session:
        return session.execute(select(Invitation.state)).scalar_one()


# --- 1. new customers only in the provider's namespace, never the partner's own address -----


@pytest.mark.parametrize(
    "domain", ["bigcorp.com", "bigcorp.example", "a.b.onmicrosoft.com", "onmicrosoft.com.evil.com"]
)
def test_new_customer_outside_the_namespace_is_refused(market: Marketplace, domain: str) -> None:
    key = market.key()
    response = invite_new_customer(market, key, tenant=domain)
    assert error_of(response) == (422, "domain_not_verified")
    assert response.get_json()["field"] == "tenant"
    assert "onmicrosoft.com" in response.get_json()["message"]
    assert market.mails() == []
    assert market.api(key, "GET", "/invitations").get_json() == {"invitations": []}


def test_the_namespace_suffix_is_a_setting(app_factory: Callable[..., Flask]) -> None:
    market = Marketplace(app_factory(MARKETPLACE_INITIAL_DOMAIN_SUFFIX="cloud.test"))
    key = market.key()
    refused = invite_new_customer(market, key)
    assert error_of(refused) == (422, "domain_not_verified")
    assert invite_new_customer(market, key, tenant="newco.cloud.test").status_code == 201


def test_an_operator_added_tenant_outside_the_namespace_can_be_invited(
    market: Marketplace,
) -> None:
    market.add_tenant("bigcorp.com", "BigCorp", ("it@bigcorp.com",))
    response = market.invite(market.key(), tenant="bigcorp.com")
    assert response.status_code == 201


@pytest.mark.parametrize(
    "email",
    [
        "me@contoso.example",  # the contact address's domain
        "Me@CONTOSO.example",
        "me@mail.contoso.example",  # a subdomain of it
    ],
)
def test_the_customer_address_may_not_be_the_partners(market: Marketplace, email: str) -> None:
    key = market.key("contoso-cloud")
    response = invite_new_customer(market, key, customer={"email": email, "company": "X"})
    assert error_of(response) == (422, "customer_is_partner")
    assert response.get_json()["field"] == "customer.email"
    assert market.mails() == []


def test_the_partners_website_domain_counts_too(market: Marketplace) -> None:
    change_listing(market, "contoso-cloud", website="https://www.contoso-sales.example/en/")
    response = invite_new_customer(
        market, market.key(), customer={"email": "x@contoso-sales.example", "company": "X"}
    )
    assert error_of(response) == (422, "customer_is_partner")


def test_customer_is_partner_is_checked_again_when_the_customer_decides(
    market: Marketplace,
) -> None:
    invite_new_customer(market, market.key(), delegated_admin=True)
    link = market.link(BOSS)
    change_listing(market, "contoso-cloud", website="https://newco.example")
    page = market.client.get(link)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "can no longer be accepted" in html
    response = market.decide(link, authorize_delegated_admin=CHECKED)
    assert response.status_code == 422
    assert grants(market) == [] and state_of(market) == "pending"
    with market.backend.read() as session:
        assert session.execute(select(Tenant)).first() is None
    # declining is always possible
    assert market.decide(link, "decline").status_code == 200
    assert state_of(market) == "declined"


def test_a_tenant_created_by_invitation_is_marked(market: Marketplace, tmp_path: Any) -> None:
    invite_new_customer(market, market.key(), delegated_admin=True)
    market.decide(market.link(BOSS), authorize_delegated_admin=CHECKED)
    with market.backend.read() as session:
        invitation_id = session.execute(select(Invitation.id)).scalar_one()
        tenant = session.execute(select(Tenant)).scalar_one()
        assert tenant.created_by_invitation == invitation_id
        created = session.execute(
            select(AuditEvent).where(AuditEvent.action == "tenant.created")
        ).scalar_one()
        assert created.details["created_by"] == "invitation"
        assert created.invitation_id == invitation_id
        assert created.details["partner"] == "contoso-cloud"
    url = market.backend.settings.database_url
    listed = CliRunner().invoke(
        main,
        ["tenants", "list", "--json", "--listings", str(EXAMPLE_LISTINGS)],
        env={"MARKETPLACE_DATABASE_URL": url, "MARKETPLACE_INSTANCE": str(tmp_path / "instance")},
    )
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.output)
    assert row["created_by_invitation"] == invitation_id
    assert row["created_by_partner"] == "contoso-cloud"
    text = CliRunner().invoke(
        main,
        ["tenants", "list", "--listings", str(EXAMPLE_LISTINGS)],
        env={"MARKETPLACE_DATABASE_URL": url, "MARKETPLACE_INSTANCE": str(tmp_path / "instance")},
    )
    assert f"created by invitation {invitation_id} from contoso-cloud" in text.output


# --- 2. every rule is checked again when the customer decides ---------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"delegated_admin": False},  # dropped delegated_admin
        {"programs": ["cloud-referral"]},  # left the DA-eligible programmes
    ],
    ids=["dropped-da", "left-programmes"],
)
def test_delegated_admin_no_longer_allowed_when_the_customer_decides(
    market: Marketplace, change: dict[str, Any]
) -> None:
    market.add_tenant()
    market.invite(market.key(), delegated_admin=True)
    link = market.link()
    change_listing(market, "contoso-cloud", **change)
    html = market.client.get(link).get_data(as_text=True)
    assert 'name="authorize_delegated_admin"' not in html
    assert "can no longer be granted" in html
    response = market.decide(link, authorize_delegated_admin=CHECKED)
    assert response.status_code == 403
    assert grants(market) == [] and state_of(market) == "pending"
    # the trial itself can still be accepted, without DA
    assert market.decide(link).status_code == 200
    assert grants(market) == [] and state_of(market) == "accepted"


def test_offer_no_longer_allows_delegated_admin(market: Marketplace) -> None:
    market.add_tenant()
    market.invite(market.key(), delegated_admin=True)
    listing = market.backend.directory.listings["contoso-cloud"]
    offers = [
        offer.model_copy(update={"delegated_admin": "none"})
        if offer.id == "trial-collab"
        else offer
        for offer in listing.offers
    ]
    change_listing(market, "contoso-cloud", offers=offers)
    response = market.decide(market.link(), authorize_delegated_admin=CHECKED)
    assert response.status_code == 403
    assert grants(market) == [] and state_of(market) == "pending"


def test_offer_withdrawn_cannot_be_accepted(market: Marketplace) -> None:
    market.add_tenant()
    market.invite(market.key(), delegated_admin=True)
    link = market.link()
    listing = market.backend.directory.listings["contoso-cloud"]
    change_listing(
        market,
        "contoso-cloud",
        offers=[offer for offer in listing.offers if offer.id != "trial-collab"],
    )
    html = market.client.get(link).get_data(as_text=True)
    assert "can no longer be accepted" in html
    assert market.decide(link, authorize_delegated_admin=CHECKED).status_code == 422
    assert grants(market) == [] and state_of(market) == "pending"
    assert market.decide(link, "decline").status_code == 200


def test_delisted_partner_cannot_be_accepted(market: Marketplace) -> None:
    market.add_tenant()
    market.invite(market.key(), delegated_admin=True)
    link = market.link()
    change_listing(market, "contoso-cloud", delist=True)
    page = market.client.get(link)
    html = page.get_data(as_text=True)
    assert "no longer listed" in html and "can no longer be accepted" in html
    assert 'name="authorize_delegated_admin"' not in html
    assert 'value="accept"' not in html
    response = market.decide(link, authorize_delegated_admin=CHECKED)
    assert response.status_code == 403
    assert grants(market) == [] and state_of(market) == "pending"
    assert market.decide(link, "decline").status_code == 200
    assert state_of(market) == "declined"


def test_trial_services_dropped_since_cannot_be_accepted(market: Marketplace) -> None:
    market.add_tenant()
    market.invite(market.key(), delegated_admin=True)
    listing = market.backend.directory.listings["contoso-cloud"]
    offers = [
        offer.model_copy(update={"services": ["teams"]}) if offer.id == "trial-collab" else offer
        for offer in listing.offers
    ]
    change_listing(market, "contoso-cloud", offers=offers)
    assert market.decide(market.link(), authorize_delegated_admin=CHECKED).status_code == 422
    assert grants(market) == [] and state_of(market) == "pending"


def test_the_namespace_is_checked_again_when_the_customer_decides(
    app_factory: Callable[..., Flask],
) -> None:
    """An invitation sent under another suffix (or by a version without the rule) never
    creates a tenant outside the namespace."""
    before = Marketplace(app_factory(MARKETPLACE_INITIAL_DOMAIN_SUFFIX="bigcorp.example"))
    sent = invite_new_customer(before.key(), tenant="www.bigcorp.example", market=before)
    assert sent.status_code == 201
    link = before.link(BOSS)
    after = Marketplace(app_factory())  # the default suffix, onmicrosoft.com
    html = after.client.get(link).get_data(as_text=True)
    assert "can no longer be accepted" in html
    assert after.decide(link, authorize_delegated_admin=CHECKED).status_code == 422
    with after.backend.read() as session:
        assert session.execute(select(Tenant)).first() is None
    assert grants(after) == []


def test_a_revoked_key_ends_its_pending_invitations(market: Marketplace) -> None:
    market.add_tenant()
    stolen = market.key()
    market.invite(stolen, delegated_admin=True)
    key_id = stolen.split("_")[1]
    with market.backend.write() as session:
        revoke_key(session, key_id, OPERATOR)
    html = market.client.get(market.link()).get_data(as_text=True)
    assert "revoked the API key" in html
    assert market.decide(market.link(), authorize_delegated_admin=CHECKED).status_code == 422
    assert grants(market) == [] and state_of(market) == "pending"


def test_a_website_with_a_trailing_dot_still_counts(market: Marketplace) -> None:
    change_listing(market, "contoso-cloud", website="https://contoso.example.")
    response = invite_new_customer(
        market.key(), customer={"email": "me@contoso.example", "company": "X"}, market=market
    )
    assert error_of(response) == (422, "customer_is_partner")


def test_revoking_with_a_hostile_partner_field_is_refused_plainly(market: Marketplace) -> None:
    market.add_tenant()
    client = market.sign_in()
    token = csrf_token(client.get("/account/").get_data(as_text=True))
    for hostile in ("contoso\x00", "x" * 500, "contoso-cloud\u2028"):
        response = client.post(
            "/account/delegated-admin/revoke",
            data={"csrf_token": token, "partner": hostile, "confirm": "y"},
        )
        assert response.status_code in (400, 404), hostile


# --- 3. one-line text and mail that can never block a consent change ----------------------------


def hostile_name(market: Marketplace) -> None:
    change_listing(market, "contoso-cloud", name="Contoso\u2028Bcc: victim@example.com\r\nX")


def test_hostile_partner_name_cannot_block_revocation(market: Marketplace) -> None:
    market.add_tenant()
    market.invite(market.key(), delegated_admin=True)
    hostile_name(market)
    accepted = market.decide(market.link(), authorize_delegated_admin=CHECKED)
    assert accepted.status_code == 200
    client = market.sign_in()
    token = csrf_token(client.get("/account/").get_data(as_text=True))
    response = client.post(
        "/account/delegated-admin/revoke",
        data={"csrf_token": token, "partner": "contoso-cloud", "confirm": "y"},
    )
    assert response.status_code == 302
    assert all(grant.ended_at is not None for grant in grants(market))
    for mail in market.mails():
        assert "\n" not in mail.subject and "\u2028" not in mail.subject
        assert "victim" not in mail.to


def test_mail_that_cannot_be_composed_never_blocks_a_decision(
    market: Marketplace, monkeypatch: pytest.MonkeyPatch
) -> None:
    market.add_tenant()
    key = market.key()
    market.invite(key, delegated_admin=True)
    link = market.link()

    def broken(*args: object, **kwargs: object) -> tuple[str, str]:
        raise ValueError("a template could not be rendered")

    monkeypatch.setattr("consent_app.mail.render", broken)
    assert market.decide(link, authorize_delegated_admin=CHECKED).status_code == 200
    # signing in needs mail, so the partner ends the grant (the same path as a revocation)
    assert market.api(key, "DELETE", f"/relationships/{TENANT}/delegated-admin").status_code == 204
    assert all(grant.ended_at is not None for grant in grants(market))
    with market.backend.read() as session:
        failed = session.execute(
            select(OutboxMessage).where(OutboxMessage.failed_at.is_not(None))
        ).scalars()
        reasons = [message.last_error or "" for message in failed]
    assert reasons and all("could not be rendered" in reason for reason in reasons)
    assert market.backend.deliver_now().sent == 0  # failed for good: not retried


# --- 4. no working secret links in the database once mail is delivered ------------------------


def test_delivered_mail_keeps_no_secret_links(market: Marketplace) -> None:
    market.add_tenant()
    market.invite(market.key())
    link = market.link()
    token = link.rsplit("/", 1)[1]
    market.sign_in()
    with market.backend.read() as session:
        stored = list(session.execute(select(OutboxMessage)).scalars())
    assert stored and all(message.sent_at is not None for message in stored)
    assert all(token not in message.raw for message in stored)
    assert all("/signin/" not in message.raw for message in stored)
    assert all("/invitations/" not in message.raw for message in stored)


# --- 7. one normalisation of e-mail addresses ---------------------------------------------------


def test_international_domains_are_stored_in_ascii(market: Marketplace) -> None:
    response = invite_new_customer(
        market, market.key(), customer={"email": "Boss@Bücher.example", "company": "Bücher"}
    )
    assert response.status_code == 201
    [mail] = market.mails()
    assert mail.to == "boss@xn--bcher-kva.example"
    market.decide(market.link("boss@xn--bcher-kva.example"))
    # asking to sign in with the Unicode spelling finds the same admin
    client = market.app.test_client()
    page = client.get("/signin").get_data(as_text=True)
    client.post("/signin", data={"csrf_token": csrf_token(page), "email": "BOSS@BÜCHER.example"})
    assert market.link("boss@xn--bcher-kva.example", "signin")


def test_non_ascii_local_part_needs_smtputf8(
    market: Marketplace, app_factory: Callable[..., Flask]
) -> None:
    body = {"customer": {"email": "рома@newco.example", "company": "NewCo"}}
    response = invite_new_customer(market, market.key(), **body)
    assert error_of(response) == (400, "validation_error")
    assert response.get_json()["field"] == "customer.email"
    allowed = Marketplace(app_factory(MARKETPLACE_SMTPUTF8="on"))
    assert invite_new_customer(allowed, allowed.key(), **body).status_code == 201


def test_undeliverable_mail_fails_for_good(app_factory: Callable[..., Flask]) -> None:
    with smtp_server() as (url, received):
        market = Marketplace(app_factory(MARKETPLACE_SMTP_URL=url))
        market.add_tenant(admins=(ADMIN, "nobody@fabrikam.example", "spamtrap@fabrikam.example"))
        received.refuse = {"nobody@fabrikam.example"}
        received.reject = {"spamtrap@fabrikam.example"}
        market.invite(market.key())
        with market.backend.read() as session:
            rows = {row.recipient: row for row in session.execute(select(OutboxMessage)).scalars()}
        assert rows[ADMIN].sent_at is not None
        refused = rows["nobody@fabrikam.example"]
        assert refused.sent_at is None and refused.failed_at is not None
        assert refused.last_error and "550" in refused.last_error
        rejected = rows["spamtrap@fabrikam.example"]
        assert rejected.failed_at is not None and "554" in (rejected.last_error or "")
        assert market.backend.deliver_now().failed == 0  # not retried
        status = CliRunner().invoke(
            main,
            ["mail", "status", "--listings", str(EXAMPLE_LISTINGS)],
            env={
                "MARKETPLACE_DATABASE_URL": market.backend.settings.database_url,
                "MARKETPLACE_INSTANCE": str(market.backend.settings.instance_dir),
            },
        )
        assert "undeliverable: 2" in status.output, status.output
        assert "nobody@fabrikam.example" in status.output and "550" in status.output


# --- 9. free text from the API follows the tenant rules ----------------------------------------


@pytest.mark.parametrize(
    "company", ["New\u2028Co", "NewCo\x00", "\u202eoCweN", "x" * 201, "   ", "NewCo\ud800"]
)
def test_company_names_follow_the_tenant_rules(market: Marketplace, company: str) -> None:
    response = invite_new_customer(
        market, market.key(), customer={"email": BOSS, "company": company}
    )
    assert error_of(response)[0] == 400
    assert response.get_json()["field"] == "customer.company"
    assert market.mails() == []


# --- 12. mail carries the provider's support contact ------------------------------------------


def test_invitation_and_sign_in_mail_carry_the_support_contact(market: Marketplace) -> None:
    market.add_tenant()
    market.invite(market.key())
    market.sign_in()
    settings = market.backend.settings
    mails = market.mails(ADMIN)
    assert len(mails) == 2
    for mail in mails:
        assert settings.support_url in mail.body and settings.support_phone in mail.body
