"""priced purchase offers: an invitation may carry prices, a currency and a billing period

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 12:00:00

- `invitations`: `prices` (service -> price per license per month, a decimal string such as
  "12.50"), `currency` (ISO 4217), `billing` (`monthly` | `annual`). All three empty for an
  unpriced offer, which every invitation from before this revision is: nothing to fill in.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prices", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("currency", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("billing", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_column("billing")
        batch_op.drop_column("currency")
        batch_op.drop_column("prices")
