"""`marketplace serve` builds again when a listing changes while it serves (issue 18): the
partner's page, the pages that list it, the exports, the search and the partner snapshot the
backend reads are current after the edit, and a removed listing is gone from all of them."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from marketplace_app.build import BuildPaths
from marketplace_app.cli import SourceWatcher
from tests.conftest import EXAMPLE_LISTINGS
from tests.serving import serve, stop
from tests.smtp import free_port

EDITED = "adventure-works-it"
REMOVED = "baltic-workplace"


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:  # not listening yet
        return 0, ""


def _until(condition: Callable[[], bool], seconds: float) -> float:
    """Wait until `condition()` holds; how long it took (fails after `seconds`)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not so after {seconds} s")
        time.sleep(0.2)
    return time.monotonic() - started


def _snapshot_hash(address: str) -> str | None:
    """The content hash of the partner snapshot the backend has loaded, from /healthz."""
    status, body = _get(address + "healthz")
    if status not in (200, 503):  # 503: degraded, e.g. the index is of the next snapshot
        return None
    snapshot = json.loads(body).get("partner_snapshot") or {}
    hash_: str | None = snapshot.get("content_hash")
    return hash_


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """`marketplace serve` over a copy of the example listings: (listings folder, address)."""
    listings = tmp_path / "listings"
    shutil.copytree(EXAMPLE_LISTINGS, listings)
    port = free_port()
    server = serve(listings, tmp_path, port, seconds=90)
    try:
        yield listings, f"http://127.0.0.1:{port}/"
    finally:
        stop(server)


@pytest.mark.slow
def test_serve_builds_again_when_a_listing_changes(served: tuple[Path, str]) -> None:
    listings, address = served
    built_from = _snapshot_hash(address)
    edited = listings / f"{EDITED}.yaml"
    text = edited.read_text(encoding="utf-8")
    edited.write_text(text.replace("\nsummary: ", "\nsummary: Zanzibarquux edited. ", 1), "utf-8")
    (listings / f"{REMOVED}.yaml").unlink()

    # The snapshot is written last: once the backend has read it, the build is done. Every
    # page asked for meanwhile is there: the build writes aside and publishes when whole.
    answers: list[int] = []

    def done() -> bool:
        answers.extend(_get(address + page)[0] for page in ("", "partners/contoso-cloud/", "ru/"))
        return _snapshot_hash(address) not in (built_from, None)

    _until(done, 90)
    assert set(answers) == {200}, answers
    hits = json.loads(_get(f"{address}api/v1/search?q=Zanzibarquux")[1])["hits"]
    assert [hit["slug"] for hit in hits] == [EDITED]
    assert "Zanzibarquux edited." in _get(f"{address}partners/{EDITED}/")[1]
    assert "Zanzibarquux edited." in _get(f"{address}ru/partners/{EDITED}/")[1]
    assert "Zanzibarquux edited." in _get(address + "directory.json")[1]
    assert _get(f"{address}partners/{REMOVED}/")[0] == 404
    assert REMOVED not in _get(address + "api/v1/search?q=")[1]
    assert REMOVED not in _get(address + "sitemap.xml")[1]
    partners = json.loads(_get(address + "partners.json")[1])["partners"]
    assert REMOVED not in {partner["slug"] for partner in partners}


@pytest.fixture
def watcher(tmp_path: Path) -> Iterator[SourceWatcher]:
    """A `SourceWatcher` over a copy of the example listings, receiving events."""
    listings = tmp_path / "listings"
    shutil.copytree(EXAMPLE_LISTINGS, listings)
    watcher = SourceWatcher(BuildPaths(listings, tmp_path / "site", tmp_path / "instance"))
    watcher.observe()
    yield watcher
    watcher.stop()


def test_the_watcher_sees_each_change_once(watcher: SourceWatcher) -> None:
    listings = watcher.paths.listings_dir
    assert not watcher.changed(timeout=0.5)
    for path in sorted(listings.glob("*.yaml")):  # what a build does: read, not change
        path.read_bytes()
    assert not watcher.changed(timeout=0.5)
    edited = listings / f"{EDITED}.yaml"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert watcher.changed(timeout=5)
    assert not watcher.changed(timeout=0.5)
    (listings / f"{REMOVED}.yaml").unlink()
    assert watcher.changed(timeout=5)


def _writes_while_watched(
    watcher: SourceWatcher, writes: int, pause: float, then: float = 0
) -> threading.Thread:
    """`writes` writes to a listing, `pause` seconds apart, then after `then` seconds one
    more (when `then`), in a thread of their own, started now."""
    edited = watcher.paths.listings_dir / f"{EDITED}.yaml"
    text = edited.read_text(encoding="utf-8")

    def write() -> None:
        for number in range(writes):
            edited.write_text(f"{text}# {number}\n", encoding="utf-8")
            time.sleep(pause)
        if then:
            time.sleep(then)
            edited.write_text(f"{text}# then\n", encoding="utf-8")

    writer = threading.Thread(target=write)
    writer.start()
    return writer


