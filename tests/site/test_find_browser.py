"""The find page in headless Chromium, on a real build: served by the backend (the search API
answers) and on a static host alone (the page falls back to directory.json). Filters combine
(any value of a facet, every facet) with counts that follow; sorting, paging, the address
round trip and the back button; the empty state's hints; the old directory/ and search/
addresses; the Russian page; hostile partner text; the phone layout.

What a filter should give is worked out here from the listings themselves (`Oracle`), by the
rules the README gives the search API, so the page is checked against the listings rather
than against its own arithmetic.

Screenshots go to $SCREENSHOT_DIR when it is set (docs/images: find-*.png):
`SCREENSHOT_DIR=docs/images pytest tests/site/test_find_browser.py -k screenshots`.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from werkzeug.serving import make_server

from benchmarks.generate import generate_listings
from marketplace.catalog import FACETS, WORLDWIDE
from marketplace.model import Listing, facet_values
from marketplace.validate import load_listings
from marketplace_app.build import BuildPaths, build
from marketplace_app.config import settings_for
from marketplace_app.wiring import backend_app
from tests.browser import running, static_server, wait_for
from tests.site.conftest import XSS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDE = (1280, 1000)
PHONE = (375, 812)
PER_PAGE = 20
FITS = "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"

# Collects what the page's scripts throw, from before they run.
ERROR_COLLECTOR = """
window.mpErrors = [];
window.addEventListener("error", function (event) { window.mpErrors.push(String(event.message)); });
window.addEventListener("unhandledrejection", function (event) {
  window.mpErrors.push(String(event.reason));
});
"""

STATE = """
const root = document.getElementById("mp-find");
const shown = (node) => Boolean(node) && !node.closest("[hidden]");
const text = (node) => node.textContent.replace(/\\s+/g, " ").trim();
const counts = {};
root.querySelectorAll(".mp-facet__value").forEach((item) => {
  const box = item.querySelector("input");
  counts[box.name + "=" + box.value] =
    Number(item.querySelector(".mp-facet__count").textContent.replace(/\\D/g, ""));
});
const empty = root.querySelector(".mp-find__empty");
const suggestion = root.querySelector(".mp-find__suggestion");
const pager = root.querySelector(".mp-find__pager");
return {
  busy: root.querySelector(".mp-find__results").hasAttribute("aria-busy"),
  count: root.querySelector(".mp-find__count").textContent,
  slugs: Array.from(root.querySelectorAll(".mp-find__card h3 a"))
    .map((a) => a.getAttribute("href").split("/").slice(-2)[0]),
  names: Array.from(root.querySelectorAll(".mp-find__card h3 a")).map(text),
  query: root.querySelector("#mp-find-query").value,
  label: text(root.querySelector("label[for=mp-find-query]")),
  checked: Array.from(root.querySelectorAll(".mp-facet input:checked"))
    .map((box) => box.name + "=" + box.value),
  counts: counts,
  sorts: Array.from(root.querySelectorAll("#mp-find-sort option")).map((o) => o.value),
  sort: root.querySelector("#mp-find-sort").value,
  notice: Array.from(root.querySelectorAll(".mp-notice")).filter(shown).map(text),
  suggestion: shown(suggestion) ? text(suggestion) : null,
  hints: Array.from(root.querySelectorAll(".mp-find__hints a")).map(text),
  empty: shown(empty) ? text(empty) : null,
  page: shown(pager) ? text(pager.querySelector(".mp-find__page")) : null,
  marks: Array.from(root.querySelectorAll(".mp-find__summary mark")).map(text),
};
"""


@dataclass(frozen=True)
class Oracle:
    """What the find page should show for a view, worked out from the listings: a partner
    passes a facet's filter with any of its values (serving worldwide passes any region), and
    every facet's; a value's count applies every filter but its own facet's."""

    listings: list[Listing]
    language: str = "en"

    @staticmethod
    def _passes(listing: Listing, facet: str, values: list[str]) -> bool:
        own = facet_values(listing, next(f for f in FACETS if f.name == facet))
        return any(value in own for value in values) or (facet == "region" and WORLDWIDE in own)

    def matching(
        self, filters: dict[str, list[str]], da: bool = False, name: str = "", skip: str = ""
    ) -> list[Listing]:
        return [
            listing
            for listing in self.listings
            if name.casefold() in listing.text(self.language)[0].casefold()
            and (skip == "da" or not da or listing.delegated_admin)
            and all(
                self._passes(listing, facet, values)
                for facet, values in filters.items()
                if values and facet != skip
            )
        ]

    def total(self, filters: dict[str, list[str]], da: bool = False, name: str = "") -> int:
        return len(self.matching(filters, da, name))

    def counts(
        self, filters: dict[str, list[str]], da: bool = False, name: str = ""
    ) -> dict[str, int]:
        """ "facet=value" -> its count, for every value some partner has ("da=1" too)."""
        counts = {}
        for facet in FACETS:
            others = self.matching(filters, da, name, skip=facet.name)
            for value in {v for listing in self.listings for v in facet_values(listing, facet)}:
                counts[f"{facet.name}={value}"] = sum(
                    self._passes(listing, facet.name, [value]) for listing in others
                )
        counts["da=1"] = sum(
            listing.delegated_admin for listing in self.matching(filters, da, name, skip="da")
        )
        return counts

    def by_name(self) -> list[Listing]:
        return sorted(
            self.listings, key=lambda item: (item.text(self.language)[0].casefold(), item.slug)
        )


