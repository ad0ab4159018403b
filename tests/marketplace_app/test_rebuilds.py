"""`serve --watch`'s build process (`marketplace_app.rebuilds`): it builds when asked, says
no for a broken listing and stays, is replaced when it died, and ends when `serve` does."""

from __future__ import annotations

import gc
import io
import json
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
    looks: list[bool] = []
    look_again = marketplace_app.rebuilds._look_again

    def counted(*arguments: Any) -> bool:
        looks.append(look_again(*arguments))
        return looks[-1]

    monkeypatch.setattr(marketplace_app.rebuilds, "_look_again", counted)

    def build_once(remembered: RememberedBuild) -> dict[str, object]:
        load_listings(listings, remembered.listings)  # what a build validates
        assert not remembered.listings.settled(), "validated once: not known by stamps yet"
        built.append(remembered)
        return {"built": True}

    reading, writing = os.pipe()
    os.write(writing, BUILD_REQUEST.encode())
    answers = io.StringIO()
    with os.fdopen(reading, "rb", buffering=0) as requests:
        worker = threading.Thread(target=run_worker, args=(paths, build_once, requests, answers))
        worker.start()
        try:
            deadline = time.monotonic() + 30
            while not (built and built[0].listings.settled()) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert built and built[0].listings.settled()
            time.sleep(2.5)  # idle on, all known: no more looks
        finally:
            os.close(writing)
            worker.join(30)
            gc.unfreeze()  # (the process freezes what stays between builds)
    assert json.loads(answers.getvalue()) == {"built": True}
    assert looks and looks[-1] is False and looks[:-1] == [True] * (len(looks) - 1)
