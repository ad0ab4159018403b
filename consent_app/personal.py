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
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

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


def _insert(session: Session) -> Any:
    return postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def subject_ref(session: Session, domain: str, now: datetime) -> str:
    """The audit subject of a tenant domain, created on first use.

    Two transactions may create it at once: the unique domain makes one insert do nothing
    (PostgreSQL waits for the other to commit), and both read the same row."""
    found = session.execute(select(AuditSubject.ref).where(AuditSubject.domain == domain))
    ref = found.scalar_one_or_none()
    if ref is not None:
        return ref
    new = _insert(session)(AuditSubject).values(
        ref=secrets.token_hex(12), domain=domain, created_at=now
    )
    session.execute(new.on_conflict_do_nothing(index_elements=["domain"]))
    found = session.execute(select(AuditSubject.ref).where(AuditSubject.domain == domain))
    return found.scalar_one()


def live_subject(session: Session, domain: str) -> str | None:
    """The audit subject a tenant domain has now, if the log ever named it."""
    query = select(AuditSubject.ref).where(AuditSubject.domain == domain)
    return session.execute(query).scalar_one_or_none()


def datum_ref(session: Session, subject: str, datum: Personal) -> str:
    """The reference to one personal value of a subject, created on first use (the same value
    of one subject always has the same reference, so erasing it erases it everywhere)."""
    query = select(PersonalDatum.ref).where(
        PersonalDatum.subject_ref == subject,
        PersonalDatum.kind == datum.kind,
        PersonalDatum.admin == datum.admin,
        PersonalDatum.value == datum.value,
    )
    ref = session.execute(query).scalar_one_or_none()
    if ref is not None:
        return ref
    new = _insert(session)(PersonalDatum).values(
        ref=f"pd:{secrets.token_hex(12)}",
        subject_ref=subject,
        kind=datum.kind,
        value=datum.value,
        admin=datum.admin,
    )
    unique = ["subject_ref", "kind", "admin", "value"]
    session.execute(new.on_conflict_do_nothing(index_elements=unique))
    return session.execute(query).scalar_one()


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
    erased = session.execute(
        update(PersonalDatum)
        .where(PersonalDatum.subject_ref == subject, PersonalDatum.value.is_not(None))
        .values(value=None, admin="", erased_at=now)
    )
    session.execute(
        update(AuditSubject).where(AuditSubject.ref == subject).values(domain=None, erased_at=now)
    )
    return int(erased.rowcount)  # type: ignore[attr-defined]


def erase_admin(session: Session, subject: str, email: str, now: datetime) -> int:
    """Erase one admin's personal values (their address, the addresses they acted from)."""
    erased = session.execute(
        update(PersonalDatum)
        .where(
            PersonalDatum.subject_ref == subject,
            PersonalDatum.admin == email,
            PersonalDatum.value.is_not(None),
        )
        .values(value=None, admin="", erased_at=now)
    )
    return int(erased.rowcount)  # type: ignore[attr-defined]