class FindPage:
    """The find page the browser shows, used as a person would."""

    def __init__(self, browser: Any) -> None:

        self.browser = browser
        self.wait = wait_for(browser, 15)

    def open(self, url: str) -> dict[str, Any]:
        self.browser.get(url)
        return self.settled()

    def state(self) -> dict[str, Any]:
        found: dict[str, Any] = self.browser.execute_script(STATE)
        return found

    def settled(self) -> dict[str, Any]:
        """The page's state once it shows an answer (no search under way)."""
        self.wait.until(
            lambda _: self.browser.execute_script(
                "const root = document.getElementById('mp-find');"
                "return root && root.querySelector('.mp-find__results') !== null"
                " && !root.querySelector('.mp-find__results').hasAttribute('aria-busy')"
                " && root.querySelector('.mp-find__count').textContent !== ''"
            )
        )
        return self.state()

    def element(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.browser.find_element(By.CSS_SELECTOR, css)

    def click(self, element: Any) -> None:
        """Click as a person would: on the element in the middle of the screen, where Material's
        fixed header cannot cover it."""
        self.browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def tick(self, facet: str, value: str) -> dict[str, Any]:
        """Tick (or untick) a facet value's box, opening the facet's full list if need be."""
        box = self.element(f'.mp-facet input[name="{facet}"][value="{value}"]')
        if not box.is_displayed():
            self.click(self.element(f"#mp-facet-{facet} ~ .mp-facet__more"))
        self.click(box)
        return self.settled()

    def sort_by(self, value: str) -> dict[str, Any]:
        from selenium.webdriver.support.ui import Select

        Select(self.element("#mp-find-sort")).select_by_value(value)
        return self.settled()

    def type(self, text: str) -> dict[str, Any]:
        """Replace the box's text by typing; waits for the answer to the whole text."""
        from selenium.webdriver.common.keys import Keys

        box = self.element("#mp-find-query")
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.BACK_SPACE)
        box.send_keys(text)
        self.wait.until(lambda _: query_of(self.browser.current_url).get("query", "") == text)
        return self.settled()

    def follow(self, css: str, text: str | None = None) -> dict[str, Any]:
        from selenium.webdriver.common.by import By

        links = self.browser.find_elements(By.CSS_SELECTOR, css)
        link = next(a for a in links if text is None or text == a.text)
        self.click(link)
        return self.settled()

    def back(self) -> dict[str, Any]:
        before = self.browser.current_url
        self.browser.back()
        self.wait.until(lambda _: self.browser.current_url != before)
        return self.settled()

    def forward(self) -> dict[str, Any]:
        before = self.browser.current_url
        self.browser.forward()
        self.wait.until(lambda _: self.browser.current_url != before)
        return self.settled()

    def scroll_to(self, css: str) -> None:
        """Scroll `css` to the top of the screen, under Material's fixed header, which swaps
        the site name for the page title (with a transition) once the heading is gone."""
        self.browser.execute_script(
            "document.querySelector(arguments[0]).scrollIntoView();"
            "window.scrollBy(0, -document.querySelector('.md-header').offsetHeight - 8);",
            css,
        )
        self.wait.until(
            lambda driver: driver.execute_script(
                "return document.querySelector('.md-header__title')"
                ".classList.contains('md-header__title--active')"
                " && document.getAnimations().length === 0"
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
                    "return Array.from(document.querySelectorAll('.mp-find__logo'))"
                    ".every(function (img) { return img.tagName !== 'IMG' || img.complete; })"
                )
            )
            Path(folder).mkdir(parents=True, exist_ok=True)
            self.browser.save_screenshot(str(Path(folder) / f"find-{name}.png"))


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def served_by_backend(site: Path, tmp_path: Path) -> AbstractContextManager[str]:
    """`site` served by the backend with the search index its build wrote beside it."""
    instance = tmp_path / "instance"
    shutil.copytree(site.parent / "instance", instance, symlinks=True)
    app = backend_app(settings_for(instance, site_dir=site))
    return running(make_server("127.0.0.1", 0, app, threaded=True))


