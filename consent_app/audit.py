"""The append-only audit log: every state change, who made it, when and from where.

Events are chained per subject: each tenant has its own chain (a partner's key events chain
under the partner), so changes for different tenants never wait for one another (one global
chain would make every write in the system queue behind one row lock). Each event's hash is
an HMAC-SHA256, under the installation's audit key, of its canonical JSON, which includes the
previous event's hash. The key lives outside the database (`consent_app.instance.audit_key`),
so whoever can change the database cannot write an event, or recompute a chain, that verifies.

A keyed chain still cannot show what was cut from its end (the head moved back with it) or a
whole chain deleted with its head. Two more checks can: the state of tenants, invitations,
roles and keys implies events that must be in their chains (`verify` looks for each), and
anchors (`anchor_line`: the chain heads, appended by the operator to a file kept elsewhere)
let `verify` find any chain rewound, rewritten or removed behind an anchored head.

`verify` reads rows as raw values, not through the ORM, so a malformed row (text that is not
JSON, JSON nested too deeply, a value of the wrong type) is reported by its id instead of
stopping the check; anchor files and receipts are read with the same care.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    bindparam,
    column,
    exists,
    func,
    literal,
    or_,
    select,
    table,
    text,
    true,
    update,
)
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy.orm import Session

from consent_app.addresses import ascii_domain
from consent_app.db import (
    AUDIT_KEY,
    UtcDateTime,
    append_row,
    per_dialect,
    run,
    session_now,
    utcnow,
)
from consent_app.models import (
    INVITATION_STATES,
    AuditChainHead,
    AuditEvent,
    AuditSubject,
    DelegatedAdminGrant,
    Invitation,
    PartnerKey,
    PartnerOfRecord,
    PersonalDatum,
    Tenant,
    TenantAdmin,
)
from consent_app.personal import (
    ADDRESS,
    EMAIL,
    NAME,
    Personal,
    datum_ref,
    live_subject,
    pseudonymized,
    references,
    resolve,
    subject_ref,
    tampered,
)

GENESIS = "0" * 64
"""The `prev_hash` of a chain's first event."""
HASH_ALGORITHM = "HMAC-SHA256"
TENANT_CHAIN = "tenant:"
PARTNER_CHAIN = "partner:"
OPERATOR_CHAIN = "operator"
DECIDED_STATES = tuple(state for state in INVITATION_STATES if state != "pending")
"""Invitation states that each have their own event, `invitation.<state>`."""
MAX_DEPTH = 32
"""How deeply the JSON of stored details, anchor lines and receipts may nest: far more than
any event needs, and far less than would exhaust Python's stack when hashed or compared."""
MAX_SEQ = 2**31 - 1
"""The largest event number the database can hold (a 32-bit integer column)."""


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


UPGRADE_ACTOR = Actor("system", "upgrade")


def chain_for(tenant_ref: str | None, partner_slug: str | None) -> str:
    """The chain an event belongs to: its tenant's (named by the tenant's audit subject, never
    its domain), else its partner's, else the operators'."""
    if tenant_ref:
        return f"{TENANT_CHAIN}{tenant_ref}"
    if partner_slug:
        return f"{PARTNER_CHAIN}{partner_slug}"
    return OPERATOR_CHAIN


# --- what is hashed -----------------------------------------------------------------------------

CONTENT_FIELDS = (
    "chain",
    "seq",
    "occurred_at",
    "actor",
    "action",
    "tenant",
    "partner",
    "invitation",
    "details",
    "remote_addr",
    "prev_hash",
)
"""The fields an event's hash covers, by the names receipts show."""


def _content(event: AuditEvent) -> dict[str, Any]:
    return {
        "chain": event.chain,
        "seq": event.seq,
        "occurred_at": event.occurred_at.isoformat(),
        "actor": event.actor,
        "action": event.action,
        "tenant": event.tenant_ref,
        "partner": event.partner_slug,
        "invitation": event.invitation_id,
        "details": event.details,
        "remote_addr": event.remote_addr,
        "prev_hash": event.prev_hash,
    }


