"""Accessibility and the phone layout in headless Chromium (issue 14, item 5).

- axe-core (tests/site/axe.py) finds no serious or critical violation on the home, partner,
  browse, find and 404 pages, in English and Russian, in the light and the dark colour scheme,
  on a static host and behind the backend;
- at 375 px nothing scrolls sideways, however long a partner's words, addresses or tables;
- the keyboard reaches a partner page's links in reading order, each with a visible focus
  indicator and a name.

Screenshots of the home and a partner page at phone width go to $SCREENSHOT_DIR when it is set:
`SCREENSHOT_DIR=docs/images pytest tests/site/test_accessibility_browser.py -k phone_screen`
writes docs/images/phone-*.png.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from marketplace_app.build import BuildPaths, build
from tests.browser import running, start_chromium, static_server, wait_for
from tests.conftest import EXAMPLE_LISTINGS
from tests.site.axe import blocking, report, run_axe
from tests.site.conftest import HOSTILE_LISTING

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LONG_WORDS_LISTING = """\
slug: zz-long-words
maintainers: [long-words-team]
name: Donaudampfschifffahrtsgesellschaftskapitaenswitwenrentenversicherungsberatung
summary: >-
  Kundenkommunikationsinfrastrukturmodernisierungsprojektleitung for
  https://www.a-very-long-partner-domain-name-for-layout-tests.example/and/a/long/path
description: |
  Configuration keys we set: `Set-OrganizationConfig-MailTipsExternalRecipientsTipsEnabled-true`.

  | Servicebereich | Reaktionszeit | Vertragslaufzeit | Ansprechpartnerin | Supportsprachen | Hinweise |
  |---|---|---|---|---|---|
  | Exchangeonlinepostfachmigrationsunterstuetzung | Vierundzwanzigstunden | Sechsunddreissigmonate | Kundenbetreuungsabteilung | Deutsch, Englisch | Wochenendbereitschaft |

  ```
  New-MigrationBatch -Name Cutover -SourceEndpoint OnPremisesExchangeEndpoint -AutoStart -AutoComplete -NotificationEmails admin@example.com
  ```

  Documentation: https://docs.a-very-long-partner-domain-name-for-layout-tests.example/migration/runbooks/exchange-online/cutover/checklist/index.html
website: https://www.a-very-long-partner-domain-name-for-layout-tests.example/en/partners/marketplace/landing-page?campaign=partner-marketplace-listing
contact:
  email: customer-enquiries-and-migration-planning@a-very-long-partner-domain-name-for-layout-tests.example
  phone: "+49 30 1234 5678 9012"
headquarters: DE
regions: [DE, AT, CH, LI, LU, BE, NL, FR, IT, PL, CZ, SK, HU, SI, HR, DK, SE, NO, FI, IS]
languages: [de, en, fr, it, nl, pl]
programs: [cloud-essentials]
services: [exchange-online, sharepoint-online, teams, onedrive, intune, entra-id]
capabilities: [migration]
industries: [manufacturing]
offers:
  - id: migration
    type: purchase
    title: Exchangeonlinepostfachmigrationsfestpreisangebotfuermittelstaendischeunternehmen
    description: >-
      Festpreis https://www.a-very-long-partner-domain-name-for-layout-tests.example/festpreis/angebot/exchange-online
    services: [exchange-online]
translations:
  ru:
    name: Дунайскоепароходствоконсультированиепопенсионномустрахованиювдовкапитанов
    summary: >-
      Модернизацияинфраструктурыкоммуникацийсклиентами и сопровождение миграции почты.
