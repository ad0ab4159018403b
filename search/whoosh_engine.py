"""The whoosh implementation of partner search: one schema, an atomic index build, queries.

Performance notes (measured in benchmarks/search_latency.py):
- Facet counts do not use whoosh's `groupedby`, which rebuilds facet lists on every search.
  When a searcher opens, every facet value gets a bitset (a Python int, bit = docnum) of the
  partners that have it; a query's matches become one bitset, and each count is one `&` and
  `bit_count()`.
- One searcher stays open and is reopened only when a new index has been swapped in.
- Orders other than relevance (name, newest; per language) are computed once per searcher as
  arrays of docnums; a query keeps the selected ones in that order (one NumPy pass) instead
  of sorting its matches.
- Scoring: every (field, term) pair's BM25F scores are NumPy arrays (`_TermScores`). A query
  adds those arrays (an OR of fields within a word, an AND of words) instead of walking
  whoosh's pure-Python matcher tree over every matching document: that walk was ~90% of the
  time of a broad query at 10,000 partners. The scores are whoosh's own (BM25F, boosts summed
  as whoosh's Or/And would). The build analyses the scored fields itself, computes the arrays
  of every term and writes them into the index's folder (search/whoosh_scores.py), so the
  first query after a rebuild or a restart is as fast as any; whoosh indexes only the
  unstemmed words and stores the texts. An index written before INDEX_VERSION 3 computes a
  term's arrays through whoosh on first use, keeps them LRU, and warms its most frequent
  terms in a background thread when it opens.
- whoosh's readers keep one file position per file, so reads of the index files (new terms,
  the warm-up, stored fields, spelling) are serialised per searcher (`_TermScores.reading`);
  precomputed and cached arrays are used without it.
- Fuzzy matching runs on an unstemmed field: whoosh stems fuzzy terms first, so `secruity~`
  would become `secruiti~` and never reach the stem `secur`.

Ranking on top of BM25F (judged by the query set in tests/search/judged.py, measured by
benchmarks/search_quality.py): a match through a word's stem family only ("hospitality" for
"hospital") counts `FAMILY_WEIGHT` of a match of the word's own forms (search/wordforms.py),
and a query that names a partner puts it first (search/names.py).
"""

from __future__ import annotations

import bisect
import fcntl
import logging
import os
import pickle
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from whoosh import index as whoosh_index
from whoosh.analysis import Analyzer, LowercaseFilter, RegexTokenizer, StemmingAnalyzer
from whoosh.fields import ID, STORED, TEXT, Schema
from whoosh.lang import stopwords_for_language
from whoosh.lang.porter import stem as english_stem
from whoosh.lang.snowball import RussianStemmer
from whoosh.searching import Searcher
from whoosh.spelling import Corrector
from whoosh.writing import MERGE_SMALL

from marketplace.catalog import WORLDWIDE
from search.documents import PartnerDocument
from search.engine import FILTER_FACETS, Hit, SearchQuery, SearchResult
from search.names import NameIndex
from search.snippets import snippet
from search.whoosh_scores import (
    AnalysedText,
    Analysing,
    TermScoreTable,
    analyse,
    read_pickle,
    sync_folder,
    write_pickle,
    write_term_scores,
)
from search.wordforms import own_forms

log = logging.getLogger(__name__)

LANGUAGES = ("en", "ru")
MAX_WORDS = 32
"""Words of a query beyond this are ignored: they cannot change the ranking much."""


def _russian_stem(word: str) -> str:
    return str(RussianStemmer().stem(word.replace("ё", "е")))


def word_stem(word: str) -> str:
    """A word's stem in its own script's language (Cyrillic: Russian, else English)."""
    return _russian_stem(word) if _is_cyrillic(word) else str(english_stem(word))


ANALYZERS: dict[str, Analyzer] = {
    "en": StemmingAnalyzer(),
    "ru": StemmingAnalyzer(stemfn=_russian_stem, stoplist=stopwords_for_language("ru")),
}
"""Per-language analysers: English and Russian stemming, each with its own stop words."""

PLAIN = RegexTokenizer() | LowercaseFilter()
"""Unstemmed words, for typo tolerance and "did you mean"."""

FIELD_BOOSTS = {"name": 4.0, "summary": 2.0, "catalog": 1.5, "description": 1.0}
"""Where a word matches says how much it counts: name > summary > catalog names > description."""

SNIPPET_CHARS = {"name": 200, "summary": 200, "description": 200}
"""Highlighted fields and their longest excerpt (a name or summary is shown whole)."""

FAMILY_WEIGHT = 0.3
"""What a word matched only through another word of its stem's family counts for."""

PARALLEL_INDEXING = 1000
"""From this many partners on, the index is written by several processes."""


def _schema() -> Schema:
    # whoosh indexes the unstemmed words only (their lexicon gives typo variants and "did you
    # mean") and stores what a hit shows and highlights; the build analyses and scores the
    # per-language fields itself (search/whoosh_scores.py, `SCORED_FIELDS`).
    fields: dict[str, Any] = {
        "slug": ID(stored=True, unique=True),
        "record": STORED(),  # what a hit shows and a filter or order needs (`_fields`)
        "words": TEXT(analyzer=PLAIN, phrase=False),
        "catalog": STORED(),
    }
    for language in LANGUAGES:
        for name in SNIPPET_CHARS:
            fields[f"{name}_{language}"] = STORED()
    return Schema(**fields)


SCHEMA = _schema()
"""The one index schema."""

SCORED_ANALYZERS: dict[str, Analyzer] = {
    **{
        f"{name}_{language}": ANALYZERS[language] for language in LANGUAGES for name in FIELD_BOOSTS
    },
    "words": PLAIN,
}
"""The fields whose terms a query scores, each with its analyser: each language's
FIELD_BOOSTS fields, and "words" for typo variants. The build precomputes every term's
scores in them."""

SCORED_FIELDS = tuple(SCORED_ANALYZERS)


# --- building -----------------------------------------------------------------------------------


def _fields(document: PartnerDocument) -> dict[str, Any]:
    """What whoosh indexes and stores of a partner."""
    record = {
        "url": document.url,
        "name": document.name,
        "summary": document.summary,
        "facets": document.facets,
        "delegated_admin": document.delegated_admin,
        "text_language": document.text_language,
        "logo": document.logo,
        "trial": document.trial,
        "published": document.published.isoformat(),
    }
    texts = {"catalog": document.catalog_terms}
    for language in LANGUAGES:
        texts[f"name_{language}"] = document.name[language]
        texts[f"summary_{language}"] = document.summary[language]
        texts[f"description_{language}"] = document.description[language]
    return {"slug": document.slug, "record": record, "words": _words(texts)} | texts


def _words(stored: Mapping[str, Any]) -> str:
    """All of a partner's text, for the unstemmed "words" field, from the texts whoosh
    stores of it (`_fields`)."""
    everything = [stored["catalog"]]
    for language in LANGUAGES:
        everything += [stored[f"{name}_{language}"] for name in SNIPPET_CHARS]
    return " ".join(everything)


def _scored_texts(fields: Mapping[str, Any]) -> dict[str, str]:
    """Each scored field's text (`SCORED_ANALYZERS`), from what whoosh indexes and stores of
    a partner (`_fields`, or its stored fields: then the words are joined again)."""
    texts: dict[str, str] = {
        f"{name}_{language}": fields["catalog" if name == "catalog" else f"{name}_{language}"]
        for language in LANGUAGES
        for name in FIELD_BOOSTS
    }
    texts["words"] = fields["words"] if "words" in fields else _words(fields)
    return texts


