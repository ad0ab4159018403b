"""The `marketplace` command line: one entry point for partners, builders and operators."""

from __future__ import annotations

import contextlib
import errno
import importlib
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import click
from click.decorators import FC

from marketplace.catalog import CATALOG_FILE_NAME, CatalogError, load_catalog
from marketplace.problems import FORMATTERS
from marketplace.schema import listing_json_schema
from marketplace.validate import ValidationReport, validate_directory
from marketplace_app.build import (
    BuildFailed,
    BuildPaths,
    RememberedBuild,
    UnsafeSiteDir,
    build,
    inputs_newer_than,
    site_configs,
    site_url_of,
)
from marketplace_app.options import (
    DEFAULT_LISTINGS,
    instance_option,
    listings_dir_option,
    site_dir_option,
)
from marketplace_app.rebuilds import SETTLE_EVERYTHING_EVERY, BuildWorker, run_worker, settle

OPERATOR_COMMANDS = ("config", "db", "tenants", "keys", "partners", "leads", "audit", "mail", "csp")
"""The operator groups `marketplace_app.operators` defines (names of its module attributes)."""


class _LazyGroup(click.Group):
    """A command group whose operator commands are imported only when one of them runs (or
    `--help` lists them): `marketplace validate`, run on every partner's pull request, loads
    none of the backend (Flask, SQLAlchemy) that the operator commands need."""

    lazy: ClassVar[dict[str, str]] = {
        name: "marketplace_app.operators" for name in OPERATOR_COMMANDS
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module = importlib.import_module(self.lazy[cmd_name])
            command: click.Command = getattr(module, cmd_name)
            return command
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        # The last line of defence of "never a traceback" (README: Command line): what the
        # system refuses (a port in use, a full disk, a path that cannot be written) and no
        # command foresaw ends with one line and status 1. A broken pipe stays click's.
        try:
            return super().invoke(ctx)
        except OSError as error:
            if error.errno == errno.EPIPE:
                raise
            reason = error.strerror or str(error)
            where = f"{error.filename}: " if error.filename else ""
            raise click.ClickException(f"{where}{reason}") from None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Partner Marketplace: validate listings, build the site, run the backend.

    Exit status: 0 done; 1 a problem found (invalid listings, a broken audit log, mail that
    failed) or a mistake refused with one `Error:` line; 2 a usage error (an unknown command or
    option, a missing argument, a value of the wrong form)."""


def report_problems(report: ValidationReport, output_format: str) -> None:
    """Print a validation report in `output_format`, plus a one-line summary on stderr."""
    click.echo(FORMATTERS[output_format](report.problems), nl=False)
    if report.ok:
        click.echo(f"{report.files_checked} listing(s) valid.", err=True)
    else:
        files = len({p.file for p in report.problems})
        click.echo(
            f"{len(report.problems)} problem(s) in {files} file(s); "
            f"{report.files_checked} listing(s) checked.",
            err=True,
        )


@main.command()
@click.argument(
    "listings_dir",
    required=False,
    default=DEFAULT_LISTINGS,
    type=click.Path(path_type=Path, file_okay=False),
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(sorted(FORMATTERS)),
    default="text",
    show_default=True,
    help="text: path:line:col: message; github: Actions annotations; json: a list of objects.",
)
@click.option(
    "--changed-by",
    "changed_by",
    metavar="USER",
    help="Also check that the GitHub user USER may make the changes since --base: only "
    "listings (and logos) USER maintains, and new listings that name USER.",
)
@click.option(
    "--base",
    metavar="REF",
    help="The git revision the changes are compared with (with --changed-by), e.g. origin/main.",
)
def validate(
    listings_dir: Path, output_format: str, changed_by: str | None, base: str | None
) -> None:
    """Check every listing in LISTINGS_DIR (default ./listings); exit 1 on any problem."""
    if (changed_by is None) != (base is None):
        raise click.UsageError("--changed-by and --base go together")
    report = validate_directory(listings_dir)
    if changed_by and base:
        from marketplace.ownership import GitError, ownership_problems

        try:
            report.problems.extend(ownership_problems(listings_dir, changed_by, base))
        except GitError as error:
            raise click.ClickException(f"cannot compare with {base}: {error}") from None
    report_problems(report, output_format)
    sys.exit(0 if report.ok else 1)


@main.command()
@listings_dir_option
def schema(listings_dir: Path) -> None:
    """Print the listing JSON Schema (catalog values included) for editors and tools."""
    try:
        catalog = load_catalog(listings_dir / CATALOG_FILE_NAME)
    except CatalogError as error:
        for file, line, column, message in error.problems:
            click.echo(f"{file}:{line}:{column}: {message}", err=True)
        sys.exit(1)
    click.echo(json.dumps(listing_json_schema(catalog), indent=2, ensure_ascii=False))


def _site_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return site_url_of(value)
    except ValueError as error:
        raise click.BadParameter(
            f"{value!r} {error} (from --site-url or MARKETPLACE_SITE_URL)"
        ) from None


def site_url_option(default_help: str) -> Callable[[FC], FC]:
    """`--site-url`, also read from `MARKETPLACE_SITE_URL` (the variable `mkdocs.yml` reads)."""
    return click.option(
        "--site-url",
        envvar="MARKETPLACE_SITE_URL",
        metavar="URL",
        callback=_site_url,
        help="The site's public address, the start of its absolute links (Atom feeds, "
        f"sitemap, canonical links, partners.json). Default: $MARKETPLACE_SITE_URL, {default_help}",
    )


def served_url(host: str, port: int) -> str:
    """The address a browser on this machine reaches `serve --host HOST --port PORT` at: a
    server listening everywhere is shown (and linked) as 127.0.0.1."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    if ":" in shown:  # an IPv6 address goes in brackets
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def _build_or_exit(
    paths: BuildPaths, keep_serving: bool = False, remembered: RememberedBuild | None = None
) -> bool:
    """Build, or say why not and exit 1. With `keep_serving` (`serve`), a failed build over a
    previous good one only warns (and returns False): the site, index and snapshot of that
    build stay in use, so one partner's broken listing never takes the running Marketplace
    down. `remembered`: as for `marketplace_app.build.build`."""
    try:
        report = build(paths, lambda step: click.echo(f"  {step}", err=True), remembered)
    except BuildFailed as failure:
        report_problems(failure.report, "text")
        if keep_serving and paths.snapshot_file.exists():
            click.echo(
                "Build stopped: fix the listings above. Serving the last good build meanwhile.",
                err=True,
            )
            return False
        click.echo("Build stopped: fix the listings above first.", err=True)
        sys.exit(1)
    except UnsafeSiteDir as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"cannot write the build output: {error}") from None
    click.echo(report.describe(), err=True)
    return True