"""  # noqa: E501 - the long lines are what this listing is for
"""A listing of long unbreakable words, a long address, a wide table and a code block: what
overflows a phone screen if anything does."""

LANGUAGES = {"en": "", "ru": "ru/"}

PAGES = {
    "home": "",
    "partner": "partners/contoso-cloud/",
    "hostile-partner": "partners/zz-hostile/",
    "long-words-partner": "partners/zz-long-words/",
    "browse": "browse/",
    "facet-index": "services/",
    "facet-value": "services/teams/",
    "404": "404.html",
}
"""The built pages every visitor meets, by a readable name (the test ids)."""

FIND_PAGES = {
    "find": "find/",
    "find-filtered": "find/?query=migration&service=teams&service=exchange-online&sort=name",
    "find-empty": "find/?query=qqqzzxx",
}
"""The find page (issue 14, being built now) in its three states: all, filtered, empty."""

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 1000}


@dataclass(frozen=True)
class BuiltSite:
    """A built site and the instance folder (search index, snapshot) built beside it."""

    site: Path
    instance: Path


@pytest.fixture(scope="module")
def a11y_site(tmp_path_factory: pytest.TempPathFactory) -> BuiltSite:
    """The examples, the hostile listing and LONG_WORDS_LISTING, built once for this module."""
    root = tmp_path_factory.mktemp("a11y-build")
    listings = root / "listings"
    shutil.copytree(EXAMPLE_LISTINGS, listings)
    (listings / "zz-hostile.yaml").write_text(HOSTILE_LISTING, encoding="utf-8")
    (listings / "zz-long-words.yaml").write_text(LONG_WORDS_LISTING, encoding="utf-8")
    built = BuiltSite(root / "site", root / "instance")
    build(BuildPaths(listings_dir=listings, site_dir=built.site, instance_dir=built.instance))
    return built


@pytest.fixture(scope="module")
def static_url(a11y_site: BuiltSite) -> Iterator[str]:
    """The site on a plain static host (no search API)."""
    with static_server(a11y_site.site) as url:
        yield url


@pytest.fixture(scope="module")
def backend_url(a11y_site: BuiltSite) -> Iterator[str]:
    """The site behind the backend: the search API answers, pages carry the site's CSP."""
    from werkzeug.serving import make_server

    from marketplace_app.config import settings_for
    from marketplace_app.wiring import backend_app

    app = backend_app(settings_for(a11y_site.instance, site_dir=a11y_site.site))
    with running(make_server("127.0.0.1", 0, app, threaded=True)) as url:
        yield url


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the module; `show` resets what a test changes."""
    driver = start_chromium()
    try:
        yield driver
    finally:
        driver.quit()


def show(driver: Any, url: str, *, scheme: str = "default", phone: bool = False) -> None:
    """Open `url` in Material's `scheme` ("default" or "slate") at desktop or phone size."""
    wanted = {"default": "light", "slate": "dark"}[scheme]
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": wanted}]},
    )
    if phone:
        # A phone, not a narrow desktop window: overlay scrollbars and the viewport meta tag
        # apply, as on the real thing.
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {**PHONE, "deviceScaleFactor": 2, "mobile": True},
        )
    else:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.set_window_size(DESKTOP["width"], DESKTOP["height"])
    driver.get(url)
    # Material remembers a visitor's scheme per site; the media query decides for a new one.
    if (
        driver.execute_script("localStorage.clear(); return document.body.dataset.mdColorScheme")
        != scheme
    ):
        driver.refresh()
    assert driver.execute_script("return document.body.dataset.mdColorScheme") == scheme
    assert driver.execute_script("return document.querySelector('.md-content') !== null"), (
        f"{url} is not a page of the site"
    )
    settle(driver)


