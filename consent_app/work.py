"""One unit of work: a transaction with everything the consent rules need (the session, the
settings, the partner directory, the clock and mail), and the one retry policy for a
transaction that lost a race.

Views and operator commands hand a function to `Backend.run`, which calls it with a fresh
`UnitOfWork` inside one transaction. When two requests change the same tenant at once, the
database's constraints and row locks make one of them fail (a unique index, a row that no
longer matches, SQLite's lock, PostgreSQL's serialisation failure); `run` rolls it back and
runs the whole function again, so the rules are applied to what is true now: the customer
then sees "another partner administers your tenant", not a crash. Views never catch
`IntegrityError` themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from consent_app.mail import CUSTOMER_LANGUAGES, enqueue
from consent_app.models import OutboxMessage
from consent_app.partners import PartnerDirectory
from consent_app.personal import subject_ref
from consent_app.settings import Settings

Clock = Callable[[], datetime]
"""Now, in UTC (tests inject one instead of sleeping)."""

ATTEMPTS = 3
"""How often a unit of work is tried before the caller is told to try again."""


class RoleChanged(Exception):
    """A role changed between reading and writing (an `UPDATE … WHERE ended_at IS NULL`
    matched nothing): a lost race, retried like any other."""


@dataclass(frozen=True)
class UnitOfWork:
    """What one transaction of the consent rules works with."""

    session: Session
    settings: Settings
    directory: PartnerDirectory
    clock: Clock

    def now(self) -> datetime:
        """The current time, from the unit's clock."""
        return self.clock()

    def mail(
        self,
        recipient: str,
        template: str,
        context: dict[str, Any],
        languages: tuple[str, ...] = CUSTOMER_LANGUAGES,
        *,
        about: str | None = None,
        at_delivery: bool = False,
    ) -> OutboxMessage:
        """Write a message to the outbox in this transaction (sent after the commit); `about`
        is the domain of the tenant it tells of, so that removing the tenant finds it. With
        `at_delivery` only its payload is stored, and delivery composes it
        (`consent_app.mail.enqueue`)."""
        tenant_ref = subject_ref(self.session, about, self.now()) if about else None
        return enqueue(
            self.session,
            self.settings,
            recipient,
            template,
            context,
            languages,
            tenant_ref,
            at_delivery=at_delivery,
        )


_SERIALIZATION_FAILURES = {"40001", "40P01"}  # PostgreSQL: serialization failure, deadlock
_UNIQUE_VIOLATION = "23505"  # PostgreSQL; SQLite says "UNIQUE constraint failed"


def lost_a_race(error: BaseException) -> bool:
    """True for the failures that mean "another transaction got there first": worth running
    the unit of work again from the start. Only a unique index (another request took the
    role, the domain, the token) counts: a CHECK, NOT NULL or foreign-key failure is a bug,
    raised as it is."""
    if isinstance(error, RoleChanged):
        return True
    if isinstance(error, IntegrityError):
        state = getattr(error.orig, "sqlstate", None)
        return state == _UNIQUE_VIOLATION or "UNIQUE constraint failed" in str(error.orig)
    if isinstance(error, OperationalError):
        state = getattr(error.orig, "sqlstate", None)
        return state in _SERIALIZATION_FAILURES or "database is locked" in str(error.orig)
    return False