def served_statically(site: Path, tmp_path: Path) -> AbstractContextManager[str]:
    """`site` on a static host without the API, published under a sub-path of it (/mp/), so
    that links and logos must be relative to the page."""
    (tmp_path / "mp").symlink_to(site, target_is_directory=True)
    return static_server(tmp_path)


HOSTS = ["backend", "static"]


@contextmanager
def serving(site: Path, tmp_path: Path, host: str) -> Iterator[str]:
    """The base URL of `site` served by the backend, or by a static host (under /mp/)."""
    if host == "backend":
        with served_by_backend(site, tmp_path) as base:
            yield base
    else:
        with served_statically(site, tmp_path) as base:
            yield base + "mp/"


@pytest.fixture(params=HOSTS)
def site_url(request: pytest.FixtureRequest, built_site: Path, tmp_path: Path) -> Iterator[str]:
    """The examples and the hostile listing, with the backend, then on a static host."""
    with serving(built_site, tmp_path, request.param) as base:
        yield base


@pytest.fixture
def backend(built_site: Path, tmp_path: Path) -> Iterator[str]:
    with serving(built_site, tmp_path, "backend") as base:
        yield base


@pytest.fixture
def static(built_site: Path, tmp_path: Path) -> Iterator[str]:
    with serving(built_site, tmp_path, "static") as base:
        yield base


MANY = 45
"""Partners of the paging site: three pages of 20."""


@pytest.fixture(scope="module")
def many_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build of MANY generated listings, first published on different days (file times
    outside git), in an order that is neither the names' nor the files'."""
    root = tmp_path_factory.mktemp("find-many")
    listings = generate_listings(MANY, root / "listings")
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    for number in range(MANY):
        path = next(listings.glob(f"*-{number}.yaml"))
        when = (start + timedelta(days=(number * 17) % MANY)).timestamp()
        os.utime(path, (when, when))
    site = root / "site"
    build(BuildPaths(listings_dir=listings, site_dir=site, instance_dir=root / "instance"))
    return site


@pytest.fixture(params=HOSTS)
def many_url(request: pytest.FixtureRequest, many_site: Path, tmp_path: Path) -> Iterator[str]:
    with serving(many_site, tmp_path, request.param) as base:
        yield base


@pytest.fixture
def chromium(browser: Any) -> Any:
    """The module's browser at desktop width, collecting page errors."""
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": ERROR_COLLECTOR})
    browser.set_window_size(*WIDE)
    return browser