def settle(driver: Any, timeout: float = 10.0) -> None:
    """Wait until the page's scripts have stopped changing the content (the find page and the
    header search render after fetching data; static pages settle at once)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        now = driver.execute_script(
            "return document.readyState === 'complete' && !document.querySelector("
            "'[aria-busy=true]') && document.body.innerHTML.length"
        )
        if now and now == last:
            return
        last = now
        time.sleep(0.25)
    pytest.fail(f"{driver.current_url} kept changing for {timeout} s")


def page_url(base: str, lang: str, path: str) -> str:
    return base + LANGUAGES[lang] + path


def require_find_page(site: BuiltSite, lang: str) -> None:
    # Issue 14's find page is being built by another change; until it is in the build, its
    # checks skip (they run as soon as find/index.html exists).
    if not (site.site / LANGUAGES[lang] / "find" / "index.html").is_file():
        pytest.skip("the find page (issue 14) is not in this build yet")


def assert_no_blocking_violations(driver: Any) -> None:
    found = blocking(run_axe(driver))
    assert not found, report(driver.current_url, found)


# (served by, colour scheme): every page on a static host in both schemes, and behind the
# backend (its Content-Security-Policy, its search API) in the default one.
SERVINGS = [("static", "default"), ("static", "slate"), ("backend", "default")]


@pytest.mark.parametrize(("served", "scheme"), SERVINGS, ids=["static", "dark", "backend"])
@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("page", PAGES)
def test_pages_have_no_serious_axe_violations(
    page: str, lang: str, served: str, scheme: str, request: pytest.FixtureRequest, chromium: Any
) -> None:
    base = request.getfixturevalue(f"{served}_url")
    path = PAGES[page]
    if page == "404" and served == "backend":
        path = "no-such-page/"  # the backend answers any missing address with the 404 page
    show(chromium, page_url(base, lang, path), scheme=scheme)
    assert_no_blocking_violations(chromium)


@pytest.mark.parametrize(("served", "scheme"), SERVINGS, ids=["static", "dark", "backend"])
@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("page", FIND_PAGES)
def test_find_page_has_no_serious_axe_violations(
    page: str,
    lang: str,
    served: str,
    scheme: str,
    request: pytest.FixtureRequest,
    a11y_site: BuiltSite,
    chromium: Any,
) -> None:
    require_find_page(a11y_site, lang)
    base = request.getfixturevalue(f"{served}_url")
    show(chromium, page_url(base, lang, FIND_PAGES[page]), scheme=scheme)
    assert_no_blocking_violations(chromium)


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
@pytest.mark.parametrize("served", ["static", "backend"])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_open_header_search_has_no_serious_axe_violations(
    lang: str, served: str, phone: bool, request: pytest.FixtureRequest, chromium: Any
) -> None:
    from selenium.webdriver.common.by import By

    base = request.getfixturevalue(f"{served}_url")
    show(chromium, page_url(base, lang, "partners/contoso-cloud/"), phone=phone)
    boxes = chromium.find_elements(By.CSS_SELECTOR, ".md-header [role=combobox]")
    if not boxes:
        # Issue 14's header search (a combobox over partners) is being built by another change.
        pytest.skip("the header search (issue 14) is not in this build yet")
    box = boxes[0]
    if not box.is_displayed():  # a phone: the magnifier opens the search panel
        chromium.find_element(By.CSS_SELECTOR, ".md-header label[for=__search]").click()
        wait_for(chromium, 5).until(lambda _: box.is_displayed())
    box.click()
    box.send_keys("Contoso")
    wait_for(chromium, 10).until(
        lambda driver: (
            box.get_attribute("aria-expanded") == "true"
            and any(
                option.is_displayed()
                for option in driver.find_elements(By.CSS_SELECTOR, "[role=option]")
            )
        )
    )
    settle(chromium)
    if phone:
        assert_fits_the_screen(chromium)
    assert_no_blocking_violations(chromium)


OVERFLOW = """
const width = document.documentElement.clientWidth;
const wider = [...document.querySelectorAll('body *')].filter((element) => {
  const box = element.getBoundingClientRect();
  const parent = element.parentElement.getBoundingClientRect();
  return box.width > 0 && box.right > width + 1 && parent.right <= width + 1;
});
return {
  scrollWidth: document.documentElement.scrollWidth,
  clientWidth: width,
  wider: wider.slice(0, 8).map((element) => element.outerHTML.slice(0, 120)
    + ` (right edge at ${Math.round(element.getBoundingClientRect().right)} px)`),
};
"""


def assert_fits_the_screen(driver: Any) -> None:
    layout = driver.execute_script(OVERFLOW)
    assert layout["clientWidth"] == PHONE["width"]
    assert layout["scrollWidth"] <= layout["clientWidth"], (
        f"{driver.current_url} scrolls sideways at {PHONE['width']} px "
        f"({layout['scrollWidth']} px wide); the widest parts:\n  " + "\n  ".join(layout["wider"])
    )


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("page", PAGES)
def test_pages_fit_a_phone_screen(page: str, lang: str, static_url: str, chromium: Any) -> None:
    show(chromium, page_url(static_url, lang, PAGES[page]), phone=True)
    assert_fits_the_screen(chromium)


@pytest.fixture(scope="module")
def examples_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The site of the example listings alone on a static host (what screenshots show)."""
    root = tmp_path_factory.mktemp("a11y-examples")
    build(BuildPaths(EXAMPLE_LISTINGS, site_dir=root / "site", instance_dir=root / "instance"))
    with static_server(root / "site") as url:
        yield url


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("page", ["home", "partner"])
def test_example_site_fits_a_phone_screen(
    page: str, lang: str, examples_url: str, chromium: Any
) -> None:
    show(chromium, page_url(examples_url, lang, PAGES[page]), phone=True)
    assert_fits_the_screen(chromium)
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        chromium.save_screenshot(str(Path(folder) / f"phone-{page}-{lang}.png"))


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("page", FIND_PAGES)
def test_find_page_fits_a_phone_screen(
    page: str, lang: str, static_url: str, a11y_site: BuiltSite, chromium: Any
) -> None:
    require_find_page(a11y_site, lang)
    show(chromium, page_url(static_url, lang, FIND_PAGES[page]), phone=True)
    assert_fits_the_screen(chromium)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_pages_fit_a_phone_screen_in_the_dark_scheme_too(
    lang: str, static_url: str, chromium: Any
) -> None:
    show(
        chromium,
        page_url(static_url, lang, PAGES["long-words-partner"]),
        scheme="slate",
        phone=True,
    )
    assert_fits_the_screen(chromium)
    assert_no_blocking_violations(chromium)


