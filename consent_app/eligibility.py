"""What a partner may ask of a customer, checked when an invitation is created and again, in
the same transaction, when the customer decides (SPEC §8).

A listing changes between the two (a partner leaves the DA programmes, edits or withdraws an
offer, is delisted, moves its website), so a decision re-runs the very rules that allowed the
request rather than trusting what was true when it was sent. Each rule is one function here,
used by the API, the invitation page and the decision alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from consent_app.errors import Refused
from consent_app.tenants import ascii_domain
from marketplace.catalog import Catalog
from marketplace.model import Listing, Offer


def delegated_admin_refusal(catalog: Catalog, listing: Listing, offer: Offer | None) -> str | None:
    """Why this partner may not ask for delegated administration (with this offer), or None
    when it may: the listing offers DA, the partner is in a DA-eligible programme, and the
    offer (if any) allows a DA request."""
    if not listing.delegated_admin:
        return (
            "the partner's listing does not offer delegated administration; only partners in a "
            "DA-eligible program with delegated_admin: true may request it"
        )
    if not set(listing.programs) & catalog.delegated_admin_programs:
        eligible = ", ".join(sorted(catalog.delegated_admin_programs))
        return f"the partner is in none of the DA-eligible programs ({eligible})"
    if offer is not None and offer.delegated_admin != "optional":
        return (
            f"offer {offer.id!r} does not allow a delegated administration request "
            "(its delegated_admin is none)"
        )
    return None


def find_offer(listing: Listing, offer_id: str, kind: str) -> Offer:
    """The listing's offer of `kind` with this id; `Refused` (`unknown_offer`) naming the
    offers it has."""
    for offer in listing.offers:
        if offer.id == offer_id and offer.type == kind:
            return offer
    kinds = [offer.id for offer in listing.offers if offer.type == kind]
    known = f"; your {kind} offers: {', '.join(kinds)}" if kinds else f"; you list no {kind} offer"
    raise Refused(
        "unknown_offer", f"your listing has no {kind} offer {offer_id!r}{known}", 422, "offer_id"
    )


def check_services(listing: Listing, offer: Offer | None, services: list[str]) -> None:
    """Every service of a purchase offer is one the partner (or its offer) provides."""
    allowed = offer.services if offer else listing.services
    for service in services:
        if service not in allowed:
            where = f"offer {offer.id!r}" if offer else "your listing's services"
            raise Refused(
                "validation_error",
                f"{service!r} is not in {where}: {', '.join(allowed)}",
                400,
                f"licenses.{service}",
            )


def partner_domains(listing: Listing) -> set[str]:
    """The mail domains that belong to a partner: its website's (without `www.`) and its
    contact address's."""
    domains = {str(listing.contact.email).rpartition("@")[2].lower()}
    host = (urlsplit(listing.website).hostname or "").lower()
    if host:
        domains.add(host.removeprefix("www."))
    return {ascii_domain(domain) for domain in domains if domain}


def check_customer_not_partner(listing: Listing, email: str, field: str) -> None:
    """`Refused` (`customer_is_partner`) when a new customer's address is in one of the
    partner's own domains (or a subdomain of one): a partner never invites itself to
    administer a tenant."""
    domain = email.rpartition("@")[2]
    for own in partner_domains(listing):
        if domain == own or domain.endswith("." + own):
            raise Refused(
                "customer_is_partner",
                f"{email} is an address of the partner itself ({own}); invite the customer's "
                "own administrator",
                422,
                field,
            )


def check_new_tenant_domain(domain: str, suffix: str) -> None:
    """`Refused` (`domain_not_verified`) unless a new customer's tenant is a new name in the
    provider's own namespace (`<name>.<suffix>`); any other domain becomes a tenant only
    through the operator, who verifies it."""
    name, _, rest = domain.partition(".")
    if rest != suffix or not name:
        raise Refused(
            "domain_not_verified",
            f"{domain} is not a customer yet, and a new customer's tenant can only be a new "
            f"initial domain such as {name or 'newcompany'}.{suffix}; a domain of the "
            "customer's own is added by the Marketplace operators once verified",
            422,
            "tenant",
        )


@dataclass(frozen=True)
class Standing:
    """Whether an invitation can still be accepted, and with delegated administration."""

    acceptance_refusal: Refused | None  # None: it may be accepted
    delegated_admin_refusal: str | None  # None: DA may be granted (if it was requested)

    @property
    def can_accept(self) -> bool:
        """The invitation may still be accepted."""
        return self.acceptance_refusal is None


def standing(
    catalog: Catalog,
    listing: Listing | None,
    kind: str,
    offer_id: str | None,
    services: list[str],
    new_customer_email: str | None,
) -> Standing:
    """The rules that allowed an invitation, checked again against the partner's listing as
    it is now (`None` when the partner is no longer listed)."""
    if listing is None:
        refusal = Refused(
            "partner_not_listed",
            "The partner is no longer listed in the Marketplace, so its invitation can no "
            "longer be accepted. You can decline it.",
            422,
        )
        return Standing(refusal, refusal.message)
    offer = None
    try:
        if offer_id is not None:
            offer = find_offer(listing, offer_id, kind)
        if kind == "purchase":
            check_services(listing, offer, services)
        if new_customer_email is not None:
            check_customer_not_partner(listing, new_customer_email, "customer.email")
    except Refused as refused:
        if refused.code == "customer_is_partner":
            message = (
                "This invitation was sent to an address in the partner's own domain, so it "
                "cannot create a tenant and can no longer be accepted. You can decline it."
            )
        else:
            message = (
                "The partner has changed its listing since it sent this invitation, and what "
                f"it offered is no longer valid ({refused.message}), so it can no longer be "
                "accepted. You can decline it."
            )
        code = refused.code if refused.code == "customer_is_partner" else "offer_withdrawn"
        withdrawn = Refused(code, message, 422)
        return Standing(withdrawn, message)
    return Standing(None, delegated_admin_refusal(catalog, listing, offer))
