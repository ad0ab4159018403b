"""The append-only audit log: every state change, who made it, when and from where.

Events are hash-chained per subject: each tenant has its own chain (a partner's key events
chain under the partner), so `marketplace audit verify` finds an edited, inserted or deleted
row, while changes for different tenants never wait for one another (one global chain would
make every write in the system queue behind one row lock).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from consent_app.db import utcnow
from consent_app.models import AuditChainHead, AuditEvent

GENESIS = "0" * 64
"""The `prev_hash` of a chain's first event."""


@dataclass(frozen=True)
class Actor:
    """Who made a change, and from which address."""

    kind: str  # partner | customer | operator | system
    name: str  # partner slug, customer e-mail, operator's account, "expiry"
    remote_addr: str | None = None
    detail: str | None = None  # e.g. the API key id a partner used

    @property
    def label(self) -> str:
        """`kind:name`, as stored in the event."""
        suffix = f" ({self.detail})" if self.detail else ""
        return f"{self.kind}:{self.name}{suffix}"


def chain_for(tenant_domain: str | None, partner_slug: str | None) -> str:
    """The chain an event belongs to: its tenant's, else its partner's, else the operators'."""
    if tenant_domain:
        return f"tenant:{tenant_domain}"
    if partner_slug:
        return f"partner:{partner_slug}"
    return "operator"


def _content(event: AuditEvent) -> dict[str, Any]:
    return {
        "chain": event.chain,
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "tenant": event.tenant_domain,
        "partner": event.partner_slug,
        "invitation": event.invitation_id,
        "details": event.details,
        "remote_addr": event.remote_addr,
        "prev_hash": event.prev_hash,
    }


def event_hash(event: AuditEvent) -> str:
    """SHA-256 over the event's canonical JSON, which includes the previous event's hash."""
    canonical = json.dumps(
        _content(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_HEADS = "audit_heads"
"""`Session.info` key: the chain heads this transaction has locked already."""


def _lock_head(session: Session, chain: str) -> AuditChainHead:
    """The chain's head row, created if new and locked until the transaction ends.

    The lock orders appends to one chain (PostgreSQL: FOR UPDATE; SQLite: the transaction
    already holds the database's write lock). A transaction appending several events to one
    chain locks its head once.
    """
    held: dict[str, AuditChainHead] = session.info.setdefault(_HEADS, {})
    if chain in held:
        return held[chain]
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(AuditChainHead)
        .values(chain=chain, seq=0, hash=GENESIS)
        .on_conflict_do_nothing(index_elements=["chain"])
    )
    query = select(AuditChainHead).where(AuditChainHead.chain == chain).with_for_update()
    held[chain] = session.execute(query).scalar_one()
    return held[chain]


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    tenant_domain: str | None = None,
    partner_slug: str | None = None,
    invitation_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to its chain, in the caller's transaction."""
    chain = chain_for(tenant_domain, partner_slug)
    head = _lock_head(session, chain)
    event = AuditEvent(
        chain=chain,
        seq=head.seq + 1,
        occurred_at=utcnow(),
        actor=actor.label,
        action=action,
        tenant_domain=tenant_domain,
        partner_slug=partner_slug,
        invitation_id=invitation_id,
        details=details or {},
        remote_addr=actor.remote_addr,
        prev_hash=head.hash,
    )
    event.hash = event_hash(event)
    head.seq, head.hash = event.seq, event.hash
    session.add(event)
    return event


@dataclass
class VerifyReport:
    """What `verify` found: events and chains checked, and every break."""

    events: int = 0
    chains: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every chain is intact."""
        return not self.problems


def _events_by_chain(session: Session) -> Iterator[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.chain, AuditEvent.seq)
    yield from session.execute(query.execution_options(yield_per=1000)).scalars()


def verify(session: Session) -> VerifyReport:
    """Check every chain: consecutive numbers, each hash recomputed, links and heads."""
    report = VerifyReport()
    heads = {head.chain: head for head in session.execute(select(AuditChainHead)).scalars()}
    last: dict[str, AuditEvent] = {}
    for event in _events_by_chain(session):
        report.events += 1
        previous = last.get(event.chain)
        expected_seq = previous.seq + 1 if previous else 1
        expected_prev = previous.hash if previous else GENESIS
        where = f"{event.chain} event {event.seq} (id {event.id})"
        if event.seq != expected_seq:
            report.problems.append(f"{where}: expected event {expected_seq}; rows are missing")
        if event.prev_hash != expected_prev:
            report.problems.append(f"{where}: does not link to the event before it")
        if event_hash(event) != event.hash:
            report.problems.append(f"{where}: its content was changed after it was written")
        last[event.chain] = event
    for chain, head in heads.items():
        newest = last.get(chain)
        if head.seq == 0:
            continue
        if newest is None or newest.seq != head.seq or newest.hash != head.hash:
            seen = newest.seq if newest else 0
            report.problems.append(
                f"{chain}: the chain should end at event {head.seq} but ends at {seen}; "
                "rows were deleted or changed"
            )
    for chain in last.keys() - heads.keys():
        report.problems.append(f"{chain}: has events but no head; the head row was deleted")
    report.chains = len(last)
    return report


def receipt(event: AuditEvent) -> dict[str, Any]:
    """A consent receipt: the event as recorded, with the hashes that tie it into its chain."""
    return {
        "receipt_version": 1,
        "event_id": event.id,
        **_content(event),
        "hash": event.hash,
        "how_to_verify": "hash = SHA-256 of the JSON of every field above except event_id and "
        "receipt_version, with sorted keys and no spaces; prev_hash is the hash of the event "
        "before it in the same chain.",
    }
