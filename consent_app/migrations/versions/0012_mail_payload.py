"""outbox: messages composed at delivery from a stored payload

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-27 02:30:00

- `outbox.payload`: the template, languages and context (JSON) of a message that delivery
  composes (`consent_app.mail.payload_of`); None for a message composed when it was written,
  and once a message is delivered.

Messages already queued were composed when they were written (their `raw` holds the whole
message, `payload` stays None): delivery sends them as they are. Downgrading refuses while
messages stored as a payload wait (the older code would send their empty `raw`): deliver
them first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", sa.Text(), nullable=True))


def downgrade() -> None:
    outbox = sa.table(
        "outbox", sa.column("payload", sa.Text()), sa.column("sent_at"), sa.column("failed_at")
    )
    waiting = (
        op.get_bind()
        .execute(
            sa.select(sa.func.count())
            .select_from(outbox)
            .where(
                outbox.c.payload.is_not(None),
                outbox.c.sent_at.is_(None),
                outbox.c.failed_at.is_(None),
            )
        )
        .scalar_one()
    )
    if waiting:
        # Composing needs the installation's settings (its base URL, sender, support
        # contacts), which a migration does not have; delivering first loses nothing.
        raise RuntimeError(
            f"{waiting} messages wait in the outbox to be composed at delivery: send them "
            "first (`marketplace mail send`), then downgrade"
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("payload")
