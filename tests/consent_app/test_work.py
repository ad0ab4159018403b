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


def outbox(market: Marketplace) -> list[str]:
    """The outbox's message ids, in the order their rows were written."""
    with market.backend.read() as session:
        return list(session.scalars(select(OutboxMessage.message_id).order_by(OutboxMessage.id)))


def held_message(number: int, **fields: object) -> OutboxMessage:
    from consent_app.db import utcnow

    now = utcnow()
    return OutboxMessage(
        message_id=f"<m{number}@rows>",
        created_at=now,
        next_attempt_at=now,
        recipient="a@rows.example",
        subject="s",
        raw="r",
        **fields,
    )


def test_an_appended_row_is_written_before_the_next_statement_or_at_the_commit(
    market: Marketplace,
) -> None:
    """`append_row` holds a row until the transaction's next statement (an ORM query, `run`)
    or its commit: every statement sees it. The object stays out of the session with its
    column defaults filled in; what it leaves None is NULL (not JSON 'null')."""
    from sqlalchemy import inspect

    from consent_app.db import append_row, run

    before = outbox(market)
    with market.backend.write() as session:
        message = append_row(session, held_message(1, payload=None))
        assert message.attempts == 0 and message.id is None
        assert inspect(message).transient  # nothing tracks it: no flush writes it again
        unset = select(func.count()).where(OutboxMessage.payload.is_(None))
        assert session.execute(unset).scalar_one() == 1  # an ORM query sees it
        append_row(session, held_message(2))
        assert run(session, select(func.count(OutboxMessage.id))).scalar_one() == len(before) + 2
        append_row(session, held_message(3))  # then the commit writes it
    assert outbox(market) == [*before, "<m1@rows>", "<m2@rows>", "<m3@rows>"]
    # Rolled back, what was held is gone: a later transaction on the session writes none of it.
    with pytest.raises(ZeroDivisionError), market.backend.write() as session:
        append_row(session, held_message(4))
        print(1 / 0)
    assert len(outbox(market)) == len(before) + 3


def test_appended_rows_go_in_with_one_insert_per_table_in_their_order(
    market: Marketplace,
) -> None:
    """A transaction's held rows are written table by table, each table's rows in the order
    they were appended, in one executemany (SQLite's; psycopg's pipelines an INSERT a row)."""
    from sqlalchemy import event

    from consent_app.db import append_row, utcnow

    engine = market.backend.database.engine
    inserts: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *rest: object) -> None:
        if statement.startswith("INSERT"):
            inserts.append(statement.split()[2])

    before = outbox(market)
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with market.backend.write() as session:
            append_row(session, held_message(1))
            append_row(session, held_message(2))
            append_row(session, Tenant(domain="rows.example", name="Rows", created_at=utcnow()))
            append_row(session, held_message(3))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert sorted(inserts) == ["outbox", "tenants"]
    assert outbox(market) == [*before, "<m1@rows>", "<m2@rows>", "<m3@rows>"]


def test_a_held_row_that_breaks_a_constraint_fails_its_transaction(market: Marketplace) -> None:
    """The constraint speaks when the row is written, inside the transaction (before its next
    statement): the whole transaction rolls back, as a lost race is."""
    from consent_app.db import append_row, utcnow

    with market.backend.write() as session:
        append_row(session, Tenant(domain="rows.example", name="Rows", created_at=utcnow()))
    with pytest.raises(IntegrityError), market.backend.write() as session:
        append_row(session, held_message(1))
        append_row(session, Tenant(domain="rows.example", name="Again", created_at=utcnow()))
        session.execute(text("SELECT 1"))
        pytest.fail("the held rows were not written before the statement")
    assert tenants(market) == 1 and "<m1@rows>" not in outbox(market)


def test_no_row_is_written_inside_a_savepoint(market: Marketplace) -> None:
    """A savepoint rolled back would take held rows written inside it along: appending inside
    one, or running a statement in one while rows are held, is refused loudly."""
    from consent_app.db import append_row, utcnow

    with (
        pytest.raises(RuntimeError, match="savepoint"),
        market.backend.write() as session,
        session.begin_nested(),
    ):
        append_row(session, held_message(1))
    with pytest.raises(RuntimeError, match="savepoint"), market.backend.write() as session:
        append_row(session, held_message(2))
        with session.begin_nested():
            session.execute(text("SELECT 1"))
    assert "<m1@rows>" not in outbox(market) and "<m2@rows>" not in outbox(market)
    # A savepoint that runs no statement of its own (add_tenant's flush) keeps them held: its
    # release writes nothing, the commit writes them.
    with market.backend.write() as session:
        append_row(session, held_message(3))
        with session.begin_nested():
            session.add(Tenant(domain="saved.example", name="S", created_at=utcnow()))
            session.flush()
    assert "<m3@rows>" in outbox(market) and tenants(market) == 1


def test_a_statement_built_once_sees_what_the_session_holds_unwritten(market: Marketplace) -> None:
    """`run` writes what the session holds before its statement, as an ORM query would."""
    from sqlalchemy import bindparam

    from consent_app.db import run, utcnow

    named = select(func.count(Tenant.id)).where(Tenant.domain == bindparam("domain"))
    with market.backend.write() as session:
        session.add(Tenant(domain="pending.example", name="P", created_at=utcnow()))
        assert run(session, named, {"domain": "pending.example"}).scalar_one() == 1
