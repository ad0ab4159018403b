"""Every term's BM25F scores, computed when an index is built and loaded with it.

A query adds per-term score arrays instead of walking whoosh's pure-Python matchers
(search/whoosh_engine.py, `_TermScores`). Computing a term's array through whoosh costs a
walk over its postings, up to ~0.5 s for a few frequent words at 10,000 partners; done on
first use it made the first queries after a rebuild or a restart slow. So the build computes
the arrays of every term of every scored field and writes them into the index's folder,
where they swap in with the index:

- `term_docnums.npy` (int32) and `term_scores.npy` (float32): every term's documents and
  scores, one term after another;
- `term_table.pickle`: per field, its terms (sorted) and where each term's run starts;
- `analysed_text.pickle`: every partner's terms and their frequencies per scored field
  (`AnalysedText`), so an update analyses only the partners it changes.

The build analyses the scored fields itself, with the index's own analysers (`Analysing`),
rather than have whoosh write their postings and read them back: whoosh's writer spent ~23 µs
of CPU per posting (its token objects, a sorting pool, and reading each document's length
back for every posting), 55 s for the 2.4 million postings of 10,000 partners on a machine
where these arrays take a few seconds. whoosh keeps indexing the unstemmed words (their
lexicon gives typo variants and "did you mean") and storing the texts a hit highlights, from
which everything here can be derived again (`whoosh_engine._analysed_from_stored`).

The scores are whoosh's own BM25F (whoosh.scoring.BM25F and BM25FScorer, default
parameters) over the partners in the index: idf = log(N / (df + 1)) + 1 from their count and
document frequency, the field's average length over them, each partner's length quantised to
one byte and decoded as whoosh stores it, and the term frequency.
tests/search/test_whoosh_scores.py checks every term against whoosh's matcher over an index
where whoosh wrote those fields itself. Unlike whoosh's own statistics, which count replaced
partners until their segment is merged, these count only the partners in the index, so an
updated index scores as a full build of the same partners does. Every file is written whole
or not at all (`marketplace.files.write_whole`), never rewritten in place.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from whoosh.analysis import (
    Analyzer,
    CompositeAnalyzer,
    LowercaseFilter,
    RegexTokenizer,
    StemFilter,
    StopFilter,
)
from whoosh.lang import stemmer_for_language
from whoosh.scoring import BM25F
from whoosh.util.numeric import _length_byte_cache

from marketplace.files import write_whole

log = logging.getLogger(__name__)

DOCNUMS_FILE = "term_docnums.npy"
SCORES_FILE = "term_scores.npy"
TABLE_FILE = "term_table.pickle"
ANALYSED_FILE = "analysed_text.pickle"
SCORE_FILES = (DOCNUMS_FILE, SCORES_FILE, TABLE_FILE)
"""In an index's folder: the precomputed per-term arrays (see the module docstring)."""

WEIGHTING = BM25F()
"""whoosh's default scoring, which the arrays reproduce."""

_LENGTH_BYTES = np.array(_length_byte_cache, dtype=np.int64)
"""whoosh's length quantisation (whoosh.util.numeric): byte b stands for _LENGTH_BYTES[b]."""
_LONGEST = 106374
"""From this length on, whoosh's `length_to_byte` gives 255."""


@dataclass
class FieldTerms:
    """One scored field's analysed text of many partners: partner `slot`'s terms are
    `term_ids[starts[slot]:starts[slot + 1]]` (indexes into `vocabulary`), each with its
    frequency in that partner's text."""

    vocabulary: list[str]
    starts: np.ndarray  # int64, one more than there are partners
    term_ids: np.ndarray  # int32
    frequencies: np.ndarray  # int32

    def counts(self) -> np.ndarray:
        """Each partner's number of distinct terms."""
        return np.diff(self.starts)

    def compacted(self) -> FieldTerms:
        """Without the vocabulary's terms no partner has (those only removed ones had)."""
        used = np.bincount(self.term_ids, minlength=len(self.vocabulary)) > 0
        if used.all():
            return self
        renumbered = np.cumsum(used, dtype=np.int64) - 1  # a used term's new number
        return FieldTerms(
            [text for text, kept in zip(self.vocabulary, used.tolist(), strict=True) if kept],
            self.starts,
            renumbered[self.term_ids].astype(np.int32),
            self.frequencies,
        )

    def lengths(self) -> np.ndarray:
        """Each partner's field length as whoosh counts it: its tokens."""
        running = np.concatenate([[0], np.cumsum(self.frequencies, dtype=np.int64)])
        lengths: np.ndarray = running[self.starts[1:]] - running[self.starts[:-1]]
        return lengths


