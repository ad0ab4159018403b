"""The Alembic migrations build exactly the schema the models declare, on both databases,
and the database itself refuses a second active DA partner for a tenant."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from consent_app.db import Database, current_revision, head_revision, upgrade, utcnow
from consent_app.models import Base, DelegatedAdminGrant, PartnerOfRecord, Tenant


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
    with database.write() as session:
        tenant = Tenant(domain="x.example", name="X", cloud="global", created_at=now)
        session.add(tenant)
        session.flush()
        tenant_id = tenant.id
        session.add(model(tenant_id=tenant_id, partner_slug="a", started_at=now, started_by="t"))
    with pytest.raises(IntegrityError), database.write() as session:
        session.add(model(tenant_id=tenant_id, partner_slug="b", started_at=now, started_by="t"))
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
            )
        )
