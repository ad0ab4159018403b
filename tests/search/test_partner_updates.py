"""An index update (`update_index`, after an edit under `serve`) derives what a search needs
of every partner (`_Partners`: records, facet bitsets, orders, names) from the partners that
changed alone (`_Partners.updated`), exactly as deriving it from every record would."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import search.whoosh_engine
from marketplace.validate import load_listings
from search.documents import PartnerDocument, partner_documents
from search.whoosh_engine import _Partners, build_index, current_index, update_index
from tests.search.judged import judged_listings


def _derived_afresh(partners: _Partners) -> _Partners:
    """What `_Partners.of` derives from the same records."""
    records = {docnum: partners.records[docnum] for docnum in partners.docnums.values()}
    return _Partners.of(records, partners.size)


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
    catalog, loaded = load_listings(judged_listings(tmp_path / "listings"))
    documents = partner_documents(catalog, [item.listing for item in loaded])
    root = tmp_path / "index"
    build_index(root, documents)
    taken: list[bool] = []
    updated = _Partners.updated

    def counted(self: _Partners, *arguments: Any) -> _Partners | None:
        partners = updated(self, *arguments)
        taken.append(partners is not None)
        return partners

    monkeypatch.setattr(_Partners, "updated", counted)
    for changed, removed in _changes(documents):
        folder = update_index(root, changed, removed)
        assert current_index(root) == folder
        partners = _Partners.load(folder)
        assert partners is not None
        assert _comparable(partners) == _comparable(_derived_afresh(partners))
    assert taken and all(taken), "every update derived the partners from the changes alone"


def test_partners_whoosh_renumbered_are_moved(tmp_path: Path) -> None:
    """Partners that did not change but have other docnums in the updated index (whoosh
    merged their segment) move there, records and all; past `MOST_UPDATED` changes and moves,
    everything is derived from the records again."""
    catalog, loaded = load_listings(judged_listings(tmp_path / "listings"))
    documents = partner_documents(catalog, [item.listing for item in loaded])
    root = tmp_path / "index"
    build_index(root, documents)
    folder = current_index(root)
    assert folder is not None
    partners = _Partners.load(folder)
    assert partners is not None
    moved = dict(partners.docnums)
    first, second = list(moved)[:2]
    moved[first], moved[second] = moved[second], moved[first]
    updated = partners.updated(moved, partners.size, {})
    assert updated is not None
    assert updated.records[moved[first]]["slug"] == first
    assert _comparable(updated) == _comparable(_derived_afresh(updated))
    again = _Partners.load(folder)
    assert again is not None
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(search.whoosh_engine, "MOST_UPDATED", 1)
        assert again.updated(moved, again.size, {}) is None


def test_an_index_kept_before_docnums_were_derives_them_all(tmp_path: Path) -> None:
    catalog, loaded = load_listings(judged_listings(tmp_path / "listings"))
    documents = partner_documents(catalog, [item.listing for item in loaded])
    root = tmp_path / "index"
    build_index(root, documents)
    partners = _Partners.load(current_index(root))  # type: ignore[arg-type]
    assert partners is not None
    older = replace(partners, docnums={})
    assert older.updated(dict(partners.docnums), partners.size, {}) is None
    # And such an index is updated all the same.
    folder = update_index(root, [replace(documents[0], summary={"en": "Old.", "ru": "Старый."})])
    assert np.array_equal(
        _Partners.load(folder).orders["name", "en"],  # type: ignore[union-attr]
        _derived_afresh(_Partners.load(folder)).orders["name", "en"],  # type: ignore[arg-type]
    )
