"""audit key: re-chain the audit log with HMAC-SHA256 under the installation's audit key

No schema change. Chains written before this revision are hashed with plain SHA-256, which
anyone who can change the database can recompute. Every chain that verifies intact under that
scheme gets keyed hashes; a chain already broken keeps its old ones, so `audit verify` goes on
reporting it. An `audit.rechained` event in the operators' chain records what was done.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 15:00:00
"""

from __future__ import annotations

from alembic import context, op

from consent_app.audit import rechain_unkeyed
from consent_app.db import AUDIT_KEY

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    rechain_unkeyed(op.get_bind(), context.config.attributes.get(AUDIT_KEY))


def downgrade() -> None:
    # Nothing to undo in the schema. The keyed hashes stay: code before this revision cannot
    # check them (its `audit verify` reports every keyed event as changed).
    pass
