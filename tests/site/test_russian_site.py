"""The Russian site is Russian: no English word of the interface on any /ru/ page (generated
pages, hand-written pages, the 404 page, the footer, the theme's labels), counts with the CLDR
plural forms, dates written the Russian way, translated offer titles, and partner text that has
no translation shown in English inside an element marked `lang="en"`.

The checks read the built pages as a reader would: text and the attributes people see or hear
(title, aria-label, placeholder, alt), leaving out code and anything inside `lang="en"`.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import material
import pytest
import yaml

from marketplace.catalog import FACETS, Catalog
from marketplace.i18n import read_catalog
from marketplace.validate import LoadedListing
from marketplace_app.build import BuildPaths, build
from tests.browser import static_server
from tests.conftest import PROJECT_ROOT, ListingsFolder

pytestmark = pytest.mark.slow

MATERIAL_TEMPLATES = Path(material.__file__).parent / "templates"
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
_NOT_READ = {"script", "style", "svg", "code", "pre", "kbd", "template"}
_READ_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")


@dataclass
class Reading:
    """What a reader of one page gets in the page's own language."""

    texts: list[str] = field(default_factory=list)  # text and read attributes, in order
    english: list[str] = field(default_factory=list)  # text inside lang="en" elements
    everything: list[str] = field(default_factory=list)  # all text, whatever its language


class _Reader(HTMLParser):
    def __init__(self, skip_classes: frozenset[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.reading = Reading()
        self._open: list[tuple[str, bool, bool]] = []  # (tag, in English, not read)
        self._skip_classes = skip_classes

    def _state(self) -> tuple[bool, bool]:
        return (self._open[-1][1], self._open[-1][2]) if self._open else (False, False)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        english, hidden = self._state()
        if values.get("lang") is not None:
            english = (values["lang"] or "").startswith("en")
        classes = set((values.get("class") or "").split())
        hidden = hidden or tag in _NOT_READ or bool(classes & self._skip_classes)
        if not hidden and not english:
            self.reading.texts += [
                values[name] or "" for name in _READ_ATTRIBUTES if values.get(name)
            ]
        if tag not in _VOID:
            self._open.append((tag, english, hidden))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self._open.pop()

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self._open) - 1, -1, -1):
            if self._open[depth][0] == tag:
                del self._open[depth:]
                return

    def handle_data(self, data: str) -> None:
        english, hidden = self._state()
        # ASCII white space only: the no-break spaces of numbers and dates are kept.
        text = re.sub(r"[ \t\r\n\f]+", " ", data).strip()
        if text and not hidden:
            (self.reading.english if english else self.reading.texts).append(text)
            self.reading.everything.append(text)


def read(html: str, skip_classes: frozenset[str] = frozenset()) -> Reading:
    """The page as read in its language; elements with a class in `skip_classes` left out."""
    reader = _Reader(skip_classes)
    reader.feed(html)
    return reader.reading


def russian_pages(site: Path) -> Iterator[tuple[str, str]]:
    """(path under /ru/, HTML) of every page of the Russian site."""
    for path in sorted((site / "ru").rglob("*.html")):
        yield path.relative_to(site / "ru").as_posix(), path.read_text(encoding="utf-8")


def _literal_parts(message: str) -> list[str]:
    """The words of an English message around its placeholders ("%(num)s partners" ->
    ["partners"]), only those long enough not to match by chance."""
    parts = re.split(r"%\(\w+\)s|#", message)
    return [part.strip(" .,:;-") for part in parts if len(part.strip(" .,:;-")) >= 4]


def site_messages() -> set[str]:
    """The English words of every catalog message the site's pages and theme overrides say."""
    words = set()
    for message in read_catalog("ru"):
        if message.id and any(
            place.startswith(("sitegen/", "site_src/")) for place, _line in message.locations
        ):
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            for english in ids:
                words.update(_literal_parts(english))
    return words


def material_labels() -> set[str]:
    """Material's English interface labels that its Russian language pack translates."""
    pattern = re.compile(r'^\s*"([\w.-]+)": "([^"]*)"', re.MULTILINE)
    packs = MATERIAL_TEMPLATES / "partials" / "languages"
    english = dict(pattern.findall((packs / "en.html").read_text(encoding="utf-8")))
    russian = dict(pattern.findall((packs / "ru.html").read_text(encoding="utf-8")))
    return {
        part
        for key, label in english.items()
        if key != "language" and russian.get(key, label) != label
        for part in _literal_parts(label)
    }


def mkdocs_config(name: str) -> dict[str, Any]:
    """A MkDocs configuration file as written (`!ENV` values left out, INHERIT not applied)."""
    text = (PROJECT_ROOT / name).read_text(encoding="utf-8")
    config: dict[str, Any] = yaml.safe_load(re.sub(r"!ENV \[[^\]]*\]", '""', text))
    return config


