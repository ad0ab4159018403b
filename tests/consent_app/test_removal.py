"""Data removal on request: `tenants remove` and `tenants remove-admin` erase a tenant's or an
admin's personal data everywhere the database keeps it, end what it held up (the partners are
told), and leave the audit log verifiable; personal data lives apart from the hashed chain
(README: Data removal)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import delete, select, text, update

from consent_app.audit import GENESIS, content_hash, tenant_chain, verify
from consent_app.db import Database, alembic_config, upgrade, utcnow
from consent_app.instance import audit_key
from consent_app.mail import enqueue
from consent_app.models import (
    AuditEvent,
    AuditSubject,
    Base,
    Invitation,
    OutboxMessage,
    PersonalDatum,
    Tenant,
    TenantAdmin,
)
from consent_app.outbox import ERASED_MESSAGE, ERASED_SUBJECT, deliver_pending
from consent_app.personal import ERASED, references, resolve
from consent_app.removal import remove_admin, remove_tenant
from tests.consent_app.conftest import (
    CHECKED,
    OPERATOR,
    Marketplace,
    csrf_token,
)
from tests.consent_app.test_audit import problems

DOMAIN = "zebra.onmicrosoft.com"
NAME = "Zebracorp"
ADA = "ada@zebra.example"
BOB = "bob@zebra.example"
PERSONAL = (DOMAIN, NAME, ADA, BOB)


def cli(market: Marketplace, *args: str, answer: str | None = None) -> Result:
    return market.run_cli(*args, answer=answer)


def stored_text(market: Marketplace) -> str:
    """Every value of every table, as text: what someone reading the database sees."""
    with market.backend.read() as session:
        return "\n".join(
            " ".join(map(str, row))
            for table in Base.metadata.sorted_tables
            for row in session.execute(select(table))
        )


def chain(market: Marketplace) -> str | None:
    with market.backend.read() as session:
        return tenant_chain(session, DOMAIN)


@pytest.fixture
def zebra(market: Marketplace) -> Marketplace:
    """A tenant with two admins, a DA partner and partner of record from an accepted
    invitation (decided by Bob), a pending invitation from another partner, a signed-in
    session, and mail."""
    market.add_tenant(DOMAIN, NAME, (ADA, BOB))
    contoso, cape = market.key("contoso-cloud"), market.key("cape-collaboration")
    assert market.invite(contoso, tenant=DOMAIN, delegated_admin=True).status_code == 201
    accepted = market.decide(
        market.link(BOB), authorize_delegated_admin=CHECKED, make_partner_of_record=CHECKED
    )
    assert accepted.status_code == 200
    assert market.invite(cape, tenant=DOMAIN, offer_id="intranet-trial").status_code == 201
    market.zebra_contoso = contoso  # type: ignore[attr-defined]
    return market


def test_removing_a_tenant_erases_it_and_the_log_still_verifies(zebra: Marketplace) -> None:
    session_of_bob = zebra.sign_in(BOB)
    old_chain = chain(zebra)
    assert all(value in stored_text(zebra) for value in PERSONAL)

    removed = cli(zebra, "tenants", "remove", DOMAIN, "--yes")

    assert removed.exit_code == 0, removed.output
    assert "Removed zebra.onmicrosoft.com: 2 admin(s), 2 invitation(s)" in removed.output
    assert "delegated_admin: contoso-cloud" in removed.output
    assert "canceled 1 pending invitation(s)" in removed.output
    left = stored_text(zebra)
    assert [line for line in left.splitlines() if DOMAIN in line] == []
    assert [value for value in PERSONAL if value in left] == []
    # The log keeps every event, chained and hashed as before, ending with the removal.
    assert problems(zebra) == []
    verified = cli(zebra, "audit", "verify")
    assert verified.exit_code == 0 and "Audit log intact" in verified.output
    with zebra.backend.read() as session:
        events = list(
            session.execute(
                select(AuditEvent).where(AuditEvent.chain == old_chain).order_by(AuditEvent.seq)
            ).scalars()
        )
        people = resolve(session, references(e.actor for e in events))
    assert [e.action for e in events][-4:] == [
        "delegated_admin.ended",
        "partner_of_record.ended",
        "invitation.canceled",
        "tenant.removed",
    ]
    assert set(people.values()) == {ERASED}  # Bob's address, by reference, erased
    # What the tenant held ends: the partner's relationship, the session, the pending link.
    contoso = zebra.zebra_contoso  # type: ignore[attr-defined]
    assert zebra.api(contoso, "GET", "/relationships").get_json()["relationships"] == []
    assert session_of_bob.get("/account/").status_code == 302  # back to sign-in
    # Both partners concerned are told, without the tenant in the subject line.
    for slug in ("contoso-cloud", "cape-collaboration"):
        listing = zebra.backend.directory.get(slug)
        assert listing is not None
        [notice] = [
            mail for mail in zebra.mails(str(listing.contact.email)) if "removed" in mail.subject
        ]
        assert DOMAIN not in notice.subject and DOMAIN in notice.body
    # The domain is free again: a new tenant, with a chain and history of its own.
    zebra.add_tenant(DOMAIN, "Zebra Two", ("carol@zebra.example",))
    assert chain(zebra) not in (None, old_chain)
    assert problems(zebra) == []
    page = zebra.sign_in("carol@zebra.example").get("/account/").get_data(as_text=True)
    assert "contoso" not in page.lower()


def test_removing_an_admin_erases_them_and_keeps_the_tenant(zebra: Marketplace) -> None:
    session_of_bob = zebra.sign_in(BOB)

    removed = cli(zebra, "tenants", "remove-admin", DOMAIN, BOB, "--yes")

    assert removed.exit_code == 0, removed.output
    left = stored_text(zebra)
    assert BOB not in left and ADA in left and DOMAIN in left
    assert problems(zebra) == []
    assert session_of_bob.get("/account/").status_code == 302
    # Ada's page still shows the whole history, with Bob's decision by "[erased]".
    page = zebra.sign_in(ADA).get("/account/").get_data(as_text=True)
    assert ERASED in page and BOB not in page and "contoso" in page.lower()
    assert "Administrator removed, their personal data erased" in page
    # Bob can no longer sign in (the answer does not say so): no new link is mailed.
    mailed = len(zebra.mails(BOB))
    client = zebra.app.test_client()
    form = client.get("/signin").get_data(as_text=True)
    answer = client.post("/signin", data={"csrf_token": csrf_token(form), "email": BOB})
    assert answer.status_code == 200
    assert len(zebra.mails(BOB)) == mailed


def test_mistakes_change_nothing(zebra: Marketplace) -> None:
    before = stored_text(zebra)
    cases = [
        (("tenants", "remove", "nobody.onmicrosoft.com", "--yes"), "no tenant or invitation"),
        (("tenants", "remove-admin", DOMAIN, "eve@zebra.example", "--yes"), "not an admin"),
        (("tenants", "remove-admin", "nobody.onmicrosoft.com", ADA, "--yes"), "no tenant"),
    ]
    for arguments, says in cases:
        result = cli(zebra, *arguments)
        assert result.exit_code == 1 and says in result.output, result.output
    # Without --yes the operator is asked; anything but yes changes nothing.
    refused = cli(zebra, "tenants", "remove", DOMAIN, answer="n\n")
    assert refused.exit_code == 1 and "Aborted" in refused.output
    assert stored_text(zebra) == before
    # The last admin cannot be removed alone: the tenant would have nobody.
    assert cli(zebra, "tenants", "remove-admin", DOMAIN, BOB, "--yes").exit_code == 0
    last = cli(zebra, "tenants", "remove-admin", DOMAIN, ADA, "--yes")
    assert last.exit_code == 1 and "only admin" in last.output and "tenants remove" in last.output


def test_a_domain_only_invitations_name_can_be_removed(market: Marketplace) -> None:
    """A new customer's invitation holds an address and a company before any tenant exists."""
    key = market.key()
    customer = {"email": ADA, "company": NAME}
    sent = market.invite(key, tenant=DOMAIN, customer=customer)
    assert sent.status_code == 201, sent.get_json()
    assert ADA in stored_text(market)
    removed = cli(market, "tenants", "remove", DOMAIN, "--yes")
    assert removed.exit_code == 0, removed.output
    assert [value for value in PERSONAL if value in stored_text(market)] == []
    assert market.api(key, "GET", f"/invitations/{sent.get_json()['id']}").status_code == 404
    assert problems(market) == []


