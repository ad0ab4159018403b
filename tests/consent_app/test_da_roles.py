"""Least-privilege delegated administration through the backend: a DA request names admin
roles and a duration, the customer sees each role in plain words and the end date, a grant
ends by itself (or extends itself when allowed), both sides are reminded, the DA partner can
renew without a gap, and the partner sees roles and end dates (README: Delegated
administration)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from consent_app.grant_sweep import sweep_delegated_admin
from consent_app.models import AuditEvent, DelegatedAdminGrant, Invitation
from tests.consent_app.conftest import CHECKED, TENANT, Marketplace, csrf_token

TEAMS = {"type": "trial", "offer_id": "teams-start"}


def grants(market: Marketplace) -> list[DelegatedAdminGrant]:
    with market.backend.read() as session:
        query = select(DelegatedAdminGrant).order_by(DelegatedAdminGrant.id)
        return list(session.execute(query).scalars())


def events(market: Marketplace, action: str) -> list[AuditEvent]:
    with market.backend.read() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.execute(query).scalars())


def later(market: Marketplace, days: float) -> None:
    """Move the backend's clock (no sleeping)."""
    moment = market.backend.clock() + timedelta(days=days)
    market.backend.clock = lambda: moment


def test_a_request_names_roles_and_days_and_the_customer_sees_them(market: Marketplace) -> None:
    market.add_tenant()
    taiga = market.key("taiga-cloud")
    asked = {"roles": ["user-admin"], "duration_days": 30}
    sent = market.invite(taiga, **TEAMS, delegated_admin=asked)
    assert sent.status_code == 201, sent.get_json()
    shown = market.api(taiga, "GET", f"/invitations/{sent.get_json()['id']}").get_json()
    assert shown["delegated_admin_roles"] == ["user-admin"]
    assert shown["delegated_admin_days"] == 30
    page = market.app.test_client().get(market.link()).get_data(as_text=True)
    assert "User administrator" in page and "reset passwords" in page
    assert "full access to everything" not in page
    assert "ends by itself on" in page
    assert 'name="auto_extend_delegated_admin"' in page  # offered: no full access asked
    russian = market.app.test_client().get(market.link() + "?lang=ru").get_data(as_text=True)
    assert "Администратор пользователей" in russian


def test_true_asks_for_the_offers_roles_and_full_access_is_flagged(market: Marketplace) -> None:
    market.add_tenant()
    assert (
        market.invite(market.key("taiga-cloud"), **TEAMS, delegated_admin=True).status_code == 201
    )
    page = market.app.test_client().get(market.link()).get_data(as_text=True)
    assert "Teams administrator" in page and "User administrator" in page
    assert market.invite(market.key(), delegated_admin=True).status_code == 201  # no roles named
    full = market.app.test_client().get(market.link()).get_data(as_text=True)
    assert "Global administrator" in full and "full access to everything" in full
    assert 'name="auto_extend_delegated_admin"' not in full


def test_bad_requests_name_the_field(market: Marketplace) -> None:
    market.add_tenant()
    taiga = market.key("taiga-cloud")
    for asked, field in (
        ({"roles": ["exchange-admin"], "duration_days": 30}, "delegated_admin.roles.0"),
        ({"roles": ["user-admn"], "duration_days": 30}, "delegated_admin.roles.0"),
        ({"roles": ["user-admin"], "duration_days": 731}, "delegated_admin.duration_days"),
        ({"roles": ["user-admin"]}, "delegated_admin.duration_days"),
        ("yes", "delegated_admin"),
    ):
        answer = market.invite(taiga, **TEAMS, delegated_admin=asked)
        assert answer.status_code in (400, 422), (asked, answer.get_json())
        assert answer.get_json()["error"] == "validation_error"
        assert field in answer.get_json()["message"], answer.get_json()