def listings_of(site: Path) -> Oracle:
    _, loaded = load_listings(site.parent / "listings")
    return Oracle([item.listing for item in loaded])


def published_days(site: Path) -> dict[str, str]:
    data = json.loads((site / "directory.json").read_text(encoding="utf-8"))
    return {partner[0]: partner[3] for partner in data["partners"]}


def count_text(total: int, query: bool = False) -> str:
    if query:
        return f"{total} partner found" if total == 1 else f"{total} partners found"
    return f"{total} partner matches" if total == 1 else f"{total} partners match"


def value_names(site: Path, language_root: str = "") -> dict[str, str]:
    """ "facet=value" -> the value's name on the site, from the site's own data."""
    data = json.loads((site / language_root / "directory.json").read_text(encoding="utf-8"))
    return {
        f"{facet['name']}={value}": name
        for facet in data["facets"]
        for value, name in facet["values"]
    }


def the_view(state: dict[str, Any]) -> dict[str, Any]:
    """What a person sees of the view: the parts a shared address must bring back."""
    keys = ("query", "checked", "sort", "slugs", "count", "page")
    return {key: state[key] for key in keys}


def test_filters_take_any_value_of_a_facet_and_every_facet(
    site_url: str, built_site: Path, chromium: Any
) -> None:
    oracle = listings_of(built_site)
    page = FindPage(chromium)
    state = page.open(site_url + "find/")
    assert state["count"] == count_text(len(oracle.listings))
    assert state["slugs"] == [listing.slug for listing in oracle.by_name()]
    assert state["counts"] == oracle.counts({})

    filters: dict[str, list[str]] = {}
    totals = []
    for facet, value in [("service", "exchange-online"), ("service", "teams"), ("region", "GB")]:
        state = page.tick(facet, value)
        filters.setdefault(facet, []).append(value)
        expected = oracle.matching(filters)
        totals.append(len(expected))
        assert state["count"] == count_text(len(expected))
        assert sorted(state["slugs"]) == sorted(listing.slug for listing in expected)
        # a facet's own counts stay what each of its values would give; the others follow
        assert state["counts"] == oracle.counts(filters)
    assert totals[0] < totals[1], "a second service adds partners (either service)"
    assert 0 < totals[2] < totals[1], "a region narrows them (both facets)"

    state = page.tick("da", "1")
    expected = oracle.matching(filters, da=True)
    assert state["count"] == count_text(len(expected))
    assert state["counts"] == oracle.counts(filters, da=True)
    assert urlsplit(chromium.current_url).query == (
        "service=exchange-online&service=teams&region=GB&da=1"
    )
    # unticking a value takes it out of the view and the address
    state = page.tick("service", "exchange-online")
    assert state["checked"] == ["service=teams", "region=GB", "da=1"]
    assert state["count"] == count_text(
        oracle.total({"service": ["teams"], "region": ["GB"]}, True)
    )
    assert urlsplit(chromium.current_url).query == "service=teams&region=GB&da=1"

    # every card's logo loads from the page's own site (on the static host: under /mp/)
    logos = chromium.execute_script(
        "return Array.from(document.querySelectorAll('img.mp-find__logo'))"
        ".map(function (img) { return [img.src, img.complete && img.naturalWidth > 0]; })"
    )
    assert logos and all(src.startswith(site_url + "logos/") and ok for src, ok in logos)
    assert page.errors() == []


