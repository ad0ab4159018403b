"""The price terms of a purchase offer (README: Priced purchase offers): per service a price
per license per month, a currency and a billing period; the lines, the total per month and
the total per billing period (annual = 12 × monthly).

Plain functions over frozen dataclasses, tested without a database. Amounts are `Decimal`
from text (`marketplace.money`), never floats; the same rules check a partner's request, a
listing offer's default prices, and, when the customer decides, the terms stored with the
invitation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from consent_app.refusals import InvalidInput
from marketplace.model import Offer
from marketplace.money import AmountError, amount_text, check_currency, parse_amount


class Billing(StrEnum):
    """How often the customer is billed."""

    MONTHLY = "monthly"
    ANNUAL = "annual"


MONTHS = {Billing.MONTHLY: 1, Billing.ANNUAL: 12}
"""Months in each billing period."""
TERMS_FIELDS = ("prices", "currency", "billing")
"""The request fields that price a purchase offer, in the order they are checked."""


@dataclass(frozen=True)
class PriceLine:
    """One service of a priced offer."""

    service: str
    licenses: int
    unit_price: Decimal  # per license per month

    @property
    def total(self) -> Decimal:
        """The line's total per month."""
        return self.unit_price * self.licenses


@dataclass(frozen=True)
class PriceTerms:
    """What a priced purchase offer costs: its lines (in service order), currency and
    billing period."""

    currency: str
    billing: Billing
    lines: tuple[PriceLine, ...]

    @property
    def months(self) -> int:
        """Months in the billing period."""
        return MONTHS[self.billing]

    @property
    def total_per_month(self) -> Decimal:
        """Every line's total per month, added up."""
        return sum((line.total for line in self.lines), Decimal(0))

    @property
    def total_per_period(self) -> Decimal:
        """What each bill comes to: the monthly total times the months in the period."""
        return self.total_per_month * self.months

    def prices(self) -> dict[str, str]:
        """Service -> price per license per month, as stored and as the API shows it."""
        return {line.service: amount_text(line.unit_price, self.currency) for line in self.lines}

    def record(self) -> dict[str, Any]:
        """The terms as the audit log (and so the consent receipt) keeps them: every amount a
        string with the currency's minor units."""

        def text(amount: Decimal) -> str:
            return amount_text(amount, self.currency)

        return {
            "currency": self.currency,
            "billing": str(self.billing),
            "lines": [
                {
                    "service": line.service,
                    "licenses": line.licenses,
                    "unit_price_per_month": text(line.unit_price),
                    "total_per_month": text(line.total),
                }
                for line in self.lines
            ],
            "total_per_month": text(self.total_per_month),
            "months_per_billing_period": self.months,
            "total_per_billing_period": text(self.total_per_period),
        }


def price_terms(
    licenses: Mapping[str, int], prices: Mapping[str, Any], currency: Any, billing: Any
) -> PriceTerms:
    """Priced terms for these license counts; `InvalidInput` naming the first field at fault
    (`currency`, `billing`, `prices.<service>`): a currency in use, a billing period, exactly
    one price for each licensed service, each a decimal string within the currency's minor
    units."""
    if currency is None:
        raise InvalidInput("currency: required with prices (ISO 4217, such as EUR)", "currency")
    if not isinstance(currency, str):
        raise InvalidInput("currency: must be an ISO 4217 code such as EUR", "currency")
    try:
        check_currency(currency)
    except AmountError as error:
        raise InvalidInput(f"currency: {error}", "currency") from None
    if billing not in tuple(Billing):
        raise InvalidInput("billing: required with prices: monthly or annual", "billing")
    for service in prices:
        if service not in licenses:
            raise InvalidInput(
                f"prices.{service}: has no license count; price only the services in licenses",
                f"prices.{service}",
            )
    lines = []
    for service in sorted(licenses):
        field = f"prices.{service}"
        if service not in prices:
            raise InvalidInput(
                f"{field}: missing; a priced offer has a price for every licensed service", field
            )
        text = prices[service]
        if not isinstance(text, str):
            raise InvalidInput(f'{field}: a price is a decimal string such as "12.50"', field)
        try:
            amount = parse_amount(text, currency)
        except AmountError as error:
            raise InvalidInput(f"{field}: {error}", field) from None
        lines.append(PriceLine(service, licenses[service], amount))
    return PriceTerms(currency, Billing(billing), tuple(lines))


def requested_terms(
    kind: str,
    licenses: Mapping[str, int] | None,
    prices: Mapping[str, Any] | None,
    currency: Any,
    billing: Any,
    offer: Offer | None,
) -> PriceTerms | None:
    """The price terms a request offers, or None for an unpriced offer (as before prices
    existed). A request that gives any of prices, currency or billing gives its own terms,
    whole; one that gives none takes the default prices of its listing offer, if it has some,
    for the services it licenses."""
    given = {"prices": prices, "currency": currency, "billing": billing}
    named = [field for field in TERMS_FIELDS if given[field] is not None]
    if kind != "purchase":
        if named:
            raise InvalidInput(f"{named[0]}: a trial is free; it carries no prices", named[0])
        return None
    if named:
        if prices is None:
            raise InvalidInput(
                f'prices: {named[0]} needs prices, such as {{"teams": "12.50"}}', "prices"
            )
        return price_terms(licenses or {}, prices, currency, billing)
    if offer is None or offer.prices is None:
        return None
    licensed = licenses or {}
    defaults = {service: price for service, price in offer.prices.items() if service in licensed}
    return price_terms(licensed, defaults, offer.currency, offer.billing)


def stored_terms(
    licenses: Mapping[str, int] | None,
    prices: Mapping[str, Any] | None,
    currency: str | None,
    billing: str | None,
) -> PriceTerms | None:
    """An invitation's terms as stored, checked again by the same rules (`InvalidInput` when
    they no longer hold); None for an unpriced one."""
    if prices is None and currency is None and billing is None:
        return None
    return price_terms(licenses or {}, prices or {}, currency, billing)
