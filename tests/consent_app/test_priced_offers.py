"""Priced purchase offers end to end (README: Priced purchase offers): the API takes prices,
currency and billing or refuses them naming the field, a listing offer's defaults apply, the
customer sees the lines and totals in their language and currency format, accepting needs
"I accept these terms", and the accepted terms are in the audit event and the receipt."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from consent_app.audit import verify
from consent_app.models import AuditEvent, Invitation, OutboxMessage
from tests.conftest import EXAMPLE_LISTINGS
from tests.consent_app.conftest import ADMIN, CHECKED, Marketplace, csrf_token

PRICED: dict[str, Any] = {
    "type": "purchase",
    "offer_id": None,
    "licenses": {"teams": 25, "exchange-online": 10},
    "prices": {"teams": "12.50", "exchange-online": "4"},
    "currency": "EUR",
    "billing": "annual",
}
"""25 × 12.50 + 10 × 4.00 = 352.50 EUR a month, 4,230.00 a year."""
IN_YEN: dict[str, Any] = {
    **PRICED,
    "prices": {"teams": "1200", "exchange-online": "800"},
    "currency": "JPY",
    "billing": "monthly",
}
"""25 × 1,200 + 10 × 800 = 38,000 JPY a month, billed monthly."""


@pytest.fixture
def key(market: Marketplace) -> str:
    market.add_tenant()
    return market.key("contoso-cloud")


def stored(market: Marketplace) -> tuple[int, int, int]:
    """(invitations, audit events, mail messages) in the database."""
    with market.backend.read() as session:
        return (
            session.execute(select(func.count(Invitation.id))).scalar_one(),
            session.execute(select(func.count(AuditEvent.id))).scalar_one(),
            session.execute(select(func.count(OutboxMessage.id))).scalar_one(),
        )


def events(market: Marketplace, action: str) -> list[AuditEvent]:
    with market.backend.read() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.execute(query).scalars())


def states(market: Marketplace) -> list[str]:
    with market.backend.read() as session:
        return list(session.execute(select(Invitation.state)).scalars())


# --- the partner API ----------------------------------------------------------------------------


def test_a_priced_offer_is_stored_shown_to_its_partner_and_mailed(
    market: Marketplace, key: str
) -> None:
    created = market.invite(key, **PRICED)
    assert created.status_code == 201, created.get_json()
    shown = market.api(key, "GET", f"/invitations/{created.get_json()['id']}").get_json()
    assert shown["prices"] == {"exchange-online": "4.00", "teams": "12.50"}
    assert (shown["currency"], shown["billing"]) == ("EUR", "annual")
    [listed] = market.api(key, "GET", "/invitations").get_json()["invitations"]
    assert listed["prices"] == shown["prices"]
    [mail] = market.mails(ADMIN)
    english, russian = mail.body.replace("\r\n", "\n").split("\n-----\n")
    assert "Teams (chat and meetings): 25 licenses × €12.50 = €312.50 per month" in english
    assert "Total per month: €352.50." in english
    assert "Billed annually: €4,230.00 per year." in english
    assert "I accept these terms" in english
    assert "25 лицензий × 12,50\xa0€ = 312,50\xa0€ в месяц" in russian
    assert "4\xa0230,00\xa0€ в год" in russian
    [event] = events(market, "invitation.created")
    assert event.details["price_terms"]["total_per_billing_period"] == "4230.00"


def test_unpriced_purchase_offers_stay_as_they_were(market: Marketplace, key: str) -> None:
    created = market.invite(key, type="purchase", offer_id=None, licenses={"teams": 40})
    assert created.status_code == 201
    shown = market.api(key, "GET", f"/invitations/{created.get_json()['id']}").get_json()
    assert (shown["prices"], shown["currency"], shown["billing"]) == (None, None, None)
    page = market.client.get(market.link()).get_data(as_text=True)
    assert 'name="accept_terms"' not in page and "Total per month" not in page
    assert "per month" not in market.mails(ADMIN)[0].body
    accepted = market.decide(market.link())
    assert accepted.status_code == 200 and states(market) == ["accepted"]
    [event] = events(market, "invitation.accepted")
    assert event.details["terms_accepted"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"prices": {"teams": 12.5, "exchange-online": "4"}}, "prices.teams"),  # a JSON number
        ({"prices": {"teams": 12, "exchange-online": "4"}}, "prices.teams"),
        ({"prices": {"teams": "1e3", "exchange-online": "4"}}, "prices.teams"),
        ({"prices": {"teams": "NaN", "exchange-online": "4"}}, "prices.teams"),
        ({"prices": {"teams": " 12", "exchange-online": "4"}}, "prices.teams"),
        ({"prices": {"teams": "12,50", "exchange-online": "4"}}, "prices.teams"),
        ({"prices": {"teams": "-12.50", "exchange-online": "4"}}, "prices.teams"),
        ({"prices": {"teams": "1000000000", "exchange-online": "4"}}, "prices.teams"),
        ({"prices": {"teams": "9" * 40, "exchange-online": "4"}}, "prices.teams"),
        ({"prices": {"teams": "12.505", "exchange-online": "4"}}, "prices.teams"),
        ({**IN_YEN, "prices": {"teams": "1200.5", "exchange-online": "800"}}, "prices.teams"),
        (
            {"currency": "BHD", "prices": {"teams": "1.0001", "exchange-online": "4"}},
            "prices.teams",
        ),
        ({"prices": {"teams": "12.50"}}, "prices.exchange-online"),  # a licensed service unpriced
        ({"prices": {"teams": "1", "exchange-online": "1", "intune": "1"}}, "prices.intune"),
        ({"prices": ["12.50"]}, "prices"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "XAU"}, "currency"),
        ({"currency": "eur"}, "currency"),
        ({"currency": None}, "currency"),
        ({"billing": None}, "billing"),
        ({"billing": "yearly"}, "billing"),
        ({"prices": None}, "prices"),
        # a trial is free
        ({"type": "trial", "offer_id": "trial-collab", "licenses": None}, "prices"),
        (
            {"type": "trial", "offer_id": "trial-collab", "licenses": None, "prices": None},
            "currency",
        ),
    ],
)
def test_bad_terms_are_refused_naming_the_field_and_nothing_is_stored(
    market: Marketplace, key: str, change: dict[str, Any], field: str
) -> None:
    before = stored(market)
    merged = {**PRICED, **change}
    body = {
        name: value for name, value in merged.items() if value is not None or name == "offer_id"
    }
    response = market.invite(key, **body)
    assert response.status_code == 400, response.get_json()
    answer = response.get_json()
    assert answer["error"] == "validation_error" and answer["field"] == field
    assert answer["message"]
    assert stored(market) == before and market.mails() == []


def test_a_listing_offers_default_prices_apply_unless_the_request_gives_its_own(
    market: Marketplace, key: str
) -> None:
    # contoso-cloud's files-move offer: SharePoint 6.50, OneDrive 4.20 USD, billed annually
    defaults = market.invite(key, type="purchase", offer_id="files-move", licenses={"onedrive": 30})
    assert defaults.status_code == 201, defaults.get_json()
    shown = market.api(key, "GET", f"/invitations/{defaults.get_json()['id']}").get_json()
    assert shown["prices"] == {"onedrive": "4.20"}
    assert (shown["currency"], shown["billing"]) == ("USD", "annual")
    assert "Billed annually: $1,512.00 per year." in market.mails(ADMIN)[0].body
    own = market.invite(
        key,
        type="purchase",
        offer_id="files-move",
        licenses={"onedrive": 30},
        prices={"onedrive": "3.99"},
        currency="EUR",
        billing="monthly",
    )
    shown = market.api(key, "GET", f"/invitations/{own.get_json()['id']}").get_json()
    assert (shown["prices"], shown["currency"], shown["billing"]) == (
        {"onedrive": "3.99"},
        "EUR",
        "monthly",
    )
    # part of the terms is all of them: the offer's currency is not mixed into a request's
    partial = market.invite(
        key, type="purchase", offer_id="files-move", licenses={"onedrive": 30}, billing="monthly"
    )
    assert partial.status_code == 400 and partial.get_json()["field"] == "prices"


def test_the_openapi_document_describes_the_terms(market: Marketplace) -> None:
    document = market.client.get("/api/v1/openapi.json").get_json()
    request = document["components"]["schemas"]["InvitationRequest"]["properties"]
    assert {"prices", "currency", "billing"} <= set(request)
    assert "12.50" in json.dumps(request["prices"])
    shown = document["components"]["schemas"]["Invitation"]
    assert {"prices", "currency", "billing"} <= set(shown["required"])


# --- the customer's page ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "language", "expected"),
    [
        (
            PRICED,
            "en",
            [
                "Price per license per month",
                "€12.50",
                "€312.50",
                "€4.00",
                "€40.00",
                "€352.50",
                "Billed annually: total per year",
                "€4,230.00",
                "I accept these terms",
            ],
        ),
        (
            PRICED,
            "ru",
            [
                "Цена за лицензию в месяц",
                "12,50\xa0€",
                "312,50\xa0€",
                "352,50\xa0€",
                "4\xa0230,00\xa0€",
                "Я принимаю эти условия",
            ],
        ),
        (
            IN_YEN,
            "en",
            ["¥1,200", "¥30,000", "¥800", "¥8,000", "¥38,000", "Billed monthly: total per month"],
        ),
        (
            IN_YEN,
            "ru",
            ["1\xa0200\xa0¥", "30\xa0000\xa0¥", "38\xa0000\xa0¥", "Оплата ежемесячно"],
        ),
    ],
)
def test_the_page_shows_each_line_and_the_totals_in_the_customers_language(
    market: Marketplace, key: str, body: dict[str, Any], language: str, expected: list[str]
) -> None:
    market.invite(key, **body)
    page = market.client.get(f"{market.link()}?lang={language}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for text in expected:
        assert text in html, text
    assert 'name="accept_terms"' in html


def test_accepting_without_ticking_the_terms_is_refused_and_changes_nothing(
    market: Marketplace, key: str
) -> None:
    market.invite(key, **PRICED)
    link = market.link()
    before = stored(market)
    refused = market.decide(link, make_partner_of_record=CHECKED)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400
    # the message stands beside the box to tick, which takes the focus
    [box] = re.findall(r'<input[^>]*name="accept_terms"[^>]*>', html)
    assert "autofocus" in box
    beside = html.split(box)[1].split("</div>")[0]
    assert 'tick "I accept these terms"' in beside.replace("&#34;", '"')
    assert states(market) == ["pending"] and stored(market) == before
    russian = market.decide(f"{link}?lang=ru")
    assert "Я принимаю эти условия" in russian.get_data(as_text=True)
    assert russian.status_code == 400 and states(market) == ["pending"]
    # what a script sends for an unticked box is not a tick
    for unticked in ("0", "off", "no", "false"):
        assert market.decide(link, accept_terms=unticked).status_code == 400
    assert states(market) == ["pending"] and stored(market) == before
    # declining needs no tick
    assert market.decide(link, "decline").status_code == 200
    assert states(market) == ["declined"]


def test_the_accepted_terms_are_in_the_audit_event_and_the_receipt(
    market: Marketplace, key: str
) -> None:
    market.invite(key, **PRICED)
    accepted = market.decide(market.link(), accept_terms=CHECKED)
    assert accepted.status_code == 200 and states(market) == ["accepted"]
    expected = {
        "currency": "EUR",
        "billing": "annual",
        "lines": [
            {
                "service": "exchange-online",
                "licenses": 10,
                "unit_price_per_month": "4.00",
                "total_per_month": "40.00",
            },
            {
                "service": "teams",
                "licenses": 25,
                "unit_price_per_month": "12.50",
                "total_per_month": "312.50",
            },
        ],
        "total_per_month": "352.50",
        "months_per_billing_period": 12,
        "total_per_billing_period": "4230.00",
    }
    [event] = events(market, "invitation.accepted")
    assert event.details["terms_accepted"] == expected
    client = market.sign_in()
    receipt = json.loads(client.get(f"/account/receipts/{event.id}.json").get_data(as_text=True))
    assert receipt["details"]["terms_accepted"] == expected
    with market.backend.read() as session:
        assert verify(session).ok


def test_the_page_shows_the_stored_terms_not_the_listings_defaults_now(
    app_factory: Callable[..., Flask], tmp_path: Path
) -> None:
    """A partner that changes its offer's default prices after sending does not change what
    the customer is shown or accepts."""
    market = Marketplace(app_factory())
    market.add_tenant()
    key = market.key("contoso-cloud")
    market.invite(key, type="purchase", offer_id="files-move", licenses={"onedrive": 30})
    link = market.link()
    changed = tmp_path / "changed-listings"
    shutil.copytree(EXAMPLE_LISTINGS, changed)
    contoso = changed / "contoso-cloud.yaml"
    text = contoso.read_text(encoding="utf-8")
    contoso.write_text(text.replace('onedrive: "4.20"', 'onedrive: "9.99"'), encoding="utf-8")
    later = Marketplace(app_factory(LISTINGS_DIR=changed))
    html = later.client.get(link).get_data(as_text=True)
    assert "$4.20" in html and "$9.99" not in html
    assert later.decide(link, accept_terms=CHECKED).status_code == 200
    [event] = events(later, "invitation.accepted")
    assert event.details["terms_accepted"]["lines"][0]["unit_price_per_month"] == "4.20"


def test_terms_that_no_longer_hold_when_the_customer_decides_refuse_acceptance(
    market: Marketplace, key: str
) -> None:
    """Every rule that allowed the terms is checked again at decision time: terms changed in
    the database since (here a price no longer within the currency's minor units) cannot be
    accepted, only declined."""
    market.invite(key, **PRICED)
    link = market.link()
    page = market.client.get(link)
    with market.backend.write() as session:
        session.execute(update(Invitation).values(currency="JPY"))
    html = market.client.get(link).get_data(as_text=True)
    assert "can no longer be accepted" in html and 'value="accept"' not in html
    token = csrf_token(page.get_data(as_text=True))
    forced = market.client.post(
        link, data={"csrf_token": token, "decision": "accept", "accept_terms": CHECKED}
    )
    assert forced.status_code == 422 and states(market) == ["pending"]
    assert market.decide(link, "decline").status_code == 200


def test_the_signed_in_review_page_needs_the_terms_too(market: Marketplace, key: str) -> None:
    created = market.invite(key, **PRICED).get_json()
    client = market.sign_in()
    path = f"/account/invitations/{created['id']}"
    page = client.get(path)
    assert page.status_code == 200 and "€4,230.00" in page.get_data(as_text=True)
    form = {"csrf_token": csrf_token(page.get_data(as_text=True)), "decision": "accept"}
    assert client.post(path, data=form).status_code == 400
    assert states(market) == ["pending"]
    assert client.post(path, data={**form, "accept_terms": CHECKED}).status_code == 200
    assert states(market) == ["accepted"]
