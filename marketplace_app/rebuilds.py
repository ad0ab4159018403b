"""`marketplace serve --watch`'s builds: a build process that stays, and knows the listings.

Why a process of its own: `serve` answers requests on threads, and a build forks workers (the
Russian site, the search index), which a process running threads must not do. Why one that
stays: started afresh for each edit, a build spent most of its time on what had not changed
(10,000 listings, one edited: ~1.5 s importing the build's libraries, ~2.5 s validating every
listing again, the MkDocs configuration's Markdown extensions loaded again). This process
imports them once, keeps the valid listings (`marketplace.validate.RememberedListings`: only
files whose bytes changed are validated again) and runs `marketplace build` in itself, which
keeps the unchanged pages and updates the index for the changed partners only
(`marketplace_app.build`).

It answers on a pipe, one JSON line per request (`{"built": true}`, or `{"built": false}` with
`"kept": true` when the listings did not validate and the last good build stays); what a build says
(progress, a broken listing's problems) goes to `serve`'s error output, as before. It builds
with the code it started with: when our code on disk changes it answers `{"restart": true}`
and ends, and `serve` starts a new one. It ends when `serve` does (end of its input).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import IO

from marketplace.validate import RememberedListings, load_listings
from marketplace_app.build import (
    INDEX_CODE,
    BuildPaths,
    RememberedBuild,
    remember_every_language,
    site_configs,
)

BUILD_REQUEST = "build\n"
CODE_PACKAGES = ("marketplace", "sitegen", "search", "marketplace_app")
"""Our packages a build runs: a change to their files on disk (or a new version of a library
the site or the index is made with) needs a new build process."""
IDLE_LOOKS = 4
"""At most this many validations while idle (`_look_again`) after the first build, or after
one that validated more than `LOOK_AGAIN_AFTER_CHECKING` listing files anew (a changed
catalog): one, `RememberedListings.TRUSTED_AFTER_SECONDS` after that build's validation,
makes the listings known by their stamps; more when files change meanwhile."""
LOOK_AGAIN_AFTER_CHECKING = 100
SETTLE_EVERYTHING_EVERY = 50
"""`serve` collects everything (`settle(everything=True)`) after this many builds' reloads,
once idle: requests in flight when `settle` set their objects aside leave cycles of them."""
WARM_UP_AFTER_SECONDS = 0.5
"""Idle this long after starting, the process validates the listings and loads its libraries
(so the first edit is as quick as the next; `serve` is answering by then)."""


class BuildWorker:
    """`serve`'s handle on the build process: `build()` asks it to build and waits."""

    def __init__(self, paths: BuildPaths) -> None:
        self.paths = paths
        self._process: subprocess.Popen[str] | None = None
        self.answer: dict[str, object] = {}
        """The last build's answer (empty when the process gave none)."""

    @property
    def pid(self) -> int | None:
        """The process's id while it runs."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def command(self) -> list[str]:
        """How the process is started: `marketplace build-worker` over the same folders."""
        command = [sys.executable, "-m", "marketplace_app", "build-worker"]
        command += ["--listings", str(self.paths.listings_dir)]
        command += ["--site-dir", str(self.paths.site_dir)]
        command += ["--instance", str(self.paths.instance_dir)]
        if self.paths.site_url is not None:
            command += ["--site-url", self.paths.site_url]
        return command

    def start(self) -> None:
        """Start the process (it warms up while nothing is asked of it)."""
        self._process = subprocess.Popen(
            self.command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,  # the answers; what it says goes to our error output
            text=True,
            # Not in our process group: Ctrl+C in a terminal stops `serve`, and this process
            # ends with `serve` (its input closes) rather than with a traceback of its own;
            # a build it is running then finishes first (and publishes), holding the build
            # lock until it has.
            start_new_session=True,
        )

    def build(self) -> bool:
        """Build now; True when the build succeeded (`answer` says more). A process that ended
        (or asks for a restart, its code having changed) is replaced, once."""
        self.answer = {}
        for attempt in range(2):
            if self._process is not None and self._process.poll() is not None:
                self.stop()  # it ended between builds: its pipes are closed before a new one
            if self._process is None:
                self.start()
            process = self._process
            assert process is not None and process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(BUILD_REQUEST)
                process.stdin.flush()
                line = process.stdout.readline()
            except OSError:  # it ended before or while asked
                line = ""
            answer = _answer(line)
            if answer is None:
                status = self.stop()
                again = (
                    "starting a new one" if attempt == 0 else "a new one starts at the next change"
                )
                print(
                    f"The build process ended without an answer (exit status {status}); {again}.",
                    file=sys.stderr,
                    flush=True,
                )
                continue
            if answer.get("restart"):  # our code changed on disk
                self.stop()
                continue
            self.answer = answer
            return answer.get("built") is True
        return False

    def kill(self) -> None:
        """End the process and what it forked at once (its process group), a build under way
        included: it builds aside, so the live site stays as the last build published it."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def stop(self, timeout: float = 10) -> int | None:
        """End the process: its input closes, and it ends once a build it runs is done (killed
        after `timeout` seconds). Its exit status (None: there was none)."""
        process, self._process = self._process, None
        if process is None:
            return None
        with contextlib.suppress(OSError):
            assert process.stdin is not None
            process.stdin.close()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()
        return process.returncode


