"""Alembic environment: migrations run on the engine `consent_app.db.upgrade` hands over."""

from __future__ import annotations

from alembic import context

from consent_app.models import Base

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things in place: copy-and-move the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
