"""Every term's BM25F scores, computed once when an index is built and loaded with it.

A query adds per-term score arrays instead of walking whoosh's pure-Python matchers
(search/whoosh_engine.py, `_TermScores`). Computing a term's array through whoosh costs a
walk over its postings, up to ~0.5 s for a few frequent words at 10,000 partners; done on
first use it made the first queries after a rebuild or a restart slow. So the build computes
the arrays of every term of every text field here, with NumPy over the raw postings, and
writes them into the index's folder, where they swap in with the index:

- `term_docnums.npy` (int32) and `term_scores.npy` (float32): every term's documents and
  scores, one term after another;
- `term_table.pickle`: per field, its terms (sorted) and where each term's run starts.

An open index maps the two arrays from disk (several server processes share one copy in the
page cache) and looks a term up in a dict: no lock, no whoosh read, no warm-up.

The scores are whoosh's own BM25F (whoosh.scoring.BM25F and BM25FScorer): idf from the whole
index's document frequency and document count, the field's average length over the whole
index, each document's length as whoosh stores it (one byte, log-quantised), and the term
frequency. tests/search/test_whoosh_scores.py checks every term against whoosh's matcher.
The postings are read straight from whoosh 2.7's `W3` codec blocks (whoosh-reloaded is
pinned; the test fails, not the ranking, if a version changes them): ~6x faster than walking
its matchers (0.15 s against 0.94 s of CPU for every term of 1,000 partners). Each segment's
postings are also kept as read (`SEGMENT_POSTINGS_PREFIX`), so `update_index`, which adds a
small segment (and may merge it with other small ones into a new one), reads only the segments
it wrote. Every file is written whole or not at all (`marketplace.files.write_whole`), never
rewritten in place.
"""

from __future__ import annotations

import io
import logging
import math
import os
import pickle
import zlib
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import numpy as np
from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, _lenfield
from whoosh.reading import SegmentReader
from whoosh.scoring import BM25F
from whoosh.searching import Searcher
from whoosh.util.numeric import _length_byte_cache

from marketplace.files import write_whole

log = logging.getLogger(__name__)

DOCNUMS_FILE = "term_docnums.npy"
SCORES_FILE = "term_scores.npy"
TABLE_FILE = "term_table.pickle"
SCORE_FILES = (DOCNUMS_FILE, SCORES_FILE, TABLE_FILE)
"""In an index's folder: the precomputed per-term arrays (see the module docstring)."""
SEGMENT_POSTINGS_PREFIX = "postings-"
"""In an index's folder: each whoosh segment's postings as read for scoring (docnums and term
frequencies per term), so an index updated with a new segment reads only that one."""

_BYTE_TO_LENGTH = np.array(_length_byte_cache, dtype=np.float64)
"""whoosh's decoding of a stored field-length byte (whoosh.util.numeric.byte_to_length)."""

_BLOCK_HEADER = 4  # the magic number before a term's first postings block
_INT = 4  # a block's length prefix (big-endian, negative for a term's last block)


@dataclass
class _FieldPostings:
    """One field's postings in one segment, in term order, with the segment's docnums."""

    terms: list[str]
    doc_frequencies: list[int]
    counts: np.ndarray  # postings per term
    docnums: np.ndarray  # int32
    frequencies: np.ndarray  # float32, as whoosh stores them

    def visible(self, deleted: frozenset[int], offset: int) -> _FieldPostings:
        """Without the deleted documents (whoosh's segment matcher skips them), with the
        index's docnums (the segment's plus its offset)."""
        counts, docnums, frequencies = self.counts, self.docnums, self.frequencies
        if deleted:
            keep = ~np.isin(docnums, np.fromiter(deleted, np.int32, len(deleted)))
            term_of = np.repeat(np.arange(counts.size), counts)
            counts = np.bincount(term_of[keep], minlength=counts.size)
            docnums, frequencies = docnums[keep], frequencies[keep]
        return _FieldPostings(
            self.terms, self.doc_frequencies, counts, docnums + offset, frequencies
        )


