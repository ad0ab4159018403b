"""`serve --watch`'s build process (`marketplace_app.rebuilds`): it builds when asked, says
no for a broken listing and stays, is replaced when it died, and ends when `serve` does."""

from __future__ import annotations

import contextlib
import gc
import io
import os
import shutil
import signal
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import marketplace_app.rebuilds
from marketplace.urls import partner_url
from marketplace.validate import RememberedListings, load_listings
from marketplace_app.build import BuildPaths, RememberedBuild, RememberedSite, build
from marketplace_app.rebuilds import BUILD_REQUEST, BuildWorker, run_worker, settle
from tests.conftest import EXAMPLE_LISTINGS

EDITED = "adventure-works-it"


def _set_summary(listings: Path, summary: str) -> None:
    edited = listings / f"{EDITED}.yaml"
    lines = edited.read_text(encoding="utf-8").splitlines(keepends=True)
    lines = [f"summary: {summary}\n" if line.startswith("summary: ") else line for line in lines]
    edited.write_text("".join(lines), encoding="utf-8")


def test_the_build_process_builds_refuses_stays_and_ends(tmp_path: Path) -> None:
    listings = tmp_path / "listings"
    shutil.copytree(EXAMPLE_LISTINGS, listings)
    paths = BuildPaths(listings, tmp_path / "site", tmp_path / "instance")
    build(paths)  # what `serve` does before it serves
    page = tmp_path / "site" / partner_url(EDITED) / "index.html"
    worker = BuildWorker(paths)
    worker.start()
    try:
        _set_summary(listings, "First edit through the build process.")
        assert worker.build() is True
        assert "First edit through the build process." in page.read_text(encoding="utf-8")
        first = worker.pid
        assert first is not None

        # A broken listing: no build, the last good site stays, the process too.
        (listings / f"{EDITED}.yaml").write_text("slug: [unclosed\n", encoding="utf-8")
        assert worker.build() is False
        assert "First edit through the build process." in page.read_text(encoding="utf-8")
        assert worker.pid == first

        _restore_the_example(listings)
        _set_summary(listings, "Mended by the partner today.")
        assert worker.build() is True
        assert "Mended by the partner today." in page.read_text(encoding="utf-8")

        # Died (killed, out of memory…): the next build starts a new one.
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while worker.pid is not None and time.monotonic() < deadline:  # reaped before it is asked
            time.sleep(0.01)
        assert worker.pid is None
        _set_summary(listings, "After a new process.")
        assert worker.build() is True
        assert "After a new process." in page.read_text(encoding="utf-8")
        assert worker.pid not in (None, first)
    finally:
        status = worker.stop()
    assert status == 0  # ended by itself once its input closed, not killed


def _restore_the_example(listings: Path) -> None:
    shutil.copyfile(EXAMPLE_LISTINGS / f"{EDITED}.yaml", listings / f"{EDITED}.yaml")


@contextlib.contextmanager
def _idle_worker(
    paths: BuildPaths,
    build_once: Any,
    monkeypatch: pytest.MonkeyPatch,
    before_each_look: Any = lambda: None,
) -> Iterator[tuple[list[bool], Any]]:
    """The build process's loop in a thread: (what each `_look_again` returned, a function
    that asks it to build); ended on leaving."""
    looks: list[bool] = []
    look_again = marketplace_app.rebuilds._look_again

    def counted(*arguments: Any) -> bool:
        before_each_look()
        looks.append(look_again(*arguments))
        return looks[-1]

    monkeypatch.setattr(marketplace_app.rebuilds, "_look_again", counted)
    reading, writing = os.pipe()
    answers = io.StringIO()
    with os.fdopen(reading, "rb", buffering=0) as requests:
        worker = threading.Thread(target=run_worker, args=(paths, build_once, requests, answers))
        worker.start()
        try:
            yield looks, lambda: os.write(writing, BUILD_REQUEST.encode())
        finally:
            os.close(writing)
            worker.join(30)
            gc.unfreeze()  # (the process freezes what stays between builds)


