"""The MkDocs plugin that places the generated pages into the Material theme.

Why not hand MkDocs one Markdown page per partner: MkDocs spends ~3.4 ms of CPU per page on its
pipeline (Markdown, extensions, the full theme template), which makes 10,000 partners in two
languages a minute-long build. The generated pages are HTML already, and every page at the same
URL depth gets the same theme chrome around it. So MkDocs renders one "shell" page per depth
with placeholder title, description, URL and body; after the build each generated page is
written as that shell with the placeholders filled in. The shells are then deleted. Links in the
theme are relative to the page, which is why one shell per depth (not one per site) is needed.

The writing is `GeneratedPages`, from a `LanguageShell` (the shells and what else MkDocs
made): `serve --watch`'s build process keeps the shell, and writes an edit's pages again from
it without MkDocs while MkDocs would make the same (`marketplace_app.build.RememberedSite`).
"""

from __future__ import annotations

import gzip
import hashlib
import html
import operator
import re
import shutil
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import CodeType
from typing import Any

import jinja2
from jinja2.bccache import Bucket
from mkdocs.config import config_options as options
from mkdocs.config.base import Config
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.livereload import LiveReloadServer
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files, InclusionLevel
from mkdocs.structure.pages import Page

from marketplace.catalog import SITE_LANGUAGES, Catalog
from marketplace.files import files_under
from marketplace.history import ListingDates, listing_dates
from marketplace.i18n import translations
from marketplace.model import Listing
from marketplace.problems import format_text
from marketplace.urls import logo_digest, partner_url
from marketplace.validate import InvalidListings, LoadedListing, load_listings
from sitegen.carry import Carried, MadePages
from sitegen.exports import (
    atom_feed,
    directory_json,
    find_facets_json,
    partners_json,
    sitemap_xml,
)
from sitegen.i18n import count_texts
from sitegen.pages import (
    BrowseKept,
    GeneratedPage,
    KeptPage,
    SiteInput,
    backend_url,
    browse_links_html,
    iter_site_pages,
    newest_partners_html,
    page_depths,
)
from sitegen.reuse import (
    OutputRecord,
    PageReuse,
    browse_key,
    catalog_fingerprint,
    code_fingerprint,
    file_stamp,
    new_file_mode,
    page_digest,
    page_key,
    still_file,
)


class CompiledTemplates(jinja2.BytecodeCache):
    """The theme's templates as compiled, kept for the process's next builds.

    MkDocs makes the theme's Jinja environment afresh for every build, so every build compiled
    Material's templates again: about 0.5 s of CPU per language in the build process that stays
    under `marketplace serve` (`marketplace_app.rebuilds`; the English process's CPU per build
    after one edit at 10,000 listings went from 3.1 to 2.6 s). Kept here per template file,
    source (a changed override is compiled again) and what else shapes the compiled code
    (`_compiled_by`); the Russian site's process, forked for each build, starts with what the
    English builds before it compiled.
    """

    def __init__(self) -> None:
        self._code: dict[str, tuple[str, CodeType]] = {}

    def get_bucket(
        self, environment: jinja2.Environment, name: str, filename: str | None, source: str
    ) -> Bucket:
        key = self.get_cache_key(name, filename) + _compiled_by(environment)
        bucket = Bucket(environment, key, self.get_source_checksum(source))
        self.load_bytecode(bucket)
        return bucket

    def load_bytecode(self, bucket: Bucket) -> None:
        checksum, code = self._code.get(bucket.key, ("", None))
        if code is not None and checksum == bucket.checksum:
            bucket.code = code

    def dump_bytecode(self, bucket: Bucket) -> None:
        if bucket.code is not None:
            self._code[bucket.key] = (bucket.checksum, bucket.code)

    def clear(self) -> None:
        self._code.clear()


