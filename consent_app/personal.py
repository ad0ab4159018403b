"""Personal data kept apart from the audit log, so that it can be erased on request while the
log stays verifiable.

The audit log is a keyed hash chain: changing one byte of an event breaks it. So events never
hold personal data. A tenant's chain is named by an opaque subject reference (`AuditSubject`),
not by its domain, and every address, name or IP address an event names is written as a
reference (`pd:` and 24 hex digits) to a row of `personal_data`. Erasing a tenant or one of its
admins empties those rows: the events, their hashes and the chain are untouched, and readers
show "[erased]" where the data was. References are random, not derived from the data, so an
erased value cannot be recovered by guessing and hashing.

`record` (consent_app.audit) does the substitution: callers pass the domain and mark personal
values in an event's details with `Personal`.

Being outside the chain, these rows are protected by a MAC of their own (HMAC under the audit
key): `audit verify` finds an address changed in the database (say, to take over a tenant's
sign-in and rewrite who consented), a domain pointed at another tenant's chain, or data
erased by anyone without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from consent_app.db import AUDIT_KEY, per_dialect, run
from consent_app.models import AuditSubject, PersonalDatum

REFERENCE = re.compile(r"pd:[0-9a-f]{24}")
"""How an event names a piece of personal data."""
ERASED = "[erased]"
"""What readers show for erased data."""

EMAIL = "email"
NAME = "name"
ADDRESS = "address"  # an IP address a change came from


@dataclass(frozen=True)
class Personal:
    """A personal value in an event's details: `record` stores a reference in its place."""

    value: str
    kind: str = EMAIL
    admin: str = ""  # the tenant admin it belongs to ("": the tenant's own)

    @classmethod
    def admin_address(cls, email: str) -> Personal:
        """An admin's e-mail address."""
        return cls(email, EMAIL, email)


def _key(session: Session) -> bytes:
    key = session.info.get(AUDIT_KEY)
    if not isinstance(key, bytes) or not key:
        raise RuntimeError("this database session has no audit key")
    return key