def write_term_scores(folder: Path, fields: Iterable[str], processes: int = 1) -> None:
    """Compute every term's BM25F scores in `fields` of the whoosh index in `folder` and
    write them into it (before the folder is swapped in); segments are read by up to
    `processes` processes at once."""
    fields = list(fields)
    with whoosh_index.open_dir(str(folder)).searcher() as searcher:
        weighting = searcher.weighting
        if type(weighting) is not BM25F or weighting._field_B:
            raise TypeError("precomputed scores follow whoosh's default BM25F only")
        if searcher.is_atomic():  # one segment, or none (an index of no partners)
            segments = [(searcher, 0)] if isinstance(searcher.reader(), SegmentReader) else []
        else:
            segments = searcher.subsearchers
        per_segment: list[dict[str, _FieldPostings] | None] = []
        for sub, _ in segments:
            per_segment.append(_kept_postings(folder, sub.reader()))
        unread = [number for number, kept in enumerate(per_segment) if kept is None]
        workers = min(processes, len(unread))
        if workers > 1:
            # Reading the blocks is pure Python (unpickling): one segment per core.
            with ProcessPoolExecutor(workers) as pool:
                read = pool.map(_read_segment_of, repeat(folder), unread, repeat(fields))
                for number, postings in zip(unread, read, strict=True):
                    per_segment[number] = postings
        else:
            for number in unread:
                per_segment[number] = _read_and_keep(folder, segments[number][0].reader(), fields)
        visible = [
            {
                name: postings.visible(sub.reader().deleted_docs_set, offset)
                for name, postings in (kept or {}).items()
            }
            for (sub, offset), kept in zip(segments, per_segment, strict=True)
        ]
        lengths = _field_lengths(segments, fields, searcher.doc_count_all())
        _write(searcher, folder, fields, visible, lengths)


def _postings_file(folder: Path, reader: SegmentReader) -> Path:
    return folder / f"{SEGMENT_POSTINGS_PREFIX}{reader.segment().segment_id()}.pickle"


def _kept_postings(folder: Path, reader: SegmentReader) -> dict[str, _FieldPostings] | None:
    """A segment's postings as an earlier `write_term_scores` kept them (a segment never
    changes: `update_index` links them into the new generation with the segment's file)."""
    try:
        with _postings_file(folder, reader).open("rb") as kept:
            postings: dict[str, _FieldPostings] = pickle.load(kept)  # noqa: S301 - our own file
            return postings
    except FileNotFoundError:
        return None
    except Exception:  # garbled by a crash: read the segment again
        log.warning("%s unreadable; reading its segment again", _postings_file(folder, reader))
        return None


def _read_and_keep(
    folder: Path, reader: SegmentReader, fields: list[str]
) -> dict[str, _FieldPostings]:
    postings = _read_segment(reader, fields)
    write_whole(
        _postings_file(folder, reader),
        lambda out: pickle.dump(postings, out, protocol=pickle.HIGHEST_PROTOCOL),
    )
    return postings


def sync_folder(folder: Path) -> None:
    """Flush `folder`'s files and its entries to disk (before a rename makes it current)."""
    for path in folder.iterdir():
        if path.is_file():
            with path.open("rb") as written:
                os.fsync(written.fileno())
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _read_segment_of(folder: Path, number: int, fields: list[str]) -> dict[str, _FieldPostings]:
    """`_read_and_keep` of the index's `number`th segment, in a worker process."""
    with whoosh_index.open_dir(str(folder)).searcher() as searcher:
        sub, _ = searcher.subsearchers[number]
        return _read_and_keep(folder, sub.reader(), fields)