@main.command("build")
@listings_dir_option
@site_dir_option
@instance_option
@site_url_option("else mkdocs.yml's (http://127.0.0.1:8000/).")
def build_command(listings_dir: Path, site_dir: Path, instance: Path, site_url: str | None) -> None:
    """Validate the listings, then write the static site, the search index and the partner
    snapshot the backend reads."""
    paths = BuildPaths(listings_dir, site_dir, instance, site_url=site_url)
    _build_or_exit(paths)
    click.echo(
        f"Site written to {site_dir}/, search index to {instance}/search/, partners to "
        f"{paths.snapshot_file}",
        err=True,
    )


class SourceWatcher:
    """While `serve` runs: notices a change to the listings folder (listings, logos, the
    catalog), the hand-written pages, the translations or the MkDocs configuration, and has
    the build run again (`marketplace_app.rebuilds`), which keeps what did not change
    (unchanged partner and browse pages, the index updated for the changed partners only:
    `marketplace_app.build`) and publishes the new site only once it is whole
    (`marketplace_app.staging`): pages answer throughout.

    Changes are reported by the kernel (inotify, through watchdog, which MkDocs' own `serve`
    uses): polling 10,000 listings' files cost 40-100 ms of CPU per look, a third of a core
    at two looks a second, and held up the requests served meanwhile.

    The build runs in a process of its own that stays (`marketplace_app.rebuilds`), not in
    this one: it forks workers, which a process serving requests on threads must not do. A
    failed build (a broken listing) says why and leaves the last good build in use.
    """

    QUIET_SECONDS = 0.15
    """A build starts once the files have been still this long after at most `FEW_CHANGES`
    change events (an editor saving a listing: 2-7 events within a millisecond); every edit
    waits it, so it is part of every edit's delay."""
    BURST_QUIET_SECONDS = 0.5
    """After more events than that (a `git pull`, a copy of many listings), this long: one
    build, not one per file, and none of a half-written folder. Measured at 10,000 listings
    (`benchmarks.watch_bursts`): `git checkout`, `git merge`, `cp -r` and `rm -r` of 2,000 to
    10,000 listings, 14,000 to 71,000 events whose longest pause was 45-72 ms (git, before
    it writes the files)."""
    FEW_CHANGES = 20

    def __init__(self, paths: BuildPaths) -> None:
        from watchdog.observers import Observer

        self.paths = paths
        self.worker = BuildWorker(paths)
        self._event = threading.Event()
        self._configs = {str(config.resolve()) for config, _ in site_configs(paths)}
        self._observer = Observer()
        self._observer.daemon = True
        self._events = 0
        """Change events since the last change was reported (`changed`)."""
        self.on_change: Callable[[], None] | None = None
        """Called at every change event, in watchdog's thread (`benchmarks.watch_bursts`
        times them)."""

    def observe(self) -> None:
        """Start receiving change events (from now on; an edit before is not seen)."""
        from watchdog import events

        watcher = self
        # Changes only: the kernel is not even asked for opens and reads. A build reads every
        # listing and logo (twice at 10,000 listings: ~60,000 events), which this process
        # then spent a second of CPU turning into events to ignore, beside the build.
        changes: list[type[events.FileSystemEvent]] = [
            events.FileCreatedEvent,
            events.FileModifiedEvent,
            events.FileClosedEvent,  # after a write
            events.FileDeletedEvent,
            events.FileMovedEvent,
            events.DirCreatedEvent,
            events.DirModifiedEvent,
            events.DirDeletedEvent,
            events.DirMovedEvent,
        ]

        class Changed(events.FileSystemEventHandler):
            def __init__(self, only: set[str] | None = None) -> None:
                self.only = only

            def on_any_event(self, event: events.FileSystemEvent) -> None:
                touched = {str(event.src_path), str(getattr(event, "dest_path", "") or "")}
                if self.only is None or touched & self.only:
                    watcher._noted()

        from marketplace.i18n import LOCALE_DIR

        # The translations too: the site's words are in them (the backend reads them at start).
        watched = (
            self.paths.listings_dir,
            self.paths.mkdocs_config.parent / "site_src",
            LOCALE_DIR,
        )
        for folder in watched:
            if folder.is_dir():
                self._observer.schedule(
                    Changed(), str(folder.resolve()), recursive=True, event_filter=changes
                )
        for parent in {str(Path(config).parent) for config in self._configs}:
            self._observer.schedule(
                Changed(self._configs), parent, recursive=False, event_filter=changes
            )
        self._observer.start()

    def _noted(self) -> None:
        self._events += 1  # (one thread counts; `changed` only reads it and starts again)
        self._event.set()
        if self.on_change is not None:
            self.on_change()

    def stop(self) -> None:
        """Stop receiving change events (`serve`'s watching ends with its process; tests and
        `benchmarks.watch_bursts` stop theirs)."""
        self._observer.stop()
        self._observer.join()

    def changed(self, timeout: float = 0) -> bool:
        """True once for each change (or burst of changes) since the last call; waits up to
        `timeout` seconds for one."""
        if not self._event.wait(timeout):
            return False
        while True:  # until the files are still
            self._event.clear()
            few = self._events <= self.FEW_CHANGES
            if not self._event.wait(self.QUIET_SECONDS if few else self.BURST_QUIET_SECONDS):
                self._events = 0
                return True

    def first_build(self) -> bool:
        """Build before serving, in the build process that stays (started now): it then knows
        the listings, and the first edit is built as fast as the next (else that process
        validates every listing again first: ~5 s at 10,000). True when `serve` may go on: the
        build succeeded, or the listings did not validate and the last good build stays (as
        `marketplace build` would, anything else stops `serve`: a site folder refused, a full
        disk). Ctrl+C stops the build too (it runs in a process group of its own)."""
        self.worker.start()
        try:
            built = self.worker.build()
        except KeyboardInterrupt:
            self.worker.kill()
            raise
        if not self.worker.answer:
            click.echo("The build at start did not finish (above).", err=True)
        return built or self.worker.answer.get("kept") is True

    def rebuild(self) -> bool:
        """Build again over the previous output; True when it succeeded."""
        click.echo("A listing or page changed; building again…", err=True)
        return self.worker.build()

    IDLE_SECONDS = 10.0
    """`start`'s `idle` is called after this long without a change."""

    def start(
        self, built: Callable[[], None], idle: Callable[[], None] | None = None
    ) -> threading.Thread:
        """Watch in a daemon thread; `built` is called after each successful build, `idle`
        when nothing changed for `IDLE_SECONDS`. The build process starts now (unless
        `first_build` started it), and gets ready meanwhile."""
        if self.worker.pid is None:
            self.worker.start()

        def watch() -> None:
            while True:
                if self.changed(timeout=self.IDLE_SECONDS):
                    if self.rebuild():
                        built()
                elif idle is not None:
                    idle()

        thread = threading.Thread(target=watch, name="marketplace-watch", daemon=True)
        thread.start()
        return thread