def _mac(key: bytes, *parts: str | None) -> str:
    text = "\x1f".join("\x00" if part is None else part for part in parts)
    return hmac.new(key, text.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def subject_mac(key: bytes, ref: str, domain: str | None) -> str:
    """The MAC an audit subject row must carry (domain None: erased)."""
    return _mac(key, "subject", ref, domain)


def datum_mac(key: bytes, ref: str, subject: str, kind: str, admin: str, value: str | None) -> str:
    """The MAC a personal-data row must carry (value None: erased, and admin "")."""
    return _mac(key, "datum", ref, subject, kind, admin, value)


_KNOWN_REFS = "personal_refs"
"""`Session.info` key: the subject and datum references this transaction has read or made
(a decision names its tenant's subject eight times, the deciding admin's address in every
event); erasing forgets them (`_forget_refs`)."""


def _known_refs(session: Session) -> dict[tuple[str, ...], str]:
    known: dict[tuple[str, ...], str] = session.info.setdefault(_KNOWN_REFS, {})
    return known


def _forget_refs(session: Session) -> None:
    session.info.pop(_KNOWN_REFS, None)


_SUBJECT = select(AuditSubject.ref).where(AuditSubject.domain == bindparam("domain"))
_SUBJECT_LOCKED = _SUBJECT.with_for_update()
_NEW_SUBJECT = per_dialect(
    lambda insert: insert(AuditSubject).on_conflict_do_nothing(index_elements=["domain"])
)


def subject_ref(session: Session, domain: str, now: datetime, *, lock: bool = False) -> str:
    """The audit subject of a tenant domain, created on first use; with `lock`, its row is
    held until the transaction ends (removal and new invitations to the domain take turns).
    Read once per transaction (without `lock`).

    Two transactions may create it at once: the unique domain makes one insert do nothing
    (PostgreSQL waits for the other to commit), and both read the same row."""
    known = _known_refs(session)
    if not lock and ("subject", domain) in known:
        return known["subject", domain]
    ref = live_subject(session, domain, lock=lock)
    if ref is None:
        made = secrets.token_hex(12)
        mac = subject_mac(_key(session), made, domain)
        new = {"ref": made, "domain": domain, "created_at": now, "mac": mac}
        run(session, _NEW_SUBJECT(session), new)
        query = _SUBJECT_LOCKED if lock else _SUBJECT
        ref = run(session, query, {"domain": domain}).scalar_one()
    known["subject", domain] = ref
    return ref


def live_subject(session: Session, domain: str, *, lock: bool = False) -> str | None:
    """The audit subject a tenant domain has now, if the log ever named it."""
    query = _SUBJECT_LOCKED if lock else _SUBJECT
    return run(session, query, {"domain": domain}).scalar_one_or_none()


_DATUM = select(PersonalDatum.ref).where(
    PersonalDatum.subject_ref == bindparam("subject_ref"),
    PersonalDatum.kind == bindparam("kind"),
    PersonalDatum.admin == bindparam("admin"),
    PersonalDatum.value == bindparam("value"),
)
# A conflict sets a column to itself, so the row comes back.
_NEW_DATUM = per_dialect(
    lambda insert: (
        insert(PersonalDatum)
        .on_conflict_do_update(
            index_elements=["subject_ref", "kind", "admin", "value"],
            set_={"kind": PersonalDatum.kind},
        )
        .returning(PersonalDatum.ref)
    )
)


def datum_ref(session: Session, subject: str, datum: Personal) -> str:
    """The reference to one personal value of a subject, created on first use (the same value
    of one subject always has the same reference, so erasing it erases it everywhere); read
    once per transaction."""
    known = _known_refs(session)
    key = ("datum", subject, datum.kind, datum.admin, datum.value)
    if key in known:
        return known[key]
    given = {"subject_ref": subject, "kind": datum.kind, "admin": datum.admin, "value": datum.value}
    # A known value is read, not upserted: an upsert would lock its row until the commit
    # (PostgreSQL), making transactions that name the same person wait for each other.
    found: str | None = run(session, _DATUM, given).scalar_one_or_none()
    if found is not None:
        known[key] = found
        return found
    # New: insert it, and a transaction inserting it at the same moment gets the stored
    # reference back.
    ref = f"pd:{secrets.token_hex(12)}"
    mac = datum_mac(_key(session), ref, subject, datum.kind, datum.admin, datum.value)
    known[key] = run(session, _NEW_DATUM(session), {**given, "ref": ref, "mac": mac}).scalar_one()
    return known[key]


def pseudonymized(session: Session, subject: str, value: Any) -> Any:
    """`value` (an event's details) with every `Personal` in it replaced by its reference."""
    if isinstance(value, Personal):
        return datum_ref(session, subject, value)
    if isinstance(value, Mapping):
        return {key: pseudonymized(session, subject, item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [pseudonymized(session, subject, item) for item in value]
    return value


def references(values: Iterable[object]) -> Iterator[str]:
    """Every reference in some values (texts, or JSON-like details)."""
    for value in values:
        if isinstance(value, str):
            yield from REFERENCE.findall(value)
        elif isinstance(value, Mapping):
            yield from references(value.values())
        elif isinstance(value, list):
            yield from references(value)


def resolve(session: Session, refs: Iterable[str]) -> dict[str, str]:
    """What each reference stands for now: its value, or `ERASED`."""
    wanted = sorted(set(refs))
    found: dict[str, str] = {}
    for start in range(0, len(wanted), 500):  # bounded IN lists
        query = select(PersonalDatum.ref, PersonalDatum.value).where(
            PersonalDatum.ref.in_(wanted[start : start + 500])
        )
        for ref, value in session.execute(query):
            found[ref] = value if value is not None else ERASED
    return {ref: found.get(ref, ERASED) for ref in wanted}


def shown(value: Any, resolved: Mapping[str, str]) -> Any:
    """`value` (a text, or JSON-like details) with references replaced by what they stand for."""
    if isinstance(value, str):
        return REFERENCE.sub(lambda match: resolved.get(match.group(), ERASED), value)
    if isinstance(value, Mapping):
        return {key: shown(item, resolved) for key, item in value.items()}
    if isinstance(value, list):
        return [shown(item, resolved) for item in value]
    return value


def erase_subject(session: Session, subject: str, now: datetime) -> int:
    """Erase every personal value of a subject and free its domain; how many were erased."""
    _forget_refs(session)
    erased = _erase(session, now, PersonalDatum.subject_ref == subject)
    session.execute(
        update(AuditSubject)
        .where(AuditSubject.ref == subject)
        .values(domain=None, erased_at=now, mac=subject_mac(_key(session), subject, None))
    )
    return erased


def erase_admin(session: Session, subject: str, email: str, now: datetime) -> int:
    """Erase one admin's personal values (their address, the addresses they acted from)."""
    return _erase(session, now, PersonalDatum.subject_ref == subject, PersonalDatum.admin == email)


def _erase(session: Session, now: datetime, *which: Any) -> int:
    _forget_refs(session)
    key = _key(session)
    rows = session.execute(
        select(PersonalDatum.ref, PersonalDatum.subject_ref, PersonalDatum.kind)
        .where(*which, PersonalDatum.value.is_not(None))
        .with_for_update()
    ).all()
    for ref, subject, kind in rows:
        session.execute(
            update(PersonalDatum)
            .where(PersonalDatum.ref == ref)
            .values(
                value=None,
                admin="",
                erased_at=now,
                mac=datum_mac(key, ref, subject, kind, "", None),
            )
        )
    return len(rows)


def tampered(session: Session) -> Iterator[str]:
    """Every subject or personal-data row whose MAC does not match its values: changed, or
    erased, by someone without the audit key."""
    key = _key(session)
    subjects = select(AuditSubject.ref, AuditSubject.domain, AuditSubject.mac)
    for ref, domain, mac in session.execute(subjects.order_by(AuditSubject.ref)):
        if not hmac.compare_digest(subject_mac(key, ref, domain), str(mac)):
            yield f"tenant:{ref}: its audit subject row was changed in the database"
    data = select(
        PersonalDatum.ref,
        PersonalDatum.subject_ref,
        PersonalDatum.kind,
        PersonalDatum.admin,
        PersonalDatum.value,
        PersonalDatum.mac,
    )
    for ref, subject, kind, admin, value, mac in session.execute(data.order_by(PersonalDatum.ref)):
        if not hmac.compare_digest(datum_mac(key, ref, subject, kind, admin, value), str(mac)):
            yield (
                f"tenant:{subject}: personal data {ref} ({kind}) was changed or erased in the "
                "database, not by `tenants remove`"
            )
