"""Index generations under `marketplace serve`: a CLI build racing updates never leaves
`current` naming a deleted folder nor loses the build; updates keep whoosh's segments (and open
files) bounded; queries running while generations swap do not fail; a removed partner's words
are not suggested; what an update keeps and what a crash may leave garbled."""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from whoosh import index as whoosh_index

import search.whoosh_engine as engine_module
from marketplace.validate import load_listings
from search.documents import PartnerDocument, partner_documents
from search.engine import SearchQuery
from search.whoosh_engine import (
    INDEX_VERSION_FILE,
    PARTNERS_FILE,
    SNAPSHOT_HASH_FILE,
    WhooshSearch,
    _Partners,
    build_index,
    current_index,
    index_is_current,
    index_needs_rebuild,
    precompute,
    update_index,
)
from search.whoosh_scores import (
    ANALYSED_FILE,
    DOCNUMS_FILE,
    SCORE_FILES,
    SCORES_FILE,
    TABLE_FILE,
    AnalysedText,
    TermScoreTable,
)
from tests.search.judged import judged_listings


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> list[PartnerDocument]:
    listings = judged_listings(tmp_path_factory.mktemp("listings"))
    catalog, loaded = load_listings(listings)
    return partner_documents(catalog, [item.listing for item in loaded])


def _edited(document: PartnerDocument, word: str) -> PartnerDocument:
    return replace(document, summary={"en": f"{word} summary", "ru": "Зыксвут"})


def _assert_complete(root: Path) -> None:
    """`current` names a folder holding a whole index of this version."""
    folder = current_index(root)
    assert folder is not None and folder.is_dir(), folder
    assert index_is_current(root)
    assert _Partners.load(folder) is not None