def _compiled_by(environment: jinja2.Environment) -> str:
    """A digest of what in `environment` shapes a template's compiled code, its source aside:
    its extensions, the settings and policies Jinja's lexer, parser and code generator read
    (`ext.i18n.trimmed`, say), and its filters and tests (the code calls each as its kind asks:
    with the context or not; constant arguments are filtered when compiling, so a filter is
    named by its function, as are a policy's and `finalize`)."""
    settings = (
        sorted(environment.extensions),
        _functions(environment.filters),
        _functions(environment.tests),
        sorted((name, _named(value)) for name, value in environment.policies.items()),
        getattr(environment, "newstyle_gettext", False),  # read by the i18n extension's parser
        _named(environment.autoescape),
        environment.block_start_string,
        environment.block_end_string,
        environment.variable_start_string,
        environment.variable_end_string,
        environment.comment_start_string,
        environment.comment_end_string,
        environment.line_statement_prefix,
        environment.line_comment_prefix,
        environment.trim_blocks,
        environment.lstrip_blocks,
        environment.newline_sequence,
        environment.keep_trailing_newline,
        environment.optimized,
        _named(environment.finalize),
        environment.is_async,
        type(environment).__qualname__,
    )
    return "-" + hashlib.sha256(repr(settings).encode()).hexdigest()[:16]


