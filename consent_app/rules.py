"""The consent rules as plain functions over plain values: no database, no web
(README: Consent backend, Partner API).

- invitation states and clouds as enums, and the transition table: which status may become
  which, and who may cause it;
- the eligibility rules a partner's request must meet, checked when the invitation is created
  and again when the customer decides (a listing changes between the two);
- `decide()`: what a customer's decision changes, or why it is refused.

Every refusal is a type from `consent_app.refusals`; the web layer maps each to a status and
words. The application layer (`consent_app.consent`, `consent_app.invitations`) applies the
outcomes in one transaction; the database's constraints guarantee what must hold under
concurrency.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from consent_app.addresses import ascii_domain
from consent_app.pricing import PriceTerms, stored_terms
from consent_app.refusals import (
    CustomerIsPartner,
    DelegatedAdminChanged,
    DelegatedAdminNotRequested,
    DomainNotVerified,
    InvalidInput,
    InvalidState,
    KeyRevoked,
    NotEligibleForDelegatedAdmin,
    OfferWithdrawn,
    PartnerNotListed,
    PriceTermsInvalid,
    Refused,
    ReplacementNeedsConfirmation,
    SovereignCloud,
    TermsNotAccepted,
    UnknownOffer,
)
from marketplace.catalog import Catalog
from marketplace.model import Listing, Offer

# --- clouds ------------------------------------------------------------------------------------


class Cloud(StrEnum):
    """Where a tenant lives."""

    GLOBAL = "global"
    SOVEREIGN = "21vianet"  # operated by 21Vianet: no partner features (README: Consent backend)


def partner_features(cloud: str) -> bool:
    """Whether partner features (invitations, offers, DA, POR) exist for a tenant's cloud."""
    return cloud != Cloud.SOVEREIGN


def check_cloud(cloud: str) -> None:
    """`SovereignCloud` for a tenant in the 21Vianet cloud: partner features are not
    available there, and nothing is half-done."""
    if not partner_features(cloud):
        raise SovereignCloud(
            "Partner features (invitations, offers, delegated administration, partner of "
            "record) are not available to tenants in the sovereign cloud operated by "
            "21Vianet. Nothing was changed."
        )


# --- invitation states -------------------------------------------------------------------------


class InvitationKind(StrEnum):
    """A trial invitation or a purchase offer."""

    TRIAL = "trial"
    PURCHASE = "purchase"


