"""The Alembic migrations build exactly the schema the models declare, on both databases,
and the database itself refuses a second active DA partner for a tenant."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from consent_app.db import (
    Database,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
    utcnow,
)
from consent_app.models import Base, DelegatedAdminGrant, Invitation, PartnerOfRecord, Tenant
from consent_app.pricing import stored_terms


def database_at(database_url: str, revision: str) -> Database:
    """The database at an older revision (from wherever the fixture left it: to the newest
    first, then back), to put in the data an upgrade from there meets."""
    database = Database(database_url)
    upgrade(database)
    command.downgrade(alembic_config(database), revision)
    return database


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    upgrade(database)
    yield database
    database.dispose()


def test_migrations_match_the_models(database: Database) -> None:
    assert current_revision(database) == head_revision()
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


@pytest.mark.parametrize("model", [DelegatedAdminGrant, PartnerOfRecord])
def test_the_database_allows_one_active_role_per_tenant(database: Database, model: type) -> None:
    now = utcnow()
    grant = {"roles": ["user-admin"], "expires_at": now + timedelta(days=1)}
    extra = grant if model is DelegatedAdminGrant else {}
    with database.write() as session:
        tenant = Tenant(domain="x.example", name="X", cloud="global", created_at=now)
        session.add(tenant)
        session.flush()
        tenant_id = tenant.id
        session.add(
            model(tenant_id=tenant_id, partner_slug="a", started_at=now, started_by="t", **extra)
        )
    with pytest.raises(IntegrityError), database.write() as session:
        session.add(
            model(tenant_id=tenant_id, partner_slug="b", started_at=now, started_by="t", **extra)
        )
    # an ended role does not count
    with database.write() as session:
        session.add(
            model(
                tenant_id=tenant_id,
                partner_slug="c",
                started_at=now,
                started_by="t",
                ended_at=now,
                ended_by="t",
                end_reason="revoked_by_customer",
                **extra,
            )
        )


def test_upgrading_drops_the_bodies_of_delivered_mail(database_url: str) -> None:
    """0002 on a database with data: delivered messages lose their secret links, waiting
    ones keep them (they still have to be sent), tenants are operator-made."""
    database = database_at(database_url, "0001")
    now = utcnow()
    body = "Subject: x\r\n\r\nSign in: http://marketplace.test/signin/SECRET\r\n"
    with database.engine.begin() as connection:
        for message_id, sent in (("<sent@x>", now), ("<waiting@x>", None)):
            connection.execute(
                text(
                    "INSERT INTO outbox (message_id, recipient, subject, raw, created_at, "
                    "attempts, next_attempt_at, sent_at) VALUES (:id, 'a@b.example', 'x', :raw, "
                    ":now, 0, :now, :sent)"
                ),
                {"id": message_id, "raw": body, "now": now, "sent": sent},
            )
        connection.execute(
            text(
                "INSERT INTO tenants (domain, name, cloud, created_at) "
                "VALUES ('x.example', 'X', 'global', :now)"
            ),
            {"now": now},
        )
    upgrade(database)
    with database.engine.connect() as connection:
        raw = dict(connection.execute(text("SELECT message_id, raw FROM outbox")).all())
        created_by = connection.execute(
            text("SELECT created_by_invitation FROM tenants")
        ).scalar_one()
    database.dispose()
    assert "SECRET" not in raw["<sent@x>"] and raw["<sent@x>"].startswith("Subject: x\r\n")
    assert "SECRET" in raw["<waiting@x>"]
    assert created_by is None


def test_upgrading_computes_expiry_and_rewrites_addresses(database_url: str) -> None:
    """0005 on a database with data: stored "expired" invitations become pending again (the
    status is computed from expires_at), and admin addresses stored with Unicode domains take
    their one form, the same admin stored twice kept once."""
    from consent_app.invitations import status_of

    database = database_at(database_url, "0004")
    now = utcnow()
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tenants (id, domain, name, cloud, created_at) "
                "VALUES (1, 'x.onmicrosoft.com', 'X', 'global', :now)"
            ),
            {"now": now},
        )
        for email in ("boss@bücher.example", "boss@xn--bcher-kva.example", "ann@bücher.example"):
            connection.execute(
                text(
                    "INSERT INTO tenant_admins (tenant_id, email, verified_at) "
                    "VALUES (1, :email, :now)"
                ),
                {"email": email, "now": now},
            )
        connection.execute(
            text(
                "INSERT INTO invitations (id, partner_slug, kind, offer_id, services, "
                "delegated_admin_requested, tenant_domain, state, created_at, expires_at) "
                "VALUES ('inv_old', 'contoso-cloud', 'trial', 'trial-collab', '[]', false, "
                "'x.onmicrosoft.com', 'expired', :now, :now)"
            ),
            {"now": now},
        )
    upgrade(database)
    with database.engine.connect() as connection:
        admins = sorted(connection.execute(text("SELECT email FROM tenant_admins")).scalars())
    with database.read() as session:
        invitation = session.get(Invitation, "inv_old")
        assert invitation is not None
        assert invitation.state == "pending"
        assert status_of(invitation, utcnow()) == "expired"
    database.dispose()
    assert admins == ["ann@xn--bcher-kva.example", "boss@xn--bcher-kva.example"]


def test_upgrading_keeps_purchase_offers_unpriced(database_url: str) -> None:
    """0008 on a database with invitations: they become unpriced offers (no prices, currency
    or billing), decidable as before; priced ones can be stored after it, and it downgrades."""
    database = database_at(database_url, "0007")
    now = utcnow()
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO invitations (id, partner_slug, kind, services, licenses, "
                "delegated_admin_requested, tenant_domain, state, created_at, expires_at) "
                "VALUES ('inv_old', 'contoso-cloud', 'purchase', '[\"teams\"]', "
                "'{\"teams\": 40}', false, 'x.onmicrosoft.com', 'pending', :now, :later)"
            ),
            {"now": now, "later": now + timedelta(days=14)},
        )
    upgrade(database)
    assert current_revision(database) == head_revision()
    with database.write() as session:
        old = session.get(Invitation, "inv_old")
        assert old is not None and old.licenses == {"teams": 40}
        assert (old.prices, old.currency, old.billing) == (None, None, None)
        assert stored_terms(old.licenses, old.prices, old.currency, old.billing) is None
        session.add(
            Invitation(
                id="inv_priced",
                partner_slug="contoso-cloud",
                kind="purchase",
                services=["teams"],
                licenses={"teams": 3},
                prices={"teams": "1200"},
                currency="JPY",
                billing="annual",
                delegated_admin_requested=False,
                tenant_domain="x.onmicrosoft.com",
                state="pending",
                created_at=now,
                expires_at=now + timedelta(days=14),
            )
        )
    with database.read() as session:
        priced = session.get(Invitation, "inv_priced")
        assert priced is not None
        found = stored_terms(priced.licenses, priced.prices, priced.currency, priced.billing)
        assert found is not None and str(found.total_per_period) == "43200"
    command.downgrade(alembic_config(database), "0007")
    with database.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM invitations"))
        columns = list(rows.keys())
        assert "prices" not in columns and len(rows.all()) == 2
    database.dispose()


def test_mail_queued_before_0012_is_delivered_as_it_was_written(
    database_url: str, tmp_path: Path
) -> None:
    """0012 gives the outbox stored payloads; a message already waiting in the old form (its
    whole text in `raw`) keeps it, and delivery sends exactly that text."""
    from consent_app.outbox import MailFolder, deliver_pending

    database = database_at(database_url, "0011")
    now = utcnow()
    raw = "Subject: x\r\nMessage-ID: <old@x>\r\n\r\nSign in: http://marketplace.test/signin/S\r\n"
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO outbox (message_id, recipient, subject, raw, created_at, "
                "attempts, next_attempt_at) VALUES ('<old@x>', 'a@b.example', 'x', :raw, "
                ":now, 0, :now)"
            ),
            {"raw": raw, "now": now},
        )
    upgrade(database)
    folder = MailFolder(tmp_path / "mail")
    report = deliver_pending(database, folder)  # no settings needed: nothing to compose
    database.dispose()
    assert report.sent == 1
    assert folder.path_for("<old@x>").read_bytes() == raw.encode("utf-8")


def test_downgrading_0012_waits_for_mail_stored_as_payloads(database: Database) -> None:
    """Code before 0012 would send the empty `raw` of a message stored as a payload: the
    downgrade refuses while one waits, and goes through once it is delivered."""
    now = utcnow()
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO outbox (message_id, recipient, subject, raw, payload, created_at, "
                "attempts, next_attempt_at) VALUES ('<new@x>', 'a@b.example', '(x)', '', "
                "'{}', :now, 0, :now)"
            ),
            {"now": now},
        )
    with pytest.raises(RuntimeError, match="marketplace mail send"):
        command.downgrade(alembic_config(database), "0011")
    assert current_revision(database) == head_revision()
    with database.engine.begin() as connection:
        connection.execute(text("UPDATE outbox SET sent_at = :now, payload = NULL"), {"now": now})
    command.downgrade(alembic_config(database), "0011")
    assert current_revision(database) == "0011"
