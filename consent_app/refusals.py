"""Refusals: requests the consent rules do not allow. Nothing was changed.

Each rule that can refuse has a type of its own, with a stable `code` (the partner API's
`error`); `message` says why and what to do, `field` names the offending input when there is
one. The domain never knows HTTP: `consent_app.http_errors` maps each type to a status, and
pages find their words by `code`.
"""

from __future__ import annotations

from typing import ClassVar


class Refused(Exception):
    """A request the rules do not allow; nothing was changed."""

    code: ClassVar[str] = "refused"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message, self.field = message, field


# --- the request itself -------------------------------------------------------------------------


class InvalidInput(Refused):
    """Malformed input: a field has no valid value."""

    code = "validation_error"


class Unauthorized(Refused):
    """No valid credentials (API key)."""

    code = "unauthorized"


class NotFound(Refused):
    """No such thing for this caller (another partner's is answered the same way)."""

    code = "not_found"


class UnknownPartner(NotFound):
    """No listing has this slug."""

    code = "unknown_partner"


# --- who may ask -------------------------------------------------------------------------------


class PartnerNotListed(Refused):
    """The partner is no longer listed in the Marketplace."""

    code = "partner_not_listed"


class NotEligibleForDelegatedAdmin(Refused):
    """The partner (or its offer) may not ask for delegated administration."""

    code = "not_eligible_for_delegated_admin"


class SovereignCloud(Refused):
    """Partner features are not available to tenants in the 21Vianet cloud."""

    code = "cloud_not_supported"


# --- what may be asked, of whom -----------------------------------------------------------------


class UnknownOffer(Refused):
    """The partner's listing has no such offer."""

    code = "unknown_offer"


class OfferWithdrawn(Refused):
    """The offer an invitation was made from is no longer what the listing offers."""

    code = "offer_withdrawn"


class PriceTermsInvalid(Refused):
    """The price terms stored with an offer no longer pass the pricing rules."""

    code = "price_terms_invalid"


class KeyRevoked(Refused):
    """The API key an invitation was sent with has been revoked since."""

    code = "key_revoked"


class CustomerRequired(Refused):
    """The tenant does not exist yet and no new customer was named."""

    code = "customer_required"


class DomainNotVerified(Refused):
    """A new customer's tenant outside the provider's own namespace."""

    code = "domain_not_verified"


class CustomerIsPartner(Refused):
    """The new customer's address belongs to the partner itself."""

    code = "customer_is_partner"


class TooManyKeys(Refused):
    """The partner has as many API keys in use as it may (`partners.MAX_ACTIVE_KEYS`)."""

    code = "too_many_keys"


class TenantExists(Refused):
    """The tenant exists already (or was created after a new customer's invitation)."""

    code = "tenant_exists"


# --- the state of things ------------------------------------------------------------------------


class InvalidState(Refused):
    """The invitation's status does not allow this (see `rules.TRANSITIONS`)."""

    code = "invalid_state"


class AlreadyRevoked(Refused):
    """The API key was revoked already."""

    code = "already_revoked"


class Unchanged(Refused):
    """The change asked for is the state already."""

    code = "unchanged"


class DelegatedAdminNotRequested(Refused):
    """Delegated administration granted on an invitation that did not ask for it."""

    code = "delegated_admin_not_requested"


class NotConfirmed(Refused):
    """A change that ends a partner's role, asked without its confirmation."""

    code = "not_confirmed"


class TermsNotAccepted(Refused):
    """A priced offer accepted without ticking "I accept these terms"."""

    code = "terms_not_accepted"


class ReplacementNeedsConfirmation(Refused):
    """Another partner holds delegated administration; replacing it needs confirmation."""

    code = "replacement_needs_confirmation"


class DelegatedAdminChanged(Refused):
    """The DA partner changed since the customer's page showed it."""

    code = "delegated_admin_changed"


class ConcurrentChange(Refused):
    """Another request changed the same thing at the same moment, again and again."""

    code = "conflict"
