"""`serve --watch`'s build process (`marketplace_app.rebuilds`): it builds when asked, says
no for a broken listing and stays, is replaced when it died, and ends when `serve` does."""

from __future__ import annotations

import gc
import io
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import marketplace_app.rebuilds
from marketplace.urls import partner_url
from marketplace.validate import RememberedListings, load_listings
from marketplace_app.build import BuildPaths, RememberedBuild, build
from marketplace_app.rebuilds import BUILD_REQUEST, BuildWorker, run_worker
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


def _idle_worker(
    paths: BuildPaths,
    build_once: Any,
    monkeypatch: pytest.MonkeyPatch,
    until: Any,
    seconds: float,
    before_each_look: Any = lambda: None,
) -> list[bool]:
    """Run the build process's loop in a thread, ask it for one build, let it idle until
    `until(looks)` and then `seconds` more, end it; what each `_look_again` returned."""
    looks: list[bool] = []
    look_again = marketplace_app.rebuilds._look_again

    def counted(*arguments: Any) -> bool:
        before_each_look()
        looks.append(look_again(*arguments))
        return looks[-1]

    monkeypatch.setattr(marketplace_app.rebuilds, "_look_again", counted)
    reading, writing = os.pipe()
    os.write(writing, BUILD_REQUEST.encode())
    answers = io.StringIO()
    with os.fdopen(reading, "rb", buffering=0) as requests:
        worker = threading.Thread(target=run_worker, args=(paths, build_once, requests, answers))
        worker.start()
        try:
            deadline = time.monotonic() + 30
            while not until(looks) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(seconds)
        finally:
            os.close(writing)
            worker.join(30)
            gc.unfreeze()  # (the process freezes what stays between builds)
    assert answers.getvalue().count("\n") == 1
    return looks


def test_while_idle_the_build_process_gets_the_listings_known_by_their_stamps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a build, while no edit comes, the process validates the listings again until
    they are all known by their stamps (`RememberedListings.settled`), so that the first
    edits after `serve` starts do not each read every file; then it stops."""
    monkeypatch.setattr(RememberedListings, "TRUSTED_AFTER_SECONDS", 0.1)
    listings = tmp_path / "listings"
    shutil.copytree(EXAMPLE_LISTINGS, listings)
    paths = BuildPaths(listings, tmp_path / "site", tmp_path / "instance")
    built: list[RememberedBuild] = []

    def build_once(remembered: RememberedBuild) -> dict[str, object]:
        load_listings(listings, remembered.listings)  # what a build validates
        assert not remembered.listings.settled(), "validated once: not known by stamps yet"
        built.append(remembered)
        return {"built": True}

    def settled(_looks: list[bool]) -> bool:
        return bool(built) and built[0].listings.settled()

    looks = _idle_worker(paths, build_once, monkeypatch, settled, 2.5)
    assert settled(looks)
    assert looks and looks[-1] is False and looks[:-1] == [True] * (len(looks) - 1)


def test_listings_that_keep_changing_are_looked_at_a_few_times_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing rewritten before every look is never known by its stamp: the process stops
    looking after `IDLE_LOOKS`."""
    monkeypatch.setattr(RememberedListings, "TRUSTED_AFTER_SECONDS", 0.1)
    listings = tmp_path / "listings"
    shutil.copytree(EXAMPLE_LISTINGS, listings)
    paths = BuildPaths(listings, tmp_path / "site", tmp_path / "instance")
    summaries = iter(range(100))

    def build_once(remembered: RememberedBuild) -> dict[str, object]:
        load_listings(listings, remembered.listings)
        return {"built": True}

    looks = _idle_worker(
        paths,
        build_once,
        monkeypatch,
        lambda looks: len(looks) >= marketplace_app.rebuilds.IDLE_LOOKS,
        2.5,  # and no more after them
        lambda: _set_summary(
            listings, f"Device care for hotels, rewritten {next(summaries)} times."
        ),
    )
    assert looks == [True] * marketplace_app.rebuilds.IDLE_LOOKS