def _canonical(content: Mapping[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def content_hash(key: bytes, content: Mapping[str, Any]) -> str:
    """HMAC-SHA256 under the audit key over an event's canonical JSON (sorted keys, no
    spaces), which includes the previous event's hash."""
    return hmac.new(key, _canonical(content), hashlib.sha256).hexdigest()


def event_hash(key: bytes, event: AuditEvent) -> str:
    """The hash an event must carry."""
    return content_hash(key, _content(event))


def unkeyed_hash(content: Mapping[str, Any]) -> str:
    """The hash of the log before it was keyed (plain SHA-256, which anyone can recompute):
    kept only to re-chain such logs once (migration 0004) and to name what `verify` finds."""
    return hashlib.sha256(_canonical(content)).hexdigest()


def _key(session: Session) -> bytes:
    key = session.info.get(AUDIT_KEY)
    if not isinstance(key, bytes) or not key:
        raise RuntimeError(
            "this database session has no audit key: open the database with "
            "Database(url, audit_key=consent_app.instance.audit_key(instance_dir))"
        )
    return key


def _nested_too_deeply(value: object) -> bool:
    """True when JSON-like `value` nests deeper than `MAX_DEPTH` (checked without recursion)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[object]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_json(text: str) -> Any:
    """JSON from stored or given text; `ValueError` (never `RecursionError`) when the text is
    not JSON or nests deeper than `MAX_DEPTH`."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if _nested_too_deeply(value):
        raise ValueError(f"JSON nested more than {MAX_DEPTH} levels deep")
    return value


def _same_hash(expected: str, given: str) -> bool:
    """Constant-time comparison of two hashes, whatever characters the given one holds."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


# --- writing ------------------------------------------------------------------------------------

_HEADS = "audit_heads"
"""`Session.info` key: the chain heads this transaction has locked, and where it moved them."""


@dataclass
class _HeldHead:
    """A chain head this transaction holds: its number and hash as this transaction moved
    them (`moved`: written back before the transaction commits, `write_heads`)."""

    seq: int
    hash: str
    moved: bool = False


def _locking_upsert(insert: Any) -> Any:
    upsert = insert(AuditChainHead).values(chain=bindparam("chain"), seq=0, hash=GENESIS)
    return upsert.on_conflict_do_update(
        index_elements=["chain"], set_={"chain": upsert.excluded.chain}
    ).returning(AuditChainHead.seq, AuditChainHead.hash)


_HEAD = per_dialect(_locking_upsert)
_MOVE_HEAD = (
    update(AuditChainHead)
    .where(AuditChainHead.chain == bindparam("head"))
    .values(seq=bindparam("seq"), hash=bindparam("hash"))
)


def _lock_head(session: Session, chain: str) -> _HeldHead:
    """The chain's head, created if new and locked until the transaction ends, in one
    statement: an upsert that touches the row (the row lock PostgreSQL's ON CONFLICT DO UPDATE
    takes orders appends to one chain like FOR UPDATE did; SQLite's write transaction already
    holds the database) and returns its number and hash.

    A transaction appending several events to one chain locks its head once, and moves it
    in memory; `write_heads` stores where it ended, once per chain, before the commit.
    """
    if session.in_nested_transaction():
        # A savepoint rolled back would leave the head moved in memory past events that no
        # longer exist; record outside savepoints (tenants.add_tenant records after its own).
        raise RuntimeError("audit events are not recorded inside a savepoint")
    held: dict[str, _HeldHead] = session.info.setdefault(_HEADS, {})
    if chain in held:
        return held[chain]
    stored = run(session, _HEAD(session), {"chain": chain}).one()
    held[chain] = _HeldHead(stored.seq, stored.hash)
    return held[chain]


def write_heads(session: Session) -> None:
    """Store where this transaction moved each chain head it holds: one UPDATE per chain,
    run before the commit (a session event) and before anything reads the heads."""
    held: dict[str, _HeldHead] = session.info.get(_HEADS, {})
    for chain, head in held.items():
        if head.moved:
            run(session, _MOVE_HEAD, {"head": chain, "seq": head.seq, "hash": head.hash})
            head.moved = False


def forget_head(session: Session, chain: str) -> None:
    """Drop what this transaction holds of a chain's head (its row is being deleted): an event
    appended to the chain afterwards locks, and creates, the head again."""
    session.info.get(_HEADS, {}).pop(chain, None)


@sqlalchemy_event.listens_for(Session, "before_commit")
def _heads_before_commit(session: Session) -> None:
    if not session.in_nested_transaction():  # a savepoint's release: moved outside it, kept
        write_heads(session)


@sqlalchemy_event.listens_for(Session, "after_transaction_end")
def _heads_released(session: Session, transaction: Any) -> None:
    # The lock ends with the transaction, and a rolled-back one moved its heads for events
    # that no longer exist: the session's next transaction must lock and read them again.
    if transaction.parent is None:
        session.info.pop(_HEADS, None)


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
    """Append one event to its chain, in the caller's transaction (held with its other
    appended rows until its next statement or commit, `append_row`: the event has no id).

    An event about a tenant goes to the chain of the tenant's audit subject, and the personal
    data it names (a customer's address and IP address, values marked `Personal` in
    `details`) is stored apart and replaced by references (`consent_app.personal`)."""
    key = _key(session)
    now = session_now(session)
    label, remote_addr = actor.label, actor.remote_addr
    subject = subject_ref(session, tenant_domain, now) if tenant_domain else None
    if subject is not None:
        label, remote_addr = _pseudonymized_actor(session, subject, actor)
        details = pseudonymized(session, subject, details or {})
    elif any(True for _ in _personal_values(details)):
        raise ValueError(f"{action}: personal data in an event that names no tenant")
    chain = chain_for(subject, partner_slug)
    head = _lock_head(session, chain)
    event = AuditEvent(
        chain=chain,
        seq=head.seq + 1,
        occurred_at=now,
        actor=label,
        action=action,
        tenant_ref=subject,
        partner_slug=partner_slug,
        invitation_id=invitation_id,
        details=details or {},
        remote_addr=remote_addr,
        prev_hash=head.hash,
    )
    event.hash = event_hash(key, event)
    head.seq, head.hash, head.moved = event.seq, event.hash, True
    return append_row(session, event)


def _pseudonymized_actor(session: Session, subject: str, actor: Actor) -> tuple[str, str | None]:
    """The actor's label and address as a tenant's event stores them: a customer by
    references to their address and the IP address they acted from, both the customer's
    personal data. A partner's or operator's address is theirs, not the tenant's: it stays
    (removing the tenant must not erase which address used a partner's key)."""
    if actor.kind != "customer":
        return actor.label, actor.remote_addr
    admin = actor.name
    name = datum_ref(session, subject, Personal.admin_address(admin))
    label = Actor(actor.kind, name, None, actor.detail).label
    remote_addr = actor.remote_addr
    if remote_addr:
        remote_addr = datum_ref(session, subject, Personal(remote_addr, ADDRESS, admin))
    return label, remote_addr


def _personal_values(value: object) -> Iterator[Personal]:
    if isinstance(value, Personal):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _personal_values(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _personal_values(item)


def tenant_chain(session: Session, domain: str) -> str | None:
    """The audit chain of a tenant domain (None when the log never named it)."""
    subject = live_subject(session, domain)
    return chain_for(subject, None) if subject else None


# --- reading rows as they are -------------------------------------------------------------------


@dataclass(frozen=True)
class StoredEvent:
    """One audit row read back for checking: what its hash covers, and the hash it carries.

    `problem` is set (and `content` may be partial) when the row cannot be read as an event.
    """

    id: int
    chain: str
    seq: int | None
    content: dict[str, Any]
    hash: str
    problem: str | None = None

    @property
    def where(self) -> str:
        """How problems name the row: chain, number and id."""
        return f"{self.chain} event {'?' if self.seq is None else self.seq} (id {self.id})"


class _Malformed(ValueError):
    pass


def _time(value: object) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise _Malformed(f"occurred_at {value!r} is not a time") from None
    if not isinstance(value, datetime):
        raise _Malformed(f"occurred_at {value!r} is not a time")
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return moment.isoformat()


def _json(value: object) -> Any:
    if not isinstance(value, str):
        raise _Malformed("details are missing")
    if not _utf8(value):
        raise _Malformed("details are not UTF-8 text")
    try:
        return parse_json(value)
    except ValueError as error:
        raise _Malformed(f"details are not valid JSON ({error})") from None


_TEXT_FIELDS = ("chain", "actor", "action", "tenant", "partner", "invitation", "remote_addr")
_REQUIRED_TEXT = ("chain", "actor", "action", "prev_hash")


def _utf8(value: str) -> bool:
    """False for text that was not valid UTF-8 in the database (see `_lenient_text`)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _stored(row: Sequence[Any]) -> StoredEvent:
    row_id, chain, seq, occurred_at, actor, action, tenant, partner, invitation = row[:9]
    details, remote_addr, prev_hash, stored_hash = row[9:]
    valid_seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else None
    content = {
        "chain": chain,
        "seq": valid_seq,
        "actor": actor,
        "action": action,
        "tenant": tenant,
        "partner": partner,
        "invitation": invitation,
        "remote_addr": remote_addr,
        "prev_hash": prev_hash,
    }
    problems = []
    if valid_seq is None:
        problems.append(f"its number {seq!r} is not a number")
    for name in (*_TEXT_FIELDS, "prev_hash"):
        value = content[name]
        if value is None and name in _REQUIRED_TEXT:
            problems.append(f"{name} is missing")
        elif value is not None and not (isinstance(value, str) and _utf8(value)):
            problems.append(f"{name} is not text")
    for name, convert, raw in (("occurred_at", _time, occurred_at), ("details", _json, details)):
        try:
            content[name] = convert(raw)
        except _Malformed as malformed:
            problems.append(str(malformed))
    return StoredEvent(
        id=row_id,
        chain=str(chain),
        seq=valid_seq,
        content=content,
        hash=stored_hash if isinstance(stored_hash, str) else "",
        problem="; ".join(problems) or None,
    )


# `details` as text on every database (PostgreSQL keeps a json value's text as it was given),
# so malformed JSON is found here rather than raised by a driver.
_EVENT_ROWS = """
SELECT id, chain, seq, occurred_at, actor, action, tenant_domain, partner_slug, invitation_id,
       CAST(details AS TEXT), remote_addr, prev_hash, hash
FROM audit_events
"""


def _decode_leniently(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


@contextlib.contextmanager
def _lenient_text(bind: Session | Connection) -> Iterator[None]:
    """While checking, text that is not valid UTF-8 reads as text with lone surrogates (which
    `_stored` reports) instead of failing the whole query: only SQLite stores such text."""
    connection = bind.connection() if isinstance(bind, Session) else bind
    if connection.dialect.name != "sqlite":
        yield
        return
    raw: Any = connection.connection.dbapi_connection
    previous = raw.text_factory
    raw.text_factory = _decode_leniently
    try:
        yield
    finally:
        raw.text_factory = previous


def _printable(message: str) -> str:
    """A problem as one printable line: stored text cannot end the line, move the cursor or
    carry text that cannot be encoded."""
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in message)


def _stored_events(
    session: Session | Connection, where: str = "", **parameters: Any
) -> Iterator[StoredEvent]:
    query = text(f"{_EVENT_ROWS} {where} ORDER BY chain, seq, id")
    rows = session.execute(query.execution_options(yield_per=1000), parameters)
    try:
        for row in rows:
            yield _stored(row)
    finally:
        rows.close()  # a server-side cursor on PostgreSQL, even when not read to the end


@dataclass(frozen=True)
class Head:
    """A chain's head row, as stored (`seq` None when malformed)."""

    chain: str
    seq: int | None
    hash: str


def _stored_heads(session: Session | Connection) -> dict[str, Head]:
    if isinstance(session, Session):
        write_heads(session)  # heads this transaction moved, as they are now
    rows = session.execute(text("SELECT chain, seq, hash FROM audit_chain_heads"))
    return {
        str(chain): Head(
            str(chain),
            seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
            stored_hash if isinstance(stored_hash, str) else "",
        )
        for chain, seq, stored_hash in rows
    }


# --- anchors ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """A chain head as an anchor recorded it, outside the database."""

    chain: str
    seq: int
    hash: str
    anchored_at: str


def anchor_line(session: Session) -> tuple[str, int]:
    """One anchor: the current heads of every chain as a line of JSON, and how many."""
    heads = [
        {"chain": head.chain, "seq": head.seq, "hash": head.hash}
        for head in sorted(_stored_heads(session).values(), key=lambda head: head.chain)
        if head.seq
    ]
    line = {"anchored_at": utcnow().isoformat(), "algorithm": HASH_ALGORITHM, "heads": heads}
    return json.dumps(line, separators=(",", ":"), ensure_ascii=False), len(heads)


def read_anchors(lines: Iterable[str], source: str) -> tuple[list[Anchor], list[str]]:
    """The anchors in an anchor file's lines, and a problem for each line that is not one."""
    anchors: list[Anchor] = []
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            anchors.extend(_anchors_of(parse_json(line)))
        except (ValueError, KeyError, TypeError):
            problems.append(f"{source} line {number}: not an anchor written by `audit anchor`")
    return anchors, problems


def _anchors_of(line: Any) -> list[Anchor]:
    anchored_at, heads = line["anchored_at"], line["heads"]
    if not isinstance(anchored_at, str) or not isinstance(heads, list):
        raise TypeError
    found = []
    for head in heads:
        chain, seq, head_hash = head["chain"], head["seq"], head["hash"]
        if not (isinstance(chain, str) and type(seq) is int and isinstance(head_hash, str)):
            raise TypeError
        found.append(Anchor(chain, seq, head_hash, anchored_at))
    return found


# --- verifying ----------------------------------------------------------------------------------


@dataclass
class VerifyReport:
    """What `verify` found: events and chains checked, and every break."""

    events: int = 0
    chains: int = 0
    anchors: int = 0
    # Anchored heads of chains that migration 0006 renamed (anchored before it ran): they
    # cannot be checked, and are counted instead.
    superseded: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every chain is intact."""
        return not self.problems


def verify(session: Session, anchors: Sequence[Anchor] = ()) -> VerifyReport:
    """Check every chain (numbers, links, keyed hashes, heads), the events the state implies,
    and `anchors`; every problem is reported, naming the row's id where there is one."""
    with _lenient_text(session):
        report = _verify(session, anchors)
    live = select(AuditSubject.ref, AuditSubject.domain).where(AuditSubject.domain.is_not(None))
    domains = {ref: str(domain) for ref, domain in session.execute(live)}
    report.problems = [_printable(_with_domains(problem, domains)) for problem in report.problems]
    return report


_SUBJECT_CHAIN = re.compile(rf"{TENANT_CHAIN}([0-9a-f]{{24}})")


def _with_domains(problem: str, domains: Mapping[str, str]) -> str:
    """A problem with each tenant chain followed by the domain it stands for now, so that an
    operator knows which tenant it is about (the chain's name is an opaque reference)."""

    def named(match: re.Match[str]) -> str:
        domain = domains.get(match.group(1))
        return f"{match.group()} ({domain})" if domain else match.group()

    return _SUBJECT_CHAIN.sub(named, problem)


PSEUDONYMIZED = "audit.pseudonymized"
"""The operators' event of migration 0006, which renamed tenant chains."""


def _superseded(
    session: Session,
    anchored: Mapping[tuple[str, int], list[Anchor]],
    newest: Mapping[str, tuple[int, str]],
) -> Iterator[tuple[str, int]]:
    """Anchored heads of chains named by a domain (as before migration 0006), anchored before
    that migration renamed them, and gone since: nothing to compare them with any more. A
    chain it left under its old name (broken already) is still there, and checked as usual;
    a rewind before the upgrade is found only by `verify --anchors` run before upgrading
    (OPERATIONS.md, Upgrading)."""
    query = select(func.min(AuditEvent.occurred_at)).where(
        AuditEvent.chain == OPERATOR_CHAIN, AuditEvent.action == PSEUDONYMIZED
    )
    renamed_at = session.execute(query).scalar_one_or_none()
    if renamed_at is None:
        return
    for (chain, seq), anchors in anchored.items():
        old_name = chain.startswith(TENANT_CHAIN) and not _SUBJECT_CHAIN.fullmatch(chain)
        if (
            old_name
            and chain not in newest
            and all(_before(anchor.anchored_at, renamed_at) for anchor in anchors)
        ):
            yield chain, seq


def _before(anchored_at: str, moment: datetime) -> bool:
    try:
        when = datetime.fromisoformat(anchored_at)
    except ValueError:
        return False
    return (when if when.tzinfo else when.replace(tzinfo=UTC)) < moment


def _verify(session: Session, anchors: Sequence[Anchor]) -> VerifyReport:
    key = _key(session)
    report = VerifyReport(anchors=len(anchors))
    heads = _stored_heads(session)
    anchored: dict[tuple[str, int], list[Anchor]] = {}
    for anchor in anchors:
        anchored.setdefault((anchor.chain, anchor.seq), []).append(anchor)
    newest: dict[str, tuple[int, str]] = {}  # chain -> number and hash of its last row
    recorded = _Recorded()
    checked = keyed = 0
    for event in _stored_events(session):
        report.events += 1
        previous = newest.get(event.chain)
        expected_seq = previous[0] + 1 if previous else 1
        seq = event.seq if event.seq is not None else expected_seq
        if event.problem:
            report.problems.append(f"{event.where}: cannot be read: {event.problem}")
        if seq != expected_seq:
            report.problems.append(
                f"{event.where}: expected event {expected_seq}; rows are missing"
            )
        if event.content["prev_hash"] != (previous[1] if previous else GENESIS):
            report.problems.append(f"{event.where}: does not link to the event before it")
        if not event.problem:
            checked += 1
            found = _hash_problem(key, event)
            if found is None:
                keyed += 1
            else:
                report.problems.append(f"{event.where}: {found}")
        recorded.note(event, seq)
        for anchor in anchored.pop((event.chain, seq), []):
            if anchor.hash != event.hash:
                report.problems.append(
                    f"{event.where}: differs from the anchor of {anchor.anchored_at}; the chain "
                    "was rewritten after it was anchored"
                )
        newest[event.chain] = (seq, event.hash)
    report.problems.extend(_head_problems(heads, newest))
    for superseded in list(_superseded(session, anchored, newest)):
        report.superseded += len(anchored.pop(superseded))
    report.problems.extend(_anchor_problems(anchored, newest))
    report.problems.extend(_missing_events(session, recorded))
    report.problems.extend(tampered(session))
    if checked and not keyed:
        report.problems.append(
            "not one event carries a hash made with this audit key: unless the whole log was "
            "forged, this is not the installation's audit key (MARKETPLACE_AUDIT_KEY or "
            "<instance>/audit_key)"
        )
    report.chains = len(newest)
    return report


def _hash_problem(key: bytes, event: StoredEvent) -> str | None:
    """What is wrong with a readable event's hash, or None when the key made it."""
    try:
        if _same_hash(content_hash(key, event.content), event.hash):
            return None
        unkeyed = event.hash == unkeyed_hash(event.content)
    except (ValueError, TypeError, RecursionError) as error:  # e.g. a lone surrogate
        return f"cannot be read: its content cannot be hashed ({type(error).__name__})"
    if unkeyed:
        return (
            "has an unkeyed SHA-256 hash: it predates the audit key (its chain was already "
            "broken when the log was re-chained) or was forged"
        )
    return "its content was changed after it was written"


# Role events: for each role, the action that starts it and the actions that end it (a
# partner of record also ends when the customer names another: `partner_of_record.set` with
# the old one as `previous`).
DELEGATED_ADMIN = "delegated_admin"
PARTNER_OF_RECORD = "partner_of_record"
_ROLE_STARTS = {
    "delegated_admin.granted": DELEGATED_ADMIN,
    "partner_of_record.set": PARTNER_OF_RECORD,
}
_ROLE_ENDS = {
    "delegated_admin.ended": DELEGATED_ADMIN,
    "partner_of_record.ended": PARTNER_OF_RECORD,
    "partner_of_record.cleared": PARTNER_OF_RECORD,
}
_ROLE_END_EVENTS = {
    DELEGATED_ADMIN: "delegated_admin.ended",
    PARTNER_OF_RECORD: "partner_of_record.ended, .cleared or .set naming it as previous",
}


@dataclass
class _Recorded:
    """What the log says about keys, admins and roles, gathered while `verify` reads it, for
    the cross-check with the state."""

    keys: set[tuple[str, str, str]] = field(default_factory=set)  # (action, partner, key id)
    admins: set[tuple[str, str]] = field(default_factory=set)  # (chain, address reference)
    # (chain, role, partner) -> (event number, True for a start / False for an end, action)
    roles: dict[tuple[str, str, str], list[tuple[int, bool, str]]] = field(default_factory=dict)

    def note(self, event: StoredEvent, seq: int) -> None:
        """Take what `event` says (a row that cannot be read is reported already; what can
        be read of it still counts, so one bad row is not reported again as missing)."""
        content = event.content
        action, partner, details = content["action"], content["partner"], content.get("details")
        if not isinstance(details, dict):
            details = {}
        self.keys.update(_key_event(event))
        if not event.chain.startswith(TENANT_CHAIN) or not isinstance(action, str):
            return
        if action == "tenant.created" and isinstance(details.get("admins"), list):
            for email in details["admins"]:
                if isinstance(email, str):
                    self.admins.add((event.chain, email))
        if action == "tenant.admin_added" and isinstance(details.get("email"), str):
            self.admins.add((event.chain, details["email"]))
        if action in _ROLE_ENDS and partner:
            self._add(event.chain, _ROLE_ENDS[action], str(partner), (seq, False, action))
        previous = details.get("previous")
        if action == "partner_of_record.set" and isinstance(previous, str) and previous:
            self._add(event.chain, PARTNER_OF_RECORD, previous, (seq, False, action))
        if action in _ROLE_STARTS and partner:
            self._add(event.chain, _ROLE_STARTS[action], str(partner), (seq, True, action))

    def _add(self, chain: str, role: str, partner: str, entry: tuple[int, bool, str]) -> None:
        self.roles.setdefault((chain, role, partner), []).append(entry)


def _key_event(event: StoredEvent) -> Iterator[tuple[str, str, str]]:
    """(action, partner, key id) of a key's issue or revocation event."""
    action, details = event.content["action"], event.content.get("details")
    if action in ("key.issued", "key.revoked") and isinstance(details, dict):
        yield action, str(event.content["partner"]), str(details.get("key_id"))


def _head_problems(
    heads: Mapping[str, Head], newest: Mapping[str, tuple[int, str]]
) -> Iterator[str]:
    for chain, head in sorted(heads.items()):
        if head.seq is None:
            yield f"{chain}: its head row cannot be read (its number is not a number)"
            continue
        if head.seq == 0:
            continue
        last = newest.get(chain)
        if last is None or last != (head.seq, head.hash):
            seen = last[0] if last else 0
            yield (
                f"{chain}: the chain should end at event {head.seq} but ends at {seen}; "
                "rows were deleted or changed"
            )
    for chain in sorted(newest.keys() - heads.keys()):
        yield f"{chain}: has events but no head; the head row was deleted"


def _anchor_problems(
    unseen: Mapping[tuple[str, int], list[Anchor]], newest: Mapping[str, tuple[int, str]]
) -> Iterator[str]:
    """Anchored events no longer in their chains: one line per chain, for its latest anchor."""
    latest: dict[str, Anchor] = {}
    for (chain, seq), anchors in unseen.items():
        if chain not in latest or seq > latest[chain].seq:
            latest[chain] = min(anchors, key=lambda anchor: anchor.anchored_at)
    for chain, anchor in sorted(latest.items()):
        said = f"{chain}: anchored at event {anchor.seq} on {anchor.anchored_at}"
        last = newest.get(chain)
        if last is None:
            yield f"{said}, but the chain is gone"
        elif last[0] < anchor.seq:
            yield f"{said}, but now ends at event {last[0]}; it was rewound"
        else:
            yield f"{said}, but that event is missing"


def _has_event(chain: Any, action: Any, *conditions: Any) -> Any:
    return exists().where(AuditEvent.chain == chain, AuditEvent.action == action, *conditions)


def _missing_events(session: Session, recorded: _Recorded) -> Iterator[str]:
    """The events that the state of tenants, admins, invitations, roles and keys implies, and
    that are not there (what is left when a chain is deleted with its head, or cut short), and
    state the log says was undone (a role restored after its end, an admin nobody added)."""
    yield from _missing_tenant_events(session)
    yield from _unrecorded_admins(session, recorded)
    yield from _missing_invitation_events(session)
    yield from _missing_role_events(session)
    yield from _undone_role_ends(session, recorded)
    yield from _missing_key_events(session, recorded.keys)


def _subject_chain(domain: Any) -> Any:
    """The chain of the audit subject a domain has now (a subquery; NULL when it has none)."""
    # Correlated explicitly: nested in an EXISTS, SQLAlchemy would otherwise add the outer
    # table to the subquery's FROM and compare every domain with every subject.
    subject = (
        select(AuditSubject.ref)
        .where(AuditSubject.domain == domain)
        .correlate_except(AuditSubject)
        .scalar_subquery()
    )
    return literal(TENANT_CHAIN) + subject


def _named(domain: str) -> str:
    return f"tenant {domain}"


def _missing_tenant_events(session: Session) -> Iterator[str]:
    """Every tenant: `tenant.created`."""
    query = (
        select(Tenant.domain)
        .where(~_has_event(_subject_chain(Tenant.domain), "tenant.created"))
        .order_by(Tenant.domain)
    )
    for domain in session.execute(query).scalars():
        yield f"{_named(domain)}: the tenant exists but has no tenant.created event"


def _unrecorded_admins(session: Session, recorded: _Recorded) -> Iterator[str]:
    """Every tenant admin: named (by the reference to their address) by the tenant's
    `tenant.created` (details.admins) or a `tenant.admin_added` (details.email)."""
    query = (
        select(Tenant.domain, TenantAdmin.email, AuditSubject.ref, PersonalDatum.ref)
        .join(Tenant, Tenant.id == TenantAdmin.tenant_id)
        .outerjoin(AuditSubject, AuditSubject.domain == Tenant.domain)
        .outerjoin(
            PersonalDatum,
            (PersonalDatum.subject_ref == AuditSubject.ref)
            & (PersonalDatum.kind == EMAIL)
            & (PersonalDatum.admin == TenantAdmin.email)
            & (PersonalDatum.value == TenantAdmin.email),
        )
        .order_by(Tenant.domain, TenantAdmin.email)
    )
    for domain, email, subject, address in session.execute(query):
        if (chain_for(subject, None), address) not in recorded.admins:
            yield (
                f"{_named(domain)}: {email} is an admin of the tenant, but no "
                "tenant.created or tenant.admin_added event names it"
            )


def _missing_invitation_events(session: Session) -> Iterator[str]:
    """Every invitation: `invitation.created`; a decided one also `invitation.<state>`."""
    chain = _subject_chain(Invitation.tenant_domain)
    for implied, which in (
        (literal("invitation.created"), true()),
        (literal("invitation.") + Invitation.state, Invitation.state.in_(DECIDED_STATES)),
    ):
        query = (
            select(Invitation.id, Invitation.tenant_domain, Invitation.state, implied)
            .where(which, ~_has_event(chain, implied, AuditEvent.invitation_id == Invitation.id))
            .order_by(Invitation.id)
        )
        for invitation_id, domain, state, action in session.execute(query):
            yield (
                f"{_named(domain)}: invitation {invitation_id} is {state} but has no {action} event"
            )


def _missing_role_events(session: Session) -> Iterator[str]:
    """Every active DA grant and partner of record: the event that started it (from its
    invitation, when it came from one)."""
    for model, action in (
        (DelegatedAdminGrant, "delegated_admin.granted"),
        (PartnerOfRecord, "partner_of_record.set"),
    ):
        started = _has_event(
            _subject_chain(Tenant.domain),
            action,
            AuditEvent.partner_slug == model.partner_slug,
            or_(model.invitation_id.is_(None), AuditEvent.invitation_id == model.invitation_id),
        )
        query = (
            select(Tenant.domain, model.partner_slug, model.invitation_id)
            .join(Tenant, Tenant.id == model.tenant_id)
            .where(model.ended_at.is_(None), ~started)
            .order_by(Tenant.domain)
        )
        for domain, partner, from_invitation in session.execute(query):
            via = f" (invitation {from_invitation})" if from_invitation else ""
            yield f"{_named(domain)}: {partner} holds the role{via} but has no {action} event"


def _undone_role_ends(session: Session, recorded: _Recorded) -> Iterator[str]:
    """Every ended DA grant and partner of record: an event that ended it. Every active one:
    no end after the event that last started it (an end undone in the database)."""
    for model, role in (
        (DelegatedAdminGrant, DELEGATED_ADMIN),
        (PartnerOfRecord, PARTNER_OF_RECORD),
    ):
        query = (
            select(
                AuditSubject.ref,
                model.partner_slug,
                model.ended_at.is_(None),
                model.ended_by,
                model.end_reason,
            )
            .join(Tenant, Tenant.id == model.tenant_id)
            .outerjoin(AuditSubject, AuditSubject.domain == Tenant.domain)
            .order_by(Tenant.domain, model.partner_slug, model.id)
        )
        ended: dict[tuple[str, str], int] = {}
        for subject, partner, active, ended_by, end_reason in session.execute(query):
            chain, partner = chain_for(subject, None), str(partner)
            events = sorted(recorded.roles.get((chain, role, partner), []))
            if not active:
                ended[chain, partner] = ended.get((chain, partner), 0) + 1
                continue
            if ended_by is not None or end_reason is not None:
                yield (
                    f"{chain}: {partner} holds {role}, but its row says {ended_by} ended it "
                    f"({end_reason}); the end was undone in the database"
                )
            if events and not events[-1][1]:
                seq, _, action = events[-1]
                yield (
                    f"{chain}: {partner} holds {role}, but event {seq} ({action}) ended it and "
                    "no later event started it again; the end was undone in the database"
                )
        for (chain, partner), count in sorted(ended.items()):
            ends = sum(
                1 for _, start, _ in recorded.roles.get((chain, role, partner), []) if not start
            )
            if ends < count:
                yield (
                    f"{chain}: {partner}'s {role} ended {count} time(s), but the chain has "
                    f"{ends} event(s) that end it ({_ROLE_END_EVENTS[role]})"
                )


def _missing_key_events(session: Session, recorded: set[tuple[str, str, str]]) -> Iterator[str]:
    """Every API key: `key.issued`; a revoked one also `key.revoked` (the key id is in the
    event's details, which `verify` has read already)."""
    revoked = PartnerKey.revoked_at.is_not(None)  # as a flag: no time to parse
    query = select(PartnerKey.partner_slug, PartnerKey.key_id, revoked)
    for partner, key_id, is_revoked in session.execute(query.order_by(PartnerKey.key_id)):
        for action in ("key.issued", "key.revoked") if is_revoked else ("key.issued",):
            if (action, partner, key_id) not in recorded:
                yield f"{PARTNER_CHAIN}{partner}: key {key_id} exists but has no {action} event"


# --- receipts -----------------------------------------------------------------------------------

RECEIPT_VERSION = 2
HOW_TO_VERIFY = (
    "This receipt copies one event of the marketplace's audit log as it was recorded. `hash` "
    "is an HMAC-SHA256, under the operator's audit key, of the JSON of the fields chain, seq, "
    "occurred_at, actor, action, tenant, partner, invitation, details, remote_addr and "
    "prev_hash (sorted keys, no spaces); prev_hash is the hash of the event before it in the "
    "same chain. Personal data (addresses, names) is kept apart from the log, so that it can be "
    "erased on request: the event names each piece by a reference (pd:...), and personal_data "
    "shows what each stood for when the receipt was made; it is not covered by the hash. "
    "The key is kept outside the database and is never given out, so you cannot "
    "recompute the hash yourself, and nobody without the key can make a receipt whose hash "
    "checks. Keep this file: to have it checked, send it to the marketplace operator, who runs "
    "`marketplace audit check-receipt` on it; that tells whether the receipt was made by this "
    "marketplace and whether its audit log still holds the event exactly as shown here."
)


def receipt(session: Session, event: AuditEvent) -> dict[str, Any]:
    """A consent receipt: the event as recorded, with the hashes that tie it into its chain,
    and what the personal-data references in it stand for (not covered by the hash)."""
    content = _content(event)
    subject = session.get(AuditSubject, event.tenant_ref) if event.tenant_ref else None
    return {
        "receipt_version": RECEIPT_VERSION,
        "event_id": event.id,
        **content,
        "hash": event.hash,
        "hash_algorithm": HASH_ALGORITHM,
        # Not covered by the hash: what the references in the event stand for now.
        "tenant_domain": subject.domain if subject else None,
        "personal_data": resolve(session, references(content.values())),
        "how_to_verify": HOW_TO_VERIFY,
    }


@dataclass(frozen=True)
class ReceiptCheck:
    """What checking a receipt found: its problems (none when it holds) and, if it holds,
    what that proves."""

    problems: list[str]
    summary: str = ""


def check_receipt(session: Session, given: object) -> ReceiptCheck:
    """Whether a receipt was made by this installation and the log still holds its event
    exactly as the receipt shows it.

    The event is looked up by its chain and number, which the hash covers; the receipt's
    `event_id` is not covered, so it is never trusted.
    """
    found = _check_receipt(session, given)
    return ReceiptCheck([_printable(problem) for problem in found.problems], found.summary)


def _check_receipt(session: Session, given: object) -> ReceiptCheck:
    if not isinstance(given, dict) or not all(name in given for name in (*CONTENT_FIELDS, "hash")):
        return ReceiptCheck(["this is not a consent receipt (fields are missing)"])
    if _nested_too_deeply(given):
        return ReceiptCheck([f"this is not a consent receipt (nested more than {MAX_DEPTH} deep)"])
    content = {name: given[name] for name in CONTENT_FIELDS}
    claimed = given["hash"]
    # Version 1 receipts were made before the log was keyed: their plain SHA-256 proves only
    # that the file is consistent, and their prev_hash predates re-chaining.
    unkeyed = given.get("receipt_version") == 1
    if not isinstance(claimed, str):
        return ReceiptCheck(["the receipt has no hash"])
    try:
        genuine = (
            claimed == unkeyed_hash(content)
            if unkeyed
            else _same_hash(content_hash(_key(session), content), claimed)
        )
    except (ValueError, TypeError):  # text that cannot be encoded, e.g. a lone surrogate
        genuine = False
    if unkeyed and not genuine:
        return ReceiptCheck(["the receipt does not match its own hash: it was altered"])
    if not genuine:
        return ReceiptCheck(
            [
                "the receipt's hash was not made with this installation's audit key: the "
                "receipt was altered, or this marketplace did not issue it"
            ]
        )
    chain, seq = content["chain"], content["seq"]
    named = f"{chain} event {seq}" if isinstance(chain, str) else "the receipt's event"
    if not (
        isinstance(chain, str)
        and 0 < len(chain) <= 300
        and chain.isprintable()
        and type(seq) is int
        and 0 < seq <= MAX_SEQ
    ):
        return ReceiptCheck([f"{named[:400]} is not an event this audit log could hold"])
    with _lenient_text(session):
        query = "WHERE chain = :chain AND seq = :seq"
        found = list(_stored_events(session, query, chain=chain, seq=seq))
    stored = found[0] if found else None
    if stored is None:
        return ReceiptCheck([f"{named} is no longer in the audit log"])
    named = f"{named} (id {stored.id})"
    compared = [name for name in CONTENT_FIELDS if not (unkeyed and name == "prev_hash")]
    if (
        stored.problem
        or any(stored.content.get(name) != content[name] for name in compared)
        or (not unkeyed and stored.hash != claimed)
    ):
        return ReceiptCheck([f"the audit log no longer holds {named} as shown"])
    if unkeyed:
        return ReceiptCheck(
            [],
            f"Receipt for {named}: the audit log holds the event as shown. (The receipt "
            "predates the audit key, so its own hash proves nothing more.)",
        )
    return ReceiptCheck(
        [],
        f"Receipt for {named} is genuine: made with this installation's audit key, and the "
        "audit log still holds the event as shown.",
    )


# --- logs written before the key ----------------------------------------------------------------

_EVENTS = table(
    "audit_events",
    column("id"),
    column("chain"),
    column("seq"),
    column("occurred_at", UtcDateTime()),
    column("actor"),
    column("action"),
    column("tenant_domain"),
    column("partner_slug"),
    column("invitation_id"),
    column("details", JSON()),
    column("remote_addr"),
    column("prev_hash"),
    column("hash"),
)
_CHAIN_HEADS = table("audit_chain_heads", column("chain"), column("seq"), column("hash"))


def _intact_unkeyed(events: Sequence[StoredEvent], head: Head | None) -> bool:
    previous = GENESIS
    for number, event in enumerate(events, start=1):
        if event.problem or event.seq != number or event.content["prev_hash"] != previous:
            return False
        try:
            if event.hash != unkeyed_hash(event.content):
                return False
        except ValueError:  # details naming a lone surrogate: no UTF-8 to hash
            return False
        previous = event.hash
    return head is not None and head.seq == len(events) and head.hash == previous


def rechain_unkeyed(connection: Connection, key: bytes | None) -> None:
    """Migration 0004: give every chain written with plain SHA-256 keyed hashes, and record
    that it was done.

    Only chains that verify intact under the old scheme are re-chained; a chain already broken
    keeps its old hashes, so `verify` goes on reporting it (re-chaining it would launder the
    break). The event `audit.rechained` in the operators' chain lists both.
    """
    query = text("SELECT DISTINCT chain FROM audit_events")
    chains: list[str] = list(connection.execute(query).scalars())
    if not chains:
        return
    if not key:
        raise RuntimeError("re-chaining the audit log needs the audit key")
    with _lenient_text(connection):
        _rechain(connection, key, sorted(chains))


def _rechain(connection: Connection, key: bytes, chains: list[str]) -> None:
    heads = _stored_heads(connection)
    rechained: list[str] = []
    left: list[str] = []
    events = 0
    for chain in chains:
        rows = list(_stored_events(connection, "WHERE chain = :chain", chain=chain))
        if not _intact_unkeyed(rows, heads.get(chain)):
            left.append(chain)
            continue
        previous = GENESIS
        for row in rows:
            new = content_hash(key, {**row.content, "prev_hash": previous})
            connection.execute(
                text("UPDATE audit_events SET prev_hash = :prev, hash = :hash WHERE id = :id"),
                {"prev": previous, "hash": new, "id": row.id},
            )
            previous = new
        connection.execute(
            text("UPDATE audit_chain_heads SET hash = :hash WHERE chain = :chain"),
            {"hash": previous, "chain": chain},
        )
        rechained.append(chain)
        events += len(rows)
    details = {
        "algorithm": HASH_ALGORITHM,
        "chains_rechained": len(rechained),
        "events_rechained": events,
        "chains_left_unkeyed": left,
    }
    _append_raw(connection, key, UPGRADE_ACTOR, "audit.rechained", details)


def _append_raw(
    connection: Connection,
    key: bytes,
    actor: Actor,
    action: str,
    details: dict[str, Any],
    *,
    tenant_ref: str | None = None,
    partner_slug: str | None = None,
) -> None:
    """`record` for a migration: the same event and head, written without the ORM models
    (which describe the newest schema, not the one a migration runs on); in the operators'
    chain, or the chain of `tenant_ref` (whose personal data the caller keeps out)."""
    chain = chain_for(tenant_ref, None) if tenant_ref else OPERATOR_CHAIN
    head = _stored_heads(connection).get(chain)
    seq = head.seq + 1 if head and head.seq is not None else 1
    now = utcnow()
    content = {
        "chain": chain,
        "seq": seq,
        "occurred_at": now.isoformat(),
        "actor": actor.label,
        "action": action,
        "tenant": tenant_ref,
        "partner": partner_slug,
        "invitation": None,
        "details": details,
        "remote_addr": actor.remote_addr,
        "prev_hash": head.hash if head else GENESIS,
    }
    new = content_hash(key, content)
    connection.execute(
        _EVENTS.insert().values(
            chain=chain,
            seq=seq,
            occurred_at=now,
            actor=content["actor"],
            action=action,
            tenant_domain=tenant_ref,
            partner_slug=partner_slug,
            details=details,
            remote_addr=content["remote_addr"],
            prev_hash=content["prev_hash"],
            hash=new,
        )
    )
    if head is None:
        connection.execute(_CHAIN_HEADS.insert().values(chain=chain, seq=seq, hash=new))
    else:
        connection.execute(
            _CHAIN_HEADS.update().where(_CHAIN_HEADS.c.chain == chain).values(seq=seq, hash=new)
        )


# --- logs written before personal data was kept apart --------------------------------------------


def _intact_keyed(key: bytes, events: Sequence[StoredEvent], head: Head | None) -> bool:
    previous = GENESIS
    for number, event in enumerate(events, start=1):
        if event.problem or event.seq != number or event.content["prev_hash"] != previous:
            return False
        if _hash_problem(key, event) is not None:
            return False
        previous = event.hash
    return head is not None and head.seq == len(events) and head.hash == previous


def _one_form(email: str) -> str:
    """An address in the form tenant_admins keeps (lower case, IDNA ASCII domain): events
    written before migration 0005 may name it with a Unicode domain."""
    local, at, domain = email.strip().rpartition("@")
    return f"{local}{at}{ascii_domain(domain) if at else domain}".lower()


def _pseudonymized_content(
    session: Session, subject: str, content: Mapping[str, Any]
) -> dict[str, Any]:
    """A legacy event's content as `record` writes it now: the subject's chain, and
    references in place of the personal data it named."""
    kind, _, name = str(content["actor"]).partition(":")
    admin = _one_form(name) if kind == "customer" else ""
    actor = None
    if admin:
        actor = Actor(kind, datum_ref(session, subject, Personal.admin_address(admin)))
    remote_addr = content["remote_addr"]
    details = content["details"]
    if isinstance(details, dict):
        marked = dict(details)
        if content["action"] == "tenant.created":
            if isinstance(marked.get("name"), str):
                marked["name"] = Personal(marked["name"], NAME)
            if isinstance(marked.get("admins"), list):
                marked["admins"] = [
                    Personal.admin_address(_one_form(a)) if isinstance(a, str) else a
                    for a in marked["admins"]
                ]
        if content["action"] == "tenant.admin_added" and isinstance(marked.get("email"), str):
            marked["email"] = Personal.admin_address(_one_form(marked["email"]))
        details = pseudonymized(session, subject, marked)
    return {
        **content,
        "chain": chain_for(subject, None),
        "tenant": subject if content["tenant"] else None,
        "actor": actor.label if actor else content["actor"],
        "remote_addr": (
            datum_ref(session, subject, Personal(remote_addr, ADDRESS, admin))
            if admin and isinstance(remote_addr, str) and remote_addr
            else remote_addr
        ),
        "details": details,
    }


def pseudonymize_tenant_chains(connection: Connection, key: bytes | None) -> None:
    """Migration 0006: rename each tenant chain from its domain to an opaque subject, move the
    personal data its events name into `personal_data`, and re-hash it; record that it was done.

    As in migration 0004, only chains that verify intact are rewritten: a broken chain keeps
    its name and hashes, so `verify` goes on reporting it. The `audit.pseudonymized` event in
    the operators' chain counts both (it cannot name them: their names are domains).
    """
    query = text("SELECT DISTINCT chain FROM audit_events WHERE chain LIKE :tenants")
    chains: list[str] = sorted(connection.execute(query, {"tenants": f"{TENANT_CHAIN}%"}).scalars())
    if not chains:
        return
    if not key:
        raise RuntimeError("rewriting the audit log needs the audit key")
    session = Session(bind=connection)
    session.info[AUDIT_KEY] = key
    with _lenient_text(connection):
        heads = _stored_heads(connection)
        rewritten, left, events = 0, 0, 0
        now = utcnow()
        for chain in chains:
            rows = list(_stored_events(connection, "WHERE chain = :chain", chain=chain))
            if not _intact_keyed(key, rows, heads.get(chain)):
                left += 1
                continue
            subject = subject_ref(session, chain.removeprefix(TENANT_CHAIN), now)
            previous = GENESIS
            for row in rows:
                content = {
                    **_pseudonymized_content(session, subject, row.content),
                    "prev_hash": previous,
                }
                previous = content_hash(key, content)
                connection.execute(
                    _EVENTS.update()
                    .where(_EVENTS.c.id == row.id)
                    .values(
                        chain=content["chain"],
                        tenant_domain=content["tenant"],
                        actor=content["actor"],
                        remote_addr=content["remote_addr"],
                        details=content["details"],
                        prev_hash=content["prev_hash"],
                        hash=previous,
                    )
                )
            connection.execute(
                _CHAIN_HEADS.update()
                .where(_CHAIN_HEADS.c.chain == chain)
                .values(chain=chain_for(subject, None), hash=previous)
            )
            rewritten += 1
            events += len(rows)
    details = {"chains_rewritten": rewritten, "events_rewritten": events, "chains_left": left}
    _append_raw(connection, key, UPGRADE_ACTOR, PSEUDONYMIZED, details)