def test_every_tenants_events_are_checked_against_its_own_chain(market: Marketplace) -> None:
    """With several tenants, each invitation's events are looked for in its own tenant's
    chain (and a missing one is found)."""
    key = market.key()
    for number in range(3):
        market.add_tenant(f"t{number}.onmicrosoft.com", f"T{number}", (f"a@t{number}.example",))
        assert market.invite(key, tenant=f"t{number}.onmicrosoft.com").status_code == 201
    assert problems(market) == []
    with market.backend.write() as session:
        session.execute(
            delete(AuditEvent).where(
                AuditEvent.chain == tenant_chain(session, "t1.onmicrosoft.com"),
                AuditEvent.action == "invitation.created",
            )
        )
    found = problems(market)
    assert any("tenant t1.onmicrosoft.com: invitation" in problem for problem in found), found


# --- logs written before personal data was kept apart -------------------------------------------


def legacy_log(database: Database, key: bytes) -> None:
    """What a 0005 database holds: a tenant chain named by its domain, whose events name the
    admin's address, the tenant's name and an IP address in the hashed content."""
    now = utcnow()
    events = [
        ("operator:root (cli)", "tenant.created", {"name": NAME, "admins": [ADA]}, "cli"),
        ("customer:" + ADA, "customer.signed_in", {}, "198.51.100.7"),
        ("operator:root (cli)", "tenant.admin_added", {"email": BOB}, "cli"),
    ]
    previous = GENESIS
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tenants (domain, name, cloud, created_at) "
                "VALUES (:d, :n, 'global', :now)"
            ),
            {"d": DOMAIN, "n": NAME, "now": now},
        )
        for email in (ADA, BOB):
            connection.execute(
                text(
                    "INSERT INTO tenant_admins (tenant_id, email, verified_at) "
                    "SELECT id, :e, :now FROM tenants"
                ),
                {"e": email, "now": now},
            )
        for seq, (actor, action, details, address) in enumerate(events, start=1):
            content = {
                "chain": f"tenant:{DOMAIN}",
                "seq": seq,
                "occurred_at": now.isoformat(),
                "actor": actor,
                "action": action,
                "tenant": DOMAIN,
                "partner": None,
                "invitation": None,
                "details": details,
                "remote_addr": address,
                "prev_hash": previous,
            }
            previous, prev_hash = content_hash(key, content), previous
            connection.execute(
                AuditEvent.__table__.insert().values(
                    chain=content["chain"],
                    seq=seq,
                    occurred_at=now,
                    actor=actor,
                    action=action,
                    tenant_domain=DOMAIN,
                    details=details,
                    remote_addr=address,
                    prev_hash=prev_hash,
                    hash=previous,
                )
            )
        connection.execute(
            text("INSERT INTO audit_chain_heads (chain, seq, hash) VALUES (:c, 3, :h)"),
            {"c": f"tenant:{DOMAIN}", "h": previous},
        )


