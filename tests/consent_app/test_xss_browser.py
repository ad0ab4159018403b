"""An XSS corpus through every partner field and every customer-visible form of the consent
pages, checked in headless Chromium: no dialog opens, no payload runs, no element is injected."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from werkzeug.serving import make_server

from consent_app.backend import backend_of
from tests.browser import running, wait_for
from tests.conftest import EXAMPLE_LISTINGS
from tests.consent_app.conftest import Marketplace, make_app
from tests.site.conftest import HOSTILE_LISTING, XSS
from tests.smtp import free_port

pytestmark = [pytest.mark.browser]

RUNS = '<img src=x onerror="window.__xss=1">'
"""A payload that would leave a trace if it ever ran."""
EVIL = f"Evil {XSS[0]} {RUNS} {XSS[4]} {XSS[5]}"

INJECTED = (
    'return [...document.querySelectorAll(\'main script, main img[src="x"], main svg, '
    "main iframe, [onerror], [onload]')].length + (window.__xss ? 100 : 0)"
)


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[tuple[str, Marketplace]]:
    listings = tmp_path / "listings"
    shutil.copytree(EXAMPLE_LISTINGS, listings)
    text = HOSTILE_LISTING.replace(
        "    trial_days: 30\n", "    trial_days: 30\n    delegated_admin: optional\n"
    )
    (listings / "zz-hostile.yaml").write_text(text, encoding="utf-8")
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    app = make_app(
        tmp_path,
        f"sqlite:///{tmp_path / 'instance' / 'marketplace.sqlite3'}",
        LISTINGS_DIR=listings,
        MARKETPLACE_BASE_URL=base,
        MARKETPLACE_RATE_LIMITS="off",
    )
    with running(make_server("127.0.0.1", port, app, threaded=True)):
        yield base, Marketplace(app)
    backend_of(app).close()


def assert_inert(browser: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 - reading it is the check
    assert browser.execute_script(INJECTED) == 0, browser.current_url


def test_hostile_partner_and_customer_text_stays_text(
    hostile: tuple[str, Marketplace], browser: Any
) -> None:
    from selenium.webdriver.common.by import By

    base, market = hostile
    market.add_tenant(name=EVIL, admins=("admin@fabrikam.example",))
    key = market.key("zz-hostile")
    assert market.invite(key, offer_id="trial", delegated_admin=True).status_code == 201
    existing = market.link("admin@fabrikam.example")
    created = market.invite(
        key,
        tenant="newco.onmicrosoft.com",
        offer_id="trial",
        customer={"email": "boss@newco.example", "company": EVIL},
    )
    assert created.status_code == 201
    new_customer = market.link("boss@newco.example")

    for path in (existing, new_customer):
        browser.get(base + path.lstrip("/") + "?lang=ru")
        assert "Враждебный" in browser.page_source
        assert_inert(browser)
        browser.get(base + path.lstrip("/") + "?lang=en")
        assert "Hostile" in browser.page_source
        assert_inert(browser)

    # accept with DA and POR: the confirmation page shows partner text too
    browser.get(base + existing.lstrip("/"))
    browser.find_element(By.ID, "authorize_delegated_admin").click()
    browser.find_element(By.ID, "make_partner_of_record").click()
    browser.find_element(By.CSS_SELECTOR, "button[value=accept]").click()
    wait_for(browser, 10).until(lambda driver: "You accepted" in driver.page_source)
    assert_inert(browser)

    # the customer page, where the tenant's name, partner names and history are shown
    browser.get(base + "signin")
    browser.find_element(By.ID, "email").send_keys("admin@fabrikam.example")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait = wait_for(browser, 10)
    wait.until(lambda driver: "Check your mail" in driver.page_source)
    browser.get(market.link("admin@fabrikam.example", "signin").replace("/", base, 1))
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait.until(lambda driver: "Consent history" in driver.page_source)
    assert "Evil" in browser.find_element(By.TAG_NAME, "h1").text
    assert_inert(browser)


@pytest.mark.parametrize("payload", [*XSS, RUNS])
def test_hostile_form_input_and_addresses_stay_text(
    hostile: tuple[str, Marketplace], browser: Any, payload: str
) -> None:
    from selenium.webdriver.common.by import By

    base, _ = hostile
    browser.get(base + "signin")
    field = browser.find_element(By.ID, "email")
    browser.execute_script("arguments[0].type = 'text'", field)  # let the browser send anything
    field.send_keys(payload)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    assert_inert(browser)
    for path in (
        f"invitations/{quote(payload, safe='')}",
        f"signin/{quote(payload, safe='')}",
        f"signin?lang={quote(payload, safe='')}",
        f"account/?lang={quote(payload, safe='')}",
    ):
        browser.get(base + path)
        assert_inert(browser)
