"""An index update (`update_index`, after an edit under `serve`) derives what a search needs
of every partner (`_Partners`: records, facet bitsets, orders, names) from the partners that
changed alone (`_Partners.updated`), exactly as deriving it from the partners' documents
would."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import search.whoosh_engine
from marketplace.validate import load_listings
from search.documents import PartnerDocument, partner_documents
from search.whoosh_engine import (
    DOCNUMS_FILE,
    _Partners,
    _records,
    build_index,
    current_index,
    update_index,
)
from tests.search.judged import judged_listings


def _indexed(tmp_path: Path) -> tuple[list[PartnerDocument], Path, Path]:
    """The judged listings' documents, the root of an index built of them, its folder."""
    catalog, loaded = load_listings(judged_listings(tmp_path / "listings"))
    documents = partner_documents(catalog, [item.listing for item in loaded])
    root = tmp_path / "index"
    build_index(root, documents)
    folder = current_index(root)
    assert folder is not None
    return documents, root, folder


def _derived_afresh(partners: _Partners, documents: dict[str, PartnerDocument]) -> _Partners:
    """What `_Partners.of` derives from the records of `documents`, at the docnums the
    index gave them."""
    records = _records(documents.values())
    return _Partners.of({partners.docnums[slug]: records[slug] for slug in records}, partners.size)


def _comparable(partners: _Partners) -> dict[str, Any]:
    names = partners.names
    return {
        "size": partners.size,
        "records": {docnum: partners.records[docnum] for docnum in sorted(partners.records)},
        "facet_bits": partners.facet_bits,
        "da": partners.da_bits,
        "all": partners.all_bits,
        "orders": {key: order.tolist() for key, order in partners.orders.items()},
        "names": names.names,
        "by_first": {first: sorted(docnums) for first, docnums in names.by_first.items()},
        "by_deletion": names.by_deletion,
        "by_stem": names.by_stem,
        "firsts": names.sorted_firsts(),
        "docnums": partners.docnums,
    }


def _changes(documents: list[PartnerDocument]) -> list[tuple[list[PartnerDocument], list[str]]]:
    """Updates one after another: (changed documents, removed slugs)."""
    first, second, third, fourth = documents[:4]
    services = [s for s in fourth.facets["service"] if s != fourth.facets["service"][0]]
    return [
        ([replace(first, summary={"en": "Edited.", "ru": "Правка."})], []),
        ([replace(first, summary={"en": "Again.", "ru": "Снова."})], []),  # the same partner
        ([replace(second, name={"en": "Zzz Last By Name", "ru": "Яяя"})], []),  # moves
        ([replace(third, name={"en": "Aaa First", "ru": "Ааа"}, published=date(2031, 1, 1))], []),
        ([replace(fourth, delegated_admin=not fourth.delegated_admin)], []),
        # A service fewer, and one no other partner has.
        ([replace(fourth, facets=fourth.facets | {"service": [*services, "only-here"]})], []),
        ([], [documents[5].slug]),  # removed
        ([documents[5]], []),  # back again
        (
            [
                replace(d, summary={"en": f"Many {n}.", "ru": "Много."})
                for n, d in enumerate(documents[6:12])
            ],
            [],
        ),
    ]


def test_an_update_derives_the_partners_as_from_every_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents, root, _folder = _indexed(tmp_path)
    taken: list[bool] = []
    updated = _Partners.updated

    def counted(self: _Partners, *arguments: Any) -> _Partners | None:
        partners = updated(self, *arguments)
        taken.append(partners is not None)
        return partners

    monkeypatch.setattr(_Partners, "updated", counted)
    now = {document.slug: document for document in documents}
    for changed, removed in _changes(documents):
        folder = update_index(root, changed, removed)
        assert current_index(root) == folder
        for slug in removed:
            del now[slug]
        now.update((document.slug, document) for document in changed)
        partners = _Partners.load(folder, docnums=True)
        assert partners is not None and set(partners.docnums) == set(now)
        assert _comparable(partners) == _comparable(_derived_afresh(partners, now))
    assert taken and all(taken), "every update derived the partners from the changes alone"


def test_partners_whoosh_renumbered_are_moved(tmp_path: Path) -> None:
    """Partners that did not change but have other docnums in the updated index (whoosh
    merged their segment) move there, records and all; past `MOST_UPDATED` changes and moves,
    or with docnums that are not the records', everything is derived again."""
    documents, _root, folder = _indexed(tmp_path)

    def loaded_again() -> _Partners:
        partners = _Partners.load(folder, docnums=True)
        assert partners is not None
        return partners

    partners = loaded_again()
    moved = dict(partners.docnums)
    first, second = list(moved)[:2]
    moved[first], moved[second] = moved[second], moved[first]
    updated = partners.updated(moved, partners.size, {})
    assert updated is not None
    assert updated.records[moved[first]]["slug"] == first
    everyone = {document.slug: document for document in documents}
    assert _comparable(updated) == _comparable(_derived_afresh(updated, everyone))
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(search.whoosh_engine, "MOST_UPDATED", 1)
        assert loaded_again().updated(moved, partners.size, {}) is None
    wrong = loaded_again()
    wrong.docnums[first], wrong.docnums[second] = moved[first], moved[second]
    assert (
        wrong.updated(wrong.docnums, partners.size, {first: _records([documents[0]])[first]})
        is None
    )


def test_an_index_kept_without_docnums_is_updated_from_every_record(tmp_path: Path) -> None:
    """An index written before the docnums were kept (or whose file of them cannot be read)
    is updated all the same, everything derived from the records."""
    documents, root, folder = _indexed(tmp_path)
    (folder / DOCNUMS_FILE).unlink()
    older = _Partners.load(folder, docnums=True)
    assert older is not None and older.docnums == {}
    assert older.updated({d.slug: n for n, d in enumerate(documents)}, older.size, {}) is None
    edited = replace(documents[0], summary={"en": "Old.", "ru": "Старый."})
    folder = update_index(root, [edited])
    partners = _Partners.load(folder, docnums=True)
    assert partners is not None
    now = {document.slug: document for document in [edited, *documents[1:]]}
    assert _comparable(partners) == _comparable(_derived_afresh(partners, now))
