"""The build's precomputed term scores (search/whoosh_scores.py) are whoosh's own: every
term of every scored field against whoosh's matcher over an index where whoosh wrote those
fields itself (as indexes before INDEX_VERSION 4 did), for an index of several segments with a
deleted partner and for an updated one; the same queries answer the same with them as through
whoosh; and an index updated in place (`update_index`) keeps both true."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from whoosh import index as whoosh_index
from whoosh.fields import ID, STORED, TEXT, Schema

from marketplace.validate import load_listings
from search.documents import PartnerDocument, partner_documents
from search.engine import SearchQuery, SearchResult
from search.whoosh_engine import (
    SCHEMA,
    SCORED_ANALYZERS,
    SNIPPET_CHARS,
    WhooshSearch,
    _fields,
    _scored_texts,
    _TermScores,
    build_index,
    current_index,
    precompute,
    update_index,
)
from search.whoosh_scores import TermScoreTable, _by_term_then_docnum, token_texts
from tests.search.judged import JUDGED, judged_listings


def _full_text_index(folder: Path, documents: Sequence[PartnerDocument]) -> None:
    """An index of `documents` where whoosh indexes every scored field itself, as indexes
    were written before INDEX_VERSION 4 (and with no precomputed files): the reference."""
    fields = {"slug": ID(stored=True, unique=True), "record": STORED()}
    for name, analyzer in SCORED_ANALYZERS.items():
        fields[name] = TEXT(analyzer=analyzer, stored=name.rsplit("_", 1)[0] in SNIPPET_CHARS)
    folder.mkdir(parents=True)
    index = whoosh_index.create_in(str(folder), Schema(**fields))
    writer = index.writer()
    for document in documents:
        stored = _fields(document)
        writer.add_document(slug=document.slug, record=stored["record"], **_scored_texts(stored))
    writer.commit()
    index.close()


Scores = dict[tuple[str, str], dict[str, float]]


def _whoosh_scores(folder: Path) -> Scores:
    """Every scored term's {slug: score} by whoosh's matcher walk over a full-text index."""
    found: Scores = {}
    with whoosh_index.open_dir(str(folder)).searcher() as searcher:
        walk = _TermScores(searcher)
        for field_name in SCORED_ANALYZERS:
            for text in searcher.reader().lexicon(field_name):
                term = text.decode("utf-8")
                docnums, scores = walk.get(field_name, term)
                found[field_name, term] = {
                    searcher.stored_fields(int(docnum))["slug"]: float(score)
                    for docnum, score in zip(docnums, scores, strict=True)
                }
    return found


def _assert_scores_are_whooshs(folder: Path, documents: Sequence[PartnerDocument]) -> None:
    """The precomputed scores of the index in `folder` are those whoosh gives the same
    partners (`documents`) in a full-text index, term by term, partner by partner."""
    expected = _whoosh_scores(folder.parent / f"{folder.name}-reference")
    assert len(expected) > 1000  # the test reads a real vocabulary
    table = TermScoreTable.load(folder)
    assert table is not None
    with whoosh_index.open_dir(str(folder)).searcher() as searcher:
        slug_of = {docnum: fields["slug"] for docnum, fields in searcher.reader().iter_docs()}
    for (field_name, term), scores in expected.items():
        assert table.covers(field_name)
        precomputed = table.get(field_name, term)
        assert precomputed is not None, (field_name, term)
        docnums, found = precomputed
        assert list(docnums) == sorted(docnums), (field_name, term)  # in docnum order
        got = {slug_of[int(d)]: float(s) for d, s in zip(docnums, found, strict=True)}
        assert got.keys() == scores.keys(), (field_name, term)
        np.testing.assert_allclose(
            [got[slug] for slug in scores],
            list(scores.values()),
            rtol=2e-7,
            atol=0,
            err_msg=f"{field_name}:{term}",
        )
    precomputed_terms = sum(
        1
        for field_name in SCORED_ANALYZERS
        for term in table._terms[field_name]
        if table.doc_frequency(field_name, term)
    )
    assert precomputed_terms == len(expected)  # and no term whoosh does not have
    assert table.get("name_en", "no-partner-has-this-word") is None


def test_precomputed_scores_equal_whooshs_for_every_term(tmp_path: Path) -> None:
    """Three segments (as the parallel build writes) and a deleted partner: docnums offset
    per segment, the deleted one left out of the scores and of the statistics."""
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
    live = [document for number, document in enumerate(documents) if number != 1]
    precompute(folder, live)
    _full_text_index(tmp_path / "index-reference", live)
    _assert_scores_are_whooshs(folder, live)


def test_a_built_index_carries_its_scores(tmp_path: Path) -> None:
    catalog, loaded = load_listings(judged_listings(tmp_path / "listings"))
    documents = partner_documents(catalog, [item.listing for item in loaded])
    folder = build_index(tmp_path / "root", documents)
    _full_text_index(folder.parent / f"{folder.name}-reference", documents)
    _assert_scores_are_whooshs(folder, documents)


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
    """Scores, order, highlights, records and suggestions are what whoosh's walk over an
    index where it wrote every field, and its stored records, give (an index from before the
    build kept its scores and partners still answers, that way)."""
    catalog, loaded = load_listings(judged_listings(tmp_path / "listings"))
    documents = partner_documents(catalog, [item.listing for item in loaded])
    with_table = tmp_path / "with"
    build_index(with_table, documents)
    without = tmp_path / "without"
    _full_text_index(without / "index-1", documents)
    (without / "current").symlink_to("index-1")
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
    same partners would, scores included, and they are still whoosh's own."""
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
        scores = {hit.slug: hit.score for hit in updated.hits}
        assert scores == {hit.slug: hit.score for hit in fresh.hits}, text
        assert (updated.total, updated.facets) == (fresh.total, fresh.facets), text
    _full_text_index(folder.parent / f"{folder.name}-reference", final)
    _assert_scores_are_whooshs(folder, final)
    engine.close()
    rebuilt.close()