UNFOCUSED = """
// Before any element has focus: how each tabbable one looks, to compare it with when focused.
// A visually hidden control (Material's colour-scheme radio) shows its focus on the label
// that follows it.
window.mpIndicator = (element) => {
  const box = element.getBoundingClientRect();
  const next = element.nextElementSibling;
  return (box.width === 0 || box.height === 0) && next && next.tagName === 'LABEL' ? next : element;
};
window.mpLook = (element) => {
  const looks = [];
  for (let node = element, depth = 0; node && depth < 3; node = node.parentElement, depth++) {
    const s = getComputedStyle(node);
    looks.push([s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow, s.backgroundColor,
      s.color, s.textDecorationLine, s.borderColor].join('|'));
  }
  return looks.join(' / ');
};
const selector = 'a[href], button, input, select, textarea, summary, [tabindex]';
window.mpTabbable = [...document.querySelectorAll(selector)].filter((element) =>
  element.tabIndex >= 0 && !element.disabled && !element.closest('[hidden], [inert]'));
window.mpUnfocused = new Map(window.mpTabbable.map(
  (element) => [element, window.mpLook(window.mpIndicator(element))]));
return window.mpTabbable
  .filter((element) => element.closest('.md-content') && element.getClientRects().length > 0
    && getComputedStyle(element).visibility === 'visible')
  .map((element) => window.mpTabbable.indexOf(element));
"""

FOCUSED = """
// After a press of Tab: wait for the focus styles' transitions (Material fades colours and
// slides panels in over up to 0.3 s), then say where the focus is and how it looks.
const done = arguments[arguments.length - 1];
const running = document.getAnimations().filter((animation) => animation.playState === 'running');
Promise.race([
  Promise.all(running.map((animation) => animation.finished.catch(() => null))),
  new Promise((resolve) => setTimeout(resolve, 1000)),
]).then(() => {
  const element = document.activeElement;
  if (!element || element === document.body) return done(null);
  const indicator = window.mpIndicator(element);
  const box = indicator.getBoundingClientRect();
  const page = document.documentElement;
  done({
    tag: element.tagName.toLowerCase(), href: element.getAttribute('href'),
    text: (element.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 60),
    region: element.closest('.md-header, .md-tabs') ? 'header'
      : element.closest('.md-sidebar') ? 'navigation'
      : element.closest('.md-content') ? 'content' : element.closest('footer') ? 'footer' : 'other',
    tabbable: window.mpTabbable.indexOf(element),
    changed: window.mpUnfocused.has(element)
      && window.mpUnfocused.get(element) !== window.mpLook(indicator),
    onScreen: box.width > 0 && box.height > 0 && box.left >= 0
      && box.right <= page.clientWidth + 1,
    sideways: page.scrollWidth > page.clientWidth,
  });
});
"""


