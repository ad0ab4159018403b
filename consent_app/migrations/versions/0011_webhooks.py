"""partner webhooks: endpoints, events, deliveries

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 22:30:00

(Placeholder: the tables are added by the work in progress on issue 15.)
"""

from __future__ import annotations

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