def _unscored(result: SearchResult) -> SearchResult:
    return replace(result, hits=[replace(hit, score=0.0) for hit in result.hits])


def test_an_update_needs_a_current_index(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no current index"):
        update_index(tmp_path, [])
    with pytest.raises(FileNotFoundError, match=r"no index in .* build one"):
        update_index(tmp_path / "nothing-here", [])


TRICKY_TEXTS = [
    "",
    "   ",
    "Migration of Exchange-Online mailboxes, e.g. 3.5 TB; v2.0.1 and U.S.A.",
    "The THE the a an of to and or our İstanbul ǅemal ß straße ΣΊΣΥΦΟΣ",
    "Ёлки-палки: партнёры, партнеров, партнёрами; миграции и миграцию Ё ё",
    "snake_case __dunder__ x_y 1_000 ٣٤٥ 中文字符 日本語 émigré naïve café",
    "it's don't O'Brien co-op a.b.c. ...dots... trailing. .leading",
    "\u00a0non\u00a0breaking\u2003spaces\tand\ttabs\nnew\nlines",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z я ж",
]


@pytest.mark.parametrize("field_name", sorted(SCORED_ANALYZERS))
def test_plain_analysis_gives_whooshs_tokens(field_name: str, tmp_path: Path) -> None:
    """`token_texts` (what the build analyses with) yields exactly whoosh's index-time
    tokens, on tricky texts and on every text of the judged listings."""
    analyzer = SCORED_ANALYZERS[field_name]
    plain = token_texts(analyzer)
    catalog, loaded = load_listings(judged_listings(tmp_path / "listings"))
    documents = partner_documents(catalog, [item.listing for item in loaded])
    texts = TRICKY_TEXTS + [_scored_texts(_fields(d))[field_name] for d in documents]
    for text in texts:
        assert plain(text) == [token.text for token in analyzer(text, mode="index")], text


@pytest.mark.parametrize("terms", [40, 70_000])  # ranks in 16 bits (radix sorted), and not
def test_postings_are_ordered_by_term_then_docnum_whatever_the_docnums(terms: int) -> None:
    """A parallel build's writer processes number the partners in another order than the
    build analysed them in: the postings still come out by term, then docnum."""
    generator = np.random.default_rng(18)
    partners = 500
    counts = generator.integers(0, 30, partners)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    ranks = generator.integers(0, terms, int(starts[-1]))
    slot_docnums = generator.permutation(partners + 100)[:partners].astype(np.int32)
    expected = np.lexsort((np.repeat(slot_docnums, counts), ranks))
    found = _by_term_then_docnum(ranks, terms, slot_docnums, starts)
    assert np.array_equal(found, expected)