def test_sorting_and_paging(many_url: str, many_site: Path, chromium: Any) -> None:
    oracle = listings_of(many_site)
    by_name = [listing.slug for listing in oracle.by_name()]
    days = published_days(many_site)
    newest = sorted(by_name, key=lambda slug: days[slug], reverse=True)
    assert newest != by_name
    page = FindPage(chromium)
    state = page.open(many_url + "find/")
    assert state["count"] == count_text(MANY)
    assert (state["slugs"], state["page"]) == (by_name[:PER_PAGE], "Page 1 of 3")
    assert (state["sorts"], state["sort"]) == (["name", "newest"], "name")

    state = page.follow(".mp-find__pages a", "2")
    assert (state["slugs"], state["page"]) == (by_name[PER_PAGE : 2 * PER_PAGE], "Page 2 of 3")
    assert query_of(chromium.current_url) == {"page": "2"}
    # the keyboard goes on from the new results' count
    assert "mp-find__count" in chromium.switch_to.active_element.get_attribute("class")
    state = page.follow(".mp-find__pages a[rel=next]")
    assert (state["slugs"], state["page"]) == (by_name[2 * PER_PAGE :], "Page 3 of 3")

    state = page.sort_by("newest")
    assert (state["slugs"], state["page"]) == (newest[:PER_PAGE], "Page 1 of 3")
    assert query_of(chromium.current_url) == {"sort": "newest"}
    first = page.element(".mp-find__card .mp-find__listed").text
    assert first.startswith("Listed ") and days[newest[0]][:4] in first
    state = page.follow(".mp-find__pages a[rel=next]")
    assert state["slugs"] == newest[PER_PAGE : 2 * PER_PAGE]

    # back and forward through the same views
    state = page.back()
    assert (state["slugs"], state["sort"]) == (newest[:PER_PAGE], "newest")
    state = page.back()
    assert (state["slugs"], state["sort"]) == (by_name[2 * PER_PAGE :], "name")
    state = page.back()
    assert state["slugs"] == by_name[PER_PAGE : 2 * PER_PAGE]
    state = page.back()
    assert (state["slugs"], chromium.current_url) == (by_name[:PER_PAGE], many_url + "find/")
    state = page.forward()
    assert state["slugs"] == by_name[PER_PAGE : 2 * PER_PAGE]

    # an address past the last page (fewer partners since it was shared) shows the last page
    state = page.open(many_url + "find/?page=9")
    assert (state["slugs"], state["page"]) == (by_name[2 * PER_PAGE :], "Page 3 of 3")
    assert query_of(chromium.current_url) == {"page": "3"}
    assert page.errors() == []


def test_a_query_ranks_by_relevance_with_highlights(backend: str, chromium: Any) -> None:
    page = FindPage(chromium)
    state = page.open(backend + "find/?query=staff%20training")
    assert (state["sorts"], state["sort"]) == (["relevance", "name", "newest"], "relevance")
    assert state["slugs"][0] == "taiga-cloud"
    assert state["count"].endswith(" found") and "training" in [m.lower() for m in state["marks"]]
    assert not state["notice"] and state["label"] == "Search partners"
    ranked = state["slugs"]

    state = page.sort_by("name")
    assert sorted(state["slugs"]) == sorted(ranked) and state["slugs"] != ranked
    assert query_of(chromium.current_url) == {"query": "staff training", "sort": "name"}
    state = page.type("")
    assert (state["sorts"], state["sort"]) == (["name", "newest"], "name")
    assert state["count"] == "15 partners match"

    state = page.open(backend + "ru/find/?query=обучение")
    assert state["count"].startswith("Найден")
    link = page.element(".mp-find__card h3 a").get_attribute("href")
    assert link.startswith(backend + "ru/partners/")
    assert page.errors() == []


def test_the_address_is_the_view(site_url: str, chromium: Any) -> None:
    """Every change is an entry in the history (typing: one per pause), the back button
    walks them, and the address of any of them, opened afresh, shows the same view."""
    page = FindPage(chromium)
    views = [the_view(page.open(site_url + "find/"))]
    views.append(the_view(page.type("works")))
    views.append(the_view(page.tick("language", "en")))
    views.append(the_view(page.tick("da", "1")))
    views.append(the_view(page.sort_by("newest")))
    assert views[-1]["checked"] == ["language=en", "da=1"] and views[-1]["query"] == "works"
    address = chromium.current_url
    assert query_of(address) == {"query": "works", "language": "en", "da": "1", "sort": "newest"}

    for expected in reversed(views[:-1]):
        assert the_view(page.back()) == expected
    for expected in views[1:]:
        assert the_view(page.forward()) == expected

    assert the_view(page.open(address)) == views[-1]
    assert page.errors() == []


