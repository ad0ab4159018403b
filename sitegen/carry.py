"""One site language's groupings and page keys, taken over from the build before.

Under `serve --watch` one process builds again after every edit (`marketplace_app.rebuilds`),
and an edit changes one listing of 10,000. Sorting the partners by name, grouping them by
every facet value, counting, and the keys of every partner and browse page were made again
for all of them at every build in both languages: ~0.45 s of a ~2.4 s build after one edit
on a slow machine. Most edits (a summary, a description, a contact) keep the partner's name
and facet values, so every grouping holds the same partners in the same places, the edited
one a new object. `carry_over` then takes the
previous build's groupings over with those objects replaced, and names the partners whose
keys must be made again and the browse pages that list them; every other key is the one the
build before made (`MadePages`). Anything else (a partner added or removed; a changed
partner whose name, as it sorts, or whose facet values, in their order, are not what they
were; another catalog; more than `MOST_CARRIED` changes) makes everything afresh, as a build
from nothing does. So would, for the Russian site, the first build after one that ran
MkDocs: its pages were made in a process of its own, which keeps its `MadePages` to itself
(the English site's are made in the build's process), so the build process makes them again
while idle after such a build (`marketplace_app.build.remember_every_language`).
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from marketplace.catalog import FACETS, Catalog
from marketplace.model import Listing, facet_values
from sitegen.pages import PER_PAGE, SiteInput, browse_urls, name_order

MOST_CARRIED = 200
"""Above this many changed partners the groupings are made afresh (each change is patched
in one at a time: a merge of many pull requests is a build like the first)."""


@dataclass(frozen=True)
class MadePages:
    """What one language's generated pages were made from in a build: its input, with the
    groupings that build found in it (`SiteInput`'s caches), and the keys of its partner and
    browse pages (`sitegen.reuse`). Kept by a process that builds again and again
    (`marketplace_app.build.RememberedSite`) for its next build."""

    site: SiteInput
    keys: dict[str, str]
    """Slug -> `page_key`."""
    browse_keys: dict[str, str]
    """Browse page URL -> `browse_key`."""


@dataclass(frozen=True)
class Carried:
    """What a build takes over from the one before (`carry_over`)."""

    before: MadePages
    changed: dict[str, Listing]
    """Slug -> the listing now, of each partner whose listing, logo URL or dates changed: its
    keys are made again, every other partner's are `before`'s."""
    browse_urls: frozenset[str]
    """The browse pages listing one of them: their keys are made again."""


def carry_over(before: MadePages, site: SiteInput) -> Carried | None:
    """Fill `site`'s groupings (name order, facet members and counts, value links, export
    rows) from `before`'s, for the partners that changed since; None, having filled nothing,
    when they cannot be taken over (see the module's docstring)."""
    then = before.site
    if (
        then.language != site.language
        or then.backend_url != site.backend_url
        or len(then.listings) != len(site.listings)
        or not then.by_name
        or len(then.members) != len(FACETS)
        or len(then.counted) != len(FACETS)
        or not _same_catalog(then.catalog, site.catalog)
    ):
        return None
    # Pairwise, by identity: the listings come in the same order (their files') and are the
    # same objects but for those validated again.
    replaced: list[tuple[Listing, Listing]] = []  # (then, now)
    for old, listing in zip(then.listings, site.listings, strict=True):
        if old is not listing:
            if old.slug != listing.slug:  # added, removed or moved: not carried
                return None
            replaced.append((old, listing))
    changed = {listing.slug: listing for _old, listing in replaced}
    if not (
        site.logos == then.logos
        and _same_times(site.published, then.published)
        and _same_times(site.updated, then.updated)
    ):
        now = {listing.slug: listing for listing in site.listings}
        for slug in now:
            if site.logos.get(slug) != then.logos.get(slug) or not all(
                map(
                    _same_time,
                    (site.published.get(slug), site.updated.get(slug)),
                    (then.published.get(slug), then.updated.get(slug)),
                )
            ):
                changed.setdefault(slug, now[slug])
    if len(changed) > MOST_CARRIED:
        return None
    language = site.language
    for old, listing in replaced:
        if name_order(old, language) != name_order(listing, language) or any(
            facet_values(old, facet) != facet_values(listing, facet) for facet in FACETS
        ):
            return None
    # Copied where they change: `before`'s stay as they were.
    by_name = list(then.by_name)
    members = {name: dict(groups) for name, groups in then.members.items()}
    for old, listing in replaced:
        position = _position(by_name, old, language)
        if position is None:
            return None
        by_name[position] = listing
    urls: set[str] = set()
    copied: set[tuple[str, str]] = set()  # (facet, value) of the member lists copied here
    earlier = {old.slug: old for old, _new in replaced}
    for slug, listing in changed.items():
        old = earlier.get(slug, listing)  # (the same object when only its logo or dates changed)
        for facet in FACETS:
            groups = members[facet.name]
            for value in facet_values(listing, facet):
                group = groups.get(value)
                position = None if group is None else _position(group, old, language)
                if group is None or position is None:
                    return None
                if old is not listing:
                    if (facet.name, value) not in copied:
                        group = groups[value] = list(group)
                        copied.add((facet.name, value))
                    group[position] = listing
                urls.add(browse_urls(facet, value, len(group))[position // PER_PAGE])
    site.by_name[:] = by_name
    site.members.update(members)
    site.counted.update(then.counted)
    site.links.update(then.links)
    for export, rows in then.rows.items():
        taken = site.rows[export] = dict(rows)
        # Made again by the export (`export_rows`): each changed partner's listing in its place.
        taken.update((slug, listing) for slug, listing in changed.items() if slug in taken)
    return Carried(before, changed, frozenset(urls))


def _same_catalog(then: Catalog, now: Catalog) -> bool:
    """Equal, and in the same order (values of equal names are listed in the catalog's)."""
    return then is now or (
        then == now
        and all(
            list(getattr(then, field.name)) == list(getattr(now, field.name))
            for field in dataclasses.fields(then)
        )
    )


def _same_times(now: Mapping[str, datetime], then: Mapping[str, datetime]) -> bool:
    """True when every slug has the same time in both, at the same offset (which its text
    shows: equal times at other offsets compare equal)."""
    return now == then and list(map(datetime.utcoffset, now.values())) == list(
        map(datetime.utcoffset, then.values())
    )


def _same_time(now: datetime | None, then: datetime | None) -> bool:
    if now is None or then is None:
        return now is then
    return now == then and now.utcoffset() == then.utcoffset()


def _position(group: list[Listing], listing: Listing, language: str) -> int | None:
    """Where `listing` is in `group` (in name order), by bisection; None when it is not."""
    key = name_order(listing, language)
    position = bisect_left(group, key, key=lambda member: name_order(member, language))
    if position < len(group) and group[position] is listing:
        return position
    return None
