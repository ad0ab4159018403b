"""Default prices on a listing's purchase offers: `prices`, `currency`, `billing`, checked with
located errors like every other field, described by the JSON Schema, and carried to the
backend by the partner snapshot."""

from __future__ import annotations

from datetime import UTC, datetime

import jsonschema
import pytest

from marketplace.catalog import CATALOG_FILE_NAME, load_catalog
from marketplace.schema import listing_json_schema
from marketplace.snapshot import decode_snapshot, encode_snapshot
from marketplace.validate import validate_directory
from marketplace.yamlsource import parse_document
from tests.conftest import EXAMPLE_LISTINGS, VALID_LISTING, ListingsFolder

PURCHASE = """\
  - id: seats
    type: purchase
    title: Mail and chat seats
    services: [exchange-online, teams]
"""
"""A purchase offer appended to the valid listing: offers[1] starts on line 24."""
PRICED = (
    PURCHASE
    + """\
    prices: {exchange-online: "4.00", teams: "12.50"}
    currency: EUR
    billing: annual
"""
)


def with_offer(listings: ListingsFolder, offer: str) -> list[str]:
    listings.write(text=VALID_LISTING + offer)
    return listings.problems()


def test_a_priced_purchase_offer_is_valid_and_reaches_the_backend(
    listings: ListingsFolder,
) -> None:
    assert with_offer(listings, PRICED) == []
    report = validate_directory(listings.root)
    [loaded] = report.listings
    offer = loaded.listing.offers[1]
    assert offer.prices == {"exchange-online": "4.00", "teams": "12.50"}
    assert (offer.currency, offer.billing) == ("EUR", "annual")
    assert report.catalog is not None
    data = encode_snapshot(report.catalog, [loaded.listing], datetime.now(UTC))
    assert decode_snapshot(data).listings["acme"].offers[1] == offer


@pytest.mark.parametrize(
    ("offer", "expected"),
    [
        (
            PURCHASE + '    prices: {exchange-online: 4.00, teams: "12.50"}\n'
            "    currency: EUR\n    billing: annual\n",
            [
                "acme.yaml:28:31: offers[1].prices.exchange-online: write the price in "
                'quotes, such as "12.50": unquoted, 4.0 is read as a floating-point number, '
                "which cannot hold money exactly"
            ],
        ),
        (
            PURCHASE + '    prices: {exchange-online: "4.001", teams: "1e3"}\n'
            "    currency: EUR\n    billing: annual\n",
            [
                "acme.yaml:28:31: offers[1].prices.exchange-online: '4.001' has too many "
                "decimals: EUR amounts have at most 2 decimals",
                "acme.yaml:28:47: offers[1].prices.teams: '1e3' is not a decimal amount: write "
                'digits with a point for decimals, such as "12.50" (no spaces, signs, grouping, '
                "commas or exponents)",
            ],
        ),
        (
            PURCHASE + '    prices: {exchange-online: "400", teams: "12.5"}\n'
            "    currency: JPY\n    billing: monthly\n",
            [
                "acme.yaml:28:45: offers[1].prices.teams: '12.5' has too many decimals: JPY "
                "amounts have no decimals"
            ],
        ),
        (
            PURCHASE + '    prices: {exchange-online: "-4", teams: "1000000000"}\n'
            "    currency: EUR\n    billing: monthly\n",
            [
                "acme.yaml:28:31: offers[1].prices.exchange-online: '-4' is negative; a price "
                "is 0 or more",
                "acme.yaml:28:44: offers[1].prices.teams: '1000000000' is too large: a price "
                "per license per month is below 1,000,000,000",
            ],
        ),
        (
            PURCHASE + '    prices: {exchange-online: "4"}\n    currency: EURO\n',
            [
                "acme.yaml:24:5: offers[1]: an offer with prices needs billing (such as "
                "billing: monthly)",
                "acme.yaml:28:13: offers[1].prices: no price for 'teams': an offer with prices "
                "has one for each of its services",
                "acme.yaml:29:15: offers[1].currency: 'EURO' is not an ISO 4217 currency code "
                "in use, such as EUR, USD or JPY; did you mean 'EUR'?",
            ],
        ),
        (
            PURCHASE + '    prices: {exchange-online: "4", teams: "5", intune: "6"}\n'
            "    billing: yearly\n",
            [
                "acme.yaml:24:5: offers[1]: an offer with prices needs currency (such as "
                "currency: EUR)",
                "acme.yaml:28:56: offers[1].prices.intune: 'intune' is not among this offer's "
                "services (exchange-online, teams)",
                "acme.yaml:29:14: offers[1].billing: must be one of 'monthly' or 'annual', "
                "found the text 'yearly'",
            ],
        ),
        (
            PURCHASE + "    currency: EUR\n    billing: annual\n",
            [
                "acme.yaml:28:15: offers[1].currency: currency goes with prices; add prices, "
                "or remove currency",
                "acme.yaml:29:14: offers[1].billing: billing goes with prices; add prices, or "
                "remove billing",
            ],
        ),
    ],
)
def test_bad_default_prices_are_located(
    listings: ListingsFolder, offer: str, expected: list[str]
) -> None:
    assert with_offer(listings, offer) == expected


def test_a_trial_has_no_prices(listings: ListingsFolder) -> None:
    listings.write_variant(
        "    delegated_admin: optional\n",
        '    delegated_admin: optional\n    prices: {exchange-online: "4"}\n'
        "    currency: EUR\n    billing: monthly\n",
    )
    assert listings.problems() == [
        "acme.yaml:24:13: offers[0].prices: a trial is free: only purchase offers have prices"
    ]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = listing_json_schema(load_catalog(EXAMPLE_LISTINGS / CATALOG_FILE_NAME))
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize(
    ("change", "valid"),
    [
        ({}, True),
        ({"prices": {"teams": 12.5, "exchange-online": "4"}}, False),
        ({"prices": {"teams": "1e3", "exchange-online": "4"}}, False),
        ({"prices": {"teamz": "1", "exchange-online": "4"}}, False),
        ({"currency": "euro"}, False),
        ({"billing": "yearly"}, False),
        ({"currency": None}, False),  # prices need currency and billing
        ({"prices": None}, False),  # currency and billing need prices
    ],
)
def test_the_schema_describes_default_prices(
    validator: jsonschema.Draft202012Validator, change: dict[str, object], valid: bool
) -> None:
    document = parse_document(VALID_LISTING + PRICED).value
    offer = {**document["offers"][1], **change}
    offer = {key: value for key, value in offer.items() if value is not None}
    errors = list(validator.iter_errors({**document, "offers": [document["offers"][0], offer]}))
    assert (errors == []) is valid, errors