@pytest.mark.parametrize("value", ["constructor", "__proto__", "toString"])
def test_a_filter_value_named_like_a_script_builtin_is_just_an_unknown_value(
    site_url: str, chromium: Any, value: str
) -> None:
    """A shared link may name any value: one spelled like a property every script object has
    must not break the page (it did: the page stayed busy with no results). The API refuses
    `__proto__` and `toString` (not catalog ids) and the page says so; the static page filters
    by them and finds nobody."""
    page = FindPage(chromium)
    chromium.get(site_url + f"find/?service={value}")
    page.wait.until(
        lambda _: chromium.execute_script(
            "const r = document.querySelector('#mp-find .mp-find__results');"
            "return r !== null && !r.hasAttribute('aria-busy')"
        )
    )
    assert "native code" not in chromium.find_element("id", "mp-find").text
    assert page.errors() == []


def test_an_empty_result_says_what_to_remove(
    site_url: str, built_site: Path, chromium: Any
) -> None:
    oracle = listings_of(built_site)
    names = value_names(built_site)
    filters = {"service": ["teams", "intune"], "region": ["JP"], "program": ["cloud-accelerate"]}
    assert oracle.total(filters) == 0
    expected = []
    for facet, values in filters.items():
        for value in values:
            rest = {**filters, facet: [other for other in values if other != value]}
            count = oracle.total(rest)
            label = f"Remove “{names[f'{facet}={value}']}” → {count} partner"
            expected.append((count, label + ("" if count == 1 else "s")))
    expected.sort(key=lambda entry: -entry[0])  # most partners first; ties in filter order
    assert expected[0][0] > 0

    page = FindPage(chromium)
    query = "&".join(f"{facet}={value}" for facet, values in filters.items() for value in values)
    state = page.open(site_url + "find/?" + query)
    assert (state["count"], state["slugs"]) == ("0 partners match", [])
    assert state["empty"].startswith("No partner matches all of this.")
    assert state["hints"] == [label for _, label in expected]

    state = page.follow(".mp-find__hints a", expected[0][1])
    assert state["count"] == count_text(expected[0][0]) and state["empty"] is None
    state = page.back()
    assert state["hints"] == [label for _, label in expected]
    state = page.follow(".mp-find__empty a", "Clear the search and all filters")
    assert state["count"] == count_text(len(oracle.listings)) and state["checked"] == []
    assert chromium.current_url == site_url + "find/"

    # the box's text is one of the things to take away
    state = page.open(site_url + "find/?query=qqqzzxx&region=JP")
    assert (
        state["hints"][0]
        == f"Search without “qqqzzxx” → {oracle.total({'region': ['JP']})} partners"
    )
    assert page.errors() == []


def test_did_you_mean(backend: str, chromium: Any) -> None:
    page = FindPage(chromium)
    state = page.open(backend + "find/?query=hospitl")
    assert state["suggestion"] and state["suggestion"].startswith("Did you mean “")
    suggested = state["suggestion"].removeprefix("Did you mean “").removesuffix("”?")
    state = page.follow(".mp-find__suggestion a")
    assert query_of(chromium.current_url) == {"query": suggested}
    assert state["query"] == suggested and state["slugs"]


