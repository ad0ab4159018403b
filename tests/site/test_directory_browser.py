"""The directory page in headless Chromium: filters by facet, counts, and keeps them in the URL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from marketplace.validate import load_listings
from tests.browser import static_server
from tests.conftest import EXAMPLE_LISTINGS

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def expected_count(service: str, region: str) -> int:
    _, loaded = load_listings(EXAMPLE_LISTINGS)
    return sum(
        1
        for item in loaded
        if service in item.listing.services
        and (region in item.listing.regions or "worldwide" in item.listing.regions)
    )


def test_directory_filters_by_service_and_region(built_site: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    with static_server(built_site) as base:
        browser.get(base + "directory/")
        wait = WebDriverWait(browser, 10)
        wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "#mp-directory select"))
        status = browser.find_element(By.CSS_SELECTOR, "#mp-directory [role=status]")
        assert status.text == "15 partners match"  # 14 examples and the hostile fixture
        Select(browser.find_element(By.NAME, "service")).select_by_value("exchange-online")
        Select(browser.find_element(By.NAME, "region")).select_by_value("GB")
        count = expected_count("exchange-online", "GB")
        assert 0 < count < 14
        wait.until(lambda driver: status.text == f"{count} partners match")
        assert len(browser.find_elements(By.CSS_SELECTOR, "#mp-directory li.mp-card")) == count
        assert browser.current_url.endswith("directory/?service=exchange-online&region=GB")

        # The URL is the shareable view: opening it restores the filters and the list.
        browser.get(base + "directory/?service=exchange-online&region=GB")
        wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "#mp-directory li.mp-card"))
        status = browser.find_element(By.CSS_SELECTOR, "#mp-directory [role=status]")
        assert status.text == f"{count} partners match"
        link = browser.find_element(By.CSS_SELECTOR, "#mp-directory li.mp-card a")
        assert "/partners/" in link.get_attribute("href")


def test_hostile_partner_page_runs_no_script(built_site: Path, browser: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    with static_server(built_site) as base:
        for url in ["partners/zz-hostile/", "ru/partners/zz-hostile/", "directory/?name=Hostile"]:
            browser.get(base + url)
            browser.execute_script("return document.readyState")
            with pytest.raises(NoAlertPresentException):
                browser.switch_to.alert.text  # noqa: B018 - reading it is the check
            assert "Hostile" in browser.page_source or "Враждебный" in browser.page_source