def test_accepting_grants_exactly_those_roles_until_the_end_date(market: Marketplace) -> None:
    market.add_tenant()
    taiga = market.key("taiga-cloud")
    asked = {"roles": ["teams-admin"], "duration_days": 90}
    assert market.invite(taiga, **TEAMS, delegated_admin=asked).status_code == 201
    now = market.backend.clock()
    market.decide(market.link(), authorize_delegated_admin=CHECKED)
    [grant] = grants(market)
    assert grant.roles == ["teams-admin"] and not grant.auto_extend
    assert abs(grant.expires_at - (now + timedelta(days=90))) < timedelta(minutes=5)
    [granted] = events(market, "delegated_admin.granted")
    assert granted.details["roles"] == ["teams-admin"]
    assert granted.details["expires_at"] == grant.expires_at.isoformat()
    [held] = market.api(taiga, "GET", "/relationships").get_json()["relationships"]
    assert held["roles"] == ["teams-admin"]
    assert held["expires_at"] == grant.expires_at.isoformat()
    account = market.sign_in().get("/account/").get_data(as_text=True)
    assert "Teams administrator" in account and "ends by itself on" in account


def test_a_grant_ends_by_itself_and_both_sides_are_told(market: Marketplace) -> None:
    market.add_tenant()
    taiga = market.key("taiga-cloud")
    asked = {"roles": ["teams-admin"], "duration_days": 10}
    market.invite(taiga, **TEAMS, delegated_admin=asked)
    market.decide(market.link(), authorize_delegated_admin=CHECKED)
    later(market, 10.01)
    # Past its end date it no longer counts, even before the sweep records the end.
    assert market.api(taiga, "GET", "/relationships").get_json()["relationships"] == []
    assert market.backend.run(sweep_delegated_admin) == 1
    assert market.backend.run(sweep_delegated_admin) == 0  # once, whoever runs it
    [ended] = events(market, "delegated_admin.ended")
    assert ended.details["reason"] == "expired" and ended.actor == "system:expiry"
    assert any(
        "reached the end date" in mail.body for mail in market.mails(to="admin@fabrikam.example")
    )
    assert any(
        "end date the customer agreed to" in mail.body
        for mail in market.mails(to="hello@taiga-cloud.example")
    )
    # Another partner can now be authorized without replacing anyone.
    market.invite(market.key(), delegated_admin=True)
    done = market.decide(market.link(), authorize_delegated_admin=CHECKED)
    assert done.status_code == 200, done.get_data(as_text=True)
    assert [g.partner_slug for g in grants(market) if g.ended_at is None] == ["contoso-cloud"]


def test_reminders_30_and_7_days_before_once_each(market: Marketplace) -> None:
    market.add_tenant()
    taiga = market.key("taiga-cloud")
    market.invite(taiga, **TEAMS, delegated_admin={"roles": ["teams-admin"], "duration_days": 60})
    market.decide(market.link(), authorize_delegated_admin=CHECKED)

    def reminders() -> int:
        return len([m for m in market.mails() if " ends on " in m.subject])

    later(market, 29)
    assert market.backend.run(sweep_delegated_admin) == 0 and reminders() == 0
    later(market, 2)  # 29 days left
    assert market.backend.run(sweep_delegated_admin) == 1
    assert market.backend.run(sweep_delegated_admin) == 0
    assert reminders() == 2  # the admin and the partner
    later(market, 23)  # 6 days left
    assert market.backend.run(sweep_delegated_admin) == 1 and reminders() == 4


def test_a_grant_the_customer_let_extend_itself_is_extended(market: Marketplace) -> None:
    market.add_tenant()
    taiga = market.key("taiga-cloud")
    market.invite(taiga, **TEAMS, delegated_admin={"roles": ["teams-admin"], "duration_days": 5})
    market.decide(
        market.link(), authorize_delegated_admin=CHECKED, auto_extend_delegated_admin=CHECKED
    )
    [grant] = grants(market)
    assert grant.auto_extend
    later(market, 5.5)
    assert market.backend.run(sweep_delegated_admin) == 1
    [extended] = grants(market)
    assert extended.ended_at is None
    assert extended.expires_at == grant.expires_at + timedelta(days=180)
    assert len(events(market, "delegated_admin.extended")) == 1