def test_without_the_api_the_box_matches_names_and_says_so(
    static: str, built_site: Path, chromium: Any
) -> None:
    page = FindPage(chromium)
    state = page.open(static + "find/?query=contoso")
    assert state["notice"] == [
        "Full-text search needs the Marketplace server, which this copy of the site cannot "
        "reach: the box matches partner names only, and results are sorted by name or date. "
        "The filters work as usual."
    ]
    assert state["label"] == "Partner name contains"
    assert (state["slugs"], state["count"]) == (["contoso-cloud"], "1 partner found")
    assert state["sorts"] == ["name", "newest"]

    state = page.open(static + "find/?query=staff%20training&sort=relevance")
    assert (state["count"], state["sort"]) == ("0 partners found", "name")
    total = len(listings_of(built_site).listings)
    assert state["hints"] == [f"Search without “staff training” → {total} partners"]
    assert page.errors() == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            "directory/?query=mail&service=teams&region=GB&da=1",
            "find/?query=mail&service=teams&region=GB&da=1",
        ),
        ("directory/?name=Contoso", "find/?query=Contoso"),
        ("search/?query=migrate+mailboxes&page=3", "find/?query=migrate+mailboxes&page=2"),
        ("search/?query=mail&page=2", "find/?query=mail"),
        (
            "ru/search/?query=%D0%BF%D0%BE%D1%87%D1%82%D0%B0",
            "ru/find/?query=%D0%BF%D0%BE%D1%87%D1%82%D0%B0",
        ),
        ("ru/directory/", "ru/find/"),
    ],
)
def test_the_old_addresses_forward_to_the_find_page(
    static: str, chromium: Any, old: str, new: str
) -> None:
    page = FindPage(chromium)
    page.open(static + "find/")
    page.open(static + old)
    # the address the find page was opened at (before it settles on a page that exists)
    opened = chromium.execute_script("return performance.getEntriesByType('navigation')[0].name")
    assert opened == static + new
    # forwarded in place: back leads to where the visitor was, not to the old address
    page.back()
    assert chromium.current_url == static + "find/"


def test_the_russian_page(site_url: str, built_site: Path, chromium: Any) -> None:
    from babel import Locale

    from sitegen.i18n import count_texts

    oracle = listings_of(built_site)
    forms = json.loads(count_texts("matching", "ru"))
    plural = Locale.parse("ru").plural_form
    page = FindPage(chromium)
    state = page.open(site_url + "ru/find/")
    assert state["count"] == "15 подходящих партнёров"
    legends = chromium.execute_script(
        "return Array.from(document.querySelectorAll('.mp-facet legend'))"
        ".map(function (legend) { return legend.textContent; })"
    )
    assert legends[0] == "Сервисы" and legends[-1] == "Делегированное администрирование"
    for facet, value in [("service", "teams"), ("region", "JP")]:
        state = page.tick(facet, value)
    total = oracle.total({"service": ["teams"], "region": ["JP"]})
    assert state["count"] == forms[plural(total)].replace("{count}", str(total))

    # partner text shown in English (no translation) says so
    state = page.open(site_url + "ru/find/")
    marked = chromium.execute_script(
        "return Array.from(document.querySelectorAll('.mp-find__card')).map(function (card) {"
        "  return [card.querySelector('h3 a').getAttribute('href').split('/').slice(-2)[0],"
        "          card.querySelector('.mp-find__summary').getAttribute('lang')]; })"
    )
    by_slug = {listing.slug: listing for listing in oracle.listings}
    for slug, lang in marked:
        listing = by_slug[slug]
        english = listing.text("ru")[1] == listing.summary
        assert lang == ("en" if english else None), slug
    assert {lang for _, lang in marked} == {"en", None}
    assert page.errors() == []


def test_a_hostile_partner_stays_text(site_url: str, chromium: Any) -> None:
    """On the find page (its cards, the API's highlights) and on the partner's own pages."""
    from selenium.common.exceptions import NoAlertPresentException

    page = FindPage(chromium)
    for url, name in [
        ("find/?query=Hostile", f"Hostile {XSS[0]}"),
        (f"ru/find/?query={quote('Враждебный')}", f"Враждебный {XSS[4]}"),
    ]:
        state = page.open(site_url + url)
        assert state["names"][0] == name
        with pytest.raises(NoAlertPresentException):
            chromium.switch_to.alert.text  # noqa: B018 - reading it is the check
        assert not chromium.execute_script(
            "return document.querySelector('.mp-find__cards script, .mp-find__cards img[onerror],"
            " .mp-find__cards svg, .mp-find__cards iframe')"
        )
    assert page.errors() == []
    for url, name in [
        ("partners/zz-hostile/", "Hostile"),
        ("ru/partners/zz-hostile/", "Враждебный"),
    ]:
        chromium.get(site_url + url)
        page.wait.until(
            lambda driver: driver.execute_script("return document.readyState") == "complete"
        )
        with pytest.raises(NoAlertPresentException):
            chromium.switch_to.alert.text  # noqa: B018 - reading it is the check
        assert name in chromium.page_source