def index_processes(count: int) -> int:
    """How many processes write an index of `count` partners."""
    # Several writer processes, each writing its own segment (no final merge), write 10,000
    # partners' words in 15 s instead of 21 s on 2 cores. In a whole build, beside the two
    # site languages' processes, one writer was slower still (73-82 s against 51-54 s for
    # the index step, in alternated runs). Below ~1,000 the start-up is not worth it.
    return min(os.cpu_count() or 1, 4) if count >= PARALLEL_INDEXING else 1


@dataclass(frozen=True)
class PreparedIndex:
    """A new index generation written beside the current one but not in use yet
    (`prepare_index`, `prepare_update`): `publish_index` makes it current, `discard_index`
    removes it. `marketplace build` prepares the index while it builds the site, and
    publishes it only once the site is built too, so a failed build changes neither."""

    folder: Path
    based_on: str | None = None
    """The generation an update was written from; None for an index built from nothing."""


def build_index(
    index_root: Path, documents: Iterable[PartnerDocument], snapshot_hash: str | None = None
) -> Path:
    """Write a new index under `index_root` and swap it in atomically; returns its folder.

    The index is written into a fresh folder and only then made current by replacing the
    `current` symlink (an atomic rename), so a searcher never sees a half-written index. The
    previous index stays on disk for searchers still reading it; older ones are removed.
    `snapshot_hash`, the `content_hash` of the partner snapshot the documents come from, is
    kept in the index's folder (`WhooshSearch.built_from`), so it swaps in with the index.
    """
    return publish_index(index_root, prepare_index(index_root, documents, snapshot_hash))


def prepare_index(
    index_root: Path, documents: Iterable[PartnerDocument], snapshot_hash: str | None = None
) -> PreparedIndex:
    """`build_index` up to the swap: the new index, written and precomputed, not in use."""
    index_root.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix="building-", dir=index_root))
    try:
        created = whoosh_index.create_in(str(building), SCHEMA)
        documents = list(documents)
        procs = index_processes(len(documents))
        writer = created.writer(procs=procs, multisegment=procs > 1, limitmb=256)
        # The scored fields are analysed here while whoosh's writer processes index the words.
        analysing = Analysing(SCORED_ANALYZERS)
        records = {}
        for document in documents:
            fields = _fields(document)
            writer.add_document(**fields)
            analysing.add(document.slug, _scored_texts(fields))
            records[document.slug] = _record(fields)
        writer.commit()
        created.close()
        _write_precomputed(building, analysing.analysed(), records)
        _finish(building, snapshot_hash)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return PreparedIndex(building)


def publish_index(index_root: Path, prepared: PreparedIndex) -> Path:
    """Make a prepared index current (atomically, as `build_index` does); returns its folder.
    An update whose generation is no longer current (another build swapped one in since) is
    discarded with `IndexChanged` rather than undo that build's changes."""
    try:
        with _generations_locked(index_root):
            current = current_index(index_root)
            if prepared.based_on is not None and (
                current is None or current.name != prepared.based_on
            ):
                raise IndexChanged(
                    f"the search index in {index_root} changed while this update was written; "
                    "build again"
                )
            return _swap_in(index_root, prepared.folder)
    except BaseException:
        discard_index(prepared)
        raise


def discard_index(prepared: PreparedIndex) -> None:
    """Remove a prepared index that will not be used (its build failed)."""
    shutil.rmtree(prepared.folder, ignore_errors=True)


class IndexChanged(RuntimeError):
    """The index generation an update was written from is no longer the current one."""


def update_index(
    index_root: Path,
    changed: Iterable[PartnerDocument],
    removed_slugs: Iterable[str] = (),
    snapshot_hash: str | None = None,
) -> Path:
    """Write a new index generation from the current one with `changed` partners added or
    replaced and `removed_slugs` gone, and swap it in like `build_index`; returns its folder.

    For `marketplace serve` after one listing changed: the current generation's files are
    linked, not copied (whoosh never rewrites a segment; its deletions live in the table of
    contents it writes anew), the changes go into a new small segment (merged with the other
    small ones as whoosh sees fit), and the precomputed scores and partners are written again
    for the whole index (every term's idf and the average lengths change with any partner;
    only the changed partners' text is analysed): it scores as a full build of the same
    partners would. Replaced versions stay in whoosh's word lexicon until their segment is
    merged, or the next full build (`index_needs_rebuild` tells when one is due). Holds the
    index root's lock throughout, so updates and builds (`build_index` locks around its swap)
    follow one another. Without `snapshot_hash`, the current generation's is kept; of two
    changed documents of one partner, the last counts. `FileNotFoundError` without a current
    index of this `INDEX_VERSION`.
    """
    _check_updatable(index_root)
    # Held throughout: the generation read here is still current when this one replaces it
    # (a build or another update swapping in meanwhile would be lost, or its folder deleted).
    with _generations_locked(index_root):
        prepared = _prepare_update(index_root, changed, removed_slugs, snapshot_hash)
        try:
            return _swap_in(index_root, prepared.folder)
        except BaseException:
            discard_index(prepared)
            raise


def prepare_update(
    index_root: Path,
    changed: Iterable[PartnerDocument],
    removed_slugs: Iterable[str] = (),
    snapshot_hash: str | None = None,
) -> PreparedIndex:
    """`update_index` up to the swap; `publish_index` swaps it in only if the generation it
    was written from is still current."""
    _check_updatable(index_root)
    with _generations_locked(index_root):
        return _prepare_update(index_root, changed, removed_slugs, snapshot_hash)


def _check_updatable(index_root: Path) -> None:
    if not index_root.is_dir():
        raise FileNotFoundError(f"no index in {index_root} to update; build one")


def _prepare_update(
    index_root: Path,
    changed: Iterable[PartnerDocument],
    removed_slugs: Iterable[str],
    snapshot_hash: str | None,
) -> PreparedIndex:
    """The update's new generation, written; called with `_generations_locked` held."""
    # One document per partner (the last): whoosh would keep both of two added in one update.
    changed = list({document.slug: document for document in changed}.values())
    removed_slugs = list(removed_slugs)
    current = current_index(index_root)
    if current is None or not index_is_current(index_root):
        raise FileNotFoundError(f"no current index in {index_root} to update; build one")
    previous = _Partners.load(current, docnums=True)
    if previous is None:  # unreadable: from the records whoosh stores
        with whoosh_index.open_dir(str(current)).searcher() as searcher:
            previous = _Partners.read(searcher.reader(), current)
    if snapshot_hash is None:  # the partners stay those of the snapshot recorded
        snapshot_hash = recorded_with_index(index_root, SNAPSHOT_HASH_FILE)
    changed_records = _records(changed)
    analysed = AnalysedText.read(current) or _analysed_from_stored(current)
    analysed = analysed.without([*removed_slugs, *(d.slug for d in changed)])
    analysed = analysed.joined(_analysed(changed))
    building = Path(tempfile.mkdtemp(prefix="building-", dir=index_root))
    try:
        _write_update(current, building, changed, removed_slugs)
        docnums, size = _live_docnums(building)
        write_term_scores(building, analysed, docnums)
        partners = previous.updated(docnums, size, changed_records)
        if partners is None:  # derived from every record
            records = {record["slug"]: record for record in previous.records.values()}
            for slug in removed_slugs:
                records.pop(slug, None)
            records.update(changed_records)
            partners = _Partners.of({docnums[slug]: r for slug, r in records.items()}, size)
        partners.write(building)
        _finish(building, snapshot_hash)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return PreparedIndex(building, based_on=current.name)