def test_full_access_cannot_extend_itself_even_with_a_forged_form(market: Marketplace) -> None:
    market.add_tenant()
    market.invite(market.key(), delegated_admin=True)
    answer = market.decide(
        market.link(), authorize_delegated_admin=CHECKED, auto_extend_delegated_admin=CHECKED
    )
    assert answer.status_code == 400  # refused, and nothing applied
    assert grants(market) == []
    assert events(market, "invitation.accepted") == []


def test_the_da_partner_renews_without_a_gap_or_a_replacement(market: Marketplace) -> None:
    market.add_tenant()
    taiga = market.key("taiga-cloud")
    market.invite(
        taiga,
        **TEAMS,
        delegated_admin={"roles": ["teams-admin", "user-admin"], "duration_days": 30},
    )
    market.decide(market.link(), authorize_delegated_admin=CHECKED)
    later(market, 25)
    market.invite(taiga, **TEAMS, delegated_admin={"roles": ["teams-admin"], "duration_days": 60})
    page = market.app.test_client().get(market.link()).get_data(as_text=True)
    assert "This renews the delegated administration" in page
    done = market.decide(market.link(), authorize_delegated_admin=CHECKED)  # no confirmation
    assert done.status_code == 200, done.get_data(as_text=True)
    old, new = grants(market)
    assert old.end_reason == "renewed" and old.ended_at == new.started_at  # no gap
    assert new.roles == ["teams-admin"] and new.ended_at is None
    assert [e.details.get("renewal") for e in events(market, "delegated_admin.granted")] == [
        False,
        True,
    ]
    with market.backend.read() as session:
        from consent_app.audit import verify

        assert verify(session).problems == []


def test_revoking_from_the_customer_page_still_works(market: Marketplace) -> None:
    market.add_tenant()
    taiga = market.key("taiga-cloud")
    market.invite(taiga, **TEAMS, delegated_admin=True)
    market.decide(market.link(), authorize_delegated_admin=CHECKED)
    client = market.sign_in()
    token = csrf_token(client.get("/account/").get_data(as_text=True))
    answer = client.post(
        "/account/delegated-admin/revoke",
        data={"csrf_token": token, "partner": "taiga-cloud", "confirm": "y"},
    )
    assert answer.status_code == 302
    assert market.api(taiga, "GET", "/relationships").get_json()["relationships"] == []
    assert TENANT


