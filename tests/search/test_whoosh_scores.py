"""The build's precomputed term scores (search/whoosh_scores.py) are whoosh's own: every
term of every scored field against whoosh's matcher, in an index of several segments with a
deleted partner; the same queries answer the same with them as without them; and an index
updated in place (`update_index`) keeps both true."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from whoosh import index as whoosh_index

from marketplace.validate import load_listings
from search.documents import partner_documents
from search.engine import SearchQuery, SearchResult
from search.whoosh_engine import (
    PARTNERS_FILE,
    SCHEMA,
    SCORED_FIELDS,
    WhooshSearch,
    _fields,
    _TermScores,
    build_index,
    current_index,
    update_index,
)
from search.whoosh_scores import SCORE_FILES, TABLE_FILE, TermScoreTable, write_term_scores
from tests.search.judged import JUDGED, judged_listings


def _whoosh_scores(folder: Path) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """Every scored term's (docnums, scores) by whoosh's matcher walk (the lazy path)."""
    found = {}
    with whoosh_index.open_dir(str(folder)).searcher() as searcher:
        walk = _TermScores(searcher)
        for field_name in SCORED_FIELDS:
            for text in searcher.reader().lexicon(field_name):
                term = text.decode("utf-8")
                found[field_name, term] = walk.get(field_name, term)
    return found


def _assert_table_is_whooshs(folder: Path) -> None:
    table = TermScoreTable(folder)
    expected = _whoosh_scores(folder)
    assert len(expected) > 1000  # the test reads a real vocabulary
    for (field_name, term), (docnums, scores) in expected.items():
        assert table.covers(field_name)
        precomputed = table.get(field_name, term)
        if docnums.size == 0:  # every posting of the term was deleted
            assert precomputed is None or precomputed[0].size == 0, (field_name, term)
            continue
        assert precomputed is not None, (field_name, term)
        np.testing.assert_array_equal(precomputed[0], docnums, err_msg=f"{field_name}:{term}")
        np.testing.assert_allclose(
            precomputed[1], scores, rtol=2e-7, atol=0, err_msg=f"{field_name}:{term}"
        )
    assert table.get("name_en", "no-partner-has-this-word") is None


def test_precomputed_scores_equal_whooshs_for_every_term(tmp_path: Path) -> None:
    """Three segments (as the parallel build writes) and a deleted partner: docnums offset
    per segment, the deleted one left out, document frequency and document count as whoosh
    counts them (deleted documents included)."""
    catalog, loaded = load_listings(judged_listings(tmp_path / "listings"))
    documents = partner_documents(catalog, [item.listing for item in loaded])
    folder = tmp_path / "index"
    folder.mkdir()
    index = whoosh_index.create_in(str(folder), SCHEMA)
    third = len(documents) // 3 + 1
    for start in range(0, len(documents), third):
        writer = index.writer()
        for document in documents[start : start + third]:
            writer.add_document(**_fields(document))
        writer.commit(merge=False)
    writer = index.writer()
    writer.delete_by_term("slug", documents[1].slug)
    writer.commit(merge=False)
    assert len(index.reader().leaf_readers()) == 3
    index.close()
    write_term_scores(folder, SCORED_FIELDS)
    _assert_table_is_whooshs(folder)


def test_a_built_index_carries_its_scores(index_root: Path) -> None:
    folder = current_index(index_root)
    assert folder is not None and (folder / TABLE_FILE).exists()
    _assert_table_is_whooshs(folder)


QUERIES = [(judged.text, judged.language) for judged in JUDGED] + [
    ("", "en"),
    ("", "ru"),
    ("Cont", "en"),
    ("migrate our mailboxes", "en"),
    ("secruity", "en"),
    ("dashbords", "en"),
    ("Teams training for staff", "en"),
    ("обучение сотрудников", "ru"),
    ("hospital", "en"),
]


@pytest.mark.parametrize("page", [1, 2])
def test_queries_answer_the_same_with_and_without_precomputed_scores(
    tmp_path: Path, page: int
) -> None:
    """Scores, order, highlights, records and suggestions are what whoosh's walk over the
    index and its stored records give (an index from before the build kept its scores and
    partners still answers, that way)."""
    catalog, loaded = load_listings(judged_listings(tmp_path / "listings"))
    with_table = tmp_path / "with"
    build_index(with_table, partner_documents(catalog, [item.listing for item in loaded]))
    without = tmp_path / "without"
    shutil.copytree(with_table, without, symlinks=True)
    folder = current_index(without)
    assert folder is not None
    for name in (*SCORE_FILES, PARTNERS_FILE):  # as an index written before the build kept them
        (folder / name).unlink()
    precomputed, walked = WhooshSearch(with_table), WhooshSearch(without, warm=False)
    for text, language in QUERIES:
        query = SearchQuery(text=text, language=language, page=page, per_page=5)
        assert precomputed.search(query) == walked.search(query), text
    for sort in ("name", "newest"):
        for filters in ({}, {"region": ("DE",)}, {"service": ("teams", "exchange-online")}):
            query = SearchQuery(text="cloud", filters=filters, sort=sort, page=page, per_page=5)
            assert precomputed.search(query) == walked.search(query), (sort, filters)
    assert precomputed.wait_until_warm(timeout=0), "nothing to warm"
    precomputed.close()
    walked.close()


def test_an_update_changes_adds_and_removes_partners(tmp_path: Path) -> None:
    """`update_index` (one listing edited while `serve` runs) answers as a full build of the
    same partners would, except for scores (whoosh counts the replaced versions until the
    next build), with precomputed scores that are still whoosh's own."""
    catalog, loaded = load_listings(judged_listings(tmp_path / "listings"))
    documents = partner_documents(catalog, [item.listing for item in loaded])
    edited = replace(documents[0], name={"en": "Zyxwvut Systems", "ru": "Зыксвут Системы"})
    final = [edited, *documents[2:]]
    root = tmp_path / "updated"
    build_index(root, documents[:-1])
    engine = WhooshSearch(root)
    assert engine.search(SearchQuery()).total == len(documents) - 1  # opened before the update
    folder = update_index(root, [edited, documents[-1]], [documents[1].slug], "after-edit")
    assert current_index(root) == folder and engine.built_from() == "after-edit"
    assert engine.search(SearchQuery(text="zyxwvut")).hits[0].slug == edited.slug
    everyone = engine.search(SearchQuery(per_page=50))
    assert everyone.total == len(final) and documents[1].slug not in {h.slug for h in everyone.hits}
    rebuilt = WhooshSearch(tmp_path / "rebuilt")
    build_index(tmp_path / "rebuilt", final)
    for text, language in [("", "en"), ("", "ru"), *QUERIES[:20]]:
        for sort in ("name", "newest"):
            query = SearchQuery(text=text, language=language, sort=sort, per_page=50)
            assert _unscored(engine.search(query)) == _unscored(rebuilt.search(query)), text
        query = SearchQuery(text=text, language=language, per_page=50)
        updated, fresh = engine.search(query), rebuilt.search(query)
        assert {hit.slug for hit in updated.hits} == {hit.slug for hit in fresh.hits}, text
        assert (updated.total, updated.facets) == (fresh.total, fresh.facets), text
    _assert_table_is_whooshs(folder)
    engine.close()
    rebuilt.close()


def _unscored(result: SearchResult) -> SearchResult:
    return replace(result, hits=[replace(hit, score=0.0) for hit in result.hits])


def test_an_update_needs_a_current_index(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no current index"):
        update_index(tmp_path, [])
    with pytest.raises(FileNotFoundError, match=r"no index in .* build one"):
        update_index(tmp_path / "nothing-here", [])
