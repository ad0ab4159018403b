"""trust boundaries: tenants created by invitation, mail that failed for good, no secrets kept
in delivered mail

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import consent_app.db

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_REMOVED = "[The body of this message was removed after delivery.]\r\n"


def upgrade() -> None:
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by_invitation", sa.String(length=32), nullable=True))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failed_at", consent_app.db.UtcDateTime(timezone=True), nullable=True)
        )
    # Messages delivered by an earlier version still hold their secret links: keep their
    # headers (who, what, when) and drop the bodies, as delivery does from now on.
    outbox = sa.table("outbox", sa.column("id", sa.Integer), sa.column("raw", sa.Text))
    connection = op.get_bind()
    sent = connection.execute(sa.text("SELECT id, raw FROM outbox WHERE sent_at IS NOT NULL"))
    for message_id, raw in list(sent):
        headers = str(raw).split("\r\n\r\n", 1)[0]
        connection.execute(
            outbox.update()
            .where(outbox.c.id == message_id)
            .values(raw=f"{headers}\r\n\r\n{_REMOVED}")
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("failed_at")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("created_by_invitation")