@main.command("build-worker", hidden=True)
@listings_dir_option
@site_dir_option
@instance_option
@site_url_option("else mkdocs.yml's.")
def build_worker(listings_dir: Path, site_dir: Path, instance: Path, site_url: str | None) -> None:
    """`serve --watch`'s build process (`marketplace_app.rebuilds`): builds when asked on its
    input, answers on its output."""
    import os
    import traceback

    paths = BuildPaths(listings_dir, site_dir, instance, site_url=site_url)
    # The answers keep the output; everything the build says goes to the error output.
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    def build_once(remembered: RememberedBuild) -> dict[str, object]:
        try:
            if _build_or_exit(paths, keep_serving=True, remembered=remembered):
                return {"built": True}
            return {"built": False, "kept": True}  # the listings: the last good build stays
        except click.ClickException as error:
            error.show()
        except SystemExit:  # no good build to keep serving: said already
            pass
        except Exception:  # a broken template, say: the next edit may mend it
            click.echo(traceback.format_exc().rstrip(), err=True)
            meanwhile = (
                " Serving the last good build meanwhile." if paths.snapshot_file.exists() else ""
            )
            click.echo(f"Build failed (above).{meanwhile}", err=True)
        return {"built": False}

    # Read unbuffered: the process waits for input with select(), which cannot see lines a
    # buffered reader has already taken in.
    requests = os.fdopen(sys.stdin.fileno(), "rb", buffering=0, closefd=False)
    run_worker(paths, build_once, requests, answers)