DELETED_SHARE_TO_REBUILD = 0.1
"""Above this share of an index's documents deleted (replaced or removed partners whose
words whoosh keeps until their segment is merged), `index_needs_rebuild` says so: they cost
reading and stay in the lexicon that typo variants are looked up in. A full build is faster
than whoosh rewriting the index in one process (22.5 s against ~12 s at 10,000 partners)."""


def index_needs_rebuild(index_root: Path) -> bool:
    """True when the current index has more than `DELETED_SHARE_TO_REBUILD` of its documents
    deleted by updates, so the next `marketplace build` should build it afresh."""
    folder = current_index(index_root)
    if folder is None:
        return True
    try:
        index = whoosh_index.open_dir(str(folder))
    except (OSError, whoosh_index.EmptyIndexError):
        return True
    try:
        size, live = index.doc_count_all(), index.doc_count()
    finally:
        index.close()
    return bool(size - live > DELETED_SHARE_TO_REBUILD * size)


def _write_update(
    current: Path, building: Path, changed: Sequence[PartnerDocument], removed_slugs: Sequence[str]
) -> None:
    """Write into `building` the index of `current` with `changed` and `removed_slugs` applied."""
    for path in current.iterdir():
        if path.suffix == ".seg":  # whoosh's segment files, never rewritten
            _link_or_copy(path, building / path.name)
        elif path.name.startswith("_MAIN_"):  # its table of contents
            shutil.copy2(path, building / path.name)
    index = whoosh_index.open_dir(str(building))
    try:
        writer = index.writer(timeout=10)
        for slug in removed_slugs:
            writer.delete_by_term("slug", slug)
        for document in changed:
            writer.update_document(**_fields(document))
        # whoosh's "small segments" policy merges the new segment with other small ones
        # (fibonacci sizes), so the count of segments stays logarithmic in the updates and
        # the big segments are not rewritten (seconds at 10,000 partners).
        writer.commit(mergetype=MERGE_SMALL)
    finally:
        index.close()


def _link_or_copy(source: Path, target: Path) -> None:
    """Hardlink `source` to `target` (files never rewritten); copy where links fail."""
    try:
        os.link(source, target)
    except OSError:  # a filesystem without hardlinks
        shutil.copy2(source, target)


LOCK_FILE = ".lock"
"""In the index root: locked (flock) by whoever swaps generations in or removes them."""


@contextmanager
def _generations_locked(index_root: Path) -> Iterator[None]:
    """Exclusive, across processes and threads (each call opens its own file description),
    over the index root's generations: which is current, and which folders exist."""
    with (index_root / LOCK_FILE).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _finish(building: Path, snapshot_hash: str | None) -> None:
    """Record what the index in `building` was written from and with, and put it on disk:
    what is left to make it current is a rename and a symlink (`_swap_in`)."""
    if snapshot_hash is not None:
        (building / SNAPSHOT_HASH_FILE).write_text(snapshot_hash + "\n", encoding="utf-8")
    (building / INDEX_VERSION_FILE).write_text(f"{INDEX_VERSION}\n", encoding="utf-8")
    sync_folder(building)  # on disk before the link names it: no garbled index after a crash


def _swap_in(index_root: Path, building: Path) -> Path:
    """Make the index written in `building` (and `_finish`ed) current (see `build_index`);
    returns its folder. Called with `_generations_locked` held."""
    previous = current_index(index_root)
    # Named under the lock, so a later swap always has a later name (never before `previous`).
    stamp = max(time.time_ns(), _generation_number(previous) + 1 if previous else 0)
    final = index_root / f"index-{stamp}"
    building.rename(final)
    link = index_root / f"current-{os.getpid()}-{threading.get_ident()}.tmp"
    link.unlink(missing_ok=True)
    link.symlink_to(final.name)
    os.replace(link, index_root / "current")
    sync_folder(index_root)
    for old in index_root.glob("index-*"):
        # Older generations only: the one just replaced stays for searchers still reading it.
        if old not in (final, previous) and _generation_number(old) < stamp:
            shutil.rmtree(old, ignore_errors=True)
    for stale in index_root.glob("building-*"):
        try:
            abandoned = stale.stat().st_mtime < time.time() - 3600
        except OSError:  # removed meanwhile by another process
            continue
        if abandoned:
            shutil.rmtree(stale, ignore_errors=True)
    return final


def _generation_number(folder: Path) -> int:
    """The nanoseconds an `index-<ns>` folder is named with (0 when it is not so named)."""
    _, _, number = folder.name.partition("-")
    return int(number) if number.isdigit() else 0


def precompute(folder: Path, documents: Sequence[PartnerDocument]) -> None:
    """Write what queries and opening need beside the whoosh index just written in `folder`
    from `documents`: every term's scores (search/whoosh_scores.py) and the partners'
    records, facet bitsets, orders and names (`_Partners`), so neither the first query nor
    opening the index pays for them."""
    _write_precomputed(folder, _analysed(documents), _records(documents))


def _analysed(documents: Iterable[PartnerDocument]) -> AnalysedText:
    return analyse(SCORED_ANALYZERS, ((d.slug, _scored_texts(_fields(d))) for d in documents))


def _write_precomputed(
    folder: Path, analysed: AnalysedText, records: Mapping[str, dict[str, Any]]
) -> None:
    docnums, size = _live_docnums(folder)
    write_term_scores(folder, analysed, docnums)
    _Partners.of({docnums[slug]: record for slug, record in records.items()}, size).write(folder)


def _records(documents: Iterable[PartnerDocument]) -> dict[str, dict[str, Any]]:
    """Each partner's `_record` (slug -> record)."""
    return {d.slug: _record(_fields(d)) for d in documents}


def _record(fields: Mapping[str, Any]) -> dict[str, Any]:
    """What a search shows and filters by of a partner, as `_Partners` keeps it, from what
    whoosh indexes and stores of it (`_fields`)."""
    record: dict[str, Any] = fields["record"] | {"slug": fields["slug"]}
    return record


def _live_docnums(folder: Path) -> tuple[dict[str, int], int]:
    """Each partner's docnum in the whoosh index in `folder` (the writer processes decide
    them; read from the unique slug's term), and the count of docnums (deleted ones too)."""
    docnums: dict[str, int] = {}
    with whoosh_index.open_dir(str(folder)).searcher() as searcher:
        size = searcher.doc_count_all()
        for reader, offset in searcher.reader().leaf_readers():
            for slug, info in reader.iter_field("slug"):
                if info.doc_frequency() == 1:  # a partner's one document in this segment:
                    docnum = info.min_id()  # its number is in the term's statistics
                    if reader.is_deleted(docnum):
                        continue
                else:  # (not written so; read the postings, skipping deleted documents)
                    postings = reader.postings("slug", slug)
                    if not postings.is_active():
                        continue
                    docnum = postings.id()
                docnums[slug.decode("utf-8")] = docnum + offset
    return docnums, size


def _analysed_from_stored(folder: Path) -> AnalysedText:
    """The live partners' scored text analysed again from the texts whoosh stores, for an
    index whose `AnalysedText` cannot be read (seconds at 10,000 partners)."""
    with whoosh_index.open_dir(str(folder)).searcher() as searcher:
        reader = searcher.reader()
        stored = [reader.stored_fields(docnum) for docnum in reader.all_doc_ids()]
    return analyse(SCORED_ANALYZERS, ((fields["slug"], _scored_texts(fields)) for fields in stored))