def _answer(line: str) -> dict[str, object] | None:
    try:
        answer = json.loads(line)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def run_worker(
    paths: BuildPaths,
    build_once: Callable[[RememberedBuild], dict[str, object]],
    requests: IO[bytes],
    answers: IO[str],
) -> None:
    """The build process's loop: for each request on `requests` (unbuffered), `build_once`
    and answer what it returns on `answers`; until `requests` ends or our code on disk
    changes."""

    # Imported here: `marketplace validate` loads this module (the command line), not sitegen.
    from sitegen.reuse import PAGE_LIBRARIES, code_fingerprint

    def our_code() -> str:
        return code_fingerprint.__wrapped__(CODE_PACKAGES, (*PAGE_LIBRARIES, *INDEX_CODE[1]))

    started_with = our_code()
    # The fingerprints the builds record, taken now, before the modules load: were the code
    # to change meanwhile, they describe older code than runs (so the next process renders
    # again), never newer (pages of old code kept as new).
    code_fingerprint()
    code_fingerprint(*INDEX_CODE)
    remembered = RememberedBuild()
    warm = False
    looks_left = IDLE_LOOKS  # until the listings are known by their stamps (`_look_again`)
    looked = 0.0  # when the last look ended
    parent = os.getppid()
    while True:
        if not warm and not _readable(requests, WARM_UP_AFTER_SECONDS):
            _warm_up(paths, remembered)
            settle()
            warm = True
            continue
        # While idle, soonest first: what the last build left for later (at once, as the
        # first edit after `serve` starts may come a second after its first build), then a
        # look at the listings once the stamps of the last validation can be trusted.
        look_at = (
            max(remembered.listings.validated_at, looked) + RememberedListings.TRUSTED_AFTER_SECONDS
        )
        wait = 1.0
        if warm and remembered.site is not None and remembered.site.built_from is not None:
            wait = 0.0
        elif warm and looks_left:
            wait = min(wait, max(0.0, look_at - time.monotonic()))
        if not _readable(requests, wait):
            if os.getppid() != parent:  # `serve` is gone without closing our input
                return
            if warm and _remember_every_language(paths, remembered):
                settle()
            elif warm and looks_left and time.monotonic() >= look_at:
                looks_left = looks_left - 1 if _look_again(paths, remembered) else 0
                looked = time.monotonic()
            continue
        line = requests.readline()
        if not line:
            return
        if line.decode(errors="replace") != BUILD_REQUEST:
            continue
        if our_code() != started_with:
            _reply(answers, {"restart": True})
            return
        warm = True
        # No cyclic collection during a build (`settle` collects after it): the build's
        # collections of its own young objects were 6-8% of an edit's build at 10,000
        # listings, in this process and the forked ones. A whole build's peak memory hardly
        # changes: this process and the largest forked one 317 and 371 MB at 10,000 listings,
        # against 315 and 355 MB with the collector on.
        gc.disable()
        try:
            answer = build_once(remembered)
        finally:
            gc.enable()
        _reply(answers, answer)
        settle()
        if remembered.listings.checked_again > LOOK_AGAIN_AFTER_CHECKING:
            looks_left = IDLE_LOOKS  # (a changed catalog: every listing validated anew)


