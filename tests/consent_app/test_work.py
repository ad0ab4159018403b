"""The unit of work: one transaction with what the rules need, and the one retry policy for a
transaction that lost a race (views never catch IntegrityError themselves)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from consent_app.models import OutboxMessage, Tenant
from consent_app.refusals import ConcurrentChange, TenantExists
from consent_app.tenants import NewTenant, add_tenant
from consent_app.work import ATTEMPTS, UnitOfWork
from tests.consent_app.conftest import OPERATOR, Marketplace


def tenants(market: Marketplace) -> int:
    with market.backend.read() as session:
        return session.execute(select(func.count(Tenant.id))).scalar_one()


def test_a_lost_race_is_retried_from_the_start(market: Marketplace) -> None:
    calls = []

    def work(uow: UnitOfWork) -> str:
        calls.append(uow.now())
        add_tenant(
            uow.session, NewTenant(f"t{len(calls)}.example", "T", ("a@t.example",)), OPERATOR
        )
        if len(calls) == 1:  # the first attempt loses a race after writing: rolled back
            raise IntegrityError(
                "INSERT …", {}, Exception("UNIQUE constraint failed: tenants.domain")
            )
        return "done"

    assert market.backend.run(work) == "done"
    assert len(calls) == 2
    assert tenants(market) == 1  # the first attempt's tenant was rolled back


def test_a_race_lost_every_time_is_a_refusal_and_changes_nothing(market: Marketplace) -> None:
    calls = []

    def work(uow: UnitOfWork) -> None:
        calls.append(1)
        add_tenant(uow.session, NewTenant("x.example", "X", ("a@x.example",)), OPERATOR)
        raise IntegrityError("INSERT …", {}, Exception("UNIQUE constraint failed: tenants.domain"))

    with pytest.raises(ConcurrentChange):
        market.backend.run(work)
    assert len(calls) == ATTEMPTS
    assert tenants(market) == 0


def test_a_refusal_is_not_retried(market: Marketplace) -> None:
    market.add_tenant("x.example")
    calls = []

    def work(uow: UnitOfWork) -> None:
        calls.append(1)
        add_tenant(uow.session, NewTenant("x.example", "X", ("a@x.example",)), OPERATOR)

    with pytest.raises(TenantExists):
        market.backend.run(work)
    assert len(calls) == 1


def test_the_clock_is_the_backends(market: Marketplace) -> None:
    from datetime import UTC, datetime

    moment = datetime(2030, 1, 1, tzinfo=UTC)
    market.backend.clock = lambda: moment
    assert market.backend.run(lambda uow: uow.now()) == moment


def test_a_broken_rule_is_a_bug_not_a_race(market: Marketplace) -> None:
    """A CHECK constraint failing is not retried nor dressed up as a conflict."""
    calls = []

    def work(uow: UnitOfWork) -> None:
        calls.append(1)
        uow.session.add(Tenant(domain="x.example", name="X", cloud="mars", created_at=uow.now()))
        uow.session.flush()

    with pytest.raises(IntegrityError):
        market.backend.run(work)
    assert len(calls) == 1


def test_a_file_database_keeps_a_connection_per_thread(tmp_path: Path) -> None:
    """SQLAlchemy's default pool keeps 5 connections: with more request threads it opened and
    closed SQLite connections request by request. In-memory databases and a caller's own pool
    are left as SQLAlchemy makes them."""
    from consent_app.db import POOL_SIZE, Database

    pooled = Database(f"sqlite:///{tmp_path / 'pooled.sqlite3'}")
    assert pooled.engine.pool.size() == POOL_SIZE  # type: ignore[attr-defined]
    pooled.dispose()
    for url, options in [
        ("sqlite://", {}),
        (f"sqlite:///{tmp_path / 'own.sqlite3'}", {"poolclass": NullPool}),
    ]:
        database = Database(url, **options)
        with database.write() as session:
            session.execute(text("SELECT 1"))
        database.dispose()


def test_a_row_inserted_at_once_gets_its_defaults_and_key(market: Marketplace) -> None:
    """`insert_row` writes an appended row with one INSERT, in the transaction: the object
    stays out of the session, with its column defaults and generated key filled in."""
    from sqlalchemy import inspect

    from consent_app.db import insert_row, utcnow

    with market.backend.write() as session:
        tenant = insert_row(
            session, Tenant(domain="rows.example", name="Rows", created_at=utcnow())
        )
        assert tenant.cloud == "global" and isinstance(tenant.id, int)
        assert inspect(tenant).transient  # nothing tracks it: no flush will write it again
        assert session.get(Tenant, tenant.id).domain == "rows.example"  # type: ignore[union-attr]
    # What the object leaves None is NULL (a JSON column given None would hold 'null').
    with market.backend.write() as session:
        now = utcnow()
        fields = {"recipient": "a@rows.example", "subject": "s", "raw": "r", "payload": None}
        message = OutboxMessage(
            message_id="<m@rows>", created_at=now, next_attempt_at=now, **fields
        )
        insert_row(session, message)
        unset = select(func.count()).where(OutboxMessage.payload.is_(None))
        assert message.attempts == 0 and session.execute(unset).scalar_one() == 1
    # A constraint speaks at once, inside the transaction, not at its commit.
    with pytest.raises(IntegrityError), market.backend.write() as session:
        insert_row(session, Tenant(domain="rows.example", name="Again", created_at=utcnow()))
        pytest.fail("the INSERT was not made at once")
    assert tenants(market) == 1


def test_a_statement_built_once_sees_what_the_session_holds_unwritten(market: Marketplace) -> None:
    """`run` writes what the session holds before its statement, as an ORM query would."""
    from sqlalchemy import bindparam

    from consent_app.db import run, utcnow

    named = select(func.count(Tenant.id)).where(Tenant.domain == bindparam("domain"))
    with market.backend.write() as session:
        session.add(Tenant(domain="pending.example", name="P", created_at=utcnow()))
        assert run(session, named, {"domain": "pending.example"}).scalar_one() == 1