INDEX_FOLDER = "search"
"""The index generations live in `<instance>/search`."""
SNAPSHOT_HASH_FILE = "partner_snapshot_hash"
"""In an index's folder: the `content_hash` of the partner snapshot it was built from."""
INDEX_VERSION_FILE = "index_version"
"""In an index's folder: the `INDEX_VERSION` it was written with."""
INDEX_VERSION = 4
"""What an index's records hold; a build raises it when they gain what a search needs, so
`marketplace serve` rebuilds an older index (`index_is_current`).

2: logo, trial, first-published date and the language of the text shown, per partner.
3: every term's BM25F scores, precomputed (search/whoosh_scores.py).
4: whoosh indexes the unstemmed words only; the build analyses and scores the other fields.
"""


def index_root(instance_dir: Path) -> Path:
    """Where an installation's search index generations live."""
    return instance_dir / INDEX_FOLDER


def current_index(index_root: Path) -> Path | None:
    """The folder of the index now in use, or None when none has been built."""
    link = index_root / "current"
    try:
        return index_root / os.readlink(link)
    except OSError:
        return None


def recorded_with_index(index_root: Path, file_name: str) -> str | None:
    """What the current index's folder records in `file_name` (`INDEX_VERSION_FILE`,
    `SNAPSHOT_HASH_FILE`); None without an index, or for one that does not record it."""
    folder = current_index(index_root)
    if folder is None:
        return None
    try:
        recorded = (folder / file_name).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return recorded or None


def index_is_current(index_root: Path) -> bool:
    """True when there is an index and it was written with this code's `INDEX_VERSION`."""
    return recorded_with_index(index_root, INDEX_VERSION_FILE) == str(INDEX_VERSION)


# --- searching ----------------------------------------------------------------------------------


def _bitset(docnums: Iterable[int], size: int) -> int:
    flags = bytearray((size + 7) // 8)
    for docnum in docnums:
        flags[docnum >> 3] |= 1 << (docnum & 7)
    return int.from_bytes(flags, "little")


TERM_CACHE_POSTINGS = 20_000_000
"""At most this many (document, score) pairs stay cached (8 bytes each: 160 MB)."""
ENTRY_POSTINGS = 40
"""What one cache entry costs besides its postings (~300 bytes), counted in postings, so the
entries of words no partner uses (every query may ask new ones) are bounded too."""
WARM_TERMS_PER_FIELD = 300
"""How many of each field's most frequent terms are scored in advance when an index opens."""

_EMPTY = (np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32))


