"""The customer's invitation page: GET shows, POST decides; DA and POR separately."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from consent_app.audit import verify
from consent_app.db import utcnow
from consent_app.models import AuditEvent, DelegatedAdminGrant, Invitation, PartnerOfRecord, Tenant
from tests.consent_app.conftest import ADMIN, CHECKED, TENANT, Marketplace, csrf_token


@pytest.fixture
def contoso(market: Marketplace) -> str:
    market.add_tenant()
    return market.key("contoso-cloud")


def roles(market: Marketplace) -> tuple[str | None, str | None]:
    """(DA partner, partner of record) of the test tenant, from the database."""
    with market.backend.read() as session:
        tenant_id = session.execute(select(Tenant.id).where(Tenant.domain == TENANT)).scalar_one()
        da = session.execute(
            select(DelegatedAdminGrant.partner_slug).where(
                DelegatedAdminGrant.tenant_id == tenant_id, DelegatedAdminGrant.ended_at.is_(None)
            )
        ).scalar_one_or_none()
        por = session.execute(
            select(PartnerOfRecord.partner_slug).where(
                PartnerOfRecord.tenant_id == tenant_id, PartnerOfRecord.ended_at.is_(None)
            )
        ).scalar_one_or_none()
    return da, por


def invitation_state(market: Marketplace) -> list[str]:
    with market.backend.read() as session:
        return list(
            session.execute(select(Invitation.state).order_by(Invitation.created_at)).scalars()
        )


def event_count(market: Marketplace) -> int:
    with market.backend.read() as session:
        return session.execute(select(func.count(AuditEvent.id))).scalar_one()


def test_the_page_shows_who_asks_for_what_and_changes_nothing(
    market: Marketplace, contoso: str
) -> None:
    market.invite(contoso, delegated_admin=True)
    before = event_count(market)
    mails = len(market.mails())
    page = market.client.get(market.link())
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Contoso Cloud Services invites Fabrikam to a free trial" in html
    assert "Exchange Online" in html and "30 days" in html
    assert "full administrative access to all of your services" in html
    assert 'name="authorize_delegated_admin"' in html
    assert 'name="make_partner_of_record"' in html
    assert "contact the provider's support" in html.replace("&#39;", "'") or "support" in html
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    # opening it (twice, as a link scanner would) changed nothing
    market.client.get(market.link())
    assert invitation_state(market) == ["pending"]
    assert event_count(market) == before and len(market.mails()) == mails


def test_no_delegated_admin_control_when_not_requested(market: Marketplace, contoso: str) -> None:
    market.invite(contoso)
    html = market.client.get(market.link()).get_data(as_text=True)
    assert 'name="authorize_delegated_admin"' not in html
    assert 'name="make_partner_of_record"' in html


def test_accept_trial_without_da_or_por(market: Marketplace, contoso: str) -> None:
    market.invite(contoso, delegated_admin=True)
    response = market.decide(market.link())
    assert response.status_code == 200
    assert "You accepted the invitation" in response.get_data(as_text=True)
    assert invitation_state(market) == ["accepted"]
    assert roles(market) == (None, None)


def test_accept_with_da_and_por(market: Marketplace, contoso: str) -> None:
    market.invite(contoso, delegated_admin=True)
    response = market.decide(
        market.link(), authorize_delegated_admin=CHECKED, make_partner_of_record=CHECKED
    )
    assert response.status_code == 200
    assert roles(market) == ("contoso-cloud", "contoso-cloud")
    to_admin = [m for m in market.mails(ADMIN) if "accepted" in m.subject]
    assert to_admin and "GRANTED" in to_admin[0].body
    to_partner = market.mails("partners@contoso.example")
    assert to_partner and "Delegated administration: granted" in to_partner[0].body


def test_accept_purchase_offer_with_por_only(market: Marketplace, contoso: str) -> None:
    market.invite(contoso, type="purchase", offer_id=None, licenses={"teams": 40})
    page = market.client.get(market.link()).get_data(as_text=True)
    assert "purchase offer" in page and "40" in page
    market.decide(market.link(), make_partner_of_record=CHECKED)
    assert roles(market) == (None, "contoso-cloud")


def test_decline_changes_no_role(market: Marketplace, contoso: str) -> None:
    market.invite(contoso, delegated_admin=True)
    response = market.decide(
        market.link(), "decline", authorize_delegated_admin=CHECKED, make_partner_of_record=CHECKED
    )
    assert "You declined" in response.get_data(as_text=True)
    assert invitation_state(market) == ["declined"]
    assert roles(market) == (None, None)


def test_da_replacement_needs_explicit_confirmation(market: Marketplace, contoso: str) -> None:
    market.invite(contoso, delegated_admin=True)
    market.decide(market.link(), authorize_delegated_admin=CHECKED)
    cape = market.key("cape-collaboration")
    market.invite(cape, offer_id="intranet-trial", delegated_admin=True)
    link = market.link()
    page = market.client.get(link).get_data(as_text=True)
    assert "Contoso Cloud Services administers your tenant now" in page
    assert 'name="confirm_replace_delegated_admin"' in page

    refused = market.decide(link, authorize_delegated_admin=CHECKED)
    assert refused.status_code == 409
    assert "confirms the replacement" in refused.get_data(as_text=True)
    assert roles(market) == ("contoso-cloud", None)
    assert invitation_state(market) == ["accepted", "pending"]

    confirmed = market.decide(
        link,
        authorize_delegated_admin=CHECKED,
        confirm_replace_delegated_admin=CHECKED,
        seen_delegated_admin="contoso-cloud",
    )
    assert confirmed.status_code == 200
    assert roles(market) == ("cape-collaboration", None)
    notice = [m for m in market.mails("partners@contoso.example") if "ended" in m.subject]
    assert notice and "chose another partner" in notice[0].body


def test_replacement_confirmed_for_another_partner_is_refused(
    market: Marketplace, contoso: str
) -> None:
    """The confirmation names the DA partner the page showed; if it changed since, look again."""
    market.invite(contoso, delegated_admin=True)
    market.decide(market.link(), authorize_delegated_admin=CHECKED)
    cape = market.key("cape-collaboration")
    market.invite(cape, offer_id="intranet-trial", delegated_admin=True)
    response = market.decide(
        market.link(),
        authorize_delegated_admin=CHECKED,
        confirm_replace_delegated_admin=CHECKED,
        seen_delegated_admin="someone-else",
    )
    assert response.status_code == 409
    assert "changed since you opened" in response.get_data(as_text=True)
    assert roles(market) == ("contoso-cloud", None)


def test_partner_of_record_stays_independent_of_da(market: Marketplace, contoso: str) -> None:
    market.invite(contoso, delegated_admin=True)
    market.decide(market.link(), make_partner_of_record=CHECKED)
    assert roles(market) == (None, "contoso-cloud")
    cape = market.key("cape-collaboration")
    market.invite(cape, offer_id="intranet-trial", delegated_admin=True)
    market.decide(market.link(), authorize_delegated_admin=CHECKED)
    # one partner advises, another administers
    assert roles(market) == ("cape-collaboration", "contoso-cloud")
    # and a new POR does not touch DA
    mercado = market.key("mercado-nube")
    market.invite(mercado, offer_id="negocio-trial")
    market.decide(market.link(), make_partner_of_record=CHECKED)
    assert roles(market) == ("cape-collaboration", "mercado-nube")


def test_forged_da_consent_on_an_invitation_without_da_request(
    market: Marketplace, contoso: str
) -> None:
    market.invite(contoso)
    response = market.decide(market.link(), authorize_delegated_admin=CHECKED)
    assert response.status_code == 400
    assert roles(market) == (None, None)
    assert invitation_state(market) == ["pending"]


@pytest.mark.parametrize("decision", ["", "maybe", "ACCEPT"])
def test_forged_decision_values(market: Marketplace, contoso: str, decision: str) -> None:
    market.invite(contoso, delegated_admin=True)
    response = market.decide(market.link(), decision, authorize_delegated_admin=CHECKED)
    assert response.status_code == 400
    assert invitation_state(market) == ["pending"]


def test_missing_or_wrong_csrf_token_changes_nothing(market: Marketplace, contoso: str) -> None:
    market.invite(contoso, delegated_admin=True)
    link = market.link()
    client = market.app.test_client()
    client.get(link)
    for form in (
        {"decision": "accept", "authorize_delegated_admin": CHECKED},
        {"decision": "accept", "csrf_token": "forged"},
    ):
        response = client.post(link, data=form)
        assert response.status_code == 400
        assert "nothing was changed" in response.get_data(as_text=True)
    assert invitation_state(market) == ["pending"]
    assert roles(market) == (None, None)


def test_a_used_link_cannot_decide_again(market: Marketplace, contoso: str) -> None:
    market.invite(contoso, delegated_admin=True)
    link = market.link()
    client = market.app.test_client()
    token = csrf_token(client.get(link).get_data(as_text=True))
    first = client.post(link, data={"csrf_token": token, "decision": "accept"})
    assert first.status_code == 200
    # a double click: the same form posted again
    second = client.post(
        link, data={"csrf_token": token, "decision": "accept", "authorize_delegated_admin": CHECKED}
    )
    assert second.status_code == 410
    assert "accepted already" in second.get_data(as_text=True)
    assert roles(market) == (None, None)
    assert market.client.get(link).status_code == 410


def test_expired_link(market: Marketplace, contoso: str) -> None:
    market.invite(contoso, delegated_admin=True)
    link = market.link()
    with market.backend.write() as session:
        session.execute(update(Invitation).values(expires_at=utcnow() - timedelta(seconds=1)))
    page = market.client.get(link)
    assert page.status_code == 410 and "expired" in page.get_data(as_text=True)
    assert invitation_state(market) == ["pending"]  # shown as expired; nothing written


def test_expired_while_the_page_was_open(market: Marketplace, contoso: str) -> None:
    market.invite(contoso, delegated_admin=True)
    link = market.link()
    client = market.app.test_client()
    token = csrf_token(client.get(link).get_data(as_text=True))
    with market.backend.write() as session:
        session.execute(update(Invitation).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = client.post(
        link, data={"csrf_token": token, "decision": "accept", "authorize_delegated_admin": CHECKED}
    )
    assert response.status_code == 410
    assert roles(market) == (None, None)


@pytest.mark.parametrize(
    "path",
    [
        "/invitations/not-a-real-token",
        "/invitations/" + "A" * 43,
        "/invitations/%00%ff",
        "/invitations/" + "x" * 3000,
    ],
)
def test_unknown_or_tampered_links(market: Marketplace, contoso: str, path: str) -> None:
    market.invite(contoso)
    page = market.client.get(path)
    assert page.status_code == 404
    assert "This link does not work" in page.get_data(as_text=True)
    posted = market.client.post(path, data={"decision": "accept"})
    assert posted.status_code in (400, 404)
    # A valid form too: the decision's transaction finds no link, and says so.
    token = csrf_token(market.client.get(market.link()).get_data(as_text=True))
    form = {"csrf_token": token, "decision": "accept", "authorize_delegated_admin": CHECKED}
    posted = market.client.post(path, data=form)
    assert posted.status_code == 404
    assert "This link does not work" in posted.get_data(as_text=True)
    assert invitation_state(market) == ["pending"]


def test_tampered_link_one_character_off(market: Marketplace, contoso: str) -> None:
    market.invite(contoso)
    link = market.link()
    tampered = link[:-1] + ("a" if link[-1] != "a" else "b")
    assert market.client.get(tampered).status_code == 404


def test_new_customer_accepting_creates_the_tenant(market: Marketplace) -> None:
    key = market.key("contoso-cloud")
    market.invite(
        key,
        tenant="newco.onmicrosoft.com",
        customer={"email": "boss@newco.example", "company": "NewCo"},
        delegated_admin=True,
    )
    link = market.link("boss@newco.example")
    page = market.client.get(link).get_data(as_text=True)
    assert "newco.onmicrosoft.com is not a customer yet" in page
    market.decide(link, authorize_delegated_admin=CHECKED)
    with market.backend.read() as session:
        tenant = session.execute(
            select(Tenant).where(Tenant.domain == "newco.onmicrosoft.com")
        ).scalar_one()
        assert tenant.name == "NewCo"
        grant = session.execute(select(DelegatedAdminGrant)).scalar_one()
        assert grant.tenant_id == tenant.id and grant.partner_slug == "contoso-cloud"
    # the new admin can sign in
    market.sign_in("boss@newco.example")


def test_new_customer_declining_creates_nothing(market: Marketplace) -> None:
    key = market.key("contoso-cloud")
    market.invite(
        key,
        tenant="newco.onmicrosoft.com",
        customer={"email": "boss@newco.example", "company": "NewCo"},
    )
    market.decide(market.link("boss@newco.example"), "decline")
    with market.backend.read() as session:
        assert session.execute(select(func.count(Tenant.id))).scalar_one() == 0


def test_new_customer_invitation_for_a_domain_someone_else_took(market: Marketplace) -> None:
    contoso, cape = market.key("contoso-cloud"), market.key("cape-collaboration")
    market.invite(
        contoso,
        tenant="newco.onmicrosoft.com",
        customer={"email": "a@newco.example", "company": "A"},
    )
    market.invite(
        cape,
        tenant="newco.onmicrosoft.com",
        offer_id="intranet-trial",
        customer={"email": "b@newco.example", "company": "B"},
    )
    market.decide(market.link("a@newco.example"), make_partner_of_record=CHECKED)
    page = market.client.get(market.link("b@newco.example"))
    assert page.status_code == 409
    html = page.get_data(as_text=True)
    assert "created after the invitation was sent" in html
    # nothing of the tenant someone else created is shown to this person
    assert "Contoso" not in html and 'name="decision"' not in html


def test_sovereign_tenant_page_refuses(market: Marketplace, contoso: str) -> None:
    market.invite(contoso, delegated_admin=True)
    link = market.link()
    with market.backend.write() as session:
        session.execute(update(Tenant).values(cloud="21vianet"))
    page = market.client.get(link)
    assert page.status_code == 422 and "21Vianet" in page.get_data(as_text=True)


def test_the_page_in_russian(market: Marketplace, contoso: str) -> None:
    market.invite(contoso, delegated_admin=True)
    link = market.link()
    page = market.client.get(link + "?lang=ru").get_data(as_text=True)
    assert "Делегированное администрирование" in page and 'lang="ru"' in page
    # remembered by cookie, and chosen from the browser's languages
    assert 'lang="ru"' in market.client.get(link).get_data(as_text=True)
    fresh = market.app.test_client()
    chosen = fresh.get(link, headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert "Партнёр по записи" in chosen.get_data(as_text=True)


def test_every_decision_leaves_an_intact_audit_chain(market: Marketplace, contoso: str) -> None:
    market.invite(contoso, delegated_admin=True)
    market.decide(market.link(), authorize_delegated_admin=CHECKED, make_partner_of_record=CHECKED)
    with market.backend.read() as session:
        actions = list(session.execute(select(AuditEvent.action).order_by(AuditEvent.id)).scalars())
        report = verify(session)
    assert report.ok, report.problems
    assert actions[-3:] == [
        "delegated_admin.granted",
        "partner_of_record.set",
        "invitation.accepted",
    ]
