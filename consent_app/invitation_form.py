"""The Partner overview's new-invitation form as the partner API's request (README: Partner
overview): the form's fields become the very body `POST /api/v1/invitations` takes, and the
API's refusals, which name a JSON field, are shown beside the form field they name.

Nothing is checked here. The body goes through `consent_app.invitations.create_invitation`
like any API request, so the form and the API cannot disagree about what is allowed, what a
mistake is called, or what the audit log records. This module only reads the form (text
fields, `licenses-<service>` and `price-<service>` per service, a checkbox) and writes JSON;
a value that is not even a number is passed on as text, so the API's own check names it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

LICENSES = "licenses-"
"""The prefix of a service's license count field: `licenses-teams`."""
PRICE = "price-"
"""The prefix of a service's price field (per license per month): `price-teams`."""
DAYS = "delegated_admin_days"
ROLES = "delegated_admin_roles"
"""Optional fields besides `delegated_admin`: the admin roles asked for and for how many days
(the API's object form `{"roles": [...], "duration_days": N}`)."""
TEXT_FIELDS = ("type", "offer_id", "tenant", "customer_email", "customer_company", "currency")
CHOICE_FIELDS = ("billing",)
MAX_SERVICES = 50
"""A listing names at most 50 services: more `licenses-…` fields than that are not read."""

_WHOLE = re.compile(r"[0-9]{1,9}")
_TICKED = ("y", "on", "true", "1", "yes")


class FormData(Protocol):
    """What a submitted form offers (werkzeug's `MultiDict`)."""

    def get(self, key: str, default: str) -> str: ...

    def getlist(self, key: str) -> list[str]: ...

    def __iter__(self) -> Iterator[str]: ...


@dataclass(frozen=True)
class InvitationForm:
    """What the partner typed into the new-invitation form, as text."""

    type: str = ""
    offer_id: str = ""
    tenant: str = ""
    customer_email: str = ""
    customer_company: str = ""
    licenses: tuple[tuple[str, str], ...] = ()  # (service, count as typed), in form order
    prices: tuple[tuple[str, str], ...] = ()  # (service, price per license per month)
    currency: str = ""
    billing: str = ""
    delegated_admin: bool = False
    delegated_admin_roles: tuple[str, ...] = ()
    delegated_admin_days: str = ""

    @classmethod
    def read(cls, form: FormData) -> InvitationForm:
        """The values of a submitted form (surrounding spaces dropped, as a person means)."""

        def text(name: str) -> str:
            return (form.get(name, "") or "").strip()

        def per_service(prefix: str) -> tuple[tuple[str, str], ...]:
            found = [
                (key.removeprefix(prefix), text(key)) for key in form if key.startswith(prefix)
            ]
            return tuple(found[:MAX_SERVICES])

        return cls(
            type=text("type"),
            offer_id=text("offer_id"),
            tenant=text("tenant"),
            customer_email=text("customer_email"),
            customer_company=text("customer_company"),
            currency=text("currency"),
            billing=text("billing"),
            licenses=per_service(LICENSES),
            prices=per_service(PRICE),
            delegated_admin=text("delegated_admin").lower() in _TICKED,
            delegated_admin_roles=tuple(
                dict.fromkeys(role.strip() for role in form.getlist(ROLES) if role.strip())
            )[:MAX_SERVICES],
            delegated_admin_days=text(DAYS),
        )

    def license_of(self, service: str) -> str:
        """The license count typed for `service` ("" when none)."""
        return dict(self.licenses).get(service, "")

    def price_of(self, service: str) -> str:
        """The price typed for `service` ("" when none)."""
        return dict(self.prices).get(service, "")

    def body(self, offer_roles: tuple[str, ...] | None, default_days: int) -> dict[str, Any]:
        """The `POST /api/v1/invitations` body this form asks for.

        `offer_roles` (the roles the chosen offer asks for, None: full access) and
        `default_days` fill the DA request's object form when the partner named only one of
        roles and days; with neither it is `true`, the API's own default."""
        body: dict[str, Any] = {"type": self.type, "tenant": self.tenant}
        if self.customer_email or self.customer_company:
            body["customer"] = {"email": self.customer_email, "company": self.customer_company}
        if self.offer_id:
            body["offer_id"] = self.offer_id
        licenses = {service: _count(text) for service, text in self.licenses if text}
        if licenses:
            body["licenses"] = licenses
        prices = {service: text for service, text in self.prices if text}
        if prices:
            body["prices"] = prices
        if self.currency:
            body["currency"] = self.currency.upper()
        if (prices or self.currency) and self.billing:
            body["billing"] = self.billing
        if self.delegated_admin:
            body["delegated_admin"] = self._delegated_admin(offer_roles, default_days)
        return body

    def _delegated_admin(
        self, offer_roles: tuple[str, ...] | None, default_days: int
    ) -> bool | dict[str, Any]:
        if not self.delegated_admin_roles and not self.delegated_admin_days:
            return True
        days = self.delegated_admin_days
        return {
            "roles": list(self.delegated_admin_roles or offer_roles or ("global-admin",)),
            "duration_days": _count(days) if days else default_days,
        }

    def hidden(self) -> list[tuple[str, str]]:
        """The form's values as (name, value) pairs, to carry them through the preview."""
        pairs = [(name, getattr(self, name)) for name in TEXT_FIELDS + CHOICE_FIELDS]
        pairs += [(LICENSES + service, text) for service, text in self.licenses]
        pairs += [(PRICE + service, text) for service, text in self.prices]
        if self.delegated_admin:
            pairs.append(("delegated_admin", "y"))
        pairs += [(ROLES, role) for role in self.delegated_admin_roles]
        pairs.append((DAYS, self.delegated_admin_days))
        return [(name, value) for name, value in pairs if value]


def _count(text: str) -> int | str:
    """A whole number as a number; anything else as typed, for the API's check to name."""
    return int(text) if _WHOLE.fullmatch(text) else text


_FIELDS = {
    "type": "type",
    "tenant": "tenant",
    "offer_id": "offer_id",
    "customer": "customer_email",  # customer_required: the address (and company) are missing
    "customer.email": "customer_email",
    "customer.company": "customer_company",
    "licenses": "licenses",
    "prices": "prices",
    "currency": "currency",
    "billing": "billing",
    "delegated_admin": "delegated_admin",
    "delegated_admin.roles": ROLES,
    "delegated_admin.duration_days": DAYS,
}
_BY_CODE = {"cloud_not_supported": "tenant", "tenant_exists": "tenant"}
"""Refusals that name no field but are about one."""


def form_field(api_field: str | None, code: str) -> str | None:
    """The form field an API refusal is about (`licenses.teams` → `licenses-teams`), or None
    for a refusal about the whole request."""
    if not api_field:
        return _BY_CODE.get(code)
    if api_field in _FIELDS:
        return _FIELDS[api_field]
    head, _, rest = api_field.partition(".")
    if head == "licenses" and rest:
        return LICENSES + rest
    if head == "prices" and rest:
        return PRICE + rest
    if api_field.startswith("delegated_admin.roles."):
        return ROLES
    if head == "customer":
        return "customer_email"
    return None


def without_field(message: str, api_field: str | None) -> str:
    """A refusal's message without the `field: ` it starts with (the page shows it beside
    the field instead)."""
    if api_field and message.startswith(f"{api_field}: "):
        return message[len(api_field) + 2 :]
    return message
