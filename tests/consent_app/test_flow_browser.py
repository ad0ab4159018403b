"""The whole consent flow once in headless Chromium, over real HTTP: a partner's API call,
the mail file, the customer opening the link, ticking DA and POR, accepting, then signing in
to the customer page. Screenshots go to $SCREENSHOT_DIR when it is set."""

from __future__ import annotations

import json
import os
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.browser import wait_for
from tests.consent_app.conftest import ADMIN, Marketplace

pytestmark = [pytest.mark.browser]


def shoot(browser: Any, name: str) -> None:
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        browser.set_window_size(1100, 1500)
        browser.save_screenshot(str(Path(folder) / f"{name}.png"))


def newest_link(market: Marketplace, kind: str, base: str) -> str:
    for mail in reversed(market.mails(ADMIN)):
        found = re.findall(rf"{re.escape(base)}{kind}/[A-Za-z0-9_-]+", mail.body)
        if found:
            return found[0]
    raise AssertionError(f"no {kind} link in the mail folder")


def test_partner_invites_customer_accepts_with_da_and_por(
    served: tuple[str, Marketplace], browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    base, market = served
    market.add_tenant()
    key = market.key("contoso-cloud")

    body = json.dumps(
        {
            "type": "trial",
            "tenant": "fabrikam.onmicrosoft.com",
            "offer_id": "trial-collab",
            "delegated_admin": True,
        }
    ).encode()
    request = urllib.request.Request(
        base + "api/v1/invitations",
        data=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 201
        invitation_id = json.load(answer)["id"]

    link = newest_link(market, "invitations", base)
    browser.get(link)
    wait = wait_for(browser, 10)
    wait.until(lambda driver: driver.find_elements(By.NAME, "decision"))
    assert "invites Fabrikam to a free trial" in browser.find_element(By.TAG_NAME, "h1").text
    shoot(browser, "invitation-page")
    browser.find_element(By.ID, "authorize_delegated_admin").click()
    browser.find_element(By.ID, "make_partner_of_record").click()
    browser.find_element(By.CSS_SELECTOR, "button[value=accept]").click()
    # page_source, not an element: during the navigation an element found may go stale
    wait.until(lambda driver: "You accepted the invitation" in driver.page_source)
    assert "now administers your tenant" in browser.page_source
    shoot(browser, "invitation-accepted")

    shown = market.api(key, "GET", f"/invitations/{invitation_id}").get_json()
    assert shown["status"] == "accepted" and shown["delegated_admin_granted"]
    assert shown["partner_of_record"]

    # the customer page, signed in by an e-mailed link
    browser.find_element(By.LINK_TEXT, "Go to your customer page").click()
    wait.until(lambda driver: driver.find_elements(By.ID, "email"))
    browser.find_element(By.ID, "email").send_keys(ADMIN)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(lambda driver: "Check your mail" in driver.page_source)
    browser.get(newest_link(market, "signin", base))
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(lambda driver: "Consent history" in driver.page_source)
    assert (
        "Contoso Cloud Services"
        in browser.find_element(By.ID, "cp-da").find_element(By.XPATH, "..").text
    )
    shoot(browser, "customer-page")

    # revoke DA from the customer page
    browser.find_element(By.ID, "confirm").click()  # the confirmation step
    browser.find_element(By.CSS_SELECTOR, "button.cp-button--danger").click()
    wait.until(lambda driver: "No partner administers your tenant." in driver.page_source)
    relationships = market.api(key, "GET", "/relationships").get_json()["relationships"]
    assert relationships[0]["delegated_admin"] is False


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_role_limited_request_in_plain_words(
    served: tuple[str, Marketplace], browser: Any, lang: str
) -> None:
    """Least-privilege DA as the customer sees it: each role described, no full-access flag,
    the end date; accepting with automatic extension grants exactly those roles."""
    from selenium.webdriver.common.by import By

    base, market = served
    market.add_tenant()
    key = market.key("taiga-cloud")
    asked = {"roles": ["teams-admin", "user-admin"], "duration_days": 90}
    sent = market.invite(key, offer_id="teams-start", delegated_admin=asked)
    assert sent.status_code == 201, sent.get_json()
    browser.get(newest_link(market, "invitations", base) + f"?lang={lang}")
    wait = wait_for(browser, 10)
    wait.until(lambda driver: driver.find_elements(By.NAME, "decision"))
    roles = browser.find_element(By.CSS_SELECTOR, "ul.cp-roles").text
    if lang == "ru":
        assert "Администратор Teams" in roles and "Администратор пользователей" in roles
        assert "закончится само" in browser.page_source
    else:
        assert "Teams administrator" in roles and "User administrator" in roles
        assert "ends by itself on" in browser.page_source
    assert not browser.find_elements(By.CSS_SELECTOR, "ul.cp-roles .cp-flag")  # no full access
    shoot(browser, f"invitation-roles-{lang}")
    browser.find_element(By.ID, "authorize_delegated_admin").click()
    browser.find_element(By.ID, "auto_extend_delegated_admin").click()
    browser.find_element(By.CSS_SELECTOR, "button[value=accept]").click()
    wait.until(lambda driver: "cp-roles" not in driver.page_source)
    [held] = market.api(key, "GET", "/relationships").get_json()["relationships"]
    assert held["roles"] == ["teams-admin", "user-admin"] and held["expires_at"]