@dataclass(frozen=True)
class FocusStop:
    """Where one press of Tab put the focus, and how the page looked then."""

    tag: str
    href: str | None
    text: str
    name: str
    region: str
    tabbable: int
    changed: bool
    on_screen: bool
    sideways: bool

    def __str__(self) -> str:
        return f"<{self.tag} href={self.href!r}> {self.text!r} (name {self.name!r}, {self.region})"


def tab_through(driver: Any, limit: int = 150) -> tuple[list[FocusStop], list[int]]:
    """Press Tab from the top of the page until focus leaves it; the stops, and the tabbable
    elements of the page's content in document order (indexes into all tabbable elements)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    content_order: list[int] = driver.execute_script(UNFOCUSED)
    stops: list[FocusStop] = []
    for _ in range(limit):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        state = driver.execute_async_script(FOCUSED)
        if state is None:
            return stops, content_order
        stops.append(
            FocusStop(
                tag=state["tag"],
                href=state["href"],
                text=state["text"],
                name=(driver.switch_to.active_element.accessible_name or "").strip(),
                region=state["region"],
                tabbable=state["tabbable"],
                changed=state["changed"],
                on_screen=state["onScreen"],
                sideways=state["sideways"],
            )
        )
    pytest.fail(f"focus did not leave the page after {limit} presses of Tab")


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_keyboard_reaches_a_partner_page_in_reading_order(
    lang: str, phone: bool, static_url: str, chromium: Any
) -> None:
    show(chromium, page_url(static_url, lang, "partners/contoso-cloud/"), phone=phone)
    stops, content_order = tab_through(chromium)
    listing = "\n  ".join(str(stop) for stop in stops)

    # Header, navigation, the page's content, footer: the order they are read in.
    rank = {"header": 0, "navigation": 1, "content": 2, "footer": 3}
    ranks = [rank.get(stop.region, -1) for stop in stops]
    assert ranks == sorted(ranks) and -1 not in ranks, listing
    # Inside the content, every link and control in document order, none skipped, none twice.
    content = [stop for stop in stops if stop.region == "content"]
    assert [stop.tabbable for stop in content] == content_order, listing
    hrefs = [stop.href or "" for stop in content]
    wanted = [
        *(["https://contoso.example/checklist"] if lang == "en" else []),  # the description's
        "services/exchange-online/",  # an offer's services
        "capabilities/migration/",  # the details
        "https://contoso.example",
        "mailto:partners@contoso.example",
        "delegated-admin/",  # the explainer
    ]
    positions = [
        next((i for i, href in enumerate(hrefs) if href.endswith(end)), -1) for end in wanted
    ]
    assert -1 not in positions and positions == sorted(positions), "\n  ".join(hrefs)
    assert "footer" in (stop.region for stop in stops), listing

    unnamed = [str(stop) for stop in stops if not stop.name]
    assert not unnamed, "focusable without an accessible name:\n  " + "\n  ".join(unnamed)
    unseen = [str(stop) for stop in stops if not stop.changed]
    assert not unseen, "no visible focus indicator:\n  " + "\n  ".join(unseen)
    off_screen = [str(stop) for stop in stops if not stop.on_screen]
    assert not off_screen, "focus off the screen:\n  " + "\n  ".join(off_screen)
    sideways = [str(stop) for stop in stops if stop.sideways]
    assert not sideways, "the page scrolls sideways with focus on:\n  " + "\n  ".join(sideways)