def _write(
    searcher: Searcher,
    folder: Path,
    fields: list[str],
    per_segment: list[dict[str, _FieldPostings]],
    lengths: dict[str, np.ndarray],
) -> None:
    weighting = searcher.weighting
    document_count = searcher.doc_count_all()

    docnum_runs: list[np.ndarray] = []
    score_runs: list[np.ndarray] = []
    table: dict[str, tuple[list[str], np.ndarray]] = {}
    position = 0
    for field_name in fields:
        parts = [segment[field_name] for segment in per_segment if field_name in segment]
        terms = sorted({text for part in parts for text in part.terms})
        number = {text: at for at, text in enumerate(terms)}
        doc_frequency = np.zeros(len(terms), dtype=np.int64)
        term_of, docnums, frequencies = [], [], []
        for part in parts:  # segments in docnum order: a stable sort keeps docnums ascending
            ids = np.fromiter((number[text] for text in part.terms), np.int64, len(part.terms))
            np.add.at(doc_frequency, ids, part.doc_frequencies)
            term_of.append(np.repeat(ids, part.counts))
            docnums.append(part.docnums)
            frequencies.append(part.frequencies)
        term_ids = np.concatenate(term_of) if term_of else np.zeros(0, dtype=np.int64)
        order = np.argsort(term_ids, kind="stable")
        docnum = _joined(docnums, np.int32)[order]
        frequency = _joined(frequencies, np.float64)[order]
        # whoosh.scoring: idf = log(N / (df + 1)) + 1 with whoosh's document frequency (which
        # counts deleted documents too), math.log as whoosh computes it.
        idf = np.array([math.log(document_count / (df + 1)) + 1 for df in doc_frequency.tolist()])
        average = searcher.avg_field_length(field_name) or 1
        scores = _bm25(
            idf[term_ids[order]], frequency, lengths[field_name][docnum], average, weighting
        )
        starts = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum(np.bincount(term_ids, minlength=len(terms)), out=starts[1:])
        table[field_name] = (terms, starts + position)
        position += docnum.size
        docnum_runs.append(docnum)
        score_runs.append(scores.astype(np.float32))
    all_docnums = _joined(docnum_runs, np.int32)
    all_scores = _joined(score_runs, np.float32)
    write_whole(folder / DOCNUMS_FILE, lambda out: np.save(out, all_docnums))
    write_whole(folder / SCORES_FILE, lambda out: np.save(out, all_scores))
    write_whole(
        folder / TABLE_FILE, lambda out: pickle.dump(table, out, protocol=pickle.HIGHEST_PROTOCOL)
    )


def _bm25(
    idf: np.ndarray, tf: np.ndarray, length: np.ndarray, average: float, model: BM25F
) -> np.ndarray:
    """whoosh.scoring.bm25, term by term in float64 in the same order of operations."""
    b, k1 = float(model.B), float(model.K1)
    scores: np.ndarray = idf * ((tf * (k1 + 1)) / (tf + k1 * ((1 - b) + b * length / average)))
    return scores


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def _read_segment(reader: SegmentReader, fields: list[str]) -> dict[str, _FieldPostings]:
    """Every posting of `fields` in one segment, from its W3 blocks: a term's postings come
    in blocks of up to 128 (a length, a pickled block info, then the zlib'd pickle of the
    docnums as deltas, the term frequencies and the positions). Reading them directly, and
    converting each field's postings to arrays at once, is ~5x faster than a matcher per
    term."""
    wanted = set(fields)
    postfile = reader._terms._postfile
    found: dict[str, _FieldPostings] = {}
    field_name = None
    terms: list[str] = []
    doc_frequencies: list[int] = []
    counts: list[int] = []
    deltas: list[tuple[int, ...]] = []
    weights: list[tuple[float, ...]] = []

    def finish() -> None:
        if field_name is not None:
            found[field_name] = _field_postings(terms, doc_frequencies, counts, deltas, weights)

    for (name, term), info in reader:  # fields one after another, terms in order
        if name != field_name:
            finish()
            field_name = name if name in wanted else None
            terms, doc_frequencies, counts, deltas, weights = [], [], [], [], []
        if field_name is None:
            continue
        terms.append(term.decode("utf-8"))
        doc_frequencies.append(info.doc_frequency())
        counts.append(_read_postings(postfile, info, deltas, weights))
    finish()
    return found


def _field_postings(
    terms: list[str],
    doc_frequencies: list[int],
    counts: list[int],
    deltas: list[tuple[int, ...]],
    weights: list[tuple[float, ...]],
) -> _FieldPostings:
    """One field's postings as arrays: blocks' deltas summed within each block."""
    sizes = np.fromiter(map(len, deltas), np.int64, len(deltas))
    flat = np.fromiter(chain.from_iterable(deltas), np.int64, int(sizes.sum()))
    running = np.cumsum(flat)
    # Each block's deltas start from 0: take off what the blocks before it summed to.
    block_ends = np.cumsum(sizes)
    before = np.concatenate([[0], running[block_ends[:-1] - 1]]) if sizes.size else sizes
    docnums = (running - np.repeat(before, sizes)).astype(np.int32)
    frequencies = np.fromiter(chain.from_iterable(weights), np.float32, docnums.size)
    count = np.array(counts, dtype=np.int64)
    return _FieldPostings(terms, doc_frequencies, count, docnums, frequencies)


