"""The header search in headless Chromium: partners and pages as you type, in both languages,
keyboard use, the find page, the static fallback, phone width and hostile partner names.

Screenshots of the open list go to $SCREENSHOT_DIR when it is set (docs/images:
header-search-en.png, header-search-ru.png, header-search-phone.png).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from werkzeug.serving import make_server

from marketplace_app.config import settings_for
from marketplace_app.wiring import backend_app
from tests.browser import running, static_server, wait_for
from tests.site.conftest import XSS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDE = (1280, 1000)
ENGLISH_ONLY = {"Tailspin Learning", "Kanto Device Works"}
"""Example listings with no Russian translation."""

# Collects what the page's scripts throw (Material's bundle among them), from before they run.
ERROR_COLLECTOR = """
window.mpErrors = [];
window.addEventListener("error", function (event) { window.mpErrors.push(String(event.message)); });
window.addEventListener("unhandledrejection", function (event) {
  window.mpErrors.push(String(event.reason));
});
"""

OPTIONS = """
return Array.from(document.querySelectorAll("#mp-hs-listbox [role=option]")).map(function (o) {
  var group = o.closest("[role=group]");
  var heading = group && document.getElementById(group.getAttribute("aria-labelledby"));
  return {
    group: heading ? heading.textContent : null,
    name: (o.querySelector(".mp-hs__name") || o).textContent,
    href: o.href,
    id: o.id,
    selected: o.getAttribute("aria-selected")
  };
});
"""


def serve_with_backend(built_site: Path, tmp_path: Path) -> AbstractContextManager[str]:
    """The built site served by the backend with the search index its build wrote (the
    examples and the hostile listing); yields the base URL."""
    instance = tmp_path / "instance"
    shutil.copytree(built_site.parent / "instance", instance, symlinks=True)
    app = backend_app(settings_for(instance, site_dir=built_site))
    return running(make_server("127.0.0.1", 0, app, threaded=True))


@pytest.fixture
def backend(built_site: Path, tmp_path: Path) -> Iterator[str]:
    with serve_with_backend(built_site, tmp_path) as url:
        yield url


@pytest.fixture(params=["backend", "static host"])
def any_host(request: pytest.FixtureRequest, built_site: Path, tmp_path: Path) -> Iterator[str]:
    """The site with the backend, then on a static host without it (the names fallback)."""
    if request.param == "backend":
        server = serve_with_backend(built_site, tmp_path)
    else:
        server = static_server(built_site)
    with server as url:
        yield url


@pytest.fixture
def chromium(browser: Any) -> Iterator[Any]:
    """The module's browser at desktop width, collecting page errors."""
    collector = browser.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": ERROR_COLLECTOR}
    )
    browser.set_window_size(*WIDE)
    yield browser
    browser.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", collector)


