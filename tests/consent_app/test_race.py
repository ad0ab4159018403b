"""Concurrent acceptances of DA offers from different partners for one customer, through the
real app in threads, against a SQLite file and PostgreSQL: exactly one DA partner remains,
nothing is half-applied and the audit log stays consistent (README: Consent backend)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from consent_app.audit import verify
from consent_app.models import AuditEvent, DelegatedAdminGrant, Invitation, OutboxMessage
from tests.consent_app.conftest import ADMIN, CHECKED, DA_OFFERS, TENANT, Marketplace, csrf_token


def open_invitations(market: Marketplace) -> list[tuple[str, object, str]]:
    """One DA invitation per partner: (partner, client with the page open, CSRF token)."""
    opened = []
    for partner, offer in DA_OFFERS.items():
        market.invite(market.key(partner), offer_id=offer, delegated_admin=True)
        link = market.link(ADMIN)
        client = market.app.test_client()
        token = csrf_token(client.get(link).get_data(as_text=True))
        opened.append((partner, client, token, link))
    return opened  # type: ignore[return-value]


def race(opened: list, extra: dict[str, str]) -> list[int]:
    """Submit every open page at the same moment; the status of each answer."""
    barrier = threading.Barrier(len(opened))

    def submit(item: tuple) -> int:  # type: ignore[type-arg]
        _, client, token, link = item
        form = {"csrf_token": token, "decision": "accept", "authorize_delegated_admin": CHECKED}
        form.update(extra)
        barrier.wait()
        return client.post(link, data=form).status_code

    with ThreadPoolExecutor(len(opened)) as pool:
        return list(pool.map(submit, opened))


def check_invariants(market: Marketplace) -> str:
    """Exactly one active DA grant; every accepted invitation complete; audit chain intact."""
    with market.backend.read() as session:
        active = (
            session.execute(
                select(DelegatedAdminGrant.partner_slug).where(
                    DelegatedAdminGrant.ended_at.is_(None)
                )
            )
            .scalars()
            .all()
        )
        assert len(active) == 1, active
        accepted = (
            session.execute(select(Invitation).where(Invitation.state == "accepted"))
            .scalars()
            .all()
        )
        for invitation in accepted:
            events = session.execute(
                select(func.count(AuditEvent.id)).where(
                    AuditEvent.invitation_id == invitation.id,
                    AuditEvent.action == "invitation.accepted",
                )
            ).scalar_one()
            assert events == 1
            assert invitation.delegated_admin_granted is True
        grants = session.execute(select(func.count(DelegatedAdminGrant.id))).scalar_one()
        assert grants == len(accepted)  # no grant without its accepted invitation
        mails = session.execute(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.subject.like("You accepted%"))
        ).scalar_one()
        assert mails == len(accepted)  # one confirmation to the (single) admin per acceptance
        report = verify(session)
        assert report.ok, report.problems
        return active[0]


def test_concurrent_da_acceptances_leave_exactly_one_da_partner(
    market: Marketplace, database_kind: str
) -> None:
    market.add_tenant()
    opened = open_invitations(market)

    # Round 1: nobody administers the tenant; every partner's page is accepted with DA at once.
    statuses = race(opened, {})
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 409}
    holder = check_invariants(market)

    # Round 2: the others all confirm replacing the holder they saw, at once: one wins, the rest
    # are told the DA partner changed since they looked.
    losers = [item for item in opened if item[0] != holder]
    statuses = race(
        losers,
        {"confirm_replace_delegated_admin": CHECKED, "seen_delegated_admin": holder},
    )
    assert statuses.count(200) == 1, statuses
    new_holder = check_invariants(market)
    assert new_holder != holder

    with market.backend.read() as session:
        pending = session.execute(
            select(func.count(Invitation.id)).where(Invitation.state == "pending")
        ).scalar_one()
    assert pending == len(DA_OFFERS) - 2  # refused decisions left their invitations untouched
    relationships = [
        market.api(market.key(partner), "GET", "/relationships").get_json()["relationships"]
        for partner in DA_OFFERS
    ]
    da_partners = [r for r in relationships if r and r[0]["delegated_admin"]]
    assert len(da_partners) == 1 and da_partners[0][0]["tenant"] == TENANT


def test_a_decision_that_waited_for_the_tenant_sees_the_roles_as_they_are_now(
    market: Marketplace,
) -> None:
    """A decision waiting for the tenant's lock while the customer clears the partner of
    record reads the roles after that commits: naming the partner again names it. (Read in
    the locking statement itself, PostgreSQL's snapshot from before the wait showed the old
    partner of record still named, and the accept named nobody.)"""
    from consent_app.consent import set_partner_of_record
    from consent_app.models import PartnerOfRecord
    from consent_app.tenants import find_tenant
    from consent_app.work import UnitOfWork
    from tests.consent_app.conftest import OPERATOR

    market.add_tenant()
    key = market.key("contoso-cloud")
    market.invite(key)
    assert market.decide(market.link(ADMIN), make_partner_of_record=CHECKED).status_code == 200
    market.invite(key)
    link = market.link(ADMIN)
    client = market.app.test_client()
    token = csrf_token(client.get(link).get_data(as_text=True))
    cleared = threading.Event()

    def clear_slowly(uow: UnitOfWork) -> None:  # holds the tenant's lock a while
        tenant = find_tenant(uow.session, TENANT)
        assert tenant is not None
        set_partner_of_record(uow, tenant, None, OPERATOR)
        cleared.set()
        time.sleep(1.0)

    clearing = threading.Thread(target=market.backend.run, args=(clear_slowly,))
    clearing.start()
    assert cleared.wait(10)
    time.sleep(0.2)  # the decision below starts while the clearing transaction is open
    form = {"csrf_token": token, "decision": "accept", "make_partner_of_record": CHECKED}
    assert client.post(link, data=form).status_code == 200
    clearing.join()
    with market.backend.read() as session:
        named = session.scalars(
            select(PartnerOfRecord.partner_slug).where(PartnerOfRecord.ended_at.is_(None))
        ).all()
        assert named == ["contoso-cloud"]
        assert verify(session).ok