@dataclass
class AnalysedText:
    """The scored fields' terms of every partner in an index, partner by partner (`slugs`
    gives each slot's partner)."""

    slugs: list[str]
    fields: dict[str, FieldTerms]

    def without(self, slugs: Iterable[str]) -> AnalysedText:
        """These partners left out (slugs not here are ignored)."""
        gone = set(slugs)
        keep = np.array([slug not in gone for slug in self.slugs], dtype=bool)
        if keep.all():
            return self
        fields = {}
        for name, terms in self.fields.items():
            counts = terms.counts()
            kept_postings = np.repeat(keep, counts)
            starts = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
            np.cumsum(counts[keep], out=starts[1:])
            fields[name] = FieldTerms(
                terms.vocabulary,
                starts,
                terms.term_ids[kept_postings],
                terms.frequencies[kept_postings],
            ).compacted()
        return AnalysedText([slug for slug in self.slugs if slug not in gone], fields)

    def joined(self, other: AnalysedText) -> AnalysedText:
        """These partners and then `other`'s (whose slugs must not be here)."""
        fields = {}
        for name, terms in self.fields.items():
            added = other.fields[name]
            number = {text: at for at, text in enumerate(terms.vocabulary)}
            vocabulary = list(terms.vocabulary)
            for text in added.vocabulary:
                if text not in number:
                    number[text] = len(vocabulary)
                    vocabulary.append(text)
            renumbered = np.array([number[text] for text in added.vocabulary], dtype=np.int32)
            fields[name] = FieldTerms(
                vocabulary,
                np.concatenate([terms.starts, added.starts[1:] + terms.starts[-1]]),
                np.concatenate([terms.term_ids, renumbered[added.term_ids]]).astype(np.int32),
                np.concatenate([terms.frequencies, added.frequencies]),
            )
        return AnalysedText(self.slugs + other.slugs, fields)

    def write(self, folder: Path) -> None:
        """Keep it in an index's folder (`ANALYSED_FILE`)."""
        write_pickle(folder / ANALYSED_FILE, self)

    @classmethod
    def read(cls, folder: Path) -> AnalysedText | None:
        """What the build kept in `folder`; None when it is missing or cannot be read."""
        analysed = read_pickle(folder / ANALYSED_FILE, "analysing the texts again")
        return analysed if isinstance(analysed, cls) else None


def write_pickle(path: Path, kept: object) -> None:
    """Keep `kept` in an index's folder, pickled, written whole (`write_whole`)."""
    write_whole(path, lambda out: pickle.dump(kept, out, protocol=pickle.HIGHEST_PROTOCOL))


def read_pickle(path: Path, instead: str) -> Any:
    """What `write_pickle` kept at `path`; None when it is missing, or when it cannot be
    read (logged, with what the caller does `instead`)."""
    try:
        with path.open("rb") as kept:
            return pickle.load(kept)  # noqa: S301 - the build's own file
    except FileNotFoundError:
        return None
    except Exception:  # truncated or garbled (written without fsync before a crash)
        log.warning("%s in %s unreadable; %s", path.name, path.parent, instead)
        return None


def token_texts(analyzer: Analyzer) -> Callable[[str], list[str]]:
    """A function giving the token texts `analyzer` yields for a text when whoosh indexes it.

    For a chain of a regular-expression tokenizer and any of lowercasing, stop words and
    stemming (every analyser of this index), the same steps on lists of strings, each word's
    stem kept: ~4x faster than whoosh's token objects and size-bounded stem cache. Any
    other analyser is run as is."""
    items = analyzer.items if isinstance(analyzer, CompositeAnalyzer) else [analyzer]
    tokenizer, *filters = items
    steps = [plain for step in filters if (plain := _plain_step(step)) is not None]
    if type(tokenizer) is not RegexTokenizer or tokenizer.gaps or len(steps) < len(filters):
        return lambda text: [token.text for token in analyzer(text, mode="index")]
    matches = tokenizer.expression.finditer

    def texts(text: str) -> list[str]:
        words = [match.group(0) for match in matches(text)]
        for step in steps:
            words = step(words)
        return words

    return texts


def _plain_step(step: Any) -> Callable[[list[str]], list[str]] | None:
    """One whoosh filter as a function of a list of words; None for other filters."""
    if type(step) is LowercaseFilter:
        return lambda words: [word.lower() for word in words]
    if type(step) is StopFilter:
        shortest, longest, stops = step.min, step.max, step.stops
        return lambda words: [
            word
            for word in words
            if len(word) >= shortest and (longest is None or len(word) <= longest)
            if word not in stops
        ]
    if type(step) is StemFilter:
        stem = stemmer_for_language(step.lang) if step.lang else step.stemfn
        ignore, stems = step.ignore, dict[str, str]()

        def stemmed(word: str) -> str:
            found = stems.get(word)
            if found is None:
                found = stems[word] = word if word in ignore else stem(word)
            return found

        return lambda words: [stemmed(word) for word in words]
    return None


