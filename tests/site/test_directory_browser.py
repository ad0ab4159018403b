"""The directory page in headless Chromium: filters by facet, counts, and keeps them in the URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from marketplace.validate import load_listings
from tests.browser import static_server
from tests.conftest import EXAMPLE_LISTINGS, install_example_snapshot

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


def test_directory_searches_through_the_api_when_it_is_reachable(
    built_site: Path, tmp_path: Path, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
    from werkzeug.serving import make_server

    from marketplace.validate import load_listings
    from marketplace_app.config import settings_for
    from marketplace_app.wiring import backend_app
    from search.documents import partner_documents
    from search.whoosh_engine import build_index
    from search.whoosh_engine import index_root as search_index_root
    from tests.browser import running

    catalog, loaded = load_listings(EXAMPLE_LISTINGS)
    instance = tmp_path / "instance"
    build_index(
        search_index_root(instance), partner_documents(catalog, [i.listing for i in loaded])
    )
    install_example_snapshot(instance)
    app = backend_app(settings_for(instance, site_dir=built_site))
    with running(make_server("127.0.0.1", 0, app, threaded=True)) as base:
        browser.get(base + "directory/?query=staff%20training")
        wait = WebDriverWait(browser, 10)
        wait.until(
            lambda driver: driver.find_elements(By.CSS_SELECTOR, "#mp-directory li.mp-card mark")
        )
        assert not browser.find_elements(By.CSS_SELECTOR, "#mp-directory .mp-notice")
        first = browser.find_element(By.CSS_SELECTOR, "#mp-directory li.mp-card a")
        assert first.get_attribute("href").endswith("/partners/taiga-cloud/")
        status = browser.find_element(By.CSS_SELECTOR, "#mp-directory [role=status]")
        total = int(status.text.split()[0])
        # a facet filter narrows the API's answer too
        Select(browser.find_element(By.NAME, "program")).select_by_value("learning-partner")
        wait.until(lambda driver: int(status.text.split()[0]) < total)
        assert "program=learning-partner" in browser.current_url
        assert "query=staff+training" in browser.current_url


def test_directory_says_plainly_when_search_falls_back_to_names(
    built_site: Path, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with static_server(built_site) as base:
        browser.get(base + "directory/?query=Contoso")
        wait = WebDriverWait(browser, 10)
        wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "#mp-directory li.mp-card"))
        notice = browser.find_element(By.CSS_SELECTOR, "#mp-directory .mp-notice").text
        assert "not reachable" in notice and "names only" in notice
        names = [
            a.text for a in browser.find_elements(By.CSS_SELECTOR, "#mp-directory li.mp-card a")
        ]
        assert names == ["Contoso Cloud Services"]
