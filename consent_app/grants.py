"""Delegated administration as least privilege: which admin roles a grant carries and until
when (README: Delegated administration).

Pure rules, no database: what a partner's request for delegated administration asks
(`grant_terms`), when a grant ends or is extended (`grant_end`, `extension`), and which
reminders are due (`reminder_due`). The catalog (kept by the marketplace owners) defines the
roles; an offer may name the roles it asks for; `global-admin` is everything, the original
full delegated administration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from consent_app.refusals import InvalidInput
from marketplace.catalog import FULL_ACCESS_ROLE, Catalog
from marketplace.model import Offer
from marketplace.suggest import did_you_mean

AUTO_EXTENSION = timedelta(days=180)
"""How far a grant the customer allowed to extend itself is extended at its end date."""
REMINDER_DAYS = (30, 7)
"""Days before a grant's end date when its tenant's admins and its partner are reminded."""


class DelegatedAdminRequest(BaseModel):
    """`delegated_admin` in `POST /api/v1/invitations` as an object: the roles asked for and
    for how many days."""

    model_config = ConfigDict(extra="forbid", strict=True)
    roles: Annotated[list[Annotated[str, Field(max_length=64)]], Field(min_length=1, max_length=20)]
    duration_days: int


@dataclass(frozen=True)
class GrantTerms:
    """What a request for delegated administration asks: roles (catalog ids) and days."""

    roles: tuple[str, ...]
    days: int

    @property
    def full_access(self) -> bool:
        """True when it asks for everything (`global-admin`)."""
        return FULL_ACCESS_ROLE in self.roles


def grant_terms(
    catalog: Catalog,
    offer: Offer | None,
    requested: bool | DelegatedAdminRequest,
    default_days: int,
    max_days: int,
) -> GrantTerms:
    """The roles and duration a request asks for, or `InvalidInput` naming what is wrong.

    `true` asks for the offer's roles (`global-admin` when it names none) for the default
    duration; an object names roles (from the offer's list when it has one) and 1 to
    `max_days` days."""
    offered = tuple(offer.delegated_admin_roles) if offer and offer.delegated_admin_roles else None
    if requested is True:
        return GrantTerms(offered or (FULL_ACCESS_ROLE,), default_days)
    assert isinstance(requested, DelegatedAdminRequest)
    roles = requested.roles
    for index, role in enumerate(roles):
        field = f"delegated_admin.roles.{index}"
        if role not in catalog.admin_roles:
            raise InvalidInput(
                f"{field}: unknown admin role {role!r}{did_you_mean(role, catalog.admin_roles)}",
                field,
            )
        if roles.index(role) != index:
            raise InvalidInput(f"{field}: {role!r} is named twice", field)
        if offered is not None and role not in offered:
            raise InvalidInput(
                f"{field}: the offer asks for {', '.join(offered)} only, not {role!r}", field
            )
    if FULL_ACCESS_ROLE in roles and len(roles) > 1:
        raise InvalidInput(
            f"delegated_admin.roles: {FULL_ACCESS_ROLE} allows everything already; name it alone",
            "delegated_admin.roles",
        )
    days = requested.duration_days
    if not 1 <= days <= max_days:
        raise InvalidInput(
            f"delegated_admin.duration_days: a whole number of days from 1 to {max_days}",
            "delegated_admin.duration_days",
        )
    return GrantTerms(tuple(roles), days)


def check_renewal(held: list[str], asked: GrantTerms) -> None:
    """A DA partner asking again renews its grant: with the same roles or fewer, never more
    (to widen its access, the customer must grant it anew, after revoking the current one)."""
    more = [role for role in asked.roles if role not in held]
    if more:
        raise InvalidInput(
            f"delegated_admin.roles: you hold delegated administration of this tenant with "
            f"{', '.join(held)}; a renewal asks for the same roles or fewer, not "
            f"{', '.join(more)}",
            "delegated_admin.roles",
        )


def grant_end(granted_at: datetime, days: int) -> datetime:
    """When a grant given at `granted_at` for `days` days ends by itself."""
    return granted_at + timedelta(days=days)


def may_extend_itself(roles: tuple[str, ...] | list[str]) -> bool:
    """Whether a customer may let a grant extend itself: never for full access."""
    return FULL_ACCESS_ROLE not in roles


def reminder_due(
    expires_at: datetime, reminded_days: int | None, now: datetime, granted_at: datetime
) -> int | None:
    """The reminder (30 or 7 days before the end) due now for a grant last reminded at
    `reminded_days` (None: never), or None. A reminder is only for grants given for longer
    than it (a 10-day grant gets the 7-day reminder, not a 30-day one the moment it starts),
    and only the nearest one due is sent."""
    left = expires_at - now
    if left <= timedelta(0):
        return None
    due = [
        days
        for days in REMINDER_DAYS
        if left <= timedelta(days=days) and expires_at - granted_at > timedelta(days=days)
    ]
    if not due:
        return None
    nearest = min(due)
    if reminded_days is not None and reminded_days <= nearest:
        return None
    return nearest
