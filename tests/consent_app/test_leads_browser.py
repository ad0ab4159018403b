"""A visitor's "Contact this partner" in headless Chromium, over real HTTP: the form (no
serious accessibility problems, the honeypot out of sight), the mail, the confirm page, and
the partner's list of leads."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser import wait_for
from tests.consent_app.conftest import Marketplace
from tests.site.axe import blocking, report, run_axe

pytestmark = [pytest.mark.browser]


def submit(browser: Any) -> None:
    """Press the form's button and wait for the next page, loaded. While the old document is
    being replaced, Chromium may answer a question about the button with an inspector error
    ("Node with given id does not belong to the document") rather than "stale": the wait
    asks again."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions

    button = browser.find_element(By.CSS_SELECTOR, "main button[type=submit]")
    button.click()
    wait = wait_for(browser, 10)
    wait.until(expected_conditions.staleness_of(button))
    wait.until(lambda driver: driver.execute_script("return document.readyState") == "complete")


def no_serious_problems(browser: Any) -> None:
    found = blocking(run_axe(browser))
    assert not found, report(browser.current_url, found)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_a_visitor_contacts_a_partner(
    served: tuple[str, Marketplace], browser: Any, lang: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, market = served
    browser.get(f"{base}partners/contoso-cloud/contact?lang={lang}")
    no_serious_problems(browser)
    assert not browser.find_element(By.NAME, "website").is_displayed()  # the honeypot
    submit(browser)  # all empty
    assert len(browser.find_elements(By.CSS_SELECTOR, ".cp-error")) == 5
    no_serious_problems(browser)  # the errors beside their fields, too
    browser.find_element(By.NAME, "name").send_keys("Ada Lovelace")
    browser.find_element(By.NAME, "email").send_keys("ada@example.org")
    Select(browser.find_element(By.NAME, "country")).select_by_value("GB")
    browser.find_element(By.NAME, "message").send_keys("Teams for 40 people, please.")
    browser.find_element(By.NAME, "consent").click()
    submit(browser)
    assert browser.find_element(By.TAG_NAME, "h1").text in ("Check your mail", "Проверьте почту")
    (mail,) = market.mails("ada@example.org")
    confirm = re.search(rf"{re.escape(base)}leads/confirm/[A-Za-z0-9_-]+\S*", mail.body)
    assert confirm
    browser.get(confirm.group())
    no_serious_problems(browser)
    assert "Teams for 40 people" in browser.page_source
    submit(browser)
    assert "Contoso" in browser.find_element(By.TAG_NAME, "h1").text
    assert [item.to for item in market.mails()] == ["ada@example.org", "partners@contoso.example"]
