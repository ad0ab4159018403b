"""The search page in headless Chromium, against the real app and index, and without a backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from marketplace.validate import load_listings
from marketplace_app.config import settings_for
from marketplace_app.wiring import backend_app
from search.documents import partner_documents
from search.whoosh_engine import build_index
from search.whoosh_engine import index_root as search_index_root
from tests.browser import running, static_server
from tests.conftest import EXAMPLE_LISTINGS, install_example_snapshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def app_url(built_site: Path, tmp_path: Path) -> Iterator[str]:
    catalog, loaded = load_listings(EXAMPLE_LISTINGS)
    instance = tmp_path / "instance"
    build_index(
        search_index_root(instance), partner_documents(catalog, [i.listing for i in loaded])
    )
    install_example_snapshot(instance)
    app = backend_app(settings_for(instance, site_dir=built_site))
    with running(make_server("127.0.0.1", 0, app, threaded=True)) as url:
        yield url


def test_search_page_shows_ranked_highlighted_partners(app_url: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(app_url + "search/?query=staff%20training")
    wait = WebDriverWait(browser, 10)
    wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "#mp-search li.mp-card"))
    first = browser.find_element(By.CSS_SELECTOR, "#mp-search li.mp-card a")
    assert first.get_attribute("href").endswith("/partners/taiga-cloud/")
    marks = browser.find_elements(By.CSS_SELECTOR, "#mp-search li.mp-card mark")
    assert any(mark.text.lower() == "training" for mark in marks)

    browser.get(app_url + "ru/search/?query=обучение")
    wait.until(lambda driver: driver.find_elements(By.CSS_SELECTOR, "#mp-search li.mp-card"))
    link = browser.find_element(By.CSS_SELECTOR, "#mp-search li.mp-card a")
    assert "/ru/partners/" in link.get_attribute("href")


def test_search_page_says_plainly_when_the_backend_is_missing(
    built_site: Path, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with static_server(built_site) as base:
        browser.get(base + "search/?query=migration")
        WebDriverWait(browser, 10).until(
            lambda driver: driver.find_elements(By.CSS_SELECTOR, "#mp-search .mp-notice")
        )
        notice = browser.find_element(By.CSS_SELECTOR, "#mp-search .mp-notice").text
        assert "not reachable" in notice