class Analysing:
    """Analyses partners' texts one after another into an `AnalysedText`: each scored
    field through its analyser (`analyzers`: field name -> whoosh analyser), as whoosh's
    writer would index it (terms and frequencies; stop words dropped)."""

    def __init__(self, analyzers: Mapping[str, Analyzer]) -> None:
        self._analyzers = {name: token_texts(analyzer) for name, analyzer in analyzers.items()}
        self._slugs: list[str] = []
        self._numbers: dict[str, dict[str, int]] = {name: {} for name in self._analyzers}
        self._term_ids = {name: array("i") for name in self._analyzers}
        self._frequencies = {name: array("i") for name in self._analyzers}
        self._starts = {name: array("q", [0]) for name in self._analyzers}

    def add(self, slug: str, texts: Mapping[str, str]) -> None:
        """Analyse one partner's text of every scored field (`texts`: field name -> text)."""
        self._slugs.append(slug)
        for name, analyzer in self._analyzers.items():
            found = Counter(analyzer(texts[name]))
            number = self._numbers[name]
            term_ids = self._term_ids[name]
            for text in found:
                at = number.get(text)
                if at is None:
                    at = number[text] = len(number)
                term_ids.append(at)
            self._frequencies[name].extend(found.values())
            self._starts[name].append(len(term_ids))

    def analysed(self) -> AnalysedText:
        """Everything added so far."""
        fields = {
            name: FieldTerms(
                list(self._numbers[name]),
                np.frombuffer(self._starts[name], dtype=np.int64).copy(),
                np.frombuffer(self._term_ids[name], dtype=np.int32).copy(),
                np.frombuffer(self._frequencies[name], dtype=np.int32).copy(),
            )
            for name in self._analyzers
        }
        return AnalysedText(list(self._slugs), fields)


def analyse(
    analyzers: Mapping[str, Analyzer], partners: Iterable[tuple[str, Mapping[str, str]]]
) -> AnalysedText:
    """`Analysing` of (slug, texts) pairs."""
    analysing = Analysing(analyzers)
    for slug, texts in partners:
        analysing.add(slug, texts)
    return analysing.analysed()


_Table = dict[str, tuple[list[str], np.ndarray]]
"""Per field: its terms (sorted) and where each term's run starts in the arrays."""


class TermScoreTable:
    """Every term's (docnums, scores) per scored field: mapped from an index's folder
    (`load`), or computed from an `AnalysedText` (`computed`)."""

    def __init__(self, docnums: np.ndarray, scores: np.ndarray, table: _Table) -> None:
        self._docnums = docnums
        self._scores = scores
        self._starts = {name: starts.tolist() for name, (_, starts) in table.items()}
        self._terms = {
            name: {text: at for at, text in enumerate(terms)} for name, (terms, _) in table.items()
        }

    @classmethod
    def load(cls, folder: Path) -> TermScoreTable | None:
        """The folder's arrays, mapped; None when the folder has none (an index written before
        the build computed them) or they cannot be read."""
        if not (folder / TABLE_FILE).exists():
            return None
        try:
            docnums = np.load(folder / DOCNUMS_FILE, mmap_mode="r")
            scores = np.load(folder / SCORES_FILE, mmap_mode="r")
            with (folder / TABLE_FILE).open("rb") as table_file:
                # Written by the build into the index's own folder, like whoosh's pickled files.
                table = pickle.load(table_file)  # noqa: S301
            return cls(docnums, scores, table)
        except Exception:  # truncated or garbled (written without fsync before a crash)
            log.warning("precomputed scores in %s unreadable", folder)
            return None

    @classmethod
    def computed(cls, analysed: AnalysedText, docnums: Mapping[str, int]) -> TermScoreTable:
        """The scores of `analysed`, each partner at its docnum in the whoosh index."""
        return cls(*_score_arrays(analysed, docnums))

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
        """How many partners of a covered field have the term."""
        at = self._terms[field_name].get(text)
        if at is None:
            return 0
        starts = self._starts[field_name]
        return int(starts[at + 1] - starts[at])