def test_the_upgrade_moves_personal_data_out_of_the_log(tmp_path: Path, database_url: str) -> None:
    from alembic import command

    key = audit_key(tmp_path)
    database = Database(database_url, audit_key=key)
    upgrade(database)
    command.downgrade(alembic_config(database), "0005")
    legacy_log(database, key)
    anchor_time = utcnow().isoformat()

    upgrade(database)

    with database.read() as session:
        assert verify(session).problems == []
        renamed = tenant_chain(session, DOMAIN)
        assert renamed is not None and DOMAIN not in renamed
        events = list(
            session.execute(
                select(AuditEvent).where(AuditEvent.chain == renamed).order_by(AuditEvent.seq)
            ).scalars()
        )
        assert [e.action for e in events] == [
            "tenant.created",
            "customer.signed_in",
            "tenant.admin_added",
        ]
        content = " ".join(f"{e.actor} {e.details} {e.remote_addr} {e.tenant_ref}" for e in events)
        assert [value for value in (*PERSONAL, "198.51.100.7") if value in content] == []
        assert "operator:root (cli)" in content  # an operator's "cli" is no one's address
        shown = resolve(session, references([events[0].details, events[1].actor]))
        assert set(shown.values()) == {NAME, ADA}
        stored = session.execute(select(PersonalDatum.value)).scalars().all()
        assert {NAME, ADA, BOB, "198.51.100.7"} <= set(stored)
        # An anchor taken before the upgrade names the old chain: counted, not a break.
        from consent_app.audit import Anchor

        old = Anchor(f"tenant:{DOMAIN}", 3, "0" * 64, anchor_time)
        report = verify(session, [old])
        assert report.problems == [] and report.superseded == 1
    database.dispose()


