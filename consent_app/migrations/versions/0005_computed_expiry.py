"""expiry computed, not stored; invitations remember their API key; one form of e-mail
addresses

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 14:00:00

- An invitation's "expired" status is computed from `expires_at` (consent_app.rules.status);
  rows an earlier version marked `expired` go back to `pending` (the status reported is the
  same) and the state constraint no longer admits `expired`.
- `invitations.key_id`: the API key an invitation was sent with (revoking it ends them).
- `audit_events.invitation_id` and `invitations (state, expires_at)` are indexed (the expiry
  sweep and `audit verify` look events up by invitation).
- Addresses stored by earlier versions kept Unicode domains (`boss@bücher.example`); they are
  rewritten in the one form (`boss@xn--bcher-kva.example`), or sign-in would not find them.
"""

from __future__ import annotations

import idna
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_STATES = "state IN ('pending', 'accepted', 'declined', 'canceled')"
_OLD_STATES = "state IN ('pending', 'accepted', 'declined', 'canceled', 'expired')"
# (table, address column, unique per tenant: only tenant_admins)
_ADDRESSES = (
    ("tenant_admins", "email", ("tenant_id",)),
    ("invitations", "customer_email", None),
    ("invitation_links", "email", None),
    ("sign_in_tokens", "email", None),
    ("customer_sessions", "email", None),
)


def _one_form(address: str) -> str:
    local, _, domain = address.rpartition("@")
    try:
        domain = idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return address
    return f"{local}@{domain}".lower()


def upgrade() -> None:
    connection = op.get_bind()
    connection.execute(sa.text("UPDATE invitations SET state = 'pending' WHERE state = 'expired'"))
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=32), nullable=True))
        batch_op.drop_constraint(op.f("ck_invitations_state"), type_="check")
        batch_op.create_check_constraint("state", _STATES)
        batch_op.create_index("ix_invitations_state_expires", ["state", "expires_at"])
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_events_invitation_id"), ["invitation_id"], unique=False
        )
    for table, column, unique_with in _ADDRESSES:
        rows = connection.execute(
            sa.text(f"SELECT id, {column} FROM {table} WHERE {column} IS NOT NULL")  # noqa: S608
        ).all()
        for row_id, address in rows:
            rewritten = _one_form(str(address))
            if rewritten == address:
                continue
            if unique_with is not None:
                # The same admin stored twice (once per spelling): keep one row.
                clash = connection.execute(
                    sa.text(
                        "SELECT 1 FROM tenant_admins WHERE email = :address AND tenant_id = "
                        "(SELECT tenant_id FROM tenant_admins WHERE id = :id)"
                    ),
                    {"address": rewritten, "id": row_id},
                ).first()
                if clash is not None:
                    connection.execute(
                        sa.text("DELETE FROM tenant_admins WHERE id = :id"), {"id": row_id}
                    )
                    continue
            connection.execute(
                sa.text(f"UPDATE {table} SET {column} = :address WHERE id = :id"),  # noqa: S608
                {"address": rewritten, "id": row_id},
            )


def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_events_invitation_id"))
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_index("ix_invitations_state_expires")
        batch_op.drop_constraint(op.f("ck_invitations_state"), type_="check")
        batch_op.create_check_constraint("state", _OLD_STATES)
        batch_op.drop_column("key_id")