class HeaderSearch:
    """The header search of the page the browser shows, used as a person would."""

    def __init__(self, browser: Any) -> None:

        self.browser = browser
        self.wait = wait_for(browser, 10)

    def open(self, url: str) -> HeaderSearch:
        self.browser.get(url)
        return self

    @property
    def box(self) -> Any:
        from selenium.webdriver.common.by import By

        return self.browser.find_element(By.ID, "mp-hs-input")

    def type(self, text: str) -> list[dict[str, Any]]:
        """Type into the box and wait until the list shows what `text` finds; its options."""
        if self.browser.switch_to.active_element != self.box:
            self.box.click()
        self.box.send_keys(text)
        # The last option opens the find page with the whole text: the list is for all of it.
        wanted = "find/?" + urlencode({"query": text})
        self.wait.until(
            lambda _: (
                self.expanded and self.options() and self.options()[-1]["href"].endswith(wanted)
            )
        )
        return self.options()

    def clear(self) -> None:
        from selenium.webdriver.common.keys import Keys

        self.box.send_keys(Keys.CONTROL, "a")
        self.box.send_keys(Keys.BACK_SPACE)
        self.wait.until(lambda _: not self.expanded)

    def options(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.browser.execute_script(OPTIONS)
        return found

    def press(self, key: str) -> None:
        self.box.send_keys(key)

    @property
    def expanded(self) -> bool:
        return bool(self.box.get_attribute("aria-expanded") == "true")

    @property
    def label(self) -> str:
        return str(
            self.browser.execute_script(
                "return document.querySelector('label[for=mp-hs-input]').textContent"
            )
        )

    @property
    def status(self) -> str:
        return str(
            self.browser.execute_script(
                'return document.getElementById("mp-hs-status").textContent'
            )
        )

    def errors(self) -> list[str]:
        found: list[str] = self.browser.execute_script("return window.mpErrors || []")
        return found

    def shoot(self, name: str) -> None:
        folder = os.environ.get("SCREENSHOT_DIR")
        if folder:
            self.wait.until(
                lambda driver: driver.execute_script(
                    "return Array.from(document.querySelectorAll('#mp-hs-listbox img'))"
                    ".every(function (img) { return img.complete; })"
                )
            )
            Path(folder).mkdir(parents=True, exist_ok=True)
            self.browser.save_screenshot(str(Path(folder) / f"header-search-{name}.png"))


def partners(options: list[dict[str, Any]], heading: str) -> list[str]:
    return [option["name"] for option in options if option["group"] == heading]


def opened(driver: Any, page: str, query: str) -> bool:
    """Whether the browser shows `page` with `query` as its text (the find page may add to
    its address, never change the text)."""
    address = urlsplit(driver.current_url)
    return bool(
        address._replace(query="").geturl() == page
        and parse_qs(address.query).get("query") == [query]
    )


def test_typing_a_partner_name_lists_the_partner_first(backend: str, chromium: Any) -> None:
    from selenium.webdriver.common.by import By

    search = HeaderSearch(chromium).open(backend + "get-listed/")
    box = search.box
    assert (box.get_attribute("role"), box.get_attribute("aria-autocomplete")) == (
        "combobox",
        "list",
    )
    assert not search.expanded
    assert search.label == "Search partners and pages"

    options = search.type("Contoso")
    listbox = chromium.find_element(By.ID, box.get_attribute("aria-controls"))
    assert listbox.get_attribute("role") == "listbox" and listbox.is_displayed()
    first = options[0]
    assert (first["group"], first["name"]) == ("Partners", "Contoso Cloud Services")
    assert first["href"] == backend + "partners/contoso-cloud/"
    # The logo is the file the site publishes (the API's path, made relative to this page).
    search.wait.until(
        lambda driver: driver.execute_script(
            "var img = document.querySelector('#mp-hs-listbox img.mp-hs__logo');"
            "return img.complete && img.naturalWidth > 0"
        )
    )
    assert {option["group"] for option in options[1:-1]} <= {"Partners", "Pages"}
    assert (options[-1]["name"], options[-1]["href"]) == (
        "See all results for “Contoso”",
        backend + "find/?query=Contoso",
    )
    assert search.status.startswith("1 partner, ")
    search.clear()
    options = search.type("training")
    assert len(partners(options, "Partners")) > 1
    search.shoot("en")

    search.open(backend + "ru/partners/contoso-cloud/")
    options = search.type("Contoso")
    assert (options[0]["group"], options[0]["name"]) == ("Партнёры", "Contoso Cloud Services")
    assert options[0]["href"] == backend + "ru/partners/contoso-cloud/"
    assert (options[-1]["name"], options[-1]["href"]) == (
        "Все результаты по запросу «Contoso»",
        backend + "ru/find/?query=Contoso",
    )
    assert search.status.startswith("1 партнёр, ")
    assert search.label == "Поиск партнёров и страниц"
    search.clear()
    options = search.type("обучение")
    assert "Tailspin Learning" in partners(options, "Партнёры")
    # A listing without a Russian translation shows its English text, marked as English.
    marked = chromium.execute_script(
        "return Array.from(document.querySelectorAll('#mp-hs-listbox .mp-hs__text[lang=en]'))"
        ".map(function (text) { return text.querySelector('.mp-hs__name').textContent; })"
    )
    assert marked == [name for name in partners(options, "Партнёры") if name in ENGLISH_ONLY]
    search.shoot("ru")
    assert search.errors() == []


def test_arrow_keys_choose_an_option_and_enter_opens_it(backend: str, chromium: Any) -> None:
    from selenium.webdriver.common.keys import Keys

    search = HeaderSearch(chromium).open(backend)
    options = search.type("Contoso")
    search.press(Keys.ARROW_UP)  # from the box: the last option, "See all results"
    assert search.box.get_attribute("aria-activedescendant") == options[-1]["id"]
    assert search.options()[-1]["selected"] == "true"
    search.press(Keys.ARROW_DOWN)  # wraps round to the first
    assert search.box.get_attribute("aria-activedescendant") == options[0]["id"]
    assert [option["selected"] for option in search.options()].count("true") == 1
    search.press(Keys.ENTER)
    search.wait.until(lambda driver: driver.current_url == backend + "partners/contoso-cloud/")


def test_enter_and_see_all_open_the_find_page_with_the_text(backend: str, chromium: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    search = HeaderSearch(chromium).open(backend + "browse/")
    search.type("staff training")
    search.press(Keys.ENTER)
    search.wait.until(lambda driver: opened(driver, backend + "find/", "staff training"))

    search.open(backend + "ru/")
    options = search.type("Contoso")
    chromium.find_element(By.ID, options[-1]["id"]).click()
    search.wait.until(lambda driver: opened(driver, backend + "ru/find/", "Contoso"))


def test_escape_closes_the_list_then_clears_the_box(backend: str, chromium: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    search = HeaderSearch(chromium).open(backend + "delegated-admin/")
    search.type("Contoso")
    search.press(Keys.ARROW_DOWN)
    search.press(Keys.ESCAPE)
    assert not search.expanded
    assert not chromium.find_element(By.ID, "mp-hs-listbox").is_displayed()
    assert search.box.get_attribute("aria-activedescendant") is None
    assert search.box.get_attribute("value") == "Contoso"
    search.press(Keys.ARROW_DOWN)  # the same list again
    assert search.expanded and search.options()[0]["selected"] == "true"
    search.press(Keys.ESCAPE)
    search.press(Keys.ESCAPE)
    assert search.box.get_attribute("value") == ""
    assert not search.expanded and search.options() == []


def test_material_search_stays_unmounted_and_harmless(backend: str, chromium: Any) -> None:
    """Material's own search script finds no component of its own (so it neither fetches its
    index nor opens on `?q=`) and the page throws nothing."""
    search = HeaderSearch(chromium).open(backend + "get-listed/?q=Contoso")
    assert chromium.execute_script('return document.getElementById("__search").checked') is False
    assert search.box.get_attribute("value") == ""
    assert (
        chromium.execute_script(
            "return document.querySelectorAll('[data-md-component^=search]').length"
        )
        == 0
    )
    search.type("Contoso")
    assert search.errors() == []


def test_without_the_api_partners_are_found_by_name(
    built_site: Path, tmp_path: Path, chromium: Any
) -> None:
    """A static host, and the site published under a sub-path of it (/mp/)."""
    (tmp_path / "mp").symlink_to(built_site, target_is_directory=True)
    with static_server(tmp_path) as host:
        base = host + "mp/"
        search = HeaderSearch(chromium).open(base + "get-listed/")
        options = search.type("contoso")
        assert (options[0]["group"], options[0]["name"]) == ("Partners", "Contoso Cloud Services")
        assert options[0]["href"] == base + "partners/contoso-cloud/"
        assert options[-1]["href"] == base + "find/?query=contoso"
        assert search.status.startswith("1 partner, ")

        search.open(base + "ru/browse/")
        options = search.type("Contoso")
        assert (options[0]["group"], options[0]["name"]) == ("Партнёры", "Contoso Cloud Services")
        assert options[0]["href"] == base + "ru/partners/contoso-cloud/"
        assert search.errors() == []


def test_hand_written_pages_are_found(built_site: Path, chromium: Any) -> None:
    with static_server(built_site) as base:
        search = HeaderSearch(chromium).open(base + "partners/contoso-cloud/")
        options = search.type("get listed")
        pages = [(o["name"], o["href"]) for o in options if o["group"] == "Pages"]
        assert pages[0] == ("Get listed", base + "get-listed/")

        search.open(base + "ru/partners/contoso-cloud/")
        options = search.type("как попасть")
        pages = [(o["name"], o["href"]) for o in options if o["group"] == "Страницы"]
        assert pages[0] == ("Как попасть в каталог", base + "ru/get-listed/")


def test_a_phone_opens_the_search_from_the_header_icon(backend: str, chromium: Any) -> None:
    from selenium.webdriver.common.by import By

    chromium.set_window_size(375, 812)
    try:
        search = HeaderSearch(chromium).open(backend + "partners/contoso-cloud/")
        icon = chromium.find_element(By.CSS_SELECTOR, ".md-header__button[for=__search]")
        assert icon.is_displayed()
        icon.click()
        search.wait.until(lambda driver: driver.switch_to.active_element == search.box)
        options = search.type("Contoso")
        assert options[0]["name"] == "Contoso Cloud Services"
        option = chromium.find_element(By.ID, options[0]["id"])
        assert option.is_displayed()
        width = chromium.execute_script("return document.documentElement.clientWidth")
        assert option.rect["x"] >= 0 and option.rect["x"] + option.rect["width"] <= width
        search.shoot("phone")
        # The panel's back arrow closes it.
        chromium.find_element(By.CSS_SELECTOR, ".md-search__form label[for=__search]").click()
        search.wait.until(lambda _: not search.box.is_displayed() or not search.expanded)
        assert (
            chromium.execute_script('return document.getElementById("__search").checked') is False
        )
    finally:
        chromium.set_window_size(*WIDE)


def test_a_hostile_partner_name_stays_text(any_host: str, chromium: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    for url, text, name, heading in [
        ("", "Hostile", f"Hostile {XSS[0]}", "Partners"),
        ("ru/", "Враждебный", f"Враждебный {XSS[4]}", "Партнёры"),
    ]:
        search = HeaderSearch(chromium).open(any_host + url)
        options = search.type(text)
        assert partners(options, heading)[0] == name
        assert (
            chromium.execute_script(
                "return document.querySelectorAll('#mp-hs-listbox script, #mp-hs-listbox svg,"
                " #mp-hs-listbox iframe, #mp-hs-listbox img:not(.mp-hs__logo)').length"
            )
            == 0
        )
        with pytest.raises(NoAlertPresentException):
            chromium.switch_to.alert.text  # noqa: B018 - reading it is the check
        assert search.errors() == []
