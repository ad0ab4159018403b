"""The pricing rules as plain functions, without a database: amounts from text, currencies and
their minor units, line totals and totals per month and billing period, offer defaults, and
the decision that needs "I accept these terms"."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, get_args

import pytest

from consent_app.pricing import Billing, PriceLine, PriceTerms, requested_terms, stored_terms
from consent_app.refusals import InvalidInput, Refused
from consent_app.rules import Asked, Decision, Roles, State, decide
from marketplace.model import Offer
from marketplace.money import (
    AmountError,
    amount_text,
    check_currency,
    currencies_in_use,
    minor_units,
    parse_amount,
)

LICENSES = {"teams": 25, "exchange-online": 10}


def terms(**change: Any) -> PriceTerms | None:
    request: dict[str, Any] = {
        "kind": "purchase",
        "licenses": LICENSES,
        "prices": {"teams": "12.50", "exchange-online": "4"},
        "currency": "EUR",
        "billing": "annual",
        "offer": None,
    }
    request.update(change)
    return requested_terms(**request)


def refused_field(**change: Any) -> str | None:
    with pytest.raises(InvalidInput) as refused:
        terms(**change)
    assert refused.value.message.startswith(f"{refused.value.field}: ")
    return refused.value.field


# --- amounts and currencies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("currency", "places"), [("JPY", 0), ("EUR", 2), ("USD", 2), ("BHD", 3), ("KWD", 3)]
)
def test_minor_units_come_from_the_currency_data(currency: str, places: int) -> None:
    assert minor_units(currency) == places


@pytest.mark.parametrize(
    ("text", "currency", "amount"),
    [
        ("12.50", "EUR", Decimal("12.50")),
        ("12.5", "EUR", Decimal("12.5")),
        ("12", "EUR", Decimal(12)),
        ("0", "EUR", Decimal(0)),
        ("1200", "JPY", Decimal(1200)),
        ("4.125", "BHD", Decimal("4.125")),
        ("999999999.99", "EUR", Decimal("999999999.99")),
    ],
)
def test_amounts_are_exact_decimals(text: str, currency: str, amount: Decimal) -> None:
    parsed = parse_amount(text, currency)
    assert parsed == amount and isinstance(parsed, Decimal)


@pytest.mark.parametrize(
    ("text", "currency", "words"),
    [
        ("12.5", "JPY", "no decimals"),
        ("12.345", "EUR", "at most 2 decimals"),
        ("4.1250", "BHD", "at most 3 decimals"),
        ("12.50", "JPY", "no decimals"),
        ("-1", "EUR", "negative"),
        ("1000000000", "EUR", "too large"),
        ("1e3", "EUR", "not a decimal"),
        ("NaN", "EUR", "not a decimal"),
        ("Infinity", "EUR", "not a decimal"),
        (" 12", "EUR", "not a decimal"),
        ("12 ", "EUR", "not a decimal"),
        ("12,50", "EUR", "not a decimal"),
        ("1,000", "EUR", "not a decimal"),
        ("+12", "EUR", "not a decimal"),
        ("012", "EUR", "not a decimal"),
        ("12.", "EUR", "not a decimal"),
        (".5", "EUR", "not a decimal"),
        ("", "EUR", "not a decimal"),
        ("١٢", "EUR", "not a decimal"),  # Arabic-Indic digits: Decimal() would take them
        ("0x10", "EUR", "not a decimal"),
    ],
)
def test_bad_amounts_say_why(text: str, currency: str, words: str) -> None:
    with pytest.raises(AmountError, match=words):
        parse_amount(text, currency)


def test_currencies_are_the_ones_in_use() -> None:
    assert {"EUR", "USD", "JPY", "BHD", "RUB", "GBP"} <= currencies_in_use()
    for gone in ("DEM", "XAU", "XXX", "CLF", "eur", "EURO", "", "E"):
        with pytest.raises(AmountError):
            check_currency(gone)
    with pytest.raises(AmountError, match="did you mean 'EUR'"):
        check_currency("EURO")


def test_amounts_are_written_with_the_currencys_minor_units() -> None:
    assert amount_text(Decimal("12.5"), "EUR") == "12.50"
    assert amount_text(Decimal("1200"), "JPY") == "1200"
    assert amount_text(Decimal("4.5"), "BHD") == "4.500"


# --- terms and totals ---------------------------------------------------------------------------


def test_lines_and_totals() -> None:
    found = terms()
    assert found == PriceTerms(
        "EUR",
        Billing.ANNUAL,
        (
            PriceLine("exchange-online", 10, Decimal(4)),
            PriceLine("teams", 25, Decimal("12.50")),
        ),
    )
    assert [line.total for line in found.lines] == [Decimal(40), Decimal("312.50")]
    assert found.total_per_month == Decimal("352.50")
    assert found.months == 12 and found.total_per_period == Decimal("4230.00")
    assert found.prices() == {"exchange-online": "4.00", "teams": "12.50"}


def test_monthly_billing_bills_one_month() -> None:
    found = terms(billing="monthly")
    assert found is not None and found.total_per_period == found.total_per_month


def test_totals_stay_exact_at_the_largest_amounts() -> None:
    found = terms(
        licenses={"teams": 100_000},
        prices={"teams": "999999999.999"},
        currency="BHD",
    )
    assert found is not None
    assert found.record()["total_per_billing_period"] == "1199999999998800.000"


def test_the_record_has_every_amount_as_a_string() -> None:
    found = terms(currency="JPY", prices={"teams": "1200", "exchange-online": "800"})
    assert found is not None
    assert found.record() == {
        "currency": "JPY",
        "billing": "annual",
        "lines": [
            {
                "service": "exchange-online",
                "licenses": 10,
                "unit_price_per_month": "800",
                "total_per_month": "8000",
            },
            {
                "service": "teams",
                "licenses": 25,
                "unit_price_per_month": "1200",
                "total_per_month": "30000",
            },
        ],
        "total_per_month": "38000",
        "months_per_billing_period": 12,
        "total_per_billing_period": "456000",
    }


def test_unpriced_offers_stay_unpriced() -> None:
    assert terms(prices=None, currency=None, billing=None) is None
    assert stored_terms(LICENSES, None, None, None) is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": None}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "XAU"}, "currency"),
        ({"currency": 978}, "currency"),
        ({"billing": None}, "billing"),
        ({"billing": "yearly"}, "billing"),
        ({"prices": None}, "prices"),  # currency and billing without prices
        ({"prices": {"teams": "12.50"}}, "prices.exchange-online"),  # a licensed service unpriced
        ({"prices": {"teams": "1", "exchange-online": "1", "intune": "1"}}, "prices.intune"),
        ({"prices": {"teams": 12.5, "exchange-online": "4"}}, "prices.teams"),
        ({"prices": {"teams": "12.505", "exchange-online": "4"}}, "prices.teams"),
        ({"prices": {"teams": "-1", "exchange-online": "4"}}, "prices.teams"),
        ({"prices": {"teams": "1" * 10, "exchange-online": "4"}}, "prices.teams"),
        ({"prices": {"teams": "1e3", "exchange-online": "4"}}, "prices.teams"),
        (
            {"prices": {"teams": "1", "exchange-online": "4.5"}, "currency": "JPY"},
            "prices.exchange-online",
        ),
        ({"kind": "trial", "licenses": None}, "prices"),
        ({"kind": "trial", "licenses": None, "prices": None}, "currency"),
        ({"kind": "trial", "licenses": None, "prices": None, "currency": None}, "billing"),
    ],
)
def test_each_bad_term_names_its_field(change: dict[str, Any], field: str) -> None:
    assert refused_field(**change) == field


# --- a listing offer's default prices -----------------------------------------------------------

OFFER = Offer.model_validate(
    {
        "id": "seats",
        "type": "purchase",
        "title": "Seats",
        "services": ["exchange-online", "teams", "sharepoint-online"],
        "prices": {"exchange-online": "4.00", "teams": "6.50", "sharepoint-online": "5"},
        "currency": "EUR",
        "billing": "monthly",
    }
)


def test_a_request_without_prices_takes_the_offers_defaults_for_its_licenses() -> None:
    found = terms(prices=None, currency=None, billing=None, offer=OFFER)
    assert found is not None
    assert found.currency == "EUR" and found.billing == Billing.MONTHLY
    assert found.prices() == {"exchange-online": "4.00", "teams": "6.50"}


def test_explicit_prices_replace_the_defaults_whole() -> None:
    found = terms(offer=OFFER, currency="JPY", prices={"teams": "900", "exchange-online": "500"})
    assert found is not None
    assert (found.currency, found.billing) == ("JPY", Billing.ANNUAL)
    assert found.prices() == {"exchange-online": "500", "teams": "900"}
    # giving part of the terms gives them all: the offer's currency is not mixed in
    assert refused_field(offer=OFFER, currency=None) == "currency"


def test_an_offer_without_defaults_leaves_the_request_unpriced() -> None:
    plain = OFFER.model_copy(update={"prices": None, "currency": None, "billing": None})
    assert terms(prices=None, currency=None, billing=None, offer=plain) is None


def test_stored_terms_are_checked_again() -> None:
    stored = stored_terms(LICENSES, {"teams": "12.50", "exchange-online": "4.00"}, "EUR", "annual")
    assert stored == terms()
    with pytest.raises(InvalidInput):
        stored_terms(LICENSES, {"teams": "12.50", "exchange-online": "4.00"}, "EUR", None)
    with pytest.raises(InvalidInput):
        stored_terms(LICENSES, {"teams": "12.5", "exchange-online": "4"}, "JPY", "annual")
    with pytest.raises(InvalidInput):
        stored_terms({"teams": 1}, {"teams": 12.5}, "EUR", "annual")  # a float crept in


# --- the decision -------------------------------------------------------------------------------


def decided(asked: Asked, decision: Decision) -> State:
    return decide("contoso-cloud", asked, "global", Roles(), decision).state


def test_accepting_a_priced_offer_needs_the_terms_ticked() -> None:
    priced = Asked(False, terms=terms())
    with pytest.raises(Refused) as refused:
        decided(priced, Decision(True))
    assert refused.value.code == "terms_not_accepted" and refused.value.field == "accept_terms"
    assert decided(priced, Decision(True, accept_terms=True)) == State.ACCEPTED
    assert decided(priced, Decision(False)) == State.DECLINED  # declining needs nothing
    assert decided(Asked(False), Decision(True)) == State.ACCEPTED  # unpriced: as before


def test_the_listing_format_and_the_api_name_the_same_billing_periods() -> None:
    from consent_app.invitations import InvitationRequest

    for model in (Offer, InvitationRequest):
        literal, _ = get_args(model.model_fields["billing"].annotation)  # Literal[…] | None
        assert get_args(literal) == tuple(Billing), model.__name__