def theme_words() -> set[str]:
    """English words the theme says outside its language pack: the footer credit, the 404
    heading, the palette toggles (mkdocs.yml), the heading anchors' tooltip."""
    toggles = {
        option["toggle"]["name"] for option in mkdocs_config("mkdocs.yml")["theme"]["palette"]
    }
    return {"Made with", "Not found", "Permanent link", *toggles}


def test_the_russian_configuration_repeats_the_english_lists() -> None:
    """INHERIT replaces lists whole: the lists mkdocs.ru.yml repeats for their Russian words
    must stay the English ones otherwise (an extension added to one only would be lost)."""
    english, russian = mkdocs_config("mkdocs.yml"), mkdocs_config("mkdocs.ru.yml")

    def names(extensions: list[Any]) -> list[str]:
        return [next(iter(item)) if isinstance(item, dict) else item for item in extensions]

    assert names(russian["markdown_extensions"]) == names(english["markdown_extensions"])
    for theirs, ours in zip(english["theme"]["palette"], russian["theme"]["palette"], strict=True):
        assert {**ours, "toggle": None} == {**theirs, "toggle": None}
        assert ours["toggle"]["icon"] == theirs["toggle"]["icon"]


ENGLISH_INTERFACE = sorted(site_messages() | material_labels() | theme_words())


def _word(text: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w-]){re.escape(text)}(?![\w-])")


ENGLISH_PATTERNS = [(text, _word(text)) for text in ENGLISH_INTERFACE]


def test_the_english_interface_list_is_the_real_one() -> None:
    """The list the next test looks for holds the words that used to leak (and so could)."""
    for text in ["Made with", "Not found", "Switch to dark mode", "Permanent link"]:
        assert text in ENGLISH_INTERFACE
    for text in ["Offers", "Headquarters", "partners", "Listing updated", "Skip to content"]:
        assert text in ENGLISH_INTERFACE
    assert len(ENGLISH_INTERFACE) > 60


def test_no_english_interface_word_on_any_russian_page(
    built_site: Path, loaded_examples: tuple[Catalog, list[LoadedListing]]
) -> None:
    # Partners' names and addresses are names, not interface words ("Contoso Cloud Services",
    # "partners@contoso.example"), even inside Russian text.
    names = sorted({item.listing.name for item in loaded_examples[1]}, key=len, reverse=True)
    not_words = re.compile(r"\S+@\S+|https?://\S+|" + "|".join(map(re.escape, names)))
    found = {}
    for url, html in russian_pages(built_site):
        said = not_words.sub(" ", "\n".join(read(html).texts))
        leaked = [text for text, pattern in ENGLISH_PATTERNS if pattern.search(said)]
        if leaked:
            found[url] = leaked
    assert found == {}


def _catalog_names_in_latin(catalog: Catalog) -> set[str]:
    """Catalog names a Russian page may show in Latin letters: brands kept in Russian
    ("Cloud Essentials")."""
    return {
        catalog.name(facet.name, value, "ru")
        for facet in FACETS
        if facet.in_catalog
        for value in getattr(catalog, facet.segment)
    }


def test_generated_russian_pages_say_everything_in_russian(
    built_site: Path, loaded_examples: tuple[Catalog, list[LoadedListing]]
) -> None:
    """Stricter than a list of known English words, on the pages the generator writes, the
    home page and the 404 page: every piece of text in Latin letters outside lang="en" is a
    name. (A partner's own Russian prose is left out: it may name products in Latin.)"""
    allowed = _catalog_names_in_latin(loaded_examples[0])
    generated = ("partners/", "index.html", "404.html", *(f.segment for f in FACETS))
    unexpected = {}
    for url, html in russian_pages(built_site):
        if not url.startswith(generated):
            continue
        texts = read(html, skip_classes=frozenset({"mp-description"})).texts
        latin = [
            text
            for text in texts
            if re.search(r"[A-Za-z]{2}", text)
            and not re.search(r"[А-Яа-яЁё]", text)
            and text not in allowed
            and not re.fullmatch(r"\S+@\S+|https?://\S+", text)  # contact details
        ]
        if latin:
            unexpected[url] = latin
    assert unexpected == {}


def test_the_footer_credit_is_russian(built_site: Path) -> None:
    for url, html in russian_pages(built_site):
        footer = html[html.index('<div class="md-copyright">') :]
        footer = footer[: footer.index("</div>")]
        assert " ".join(read(footer).texts) == "Сайт сделан на", url
        assert 'lang="en">Material for MkDocs</a>' in footer, url
    english = (built_site / "index.html").read_text(encoding="utf-8")
    assert "Made with" in english and "Сайт" not in english


