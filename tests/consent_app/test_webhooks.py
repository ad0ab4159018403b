"""Webhooks: the API (registration, bad input on every field, isolation between partners),
and every event fired by the change it tells of, to a real receiver on loopback, with no
customer data beyond what the partner's API shows."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from consent_app.consent import apply_decision
from consent_app.grant_sweep import sweep_delegated_admin
from consent_app.invitations import expire_invitations
from consent_app.models import AuditEvent, WebhookEvent
from consent_app.rules import Decision
from consent_app.webhooks import EVENT_TYPES, MAX_ENDPOINTS
from tests.consent_app.conftest import ADMIN, CHECKED, OPERATOR, TENANT, Marketplace, csrf_token
from tests.webhook_receiver import Receiver, receiver, verify_signature

HOOK = {"url": "https://93.184.216.34/hook", "events": ["invitation.accepted"]}


def error_of(response: Any) -> tuple[int, str, str | None]:
    body = response.get_json()
    return response.status_code, body["error"], body.get("field")


@pytest.fixture
def market(app_factory: Callable[..., Flask]) -> Marketplace:
    """Webhooks may go to loopback (the receiver); mail and webhooks are sent right after
    each change."""
    found = Marketplace(app_factory(MARKETPLACE_WEBHOOK_ALLOW_PRIVATE="1"))
    found.add_tenant()
    return found


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiver() as found:
        yield found


def subscribe(
    market: Marketplace, key: str, hooks: Receiver, events: list[str] | None = None
) -> str:
    """Register the receiver for `events` (all by default); the signing secret."""
    body = {"url": hooks.url(), "events": events or list(EVENT_TYPES)}
    answer = market.api(key, "POST", "/webhooks", body)
    assert answer.status_code == 201, answer.get_json()
    secret: str = answer.get_json()["secret"]
    return secret


# --- the API ------------------------------------------------------------------------------------


def test_register_list_show_and_delete(app_factory: Callable[..., Flask]) -> None:
    market = Marketplace(app_factory(MARKETPLACE_MAIL_DELIVERY="off"))
    key = market.key()
    created = market.api(key, "POST", "/webhooks", {**HOOK, "events": list(reversed(EVENT_TYPES))})
    assert created.status_code == 201
    body = created.get_json()
    assert set(body) == {"id", "url", "events", "secret", "created_at"}
    assert body["url"] == HOOK["url"] and body["events"] == list(EVENT_TYPES)
    assert created.headers["Location"].endswith(f"/api/v1/webhooks/{body['id']}")
    assert created.headers["Cache-Control"] == "no-store"
    shown = {key: value for key, value in body.items() if key != "secret"}
    assert market.api(key, "GET", "/webhooks").get_json() == {"webhooks": [shown]}
    assert market.api(key, "GET", f"/webhooks/{body['id']}").get_json() == shown
    assert market.api(key, "GET", f"/webhooks/{body['id']}/deliveries").get_json() == {
        "deliveries": []
    }
    assert market.api(key, "DELETE", f"/webhooks/{body['id']}").status_code == 204
    assert market.api(key, "GET", "/webhooks").get_json() == {"webhooks": []}
    for method, path in (
        ("GET", ""),
        ("DELETE", ""),
        ("GET", "/deliveries"),
        ("POST", "/test"),
    ):
        gone = market.api(key, method, f"/webhooks/{body['id']}{path}")
        assert error_of(gone) == (404, "not_found", None), (method, path)
    with market.backend.read() as session:
        actions = session.execute(
            select(AuditEvent.action, AuditEvent.chain, AuditEvent.details).where(
                AuditEvent.action.like("webhook.%")
            )
        ).all()
    assert [(action, chain) for action, chain, _ in actions] == [
        ("webhook.endpoint_added", "partner:contoso-cloud"),
        ("webhook.endpoint_deleted", "partner:contoso-cloud"),
    ]
    assert actions[0][2] == {
        "webhook_id": body["id"],
        "host": "93.184.216.34",
        "events": list(EVENT_TYPES),
    }
    verified = market.run_cli("audit", "verify")
    assert verified.exit_code == 0, verified.output


def test_one_partner_never_sees_or_changes_anothers_webhooks(
    app_factory: Callable[..., Flask],
) -> None:
    market = Marketplace(app_factory(MARKETPLACE_MAIL_DELIVERY="off"))
    contoso, cape = market.key("contoso-cloud"), market.key("cape-collaboration")
    theirs = market.api(contoso, "POST", "/webhooks", HOOK).get_json()["id"]
    assert market.api(cape, "GET", "/webhooks").get_json() == {"webhooks": []}
    for method, path in (
        ("GET", ""),
        ("DELETE", ""),
        ("GET", "/deliveries"),
        ("POST", "/test"),
    ):
        answer = market.api(cape, method, f"/webhooks/{theirs}{path}")
        assert error_of(answer) == (404, "not_found", None), (method, path)
    assert [
        item["id"] for item in market.api(contoso, "GET", "/webhooks").get_json()["webhooks"]
    ] == [theirs]
    # without a key, nothing at all
    assert market.api(None, "GET", "/webhooks").status_code == 401
    assert market.api(None, "POST", "/webhooks", HOOK).status_code == 401


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ([], None, "JSON object"),
        ("https://93.184.216.34/hook", None, "JSON object"),
        ({"events": ["invitation.accepted"]}, "url", "url: is required"),
        ({**HOOK, "url": 42}, "url", "must be a string"),
        ({**HOOK, "url": None}, "url", "must be a string"),
        ({**HOOK, "url": ""}, "url", "1 to 2000 characters"),
        ({**HOOK, "url": "https://" + "a" * 2000}, "url", "1 to 2000 characters"),
        ({**HOOK, "url": "ftp://93.184.216.34/"}, "url", "https://"),
        ({**HOOK, "url": "https://u:p@93.184.216.34/"}, "url", "user name or password"),
        ({**HOOK, "url": "https://93.184.216.34/#x"}, "url", "#fragment"),
        ({**HOOK, "url": "https://93.184.216.34:70000/"}, "url", "port"),
        ({**HOOK, "url": "https://93.184.216.34/a b"}, "url", "spaces"),
        ({**HOOK, "url": "https://nowhere.invalid/"}, "url", "does not resolve"),
        ({"url": HOOK["url"]}, "events", "events: is required"),
        ({**HOOK, "events": "invitation.accepted"}, "events", "must be a list of events"),
        ({**HOOK, "events": []}, "events", "choose at least one event"),
        ({**HOOK, "events": [7]}, "events", "must be a list of events"),
        ({**HOOK, "events": ["invitation.sent"]}, "events", "'invitation.sent' is not an event"),
        ({**HOOK, "events": ["test"]}, "events", "is not an event"),
        (
            {**HOOK, "events": ["lead.created", "lead.created"]},
            "events",
            "each event may be named once",
        ),
        ({**HOOK, "secret": "mine"}, "secret", "is not a field of a webhook"),
    ],
)
def test_bad_input_is_named_and_changes_nothing(
    app_factory: Callable[..., Flask], body: Any, field: str | None, words: str
) -> None:
    market = Marketplace(app_factory(MARKETPLACE_MAIL_DELIVERY="off"))
    key = market.key()
    answer = market.api(key, "POST", "/webhooks", body)
    assert error_of(answer) == (400, "validation_error", field), answer.get_json()
    assert words in answer.get_json()["message"]
    assert market.api(key, "GET", "/webhooks").get_json() == {"webhooks": []}


def test_malformed_json_and_other_media_types(app_factory: Callable[..., Flask]) -> None:
    market = Marketplace(app_factory(MARKETPLACE_MAIL_DELIVERY="off"))
    key = market.key()
    headers = {"Authorization": f"Bearer {key}"}
    broken = market.client.post(
        "/api/v1/webhooks", data="{", content_type="application/json", headers=headers
    )
    assert error_of(broken) == (400, "validation_error", None)
    text = market.client.post(
        "/api/v1/webhooks", data=json.dumps(HOOK), content_type="text/plain", headers=headers
    )
    assert error_of(text) == (415, "unsupported_media_type", None)
    for query in ("limit=0", "limit=101", "limit=x"):
        webhook = market.api(key, "POST", "/webhooks", HOOK).get_json()["id"]
        answer = market.api(key, "GET", f"/webhooks/{webhook}/deliveries?{query}")
        assert error_of(answer) == (400, "validation_error", "limit")
        market.api(key, "DELETE", f"/webhooks/{webhook}")
    assert market.api(key, "GET", "/webhooks/not%20an%20id").status_code == 404


def test_a_partner_has_at_most_ten_endpoints(app_factory: Callable[..., Flask]) -> None:
    market = Marketplace(app_factory(MARKETPLACE_MAIL_DELIVERY="off"))
    key = market.key()
    for _ in range(MAX_ENDPOINTS):
        assert market.api(key, "POST", "/webhooks", HOOK).status_code == 201
    refused = market.api(key, "POST", "/webhooks", HOOK)
    assert error_of(refused) == (422, "too_many_webhooks", None)
    first = market.api(key, "GET", "/webhooks").get_json()["webhooks"][0]["id"]
    market.api(key, "DELETE", f"/webhooks/{first}")
    assert market.api(key, "POST", "/webhooks", HOOK).status_code == 201


def test_the_test_event_reaches_one_endpoint_whatever_it_subscribed_to(
    market: Marketplace, hooks: Receiver
) -> None:
    key = market.key()
    secret = subscribe(market, key, hooks, ["lead.created"])
    webhook = market.api(key, "GET", "/webhooks").get_json()["webhooks"][0]["id"]
    sent = market.api(key, "POST", f"/webhooks/{webhook}/test")
    assert sent.status_code == 202
    event = sent.get_json()
    assert event["type"] == "test" and event["id"].startswith("evt_")
    [request] = hooks.requests
    assert request.json()["id"] == event["id"]
    assert request.json()["data"]["webhook_id"] == webhook
    header = request.headers["marketplace-signature"]
    assert verify_signature(secret, header, request.body)
    [entry] = market.api(key, "GET", f"/webhooks/{webhook}/deliveries").get_json()["deliveries"]
    assert entry["event_id"] == event["id"] and entry["state"] == "delivered"
    assert entry["type"] == "test" and entry["status_code"] == 200 and entry["attempts"] == 1


# --- events -------------------------------------------------------------------------------------

INVITATION_DATA = {"invitation"}


def customer_data_absent(market: Marketplace, hooks: Receiver) -> None:
    """Nothing in any body names the customer beyond the tenant's domain (which the partner's
    API shows): not the admin's address, the company's name, nor where they acted from."""
    for request in hooks.requests:
        text = request.body.decode()
        for private in (ADMIN, "Fabrikam", "127.0.0.1", "admin@"):
            assert private not in text, (private, text)


def test_accepting_with_da_and_por_fires_three_events(market: Marketplace, hooks: Receiver) -> None:
    key = market.key()
    subscribe(market, key, hooks)
    invitation = market.invite(key, delegated_admin=True).get_json()["id"]
    market.decide(market.link(), authorize_delegated_admin=CHECKED, make_partner_of_record=CHECKED)
    types = [body["type"] for body in hooks.bodies()]
    assert types == ["invitation.accepted", "delegated_admin.granted", "partner_of_record.changed"]
    accepted, granted, por = hooks.bodies()
    # the invitation exactly as GET /api/v1/invitations/<id> shows it
    assert accepted["data"] == {
        "invitation": market.api(key, "GET", f"/invitations/{invitation}").get_json()
    }
    [relationship] = market.api(key, "GET", "/relationships").get_json()["relationships"]
    assert granted["data"] == {
        "tenant": TENANT,
        "invitation_id": invitation,
        "roles": relationship["roles"],
        "expires_at": relationship["expires_at"],
        "renewal": False,
    }
    assert por["data"] == {
        "tenant": TENANT,
        "partner_of_record": True,
        "reason": "accepted_invitation",
        "invitation_id": invitation,
    }
    assert len({body["id"] for body in hooks.bodies()}) == 3
    customer_data_absent(market, hooks)


def test_declining_and_canceling(market: Marketplace, hooks: Receiver) -> None:
    key = market.key()
    subscribe(market, key, hooks)
    declined = market.invite(key).get_json()["id"]
    market.decide(market.link(), "decline")
    canceled = market.invite(key).get_json()["id"]
    market.api(key, "POST", f"/invitations/{canceled}/cancel")
    first, second = hooks.bodies()
    assert first["type"] == "invitation.declined"
    assert first["data"]["invitation"]["id"] == declined
    assert first["data"]["invitation"]["status"] == "declined"
    assert second["type"] == "invitation.canceled"
    assert second["data"] == {
        "invitation": market.api(key, "GET", f"/invitations/{canceled}").get_json()
    }
    customer_data_absent(market, hooks)


def test_a_new_customers_invitation_names_no_address(market: Marketplace, hooks: Receiver) -> None:
    key = market.key()
    subscribe(market, key, hooks)
    new = {"email": "boss@northwind.example", "company": "Northwind Traders"}
    created = market.invite(key, tenant="northwind.onmicrosoft.com", customer=new)
    market.api(key, "POST", f"/invitations/{created.get_json()['id']}/cancel")
    [canceled] = hooks.bodies()
    assert canceled["data"]["invitation"]["tenant"] == "northwind.onmicrosoft.com"
    text = hooks.requests[0].body.decode()
    assert "boss@" not in text and "Northwind Traders" not in text


def test_the_expiry_sweep_fires_invitation_expired_once(
    market: Marketplace, hooks: Receiver
) -> None:
    key = market.key()
    subscribe(market, key, hooks)
    invitation = market.invite(key).get_json()["id"]
    moment = market.backend.clock() + timedelta(days=31)
    market.backend.clock = lambda: moment
    assert market.backend.run(expire_invitations) == 1
    assert market.backend.run(expire_invitations) == 0
    [expired] = hooks.bodies()
    assert expired["type"] == "invitation.expired"
    assert expired["data"]["invitation"]["id"] == invitation
    assert expired["data"]["invitation"]["status"] == "expired"


def test_da_ended_by_the_customer_the_partner_and_the_end_date(
    market: Marketplace, hooks: Receiver
) -> None:
    key = market.key()
    subscribe(market, key, hooks, ["delegated_admin.ended"])

    def grant() -> None:
        market.invite(key, delegated_admin=True)
        market.decide(market.link(), authorize_delegated_admin=CHECKED)

    grant()
    client = market.sign_in()
    token = csrf_token(client.get("/account/").get_data(as_text=True))
    revoked = client.post(
        "/account/delegated-admin/revoke",
        data={"csrf_token": token, "partner": "contoso-cloud", "confirm": "y"},
    )
    assert revoked.status_code == 302
    grant()
    assert market.api(key, "DELETE", f"/relationships/{TENANT}/delegated-admin").status_code == 204
    grant()
    moment = market.backend.clock() + timedelta(days=800)
    market.backend.clock = lambda: moment
    assert market.backend.run(sweep_delegated_admin) == 1
    assert [body["data"] for body in hooks.bodies()] == [
        {"tenant": TENANT, "reason": reason}
        for reason in ("revoked_by_customer", "ended_by_partner", "expired")
    ]
    assert {body["type"] for body in hooks.bodies()} == {"delegated_admin.ended"}
    customer_data_absent(market, hooks)


def test_a_renewal_is_a_grant_not_an_end(market: Marketplace, hooks: Receiver) -> None:
    key = market.key()
    subscribe(market, key, hooks, ["delegated_admin.granted", "delegated_admin.ended"])
    for _ in range(2):
        market.invite(key, delegated_admin=True)
        market.decide(market.link(), authorize_delegated_admin=CHECKED)
    first, second = hooks.bodies()
    assert (first["type"], first["data"]["renewal"]) == ("delegated_admin.granted", False)
    assert (second["type"], second["data"]["renewal"]) == ("delegated_admin.granted", True)


def test_replaced_partners_are_told(market: Marketplace) -> None:
    contoso, cape = market.key("contoso-cloud"), market.key("cape-collaboration")
    with receiver() as contoso_hooks, receiver() as cape_hooks:
        subscribe(market, contoso, contoso_hooks)
        subscribe(market, cape, cape_hooks)
        market.invite(contoso, delegated_admin=True)
        market.decide(
            market.link(), authorize_delegated_admin=CHECKED, make_partner_of_record=CHECKED
        )
        market.invite(cape, offer_id="intranet-trial", delegated_admin=True)
        market.decide(
            market.link(),
            authorize_delegated_admin=CHECKED,
            make_partner_of_record=CHECKED,
            confirm_replace_delegated_admin=CHECKED,
            seen_delegated_admin="contoso-cloud",
        )
        told = [(body["type"], body["data"]) for body in contoso_hooks.bodies()[3:]]
        cape_types = [body["type"] for body in cape_hooks.bodies()]
    assert told == [
        ("delegated_admin.ended", {"tenant": TENANT, "reason": "replaced"}),
        (
            "partner_of_record.changed",
            {"tenant": TENANT, "partner_of_record": False, "reason": "replaced"},
        ),
    ]
    # each partner hears only of its own: Cape is not told who it replaced, nor Contoso by whom
    assert cape_types == [
        "invitation.accepted",
        "delegated_admin.granted",
        "partner_of_record.changed",
    ]
    for request in contoso_hooks.requests:
        assert b"cape" not in request.body
    for request in cape_hooks.requests:
        assert b"contoso" not in request.body


def test_the_customer_naming_and_clearing_the_partner_of_record(market: Marketplace) -> None:
    contoso, cape = market.key("contoso-cloud"), market.key("cape-collaboration")
    market.invite(contoso)
    market.decide(market.link(), make_partner_of_record=CHECKED)
    market.invite(cape, offer_id="intranet-trial")
    market.decide(market.link())
    with receiver() as contoso_hooks, receiver() as cape_hooks:
        subscribe(market, contoso, contoso_hooks, ["partner_of_record.changed"])
        subscribe(market, cape, cape_hooks, ["partner_of_record.changed"])
        client = market.sign_in()
        token = csrf_token(client.get("/account/").get_data(as_text=True))
        changed = client.post(
            "/account/partner-of-record",
            data={"csrf_token": token, "partner": "cape-collaboration", "action": "set"},
        )
        assert changed.status_code == 302
        cleared = client.post(
            "/account/partner-of-record",
            data={"csrf_token": token, "action": "clear", "confirm_clear": "y"},
        )
        assert cleared.status_code == 302
        assert [body["data"] for body in contoso_hooks.bodies()] == [
            {"tenant": TENANT, "partner_of_record": False, "reason": "changed"}
        ]
        assert [body["data"] for body in cape_hooks.bodies()] == [
            {"tenant": TENANT, "partner_of_record": True, "reason": "named_by_customer"},
            {"tenant": TENANT, "partner_of_record": False, "reason": "cleared"},
        ]
        customer_data_absent(market, contoso_hooks)
        customer_data_absent(market, cape_hooks)


def test_an_endpoint_gets_only_what_it_subscribed_to_and_only_its_partners(
    market: Marketplace,
) -> None:
    contoso, cape = market.key("contoso-cloud"), market.key("cape-collaboration")
    with receiver() as declines, receiver() as cape_hooks:
        subscribe(market, contoso, declines, ["invitation.declined"])
        subscribe(market, cape, cape_hooks)
        market.invite(contoso)
        market.decide(market.link())  # accepted: not subscribed
        market.invite(contoso)
        market.decide(market.link(), "decline")
        assert [body["type"] for body in declines.bodies()] == ["invitation.declined"]
        assert cape_hooks.requests == []


def test_no_event_without_the_change(market: Marketplace, hooks: Receiver) -> None:
    """An event exists if and only if its change committed."""
    key = market.key()
    subscribe(market, key, hooks)
    invitation = market.invite(key).get_json()["id"]

    class Interrupted(Exception):
        pass

    def accept_then_fail(uow: Any) -> None:
        apply_decision(uow, invitation, ADMIN, Decision(True), OPERATOR)
        raise Interrupted

    with pytest.raises(Interrupted):
        market.backend.run(accept_then_fail)
    with market.backend.read() as session:
        assert session.execute(select(func.count(WebhookEvent.id))).scalar_one() == 0
    assert hooks.requests == []
    # without a subscribed endpoint nothing is written at all
    market.api(
        key,
        "DELETE",
        f"/webhooks/{market.api(key, 'GET', '/webhooks').get_json()['webhooks'][0]['id']}",
    )
    market.api(key, "POST", f"/invitations/{invitation}/cancel")
    with market.backend.read() as session:
        assert session.execute(select(func.count(WebhookEvent.id))).scalar_one() == 0


def test_a_confirmed_lead_fires_lead_created_without_the_visitors_data(
    market: Marketplace, hooks: Receiver
) -> None:
    from tests.consent_app.test_leads import FIELDS, Visitor

    key = market.key()
    subscribe(market, key, hooks, ["lead.created"])
    visitor = Visitor(market)
    assert visitor.contact().status_code == 200
    assert hooks.requests == []  # not a lead until confirmed
    lead = visitor.confirmed()
    [created] = hooks.bodies()
    [listed] = market.api(key, "GET", "/leads").get_json()["leads"]
    assert created["type"] == "lead.created"
    assert created["data"] == {"lead": {"id": lead, "created_at": listed["created_at"]}}
    for value in FIELDS.values():
        if len(value) > 1:
            assert value.split("\n")[0] not in hooks.requests[0].body.decode()


# --- the pages ----------------------------------------------------------------------------------


def _form(client: Any, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    return csrf_token(page.get_data(as_text=True))


def test_the_partner_registers_tests_reads_the_log_and_deletes(
    market: Marketplace, hooks: Receiver
) -> None:
    from tests.consent_app.partner_portal import partner_client

    client = partner_client(market)
    page = client.get("/partner/webhooks/")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert 'aria-current="page">Webhooks<' in html and "You have no webhook endpoint yet." in html
    token = csrf_token(html)
    created = client.post(
        "/partner/webhooks/",
        data={
            "csrf_token": token,
            "url": hooks.url(),
            "events": ["invitation.canceled", "lead.created"],
        },
    )
    assert created.status_code == 201
    shown = created.get_data(as_text=True)
    secret = shown.split('<p class="cp-secret">', 1)[1].split("</p>", 1)[0]
    assert secret.startswith("whsec_")
    listed = client.get("/partner/webhooks/").get_data(as_text=True)
    assert hooks.url() in listed and secret not in listed  # shown once
    key = market.key()
    [webhook] = market.api(key, "GET", "/webhooks").get_json()["webhooks"]
    assert webhook["events"] == ["invitation.canceled", "lead.created"]

    log_path = f"/partner/webhooks/{webhook['id']}/"
    sent = client.post(f"{log_path}test", data={"csrf_token": _form(client, log_path)})
    assert sent.status_code == 302 and sent.headers["Location"].endswith(log_path)
    [request] = hooks.requests
    assert verify_signature(secret, request.headers["marketplace-signature"], request.body)
    log = client.get(log_path).get_data(as_text=True)
    assert request.json()["id"] in log and "Test event" in log and "delivered" in log
    assert "<td>200</td>" in log

    delete_path = f"/partner/webhooks/{webhook['id']}/delete"
    token = _form(client, delete_path)
    unconfirmed = client.post(delete_path, data={"csrf_token": token})
    assert unconfirmed.status_code == 400
    assert len(market.api(key, "GET", "/webhooks").get_json()["webhooks"]) == 1
    deleted = client.post(delete_path, data={"csrf_token": token, "confirm": "y"})
    assert deleted.status_code == 302
    assert "was deleted" in client.get("/partner/webhooks/").get_data(as_text=True)
    assert market.api(key, "GET", "/webhooks").get_json()["webhooks"] == []
    assert client.get(log_path).status_code == 404
    with market.backend.read() as session:
        actors = session.execute(
            select(AuditEvent.actor).where(AuditEvent.action.like("webhook.%"))
        ).scalars()
        assert all(actor.startswith("partner:contoso-cloud (user pu_") for actor in actors)


@pytest.mark.parametrize(
    ("url", "events", "status", "field", "words"),
    [
        ("", ["lead.created"], 400, "url", "must be a URL of 1 to 2000 characters"),
        ("http://93.184.216.34/", ["lead.created"], 400, "url", "must start with https://"),
        ("https://127.0.0.1/hook", ["lead.created"], 422, "url", "webhooks go to public"),
        ("https://localhost/hook", ["lead.created"], 422, "url", "webhooks go to public"),
        ("https://93.184.216.34/", [], 400, "events", "choose at least one event"),
        ("https://93.184.216.34/", ["lead.sold"], 400, "events", "is not an event"),
    ],
)
def test_bad_input_on_the_page_is_shown_beside_its_field(
    app_factory: Callable[..., Flask],
    url: str,
    events: list[str],
    status: int,
    field: str,
    words: str,
) -> None:
    from tests.consent_app.partner_portal import partner_client

    market = Marketplace(app_factory(MARKETPLACE_MAIL_DELIVERY="inline"))
    client = partner_client(market)
    token = _form(client, "/partner/webhooks/")
    answer = client.post(
        "/partner/webhooks/", data={"csrf_token": token, "url": url, "events": events}
    )
    assert answer.status_code == status
    html = answer.get_data(as_text=True)
    error = html.split('class="cp-error" role="alert">', 1)[1].split("</p>", 1)[0]
    assert words in error
    # beside its field: the url input or the events fieldset holds the message
    if field == "url":
        assert html.index('name="url"') < html.index(error) < html.index("<legend>")
    else:
        assert html.index("<legend>") < html.index(error)
    assert 'value="' + url + '"' in html or not url  # what was typed stays
    assert market.api(market.key(), "GET", "/webhooks").get_json()["webhooks"] == []
    without_csrf = client.post("/partner/webhooks/", data={"url": url, "events": events})
    assert without_csrf.status_code == 400


def test_one_partners_pages_never_show_or_change_anothers_webhooks(
    market: Marketplace,
) -> None:
    from tests.consent_app.partner_portal import partner_client

    contoso = market.key("contoso-cloud")
    theirs = market.api(
        contoso,
        "POST",
        "/webhooks",
        {"url": "http://127.0.0.1:9/contoso", "events": ["lead.created"]},
    ).get_json()["id"]
    cape = partner_client(market, "cape-collaboration", "web@cape.example")
    assert "127.0.0.1:9/contoso" not in cape.get("/partner/webhooks/").get_data(as_text=True)
    token = _form(cape, "/partner/webhooks/")
    for method, path, data in (
        ("GET", f"/partner/webhooks/{theirs}/", None),
        ("GET", f"/partner/webhooks/{theirs}/delete", None),
        ("POST", f"/partner/webhooks/{theirs}/delete", {"csrf_token": token, "confirm": "y"}),
        ("POST", f"/partner/webhooks/{theirs}/test", {"csrf_token": token}),
    ):
        answer = cape.open(path, method=method, data=data)
        assert answer.status_code == 404, (method, path)
    assert len(market.api(contoso, "GET", "/webhooks").get_json()["webhooks"]) == 1
    with market.backend.read() as session:
        assert session.execute(select(func.count(WebhookEvent.id))).scalar_one() == 0
    # signed out: sent to sign in
    anonymous = market.app.test_client().get(f"/partner/webhooks/{theirs}/")
    assert anonymous.status_code == 302 and anonymous.headers["Location"].endswith(
        "/partner/signin"
    )


def test_the_webhook_pages_in_russian(app_factory: Callable[..., Flask]) -> None:
    from tests.consent_app.partner_portal import partner_client

    market = Marketplace(app_factory(MARKETPLACE_WEBHOOK_ALLOW_PRIVATE="1"))
    client = partner_client(market)
    page = client.get("/partner/webhooks/?lang=ru").get_data(as_text=True)
    for words in ("Веб-хуки", "Добавить адрес", "Какие события получать", "У вас пока нет"):
        assert words in page, words
    token = csrf_token(page)
    for url, events, words in (
        ("https://0.0.0.0/", ["lead.created"], "Этот адрес ведёт в частную"),
        ("ftp://example.com/", ["lead.created"], "Введите адрес вида https://example.com"),
        ("https://93.184.216.34/", [], "Выберите хотя бы одно событие."),
    ):
        refused = client.post(
            "/partner/webhooks/", data={"csrf_token": token, "url": url, "events": events}
        )
        assert words in refused.get_data(as_text=True), words
    created = client.post(
        "/partner/webhooks/",
        data={"csrf_token": token, "url": "http://127.0.0.1:9/", "events": ["lead.created"]},
    )
    assert "Скопируйте его секрет подписи" in created.get_data(as_text=True)
    listed = client.get("/partner/webhooks/").get_data(as_text=True)
    assert "События" in listed and "Журнал доставки" in listed
    webhook = market.api(market.key(), "GET", "/webhooks").get_json()["webhooks"][0]["id"]
    log = client.get(f"/partner/webhooks/{webhook}/").get_data(as_text=True)
    assert "Журнал доставки" in log and "Отправить тестовое событие" in log
    sent = client.post(f"/partner/webhooks/{webhook}/test", data={"csrf_token": token})
    assert sent.status_code == 302
    log = client.get(f"/partner/webhooks/{webhook}/").get_data(as_text=True)
    assert "Тестовое событие" in log and "ожидает повторной отправки" in log
    assert "Попытки" in log and "следующая попытка" in log
    delete = client.get(f"/partner/webhooks/{webhook}/delete").get_data(as_text=True)
    assert "Удалить адрес веб-хука" in delete and "Да, удалить этот адрес" in delete


def test_removing_a_tenant_leaves_no_webhook_row_that_names_it(
    app_factory: Callable[..., Flask],
) -> None:
    """`tenants remove`: the events about the tenant lose their bodies, their deliveries are
    given up, and nothing stored for webhooks names the domain; the audit log still verifies."""
    from consent_app.models import WebhookDelivery
    from tests.consent_app.test_audit import problems

    market = Marketplace(
        app_factory(MARKETPLACE_WEBHOOK_ALLOW_PRIVATE="1", MARKETPLACE_MAIL_DELIVERY="off")
    )
    market.add_tenant()
    key = market.key()
    market.api(
        key, "POST", "/webhooks", {"url": "http://127.0.0.1:9/", "events": ["invitation.canceled"]}
    )
    invitation = market.invite(key).get_json()["id"]
    market.api(key, "POST", f"/invitations/{invitation}/cancel")
    with market.backend.read() as session:
        [(subject, body)] = session.execute(select(WebhookEvent.subject, WebhookEvent.body)).all()
    assert TENANT in body and TENANT not in subject  # filed under the opaque audit subject

    removed = market.run_cli("tenants", "remove", TENANT, "--yes")
    assert removed.exit_code == 0, removed.output
    with market.backend.read() as session:
        rows = [
            *session.execute(select(WebhookEvent)).scalars(),
            *session.execute(select(WebhookDelivery)).scalars(),
        ]
        assert session.execute(select(WebhookEvent.body)).scalar_one() is None
        delivery = session.execute(select(WebhookDelivery)).scalar_one()
    assert delivery.failed_at is not None and "erased" in (delivery.last_error or "")
    for row in rows:
        values = [getattr(row, column.key) for column in row.__table__.columns]
        assert not any(TENANT in str(value) for value in values), row
    assert market.backend.deliver_webhooks_now().sent == 0
    assert problems(market) == []
