"""The Partner overview's invitations (README: Partner overview): the new-invitation form is
the partner API's request (same rules, same refusals beside the field they name, same audit
events), the preview shows what the customer will read, Send creates one invitation however
often it is pressed, and the list, cancel and "send it again" work on the partner's own
invitations only."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from consent_app.invitation_form import InvitationForm, form_field
from consent_app.invitations import MAX_RESENDS
from consent_app.models import AuditEvent, Invitation, InvitationLink, OutboxMessage
from consent_app.tenants import add_admin, find_tenant
from tests.consent_app.conftest import ADMIN, CHECKED, OPERATOR, TENANT, Marketplace, csrf_token
from tests.consent_app.partner_portal import partner_client

SECOND_ADMIN = "it@fabrikam.example"
NEW_TENANT = "northwindtraders.onmicrosoft.com"
NEW_ADMIN = "owner@northwindtraders.example"


# --- helpers -------------------------------------------------------------------------------------


class Clock:
    """A clock the test moves (minute-exact, so pages made a moment apart read the same)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(second=0, microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(market: Marketplace) -> Clock:
    found = Clock()
    market.backend.clock = found
    return found


@pytest.fixture
def contoso(market: Marketplace, clock: Clock) -> FlaskClient:
    """Contoso's partner user, signed in; Fabrikam a customer with two admins."""
    market.add_tenant(admins=(ADMIN, SECOND_ADMIN))
    return partner_client(market)


def text_of(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def visible(html: str) -> str:
    """The page's text as read: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def counts(market: Marketplace) -> tuple[int, int, int]:
    """(invitations, audit events, outbox messages)."""
    with market.backend.read() as session:
        return (
            session.execute(select(func.count(Invitation.id))).scalar_one(),
            session.execute(select(func.count(AuditEvent.id))).scalar_one(),
            session.execute(select(func.count(OutboxMessage.id))).scalar_one(),
        )


def post_form(
    client: FlaskClient, fields: dict[str, Any], action: str = "preview", query: str = ""
) -> TestResponse:
    """Open the new-invitation form, then submit `fields` with the button `action`."""
    page = client.get(f"/partner/invitations/new{query}")
    assert page.status_code == 200, text_of(page)
    data = MultiDict({"csrf_token": csrf_token(text_of(page)), "action": action})
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            data.add(name, item)
    return client.post("/partner/invitations/new", data=data)


def send(client: FlaskClient, fields: dict[str, Any]) -> TestResponse:
    """Preview `fields`, then press Send on the preview."""
    preview = post_form(client, fields)
    assert preview.status_code == 200, visible(text_of(preview))
    return press(client, text_of(preview), "send")


def hidden_fields(html: str) -> MultiDict[str, str]:
    """The hidden fields of the preview's form (the values carried to Send and Change)."""
    found: MultiDict[str, str] = MultiDict()
    for tag in re.findall(r"<input[^>]*>", html):
        if 'type="hidden"' in tag:
            name = re.search(r'name="([^"]*)"', tag)
            value = re.search(r'value="([^"]*)"', tag)
            assert name and value, tag
            found.add(unescape(name.group(1)), unescape(value.group(1)))
    return found


def press(client: FlaskClient, preview_html: str, action: str) -> TestResponse:
    data = hidden_fields(preview_html)
    data["action"] = action
    return client.post("/partner/invitations/new", data=data)


def error_beside(html: str, field: str) -> str:
    """The error text shown in the element of form field `field` (its input's container)."""
    at = html.index(f'id="{field}"')
    container = html.rfind('<div class="cp-field', 0, at)
    for opener in ('<fieldset class="cp-field', "<tr"):
        container = max(container, html.rfind(opener, 0, at))
    end = min(
        index
        for index in (
            html.find("</div>", at),
            html.find("</tr>", at),
            html.find("</fieldset>", at),
        )
        if index > 0
    )
    errors = re.findall(r'<p class="cp-error" role="alert">(.*?)</p>', html[container:end], re.S)
    assert errors, f"no error beside {field}: {visible(html[container:end])}"
    return unescape(" ".join(errors))


def invitations(market: Marketplace) -> list[Invitation]:
    with market.backend.read() as session:
        return list(session.execute(select(Invitation).order_by(Invitation.created_at)).scalars())


def events(market: Marketplace, action: str) -> list[AuditEvent]:
    with market.backend.read() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.execute(query).scalars())


PRICED = {
    "type": "purchase",
    "tenant": TENANT,
    "licenses-teams": "25",
    "licenses-exchange-online": "10",
    "price-teams": "12.50",
    "price-exchange-online": "4",
    "currency": "EUR",
    "billing": "annual",
    "delegated_admin": CHECKED,
}
"""A priced purchase offer with DA, from Contoso's listing services: 352.50 EUR a month."""
PRICED_API = {
    "type": "purchase",
    "tenant": TENANT,
    "licenses": {"teams": 25, "exchange-online": 10},
    "prices": {"teams": "12.50", "exchange-online": "4"},
    "currency": "EUR",
    "billing": "annual",
    "delegated_admin": True,
}


# --- the form as the API's request (pure) --------------------------------------------------------


def test_the_form_is_read_as_the_api_body() -> None:
    form = InvitationForm.read(MultiDict({**PRICED, "tenant": "  " + TENANT + " "}))
    assert form.body(None, 365) == PRICED_API
    trial = InvitationForm.read(
        MultiDict(
            {
                "type": "trial",
                "offer_id": "trial-collab",
                "tenant": NEW_TENANT,
                "customer_email": NEW_ADMIN,
                "customer_company": "Northwind",
            }
        )
    )
    assert trial.body(None, 365) == {
        "type": "trial",
        "tenant": NEW_TENANT,
        "offer_id": "trial-collab",
        "customer": {"email": NEW_ADMIN, "company": "Northwind"},
    }


def test_what_is_not_a_number_goes_to_the_api_as_typed() -> None:
    form = InvitationForm.read(
        MultiDict(
            {
                "type": "purchase",
                "licenses-teams": "ten",
                "licenses-onedrive": "",
                "currency": "eur",
                "billing": "monthly",
            }
        )
    )
    body = form.body(None, 365)
    assert body["licenses"] == {"teams": "ten"}  # the API names licenses.teams
    assert body["currency"] == "EUR" and body["billing"] == "monthly"
    assert "prices" not in body


def test_billing_alone_is_no_price_terms() -> None:
    """The billing buttons always send a value: without prices or currency, it is an unpriced
    offer (or the offer's default prices), not "billing needs prices"."""
    form = InvitationForm.read(
        MultiDict({"type": "purchase", "licenses-teams": "3", "billing": "annual"})
    )
    assert "billing" not in form.body(None, 365)


@pytest.mark.parametrize(
    ("roles", "days", "expected"),
    [
        ([], "", True),
        (["teams-admin"], "", {"roles": ["teams-admin"], "duration_days": 365}),
        ([], "90", {"roles": ["teams-admin", "user-admin"], "duration_days": 90}),
        (["user-admin"], "x", {"roles": ["user-admin"], "duration_days": "x"}),
    ],
)
def test_a_delegated_admin_request_in_the_form(roles: list[str], days: str, expected: Any) -> None:
    data = MultiDict([("type", "trial"), ("delegated_admin", "y"), ("delegated_admin_days", days)])
    for role in roles:
        data.add("delegated_admin_roles", role)
    body = InvitationForm.read(data).body(("teams-admin", "user-admin"), 365)
    assert body["delegated_admin"] == expected


@pytest.mark.parametrize(
    ("api_field", "code", "form_name"),
    [
        ("type", "validation_error", "type"),
        ("customer", "customer_required", "customer_email"),
        ("customer.email", "customer_is_partner", "customer_email"),
        ("customer.company", "validation_error", "customer_company"),
        ("licenses.teams", "validation_error", "licenses-teams"),
        ("prices.exchange-online", "validation_error", "price-exchange-online"),
        ("delegated_admin.roles.1", "validation_error", "delegated_admin_roles"),
        ("delegated_admin.duration_days", "validation_error", "delegated_admin_days"),
        (None, "cloud_not_supported", "tenant"),
        (None, "conflict", None),
    ],
)
def test_each_api_field_has_its_form_field(
    api_field: str | None, code: str, form_name: str | None
) -> None:
    assert form_field(api_field, code) == form_name


def test_the_form_carries_its_values_through_the_preview() -> None:
    form = InvitationForm.read(MultiDict({**PRICED, "delegated_admin_roles": "teams-admin"}))
    assert InvitationForm.read(MultiDict(form.hidden())) == form


# --- the pages -----------------------------------------------------------------------------------


def general_errors(html: str) -> list[str]:
    """The errors shown above the form (about no field the page shows)."""
    found = re.findall(
        r'<div class="cp-notice cp-notice--error" role="alert"><p>(.*?)</p>', html, re.S
    )
    return [unescape(message) for message in found]


TRIAL = {"type": "trial", "offer_id": "trial-collab", "tenant": TENANT}
NEW_CUSTOMER = {"tenant": NEW_TENANT, "customer_email": NEW_ADMIN, "customer_company": "Northwind"}
SOVEREIGN = "contosochina.partner.onmschina.cn"

# (what the form sends, the same request as the API's body, the form field the error is beside;
# "" for above the form, and the query the form page was opened with)
SAME_ERRORS: list[tuple[dict[str, Any], dict[str, Any], str, str]] = [
    ({**TRIAL, "type": "gift"}, {**TRIAL, "type": "gift"}, "", ""),
    ({**TRIAL, "tenant": ""}, {**TRIAL, "tenant": ""}, "tenant", ""),
    ({**TRIAL, "tenant": "not a domain!"}, {**TRIAL, "tenant": "not a domain!"}, "tenant", ""),
    ({**TRIAL, "tenant": SOVEREIGN}, {**TRIAL, "tenant": SOVEREIGN}, "tenant", ""),
    ({**TRIAL, "tenant": NEW_TENANT}, {**TRIAL, "tenant": NEW_TENANT}, "customer_email", ""),
    (
        {**TRIAL, **NEW_CUSTOMER, "customer_email": "nope"},
        {**TRIAL, "tenant": NEW_TENANT, "customer": {"email": "nope", "company": "Northwind"}},
        "customer_email",
        "",
    ),
    (
        {**TRIAL, **NEW_CUSTOMER, "customer_company": ""},
        {**TRIAL, "tenant": NEW_TENANT, "customer": {"email": NEW_ADMIN, "company": ""}},
        "customer_company",
        "",
    ),
    (
        {**TRIAL, **NEW_CUSTOMER, "customer_email": "it@contoso.example"},
        {
            **TRIAL,
            "tenant": NEW_TENANT,
            "customer": {"email": "it@contoso.example", "company": "Northwind"},
        },
        "customer_email",
        "",
    ),
    (
        {**TRIAL, **NEW_CUSTOMER, "tenant": "northwind.example"},
        {
            **TRIAL,
            "tenant": "northwind.example",
            "customer": {"email": NEW_ADMIN, "company": "Northwind"},
        },
        "tenant",
        "",
    ),
    ({"type": "trial", "tenant": TENANT}, {"type": "trial", "tenant": TENANT}, "offer_id", ""),
    ({**TRIAL, "offer_id": "nope"}, {**TRIAL, "offer_id": "nope"}, "offer_id", ""),
    (
        {"type": "purchase", "tenant": TENANT, "billing": "monthly"},
        {"type": "purchase", "tenant": TENANT},
        "licenses",
        "?type=purchase",
    ),
    (
        {"type": "purchase", "tenant": TENANT, "licenses-teams": "ten"},
        {"type": "purchase", "tenant": TENANT, "licenses": {"teams": "ten"}},
        "licenses-teams",
        "?type=purchase",
    ),
    (
        {"type": "purchase", "tenant": TENANT, "licenses-teams": "0"},
        {"type": "purchase", "tenant": TENANT, "licenses": {"teams": 0}},
        "licenses-teams",
        "?type=purchase",
    ),
    (
        {"type": "purchase", "tenant": TENANT, "licenses-teams": "300001"},
        {"type": "purchase", "tenant": TENANT, "licenses": {"teams": 300001}},
        "licenses-teams",
        "?type=purchase",
    ),
    (
        {**PRICED, "price-teams": "12.555"},
        {**PRICED_API, "prices": {"teams": "12.555", "exchange-online": "4"}},
        "price-teams",
        "?type=purchase",
    ),
    (
        {**PRICED, "price-teams": "-1"},
        {**PRICED_API, "prices": {"teams": "-1", "exchange-online": "4"}},
        "price-teams",
        "?type=purchase",
    ),
    (
        {**PRICED, "price-onedrive": "2"},
        {**PRICED_API, "prices": {"teams": "12.50", "exchange-online": "4", "onedrive": "2"}},
        "price-onedrive",
        "?type=purchase",
    ),
    (
        {**PRICED, "price-exchange-online": ""},
        {**PRICED_API, "prices": {"teams": "12.50"}},
        "price-exchange-online",
        "?type=purchase",
    ),
    (
        {**PRICED, "currency": "EUROS"},
        {**PRICED_API, "currency": "EUROS"},
        "currency",
        "?type=purchase",
    ),
    (
        {**PRICED, "currency": ""},
        {key: value for key, value in PRICED_API.items() if key != "currency"},
        "currency",
        "?type=purchase",
    ),
    (
        {**PRICED, "price-teams": "", "price-exchange-online": ""},
        {key: value for key, value in PRICED_API.items() if key != "prices"},
        "licenses",
        "?type=purchase",
    ),
    (
        {**PRICED, "billing": "weekly"},
        {**PRICED_API, "billing": "weekly"},
        "billing",
        "?type=purchase",
    ),
    (
        {
            "type": "purchase",
            "offer_id": "files-move",
            "tenant": TENANT,
            "licenses-onedrive": "5",
            "delegated_admin": CHECKED,
        },
        {
            "type": "purchase",
            "offer_id": "files-move",
            "tenant": TENANT,
            "licenses": {"onedrive": 5},
            "delegated_admin": True,
        },
        "",  # the offer's page shows no DA box, but says why
        "?type=purchase&offer_id=files-move",
    ),
    (
        {"type": "purchase", "offer_id": "files-move", "tenant": TENANT, "licenses-teams": "5"},
        {"type": "purchase", "offer_id": "files-move", "tenant": TENANT, "licenses": {"teams": 5}},
        "",  # no such row on the offer's page
        "?type=purchase&offer_id=files-move",
    ),
    (
        {**TRIAL, "delegated_admin": CHECKED, "delegated_admin_days": "0"},
        {**TRIAL, "delegated_admin": {"roles": ["global-admin"], "duration_days": 0}},
        "delegated_admin_days",
        "",
    ),
    (
        {**TRIAL, "delegated_admin": CHECKED, "delegated_admin_days": "a year"},
        {**TRIAL, "delegated_admin": {"roles": ["global-admin"], "duration_days": "a year"}},
        "delegated_admin_days",
        "",
    ),
    (
        {**TRIAL, "delegated_admin": CHECKED, "delegated_admin_roles": ["user-admin", "root"]},
        {**TRIAL, "delegated_admin": {"roles": ["user-admin", "root"], "duration_days": 365}},
        "delegated_admin_roles",
        "",
    ),
    (
        {
            **TRIAL,
            "delegated_admin": CHECKED,
            "delegated_admin_roles": ["global-admin", "user-admin"],
        },
        {
            **TRIAL,
            "delegated_admin": {"roles": ["global-admin", "user-admin"], "duration_days": 365},
        },
        "delegated_admin_roles",
        "",
    ),
]


@pytest.mark.parametrize(("form", "body", "field", "query"), SAME_ERRORS)
def test_the_form_refuses_what_the_api_refuses_beside_the_field(
    market: Marketplace,
    contoso: FlaskClient,
    form: dict[str, Any],
    body: dict[str, Any],
    field: str,
    query: str,
) -> None:
    market.add_tenant(SOVEREIGN, "Contoso China", ("admin@contoso-china.example",), "21vianet")
    key = market.key("contoso-cloud")
    before = counts(market)
    api = market.api(key, "POST", "/invitations", body)
    assert api.status_code >= 400, api.get_json()
    refused = api.get_json()
    page = post_form(contoso, form, query=query)
    assert page.status_code == api.status_code
    html = text_of(page)
    message = refused["message"]
    if refused.get("field") and message.startswith(refused["field"] + ": "):
        message = message[len(refused["field"]) + 2 :]
    if field:
        assert error_beside(html, field) == message
    else:
        assert message in general_errors(html)
    assert counts(market) == before  # nothing was stored, audited or mailed


def test_every_form_field_keeps_what_was_typed(contoso: FlaskClient) -> None:
    fields = {
        **PRICED,
        "price-teams": "12.555",
        "delegated_admin_days": "90",
        "delegated_admin_roles": ["teams-admin"],
    }
    html = text_of(post_form(contoso, fields, query="?type=purchase"))
    for name in (
        "licenses-teams",
        "licenses-exchange-online",
        "price-teams",
        "currency",
        "delegated_admin_days",
    ):
        value = fields[name]
        assert re.search(rf'<input[^>]*name="{name}"[^>]*value="{re.escape(value)}"', html), name
    assert re.search(r'<input checked[^>]*name="billing"[^>]*value="annual"', html)
    assert re.search(
        r'<input checked[^>]*name="delegated_admin_roles"[^>]*value="teams-admin"', html
    )
    assert re.search(r'<input checked[^>]*name="delegated_admin"', html)


def section(html: str, labelled_by: str) -> str:
    """The text of the `<section aria-labelledby=…>` of a page."""
    found = re.search(
        rf'<section class="cp-card" aria-labelledby="{labelled_by}">(.*?)</section>', html, re.S
    )
    assert found, labelled_by
    return visible(found.group(1))


def between(html: str, start: str, end: str) -> str:
    text = visible(html)
    assert start in text and end in text, (start, text)
    return text[text.index(start) : text.index(end, text.index(start)) + len(end)]


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_preview_shows_what_the_customer_will_see(
    market: Marketplace, contoso: FlaskClient, lang: str
) -> None:
    contoso.get(f"/partner/invitations/?lang={lang}")  # the partner reads its pages in `lang`
    fields = {
        **PRICED,
        "delegated_admin_roles": ["teams-admin", "user-admin"],
        "delegated_admin_days": "90",
    }
    preview = post_form(contoso, fields, query="?type=purchase")
    assert preview.status_code == 200, visible(text_of(preview))
    before = text_of(preview)
    assert counts(market)[0] == 0  # a preview stores nothing
    assert market.mails(ADMIN) == []
    assert press(contoso, before, "send").status_code == 302

    customer = market.app.test_client()
    page = customer.get(market.link(ADMIN) + f"?lang={lang}")
    assert page.status_code == 200
    after = text_of(page)
    title = re.search(r'<p class="cp-preview__title">(.*?)</p>', before, re.S)
    heading = re.search(r"<h1>(.*?)</h1>", after, re.S)
    assert title and heading and visible(title.group(1)) == visible(heading.group(1))
    for part in ("cp-who", "cp-what"):
        assert section(before, part) == section(after, part)
    terms = re.compile(r"<p>(?:To accept this offer|Принимая это предложение)(.*?)</p>", re.S)
    shown, read = terms.search(before), terms.search(after)
    assert shown and read and shown.group(0) == read.group(0)
    roles = re.compile(r'<ul class="cp-roles">(.*?)</ul>', re.S)
    shown_roles, read_roles = roles.search(before), roles.search(after)
    assert (
        shown_roles and read_roles and visible(shown_roles.group(1)) == visible(read_roles.group(1))
    )
    start, end = ("also asks", "at a time.") if lang == "en" else ("также просит", "только один.")
    assert between(before, start, end) == between(after, start, end)
    if lang == "ru":
        assert "Предпросмотр" in visible(before)
        assert "4 230,00" in section(before, "cp-what")  # the customer's number format


def test_send_creates_the_invitation_once_and_audits_the_partner_user(
    market: Marketplace, contoso: FlaskClient
) -> None:
    preview = post_form(contoso, PRICED, query="?type=purchase")
    html = text_of(preview)
    first = press(contoso, html, "send")
    assert first.status_code == 302
    assert "The invitation was sent." in text_of(contoso.get(first.headers["Location"]))
    again = press(contoso, html, "send")  # a double click, or the page sent again
    assert again.status_code == 302 and again.headers["Location"] == first.headers["Location"]
    assert "it was not sent twice" in text_of(contoso.get(again.headers["Location"]))
    [made] = invitations(market)
    assert first.headers["Location"].endswith(f"/partner/invitations/{made.id}")
    assert made.prices == {"exchange-online": "4.00", "teams": "12.50"}
    assert (made.currency, made.billing, made.delegated_admin_requested) == ("EUR", "annual", True)
    assert made.key_id is None
    [created] = events(market, "invitation.created")
    assert created.actor.startswith("partner:contoso-cloud (user ")
    assert created.details["price_terms"]["total_per_billing_period"] == "4230.00"
    assert sorted(mail.to for mail in market.mails() if "purchase offer" in mail.subject) == [
        ADMIN,
        SECOND_ADMIN,
    ]


def test_send_needs_the_preview_s_token(market: Marketplace, contoso: FlaskClient) -> None:
    for token in ("", "x" * 42, "../" + "a" * 40):
        sent = post_form(
            contoso, {**PRICED, "send_token": token}, action="send", query="?type=purchase"
        )
        assert sent.status_code == 400
        assert "preview the invitation again" in " ".join(general_errors(text_of(sent)))
    assert counts(market)[0] == 0


def test_send_checks_again_and_shows_what_changed(
    market: Marketplace, contoso: FlaskClient
) -> None:
    """Between the preview and Send the tenant's cloud changed: Send refuses beside the field."""
    preview = text_of(post_form(contoso, PRICED, query="?type=purchase"))
    from sqlalchemy import update

    from consent_app.models import Tenant

    with market.backend.write() as session:
        session.execute(update(Tenant).values(cloud="21vianet"))
    sent = press(contoso, preview, "send")
    assert sent.status_code == 422
    assert "sovereign cloud" in error_beside(text_of(sent), "tenant")
    assert counts(market)[0] == 0


def test_change_goes_back_to_the_form_with_every_value(contoso: FlaskClient) -> None:
    fields = {**PRICED, "delegated_admin_days": "90"}
    preview = text_of(post_form(contoso, fields, query="?type=purchase"))
    back = press(contoso, preview, "change")
    assert back.status_code == 200
    html = text_of(back)
    assert "<h1>New invitation</h1>" in html
    for name in (
        "licenses-teams",
        "price-teams",
        "price-exchange-online",
        "currency",
        "tenant",
        "delegated_admin_days",
    ):
        assert re.search(
            rf'name="{name}"[^>]*value="{re.escape(fields[name])}"', html
        ) or re.search(rf'value="{re.escape(fields[name])}"[^>]*name="{name}"', html), name


def test_a_trial_to_a_new_customer_from_the_form(market: Marketplace, contoso: FlaskClient) -> None:
    sent = send(contoso, {**TRIAL, **NEW_CUSTOMER, "delegated_admin": CHECKED})
    assert sent.status_code == 302
    [made] = invitations(market)
    assert (made.kind, made.offer_id, made.tenant_domain) == ("trial", "trial-collab", NEW_TENANT)
    assert made.customer_email == NEW_ADMIN and made.delegated_admin_requested
    [mail] = [mail for mail in market.mails(NEW_ADMIN)]
    assert "free trial" in mail.subject


def test_a_purchase_offer_s_default_prices_fill_the_form(contoso: FlaskClient) -> None:
    html = text_of(contoso.get("/partner/invitations/new?type=purchase&offer_id=files-move"))
    assert re.search(r'name="price-sharepoint-online" value="6.50"', html)
    assert re.search(r'name="price-onedrive" value="4.20"', html)
    assert re.search(r'name="currency"[^>]*value="USD"', html)
    assert re.search(r'<input checked[^>]*name="billing"[^>]*value="annual"', html)
    assert 'name="licenses-teams"' not in html  # the offer's services only
    assert '<input type="hidden" name="offer_id" value="files-move">' in html


def test_delegated_admin_is_offered_only_where_allowed(
    market: Marketplace, contoso: FlaskClient
) -> None:
    trial = text_of(contoso.get("/partner/invitations/new?type=trial"))
    assert 'name="delegated_admin"' in trial
    assert "may ask for delegated administration" in trial
    offer = text_of(contoso.get("/partner/invitations/new?type=purchase&offer_id=files-move"))
    assert 'name="delegated_admin"' not in offer
    assert "You cannot request delegated administration here." in offer
    assert "does not allow a delegated administration request" in offer  # the rule's own words
    kanto = partner_client(market, "kanto-device-works", "sales@kanto.example")
    page = text_of(kanto.get("/partner/invitations/new"))
    assert 'name="delegated_admin"' not in page
    assert "does not offer delegated administration" in page


def test_the_type_switch_needs_no_script(contoso: FlaskClient) -> None:
    """Trial and purchase are links to two forms, each with its own fields."""
    trial = text_of(contoso.get("/partner/invitations/new"))
    assert 'name="offer_id"' in trial and "licenses-" not in trial
    assert 'href="/partner/invitations/new?type=purchase"' in trial
    purchase = text_of(contoso.get("/partner/invitations/new?type=purchase"))
    assert (
        'name="licenses-teams"' in purchase and 'type="radio" value="trial-collab"' not in purchase
    )
    assert "<script" not in trial + purchase


def test_two_sends_of_one_preview_at_the_same_moment_make_one_invitation(
    market: Marketplace, contoso: FlaskClient
) -> None:
    import threading

    data = hidden_fields(text_of(post_form(contoso, PRICED, query="?type=purchase")))
    data["action"] = "send"
    cookie = contoso.get_cookie("mp_session")
    assert cookie is not None
    clients = [market.app.test_client() for _ in range(4)]
    for client in clients:
        client.set_cookie("mp_session", cookie.value)
    barrier = threading.Barrier(len(clients))
    answers: list[int] = []

    def press_send(client: FlaskClient) -> None:
        barrier.wait()
        answers.append(client.post("/partner/invitations/new", data=data).status_code)

    threads = [threading.Thread(target=press_send, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [302] * len(clients)
    assert len(invitations(market)) == 1
    assert len(events(market, "invitation.created")) == 1
    assert len(market.mails(ADMIN)) == 1


# --- the list, one invitation, cancel, send again ------------------------------------------------


def sent_by_form(client: FlaskClient, fields: dict[str, Any] | None = None) -> str:
    """Send an invitation through the form; its id."""
    answer = send(client, fields or TRIAL)
    assert answer.status_code == 302, visible(text_of(answer))
    return answer.headers["Location"].rsplit("/", 1)[1]


def listed(client: FlaskClient, status: str = "") -> list[str]:
    """The invitation ids the list shows (with `?status=`)."""
    page = client.get("/partner/invitations/" + (f"?status={status}" if status else ""))
    assert page.status_code == 200
    return re.findall(r'href="/partner/invitations/(inv_[A-Za-z0-9]+)"', text_of(page))


def expire(market: Marketplace, invitation_id: str) -> None:
    """Let an invitation's link run out (the partner's session goes on)."""
    from sqlalchemy import update

    with market.backend.write() as session:
        session.execute(
            update(Invitation)
            .where(Invitation.id == invitation_id)
            .values(expires_at=datetime.now(UTC) - timedelta(days=400))
        )


def test_the_list_filters_by_status(
    market: Marketplace, contoso: FlaskClient, clock: Clock
) -> None:
    key = market.key("contoso-cloud")
    ids = {}
    for status in ("accepted", "declined", "canceled", "expired"):
        ids[status] = market.invite(key).get_json()["id"]
        clock.now += timedelta(minutes=1)
        if status in ("accepted", "declined"):
            decided = market.decide(
                market.link(ADMIN), {"accepted": "accept"}.get(status, "decline")
            )
            assert decided.status_code == 200
    assert market.api(key, "POST", f"/invitations/{ids['canceled']}/cancel").status_code == 200
    expire(market, ids["expired"])
    ids["pending"] = sent_by_form(contoso, PRICED)
    assert set(listed(contoso)) == set(ids.values())
    for status, invitation_id in ids.items():
        assert listed(contoso, status) == [invitation_id], status
    page = visible(text_of(contoso.get("/partner/invitations/")))
    assert (
        "Purchase offer: Exchange Online (hosted mail) × 10, Teams (chat and meetings) × 25" in page
    )
    assert "€352.50 per month" in page and "asks for delegated administration" in page
    assert "Free trial: Collaboration starter trial, 30 days" in page
    assert listed(contoso, "nonsense") == listed(contoso)  # an unknown filter shows all


def test_the_list_pages_through_older_invitations(
    market: Marketplace, contoso: FlaskClient, clock: Clock
) -> None:
    from consent_app import partner_invitation_pages

    key = market.key("contoso-cloud")
    made = []
    for _ in range(partner_invitation_pages.PAGE_SIZE + 3):
        made.append(market.invite(key).get_json()["id"])
        clock.now += timedelta(seconds=1)
    first = text_of(contoso.get("/partner/invitations/"))
    older = re.search(r'<a href="(/partner/invitations/\?before=[^"]+)">Older invitations', first)
    assert older
    second = listed(contoso, "")  # the first page again
    assert len(second) == partner_invitation_pages.PAGE_SIZE
    rest = re.findall(
        r'href="/partner/invitations/(inv_[A-Za-z0-9]+)"',
        text_of(contoso.get(unescape(older.group(1)))),
    )
    assert set(second) | set(rest) == set(made) and not set(second) & set(rest)


def test_one_invitation_shows_what_was_offered_and_its_history(
    market: Marketplace, contoso: FlaskClient
) -> None:
    invitation_id = sent_by_form(contoso, {**PRICED, "delegated_admin_days": "90"})
    page = visible(text_of(contoso.get(f"/partner/invitations/{invitation_id}")))
    assert "Purchase offer to fabrikam.onmicrosoft.com Pending" in page
    assert "Teams (chat and meetings) 25 €12.50 €312.50" in page
    assert "Billed annually: total per year €4,230.00" in page
    assert "requested: Global administrator, 90 days" in page
    assert "History When What" in page and "Sent" in page
    market.decide(
        market.link(ADMIN), "accept", accept_terms=CHECKED, authorize_delegated_admin=CHECKED
    )
    page = visible(text_of(contoso.get(f"/partner/invitations/{invitation_id}")))
    assert "Accepted" in page and "Delegated administration granted yes" in page
    assert "Accepted by the customer" in page
    assert "Send it again" not in page and "Cancel the invitation" not in page


def test_cancel_needs_the_box_and_ends_the_link(market: Marketplace, contoso: FlaskClient) -> None:
    invitation_id = sent_by_form(contoso)
    link = market.link(ADMIN)
    url = f"/partner/invitations/{invitation_id}"
    page = text_of(contoso.get(url))
    unticked = contoso.post(url + "/cancel", data={"csrf_token": csrf_token(page)})
    assert unticked.status_code == 400
    assert "Tick this box" in error_beside(text_of(unticked), "confirm")
    assert events(market, "invitation.canceled") == []
    done = contoso.post(url + "/cancel", data={"csrf_token": csrf_token(page), "confirm": CHECKED})
    assert done.status_code == 302
    shown = visible(text_of(contoso.get(url)))
    assert "The invitation was canceled; its link no longer works." in shown
    assert "Canceled" in shown
    [canceled] = events(market, "invitation.canceled")
    assert canceled.actor.startswith("partner:contoso-cloud (user ")
    assert market.app.test_client().get(link).status_code == 410  # "the partner withdrew it"
    again = contoso.post(url + "/cancel", data={"csrf_token": csrf_token(page), "confirm": CHECKED})
    assert again.status_code == 409
    assert "can no longer be canceled" in visible(text_of(again))


def test_cancel_and_send_again_need_the_csrf_token(
    market: Marketplace, contoso: FlaskClient
) -> None:
    invitation_id = sent_by_form(contoso)
    for action in ("cancel", "resend"):
        answer = contoso.post(
            f"/partner/invitations/{invitation_id}/{action}", data={"confirm": CHECKED}
        )
        assert answer.status_code == 400
    assert events(market, "invitation.canceled") == events(market, "invitation.resent") == []
    assert post_form(contoso, PRICED, query="?type=purchase").status_code == 200
    no_token = contoso.post("/partner/invitations/new", data={**PRICED, "action": "preview"})
    assert no_token.status_code == 400


def test_send_again_mails_new_links_to_the_same_admins_and_kills_the_old_ones(
    market: Marketplace, contoso: FlaskClient
) -> None:
    invitation_id = sent_by_form(contoso, PRICED)
    old = {admin: market.link(admin) for admin in (ADMIN, SECOND_ADMIN)}
    with market.backend.write() as session:  # an admin added since was not asked
        tenant = find_tenant(session, TENANT)
        assert tenant is not None
        add_admin(session, tenant, "late@fabrikam.example", OPERATOR)
    url = f"/partner/invitations/{invitation_id}"
    page = text_of(contoso.get(url))
    answer = contoso.post(url + "/resend", data={"csrf_token": csrf_token(page)})
    assert answer.status_code == 302
    assert "sent again, with a new link" in text_of(contoso.get(url))
    customer = market.app.test_client()
    for admin in (ADMIN, SECOND_ADMIN):
        new = market.link(admin)
        assert new != old[admin]
        assert customer.get(old[admin]).status_code == 404  # "we do not know this link"
        assert customer.get(new).status_code == 200
    late = market.mails("late@fabrikam.example")
    assert not [mail for mail in late if "purchase offer" in mail.subject]
    [resent] = events(market, "invitation.resent")
    assert resent.details == {"recipients": 2, "resend": 1}
    assert resent.actor.startswith("partner:contoso-cloud (user ")
    with market.backend.read() as session:
        links = session.execute(select(InvitationLink.email)).scalars().all()
    assert sorted(links) == sorted([ADMIN, SECOND_ADMIN])
    # the customer accepts with the new link
    accepted = market.decide(market.link(ADMIN), "accept", accept_terms=CHECKED)
    assert accepted.status_code == 200
    assert "Accepted" in visible(text_of(contoso.get(url)))


def test_send_again_to_a_new_customer_goes_to_the_same_address(
    market: Marketplace, contoso: FlaskClient
) -> None:
    invitation_id = sent_by_form(contoso, {**TRIAL, **NEW_CUSTOMER})
    old = market.link(NEW_ADMIN)
    page = text_of(contoso.get(f"/partner/invitations/{invitation_id}"))
    assert "at the same address" in page
    contoso.post(
        f"/partner/invitations/{invitation_id}/resend", data={"csrf_token": csrf_token(page)}
    )
    assert [mail.to for mail in market.mails() if "free trial" in mail.subject] == [NEW_ADMIN] * 2
    assert market.link(NEW_ADMIN) != old
    assert market.app.test_client().get(old).status_code == 404


def test_only_a_pending_invitation_is_sent_again(
    market: Marketplace, contoso: FlaskClient, clock: Clock
) -> None:
    invitation_id = sent_by_form(contoso)
    url = f"/partner/invitations/{invitation_id}"
    token = csrf_token(text_of(contoso.get(url)))
    expire(market, invitation_id)
    answer = contoso.post(url + "/resend", data={"csrf_token": token})
    assert answer.status_code == 409
    assert "the invitation is expired and can no longer be resent" in visible(text_of(answer))
    assert events(market, "invitation.resent") == []
    key = market.key("contoso-cloud")
    api = market.api(key, "POST", f"/invitations/{invitation_id}/resend")
    assert api.status_code == 409 and api.get_json()["error"] == "invalid_state"


def test_send_again_has_a_limit(market: Marketplace, contoso: FlaskClient) -> None:
    invitation_id = sent_by_form(contoso)
    url = f"/partner/invitations/{invitation_id}"
    token = csrf_token(text_of(contoso.get(url)))
    for _ in range(MAX_RESENDS):
        assert contoso.post(url + "/resend", data={"csrf_token": token}).status_code == 302
    over = contoso.post(url + "/resend", data={"csrf_token": token})
    assert over.status_code == 409
    assert "cancel it and send a new one" in visible(text_of(over))
    assert len(events(market, "invitation.resent")) == MAX_RESENDS


def test_the_api_sends_again_too(market: Marketplace, contoso: FlaskClient) -> None:
    key = market.key("contoso-cloud")
    invitation_id = market.invite(key).get_json()["id"]
    old = market.link(ADMIN)
    answer = market.api(key, "POST", f"/invitations/{invitation_id}/resend")
    assert answer.status_code == 200 and answer.get_json()["status"] == "pending"
    assert "link" not in str(answer.get_json())  # the link goes to the customer only
    assert market.link(ADMIN) != old
    assert market.app.test_client().get(old).status_code == 404
    other = market.key("taiga-cloud")
    assert market.api(other, "POST", f"/invitations/{invitation_id}/resend").status_code == 404
    [resent] = events(market, "invitation.resent")
    assert resent.actor.startswith("partner:contoso-cloud (key ")
    # and the customer's history says so, in words
    history = visible(text_of(market.sign_in(ADMIN).get("/account/")))
    assert "Contoso Cloud Services sent an invitation again, with a new link" in history


# --- isolation, headers, language ----------------------------------------------------------------


def test_another_partner_sees_and_changes_nothing_of_it(
    market: Marketplace, contoso: FlaskClient
) -> None:
    invitation_id = sent_by_form(contoso, PRICED)
    taiga = partner_client(market, "taiga-cloud", "sales@taiga.example")
    url = f"/partner/invitations/{invitation_id}"
    assert taiga.get(url).status_code == 404
    token = csrf_token(text_of(taiga.get("/partner/invitations/new")))
    for action in ("cancel", "resend"):
        answer = taiga.post(f"{url}/{action}", data={"csrf_token": token, "confirm": CHECKED})
        assert answer.status_code == 404, action
    assert listed(taiga) == []
    assert events(market, "invitation.canceled") == events(market, "invitation.resent") == []
    assert market.app.test_client().get(market.link(ADMIN)).status_code == 200  # still pending
    # Taiga pressing Send with the same preview token makes Taiga's own invitation, not Contoso's
    data = hidden_fields(text_of(post_form(contoso, TRIAL)))
    data["csrf_token"] = token
    data["offer_id"] = "teams-start"  # Taiga's own trial
    data["action"] = "send"
    made = taiga.post("/partner/invitations/new", data=data)
    assert made.status_code == 302 and not made.headers["Location"].endswith(invitation_id)
    assert {item.partner_slug for item in invitations(market)} == {"contoso-cloud", "taiga-cloud"}


def test_the_pages_need_a_signed_in_partner(market: Marketplace, clock: Clock) -> None:
    client = market.app.test_client()
    for url in ("/partner/invitations/", "/partner/invitations/new", "/partner/invitations/inv_x"):
        answer = client.get(url)
        assert answer.status_code == 302 and answer.headers["Location"] == "/partner/signin"
    customer = market.app.test_client()
    market.add_tenant()
    signed_in = market.sign_in(ADMIN)
    assert signed_in.get("/partner/invitations/").status_code == 302
    assert customer.get("/partner/invitations/").status_code == 302


def test_pages_are_never_cached_and_run_no_script(contoso: FlaskClient) -> None:
    invitation_id = sent_by_form(contoso)
    for url in (
        "/partner/invitations/",
        "/partner/invitations/new",
        f"/partner/invitations/{invitation_id}",
    ):
        answer = contoso.get(url)
        assert answer.headers["Cache-Control"] == "no-store"
        assert "script-src" not in answer.headers.get(
            "Content-Security-Policy", "default-src 'none'"
        )
        assert "<script" not in text_of(answer) and " style=" not in text_of(answer)
    preview = post_form(contoso, PRICED, query="?type=purchase")
    assert preview.headers["Cache-Control"] == "no-store"


def test_the_pages_in_russian(market: Marketplace, contoso: FlaskClient) -> None:
    contoso.get("/partner/invitations/?lang=ru")
    form = visible(text_of(contoso.get("/partner/invitations/new?type=purchase")))
    for words in (
        "Новое приглашение",
        "Домен клиента",
        "Цена за лицензию в месяц",
        "Ежегодно",
        "Запросить делегированное администрирование",
        "Предпросмотр",
    ):
        assert words in form, words
    refused = post_form(contoso, {**PRICED, "price-teams": "12,50"}, query="?type=purchase")
    assert refused.status_code == 400
    assert error_beside(text_of(refused), "price-teams").startswith("Укажите цену за лицензию")
    customer_missing = post_form(contoso, {**TRIAL, "tenant": NEW_TENANT})
    assert "Такого клиента ещё нет" in error_beside(text_of(customer_missing), "customer_email")
    invitation_id = sent_by_form(contoso, PRICED)
    page = visible(text_of(contoso.get(f"/partner/invitations/{invitation_id}")))
    assert "Приглашение отправлено." in page and "Ожидает решения" in page
    assert "Отправить повторно" in page and "Да, отменить это приглашение" in page
    listing = visible(text_of(contoso.get("/partner/invitations/")))
    assert "Предложение о покупке" in listing and "352,50" in listing
    assert "Ожидает решения" in listing


def test_the_pages_are_english_where_the_partner_reads_english(contoso: FlaskClient) -> None:
    page = visible(text_of(contoso.get("/partner/invitations/new?lang=en")))
    assert "New invitation" in page and "Новое" not in page


def test_an_admin_removed_since_gets_nothing_sent_again(
    market: Marketplace, contoso: FlaskClient
) -> None:
    from consent_app.removal import remove_admin

    invitation_id = sent_by_form(contoso, PRICED)
    market.backend.run(lambda uow: remove_admin(uow, TENANT, SECOND_ADMIN, OPERATOR))
    before = len(market.mails(SECOND_ADMIN))
    url = f"/partner/invitations/{invitation_id}"
    page = text_of(contoso.get(url))
    assert contoso.post(url + "/resend", data={"csrf_token": csrf_token(page)}).status_code == 302
    assert len(market.mails(SECOND_ADMIN)) == before
    [resent] = events(market, "invitation.resent")
    assert resent.details["recipients"] == 1


def test_sending_is_rate_limited_per_partner(app_factory: Any) -> None:
    market = Marketplace(app_factory(MARKETPLACE_INVITATION_RATE_LIMIT="2/minute"))
    market.add_tenant()
    contoso = partner_client(market)
    first = sent_by_form(contoso, PRICED)
    page = text_of(contoso.get(f"/partner/invitations/{first}"))
    resent = contoso.post(
        f"/partner/invitations/{first}/resend", data={"csrf_token": csrf_token(page)}
    )
    assert resent.status_code == 302
    over = send(contoso, PRICED)  # the third mailing within the minute
    assert over.status_code == 429
    assert len(invitations(market)) == 1
    taiga = partner_client(market, "taiga-cloud", "sales@taiga.example")
    assert send(taiga, {**TRIAL, "offer_id": "teams-start"}).status_code == 302  # its own count