def test_the_russian_404_page(built_site: Path) -> None:
    html = (built_site / "ru" / "404.html").read_text(encoding="utf-8")
    texts = read(html).texts
    assert "Страница не найдена" in texts
    assert "По этому адресу ничего нет." in texts
    assert "Найти партнёра" in texts
    assert '<html lang="ru"' in html
    # The page answers for any missing address: its links start from the site's root, and
    # the language switcher leads to the English site's root.
    missing = "http://host/ru/partners/gone/"
    links = dict(re.findall(r'href="([^"]+)" hreflang="(\w+)"', html))
    to_english = next(href for href, lang in links.items() if lang == "en")
    assert urllib.parse.urljoin(missing, to_english) == "http://host/"
    assert 'href="/ru/find/"' in html
    english = (built_site / "404.html").read_text(encoding="utf-8")
    assert "<h1>Page not found</h1>" in english and "404 - Not found" not in english


def test_offer_titles_come_from_the_translation(built_site: Path) -> None:
    html = (built_site / "ru" / "partners" / "contoso-cloud" / "index.html").read_text("utf-8")
    assert "<h3>Стартовая пробная версия для совместной работы</h3>" in html
    assert "<h3>Перенос файловых ресурсов в SharePoint и OneDrive</h3>" in html
    assert "Collaboration starter trial" not in html


# A site of 21 partners whose industries are shared by 1, 2, 5 and all 21 of them, with known
# dates, and with full, partial and no Russian translations.
COUNTED = {"healthcare": 1, "finance": 2, "education": 5, "retail": 21}
UPDATED = {
    "p01": datetime(2026, 3, 12, 9, 30, tzinfo=UTC),
    "p02": datetime(2026, 1, 21, 23, 59, tzinfo=UTC),
}
TRANSLATED = """\
translations:
  ru:
    name: Партнёр номер один
    summary: Облачная почта и Teams для небольших офисов, за один день.
    description: |
      Настраиваем **почту** и чат.
    offers:
      starter: {title: Пробная версия для начала работы}
"""
PARTLY_TRANSLATED = """\
translations:
  ru:
    summary: Облачная почта и Teams для небольших офисов, за один день.
"""


@pytest.fixture(scope="module")
def counted_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("counted-site")
    folder = ListingsFolder(root / "listings")
    for number in range(1, 22):
        slug = f"p{number:02}"
        industries = [name for name, count in COUNTED.items() if number <= count]
        translation = {1: TRANSLATED, 3: PARTLY_TRANSLATED}.get(number, "")
        path = folder.write(
            slug,
            **{
                "slug: acme": f"slug: {slug}",
                "name: Acme Cloud": f"name: Counted Partner {number:02}",
                "industries: [retail]": f"industries: [{', '.join(industries)}]",
                "    delegated_admin: optional\n": f"    delegated_admin: optional\n{translation}",
            },
        )
        when = UPDATED.get(slug, datetime(2025, 6, 1, tzinfo=UTC)).timestamp()
        os.utime(path, (when, when))
    site = root / "site"
    build(BuildPaths(listings_dir=folder.root, site_dir=site, instance_dir=root / "instance"))
    return site


def _page(site: Path, url: str) -> str:
    return (site / url / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("industry", "russian", "english"),
    [
        ("healthcare", "1 партнёр", "1 partner"),
        ("finance", "2 партнёра", "2 partners"),
        ("education", "5 партнёров", "5 partners"),
        ("retail", "21 партнёр", "21 partners"),
    ],
)
def test_counts_take_the_russian_plural_form(
    counted_site: Path, industry: str, russian: str, english: str
) -> None:
    browse = read(_page(counted_site, f"ru/industries/{industry}/")).texts
    assert any(text.startswith(russian + " ·") for text in browse), browse
    index = _page(counted_site, "ru/industries/")
    assert re.search(rf'{industry}/">[^<]+</a>\s*<span class="mp-count">{russian}</span>', index)
    assert f'<p class="mp-count">{english}\n' in _page(counted_site, f"industries/{industry}/")


def test_the_russian_home_page_counts_every_partner(counted_site: Path) -> None:
    assert "(21 партнёр)" in read(_page(counted_site, "ru/")).texts
    assert "(21 partners)" in read(_page(counted_site, "")).everything


@pytest.mark.parametrize(
    ("slug", "russian", "english"),
    [
        ("p01", "Обновлено 12 марта 2026\N{NARROW NO-BREAK SPACE}г.", "March 12, 2026"),
        ("p02", "Обновлено 21 января 2026\N{NARROW NO-BREAK SPACE}г.", "January 21, 2026"),
    ],
)
def test_dates_are_written_the_russian_way(
    counted_site: Path, slug: str, russian: str, english: str
) -> None:
    assert russian in read(_page(counted_site, f"ru/partners/{slug}/")).texts
    assert f"Listing updated {english}" in read(_page(counted_site, f"partners/{slug}/")).everything