def _wait(condition: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not so in time"
        time.sleep(0.05)


def _validating(listings: Path, built: list[RememberedBuild]) -> Any:
    """A build that validates the listings, as a build does."""

    def build_once(remembered: RememberedBuild) -> dict[str, object]:
        load_listings(listings, remembered.listings)
        built.append(remembered)
        return {"built": True}

    return build_once


@pytest.fixture
def quick_trust(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> BuildPaths:
    """The example listings, known by their stamps after 0.1 s rather than 3 s."""
    monkeypatch.setattr(RememberedListings, "TRUSTED_AFTER_SECONDS", 0.1)
    listings = tmp_path / "listings"
    shutil.copytree(EXAMPLE_LISTINGS, listings)
    return BuildPaths(listings, tmp_path / "site", tmp_path / "instance")


def test_while_idle_the_build_process_gets_the_listings_known_by_their_stamps(
    quick_trust: BuildPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a build, while no edit comes, the process validates the listings again until
    they are all known by their stamps (`RememberedListings.settled`), so that the first
    edits after `serve` starts do not each read every file; then it stops. One look makes
    them known: their stamps were taken when the build validated them."""
    monkeypatch.setattr(RememberedListings, "TRUSTED_AFTER_SECONDS", 1.0)
    built: list[RememberedBuild] = []
    with _idle_worker(quick_trust, _validating(quick_trust.listings_dir, built), monkeypatch) as (
        looks,
        ask,
    ):
        ask()
        _wait(lambda: bool(built))
        assert not built[0].listings.settled(), "validated once: not known by stamps yet"
        _wait(built[0].listings.settled)
        time.sleep(2.5)  # idle on: no more looks
    assert looks == [False]


def test_after_a_long_build_the_look_comes_at_once(
    quick_trust: BuildPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The look that makes the listings known by their stamps is due
    `TRUSTED_AFTER_SECONDS` after the build validated them, not after the build: after a
    first build longer than that (a minute at 10,000 listings), it comes at once, before the
    first edit does (`serve` is ready a second earlier)."""
    monkeypatch.setattr(RememberedListings, "TRUSTED_AFTER_SECONDS", 2.0)
    # (`settle` collects this whole test process's garbage: not the build process's time.)
    monkeypatch.setattr(marketplace_app.rebuilds, "settle", lambda: None)
    built: list[RememberedBuild] = []
    validating = _validating(quick_trust.listings_dir, built)
    ended: list[float] = []
    looked: list[float] = []

    def long_build(remembered: RememberedBuild) -> dict[str, object]:
        answer = validating(remembered)
        time.sleep(2.2)  # the rest of the build
        ended.append(time.monotonic())
        return answer

    def look() -> None:
        looked.append(time.monotonic())

    with _idle_worker(quick_trust, long_build, monkeypatch, look) as (looks, ask):
        ask()
        _wait(lambda: bool(looks))
    assert looks == [False], "known by their stamps after one look"
    # Due after the build was a second (the loop's poll) plus the 2 s of trust before.
    assert looked[0] - ended[0] < 1.5


def test_listings_that_keep_changing_are_looked_at_a_few_times_only(
    quick_trust: BuildPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing rewritten before every look is never known by its stamp: the process stops
    looking after `IDLE_LOOKS`."""
    summaries = iter(range(100))

    def rewrite() -> None:
        _set_summary(
            quick_trust.listings_dir, f"Device care for hotels, rewritten {next(summaries)}."
        )

    built: list[RememberedBuild] = []
    build_once = _validating(quick_trust.listings_dir, built)
    with _idle_worker(quick_trust, build_once, monkeypatch, rewrite) as (looks, ask):
        ask()
        _wait(lambda: len(looks) >= marketplace_app.rebuilds.IDLE_LOOKS)
        time.sleep(2.5)  # idle on: no more looks
    assert looks == [True] * marketplace_app.rebuilds.IDLE_LOOKS


def test_right_after_a_build_the_process_makes_what_the_build_left_for_later(
    quick_trust: BuildPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a build that ran MkDocs left for later (`RememberedSite.built_from`: the other
    languages' groupings, `remember_every_language`) is made at once after it, before the
    first edit (which may come a second after `serve` is ready), and once."""
    ended: list[float] = []
    made: list[float] = []

    def build_once(remembered: RememberedBuild) -> dict[str, object]:
        remembered.site = RememberedSite("sources", [], {}, {}, [], ((None, []), {}))
        ended.append(time.monotonic())
        return {"built": True}

    def remember_every_language(paths: BuildPaths, remembered: RememberedBuild) -> bool:
        assert remembered.site is not None
        if remembered.site.built_from is None:
            return False
        remembered.site.built_from = None
        made.append(time.monotonic())
        return True

    monkeypatch.setattr(
        marketplace_app.rebuilds, "remember_every_language", remember_every_language
    )
    monkeypatch.setattr(marketplace_app.rebuilds, "settle", lambda: None)  # (as above)
    monkeypatch.setattr(marketplace_app.rebuilds, "IDLE_LOOKS", 0)  # no look due meanwhile
    with _idle_worker(quick_trust, build_once, monkeypatch) as (_looks, ask):
        ask()
        _wait(lambda: bool(made))
        time.sleep(1.5)
    assert len(made) == 1
    assert made[0] - ended[0] < 0.5  # not after the loop's one-second poll


def test_after_a_catalog_change_the_build_process_looks_again(
    quick_trust: BuildPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A changed catalog has every listing validated anew (none known by its stamp): the
    process looks again while idle after that build."""
    monkeypatch.setattr(marketplace_app.rebuilds, "LOOK_AGAIN_AFTER_CHECKING", 5)
    built: list[RememberedBuild] = []
    with _idle_worker(quick_trust, _validating(quick_trust.listings_dir, built), monkeypatch) as (
        looks,
        ask,
    ):
        ask()
        _wait(lambda: bool(built) and built[0].listings.settled())
        catalog = quick_trust.listings_dir / "_catalog.yaml"
        catalog.write_text(catalog.read_text(encoding="utf-8") + "# changed\n", "utf-8")
        ask()
        _wait(lambda: len(built) == 2 and built[1].listings.settled())
    assert looks == [False, False]


class _Cycle:
    def __init__(self) -> None:
        self.itself = self


def test_settle_sets_what_stays_aside_and_everything_takes_it_back() -> None:
    cycle = _Cycle()
    gone = weakref.ref(cycle)
    try:
        settle()
        assert gc.get_freeze_count() > 0
        del cycle
        settle()  # set aside: the cycle is not collected
        assert gone() is not None
        settle(everything=True)
        assert gone() is None
    finally:
        gc.unfreeze()  # (the test process's own objects)