def test_a_build_racing_updates_is_never_lost_nor_deleted(
    tmp_path: Path, documents: list[PartnerDocument]
) -> None:
    """A CLI build and `serve`'s updates from two threads (the lock is one per open file, so
    threads contend as processes do) while a third checks `current` all along."""
    root = tmp_path / "index"
    build_index(root, documents)
    built = [_edited(documents[0], "Buildmarker"), *documents[1:]]
    stop = threading.Event()
    failures: list[BaseException] = []

    def guarded(work: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as failure:
                failures.append(failure)
                stop.set()

        return run

    def updates() -> None:
        number = 0
        while not stop.is_set():
            number += 1
            update_index(root, [_edited(documents[1 + number % 5], f"Upd{number}")])

    def checks() -> None:
        while not stop.is_set():
            _assert_complete(root)

    threads = [threading.Thread(target=guarded(work)) for work in (updates, checks)]
    for thread in threads:
        thread.start()
    for _ in range(3):
        build_index(root, built)
    time.sleep(0.2)  # an update or two after the last build
    stop.set()
    for thread in threads:
        thread.join()
    assert not failures, failures
    _assert_complete(root)
    engine = WhooshSearch(root, warm=False)
    assert engine.search(SearchQuery("buildmarker")).total == 1  # updates went on top of it
    engine.close()


def test_a_build_waits_for_an_update_under_way_and_lands_after_it(
    tmp_path: Path, documents: list[PartnerDocument], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The review's case: a full build finishing while an update is between writing its
    generation and swapping it in. The build's swap waits; the update does not overwrite it."""
    root = tmp_path / "index"
    build_index(root, documents)
    written = threading.Event()
    real_write = engine_module._write_update

    def slow_write(*args: Any) -> None:
        real_write(*args)
        written.set()
        time.sleep(0.5)  # the build runs to its swap meanwhile

    monkeypatch.setattr(engine_module, "_write_update", slow_write)
    updated: list[Path] = []
    update = threading.Thread(
        target=lambda: updated.append(update_index(root, [_edited(documents[1], "Upd")]))
    )
    update.start()
    assert written.wait(30)
    folder = build_index(root, [_edited(documents[0], "Buildmarker"), *documents[1:]])
    update.join()
    assert current_index(root) == folder and folder.name > updated[0].name
    _assert_complete(root)
    engine = WhooshSearch(root, warm=False)
    assert engine.search(SearchQuery("buildmarker")).total == 1
    engine.close()


def test_cleanup_keeps_newer_generations_and_abandoned_builds_racing(
    tmp_path: Path, documents: list[PartnerDocument]
) -> None:
    root = tmp_path / "index"
    build_index(root, documents[:3])
    newer = root / f"index-{time.time_ns() * 2}"  # as if another process had just named it
    newer.mkdir()
    folder = build_index(root, documents[:4])
    assert newer.is_dir() and folder.is_dir() and current_index(root) == folder


def test_updates_keep_segments_and_open_files_bounded(
    tmp_path: Path, documents: list[PartnerDocument]
) -> None:
    """200 listing edits: whoosh's small-segment merges keep the segments few, and the deleted
    (replaced) documents, the searcher's open files and first query after each update small."""
    root = tmp_path / "index"
    build_index(root, documents)
    engine = WhooshSearch(root, warm=False)
    engine.search(SearchQuery("migration"))
    open_files = len(os.listdir("/proc/self/fd"))
    slowest, most_segments = 0.0, 0
    slugs = sorted(document.slug for document in documents)
    for number in range(200):
        folder = update_index(root, [_edited(documents[number % 7], f"Zyx{number}")])
        started = time.perf_counter()
        assert engine.search(SearchQuery(f"zyx{number}")).total == 1
        slowest = max(slowest, time.perf_counter() - started)
        with whoosh_index.open_dir(str(folder)).reader() as reader:
            most_segments = max(most_segments, len(list(folder.glob("*.seg"))))
            # the 7 partners' first versions, in the built segment, and their latest
            # replaced versions in small segments not merged yet
            assert reader.doc_count_all() - reader.doc_count() <= 7 + 7 * most_segments
        analysed = AnalysedText.read(folder)  # each partner once: the latest version
        assert analysed is not None and sorted(analysed.slugs) == slugs
    assert most_segments <= 8
    assert analysed is not None  # the words of replaced versions are gone from it
    assert {"zyx0", "zyx192"}.isdisjoint(analysed.fields["summary_en"].vocabulary)
    assert "zyx199" in analysed.fields["summary_en"].vocabulary
    gc.collect()  # whoosh's searchers hold reference cycles: closed generations go with them
    assert len(os.listdir("/proc/self/fd")) <= open_files + 10
    assert slowest < 1.0  # 74-184 ms with 300 unmerged segments; a few ms here
    engine.close()


def test_queries_running_while_generations_swap_do_not_fail(
    tmp_path: Path, documents: list[PartnerDocument]
) -> None:
    root = tmp_path / "index"
    build_index(root, documents)
    engine = WhooshSearch(root, warm=False)
    stop = threading.Event()
    failures: list[BaseException] = []
    answered = [0]

    def queries() -> None:
        texts = ["migraton training", "secruity", "Teams", "обучение сотрудников", "Cont"]
        number = 0
        while not stop.is_set():
            number += 1
            try:
                engine.search(SearchQuery(texts[number % len(texts)], per_page=20))
                answered[0] += 1
            except BaseException as failure:  # whoosh's ReaderClosed before the fix
                failures.append(failure)

    threads = [threading.Thread(target=queries) for _ in range(3)]
    for thread in threads:
        thread.start()
    for number in range(25):
        update_index(root, [_edited(documents[number % 5], f"Zyx{number} migration")])
    stop.set()
    for thread in threads:
        thread.join()
    assert not failures, failures[:3]
    assert answered[0] > 0
    opened = engine._open
    engine.close()
    assert opened is not None and opened.retired and opened.users == 0


def test_a_removed_partners_words_are_not_suggested(
    tmp_path: Path, documents: list[PartnerDocument]
) -> None:
    root = tmp_path / "index"
    removed = replace(
        documents[0],
        name={"en": "Scamcorpxyz Fraudware", "ru": "Скамкорп"},
        summary={"en": "Scamcorpxyz Fraudware", "ru": "Скамкорп"},
    )
    build_index(root, [removed, *documents[1:]])
    engine = WhooshSearch(root, warm=False)
    assert engine.search(SearchQuery("scamcorpxy")).suggestion == "scamcorpxyz"
    update_index(root, [], [removed.slug])
    for text in ("scamcorpxy", "scamcorpxyz", "fraudwar"):
        result = engine.search(SearchQuery(text))
        assert (result.total, result.suggestion) == (0, None), text
    engine.close()


def test_an_update_keeps_the_recorded_snapshot_hash(
    tmp_path: Path, documents: list[PartnerDocument]
) -> None:
    root = tmp_path / "index"
    build_index(root, documents, snapshot_hash="built-from")
    folder = update_index(root, [_edited(documents[0], "Zyx")])
    assert (folder / SNAPSHOT_HASH_FILE).read_text(encoding="utf-8").strip() == "built-from"
    assert WhooshSearch(root).built_from() == "built-from"


@pytest.mark.parametrize(
    "garbled",
    [
        (TABLE_FILE,),
        (SCORES_FILE,),
        (DOCNUMS_FILE,),
        (PARTNERS_FILE,),
        (ANALYSED_FILE,),
        (SCORES_FILE, ANALYSED_FILE),
    ],
)
def test_garbled_precomputed_files_are_derived_again(
    tmp_path: Path,
    documents: list[PartnerDocument],
    garbled: tuple[str, ...],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A precomputed file truncated (by a crash before it reached the disk) makes queries
    and updates derive what it held again (from the analysed text, else from the texts and
    records whoosh stores), not fail nor answer differently."""
    root = tmp_path / "index"
    folder = build_index(root, documents)
    expected = WhooshSearch(root, warm=False).search(SearchQuery("migration training"))
    for name in garbled:
        path = folder / name
        path.write_bytes(path.read_bytes()[:40])
    with caplog.at_level(logging.WARNING):
        engine = WhooshSearch(root, warm=False)
        assert engine.search(SearchQuery("migration training")) == expected
        update_index(root, [_edited(documents[0], "Zyxwvut")])
        assert engine.search(SearchQuery("zyxwvut")).hits[0].slug == documents[0].slug
    assert "unreadable" in caplog.text
    if garbled[0] in SCORE_FILES:  # the scores were kept again for the next process
        assert TermScoreTable.load(folder) is not None
    rebuilt = tmp_path / "rebuilt"
    build_index(rebuilt, [_edited(documents[0], "Zyxwvut"), *documents[1:]])
    for text in ("migration training", "zyxwvut", "teams"):
        found, fresh = (
            engine.search(SearchQuery(text)),
            WhooshSearch(rebuilt).search(SearchQuery(text)),
        )
        assert {hit.slug: hit.score for hit in found.hits} == {
            hit.slug: hit.score for hit in fresh.hits
        }, text
    engine.close()


def test_precompute_replaces_files_instead_of_rewriting_them(
    tmp_path: Path, documents: list[PartnerDocument]
) -> None:
    """A searcher maps the score arrays: writing them again (as the benchmark does on a live
    index) must give new files, not change the mapped ones under it."""
    root = tmp_path / "index"
    folder = build_index(root, documents)
    engine = WhooshSearch(root, warm=False)
    before = engine.search(SearchQuery("migration training"))
    inodes = {name: (folder / name).stat().st_ino for name in (SCORES_FILE, DOCNUMS_FILE)}
    precompute(folder, documents)
    for name, inode in inodes.items():
        assert (folder / name).stat().st_ino != inode, name
    assert engine.search(SearchQuery("migration training")) == before
    assert not list(folder.glob(".*"))  # no temporary files left
    assert (folder / INDEX_VERSION_FILE).exists()
    engine.close()


def test_an_index_with_many_deleted_partners_asks_for_a_full_build(
    tmp_path: Path, documents: list[PartnerDocument]
) -> None:
    root = tmp_path / "index"
    assert index_needs_rebuild(root)  # none at all
    build_index(root, documents)
    assert not index_needs_rebuild(root)
    few = max(1, len(documents) // 20)
    update_index(root, [_edited(document, "Zyx") for document in documents[:few]])
    assert not index_needs_rebuild(root)
    update_index(root, [], [document.slug for document in documents[few : few * 3]])
    assert index_needs_rebuild(root)
    build_index(root, documents)
    assert not index_needs_rebuild(root)


def test_two_versions_of_a_partner_in_one_update_keep_the_last(
    tmp_path: Path, documents: list[PartnerDocument]
) -> None:
    root = tmp_path / "index"
    build_index(root, documents)
    update_index(root, [_edited(documents[0], "Oldname"), _edited(documents[0], "Newname")])
    engine = WhooshSearch(root, warm=False)
    assert engine.search(SearchQuery("oldname")).total == 0
    assert [hit.slug for hit in engine.search(SearchQuery("newname")).hits] == [documents[0].slug]
    assert engine.search(SearchQuery()).total == len(documents)
    engine.close()