def _read_postings(
    postfile: Any, info: Any, deltas: list[tuple[int, ...]], weights: list[tuple[float, ...]]
) -> int:
    """Append one term's blocks (docnum deltas, term frequencies); returns its postings."""
    if info.is_inlined():  # whoosh inlines none with its default `inlinelimit`, but may
        ids, frequencies, _ = info.inlined_postings()
        previous = [0, *ids[:-1]]
        deltas.append(tuple(docnum - before for docnum, before in zip(ids, previous, strict=True)))
        weights.append(tuple(frequencies))
        return len(ids)
    position = info.extent()[0] + _BLOCK_HEADER
    total: int = 0
    while True:
        length = postfile.get_int(position)
        block = io.BytesIO(postfile.get(position + _INT, abs(length)))
        # whoosh's own block format (its matcher unpickles the same bytes).
        info_tuple: tuple[int, int, float, int, int, int] = pickle.load(block)  # noqa: S301
        count, _, _, compressed, _, _ = info_tuple
        data = block.read()
        data = zlib.decompress(data) if compressed else data
        ids, frequencies, _ = pickle.loads(data)  # noqa: S301
        deltas.append(ids)
        if frequencies is None:
            frequencies = (1.0,) * count
        elif isinstance(frequencies, float):
            frequencies = (frequencies,) * count
        weights.append(frequencies)
        total += count
        if length < 0:
            return total
        position += _INT + length


def _field_lengths(
    segments: list[tuple[Searcher, int]], fields: list[str], size: int
) -> dict[str, np.ndarray]:
    """Each field's length per docnum as whoosh's scorer sees it (decoded from its byte)."""
    lengths = {}
    for field_name in fields:
        coded = np.zeros(size, dtype=np.uint8)
        for sub, offset in segments:
            perdoc = sub.reader()._perdoc
            column = perdoc._cached_reader(_lenfield(field_name), LENGTHS_COLUMN)
            if column is None:  # whoosh then uses its default length, 1
                coded[offset : offset + sub.doc_count_all()] = 1
                continue
            count = min(column._count, sub.doc_count_all())
            raw = column._dbfile.get(column._basepos, count)
            coded[offset : offset + count] = np.frombuffer(raw, dtype=np.uint8)
        lengths[field_name] = _BYTE_TO_LENGTH[coded]
    return lengths


class TermScoreTable:
    """The precomputed arrays of one index, mapped from its folder."""

    def __init__(self, folder: Path) -> None:
        self._docnums = np.load(folder / DOCNUMS_FILE, mmap_mode="r")
        self._scores = np.load(folder / SCORES_FILE, mmap_mode="r")
        with (folder / TABLE_FILE).open("rb") as table_file:
            # Written by the build into the index's own folder, like whoosh's pickled files.
            table: dict[str, tuple[list[str], np.ndarray]] = pickle.load(table_file)  # noqa: S301
        self._starts = {name: starts.tolist() for name, (_, starts) in table.items()}
        self._terms = {
            name: {text: at for at, text in enumerate(terms)} for name, (terms, _) in table.items()
        }

    @classmethod
    def load(cls, folder: Path) -> TermScoreTable | None:
        """The folder's arrays; None for an index written before the build computed them, or
        when they cannot be read (then queries score through whoosh, slower but right)."""
        if not (folder / TABLE_FILE).exists():
            return None
        try:
            return cls(folder)
        except Exception:  # truncated or garbled (written without fsync before a crash)
            log.warning("precomputed scores in %s unreadable; scored lazily", folder)
            return None

    def covers(self, field_name: str) -> bool:
        """True when `field_name`'s terms were precomputed (every term of it is here)."""
        return field_name in self._terms

    def get(self, field_name: str, text: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(docnums, scores) of a term of a covered field; None when no document has it."""
        at = self._terms[field_name].get(text)
        if at is None:
            return None
        starts = self._starts[field_name]
        run = slice(starts[at], starts[at + 1])
        return self._docnums[run], self._scores[run]

    def doc_frequency(self, field_name: str, text: str) -> int:
        """How many live documents (not deleted) of a covered field have the term; whoosh's
        own `doc_frequency` also counts deleted ones until their segment is merged."""
        at = self._terms[field_name].get(text)
        if at is None:
            return 0
        starts = self._starts[field_name]
        return int(starts[at + 1] - starts[at])
