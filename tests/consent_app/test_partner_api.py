"""The partner API (README: Partner API): each rule with its own test, through the Flask test
client."""

from __future__ import annotations

import json

import pytest

from tests.consent_app.conftest import ADMIN, TENANT, Marketplace


@pytest.fixture
def key(market: Marketplace) -> str:
    market.add_tenant()
    return market.key("contoso-cloud")


def error_of(response: object) -> tuple[int, str]:
    body = response.get_json()  # type: ignore[attr-defined]
    assert set(body) >= {"error", "message"} and body["message"]
    return response.status_code, body["error"]  # type: ignore[attr-defined]


def test_trial_invitation_is_created_and_mailed_to_the_verified_admin(
    market: Marketplace, key: str
) -> None:
    response = market.invite(key, delegated_admin=True)
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"id", "status", "expires_at"}
    assert body["status"] == "pending" and body["id"].startswith("inv_")
    assert response.headers["Location"] == f"/api/v1/invitations/{body['id']}"
    [mail] = market.mails()
    assert mail.to == ADMIN
    assert "Contoso Cloud Services" in mail.subject
    assert "30-day free trial" in mail.body and "delegated administration" in mail.body
    assert len(mail.links()) == 1


def test_the_link_never_appears_in_any_answer(market: Marketplace, key: str) -> None:
    created = market.invite(key, delegated_admin=True)
    link = market.link()
    token = link.rsplit("/", 1)[1]
    invitation_id = created.get_json()["id"]
    answers = [
        created,
        market.api(key, "GET", f"/invitations/{invitation_id}"),
        market.api(key, "GET", "/invitations"),
        market.api(key, "POST", f"/invitations/{invitation_id}/cancel"),
    ]
    for answer in answers:
        assert token not in answer.get_data(as_text=True)


def test_purchase_offer_with_license_counts(market: Marketplace, key: str) -> None:
    response = market.invite(
        key, type="purchase", offer_id=None, licenses={"teams": 25, "exchange-online": 10}
    )
    assert response.status_code == 201
    shown = market.api(key, "GET", f"/invitations/{response.get_json()['id']}").get_json()
    assert shown["type"] == "purchase"
    assert shown["licenses"] == {"exchange-online": 10, "teams": 25}
    assert shown["trial_days"] is None
    assert "25 licenses" in market.mails()[0].body


@pytest.mark.parametrize(
    ("licenses", "field"),
    [
        ({"teams": 0}, "licenses.teams"),
        ({"teams": -3}, "licenses.teams"),
        ({"teams": 2.5}, "licenses.teams"),
        ({"teams": "10"}, "licenses.teams"),
        ({"teams": True}, "licenses.teams"),
        ({"teams": 100_001}, "licenses.teams"),
        ({"intune": 5}, "licenses.intune"),  # not among contoso-cloud's services
        ({}, "licenses"),
    ],
)
def test_license_counts_are_positive_whole_numbers_of_authorized_services(
    market: Marketplace, key: str, licenses: dict[str, object], field: str
) -> None:
    response = market.invite(key, type="purchase", offer_id=None, licenses=licenses)
    assert error_of(response) == (400, "validation_error")
    assert response.get_json()["field"] == field
    assert market.mails() == []


def test_purchase_offer_named_by_id_limits_its_services(market: Marketplace, key: str) -> None:
    response = market.invite(key, type="purchase", offer_id="files-move", licenses={"teams": 5})
    assert error_of(response) == (400, "validation_error")
    assert "files-move" in response.get_json()["message"]
    ok = market.invite(key, type="purchase", offer_id="files-move", licenses={"onedrive": 5})
    assert ok.status_code == 201


def test_unknown_offer(market: Marketplace, key: str) -> None:
    response = market.invite(key, offer_id="no-such-offer")
    assert error_of(response) == (422, "unknown_offer")
    assert "trial-collab" in response.get_json()["message"]
    # a purchase offer's id is not a trial offer
    assert error_of(market.invite(key, offer_id="files-move")) == (422, "unknown_offer")


def test_delegated_admin_refused_unless_the_listing_allows_it(market: Marketplace) -> None:
    market.add_tenant()
    no_da_partner = market.key("kanto-device-works")
    response = market.invite(no_da_partner, offer_id="kiosk-trial", delegated_admin=True)
    assert error_of(response) == (403, "not_eligible_for_delegated_admin")
    assert market.invite(no_da_partner, offer_id="kiosk-trial").status_code == 201


def test_delegated_admin_refused_when_the_offer_does_not_allow_it(market: Marketplace) -> None:
    market.add_tenant()
    taiga = market.key("taiga-cloud")
    response = market.invite(taiga, offer_id="mail-move", delegated_admin=True)
    assert error_of(response) == (403, "not_eligible_for_delegated_admin")
    assert market.invite(taiga, offer_id="teams-start", delegated_admin=True).status_code == 201