class _TermScores:
    """Each (field, term)'s documents and whoosh BM25F scores: precomputed by the build
    (`TermScoreTable`), or, for an index written before builds did that, computed once and
    kept LRU (for terms only tested for presence, their documents alone: no scoring walk)."""

    def __init__(self, searcher: Searcher, table: TermScoreTable | None = None) -> None:
        self._searcher = searcher
        self._table = table
        self._cache: OrderedDict[tuple[str, str, bool], tuple[np.ndarray, np.ndarray]] = (
            OrderedDict()
        )
        self._size = 0
        self._lock = threading.Lock()
        self.reading = threading.RLock()
        """Held around every read of the index files: whoosh's readers share one file position
        per file, so two threads reading at once (a query and the warm-up, or two queries
        scoring new terms) read each other's bytes ("invalid load key")."""
        self.warmed = threading.Event()
        if table is not None:
            self.warmed.set()  # nothing to warm

    def get(self, field_name: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(docnums, scores) of one term in one field (empty arrays when it is not indexed)."""
        if self._table is not None and self._table.covers(field_name):
            return self._table.get(field_name, text) or _EMPTY
        return self._cached((field_name, text, True))

    def ids(self, field_name: str, text: str) -> np.ndarray:
        """The docnums of one term in one field (an empty array when it is not indexed)."""
        if self._table is not None and self._table.covers(field_name):
            return (self._table.get(field_name, text) or _EMPTY)[0]
        with self._lock:
            scored = self._cache.get((field_name, text, True))
        return scored[0] if scored is not None else self._cached((field_name, text, False))[0]

    def _cached(self, key: tuple[str, str, bool]) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        field_name, text, scored = key
        computed = self._compute(field_name, text) if scored else self._ids(field_name, text)
        with self._lock:
            if key not in self._cache:
                self._cache[key] = computed
                self._size += computed[0].size + ENTRY_POSTINGS
                while self._size > TERM_CACHE_POSTINGS and len(self._cache) > 1:
                    _, (old_ids, _) = self._cache.popitem(last=False)
                    self._size -= old_ids.size + ENTRY_POSTINGS
        return computed

    def _ids(self, field_name: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        with self.reading:
            if (field_name, text) not in self._searcher.reader():
                return _EMPTY
            postings = self._searcher.postings(field_name, text)
            return np.fromiter(postings.all_ids(), dtype=np.int32), _EMPTY[1]

    def _compute(self, field_name: str, text: str) -> tuple[np.ndarray, np.ndarray]:
        ids: list[int] = []
        scores: list[float] = []
        with self.reading:
            if (field_name, text) not in self._searcher.reader():
                return _EMPTY
            matcher = self._searcher.postings(field_name, text)
            while matcher.is_active():
                ids.append(matcher.id())
                scores.append(matcher.score())
                matcher.next()
        return np.array(ids, dtype=np.int32), np.array(scores, dtype=np.float32)

    def frequent_terms(self, field_name: str, count: int) -> list[str]:
        """The `count` most frequent terms of a field."""
        with self.reading:
            found = self._searcher.reader().most_frequent_terms(field_name, count)
            return [text.decode("utf-8") if isinstance(text, bytes) else text for _, text in found]

    def warm(self, fields: Iterable[str], per_field: int, presence: Iterable[str] = ()) -> None:
        """Score the most frequent terms of `fields`, and list the documents of those of
        `presence`, now (run in a background thread)."""
        try:
            for field_name in fields:
                for text in self.frequent_terms(field_name, per_field):
                    self.get(field_name, text)
            for field_name in presence:
                for text in self.frequent_terms(field_name, per_field):
                    self.ids(field_name, text)
        except Exception:  # a searcher closed by an index swap mid-way: nothing to warm any more
            log.debug("search warm-up stopped", exc_info=True)
        finally:
            self.warmed.set()


@dataclass(frozen=True)
class _Clause:
    """One way a query word can match: a term in a field, with the field's boost."""

    field: str
    text: str
    boost: float


def _mask_bits(mask: np.ndarray) -> int:
    """A bool array as a bitset (bit n = docnum n)."""
    return int.from_bytes(np.packbits(mask, bitorder="little").tobytes(), "little")


def _bits_mask(bits: int, size: int) -> np.ndarray:
    """A bitset as a bool array of `size`."""
    raw = np.frombuffer(bits.to_bytes((size + 7) // 8, "little"), dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little")[:size].astype(bool)


@dataclass
class _Matches:
    """The documents a query matched and their scores (0 where not matched)."""

    mask: np.ndarray  # bool per docnum
    scores: np.ndarray  # float per docnum
    highlight_terms: dict[str, set[str]] = field(default_factory=dict)  # language -> stems


class _StoredRecords(Mapping[int, dict[str, Any]]):
    """Each partner's record (see `_fields`), unpickled when a hit shows it: opening an index
    then needs no pass over every partner's stored fields (~0.3 s at 10,000 partners)."""

    def __init__(self, blob: bytes, offsets: np.ndarray) -> None:
        self._kept = blob, offsets
        self._blob = memoryview(blob)
        self._offsets = offsets.tolist()

    @classmethod
    def of(cls, pickled: Sequence[bytes | memoryview]) -> _StoredRecords:
        """The records pickled by docnum (an empty one where there is none)."""
        offsets = np.zeros(len(pickled) + 1, dtype=np.int64)
        np.cumsum([len(one) for one in pickled], out=offsets[1:])
        return cls(b"".join(pickled), offsets)

    def pickled(self, docnum: int) -> memoryview:
        """The record of `docnum` as kept, pickled (empty where there is none)."""
        return self._blob[self._offsets[docnum] : self._offsets[docnum + 1]]

    def state(self) -> tuple[bytes, np.ndarray]:
        """What a `_Partners` file keeps of them."""
        return self._kept

    def __getitem__(self, docnum: int) -> dict[str, Any]:
        start, end = self._offsets[docnum], self._offsets[docnum + 1]
        if start == end:
            raise KeyError(docnum)
        record: dict[str, Any] = pickle.loads(self._blob[start:end])  # noqa: S301 - the build's own file
        return record

    def __iter__(self) -> Iterator[int]:
        return (d for d in range(len(self._offsets) - 1) if self._offsets[d] < self._offsets[d + 1])

    def __len__(self) -> int:
        return sum(1 for _ in self)


PARTNERS_FILE = "partners.pickle"
"""In an index's folder: every partner's record and what `_Partners` derives from them."""
DOCNUMS_FILE = "partner_docnums.pickle"
"""In an index's folder: each partner's docnum, by slug (`_Partners.updated` reads them)."""


@dataclass
class _Partners:
    """What a search needs of every partner besides its text, by docnum: records, facet
    bitsets, orders, names. Derived from the records when an index is built (and kept in its
    folder, `PARTNERS_FILE`) or, for an index written before that, when it opens."""

    size: int  # docnums are below this
    records: Mapping[int, dict[str, Any]]
    facet_bits: dict[str, dict[str, int]]  # facet -> value -> bitset
    da_bits: int
    all_bits: int
    orders: dict[tuple[str, str], np.ndarray]  # (sort, language) -> every docnum in that order
    names: NameIndex
    docnums: dict[str, int] = field(default_factory=dict)
    """Slug -> docnum (`DOCNUMS_FILE`; empty for an index written before it was kept, or
    when it cannot be read: `updated` then declines)."""

    @classmethod
    def of(cls, records: Mapping[int, dict[str, Any]], size: int) -> _Partners:
        """Derive the bitsets, orders and names from the records."""
        members: dict[str, dict[str, list[int]]] = {facet: {} for facet in FILTER_FACETS}
        for docnum, record in records.items():
            for facet in FILTER_FACETS:
                for value in record["facets"].get(facet, []):
                    members[facet].setdefault(value, []).append(docnum)
        facet_bits = {
            facet: {value: _bitset(docs, size) for value, docs in values.items()}
            for facet, values in members.items()
        }
        da = _bitset((d for d, record in records.items() if record["delegated_admin"]), size)
        names = NameIndex(stem=word_stem)
        for docnum, record in records.items():
            names.add(docnum, record["name"].values())
        orders: dict[tuple[str, str], np.ndarray] = {}
        for language in LANGUAGES:
            by_name = sorted(records, key=lambda d: _name_order(records[d], language))
            # A stable sort keeps the name order among partners published the same day.
            newest = sorted(by_name, key=lambda d: records[d]["published"], reverse=True)
            orders["name", language] = np.array(by_name, dtype=np.int64)
            orders["newest", language] = np.array(newest, dtype=np.int64)
        docnums = {record["slug"]: docnum for docnum, record in records.items()}
        return cls(size, records, facet_bits, da, _bitset(records, size), orders, names, docnums)

    def updated(
        self, docnums: Mapping[str, int], size: int, changed: Mapping[str, dict[str, Any]]
    ) -> _Partners | None:
        """These partners in an index updated from theirs (`_prepare_update`): `docnums` and
        `size` the updated index's, `changed` the new records by slug; the other partners
        left keep their records. What `of` would derive from all the records, derived from
        the partners changed, removed or renumbered (whoosh merged their segment) alone;
        None (derive it all) without the docnums of these (an older index), or when more
        than `MOST_UPDATED` are changed or renumbered. This `_Partners`, read for the update,
        is used up: its name index moves to the result.

        Why: unpickling every record to derive it all again was ~0.6 s of CPU, and deriving
        ~0.3 s, of each update after an edit at 10,000 partners (`serve --watch`)."""
        before = self.docnums
        if not before or not isinstance(self.records, _StoredRecords):
            return None
        stored = self.records
        moved = [
            slug
            for slug, docnum in docnums.items()
            if slug not in changed and before.get(slug) != docnum
        ]
        if len(changed) + len(moved) > MOST_UPDATED or any(slug not in before for slug in moved):
            return None
        # In: every partner changed or renumbered, as its record is now (by its docnum now).
        arrivals = {docnums[slug]: record for slug, record in changed.items()}
        arrivals.update((docnums[slug], stored[before[slug]]) for slug in moved)
        # Out: every partner changed, renumbered or removed, as its record was.
        leaving = {d: slug for slug, d in before.items() if slug not in docnums or slug in changed}
        leaving.update((before[slug], slug) for slug in moved)
        gone = {docnum: stored.get(docnum) or {} for docnum in leaving}  # their records
        if any(gone[docnum].get("slug") != slug for docnum, slug in leaving.items()):
            return None  # (docnums that are not those of these records: derive it all)
        facet_bits = {facet: dict(values) for facet, values in self.facet_bits.items()}
        bits = {"da": self.da_bits, "all": self.all_bits}
        orders = {key: order[~np.isin(order, list(gone))] for key, order in self.orders.items()}
        names = self.names
        for docnum, record in gone.items():
            for facet, values in record["facets"].items():
                for value in values if facet in facet_bits else ():
                    left = facet_bits[facet].get(value, 0) & ~(1 << docnum)
                    if left:
                        facet_bits[facet][value] = left
                    else:
                        facet_bits[facet].pop(value, None)
            bits = {name: value & ~(1 << docnum) for name, value in bits.items()}
            names.remove(docnum)
        for docnum, record in arrivals.items():
            for facet in FILTER_FACETS:
                for value in record["facets"].get(facet, []):
                    facet_bits[facet][value] = facet_bits[facet].get(value, 0) | 1 << docnum
            bits["all"] |= 1 << docnum
            if record["delegated_admin"]:
                bits["da"] |= 1 << docnum
            names.add(docnum, record["name"].values())
        pickled: list[bytes | memoryview] = [b""] * size
        for slug, docnum in docnums.items():
            new = changed.get(slug)
            pickled[docnum] = (
                stored.pickled(before[slug])
                if new is None
                else pickle.dumps(new, protocol=pickle.HIGHEST_PROTOCOL)
            )
        kept = _StoredRecords.of(pickled)

        def record_of(docnum: int) -> Mapping[str, Any]:
            return arrivals[docnum] if docnum in arrivals else kept[docnum]

        def name_key(language: str) -> Callable[[int], tuple[str, str]]:
            return lambda docnum: _name_order(record_of(docnum), language)

        def newest_key(rank: np.ndarray) -> Callable[[int], tuple[_Descending, int]]:
            # The newest first, in name order among those published the same day.
            return lambda docnum: (_Descending(record_of(docnum)["published"]), int(rank[docnum]))

        for language in LANGUAGES:
            by_name = orders["name", language]
            for docnum in arrivals:
                by_name = _inserted(by_name, docnum, name_key(language))
            rank = np.empty(size, dtype=np.int64)
            rank[by_name] = np.arange(len(by_name))
            newest = orders["newest", language]
            for docnum in arrivals:
                newest = _inserted(newest, docnum, newest_key(rank))
            orders["name", language], orders["newest", language] = by_name, newest
        return _Partners(
            size, kept, facet_bits, bits["da"], bits["all"], orders, names, dict(docnums)
        )

    @classmethod
    def read(cls, reader: Any, folder: Path) -> _Partners:
        """From the records whoosh stores (an index written before `PARTNERS_FILE`)."""
        # An index of an older INDEX_VERSION (a worker not yet given a rebuilt one) still
        # answers: what its records lack is shown as unknown, dated by the index's build.
        built = datetime.fromtimestamp(folder.stat().st_mtime, tz=UTC).date().isoformat()
        records: dict[int, dict[str, Any]] = {}
        for docnum, stored in reader.iter_docs():
            record = stored["record"]
            record["slug"] = stored["slug"]
            record.setdefault("text_language", {language: language for language in LANGUAGES})
            record.setdefault("logo", None)
            record.setdefault("trial", False)
            record.setdefault("published", built)
            records[docnum] = record
        return cls.of(records, reader.doc_count_all())

    def write(self, folder: Path) -> None:
        """Keep these in the index's folder, each record pickled on its own (`_StoredRecords`)."""
        records = self.records
        if not isinstance(records, _StoredRecords):
            pickled: list[bytes | memoryview] = [b""] * self.size
            for docnum, record in self.records.items():
                pickled[docnum] = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
            records = _StoredRecords.of(pickled)
        self.names.sorted_firsts()
        state = {
            "size": self.size,
            "records": records.state(),
            "facet_bits": self.facet_bits,
            "da_bits": self.da_bits,
            "all_bits": self.all_bits,
            "orders": self.orders,
            "names": self.names,
        }
        write_pickle(folder / PARTNERS_FILE, state)
        # In a file of its own: code before it kept them opens `PARTNERS_FILE` all the same.
        write_pickle(folder / DOCNUMS_FILE, self.docnums)

    @classmethod
    def load(cls, folder: Path, docnums: bool = False) -> _Partners | None:
        """What the build kept in `folder`; None for an index written before it did, or when
        the file cannot be read (then they are read from the index, as for such an index).
        `docnums`: with the partners' docnums (`DOCNUMS_FILE`), for an update (`updated`)."""
        state = read_pickle(folder / PARTNERS_FILE, "reading the index")
        if state is None:
            return None
        state["records"] = _StoredRecords(*state["records"])
        kept = read_pickle(folder / DOCNUMS_FILE, "deriving every partner") if docnums else None
        return cls(**state, docnums=kept if isinstance(kept, dict) else {})


MOST_UPDATED = 500
"""Above this many partners changed or renumbered in an update, `_Partners.updated` declines
(deriving it all from the records is then about as fast)."""


def _name_order(record: Mapping[str, Any], language: str) -> tuple[str, str]:
    """A partner's place in the name order of `_Partners.orders` (name, then slug)."""
    return record["name"][language].casefold(), record["slug"]


class _Descending:
    """Sorts `value`s in reverse (the newest first)."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __lt__(self, other: _Descending) -> bool:
        return self.value > other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.value == other.value


def _inserted(order: np.ndarray, docnum: int, key: Callable[[int], Any]) -> np.ndarray:
    """`order`, sorted by `key` of its docnums, with `docnum` put where `key` places it."""
    at = bisect.bisect_left(order, key(docnum), key=lambda d: key(int(d)))
    return np.insert(order, at, docnum)


def _scored_again(folder: Path, searcher: Searcher) -> TermScoreTable | None:
    """The scores of an index whose precomputed files cannot be read (a crash before they
    reached the disk), computed again and, where the folder can be written, kept in it for
    the next process that opens it; None for an index written before INDEX_VERSION 4, which
    whoosh scores itself (`_TermScores`)."""
    if _whoosh_scores(searcher):
        return None
    # The scored fields' terms are only in the build's files: seconds at 10,000 partners.
    log.warning("scoring the partners of %s again", folder)
    analysed = AnalysedText.read(folder) or _analysed_from_stored(folder)
    docnums, _ = _live_docnums(folder)
    try:
        write_term_scores(folder, analysed, docnums)
    except OSError as error:  # a read-only index folder, or one removed by a newer build
        log.warning("could not keep the scores in %s: %s", folder, error)
        return TermScoreTable.computed(analysed, docnums)
    return TermScoreTable.load(folder) or TermScoreTable.computed(analysed, docnums)


def _whoosh_scores(searcher: Searcher) -> bool:
    """True for an index written before INDEX_VERSION 4, where whoosh indexed every scored
    field (and can score them itself, through its matchers)."""
    schema = searcher.schema
    return all(name in schema and schema[name].scorable for name in SCORED_FIELDS)


class _LiveCorrector(Corrector):  # type: ignore[misc]  # whoosh has no type hints
    """whoosh's corrector over a field's lexicon (ranked by distance, then frequency), but
    suggesting only words some live partner has: whoosh's lexicon keeps the words of deleted
    documents (replaced or removed partners) until their segment is merged."""

    def __init__(self, searcher: Searcher, field_name: str, table: TermScoreTable) -> None:
        self._words = searcher.corrector(field_name)
        self._field_name = field_name
        self._table = table

    def _suggestions(self, text: str, maxdist: int, prefix: int) -> Iterator[tuple[float, str]]:
        for score, word in self._words._suggestions(text, maxdist, prefix):
            if self._table.doc_frequency(self._field_name, word):
                yield score, word


@dataclass
class _OpenIndex:
    """A searcher, the per-term scores and the partners of one index generation."""

    folder: Path
    searcher: Searcher
    partners: _Partners
    vocabulary: Any  # a spelling corrector over the unstemmed words
    terms: _TermScores
    table: TermScoreTable | None
    users: int = 0
    """Queries (and the warm-up) using it now; guarded by `WhooshSearch`'s lock."""
    retired: bool = False
    """Replaced by a newer generation: closed when its last user is done."""

    @classmethod
    def open(cls, folder: Path) -> _OpenIndex:
        searcher = whoosh_index.open_dir(str(folder)).searcher()
        try:
            partners = _Partners.load(folder) or _Partners.read(searcher.reader(), folder)
            table = TermScoreTable.load(folder) or _scored_again(folder, searcher)
        except BaseException:
            searcher.close()
            raise
        covered = table is not None and table.covers("words")
        return cls(
            folder=folder,
            searcher=searcher,
            partners=partners,
            vocabulary=(
                _LiveCorrector(searcher, "words", table)
                if table is not None and covered
                else searcher.corrector("words")
            ),
            terms=_TermScores(searcher, table),
            table=table,
        )

    def doc_frequency(self, field_name: str, text: str) -> int:
        """How many partners have the term: live ones only where the scores were precomputed
        (whoosh's count includes deleted documents; the caller holds `terms.reading`)."""
        if self.table is not None and self.table.covers(field_name):
            return self.table.doc_frequency(field_name, text)
        return int(self.searcher.reader().doc_frequency(field_name, text))

    def close(self) -> None:
        self.searcher.close()


class WhooshSearch:
    """Partner search over the current whoosh index under `index_root`.

    Thread-safe for readers: one searcher is shared (whoosh searchers are safe to read from
    several threads) and replaced when a new index generation appears. Each query holds the
    generation it started with (`_using`); a replaced one is closed when its last query is
    done, so a swap (on every listing edit under `marketplace serve`) fails no query.
    """

    def __init__(self, index_root: Path, warm: bool = True) -> None:
        self.index_root = index_root
        self.warm = warm
        self._lock = threading.Lock()
        self._open: _OpenIndex | None = None

    @contextmanager
    def _using(self) -> Iterator[_OpenIndex]:
        """The current generation, open and kept open until the block ends."""
        opened = self._acquire()
        try:
            yield opened
        finally:
            self._release(opened)

    def _acquire(self) -> _OpenIndex:
        for attempt in range(3):
            folder = current_index(self.index_root)
            if folder is None:
                raise FileNotFoundError(
                    f"no search index in {self.index_root}; run marketplace build"
                )
            with self._lock:
                if self._open is None or self._open.folder != folder:
                    try:
                        opened = _OpenIndex.open(folder)
                    except (OSError, whoosh_index.EmptyIndexError):
                        # Removed by two swaps since `current` was read: read it again.
                        if attempt == 2 or current_index(self.index_root) == folder:
                            raise
                        continue
                    previous, self._open = self._open, opened
                    if previous is not None:
                        self._retire(previous)
                    if self.warm and not opened.terms.warmed.is_set():
                        self._warm_in_background(opened)
                self._open.users += 1
                return self._open
        raise AssertionError("unreachable")

    def _release(self, opened: _OpenIndex) -> None:
        with self._lock:
            opened.users -= 1
            if opened.retired and opened.users == 0:
                opened.close()

    @staticmethod
    def _retire(opened: _OpenIndex) -> None:
        """No longer current (called with the lock held): closed now or by its last user."""
        opened.retired = True
        if opened.users == 0:
            opened.close()

    def _warm_in_background(self, opened: _OpenIndex) -> None:
        """Score the most frequent terms in a daemon thread, so first queries find them (an
        index with precomputed scores needs none). Called with the lock held."""
        opened.users += 1  # the warm-up reads the index: not closed under it
        fields = [f"{name}_{lang}" for lang in LANGUAGES for name in FIELD_BOOSTS]

        def warm() -> None:
            try:
                opened.terms.warm(fields, WARM_TERMS_PER_FIELD, ["words"])
            finally:
                self._release(opened)

        threading.Thread(target=warm, name="search-warm", daemon=True).start()

    def available(self) -> bool:
        """True when an index has been built."""
        return current_index(self.index_root) is not None

    def built_from(self) -> str | None:
        """The content hash of the partner snapshot the current index was built from; None
        without an index, or for one built before indexes recorded it."""
        return recorded_with_index(self.index_root, SNAPSHOT_HASH_FILE)

    def wait_until_warm(self, timeout: float | None = None) -> bool:
        """Open the current index (warming it) and wait until its frequent terms are scored."""
        with self._using() as opened:
            warmed = opened.terms.warmed
        return warmed.wait(timeout)

    def close(self) -> None:
        """Close the open searcher (once the queries using it are done)."""
        with self._lock:
            if self._open is not None:
                self._retire(self._open)
                self._open = None

    def search(self, query: SearchQuery) -> SearchResult:
        """Answer one query (see `search.engine.SearchQuery`)."""
        with self._using() as opened:
            return self._answer(opened, query)

    def _answer(self, opened: _OpenIndex, query: SearchQuery) -> SearchResult:
        # Split and lowercased as the index's words were ("straße", "e.g", "v2.0"), not
        # casefolded ("strasse" is no indexed word).
        words = [token.text for token in PLAIN(query.text)][:MAX_WORDS]
        matches, suggestion = self._match(opened, words, query.language)
        if matches is not None:
            self._put_named_first(opened, matches, query.text)
        matched = opened.partners.all_bits if matches is None else _mask_bits(matches.mask)
        allowed = self._allowed(opened, query.filters, query.delegated_admin)
        selected = matched & allowed
        total = selected.bit_count()
        facets = self._counts(opened, matched, query)
        start = (query.page - 1) * query.per_page
        if matches is not None and query.order == "relevance":
            page = self._ranked(opened, matches, selected, query, start)
        else:
            # Without words to rank by (no text, or only stop words), relevance is name order.
            order = "name" if query.order == "relevance" else query.order
            order_docnums = opened.partners.orders[order, query.language]
            page = self._in_order(opened, order_docnums, selected, start, query.per_page)
        hits = [self._hit(opened, docnum, query, matches) for docnum in page]
        return SearchResult(total=total, hits=hits, facets=facets, suggestion=suggestion)

    # The query: every word must match somewhere (in any language's field); if that finds
    # nothing, any word may; if that finds nothing, words may be misspelled. A word matches
    # where any of its clauses does and scores their sum, as whoosh's Or would; words combine
    # by sum, as its And would.
    def _match(
        self, opened: _OpenIndex, words: Sequence[str], language: str
    ) -> tuple[_Matches | None, str | None]:
        asked = [(w, c) for w in words if (c := self._clauses(opened, w, language)) is not None]
        if not asked:
            return None, None
        clauses = [word_clauses for _, word_clauses in asked]
        suggestion = self._suggestion(opened, words)
        per_word = [self._word(opened, word_clauses, word) for word, word_clauses in asked]
        every = np.logical_and.reduce([mask for mask, _ in per_word])
        if every.any():
            return self._matches(per_word, every, clauses), suggestion
        anywhere = np.logical_or.reduce([mask for mask, _ in per_word])
        if len(per_word) > 1 and anywhere.any():
            return self._matches(per_word, anywhere, clauses), suggestion
        fuzzy = [c for c in (self._clauses(opened, w, language, fuzzy=True) for w in words) if c]
        per_word = [self._word(opened, word_clauses) for word_clauses in fuzzy]
        anywhere = np.logical_or.reduce([mask for mask, _ in per_word])
        return self._matches(per_word, anywhere, fuzzy), suggestion

    @staticmethod
    def _put_named_first(opened: _OpenIndex, matches: _Matches, text: str) -> None:
        """Partners the query names go first (by name, then with typos), matched or not."""
        with opened.terms.reading:
            named = opened.partners.names.named(
                text, lambda word: opened.doc_frequency("words", word)
            )
        if not named:
            return
        # A score above every other keeps the scores in the order of the hits.
        lift = float(matches.scores.max()) + 1.0
        for docnum, quality in named.items():
            matches.mask[docnum] = True
            matches.scores[docnum] += lift * quality

    @staticmethod
    def _word(
        opened: _OpenIndex, clauses: list[_Clause], word: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Where one word matches, and its score there; `word` given, a partner that has it
        only in another form of its stem family scores less (see FAMILY_WEIGHT)."""
        mask = np.zeros(opened.partners.size, dtype=bool)
        scores = np.zeros(opened.partners.size, dtype=np.float64)
        for clause in clauses:
            ids, term_scores = opened.terms.get(clause.field, clause.text)
            if ids.size:
                mask[ids] = True
                scores[ids] += term_scores * clause.boost  # a term lists a document once
        if word and not _is_cyrillic(word) and mask.any():
            # Partners with one of the word's own forms keep their score; those reached only
            # through its stem's family ("hospitality" for "hospital") get a share of it, and
            # never more than that share of the weakest own-form match, so for this word every
            # partner that has it outranks every relative. When nobody has the word itself,
            # the family is the best there is and keeps its score.
            own = np.zeros(opened.partners.size, dtype=bool)
            for form in own_forms(word):
                own[opened.terms.ids("words", form)] = True
            own &= mask
            if own.any():
                family = mask & ~own
                cap = float(scores[own].min()) * FAMILY_WEIGHT
                scores[family] = np.minimum(scores[family] * FAMILY_WEIGHT, cap)
        return mask, scores

    @staticmethod
    def _matches(
        per_word: list[tuple[np.ndarray, np.ndarray]],
        mask: np.ndarray,
        clauses: list[list[_Clause]],
    ) -> _Matches:
        scores = np.add.reduce([word_scores for _, word_scores in per_word]) * mask
        terms: dict[str, set[str]] = {lang: set() for lang in LANGUAGES}
        for word_clauses in clauses:
            for clause in word_clauses:
                if clause.field == "words":  # a fuzzy variant: highlight its stems too
                    for lang in LANGUAGES:
                        terms[lang].update(t.text for t in ANALYZERS[lang](clause.text))
                else:
                    terms[clause.field.rsplit("_", 1)[1]].add(clause.text)
        return _Matches(mask, scores, terms)

    @staticmethod
    def _clauses(
        opened: _OpenIndex, word: str, language: str, fuzzy: bool = False
    ) -> list[_Clause] | None:
        """The clauses of one query word; None for an English stop word ("our", "the")."""
        alternatives: list[_Clause] = []
        for lang in LANGUAGES:
            stems = [token.text for token in ANALYZERS[lang](word)]
            if not stems and lang == "en" and not _is_cyrillic(word):
                return None
            # A small lift for the fields of the language the customer reads.
            lift = 1.25 if lang == language else 1.0
            for name, boost in FIELD_BOOSTS.items():
                alternatives += [_Clause(f"{name}_{lang}", stem, boost * lift) for stem in stems]
        if not alternatives:
            return None
        if fuzzy and len(word) >= 4:
            distance = 1 if len(word) < 7 else 2
            reader = opened.searcher.reader()
            with opened.terms.reading:
                variants = list(reader.terms_within("words", word, distance, prefix=1))
            alternatives += [_Clause("words", variant, 1.0) for variant in variants]
        return alternatives

    @staticmethod
    def _suggestion(opened: _OpenIndex, words: Sequence[str]) -> str | None:
        """The query with each word the index does not know (not even by its stem) replaced
        by the nearest word it does know; None when every word is known."""

        def known(word: str) -> bool:
            if opened.doc_frequency("words", word):
                return True
            return any(
                opened.doc_frequency(f"{field}_{lang}", token.text)
                for lang in LANGUAGES
                for token in ANALYZERS[lang](word)
                for field in FIELD_BOOSTS
            )

        corrected = []
        for word in words:
            with opened.terms.reading:
                if len(word) < 4 or known(word):
                    corrected.append(word)
                    continue
                found = opened.vocabulary.suggest(word, limit=1, maxdist=2, prefix=1)
            corrected.append(found[0] if found else word)
        return " ".join(corrected) if corrected != list(words) else None

    @staticmethod
    def _allowed(
        opened: _OpenIndex, filters: Mapping[str, tuple[str, ...]], delegated_admin: bool | None
    ) -> int:
        """The partners that pass the filters: any of a facet's values, every facet. A partner
        serving worldwide serves any region."""
        allowed = opened.partners.all_bits
        for facet, values in filters.items():
            members = opened.partners.facet_bits[facet]
            bits = 0
            for value in values:
                bits |= members.get(value, 0)
            if facet == "region":
                bits |= members.get(WORLDWIDE, 0)
            allowed &= bits
        if delegated_admin is not None:
            allowed &= opened.partners.da_bits if delegated_admin else ~opened.partners.da_bits
        return allowed

    def _counts(
        self, opened: _OpenIndex, matched: int, query: SearchQuery
    ) -> dict[str, dict[str, int]]:
        """Counts per facet value for this query with every other facet's filter applied; a
        value's count is the total the same query would have with that value as its facet's
        only filter (so a customer sees what each value of a facet would add)."""
        counts: dict[str, dict[str, int]] = {}
        for facet in FILTER_FACETS:
            others = {name: value for name, value in query.filters.items() if name != facet}
            base = matched & self._allowed(opened, others, query.delegated_admin)
            everywhere = (
                opened.partners.facet_bits[facet].get(WORLDWIDE, 0) if facet == "region" else 0
            )
            values = {}
            for value, bits in opened.partners.facet_bits[facet].items():
                count = (base & (bits | everywhere)).bit_count()
                if count:
                    values[value] = count
            counts[facet] = dict(sorted(values.items(), key=lambda item: (-item[1], item[0])))
        base = matched & self._allowed(opened, query.filters, None)
        counts["delegated_admin"] = {
            "true": (base & opened.partners.da_bits).bit_count(),
            "false": (base & ~opened.partners.da_bits).bit_count(),
        }
        return counts

    @staticmethod
    def _ranked(
        opened: _OpenIndex, matches: _Matches, selected: int, query: SearchQuery, start: int
    ) -> list[int]:
        """The docnums of one page of the selected matches, best first (ties by index order)."""
        candidates = np.flatnonzero(matches.mask & _bits_mask(selected, opened.partners.size))
        wanted = start + query.per_page
        scores = matches.scores
        if candidates.size > wanted:
            # The best `wanted` without sorting them all. Partners tied with the last of them
            # are taken by index order (candidates are in it), as the sort below orders ties:
            # an arbitrary pick among them would differ between pages, showing a partner on
            # two pages and another on none.
            candidate_scores = scores[candidates]
            threshold = -np.partition(-candidate_scores, wanted - 1)[wanted - 1]
            above = candidates[candidate_scores > threshold]
            tied = candidates[candidate_scores == threshold]
            candidates = np.concatenate([above, tied[: wanted - above.size]])
        ordered = sorted(candidates.tolist(), key=lambda docnum: (-scores[docnum], docnum))
        return ordered[start:wanted]

    @staticmethod
    def _in_order(
        opened: _OpenIndex, order: np.ndarray, selected: int, start: int, count: int
    ) -> list[int]:
        """The docnums of one page of the selected partners in a precomputed order."""
        chosen = order[_bits_mask(selected, opened.partners.size)[order]]
        page: list[int] = chosen[start : start + count].tolist()
        return page

    @staticmethod
    def _hit(opened: _OpenIndex, docnum: int, query: SearchQuery, matches: _Matches | None) -> Hit:
        """One hit: scored and highlighted when the query had words to match."""
        language = query.language
        record = opened.partners.records[docnum]
        highlights = {}
        if matches is not None:
            with opened.terms.reading:
                stored = opened.searcher.stored_fields(docnum)
            terms = matches.highlight_terms[language]
            for name, max_chars in SNIPPET_CHARS.items():
                text = stored.get(f"{name}_{language}") or ""
                fragment = snippet(text, ANALYZERS[language], terms, max_chars)
                if fragment:
                    highlights[name] = fragment
        score = float(matches.scores[docnum]) if matches is not None else 0.0
        logo = record["logo"]
        return Hit(
            slug=record["slug"],
            name=record["name"][language],
            summary=record["summary"][language],
            url=_site_path(language, record["url"]),
            score=round(score, 4),
            highlights=highlights,
            logo=_site_path(language, logo) if logo else None,
            regions=list(record["facets"].get("region", [])),
            programs=list(record["facets"].get("program", [])),
            delegated_admin=bool(record["delegated_admin"]),
            trial=bool(record["trial"]),
            published=record["published"],
            lang=record["text_language"].get(language, language),
        )


def _site_path(language: str, path: str) -> str:
    """A URL path on the site of `language` for `path` (relative to a language's root): the
    first language is the site root, each other has its own folder (`/ru/`)."""
    return "/" + ("" if language == LANGUAGES[0] else f"{language}/") + path


def _is_cyrillic(word: str) -> bool:
    return any("\u0400" <= char <= "\u04ff" for char in word)