def test_a_burst_of_writes_is_one_change(
    watcher: SourceWatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Quiet times far above the pauses, so that a busy machine cannot split the burst.
    monkeypatch.setattr(SourceWatcher, "QUIET_SECONDS", 1.0)
    monkeypatch.setattr(SourceWatcher, "BURST_QUIET_SECONDS", 1.0)
    writer = _writes_while_watched(watcher, writes=5, pause=0.05)
    assert watcher.changed(timeout=5)
    assert not writer.is_alive()  # the build starts after the burst, not at its first write
    writer.join()
    assert not watcher.changed(timeout=1.5)


def test_after_many_events_the_watcher_waits_longer(
    watcher: SourceWatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pause that ends a few changes does not end a burst (a `git pull` pausing)."""
    monkeypatch.setattr(SourceWatcher, "QUIET_SECONDS", 0.3)
    monkeypatch.setattr(SourceWatcher, "BURST_QUIET_SECONDS", 3.0)
    writes = SourceWatcher.FEW_CHANGES + 1  # each write at least one event
    writer = _writes_while_watched(watcher, writes, pause=0.01, then=1.0)
    assert watcher.changed(timeout=5)
    assert not writer.is_alive()  # the write after the pause was part of the burst
    writer.join()
    assert not watcher.changed(timeout=3.5)
    # A few changes again: the short quiet time.
    writer = _writes_while_watched(watcher, writes=1, pause=0, then=1.0)
    assert watcher.changed(timeout=5)
    assert writer.is_alive()  # the write after the pause is the next change
    writer.join()
    assert watcher.changed(timeout=5)


def test_the_watcher_says_when_nothing_changed_for_a_while(
    watcher: SourceWatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(`serve` then collects everything it set aside from the garbage collector.)"""
    monkeypatch.setattr(SourceWatcher, "IDLE_SECONDS", 0.2)
    idle = threading.Event()
    watcher.start(lambda: None, idle.set)
    try:
        assert idle.wait(5)
        idle.clear()
        assert idle.wait(5)  # and again
    finally:
        watcher.worker.stop()


def test_the_watcher_watches_listings_pages_configuration_and_translations(
    tmp_path: Path,
) -> None:
    from marketplace.i18n import LOCALE_DIR

    listings = tmp_path / "listings"
    shutil.copytree(EXAMPLE_LISTINGS, listings)
    paths = BuildPaths(listings, tmp_path / "site", tmp_path / "instance")
    watcher = SourceWatcher(paths)
    watcher.observe()
    watched = {Path(emitter.watch.path) for emitter in watcher._observer.emitters}
    watcher.stop()
    assert {
        listings.resolve(),
        (paths.mkdocs_config.parent / "site_src").resolve(),
        LOCALE_DIR.resolve(),
        paths.mkdocs_config.parent.resolve(),  # mkdocs.yml and mkdocs.ru.yml
    } <= watched


def test_ctrl_c_during_the_build_at_start_stops_the_build_process(tmp_path: Path) -> None:
    """`serve`'s build at start runs in its build process, a process group of its own (so
    Ctrl+C later does not reach a build under way): Ctrl+C while `serve` waits for it ends
    that process and what it forked, and nothing is published."""
    import signal

    from benchmarks.generate import generate_listings

    listings = generate_listings(1000, tmp_path / "listings")  # a build of 3-10 s
    watcher = SourceWatcher(BuildPaths(listings, tmp_path / "site", tmp_path / "instance"))
    building: list[int | None] = []

    waiting = threading.Event()
    waiting.set()

    def interrupt(signum: int, frame: object) -> None:
        if waiting.is_set():  # (not once `first_build` is over)
            building.append(watcher.worker.pid)
            raise KeyboardInterrupt

    def interrupt_once_under_way() -> None:
        # Once the site is being built (in a scratch folder) beside the forked index step: a
        # fixed delay was too short on a slow machine, or past the build on a fast one.
        deadline = time.monotonic() + 60
        while waiting.is_set() and time.monotonic() < deadline:
            group = watcher.worker.pid
            site_under_way = any((tmp_path / "site").glob(".build-*"))
            if group is not None and site_under_way and len(_running_in_group(group)) > 1:
                os.kill(os.getpid(), signal.SIGALRM)  # handled in the main thread
                return
            time.sleep(0.02)

    previous = signal.signal(signal.SIGALRM, interrupt)
    interrupter = threading.Thread(target=interrupt_once_under_way, daemon=True)
    interrupter.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            watcher.first_build()
    finally:
        waiting.clear()
        interrupter.join(5)
        signal.signal(signal.SIGALRM, previous)
    [group] = building
    assert group is not None and watcher.worker.pid is None
    _until(lambda: not _running_in_group(group), 5)  # nothing of its process group is left
    assert not (tmp_path / "site" / "index.html").exists()
    assert not (tmp_path / "instance" / "partners.snapshot.json").exists()


def _running_in_group(group: int) -> list[int]:
    """The processes of process group `group` that have not ended (a zombie has: where no
    init process reaps orphans, as in some containers, they stay listed)."""
    running = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        state, process_group = fields[0], int(fields[2])
        if process_group == group and state not in ("Z", "X"):
            running.append(int(stat_file.parent.name))
    return running