def test_21vianet_tenants_are_refused(market: Marketplace) -> None:
    market.add_tenant(
        "contoso.partner.onmschina.cn", "Contoso China", ("it@contoso.cn",), "21vianet"
    )
    key = market.key()
    response = market.invite(key, tenant="contoso.partner.onmschina.cn")
    assert error_of(response) == (422, "cloud_not_supported")
    assert market.mails() == []
    assert market.api(key, "GET", "/invitations").get_json() == {"invitations": []}


def test_mail_for_an_existing_tenant_goes_only_to_its_verified_admins(market: Marketplace) -> None:
    market.add_tenant(admins=(ADMIN, "second@fabrikam.example"))
    key = market.key()
    response = market.invite(key, customer={"email": "attacker@evil.example", "company": "Evil"})
    assert response.status_code == 201
    assert sorted(mail.to for mail in market.mails()) == [ADMIN, "second@fabrikam.example"]
    # each recipient has a link of their own
    assert market.link(ADMIN) != market.link("second@fabrikam.example")


def test_new_customer_gets_the_mail(market: Marketplace) -> None:
    key = market.key()
    response = market.invite(
        key,
        tenant="newco.onmicrosoft.com",
        customer={"email": "Boss@NewCo.example", "company": "NewCo"},
    )
    assert response.status_code == 201
    [mail] = market.mails()
    assert mail.to == "boss@newco.example"
    assert "NewCo" in mail.body


def test_unknown_tenant_needs_a_customer(market: Marketplace) -> None:
    key = market.key()
    response = market.invite(key, tenant="nobody.onmicrosoft.com")
    assert error_of(response) == (422, "customer_required")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "rental"}, "type"),
        ({"tenant": "not a domain"}, "tenant"),
        ({"tenant": 42}, "tenant"),
        ({"delegated_admin": "yes"}, "delegated_admin"),
        ({"surprise": 1}, "surprise"),
        ({"licenses": {"teams": 1}}, "licenses"),  # a trial carries no licenses
        ({"offer_id": None}, "offer_id"),
        (
            {"tenant": "newco.example", "customer": {"email": "not-an-address", "company": "X"}},
            "customer.email",
        ),
        ({"tenant": "newco.example", "customer": {"email": "a@b.example"}}, "customer.company"),
    ],
)
def test_invalid_bodies_name_the_field(
    market: Marketplace, key: str, body: dict[str, object], field: str
) -> None:
    response = market.invite(key, **body)
    assert error_of(response)[0] == 400
    assert response.get_json()["field"] == field
    assert market.mails() == []