def _functions(named: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    return sorted(
        (name, _named(function), str(getattr(function, "jinja_pass_arg", "")))
        for name, function in named.items()
    )


def _named(value: object) -> str:
    """`value` as the same text in every process: a function by its module and name (its
    `repr` holds its address), anything else by its `repr`."""
    if callable(value):
        module = getattr(value, "__module__", None) or ""
        name = getattr(value, "__qualname__", None) or type(value).__qualname__
        return f"{module}.{name}"
    return repr(value)


THEME_CODE = CompiledTemplates()
"""The process's cache of the theme's compiled templates (`MarketplacePlugin.on_env`)."""

_TITLE = "MPSHELLTITLE"
_TITLE_LANG = "MPSHELLLANG"
_DESCRIPTION = "MPSHELLDESCRIPTION"
_BODY = '<div class="mpshellbody"></div>'
_SHELL_DIR = "mpshell"
_MARKERS = {
    "<!-- marketplace:newest -->": newest_partners_html,
    "<!-- marketplace:browse -->": browse_links_html,
}


_LOGO_WRITTEN = "- logo"
"""A logo's entry in `OutputRecord.pages`, before its stamp (a page's has its key and digest)."""


def _validated_logo(source: Path, digest: str) -> bytes:
    """The logo's bytes, which must be those validated: a logo changed since (a partner's file
    swapped during the build) is not published under the name of the one checked."""
    content = source.read_bytes()
    if logo_digest(content) != digest:
        raise PluginError(
            f"the logo {source} changed while the site was built; build again"
            " (`marketplace serve` does at once)"
        )
    return content


def _holds_logo(path: Path, digest: str, mode: int) -> bool:
    """True when `path` holds the logo bytes of `digest` with the permissions a new copy would
    get."""
    try:
        return (
            stat.S_IMODE(path.stat().st_mode) == mode and logo_digest(path.read_bytes()) == digest
        )
    except OSError:
        return False


def _shell_uri(depth: int) -> str:
    """A Markdown source whose page URL is `depth` levels deep: "mpshell.md", "mpshell/a.md"."""
    return "/".join([_SHELL_DIR, *(["a"] * (depth - 1))]) + ".md"


_SHELL_MARKDOWN = f"""---
title: {_TITLE}
description: {_DESCRIPTION}
search:
  exclude: true
hide:
  - toc
---

{_BODY}
"""


class ShellTemplate:
    """A rendered theme page with the placeholders a generated page fills in."""

    def __init__(self, output: str, url: str) -> None:
        # Material adds <h1>{title}</h1> when the content has none; the generated body brings
        # its own h1, so the theme's goes.
        output = re.sub(rf"<h1[^>]*>{_TITLE}</h1>\s*", "", output, count=1)
        # The header repeats the title as text: an untranslated partner name there is marked
        # English like on the page itself (<title> takes no lang, so it is left alone).
        output = re.sub(
            rf'(<span class="md-ellipsis")(>\s*{_TITLE}\s*</span>)',
            rf"\1{_TITLE_LANG}\2",
            output,
            count=1,
        )
        for token in (_TITLE, _BODY, url):
            if token not in output:
                raise PluginError(f"the theme page shell lost its placeholder {token!r}")
        self.digest = hashlib.sha256(output.encode()).hexdigest()
        """Identifies the shell: the same shell fills the same page into the same HTML."""
        self._parts = re.split(
            f"({_TITLE_LANG}|{_TITLE}|{_DESCRIPTION}|{re.escape(_BODY)}|{re.escape(url)})",
            output,
        )
        self._url = url

    def fill(self, page: GeneratedPage) -> str:
        """The theme page for `page`."""
        values = {
            _TITLE: html.escape(page.title),
            _TITLE_LANG: f' lang="{page.title_language}"' if page.title_language else "",
            _DESCRIPTION: html.escape(page.description),
            _BODY: page.body,
            self._url: page.url,
        }
        return "".join(values.get(part, part) for part in self._parts)


class MarketplaceConfig(Config):
    """`plugins: - marketplace: {listings: listings, language: en, schema: …, search_api: …}`."""

    listings = options.Type(str, default="listings")
    language = options.Choice(SITE_LANGUAGES, default="en")
    schema = options.Optional(options.Type(str))
    # Where the search and directory pages send queries: this origin's API by default, or the
    # backend's full URL when the site is on a static host of its own.
    search_api = options.Type(str, default="/api/v1/search")


SEARCH_API_MARKER = "MARKETPLACE_SEARCH_API"
"""Written in hand-written pages where the search API's URL goes."""
COUNT_TEXTS_MARKER = re.compile(r"MARKETPLACE_COUNT_TEXTS:(\w+)")
"""Written in hand-written pages where a page script needs a count message's plural forms
(`sitegen.i18n.count_texts`): `data-counts="MARKETPLACE_COUNT_TEXTS:found"`."""
FIND_FACETS_MARKER = "MARKETPLACE_FIND_FACETS"
"""Written in the find page where its script reads the facets and their values' names
(`sitegen.exports.find_facets`): with the search API it needs nothing else from the site."""


@dataclass(frozen=True)
class ListingFacts:
    """What every site language's pages show alike of the listings: logo URLs (and the file
    and validated digest behind each), first-published and last-updated dates, by slug."""

    logos: dict[str, str]
    logo_sources: dict[str, tuple[Path, str]]
    published: dict[str, datetime]
    updated: dict[str, datetime]


def listing_facts(
    loaded: tuple[Catalog, list[LoadedListing]], dates: Mapping[Path, ListingDates]
) -> ListingFacts:
    """The `ListingFacts` of the listings (found once for all languages of a build)."""
    facts = ListingFacts({}, {}, {}, {})
    for item in loaded[1]:
        slug, source, url = item.listing.slug, item.logo_path, item.logo_url
        if source is not None and url is not None and item.logo_digest is not None:
            facts.logos[slug] = url
            facts.logo_sources[url] = (source, item.logo_digest)
        when = dates[item.path]
        facts.published[slug], facts.updated[slug] = when.published, when.updated
    return facts


def site_input(
    loaded: tuple[Catalog, list[LoadedListing]],
    language: str,
    dates: Mapping[Path, ListingDates],
    search_api: str,
    facts: ListingFacts | None = None,
) -> tuple[SiteInput, dict[str, tuple[Path, str]]]:
    """What one language's generated pages are made from, and its logos: URL -> the file and
    the digest of the bytes validated. `facts`: the `listing_facts` of `loaded` and `dates`,
    when found already (for another language)."""
    facts = facts or listing_facts(loaded, dates)
    site = SiteInput(
        catalog=loaded[0],
        listings=[item.listing for item in loaded[1]],
        language=language,
        logos=facts.logos,
        published=facts.published,
        updated=facts.updated,
        backend_url=backend_url(search_api),
    )
    return site, facts.logo_sources


_LISTING_PARTS: dict[str, Callable[[SiteInput, int], str]] = {
    **_MARKERS,
    FIND_FACETS_MARKER: lambda site, _depth: html.escape(find_facets_json(site)),
}
"""What the hand-written pages show of the listings, by marker: made for a page `depth` deep."""


class ListingMarkers:
    """The parts of the hand-written pages that one MkDocs run made from the listings (the
    newest partners, the browse links, the find page's facets), by their digest: those pages
    are the same for other listings while every part comes out the same (`same_for`)."""

    def __init__(self) -> None:
        self.used: list[tuple[str, int, str]] = []
        """(marker, page depth, digest of the text put in its place), in the order made."""

    def use(self, site: SiteInput, marker: str, depth: int) -> str:
        """The text for `marker` on a page `depth` deep, noted as used."""
        text = _LISTING_PARTS[marker](site, depth)
        self.used.append((marker, depth, hashlib.sha256(text.encode()).hexdigest()))
        return text

    def same_for(self, site: SiteInput) -> bool:
        """True when `site`'s listings make every part used the same."""
        again = ListingMarkers()
        for marker, depth, _digest in self.used:
            again.use(site, marker, depth)
        return again.used == self.used


@dataclass
class LanguageShell:
    """What one language's MkDocs run made that the listings change only through `markers`:
    the theme shells the generated pages are filled into, the hand-written pages and theme
    files it wrote (relative to the language's folder), the site's address and name.

    `serve --watch`'s build process keeps it (`marketplace_app.build.RememberedSite`): while
    it is `current_for` the listings, an edit re-makes the generated pages and exports
    (`GeneratedPages`) without running MkDocs again."""

    language: str
    site_url: str
    """As MkDocs has it ("" when the configuration gives none)."""
    site_name: str
    search_api: str
    shells: dict[int, ShellTemplate]
    theme_pages: list[str]
    """The hand-written pages' URLs, for the sitemap."""
    theme_files: list[str]
    markers: ListingMarkers

    def current_for(self, site: SiteInput) -> bool:
        """True when MkDocs would make the same for `site`: its generated pages are as deep
        as these shells, and the hand-written pages show the same of its listings."""
        return page_depths(site) == set(self.shells) and self.markers.same_for(site)


class MarketplacePlugin(BasePlugin[MarketplaceConfig]):
    """Adds the partner, browse and facet pages, logos and exports to the MkDocs build."""

    def __init__(self) -> None:
        self.listings_dir: Path | None = None
        # `marketplace build` has already validated; it hands the result over so that large
        # folders are not validated once per site language.
        self.preloaded: tuple[Catalog, list[LoadedListing]] | None = None
        self.dates: Mapping[Path, ListingDates] | None = None
        """Given by `marketplace build` with `preloaded`: the listings' dates, found once for the
        build's every output (`marketplace.history`)."""
        self.site: SiteInput | None = None
        self.reuse: PageReuse | None = None
        """Set by `marketplace build` when a previous build's partner pages may be kept."""
        self._shells: dict[int, ShellTemplate] = {}
        self._theme_pages: list[str] = []
        self._logo_sources: dict[str, tuple[Path, str]] = {}
        """Logo URL -> its file and the digest of the bytes validated."""
        self._markers = ListingMarkers()
        self.shell: LanguageShell | None = None
        """What this build's MkDocs run made (once `on_post_build` has run), for builds that
        make only the generated pages again (`GeneratedPages`)."""
        self.made: MadePages | None = None
        """What the generated pages were made from (`GeneratedPages.made`), when `shell` is
        kept: the next build without MkDocs takes over what did not change (`sitegen.carry`)."""

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        config_dir = Path(config.config_file_path).parent
        if self.listings_dir is None:
            self.listings_dir = config_dir / self.config.listings
        if self.preloaded is None:
            try:
                self.preloaded = load_listings(self.listings_dir)
            except InvalidListings as error:
                raise PluginError(
                    "the listings are not valid:\n" + format_text(error.report.problems)
                ) from None
        catalog, loaded = self.preloaded
        language = self.config.language
        if config.site_url and language != SITE_LANGUAGES[0]:
            suffix = f"{language}/"
            if not config.site_url.endswith("/" + suffix):
                config.site_url = config.site_url.rstrip("/") + "/" + suffix
        dates = self.dates
        if dates is None:
            dates = listing_dates([item.path for item in loaded])
        self.site, self._logo_sources = site_input(
            (catalog, loaded), language, dates, self.config.search_api
        )
        return config

    def on_env(
        self, env: jinja2.Environment, /, *, config: MkDocsConfig, files: Files
    ) -> jinja2.Environment:
        # The theme overrides (site_src/overrides: the 404 page, the footer) say their words
        # through the one catalog, like the generated pages: `{{ _("…") }}` in the theme.
        # Material's own labels come from its language pack (`theme.language`).
        env.add_extension("jinja2.ext.i18n")
        env.install_gettext_translations(  # type: ignore[attr-defined]
            translations(self.config.language), newstyle=True
        )
        # Counts in the theme's scripts (the header search) take their plural forms from it too.
        env.globals["count_texts"] = lambda name: count_texts(name, self.config.language)
        env.bytecode_cache = THEME_CODE
        return env

    def on_files(self, files: Files, /, *, config: MkDocsConfig) -> Files:
        assert self.site is not None
        for depth in sorted(page_depths(self.site)):
            files.append(
                File.generated(
                    config,
                    _shell_uri(depth),
                    content=_SHELL_MARKDOWN,
                    inclusion=InclusionLevel.NOT_IN_NAV,
                )
            )
        if self.config.schema:
            schema = Path(config.config_file_path).parent / self.config.schema
            files.append(File.generated(config, "schema/listing.json", abs_src_path=str(schema)))
        return files

    def on_page_markdown(
        self, markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files
    ) -> str:
        assert self.site is not None
        depth = page.url.count("/")
        for marker in _MARKERS:
            if marker in markdown:
                markdown = markdown.replace(marker, self._markers.use(self.site, marker, depth))
        markdown = COUNT_TEXTS_MARKER.sub(
            lambda found: html.escape(count_texts(found[1], self.config.language)), markdown
        )
        if FIND_FACETS_MARKER in markdown:
            markdown = markdown.replace(
                FIND_FACETS_MARKER, self._markers.use(self.site, FIND_FACETS_MARKER, 0)
            )
        return markdown.replace(SEARCH_API_MARKER, html.escape(self.config.search_api))

    def on_post_page(self, output: str, /, *, page: Page, config: MkDocsConfig) -> str:
        if page.file.src_uri == _shell_uri(page.url.count("/")):
            self._shells[page.url.count("/")] = ShellTemplate(output, page.url)
        elif page.meta.get("sitemap", True):
            # `sitemap: false` in a page's front matter: an old address that only forwards
            # (directory/, search/ -> find/) is no page for search engines to list.
            self._theme_pages.append(page.url)
        return output

    def on_post_build(self, *, config: MkDocsConfig) -> None:
        assert self.site is not None
        site_dir = Path(config.site_dir)
        shutil.rmtree(site_dir / _SHELL_DIR, ignore_errors=True)
        shell = LanguageShell(
            language=self.config.language,
            site_url=config.site_url or "",
            site_name=config.site_name,
            search_api=self.config.search_api,
            shells=self._shells,
            theme_pages=self._theme_pages,
            # What MkDocs wrote: the generated pages come next.
            theme_files=sorted(files_under(site_dir)),
            markers=self._markers,
        )
        # Made again without MkDocs only when no plugin after this one may write or change
        # files once the pages are written (its files would be missing from `theme_files`).
        last = config.plugins.events["post_build"][-1]
        self.shell = shell if getattr(last, "__self__", None) is self else None
        generated = GeneratedPages(shell, self.site, self._logo_sources, self.reuse)
        generated.write(site_dir)
        self.made = generated.made if self.shell is not None else None

    def on_serve(
        self, server: LiveReloadServer, /, *, config: MkDocsConfig, builder: Any
    ) -> LiveReloadServer:
        # Editing a listing rebuilds the site like editing a page does.
        if self.listings_dir is not None:
            server.watch(str(self.listings_dir))
        return server


_SLUG = operator.attrgetter("slug")


class GeneratedPages:
    """Writes one language's generated pages (partners, browse and facet pages), its logos
    and exports into a built site folder, filling the theme shells of `shell`; keeps what
    `reuse` allows of the live site (`sitegen.reuse`)."""

    def __init__(
        self,
        shell: LanguageShell,
        site: SiteInput,
        logo_sources: dict[str, tuple[Path, str]],
        reuse: PageReuse | None,
        carried: Carried | None = None,
    ) -> None:
        self.shell = shell
        self.site = site
        self._logo_sources = logo_sources
        """Logo URL -> its file and the digest of the bytes validated."""
        self.reuse = reuse
        self.carried = carried
        """What `site` took over from the build before (`sitegen.carry.carry_over`): the keys
        of the partners and browse pages that did not change are that build's."""
        self._browse_keys: dict[str, str] = {}
        """Browse page URL -> its `browse_key` in this build."""
        self.made: MadePages | None = None
        """What the pages were made from, once written with `reuse` (for the next build)."""

    def write(self, site_dir: Path) -> None:
        """Write the pages, logos and exports."""
        page_urls: list[str] = []
        mode = new_file_mode()  # of every file this build writes
        record, kept, browse_kept = self._reusable(mode)
        partner_urls = {partner_url(listing.slug): listing.slug for listing in self.site.listings}
        live = self.reuse.live_root if self.reuse is not None else None
        for page in iter_site_pages(self.site, kept, browse_kept):
            if isinstance(page, KeptPage):
                # Left where it is in the live site, which the build publishes this staging
                # folder over (`marketplace_app.staging`): named as kept, not copied.
                assert self.reuse is not None and live is not None and record is not None
                path = f"{page.url}index.html"
                self.reuse.kept_paths.add(path)
                if page.slug is None:  # a browse page
                    assert self.reuse.previous is not None
                    record.pages[path] = self.reuse.previous.pages[path]
                else:  # `kept` found its file still the one recorded
                    assert self.reuse.previous is not None
                    self.reuse.kept += 1
                    record.files[page.slug] = self.reuse.previous.files[page.slug]
            elif page.url in partner_urls:
                self._write_page(site_dir, page)
                if self.reuse is not None:
                    # Stamped once published (the live file may stay, if it is the same).
                    self.reuse.written[partner_urls[page.url]] = f"{page.url}index.html"
            else:
                self._write_listing_page(site_dir, page, record, mode)
            page_urls.append(page.url)
        for url, (source, digest) in self._logo_sources.items():
            if self.reuse is not None and record is not None:
                if live is not None and self._kept_logo(url, digest, live, record, mode):
                    self.reuse.kept_paths.add(url)
                    continue
                self.reuse.written_pages[url] = _LOGO_WRITTEN
            (site_dir / url).parent.mkdir(parents=True, exist_ok=True)
            (site_dir / url).write_bytes(_validated_logo(source, digest))
        site_url = self.shell.site_url or "/"
        self._write(site_dir / "directory.json", directory_json(self.site))
        self._write(site_dir / "feed.xml", atom_feed(self.site, site_url, self.shell.site_name))
        if self.shell.language == SITE_LANGUAGES[0]:
            self._write(site_dir / "partners.json", partners_json(self.site, site_url))
        self._write_sitemap(site_dir, site_url, page_urls)
        if self.reuse is not None:
            assert record is not None
            self.reuse.record = record
            self.made = MadePages(self.site, record.keys, self._browse_keys)

    def _reusable(
        self, mode: int
    ) -> tuple[OutputRecord | None, Callable[[Listing], bool] | None, BrowseKept | None]:
        """The record this build will leave (None without `reuse`), which partners' previous
        pages are still current and which browse pages are (None: render them all); a kept
        page must have `mode`, the permissions the files this build writes get."""
        self._browse_keys = {}
        if self.reuse is None:
            return None, None, None
        site = self.site
        shells = hashlib.sha256()
        for depth in sorted(self.shell.shells):
            shells.update(self.shell.shells[depth].digest.encode())
        fingerprint = catalog_fingerprint(
            code_fingerprint(), site.catalog, site.language, shells.hexdigest()
        )
        record = OutputRecord(fingerprint)
        carried = self.carried
        if carried is None:
            record.keys = {listing.slug: page_key(site, listing) for listing in site.listings}
        else:
            record.keys = dict(carried.before.keys)
            record.keys.update(
                (slug, page_key(site, listing)) for slug, listing in carried.changed.items()
            )
        keys_before = carried.before.browse_keys if carried is not None else {}
        touched = carried.browse_urls if carried is not None else frozenset()
        reuse, previous, folder = self.reuse, self.reuse.previous, self.reuse.live_root
        current = (
            previous is not None and folder is not None and previous.fingerprint == fingerprint
        )

        def browse_kept(url: str, partners: Sequence[Listing], total: int) -> bool:
            key = keys_before.get(url) if url not in touched else None
            if key is None:
                # map, not a comprehension: ~400,000 look-ups a build at 10,000 partners.
                keys = list(map(record.keys.__getitem__, map(_SLUG, partners)))
                key = browse_key(url, keys, total)
            self._browse_keys[url] = key  # for the record, kept or not
            live = reuse.live_page(f"{url}index.html", mode) if current else None
            return live is not None and live[0] == key

        if not current:
            return record, None, browse_kept
        assert previous is not None and folder is not None

        def kept(listing: Listing) -> bool:
            slug = listing.slug
            return previous.keys.get(slug) == record.keys[slug] and still_file(
                f"{folder}/{partner_url(slug)}index.html", previous.files.get(slug), mode
            )

        return record, kept, browse_kept

    def _kept_logo(
        self, url: str, digest: str, live: Path, record: OutputRecord, mode: int
    ) -> bool:
        """True when the live site's copy of a logo stays, noted in `record`. Logos are named
        by their content's hash, and a build publishes only the bytes validated under it
        (`_validated_logo`), so a live file at the URL is current while it is the file the
        previous build published there (its stamp: one look, not reading 4,000 logos twice a
        build; a file changed since, its stamp with it, is written again); without that record
        its bytes are checked against the digest."""
        assert self.reuse is not None
        if self.reuse.live_page(url, mode) is not None:
            assert self.reuse.previous is not None
            record.pages[url] = self.reuse.previous.pages[url]
            return True
        if _holds_logo(live / url, digest, mode):
            record.pages[url] = f"{_LOGO_WRITTEN} {file_stamp(live / url)}"
            return True
        return False

    def _write_sitemap(self, site_dir: Path, site_url: str, page_urls: list[str]) -> None:
        urls = [url for url in self.shell.theme_pages if not url.endswith(".html")]
        urls += page_urls
        dates = {f"partners/{slug}/": when for slug, when in self.site.updated.items()}
        sitemap = sitemap_xml(site_url, urls, dates)
        self._write(site_dir / "sitemap.xml", sitemap)
        # Level 6, not gzip's 9: at 10,000 partners 6 ms against 19 ms, for 58 KB against 50.
        compressed = gzip.compress(sitemap.encode(), compresslevel=6, mtime=0)
        (site_dir / "sitemap.xml.gz").write_bytes(compressed)

    def _write_page(self, site_dir: Path, page: GeneratedPage, text: str | None = None) -> None:
        target = site_dir / page.url / "index.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            text = self.shell.shells[page.depth].fill(page)
        target.write_text(text, encoding="utf-8")

    def _write_listing_page(
        self, site_dir: Path, page: GeneratedPage, record: OutputRecord | None, mode: int
    ) -> None:
        """Write a browse or facet page, unless the live one is the same (`sitegen.reuse`):
        then it is named as kept, and its entry in the record carried over."""
        text = self.shell.shells[page.depth].fill(page)
        if self.reuse is None or record is None:
            self._write_page(site_dir, page, text)
            return
        path = f"{page.url}index.html"
        written = f"{self._browse_keys.get(page.url, '-')} {page_digest(text)}"
        live = self.reuse.live_page(path, mode)
        if live is not None and live[1] == written.split(" ")[1]:
            # The same HTML as the live page's: left as it is, recorded with its new key.
            assert self.reuse.previous is not None
            self.reuse.kept_paths.add(path)
            stamp = self.reuse.previous.pages[path].split(" ")[2]
            record.pages[path] = f"{written} {stamp}"
        else:
            self._write_page(site_dir, page, text)
            self.reuse.written_pages[path] = written

    @staticmethod
    def _write(path: Path, text: str) -> None:
        path.write_text(text, encoding="utf-8")