def test_filters_work_from_the_keyboard(static: str, chromium: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    page = FindPage(chromium)
    page.open(static + "find/")
    more = page.element("#mp-facet-language ~ .mp-facet__more")
    assert more.get_attribute("aria-expanded") == "false"
    hidden_before = len(chromium.find_elements(By.CSS_SELECTOR, "#mp-facet-language li[hidden]"))
    more.send_keys(Keys.ENTER)
    assert (more.get_attribute("aria-expanded"), more.text) == ("true", "Show fewer")
    hidden_after = len(chromium.find_elements(By.CSS_SELECTOR, "#mp-facet-language li[hidden]"))
    assert hidden_after < hidden_before

    # a long facet's values can be found by name, and ticked with the space bar
    regions = page.element("#mp-facet-region-filter")
    label = "return document.querySelector('label[for=mp-facet-region-filter]').textContent"
    assert chromium.execute_script(label) == "Search Regions"
    page.click(regions)
    regions.send_keys("japa")
    regions.send_keys(Keys.TAB)
    focused = chromium.switch_to.active_element
    assert (focused.get_attribute("name"), focused.get_attribute("value")) == ("region", "JP")
    focused.send_keys(Keys.SPACE)
    state = page.settled()
    assert state["checked"] == ["region=JP"] and query_of(chromium.current_url) == {"region": "JP"}
    assert chromium.switch_to.active_element == focused, "the keyboard stays where it was"


def test_phone_layout_and_screenshots(backend: str, chromium: Any) -> None:
    """Screenshots of the filters and cards, and the empty state, wide and at phone width,
    in both languages; at phone width the filters wait behind a button and nothing is wider
    than the screen."""
    page = FindPage(chromium)
    views = {
        "en": "find/?query=migration&service=exchange-online&service=onedrive",
        "ru": f"ru/find/?query={quote('миграция')}&service=exchange-online&service=onedrive",
        "empty-en": "find/?query=hospitl&service=teams&region=JP",
        "empty-ru": f"ru/find/?query={quote('почта')}&service=teams&service=intune&region=JP",
    }
    for name, url in views.items():
        state = page.open(backend + url)
        assert (state["empty"] is not None) == name.startswith("empty"), name
        assert page.element("#mp-find-filters").is_displayed()
        assert not page.element(".mp-find__toggle").is_displayed()
        page.shoot(name)

    chromium.set_window_size(*PHONE)
    try:
        for lang, root in [("en", ""), ("ru", "ru/")]:
            state = page.open(backend + root + "find/?service=exchange-online&region=GB")
            toggle = page.element(".mp-find__toggle")
            assert toggle.is_displayed() and toggle.text.endswith("(2)")
            assert not page.element("#mp-find-filters").is_displayed()
            assert chromium.execute_script(FITS)
            page.scroll_to(".mp-find__search")
            page.shoot(f"phone-{lang}")
            page.click(toggle)
            assert toggle.get_attribute("aria-expanded") == "true"
            assert page.element("#mp-find-filters").is_displayed()
            assert chromium.execute_script(FITS)
            if lang == "en":
                page.scroll_to(".mp-find__toggle")
                page.shoot("phone-filters-en")
            state = page.tick("region", "GB")
            assert toggle.text == ("Filters (1)" if lang == "en" else "Фильтры (1)")
    finally:
        chromium.set_window_size(*WIDE)
    assert page.errors() == []