def test_the_sweep_racing_a_renewal_and_a_new_partner_leaves_one_grant(
    market: Marketplace,
) -> None:
    """At the end date, the sweep (on two workers), the DA partner's renewal and another
    partner's grant all run at once: afterwards at most one grant is active, every end has
    its event, and the log verifies."""
    from consent_app.audit import verify

    market.add_tenant()
    taiga = market.key("taiga-cloud")
    market.invite(taiga, **TEAMS, delegated_admin={"roles": ["teams-admin"], "duration_days": 3})
    market.decide(market.link(), authorize_delegated_admin=CHECKED)
    market.invite(taiga, **TEAMS, delegated_admin={"roles": ["teams-admin"], "duration_days": 30})
    renewal = market.link()
    market.invite(market.key(), delegated_admin=True)
    other = market.link()
    later(market, 3.001)
    pages = {link: market.app.test_client().get(link) for link in (renewal, other)}
    assert all(page.status_code == 200 for page in pages.values())
    outcomes: list[int] = []

    def accept(link: str) -> None:
        outcomes.append(market.decide(link, authorize_delegated_admin=CHECKED).status_code)

    def sweep() -> None:
        market.backend.run(sweep_delegated_admin)

    threads = [
        threading.Thread(target=accept, args=(renewal,)),
        threading.Thread(target=accept, args=(other,)),
        threading.Thread(target=sweep),
        threading.Thread(target=sweep),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    active = [g for g in grants(market) if g.ended_at is None]
    assert len(active) <= 1, active
    assert 200 in outcomes, outcomes  # one of the two got the grant
    with market.backend.read() as session:
        assert verify(session).problems == []
    ended = [g for g in grants(market) if g.ended_at is not None]
    assert len(events(market, "delegated_admin.ended")) == len(ended)


def test_the_upgrade_gives_existing_grants_full_access_and_an_end_date(
    market: Marketplace,
) -> None:
    """Migration 0007 on a database with an active grant from before it."""
    from alembic import command
    from sqlalchemy import text

    from consent_app.audit import verify
    from consent_app.db import alembic_config, upgrade

    market.add_tenant()
    market.invite(market.key(), delegated_admin=True)
    market.decide(market.link(), authorize_delegated_admin=CHECKED)
    database = market.backend.database
    command.downgrade(alembic_config(database), "0006")
    with database.engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM delegated_admin_grants")).scalar()
    upgrade(database)
    [grant] = grants(market)
    assert grant.roles == ["global-admin"] and grant.ended_at is None
    assert timedelta(days=729) < grant.expires_at - grant.started_at < timedelta(days=731)
    [limited] = events(market, "delegated_admin.limited")
    assert limited.partner_slug == "contoso-cloud"
    assert limited.details["expires_at"] == grant.expires_at.isoformat()
    with market.backend.read() as session:
        assert verify(session).problems == []


def test_a_renewal_asks_for_the_same_roles_or_fewer(market: Marketplace) -> None:
    market.add_tenant()
    taiga = market.key("taiga-cloud")
    market.invite(taiga, **TEAMS, delegated_admin={"roles": ["teams-admin"], "duration_days": 30})
    market.decide(market.link(), authorize_delegated_admin=CHECKED)
    wider = {"roles": ["teams-admin", "user-admin"], "duration_days": 30}
    refused = market.invite(taiga, **TEAMS, delegated_admin=wider)
    assert refused.status_code == 400
    assert "same roles or fewer, not user-admin" in refused.get_json()["message"]
    assert (
        market.invite(
            taiga, **TEAMS, delegated_admin={"roles": ["teams-admin"], "duration_days": 60}
        ).status_code
        == 201
    )


def test_the_partner_sees_what_was_granted(market: Marketplace) -> None:
    market.add_tenant()
    taiga = market.key("taiga-cloud")
    sent = market.invite(
        taiga, **TEAMS, delegated_admin={"roles": ["user-admin"], "duration_days": 45}
    ).get_json()
    market.decide(market.link(), authorize_delegated_admin=CHECKED)
    shown = market.api(taiga, "GET", f"/invitations/{sent['id']}").get_json()
    [grant] = grants(market)
    assert shown["delegated_admin_granted_roles"] == ["user-admin"]
    assert shown["delegated_admin_granted_until"] == grant.expires_at.isoformat()


# --- what the review found ----------------------------------------------------------------------


def narrow_offer(market: Marketplace, roles: list[str]) -> None:
    """A redeploy where taiga's teams-start offer asks for fewer roles."""
    from tests.consent_app.test_trust import change_listing

    listing = market.backend.directory.get("taiga-cloud")
    assert listing is not None
    offers = [
        offer.model_copy(update={"delegated_admin_roles": roles})
        if offer.id == "teams-start"
        else offer
        for offer in listing.offers
    ]
    change_listing(market, "taiga-cloud", offers=offers)


def test_roles_and_days_are_checked_again_when_the_customer_decides(
    app_factory: Callable[..., Flask],
) -> None:
    market = Marketplace(app_factory())
    market.add_tenant()
    taiga = market.key("taiga-cloud")
    asked = {"roles": ["teams-admin", "user-admin"], "duration_days": 700}
    market.invite(taiga, **TEAMS, delegated_admin=asked)
    link = market.link()
    narrow_offer(market, ["teams-admin"])
    page = market.app.test_client().get(link).get_data(as_text=True)
    assert "can no longer be granted" in page
    refused = market.decide(link, authorize_delegated_admin=CHECKED)
    assert refused.status_code == 403 and grants(market) == []
    assert market.decide(link).status_code == 200  # the rest is accepted without DA
    # A lower maximum since: a request for more days than it allows can no longer be granted.
    other = Marketplace(app_factory())
    other.add_tenant("other.onmicrosoft.com", "Other", ("it@other.example",))
    long = {"roles": ["teams-admin"], "duration_days": 700}
    sent = other.invite(
        other.key("taiga-cloud"), **TEAMS, tenant="other.onmicrosoft.com", delegated_admin=long
    )
    assert sent.status_code == 201
    lower = {"delegated_admin_max_days": 90, "delegated_admin_default_days": 30}
    other.backend.settings = other.backend.settings.model_copy(update=lower)
    answer = other.decide(other.link("it@other.example"), authorize_delegated_admin=CHECKED)
    assert answer.status_code == 403 and grants(other) == []


def test_an_invitation_from_before_roles_asks_what_true_asks_now(market: Marketplace) -> None:
    """Pending at the upgrade (no roles or days stored): the offer's roles, the default days."""
    from sqlalchemy import update

    market.add_tenant()
    market.invite(market.key("taiga-cloud"), **TEAMS, delegated_admin=True)
    with market.backend.write() as session:
        session.execute(
            update(Invitation).values(delegated_admin_roles=None, delegated_admin_days=None)
        )
    now = market.backend.clock()
    market.decide(market.link(), authorize_delegated_admin=CHECKED)
    [grant] = grants(market)
    assert grant.roles == ["teams-admin", "user-admin"]
    assert abs(grant.expires_at - (now + timedelta(days=365))) < timedelta(minutes=5)


def test_a_grant_that_extends_itself_holds_until_the_sweep(market: Marketplace) -> None:
    """Past its end date but not swept yet, a self-extending grant still holds: another
    partner needs the replacement confirmation, and the partner keeps the relationship."""
    market.add_tenant()
    taiga = market.key("taiga-cloud")
    market.invite(taiga, **TEAMS, delegated_admin={"roles": ["teams-admin"], "duration_days": 5})
    market.decide(
        market.link(), authorize_delegated_admin=CHECKED, auto_extend_delegated_admin=CHECKED
    )
    later(market, 5.5)
    assert market.api(taiga, "GET", "/relationships").get_json()["relationships"]
    market.invite(market.key(), delegated_admin=True)
    unconfirmed = market.decide(market.link(), authorize_delegated_admin=CHECKED)
    assert unconfirmed.status_code == 409


def test_the_sweep_ends_instead_of_extending_when_the_rules_no_longer_allow_it(
    market: Marketplace,
) -> None:
    from tests.consent_app.test_trust import change_listing

    market.add_tenant()
    taiga = market.key("taiga-cloud")
    market.invite(taiga, **TEAMS, delegated_admin={"roles": ["teams-admin"], "duration_days": 5})
    market.decide(
        market.link(), authorize_delegated_admin=CHECKED, auto_extend_delegated_admin=CHECKED
    )
    change_listing(market, "taiga-cloud", delist=True)
    later(market, 5.5)
    assert market.backend.run(sweep_delegated_admin) == 1
    [grant] = grants(market)
    assert grant.end_reason == "expired" and events(market, "delegated_admin.extended") == []


def test_the_decision_mail_names_the_roles_and_the_end(market: Marketplace) -> None:
    market.add_tenant()
    market.invite(
        market.key("taiga-cloud"),
        **TEAMS,
        delegated_admin={"roles": ["teams-admin"], "duration_days": 30},
    )
    market.decide(market.link(), authorize_delegated_admin=CHECKED)
    [mail] = [m for m in market.mails("admin@fabrikam.example") if "accepted" in m.subject]
    assert "in these admin roles only: Teams administrator" in mail.body
    assert "full administrative access" not in mail.body
    [accepted] = events(market, "invitation.accepted")
    assert accepted.details["delegated_admin_roles"] == ["teams-admin"]
    assert accepted.details["delegated_admin_expires_at"]


def test_a_self_extending_grant_is_reminded_that_it_will_extend(market: Marketplace) -> None:
    market.add_tenant()
    taiga = market.key("taiga-cloud")
    market.invite(taiga, **TEAMS, delegated_admin={"roles": ["teams-admin"], "duration_days": 60})
    market.decide(
        market.link(), authorize_delegated_admin=CHECKED, auto_extend_delegated_admin=CHECKED
    )
    later(market, 31)
    assert market.backend.run(sweep_delegated_admin) == 1
    bodies = [m.body for m in market.mails("admin@fabrikam.example")]
    assert any("will then extend itself by 180 days" in body for body in bodies)