class State(StrEnum):
    """What is stored of an invitation's life. Expiry is not stored: see `status`."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELED = "canceled"


class Status(StrEnum):
    """What an invitation is, as everyone is told (the API's `status`)."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELED = "canceled"
    EXPIRED = "expired"


def status(state: str, expires_at: datetime, now: datetime) -> Status:
    """An invitation's status: its stored state, except that a pending one whose link has run
    out is `expired`. Computed, never stored, so it is the same everywhere at every moment
    (the expiry sweep only records the event, for the audit log)."""
    if state == State.PENDING and expires_at <= now:
        return Status.EXPIRED
    return Status(state)


class By(StrEnum):
    """Who causes a transition."""

    CUSTOMER = "customer"
    PARTNER = "partner"


TRANSITIONS: dict[Status, dict[Status, By]] = {
    Status.PENDING: {
        Status.ACCEPTED: By.CUSTOMER,
        Status.DECLINED: By.CUSTOMER,
        Status.CANCELED: By.PARTNER,
    },
    # accepted, declined, canceled and expired are final.
}
"""Which status may become which, and who may cause it. Expiry is the passing of time, not a
transition anyone makes."""


def check_transition(current: Status, to: Status, by: By) -> None:
    """`InvalidState` unless `by` may take an invitation from `current` to `to`."""
    allowed = TRANSITIONS.get(current, {})
    if allowed.get(to) != by:
        verb = {Status.ACCEPTED: "accepted", Status.DECLINED: "declined"}.get(to, "canceled")
        raise InvalidState(f"This invitation is {current} and can no longer be {verb}.")


# --- what a partner may ask ---------------------------------------------------------------------


def delegated_admin_refusal(catalog: Catalog, listing: Listing, offer: Offer | None) -> str | None:
    """Why this partner may not ask for delegated administration (with this offer), or None
    when it may: the listing offers DA, the partner is in a DA-eligible programme, and the
    offer (if any) allows a DA request. The one eligibility rule: the API, the invitation
    page and the decision all ask it."""
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
    """The listing's offer of `kind` with this id; `UnknownOffer` naming the offers it has."""
    for offer in listing.offers:
        if offer.id == offer_id and offer.type == kind:
            return offer
    kinds = [offer.id for offer in listing.offers if offer.type == kind]
    known = f"; your {kind} offers: {', '.join(kinds)}" if kinds else f"; you list no {kind} offer"
    raise UnknownOffer(f"your listing has no {kind} offer {offer_id!r}{known}", "offer_id")


def check_services(listing: Listing, offer: Offer | None, services: list[str]) -> None:
    """Every service of a purchase offer is one the partner (or its offer) provides."""
    allowed = offer.services if offer else listing.services
    for service in services:
        if service not in allowed:
            where = f"offer {offer.id!r}" if offer else "your listing's services"
            raise InvalidInput(
                f"{service!r} is not in {where}: {', '.join(allowed)}", f"licenses.{service}"
            )


def check_trial_services(listing: Listing, offer: Offer | None, services: list[str]) -> None:
    """A trial's services are still in its offer and in the listing's services."""
    for service in services:
        if offer is None or service not in offer.services or service not in listing.services:
            raise InvalidInput(f"{service!r} is no longer in the trial offer", "offer_id")


def partner_domains(listing: Listing) -> set[str]:
    """The mail domains that belong to a partner: its website's (without `www.`) and its
    contact address's, in IDNA ASCII form."""
    domains = {str(listing.contact.email).rpartition("@")[2].lower()}
    host = (urlsplit(listing.website).hostname or "").lower().rstrip(".")
    if host:
        domains.add(host.removeprefix("www."))
    return {ascii_domain(domain.rstrip(".")) for domain in domains if domain}


def check_customer_not_partner(listing: Listing, email: str, field: str) -> None:
    """`CustomerIsPartner` when a new customer's address is in one of the partner's own
    domains (or a subdomain of one): a partner never invites itself to administer a tenant."""
    domain = email.rpartition("@")[2]
    for own in partner_domains(listing):
        if domain == own or domain.endswith("." + own):
            raise CustomerIsPartner(
                f"{email} is an address of the partner itself ({own}); invite the customer's "
                "own administrator",
                field,
            )


def check_new_tenant_domain(domain: str, suffix: str) -> None:
    """`DomainNotVerified` unless a new customer's tenant is a new name in the provider's own
    namespace (`<name>.<suffix>`); any other domain becomes a tenant only through the
    operator, who verifies it."""
    name, _, rest = domain.partition(".")
    if rest != suffix or not name:
        raise DomainNotVerified(
            f"{domain} is not a customer yet, and a new customer's tenant can only be a new "
            f"initial domain such as {name or 'newcompany'}.{suffix}; a domain of the "
            "customer's own is added by the Marketplace operators once verified",
            "tenant",
        )


@dataclass(frozen=True)
class Asked:
    """What an invitation asks for, and whether the partner's listing, as it is now, still
    allows it (see `asked`)."""

    delegated_admin_requested: bool
    acceptance_refusal: Refused | None = None  # the invitation can no longer be accepted
    delegated_admin_refusal: str | None = None  # DA can no longer be granted
    terms: PriceTerms | None = None  # a priced offer's terms, as stored when it was sent

    @property
    def delegated_admin_available(self) -> bool:
        """DA was asked for and may still be granted."""
        return self.delegated_admin_requested and self.delegated_admin_refusal is None


def asked(
    catalog: Catalog,
    listing: Listing | None,
    kind: str,
    offer_id: str | None,
    services: list[str],
    new_customer_email: str | None,
    delegated_admin_requested: bool,
    *,
    tenant_domain: str = "",
    initial_domain_suffix: str | None = None,
    key_revoked: bool = False,
    licenses: dict[str, int] | None = None,
    prices: dict[str, str] | None = None,
    currency: str | None = None,
    billing: str | None = None,
) -> Asked:
    """Every rule that allowed an invitation, checked again as things are now: the partner's
    listing (`None` when it is no longer listed), the API key it was sent with, for a new
    customer's invitation that would create a tenant, the namespace (`initial_domain_suffix`;
    None when the tenant exists), and a priced offer's terms as stored (`licenses`, `prices`,
    `currency`, `billing`). The terms are the stored ones, never the listing's defaults as
    they are now: a partner cannot change what it offered after sending it."""
    try:
        terms = stored_terms(licenses, prices, currency, billing)
    except InvalidInput as broken:
        invalid = PriceTermsInvalid(
            f"The prices stored with this offer are not valid ({broken.message}), so it can no "
            "longer be accepted. You can decline it; the partner can send a new one."
        )
        return Asked(delegated_admin_requested, invalid, invalid.message)
    if listing is None:
        gone = PartnerNotListed(
            "The partner is no longer listed in the Marketplace, so its invitation can no "
            "longer be accepted. You can decline it."
        )
        return Asked(delegated_admin_requested, gone, gone.message, terms)
    if key_revoked:
        revoked = KeyRevoked(
            "The partner has revoked the API key this invitation was sent with, so it can no "
            "longer be accepted. You can decline it; the partner can send a new one."
        )
        return Asked(delegated_admin_requested, revoked, revoked.message, terms)
    offer = None
    try:
        if new_customer_email is not None and initial_domain_suffix is not None:
            check_new_tenant_domain(tenant_domain, initial_domain_suffix)
        if offer_id is not None:
            offer = find_offer(listing, offer_id, kind)
        if kind == InvitationKind.PURCHASE:
            check_services(listing, offer, services)
        else:  # a trial offers the services its offer and the listing still have
            check_trial_services(listing, offer, services)
        if new_customer_email is not None:
            check_customer_not_partner(listing, new_customer_email, "customer.email")
    except DomainNotVerified:
        outside = DomainNotVerified(
            f"This invitation would create a tenant for {tenant_domain}, a domain only the "
            "Marketplace operators can add once they have verified it, so it can no longer "
            "be accepted. You can decline it."
        )
        return Asked(delegated_admin_requested, outside, outside.message, terms)
    except CustomerIsPartner:
        refusal: Refused = CustomerIsPartner(
            "This invitation was sent to an address in the partner's own domain, so it "
            "cannot create a tenant and can no longer be accepted. You can decline it."
        )
        return Asked(delegated_admin_requested, refusal, refusal.message, terms)
    except Refused as changed:
        refusal = OfferWithdrawn(
            "The partner has changed its listing since it sent this invitation, and what it "
            f"offered is no longer valid ({changed.message}), so it can no longer be "
            "accepted. You can decline it."
        )
        return Asked(delegated_admin_requested, refusal, refusal.message, terms)
    refused_da = delegated_admin_refusal(catalog, listing, offer)
    return Asked(delegated_admin_requested, None, refused_da, terms)


# --- the customer's decision --------------------------------------------------------------------


@dataclass(frozen=True)
class Roles:
    """Who holds each role for a tenant (partner slugs)."""

    delegated_admin: str | None = None
    partner_of_record: str | None = None


@dataclass(frozen=True)
class Decision:
    """What the customer submitted on the invitation page."""

    accept: bool
    authorize_delegated_admin: bool = False
    make_partner_of_record: bool = False
    confirm_replace_delegated_admin: bool = False
    seen_delegated_admin: str | None = None  # the DA partner the page showed them
    auto_extend_delegated_admin: bool = False  # the grant extends itself at its end date
    accept_terms: bool = False  # ticked "I accept these terms" (a priced offer needs it)


@dataclass(frozen=True)
class Outcome:
    """What a decision changes."""

    state: State  # accepted | declined
    roles: Roles  # after the decision
    delegated_admin_granted: bool
    partner_of_record: bool
    replaced_delegated_admin: str | None = None
    replaced_partner_of_record: str | None = None


def decide(partner: str, asked: Asked, cloud: str, before: Roles, decision: Decision) -> Outcome:
    """Apply the consent rules (README: Consent backend) to one decision; a `Refused` type
    when it cannot be carried out as submitted. Declining is always possible; accepting needs
    every rule that allowed the invitation to hold still."""
    check_cloud(cloud)
    if not decision.accept:
        return Outcome(State.DECLINED, before, False, False)
    if asked.acceptance_refusal is not None:
        raise asked.acceptance_refusal
    if asked.terms is not None and not decision.accept_terms:
        raise TermsNotAccepted(
            'This offer has prices. To accept it, tick "I accept these terms" after reading '
            "them; nothing was changed.",
            "accept_terms",
        )
    grant = decision.authorize_delegated_admin
    if grant and not asked.delegated_admin_requested:
        raise DelegatedAdminNotRequested(
            "This invitation does not ask for delegated administration, so it cannot be granted."
        )
    if grant and asked.delegated_admin_refusal is not None:
        raise NotEligibleForDelegatedAdmin(
            "Delegated administration can no longer be granted to this partner: "
            f"{asked.delegated_admin_refusal}. You can accept without it, or decline."
        )
    replaced_da = None
    if grant and before.delegated_admin not in (None, partner):
        if not decision.confirm_replace_delegated_admin:
            raise ReplacementNeedsConfirmation(
                "Another partner administers your tenant. To authorize this partner instead, "
                "confirm that it replaces the current one."
            )
        if decision.seen_delegated_admin != before.delegated_admin:
            raise DelegatedAdminChanged(
                "Your delegated admin partner changed since you opened this page. "
                "Review the page again before you confirm."
            )
        replaced_da = before.delegated_admin
    por = decision.make_partner_of_record
    replaced_por = None
    if por and before.partner_of_record not in (None, partner):
        replaced_por = before.partner_of_record
    after = Roles(
        delegated_admin=partner if grant else before.delegated_admin,
        partner_of_record=partner if por else before.partner_of_record,
    )
    return Outcome(State.ACCEPTED, after, grant, por, replaced_da, replaced_por)