def write_term_scores(folder: Path, analysed: AnalysedText, docnums: Mapping[str, int]) -> None:
    """Compute every term's scores of `analysed` (each partner at its docnum in the whoosh
    index in `folder`) and write them, with `analysed` itself, into `folder` (before it is
    swapped in)."""
    all_docnums, all_scores, table = _score_arrays(analysed, docnums)
    write_whole(folder / DOCNUMS_FILE, lambda out: np.save(out, all_docnums))
    write_whole(folder / SCORES_FILE, lambda out: np.save(out, all_scores))
    write_pickle(folder / TABLE_FILE, table)
    analysed.write(folder)


def _score_arrays(
    analysed: AnalysedText, docnums: Mapping[str, int]
) -> tuple[np.ndarray, np.ndarray, _Table]:
    partners = len(analysed.slugs)
    slot_docnums = np.fromiter((docnums[slug] for slug in analysed.slugs), np.int32, partners)
    docnum_runs: list[np.ndarray] = []
    score_runs: list[np.ndarray] = []
    table: _Table = {}
    position = 0
    for field_name, terms in analysed.fields.items():
        doc_frequency = np.bincount(terms.term_ids, minlength=len(terms.vocabulary))
        # The table lists the terms some partner has, sorted (a term of a partner an update
        # removed stays in the vocabulary with none).
        present = sorted(
            (at for at in range(len(terms.vocabulary)) if doc_frequency[at]),
            key=terms.vocabulary.__getitem__,
        )
        rank = np.full(len(terms.vocabulary), -1, dtype=np.int64)
        rank[present] = np.arange(len(present))
        counts = terms.counts()
        posting_docnums = np.repeat(slot_docnums, counts)
        lengths = terms.lengths()
        ranks = rank[terms.term_ids]
        order = _by_term_then_docnum(ranks, len(present), slot_docnums, terms.starts)
        # whoosh.scoring: idf = log(N / (df + 1)) + 1, math.log as whoosh computes it.
        idf = np.array(
            [math.log(partners / (doc_frequency[at] + 1)) + 1 for at in present], dtype=np.float64
        )
        # whoosh.searching.Searcher.avg_field_length, and BM25FScorer's `or 1`.
        average = (float(lengths.sum()) / (partners or 1)) or 1
        stored_lengths = _LENGTH_BYTES[_length_bytes(lengths)].astype(np.float64)
        scores = _bm25(
            idf[ranks[order]],
            terms.frequencies[order].astype(np.float64),
            np.repeat(stored_lengths, counts)[order],
            average,
        )
        starts = np.zeros(len(present) + 1, dtype=np.int64)
        np.cumsum(doc_frequency[present], out=starts[1:])
        table[field_name] = ([terms.vocabulary[at] for at in present], starts + position)
        position += order.size
        docnum_runs.append(posting_docnums[order])
        score_runs.append(scores.astype(np.float32))
    return _joined(docnum_runs, np.int32), _joined(score_runs, np.float32), table


def _by_term_then_docnum(
    ranks: np.ndarray, terms: int, slot_docnums: np.ndarray, starts: np.ndarray
) -> np.ndarray:
    """The order of a field's postings (partner by partner: slot `s`'s are
    `starts[s]:starts[s + 1]`, of terms `ranks`, each below `terms`) by term, then docnum.

    As `np.lexsort((docnums, ranks))` orders them, in half the time at 10,000 partners: the
    postings are first taken partner by partner in docnum order, then sorted stably by term
    alone, which NumPy does by radix when the terms' ranks fit 16 bits."""
    slots = np.argsort(slot_docnums, kind="stable")
    counts = np.diff(starts)[slots]
    shift = np.repeat(starts[:-1][slots] - (np.cumsum(counts) - counts), counts)
    by_docnum = np.arange(int(counts.sum()), dtype=np.int64) + shift
    keys = ranks[by_docnum]
    if terms <= np.iinfo(np.uint16).max + 1:
        keys = keys.astype(np.uint16)
    by_term: np.ndarray = by_docnum[np.argsort(keys, kind="stable")]
    return by_term


def _length_bytes(lengths: np.ndarray) -> np.ndarray:
    """whoosh.util.numeric.length_to_byte of every length."""
    coded = np.searchsorted(_LENGTH_BYTES, lengths, side="left")
    return np.where(lengths >= _LONGEST, 255, coded)


def _bm25(idf: np.ndarray, tf: np.ndarray, length: np.ndarray, average: float) -> np.ndarray:
    """whoosh.scoring.bm25, term by term in float64 in the same order of operations."""
    b, k1 = float(WEIGHTING.B), float(WEIGHTING.K1)
    scores: np.ndarray = idf * ((tf * (k1 + 1)) / (tf + k1 * ((1 - b) + b * length / average)))
    return scores


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


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