# --- what the review found ----------------------------------------------------------------------


def test_personal_data_changed_in_the_database_is_found(zebra: Marketplace) -> None:
    """Someone with write access points Bob's address (in the log's personal data and in the
    admins) at their own, to sign in as him and rewrite who consented: verify finds it."""
    eve = "eve@attacker.example"
    with zebra.backend.write() as session:
        session.execute(
            update(PersonalDatum).where(PersonalDatum.value == BOB).values(value=eve, admin=eve)
        )
        session.execute(update(TenantAdmin).where(TenantAdmin.email == BOB).values(email=eve))
    found = problems(zebra)
    assert any("was changed or erased in the database" in problem for problem in found), found


def test_personal_data_erased_without_the_key_is_found(zebra: Marketplace) -> None:
    with zebra.backend.write() as session:
        session.execute(update(PersonalDatum).where(PersonalDatum.value == NAME).values(value=None))
    assert any("not by `tenants remove`" in problem for problem in problems(zebra))


def test_a_domain_pointed_at_another_chain_is_found(zebra: Marketplace) -> None:
    zebra.add_tenant("other.onmicrosoft.com", "Other", ("it@other.example",))
    with zebra.backend.write() as session:
        mine = tenant_chain(session, DOMAIN)
        theirs = tenant_chain(session, "other.onmicrosoft.com")
        assert mine and theirs
        for ref, domain in ((mine, None), (theirs, DOMAIN), (mine, "other.onmicrosoft.com")):
            session.execute(
                update(AuditSubject)
                .where(AuditSubject.ref == ref.removeprefix("tenant:"))
                .values(domain=domain)
            )
    found = problems(zebra)
    assert sum("audit subject row was changed" in problem for problem in found) == 2, found


def test_removing_an_admin_blanks_mail_naming_them_and_keeps_other_tenants_mail(
    app_factory: Callable[..., Flask],
) -> None:
    """Ada's pending notice says the offer was accepted "by bob": its stored copy is blanked
    (and nothing of it is kept once delivered); Bob's mail about another tenant stays."""
    market = Marketplace(app_factory(MARKETPLACE_MAIL_DELIVERY="off"))
    market.add_tenant(DOMAIN, NAME, (ADA, BOB))
    market.add_tenant("other.onmicrosoft.com", "Other", (BOB,))
    key = market.key()
    assert market.invite(key, tenant=DOMAIN).status_code == 201
    market.backend.deliver_now()
    market.decide(market.link(BOB))  # accepted by Bob: notices to Ada and Bob wait
    assert market.invite(key, tenant="other.onmicrosoft.com").status_code == 201
    backend = market.backend
    with backend.read() as session:
        waiting = {
            row.recipient: row.id
            for row in session.execute(
                select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
            ).scalars()
        }
    assert ADA in waiting and BOB in waiting

    done = backend.run(lambda uow: remove_admin(uow, DOMAIN, BOB, OPERATOR))

    assert done.messages_blanked >= 1
    with backend.read() as session:
        rows = list(session.execute(select(OutboxMessage)).scalars())
    to_bob = [row for row in rows if row.recipient == BOB]
    assert len(to_bob) == 1 and "other.onmicrosoft.com" in to_bob[0].raw  # the other tenant's
    [to_ada] = [row for row in rows if row.recipient == ADA and row.sent_at is None]
    assert to_ada.subject == ERASED_SUBJECT
    backend.deliver_now()
    with backend.read() as session:
        delivered = session.get(OutboxMessage, to_ada.id)
        assert delivered is not None and delivered.raw == ERASED_MESSAGE
    assert BOB not in "".join(
        f"{row.subject} {row.raw}" for row in rows if row.recipient != BOB and row.id != to_ada.id
    )