def test_malformed_json_and_wrong_content_type(market: Marketplace, key: str) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    broken = market.client.post(
        "/api/v1/invitations", data="{not json", headers=headers, content_type="application/json"
    )
    assert error_of(broken) == (400, "validation_error")
    not_json = market.client.post("/api/v1/invitations", data="type=trial", headers=headers)
    assert error_of(not_json) == (415, "unsupported_media_type")
    a_list = market.api(key, "POST", "/invitations", [1, 2])
    assert error_of(a_list) == (400, "validation_error")
    huge = market.client.post(
        "/api/v1/invitations",
        data=json.dumps({"type": "trial", "pad": "x" * 400_000}),
        headers=headers,
        content_type="application/json",
    )
    assert error_of(huge) == (413, "payload_too_large")
    assert market.mails() == []


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer mpk_0000000000000000_" + "A" * 43,
        "Bearer not-a-key",
        "Bearer " + "x" * 5000,
    ],
)
def test_wrong_keys_are_unauthorized(market: Marketplace, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = market.client.get("/api/v1/invitations", headers=headers)
    assert error_of(response) == (401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_tampered_or_revoked_key_is_unauthorized(market: Marketplace, key: str) -> None:
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert error_of(market.api(tampered, "GET", "/invitations")) == (401, "unauthorized")
    from consent_app.partners import revoke_key
    from tests.consent_app.conftest import OPERATOR

    key_id = key.split("_")[1]
    with market.backend.write() as session:
        revoke_key(session, key_id, OPERATOR)
    assert error_of(market.api(key, "GET", "/invitations")) == (401, "unauthorized")


def test_another_partners_invitation_is_not_found(market: Marketplace, key: str) -> None:
    invitation_id = market.invite(key).get_json()["id"]
    other = market.key("cape-collaboration")
    for method, path in [
        ("GET", f"/invitations/{invitation_id}"),
        ("POST", f"/invitations/{invitation_id}/cancel"),
    ]:
        assert error_of(market.api(other, method, path)) == (404, "not_found")
    assert market.api(other, "GET", "/invitations").get_json() == {"invitations": []}
    # and the invitation is untouched
    assert market.api(key, "GET", f"/invitations/{invitation_id}").get_json()["status"] == "pending"


def test_cancel_then_cancel_again(market: Marketplace, key: str) -> None:
    invitation_id = market.invite(key).get_json()["id"]
    canceled = market.api(key, "POST", f"/invitations/{invitation_id}/cancel")
    assert canceled.status_code == 200 and canceled.get_json()["status"] == "canceled"
    again = market.api(key, "POST", f"/invitations/{invitation_id}/cancel")
    assert error_of(again) == (409, "invalid_state")
    # the customer's link now says so and offers nothing to accept
    page = market.client.get(market.link())
    assert page.status_code == 410 and "withdrew" in page.get_data(as_text=True)


def test_listing_invitations_newest_first_with_paging(market: Marketplace, key: str) -> None:
    ids = [market.invite(key).get_json()["id"] for _ in range(5)]
    first = market.api(key, "GET", "/invitations?limit=2").get_json()["invitations"]
    assert [item["id"] for item in first] == ids[::-1][:2]
    rest = market.api(key, "GET", f"/invitations?limit=10&before={first[-1]['id']}").get_json()
    assert [item["id"] for item in rest["invitations"]] == ids[::-1][2:]
    assert error_of(market.api(key, "GET", "/invitations?limit=0")) == (400, "validation_error")
    assert error_of(market.api(key, "GET", "/invitations?before=inv_nope"))[0] == 400


def test_decision_shows_in_the_partner_view(market: Marketplace, key: str) -> None:
    invitation_id = market.invite(key, delegated_admin=True).get_json()["id"]
    market.decide(market.link(), authorize_delegated_admin="y")
    shown = market.api(key, "GET", f"/invitations/{invitation_id}").get_json()
    assert shown["status"] == "accepted"
    assert shown["delegated_admin_granted"] is True
    assert shown["partner_of_record"] is False


def test_relationships_and_ending_own_delegated_admin(market: Marketplace, key: str) -> None:
    market.invite(key, delegated_admin=True)
    market.decide(market.link(), authorize_delegated_admin="y", make_partner_of_record="y")
    [relationship] = market.api(key, "GET", "/relationships").get_json()["relationships"]
    assert relationship["tenant"] == TENANT
    assert relationship["delegated_admin"] and relationship["partner_of_record"]
    ended = market.api(key, "DELETE", f"/relationships/{TENANT}/delegated-admin")
    assert ended.status_code == 204
    [relationship] = market.api(key, "GET", "/relationships").get_json()["relationships"]
    assert relationship["delegated_admin"] is False and relationship["partner_of_record"] is True
    again = market.api(key, "DELETE", f"/relationships/{TENANT}/delegated-admin")
    assert error_of(again) == (404, "not_found")
    # the customer's admins are told
    assert any("no longer administers" in mail.body for mail in market.mails(ADMIN))


def test_a_partner_cannot_end_another_partners_delegated_admin(
    market: Marketplace, key: str
) -> None:
    market.invite(key, delegated_admin=True)
    market.decide(market.link(), authorize_delegated_admin="y")
    other = market.key("cape-collaboration")
    response = market.api(other, "DELETE", f"/relationships/{TENANT}/delegated-admin")
    assert error_of(response) == (404, "not_found")
    assert market.api(key, "GET", "/relationships").get_json()["relationships"][0][
        "delegated_admin"
    ]


def test_unknown_api_paths_and_methods_answer_json(market: Marketplace, key: str) -> None:
    assert error_of(market.api(key, "GET", "/nothing-here")) == (404, "not_found")
    assert error_of(market.api(key, "PUT", "/invitations")) == (405, "method_not_allowed")


def test_invitations_expire_after_the_configured_days(app_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from consent_app.db import utcnow
    from consent_app.invitations import expire_invitations

    market = Marketplace(app_factory(MARKETPLACE_INVITATION_DAYS="3"))
    market.add_tenant()
    key = market.key()
    created = market.invite(key).get_json()
    lifetime = created["expires_at"]
    from datetime import datetime

    assert abs(datetime.fromisoformat(lifetime) - utcnow() - timedelta(days=3)) < timedelta(
        minutes=1
    )
    # Three days and a second later, by the backend's clock (no sleeping, nothing rewritten).
    later = utcnow() + timedelta(days=3, minutes=2)  # past the sweep's grace period too
    market.backend.clock = lambda: later
    assert market.api(key, "GET", f"/invitations/{created['id']}").get_json()["status"] == "expired"
    # The sweep records the expiry in the audit log once, however often it runs.
    assert market.backend.run(expire_invitations) == 1
    assert market.backend.run(expire_invitations) == 0
    shown = market.api(key, "GET", f"/invitations/{created['id']}").get_json()
    assert shown["status"] == "expired"
    assert error_of(market.api(key, "POST", f"/invitations/{created['id']}/cancel")) == (
        409,
        "invalid_state",
    )