def settle(everything: bool = False) -> None:
    """Collect the garbage made since the last call, then set what stays aside from the
    cyclic garbage collector (`gc.freeze`): called between builds in the build process, and
    by `serve` once it has opened a build's index and partners. A full collection walks
    everything that stays (in the build process the listings, their JSON and the modules,
    ~340,000 objects at 10,000 listings, 0.2 s; in `serve` the index's tables and the
    partners, ~215,000, 0.1-0.3 s), and did so now and then in the middle of a build, or of
    the first search after an edit, holding every request thread meanwhile. What is set
    aside is still freed when nothing refers to it any more; only a cycle of objects set
    aside is not, nor what only such a cycle refers to. Builds and reloads leave none behind
    (10 at 10,000 listings); requests in flight at a `settle` in `serve` do (some of their
    objects: 120 to 1,300 over five reloads under load). `everything`: take all that was
    set aside back first, and collect it too (a full collection), so that such cycles are
    freed after all (`serve` does every `SETTLE_EVERYTHING_EVERY` reloads, once idle).
    (`gc.get_objects` and `gc.get_referrers` do not see what is set aside.)"""
    if everything:
        gc.unfreeze()
    gc.collect()
    gc.freeze()


def _readable(stream: IO[bytes], seconds: float) -> bool:
    return bool(select.select([stream], [], [], seconds)[0])


def _reply(answers: IO[str], answer: dict[str, object]) -> None:
    answers.write(json.dumps(answer) + "\n")
    answers.flush()


def _remember_every_language(paths: BuildPaths, remembered: RememberedBuild) -> bool:
    """`remember_every_language`, anything wrong left for the next build to meet (True when
    there was something to make)."""
    try:
        return remember_every_language(paths, remembered)
    except Exception as error:  # a site folder changed meanwhile, say
        if remembered.site is not None:
            remembered.site.built_from = None
        print(
            f"  Could not prepare the next build while idle ({error}); it makes what it needs.",
            file=sys.stderr,
            flush=True,
        )
        return True


def _look_again(paths: BuildPaths, remembered: RememberedBuild) -> bool:
    """Validate the listings again while idle after the first build (or after one that
    validated them all anew), so that they earn being known by their stamps
    (`RememberedListings`: their bytes found the same, under the stamps they had when
    validated, seconds later) before the next edits rather than at them: otherwise the first
    build after `serve` starts reads every file again (~0.4-0.6 s at 10,000 listings). True
    while some are not known so yet. Done until they all are (at most `IDLE_LOOKS` times):
    after that only an edited file is not, which the next edits' builds read anyway. An edit
    that comes during a look waits for it (up to ~0.6 s at 10,000 listings, in the seconds
    after `serve` starts)."""
    with contextlib.suppress(Exception):  # InvalidListings, an unreadable folder…
        load_listings(paths.listings_dir, remembered.listings)
    return not remembered.listings.settled()


def _warm_up(paths: BuildPaths, remembered: RememberedBuild) -> None:
    """Validate the listings (remembered for the first build) and make what every build
    would make first: the build's modules, the MkDocs configurations' Markdown extensions
    (Pygments' lexers alone take ~0.7 s), the page templates of each language, each listing's
    JSON text. Anything wrong here is the build's to report, not this."""
    from mkdocs.commands import build as _mkdocs_build  # noqa: F401
    from mkdocs.config import load_config

    import search.whoosh_engine  # noqa: F401
    import sitegen.plugin  # noqa: F401
    from marketplace.catalog import SITE_LANGUAGES
    from marketplace.model import listing_json
    from sitegen.i18n import environment

    with contextlib.suppress(Exception):  # InvalidListings, an unreadable folder…
        _catalog, loaded = load_listings(paths.listings_dir, remembered.listings)
        for item in loaded:
            listing_json(item.listing)
            listing_json(item.listing, sort_keys=True)
    for config, _site_dir in site_configs(paths):
        with contextlib.suppress(Exception):
            load_config(str(config)).plugins.on_shutdown()
    for language in SITE_LANGUAGES:
        with contextlib.suppress(Exception):
            templates = environment(language)
            for name in templates.list_templates():
                templates.get_template(name)
