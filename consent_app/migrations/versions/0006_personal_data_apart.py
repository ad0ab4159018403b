"""personal data apart from the audit log: tenant chains named by opaque subjects, addresses
and names in `personal_data`, so that they can be erased and the log still verify

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 17:00:00

- `audit_subjects`: a tenant as the audit log knows it (an opaque reference naming its chain,
  and its domain until its data is removed).
- `personal_data`: each address, name or IP address an event names, by reference.
- `outbox.tenant_ref`: the subject of the tenant a message is about (what removal erases).
- Every tenant chain that verifies intact is renamed from `tenant:<domain>` to
  `tenant:<subject>`, its events name personal data by reference, and it is re-hashed under
  the audit key; a broken chain is left as it is (`audit verify` goes on reporting it). An
  `audit.pseudonymized` event in the operators' chain records the counts. Anchors taken
  before this revision name the old chains: `audit verify --anchors` counts them as
  superseded; take a new anchor after upgrading.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from consent_app.audit import pseudonymize_tenant_chains
from consent_app.db import AUDIT_KEY, UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_subjects",
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("erased_at", UtcDateTime(), nullable=True),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("ref", name=op.f("pk_audit_subjects")),
        sa.UniqueConstraint("domain", name=op.f("uq_audit_subjects_domain")),
    )
    op.create_table(
        "personal_data",
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("subject_ref", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("admin", sa.String(length=254), nullable=False),
        sa.Column("erased_at", UtcDateTime(), nullable=True),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_ref"],
            ["audit_subjects.ref"],
            name=op.f("fk_personal_data_subject_ref_audit_subjects"),
        ),
        sa.PrimaryKeyConstraint("ref", name=op.f("pk_personal_data")),
        sa.UniqueConstraint(
            "subject_ref",
            "kind",
            "admin",
            "value",
            name=op.f("uq_personal_data_subject_ref_kind_admin_value"),
        ),
    )
    op.create_index(
        op.f("ix_personal_data_subject_ref"), "personal_data", ["subject_ref"], unique=False
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tenant_ref", sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_tenant_ref"), ["tenant_ref"], unique=False)
    pseudonymize_tenant_chains(op.get_bind(), context.config.attributes.get(AUDIT_KEY))


def downgrade() -> None:
    connection = op.get_bind()
    if connection.execute(sa.text("SELECT 1 FROM personal_data LIMIT 1")).first() is not None:
        # Dropping the table would erase, for good, every address the audit log refers to.
        raise RuntimeError(
            "the audit log refers to personal data kept in personal_data: downgrading past "
            "0006 would lose it; restore a backup taken before the upgrade instead"
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_tenant_ref"))
        batch_op.drop_column("tenant_ref")
    op.drop_index(op.f("ix_personal_data_subject_ref"), table_name="personal_data")
    op.drop_table("personal_data")
    op.drop_table("audit_subjects")
