"""How addresses, domains and names are written down: one normal form for each, used by the
API, the forms, sign-in, the operator commands and storage alike. Pure functions."""

from __future__ import annotations

import re

import idna
from email_validator import EmailNotValidError, validate_email

from consent_app.refusals import InvalidInput

DOMAIN_PATTERN = re.compile(
    r"^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$"
)
MAX_TENANT_NAME = 200


def ascii_domain(domain: str) -> str:
    """A domain in its IDNA ASCII form, lower case (`Bücher.example` -> `xn--bcher-kva.example`);
    text that is no domain is returned lower-cased, for the caller's own check to refuse."""
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return domain.lower()


def normalized_domain(raw: str, field: str = "tenant") -> str:
    """A tenant domain in its stored form (lower case), or `InvalidInput` naming `field`."""
    domain = ascii_domain(raw.strip().rstrip("."))
    if not DOMAIN_PATTERN.match(domain):
        raise InvalidInput(
            f"{raw[:80]!r} is not a tenant domain such as fabrikam.onmicrosoft.com", field
        )
    return domain


def normalized_email(raw: str, field: str = "email", *, smtputf8: bool = False) -> str:
    """An e-mail address in its one stored form, or `InvalidInput` naming `field`.

    The domain is in its IDNA ASCII form and the whole address in lower case (addresses are
    compared case-insensitively, as the provider's directory does), so `Boss@Bücher.example`
    and `boss@xn--bcher-kva.example` are one admin. A non-ASCII local part can only be
    delivered by an SMTP server with SMTPUTF8, so it is refused unless `smtputf8` says the
    configured server has it.
    """
    try:
        checked = validate_email(raw.strip(), check_deliverability=False, allow_smtputf8=smtputf8)
    except EmailNotValidError as error:
        raise InvalidInput(f"{field}: {error}", field) from None
    return f"{checked.local_part}@{checked.ascii_domain}".lower()


def tenant_name(raw: str, field: str = "name") -> str:
    """A tenant's (or new customer's company's) display name: 1-200 printable characters on
    one line, no control, format or separator characters; else `InvalidInput` naming `field`."""
    name = raw.strip()
    if not 1 <= len(name) <= MAX_TENANT_NAME or not name.isprintable():
        raise InvalidInput(
            f"{field}: a name is 1-{MAX_TENANT_NAME} printable characters on one line", field
        )
    return name