def _marked(html: str, tag: str, css_class: str | None = None) -> str | None:
    """The lang attribute of the first `tag` (with `css_class`), or None when it has none."""
    attributes = f'class="{css_class}"' if css_class else ""
    found = re.search(rf"<{tag}\b[^>]*{attributes}[^>]*>", html)
    assert found, (tag, css_class)
    lang = re.search(r'\blang="(\w+)"', found[0])
    return lang[1] if lang else None


def test_untranslated_partner_text_is_marked_english(counted_site: Path) -> None:
    html = _page(counted_site, "ru/partners/p02/")  # no translation at all
    assert _marked(html, "h1") == "en"
    assert _marked(html, "p", "mp-partner__summary") == "en"
    assert _marked(html, "div", "mp-description") == "en"
    assert '<h2 id="mp-about">О компании <span lang="en">Counted Partner 02</span></h2>' in html
    assert '<h3 lang="en">Starter trial</h3>' in html
    assert re.search(r'<span class="md-ellipsis" lang="en">\s*Counted Partner 02\s*</span>', html)
    for url in ["ru/", "ru/industries/retail/"]:  # the cards: name and summary
        cards = _page(counted_site, url)
        assert re.search(r'href="(\.\./)*partners/p02/" lang="en">Counted Partner 02</a>', cards)
        assert '<p class="mp-card__summary" lang="en">Cloud mail and Teams' in cards


def test_partly_translated_listing_marks_only_the_english_parts(counted_site: Path) -> None:
    html = _page(counted_site, "ru/partners/p03/")
    assert _marked(html, "h1") == "en"
    assert _marked(html, "p", "mp-partner__summary") is None
    assert _marked(html, "div", "mp-description") == "en"


def test_translated_listing_is_all_russian(counted_site: Path) -> None:
    html = _page(counted_site, "ru/partners/p01/")
    reading = read(html)
    assert reading.english == ["English", "Material for MkDocs"]  # the switcher, the footer
    assert "<h1>Партнёр номер один</h1>" in html
    assert "<h3>Пробная версия для начала работы</h3>" in html
    assert "Starter trial" not in html


def test_the_russian_feed_marks_untranslated_text(counted_site: Path) -> None:
    feed = (counted_site / "ru" / "feed.xml").read_text(encoding="utf-8")
    assert '<title xml:lang="en">Counted Partner 02</title>' in feed
    assert "<title>Партнёр номер один</title>" in feed
    assert '<summary xml:lang="en">' not in feed.split("<title>Партнёр номер один</title>")[1][:400]
    english = (counted_site / "feed.xml").read_text(encoding="utf-8")
    assert "<title xml:lang" not in english and "<summary xml:lang" not in english


def test_the_english_site_marks_nothing(counted_site: Path) -> None:
    html = _page(counted_site, "partners/p02/")
    assert " lang=" not in html.split('<div class="md-header__topic"')[1].split("</article>")[0]


@pytest.mark.browser
def test_russian_pages_read_as_russian_in_chromium(built_site: Path, browser: Any) -> None:
    """What Chromium shows of a partner page and the 404 page is Russian. Screenshots go to
    $SCREENSHOT_DIR when it is set (docs/images: site-ru-partner.png, site-ru-404.png)."""
    from selenium.webdriver.common.by import By

    folder = os.environ.get("SCREENSHOT_DIR")
    with static_server(built_site) as base:
        for url, name in [("ru/partners/contoso-cloud/", "partner"), ("ru/404.html", "404")]:
            browser.set_window_size(1100, 1400)
            browser.get(base + url)
            shown = browser.find_element(By.TAG_NAME, "body").text
            footer = browser.find_element(By.CSS_SELECTOR, ".md-copyright").text
            assert footer == "Сайт сделан на Material for MkDocs"
            letters = re.findall(r"[A-Za-zА-Яа-яЁё]", shown)
            cyrillic = [letter for letter in letters if not letter.isascii()]
            assert len(cyrillic) > 0.75 * len(letters), shown
            if folder:
                # The whole page, footer included.
                for _ in range(2):  # the window's outer size: grow it until the page fits
                    height = browser.execute_script(
                        "return document.documentElement.scrollHeight - window.innerHeight"
                    )
                    if height <= 0:
                        break
                    browser.set_window_size(
                        1100, min(browser.get_window_size()["height"] + height, 4000)
                    )
                Path(folder).mkdir(parents=True, exist_ok=True)
                browser.save_screenshot(str(Path(folder) / f"site-ru-{name}.png"))
