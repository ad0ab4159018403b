"""Customer sign-in by one-time link and the customer page."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import update

from consent_app.db import utcnow
from consent_app.models import SignInToken, TenantAdmin
from tests.consent_app.conftest import ADMIN, CHECKED, TENANT, Marketplace, csrf_token


@pytest.fixture
def tenant(market: Marketplace) -> None:
    market.add_tenant()


def ask_for_link(market: Marketplace, email: str) -> str:
    client = market.app.test_client()
    page = client.get("/signin")
    answer = client.post(
        "/signin", data={"csrf_token": csrf_token(page.get_data(as_text=True)), "email": email}
    )
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_the_answer_never_reveals_whether_an_address_is_known(
    market: Marketplace, tenant: None
) -> None:
    known = ask_for_link(market, ADMIN)
    unknown = ask_for_link(market, "stranger@elsewhere.example")
    assert known.replace(ADMIN, "X") == unknown.replace("stranger@elsewhere.example", "X")
    assert [mail.to for mail in market.mails()] == [ADMIN]


def test_invalid_address_is_a_form_error(market: Marketplace, tenant: None) -> None:
    client = market.app.test_client()
    token = csrf_token(client.get("/signin").get_data(as_text=True))
    response = client.post("/signin", data={"csrf_token": token, "email": "not an address"})
    assert response.status_code == 400
    assert "cp-error" in response.get_data(as_text=True)
    assert market.mails() == []


def test_sign_in_link_shows_before_it_signs_in_and_works_once(
    market: Marketplace, tenant: None
) -> None:
    ask_for_link(market, ADMIN)
    link = market.link(ADMIN, "signin")
    client = market.app.test_client()
    confirm = client.get(link)
    assert confirm.status_code == 200 and "Fabrikam" in confirm.get_data(as_text=True)
    assert confirm.headers["Cache-Control"] == "no-store"
    # opening the link signed nobody in
    assert client.get("/account/").status_code == 302
    token = csrf_token(confirm.get_data(as_text=True))
    assert client.post(link, data={"csrf_token": token}).status_code == 302
    assert client.get("/account/").status_code == 200
    other = market.app.test_client()
    assert other.get(link).status_code == 410
    other_token = csrf_token(other.get("/signin").get_data(as_text=True))
    assert other.post(link, data={"csrf_token": other_token}).status_code == 410
    assert other.get("/account/").status_code == 302


def test_expired_sign_in_link(market: Marketplace, tenant: None) -> None:
    ask_for_link(market, ADMIN)
    link = market.link(ADMIN, "signin")
    with market.backend.write() as session:
        session.execute(update(SignInToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    page = market.app.test_client().get(link)
    assert page.status_code == 410 and "Ask for a new" in page.get_data(as_text=True)


def test_sign_in_needs_the_csrf_token(market: Marketplace, tenant: None) -> None:
    ask_for_link(market, ADMIN)
    link = market.link(ADMIN, "signin")
    client = market.app.test_client()
    assert client.post(link, data={}).status_code == 400
    assert client.get("/account/").status_code == 302
    assert client.get(link).status_code == 200  # still usable: the forged post used nothing


def test_customer_page_shows_roles_support_and_history(market: Marketplace, tenant: None) -> None:
    key = market.key("contoso-cloud")
    market.invite(key, delegated_admin=True)
    market.decide(market.link(), authorize_delegated_admin=CHECKED, make_partner_of_record=CHECKED)
    client = market.sign_in()
    page = client.get("/account/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Your delegated admin partner:" in html and "Contoso Cloud Services" in html
    assert "Your partner of record:" in html
    assert "Contact the provider's support directly" in html  # gettext text is trusted markup
    assert "https://support.example/contact" in html
    for entry in (
        "Customer account created",
        "Contoso Cloud Services sent an invitation",
        "Delegated administration granted to Contoso Cloud Services",
        "Invitation from Contoso Cloud Services accepted",
        "Signed in to the customer page",
    ):
        assert entry in html
    assert page.headers["Cache-Control"] == "no-store"


def test_revoke_delegated_admin(market: Marketplace, tenant: None) -> None:
    key = market.key("contoso-cloud")
    market.invite(key, delegated_admin=True)
    market.decide(market.link(), authorize_delegated_admin=CHECKED)
    client = market.sign_in()
    token = csrf_token(client.get("/account/").get_data(as_text=True))
    response = client.post(
        "/account/delegated-admin/revoke",
        data={"csrf_token": token, "partner": "contoso-cloud", "confirm": "y"},
    )
    assert response.status_code == 302
    html = client.get("/account/").get_data(as_text=True)
    assert "no longer administers your tenant" in html
    assert "No partner administers your tenant." in html
    relationships = market.api(key, "GET", "/relationships").get_json()["relationships"]
    assert relationships == []
    notice = [m for m in market.mails("partners@contoso.example") if "ended" in m.subject]
    assert notice and "revoked" in notice[0].body
    # revoking again (a stale page) is refused plainly and changes nothing
    again = client.post(
        "/account/delegated-admin/revoke",
        data={"csrf_token": token, "partner": "contoso-cloud", "confirm": "y"},
    )
    assert again.status_code == 404


def test_revoke_without_csrf_changes_nothing(market: Marketplace, tenant: None) -> None:
    key = market.key("contoso-cloud")
    market.invite(key, delegated_admin=True)
    market.decide(market.link(), authorize_delegated_admin=CHECKED)
    client = market.sign_in()
    response = client.post("/account/delegated-admin/revoke", data={"partner": "contoso-cloud"})
    assert response.status_code == 400
    assert market.api(key, "GET", "/relationships").get_json()["relationships"]


def test_change_and_clear_partner_of_record(market: Marketplace, tenant: None) -> None:
    contoso, cape = market.key("contoso-cloud"), market.key("cape-collaboration")
    market.invite(contoso, delegated_admin=True)
    market.decide(market.link(), authorize_delegated_admin=CHECKED, make_partner_of_record=CHECKED)
    market.invite(cape, offer_id="intranet-trial")
    market.decide(market.link())
    client = market.sign_in()
    token = csrf_token(client.get("/account/").get_data(as_text=True))

    changed = client.post(
        "/account/partner-of-record",
        data={"csrf_token": token, "partner": "cape-collaboration", "action": "set"},
    )
    assert changed.status_code == 302
    assert market.api(cape, "GET", "/relationships").get_json()["relationships"][0][
        "partner_of_record"
    ]
    # DA stayed with Contoso: the roles are independent
    [contoso_relation] = market.api(contoso, "GET", "/relationships").get_json()["relationships"]
    assert contoso_relation == {
        **contoso_relation,
        "delegated_admin": True,
        "partner_of_record": False,
    }

    # a partner the customer never accepted anything from cannot be named
    forged = client.post(
        "/account/partner-of-record",
        data={"csrf_token": token, "partner": "mercado-nube", "action": "set"},
    )
    assert forged.status_code == 400

    cleared = client.post(
        "/account/partner-of-record",
        data={"csrf_token": token, "action": "clear", "confirm_clear": "y"},
    )
    assert cleared.status_code == 302
    assert market.api(cape, "GET", "/relationships").get_json()["relationships"] == []
    assert "You have not named a partner of record." in client.get("/account/").get_data(
        as_text=True
    )


def test_consent_receipt(market: Marketplace, tenant: None) -> None:
    key = market.key("contoso-cloud")
    market.invite(key, delegated_admin=True)
    market.decide(market.link(), authorize_delegated_admin=CHECKED)
    client = market.sign_in()
    html = client.get("/account/").get_data(as_text=True)
    receipts = [part.split('"')[0] for part in html.split('href="/account/receipts/')[1:]]
    assert receipts
    downloads = [client.get(f"/account/receipts/{name}") for name in receipts]
    bodies = [json.loads(d.get_data(as_text=True)) for d in downloads]
    accepted = [body for body in bodies if body["action"] == "invitation.accepted"]
    assert accepted and accepted[0]["details"]["delegated_admin_granted"] is True
    assert accepted[0]["tenant_domain"] == TENANT and len(accepted[0]["hash"]) == 64
    assert accepted[0]["chain"] == f"tenant:{accepted[0]['tenant']}"  # an opaque subject
    # The customer's address is named by reference, and the receipt says what it stands for.
    actor = accepted[0]["actor"].removeprefix("customer:")
    assert accepted[0]["personal_data"][actor] == ADMIN
    assert "attachment" in downloads[0].headers["Content-Disposition"]


def test_receipts_of_other_tenants_are_not_found(market: Marketplace, tenant: None) -> None:
    market.add_tenant("other.onmicrosoft.com", "Other", ("it@other.example",))
    other = market.sign_in("it@other.example")
    html = other.get("/account/").get_data(as_text=True)
    own = [part.split('"')[0] for part in html.split('href="/account/receipts/')[1:]]
    mine = market.sign_in()
    assert mine.get(f"/account/receipts/{own[0]}").status_code == 404
    assert mine.get("/account/receipts/999999.json").status_code == 404


def test_removed_admin_loses_the_session(market: Marketplace, tenant: None) -> None:
    client = market.sign_in()
    assert client.get("/account/").status_code == 200
    with market.backend.write() as session:
        session.execute(update(TenantAdmin).values(email="someone-else@fabrikam.example"))
    assert client.get("/account/").status_code == 302


def test_sign_out(market: Marketplace, tenant: None) -> None:
    client = market.sign_in()
    token = csrf_token(client.get("/account/").get_data(as_text=True))
    assert client.post("/account/signout", data={"csrf_token": token}).status_code == 302
    assert client.get("/account/").status_code == 302


def test_customer_page_in_russian(market: Marketplace, tenant: None) -> None:
    client = market.sign_in()
    html = client.get("/account/?lang=ru").get_data(as_text=True)
    assert "История согласий" in html and "Обратиться в службу поддержки" in html


def test_revoking_and_clearing_ask_for_confirmation_and_tell_every_admin(
    market: Marketplace,
) -> None:
    market.add_tenant(admins=(ADMIN, "second@fabrikam.example"))
    key = market.key("contoso-cloud")
    market.invite(key, delegated_admin=True)
    market.decide(market.link(), authorize_delegated_admin=CHECKED, make_partner_of_record=CHECKED)
    client = market.sign_in()
    page = client.get("/account/").get_data(as_text=True)
    assert 'name="confirm"' in page and 'name="confirm_clear"' in page
    token = csrf_token(page)
    for path, form in (
        ("/account/delegated-admin/revoke", {"partner": "contoso-cloud"}),
        ("/account/partner-of-record", {"action": "clear"}),
    ):
        unconfirmed = client.post(path, data={"csrf_token": token, **form})
        assert unconfirmed.status_code == 400
        assert "tick the box that confirms it first" in unconfirmed.get_data(as_text=True)
    [held] = market.api(key, "GET", "/relationships").get_json()["relationships"]
    assert held["delegated_admin"] and held["partner_of_record"]  # nothing changed
    cleared = client.post(
        "/account/partner-of-record",
        data={"csrf_token": token, "action": "clear", "confirm_clear": "y"},
    )
    assert cleared.status_code == 302
    for admin in (ADMIN, "second@fabrikam.example"):
        assert any(
            "no longer have a partner of record" in mail.subject for mail in market.mails(admin)
        )


def test_pending_invitations_are_listed_and_reviewed_from_the_page(market: Marketplace) -> None:
    """The customer page lists what waits for this admin's decision and opens the same
    decision page as the mailed link; another tenant's invitation is not found."""
    market.add_tenant()
    market.add_tenant("other.onmicrosoft.com", "Other", ("it@other.example",))
    key = market.key("contoso-cloud")
    sent = market.invite(key, delegated_admin=True).get_json()
    theirs = market.invite(key, tenant="other.onmicrosoft.com").get_json()
    client = market.sign_in()
    page = client.get("/account/").get_data(as_text=True)
    assert "Waiting for your decision" in page
    assert f"/account/invitations/{sent['id']}" in page
    assert theirs["id"] not in page
    review = client.get(f"/account/invitations/{sent['id']}")
    assert review.status_code == 200 and "Global administrator" in review.get_data(as_text=True)
    assert client.get(f"/account/invitations/{theirs['id']}").status_code == 404
    token = csrf_token(review.get_data(as_text=True))
    done = client.post(
        f"/account/invitations/{sent['id']}",
        data={"csrf_token": token, "decision": "accept", "authorize_delegated_admin": "y"},
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    shown = market.api(key, "GET", f"/invitations/{sent['id']}").get_json()
    assert shown["status"] == "accepted" and shown["delegated_admin_granted"]
    assert "Waiting for your decision" not in client.get("/account/").get_data(as_text=True)
    # Signed out, the review page sends to sign-in, like every customer page.
    stranger = market.app.test_client()
    assert stranger.get(f"/account/invitations/{sent['id']}").status_code == 302