@main.command()
@listings_dir_option
@site_dir_option
@instance_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@site_url_option(
    "else the served address (http://HOST:PORT/, 127.0.0.1 for 0.0.0.0). Links in mail "
    "start with it too, unless $MARKETPLACE_BASE_URL says otherwise."
)
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--watch/--no-watch",
    default=True,
    show_default=True,
    help="Build again when a listing, the catalog or a site page changes while serving.",
)
@click.option(
    "--demo",
    is_flag=True,
    help="Also seed a demo tenant, demo partner keys, an invitation and a sign-in link, and "
    "print where to click (what ./start does).",
)
def serve(
    listings_dir: Path,
    site_dir: Path,
    instance: Path,
    host: str,
    port: int,
    site_url: str | None,
    threads: int,
    watch: bool,
    demo: bool,
) -> None:
    """Build what is stale and serve the site, customer pages and APIs in one process; with
    --watch, build again (only what changed) when the listings change."""
    import socket

    import waitress

    try:  # an address this machine cannot listen on is a mistake to say before building
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise click.ClickException(f"cannot listen on --host {host!r}: {error}") from None

    from consent_app import MAX_BODY_BYTES
    from consent_app.backend import backend_of
    from consent_app.partners import load_partner_directory
    from marketplace.snapshot import SnapshotError
    from marketplace_app.operators import configuration, opened
    from marketplace_app.wiring import backend_app, open_search

    # The site's links, and those in mail, point at this server unless the operator says
    # otherwise: this process serves the site and the pages mail links to alike.
    address = served_url(host, port)
    site_url = site_url or address
    settings = configuration(
        instance,
        overrides={"listings_dir": listings_dir, "site_dir": site_dir},
        fallbacks={"base_url": site_url},
    ).settings
    paths = BuildPaths(
        settings.listings_dir, settings.site_dir, settings.instance_dir, site_url=site_url
    )
    watcher = SourceWatcher(paths) if watch else None
    if inputs_newer_than(paths):
        click.echo(
            f"Building the site (for {site_url}), the search index and the partner snapshot:",
            err=True,
        )
        if watcher is None:
            _build_or_exit(paths, keep_serving=True)
        elif not watcher.first_build():
            sys.exit(1)  # the build process said why
    click.echo("Creating or migrating the database…", err=True)
    with opened(settings, migrate=True) as backend:
        if demo:
            from consent_app.demo import describe, prepare_demo

            seeded = prepare_demo(backend)
            backend.deliver_now()
            story = describe(seeded, settings.base_url, settings.mail_dir, bool(settings.smtp_url))
    engine = open_search(settings.instance_dir)
    app = backend_app(settings, engine)
    backend_of(app).start_background()
    # Open the search index now (an index of an older build scores its frequent terms in the
    # background; a current one has them precomputed).
    with contextlib.suppress(FileNotFoundError):
        engine.wait_until_warm(timeout=0)
    settle()  # the index's tables and the partners stay: no full collection walks them
    if watcher is not None:
        # Only now: the first build forks its workers, which must not inherit the watcher's
        # threads (an edit made during that build is picked up by the next change).
        watcher.observe()
        snapshot = settings.partners_snapshot

        reloads = 0  # since everything was last collected (both run in the watcher's thread)

        def reload_partners() -> None:
            nonlocal reloads
            # The site is files the server reads as asked. The searcher would reopen on the
            # new index at the next search, which would wait for it (~0.1 s at 10,000
            # partners): opened now instead. Whatever fails here, that search meets again
            # and answers for; this thread must live on to build the next edit.
            try:
                engine.wait_until_warm(timeout=0)
            except Exception as error:  # said, and left to the next search
                click.echo(f"The new search index did not open: {error}", err=True)
            # The partners come from the snapshot, read once, so read again.
            with contextlib.suppress(SnapshotError):
                backend = backend_of(app)
                backend.directory = load_partner_directory(snapshot, backend.directory)
            settle()
            reloads += 1

        def when_idle() -> None:
            # Not at a reload: the full collection (0.1-0.3 s at 10,000 partners, every
            # request thread held) would delay the first search after that edit.
            nonlocal reloads
            if reloads >= SETTLE_EVERYTHING_EVERY:
                reloads = 0
                settle(everything=True)

        watcher.start(reload_partners, when_idle)
    if demo:
        click.echo(story)
    click.echo(f"Serving the Marketplace at {address} (Ctrl+C to stop)", err=True)
    waitress.serve(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="marketplace",
        # Refused from the Content-Length, before waitress buffers a byte of the body.
        max_request_body_size=MAX_BODY_BYTES,
    )