@pytest.mark.parametrize("at_delivery", [False, True], ids=["composed", "payload"])
def test_a_removal_during_delivery_keeps_nothing_of_the_message(
    zebra: Marketplace, at_delivery: bool
) -> None:
    """The send is under way when the tenant is removed: delivery then must not write the
    message's headers (or, for one composed at delivery, its subject) back."""
    backend = zebra.backend
    with backend.database.write() as session:  # not Backend.write: that would deliver it now
        message = enqueue(
            session,
            backend.settings,
            "partners@contoso.example",
            "role_ended_partner",
            {
                "tenant": {"domain": DOMAIN, "name": NAME}
                if at_delivery
                else Tenant(domain=DOMAIN, name=NAME),
                "role": "delegated_admin",
                "reason": "revoked_by_customer",
                "partner_name": "Contoso",
            },
            tenant_ref=tenant_chain(session, DOMAIN).removeprefix("tenant:"),  # type: ignore[union-attr]
            at_delivery=at_delivery,
        )
        message_id = message.message_id

    class RemovingTransport:
        def send(self, message_id: str, recipient: str, raw: bytes) -> None:
            backend.run(lambda uow: remove_tenant(uow, DOMAIN, OPERATOR))

    report = deliver_pending(backend.database, RemovingTransport(), settings=backend.settings)
    assert report.sent == 1
    with backend.read() as session:
        stored = session.execute(
            select(OutboxMessage).where(OutboxMessage.message_id == message_id)
        ).scalar_one()
        assert stored.raw == ERASED_MESSAGE
        assert stored.subject == ERASED_SUBJECT and stored.payload is None
    assert [value for value in PERSONAL if value in stored_text(zebra)] == []


def test_a_broken_legacy_chain_goes_with_its_tenant(
    tmp_path: Path, database_url: str, app_factory: Callable[..., Flask]
) -> None:
    """A chain migration 0006 could not rewrite (broken already) still names the tenant's data
    in hashed content: removing the tenant deletes it, says so in its event, and the log then
    verifies; removing one admin alone is refused."""
    from alembic import command

    (tmp_path / "instance").mkdir(exist_ok=True)  # the database_url fixture may have made it
    key = audit_key(tmp_path / "instance")  # the app's, below
    database = Database(database_url, audit_key=key)
    upgrade(database)
    command.downgrade(alembic_config(database), "0005")
    legacy_log(database, key)
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE audit_events SET action = 'x' WHERE seq = 2"))
    upgrade(database)
    database.dispose()
    market = Marketplace(app_factory())
    assert any(f"tenant:{DOMAIN}" in problem for problem in problems(market))

    refused = cli(market, "tenants", "remove-admin", DOMAIN, BOB, "--yes")
    assert refused.exit_code == 1 and "remove the whole tenant" in refused.output
    removed = cli(market, "tenants", "remove", DOMAIN, "--yes")
    assert removed.exit_code == 0, removed.output
    assert [v for v in (*PERSONAL, "198.51.100.7") if v in stored_text(market)] == []
    assert problems(market) == []
    with market.backend.read() as session:
        [event] = session.execute(
            select(AuditEvent).where(AuditEvent.action == "tenant.removed")
        ).scalars()
    assert event.details["broken_legacy_events_deleted"] == 3


def test_invitations_racing_a_removal_leave_nothing_behind(zebra: Marketplace) -> None:
    """Partners keep inviting the tenant while it is removed: each invitation happens wholly
    before the removal (and is removed with it) or after (and is refused: no tenant)."""
    key = zebra.key("mercado-nube")
    stop = threading.Event()
    answers: list[int] = []

    def invite() -> None:
        client = zebra.app.test_client()
        while not stop.is_set():
            response = client.post(
                "/api/v1/invitations",
                json={"type": "trial", "tenant": DOMAIN, "offer_id": "negocio-trial"},
                headers={"Authorization": f"Bearer {key}"},
            )
            answers.append(response.status_code)

    threads = [threading.Thread(target=invite) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        while len(answers) < 3:
            time.sleep(0.01)
        zebra.backend.run(lambda uow: remove_tenant(uow, DOMAIN, OPERATOR))
        count = len(answers)
        while len(answers) < count + 3:
            time.sleep(0.01)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert 201 in answers and set(answers) <= {201, 404, 409, 422}, answers
    with zebra.backend.read() as session:
        left = session.execute(
            select(Invitation.id).where(Invitation.tenant_domain == DOMAIN)
        ).all()
    assert left == []
    assert [value for value in PERSONAL if value in stored_text(zebra)] == []
    assert problems(zebra) == []
