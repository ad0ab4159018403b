"""Alembic environment: migrations run on the engine `consent_app.db.upgrade` hands over."""

from __future__ import annotations

from alembic import context

from consent_app.models import Base

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite cannot ALTER most things in place, so a batch migration copies the table and
        # drops the old one; with foreign keys enforced, dropping a table that other rows
        # refer to fails. They are off while migrating (the pragma is ignored inside a
        # transaction, so on the driver's connection before SQLAlchemy begins one), checked
        # afterwards, and on again.
        connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=sqlite,
    )
    with context.begin_transaction():
        context.run_migrations()
        if sqlite:
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration left rows whose references break: {broken[:5]}")
    connection.commit()
    if sqlite:
        connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")
