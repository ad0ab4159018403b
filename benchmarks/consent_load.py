"""The consent flow under load, over real HTTP on loopback, then its invariants checked.

    python -m benchmarks.consent_load [--server serve|gunicorn] [--db sqlite|postgresql]
                                      [--concurrency 1,8,32] [--per-client 20] [--smoke]
                                      [--mail-apart]
    python -m benchmarks.consent_load --in-process [--accepts 300] [--profile] [--smoke]

`--in-process` measures the CPU one accept with delegated admin and partner of record costs in
this process (`time.process_time`, the median over `--accepts` decisions): the Flask test
client's POST of the decision form on SQLite, mail delivery excluded (`MARKETPLACE_MAIL_DELIVERY
=off`: the messages are written to the outbox in the decision's transaction, and sent by nobody
while it is measured). `--profile` adds a cProfile of those accepts, by cumulative time.

For each server (`marketplace serve`, i.e. waitress with 16 threads; gunicorn with 4 gthread
workers x 8 threads) and database (SQLite in the instance folder; PostgreSQL from
`MARKETPLACE_TEST_POSTGRESQL_URL`, a fresh schema) and each concurrency level:

1. partners create DA invitations through the API (one tenant each),
2. customers open their link (GET) and accept with delegated admin and partner of record (POST),
3. anonymous visitors search,
4. the floor: a minimal Flask + SQLAlchemy endpoint doing one INSERT per request
   (`benchmarks/floor_app.py`) under the same server and database.

It prints throughput, median and p99 latency and errors per step, then checks: at most one DA
partner per tenant, every accepted invitation has its audit events and its two mails (customer
and partner) delivered, and the audit chains verify. Rate limits are off (one client address
sends everything). The client runs in this process, so it shares the 2 cores with the server.
`--mail-apart` starts the server with `MARKETPLACE_MAIL_DELIVERY=off` and
`marketplace mail send --every 0.2` beside it: the mail is composed and sent by a process of
its own, not by the server's mail thread. Exit status 1 when an invariant fails or a step
completed no request. `--smoke` runs serve + SQLite with 2 clients and 6 requests per step
(after 5 accepts in process), and fails on any error as well (the tests run it, so the
script cannot rot).
"""

from __future__ import annotations

import argparse
import email
import email.policy
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.consent_app.conftest import DA_OFFERS  # partners whose trial may ask for DA
from tests.smtp import free_port

PROJECT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SEARCHES = ["migration", "Teams training", "обучение сотрудников", "secruity", "mail", "devices"]
CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
INVITATION_LINK = re.compile(r"https?://[^/\s]+(/invitations/[A-Za-z0-9_-]+)")


# --- an HTTP client per thread (keep-alive, cookies) ---------------------------------------


class Client:
    """One keep-alive connection, reused by a thread for the requests it sends."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.last_cookies: dict[str, str] = {}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=body, headers=headers or {})
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        self.last_cookies = {}
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.last_cookies[name.strip()] = rest.split(";", 1)[0]
        return response.status, data

    def close(self) -> None:
        self.connection.close()


@dataclass
class Step:
    """Latencies (ms) and errors of one step at one concurrency."""

    name: str
    concurrency: int
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        ordered = sorted(self.latencies) or [0.0]
        p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
        rate = len(self.latencies) / self.seconds if self.seconds else 0.0
        return (
            f"  {self.name:<22} c={self.concurrency:<3} n={len(self.latencies):<5} "
            f"{rate:8.1f} req/s  median {statistics.median(ordered):7.1f} ms  "
            f"p99 {p99:7.1f} ms  errors {self.errors}"
        )

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def run_step(
    step: Step, work: list[Any], action: Callable[[Client, Any, Step], None], port: int
) -> Step:
    """Run `action` over `work` with `step.concurrency` clients in threads."""
    items = iter(work)
    lock = threading.Lock()

    def worker() -> None:
        client = Client(port)
        try:
            while True:
                with lock:
                    item = next(items, None)
                if item is None:
                    return
                action(client, item, step)
        finally:
            client.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(step.concurrency) as pool:
        for future in [pool.submit(worker) for _ in range(step.concurrency)]:
            future.result()
    step.seconds = time.perf_counter() - started
    return step


def timed(step: Step, call: Callable[[], tuple[int, bytes]], ok: tuple[int, ...]) -> bytes:
    started = time.perf_counter()
    try:
        status, body = call()
    except Exception:
        step.errors += 1
        return b""
    step.latencies.append((time.perf_counter() - started) * 1000)
    if status not in ok:
        step.errors += 1
    return body


# --- the installation under test ------------------------------------------------------------


@dataclass
class Installation:
    """A fresh instance folder and database, seeded with tenants and partner keys."""

    root: Path
    url: str
    keys: dict[str, str]
    site: Path

    @property
    def instance(self) -> Path:
        return self.root / "instance"

    def invitation_request(self, number: int, partner: str) -> tuple[bytes, dict[str, str]]:
        """Body and headers of `partner`'s DA trial invitation to tenant number `number`."""
        body = json.dumps(
            {
                "type": "trial",
                "tenant": f"t{number}.example",
                "offer_id": DA_OFFERS[partner],
                "delegated_admin": True,
            }
        ).encode()
        headers = {
            "Authorization": f"Bearer {self.keys[partner]}",
            "Content-Type": "application/json",
        }
        return body, headers

    def environment(self, port: int) -> dict[str, str]:
        return {
            **os.environ,
            "MARKETPLACE_INSTANCE": str(self.instance),
            "MARKETPLACE_LISTINGS": str(PROJECT / "listings"),
            "MARKETPLACE_SITE_DIR": str(self.site),
            "MARKETPLACE_DATABASE_URL": self.url,
            "MARKETPLACE_BASE_URL": f"http://127.0.0.1:{port}/",
            "MARKETPLACE_RATE_LIMITS": "off",
            "MARKETPLACE_SECRET_KEY": "load-test-secret-key-shared-by-every-worker",
        }


@contextmanager
def database_url(kind: str, root: Path) -> Iterator[str]:
    """SQLite in the installation's folder, or a fresh PostgreSQL schema (dropped after)."""
    if kind == "sqlite":
        yield f"sqlite:///{root / 'instance' / 'marketplace.sqlite3'}"
        return
    if not os.environ.get("MARKETPLACE_TEST_POSTGRESQL_URL"):
        raise SystemExit("set MARKETPLACE_TEST_POSTGRESQL_URL for --db postgresql")
    from tests.consent_app.conftest import postgresql_schema

    with postgresql_schema() as url:
        yield url


def seed(root: Path, url: str, tenants: int, site: Path) -> Installation:
    from consent_app.audit import Actor
    from consent_app.backend import Backend
    from consent_app.db import upgrade, utcnow
    from consent_app.partners import issue_key
    from consent_app.tenants import NewTenant, add_tenant
    from marketplace.snapshot import write_snapshot
    from marketplace.validate import load_listings
    from marketplace_app.build import BuildPaths, build_search_index
    from marketplace_app.config import settings_for

    settings = settings_for(root / "instance", database_url=url)  # creates the folder private
    # What a build leaves in the instance folder beside the shared site: the search index
    # (serve would build it itself; gunicorn does not build) and the partner snapshot.
    paths = BuildPaths(PROJECT / "listings", site, settings.instance_dir)
    catalog, loaded = load_listings(paths.listings_dir)
    build_search_index(paths, (catalog, loaded))
    write_snapshot(paths.snapshot_file, catalog, [item.listing for item in loaded])
    backend = Backend.open(settings)
    upgrade(backend.database)
    operator = Actor("operator", "benchmark")
    with backend.write() as session:
        keys = {
            slug: issue_key(session, backend.directory, slug, operator).secret for slug in DA_OFFERS
        }
        now = utcnow()
        for number in range(tenants):
            tenant = NewTenant(f"t{number}.example", f"T{number}", (f"admin@t{number}.example",))
            add_tenant(session, tenant, operator, now)
    backend.close()
    return Installation(root, url, keys, site)


def stop_group(process: subprocess.Popen[Any], stop: signal.Signals) -> None:
    """Send `stop` to the process group `process` leads; SIGKILL it after 30 s."""
    os.killpg(process.pid, stop)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


@contextmanager
def server(kind: str, target: str, environment: dict[str, str], port: int) -> Iterator[None]:
    """Start `target` (the backend or the floor app) under `kind`; stop it afterwards."""
    if kind == "gunicorn":
        # The floor gets the deploy config's workers and threads but not the config itself:
        # its post_fork starts the backend's mail thread, which would load the backend app.
        config = ["-c", str(PROJECT / "deploy" / "gunicorn.conf.py")]
        if target.startswith("benchmarks.floor_app"):
            config = ["--worker-class", "gthread", "--workers", "4", "--threads", "8"]
            config += ["--bind", f"127.0.0.1:{port}"]
        command = [str(BIN / "gunicorn"), *config, "--access-logfile", "/dev/null", target]
        environment = {
            **environment,
            "MARKETPLACE_BIND": f"127.0.0.1:{port}",
            "MARKETPLACE_WORKERS": "4",
            "MARKETPLACE_THREADS": "8",
        }
    elif target == "marketplace_app.wsgi:app":
        command = [
            str(BIN / "marketplace"),
            "serve",
            "--port",
            str(port),
            "--threads",
            "16",
            "--instance",
            environment["MARKETPLACE_INSTANCE"],
            "--site-dir",
            environment["MARKETPLACE_SITE_DIR"],
        ]
    else:
        module, _, name = target.partition(":")
        command = [
            sys.executable,
            "-c",
            f"import waitress, {module} as m; waitress.serve(m.{name}, host='127.0.0.1', "
            f"port={port}, threads=16, _quiet=True)",
        ]
    # The server's output goes to a file: a pipe nobody reads fills up and blocks the server.
    log = tempfile.NamedTemporaryFile(prefix=f"{kind}-", suffix=".log", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        command,
        cwd=PROJECT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    probe = "/insert" if target.startswith("benchmarks.floor_app") else "/healthz"
    deadline = time.monotonic() + 60
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", probe)
            connection.getresponse().read()
            connection.close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                output = Path(log.name).read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{kind} did not start: {output}") from None
            time.sleep(0.2)
    try:
        yield
    finally:
        stop_group(process, signal.SIGTERM)
        log.close()
        Path(log.name).unlink(missing_ok=True)


# --- the steps --------------------------------------------------------------------------------


def create(installation: Installation) -> Callable[[Client, Any, Step], None]:
    def action(client: Client, item: tuple[int, str], step: Step) -> None:
        body, headers = installation.invitation_request(*item)
        timed(step, lambda: client.request("POST", "/api/v1/invitations", body, headers), (201,))

    return action


Visit = dict[str, str]
"""What a customer's browser keeps between opening the page and submitting it."""


def open_page(visits: dict[str, Visit]) -> Callable[[Client, str, Step], None]:
    def action(client: Client, link: str, step: Step) -> None:
        body = timed(step, lambda: client.request("GET", link), (200,))
        found = CSRF_FIELD.search(body.decode("utf-8", "replace"))
        cookie = "; ".join(f"{k}={v}" for k, v in client.last_cookies.items())
        visits[link] = {"cookie": cookie, "csrf": found.group(1) if found else ""}

    return action


def accept(visits: dict[str, Visit]) -> Callable[[Client, str, Step], None]:
    def action(client: Client, link: str, step: Step) -> None:
        visit = visits[link]
        form = (
            f"csrf_token={visit['csrf']}&decision=accept&authorize_delegated_admin=y"
            "&make_partner_of_record=y"
        ).encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": visit["cookie"],
        }
        timed(step, lambda: client.request("POST", link, form, headers), (200,))

    return action


def wait_for_links(
    installation: Installation, numbers: list[int], timeout: float = 120
) -> dict[int, str]:
    """Invitation links from the delivered .eml files, by tenant number."""
    folder = installation.instance / "mail"
    wanted = {f"admin@t{n}.example": n for n in numbers}
    found: dict[int, str] = {}
    seen: set[Path] = set()
    deadline = time.monotonic() + timeout
    while len(found) < len(wanted) and time.monotonic() < deadline:
        for path in folder.glob("*.eml") if folder.exists() else []:
            if path in seen:
                continue
            seen.add(path)
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            number = wanted.get(str(message["To"]))
            body = message.get_body(("plain",))
            link = INVITATION_LINK.search(body.get_content()) if body else None
            if number is not None and link:
                found[number] = link.group(1)
        time.sleep(0.2)
    return found


def search(client: Client, query: str, step: Step) -> None:
    from urllib.parse import urlencode

    path = "/api/v1/search?" + urlencode({"q": query, "per_page": 10})
    timed(step, lambda: client.request("GET", path), (200,))


def floor_insert(client: Client, _: int, step: Step) -> None:
    timed(step, lambda: client.request("POST", "/insert", b""), (201,))


# --- invariants --------------------------------------------------------------------------------


ACCEPTED_EVENTS = frozenset(
    {
        "invitation.created",
        "invitation.accepted",
        "delegated_admin.granted",
        "partner_of_record.set",
    }
)
"""The audit events of every invitation accepted with delegated admin and partner of record."""


def events_by_invitation(session: Any) -> dict[str, set[str]]:
    """The audit actions recorded for each invitation."""
    from sqlalchemy import select

    from consent_app.models import AuditEvent

    events: dict[str, set[str]] = {}
    query = select(AuditEvent.invitation_id, AuditEvent.action).where(
        AuditEvent.invitation_id.is_not(None)
    )
    for invitation_id, action in session.execute(query):
        events.setdefault(invitation_id, set()).add(action)
    return events


def check_invariants(installation: Installation) -> list[str]:
    """Every violation found (an empty list when all hold)."""
    from sqlalchemy import func, select

    from consent_app.audit import verify
    from consent_app.db import Database
    from consent_app.instance import audit_key
    from consent_app.models import (
        DelegatedAdminGrant,
        Invitation,
        OutboxMessage,
        PartnerOfRecord,
    )

    database = Database(installation.url, audit_key(installation.instance))
    problems = []
    with database.read() as session:
        for model in (DelegatedAdminGrant, PartnerOfRecord):
            doubled = session.execute(
                select(model.tenant_id)
                .where(model.ended_at.is_(None))
                .group_by(model.tenant_id)
                .having(func.count() > 1)
            ).all()
            if doubled:
                problems.append(f"{len(doubled)} tenants with two active {model.__tablename__}")
        accepted = (
            session.execute(select(Invitation).where(Invitation.state == "accepted"))
            .scalars()
            .all()
        )
        events = events_by_invitation(session)
        grants = set(session.execute(select(DelegatedAdminGrant.invitation_id)).scalars())
        for invitation in accepted:
            if not events.get(invitation.id, set()) >= ACCEPTED_EVENTS:
                problems.append(f"{invitation.id}: audit events missing")
            if invitation.id not in grants:
                problems.append(f"{invitation.id}: accepted with DA but no grant")
        unsent = session.execute(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.sent_at.is_(None))
        ).scalar_one()
        if unsent:
            problems.append(f"{unsent} messages still in the outbox")
        decision_mails = session.execute(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.subject.like("You accepted%")
                | OutboxMessage.subject.like("%accepted invitation%")
            )
        ).scalar_one()
        if decision_mails != 2 * len(accepted):
            problems.append(f"{decision_mails} decision mails for {len(accepted)} acceptances")
        report = verify(session)
        problems.extend(report.problems[:10])
    files = len(list((installation.instance / "mail").glob("*.eml")))
    with database.read() as session:
        sent = session.execute(select(func.count(OutboxMessage.id))).scalar_one()
    if files != sent:
        problems.append(f"{sent} messages sent but {files} .eml files")
    database.dispose()
    return problems


def wait_for_outbox(installation: Installation, timeout: float = 120) -> None:
    from sqlalchemy import func, select

    from consent_app.db import Database
    from consent_app.models import OutboxMessage

    database = Database(installation.url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with database.read() as session:
            unsent = session.execute(
                select(func.count(OutboxMessage.id)).where(OutboxMessage.sent_at.is_(None))
            ).scalar_one()
        if not unsent:
            break
        time.sleep(0.5)
    database.dispose()


# --- one configuration ------------------------------------------------------------------------


@contextmanager
def mail_sender(environment: dict[str, str], apart: bool) -> Iterator[dict[str, str]]:
    """With `apart`, the server's environment with mail delivery off, and meanwhile
    `marketplace mail send --every` delivering in a process of its own; else as it is."""
    if not apart:
        yield environment
        return
    environment = {**environment, "MARKETPLACE_MAIL_DELIVERY": "off"}
    process = subprocess.Popen(
        [str(BIN / "marketplace"), "mail", "send", "--every", "0.2"],
        cwd=PROJECT,
        env=environment,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield environment
    finally:
        stop_group(process, signal.SIGINT)


def run(
    server_kind: str,
    db_kind: str,
    levels: list[int],
    per_client: int,
    site: Path,
    at_least: int = 40,
    mail_apart: bool = False,
) -> tuple[list[Step], list[str]]:
    """Every step's figures and every problem found, for one server and database."""
    steps: list[Step] = []
    plans = []
    first = 0
    for level in levels:
        count = max(per_client * level, at_least)
        plans.append((level, list(range(first, first + count))))
        first += count
    root = Path(tempfile.mkdtemp(prefix=f"load-{server_kind}-{db_kind}-"))
    try:
        with database_url(db_kind, root) as url:
            installation = seed(root, url, first, site)
            port = free_port()
            partners = list(DA_OFFERS)
            with (
                mail_sender(installation.environment(port), mail_apart) as environment,
                server(server_kind, "marketplace_app.wsgi:app", environment, port),
            ):
                for level, numbers in plans:
                    work = [(n, partners[n % len(partners)]) for n in numbers]
                    steps.append(
                        run_step(Step("create invitation", level), work, create(installation), port)
                    )
                    links = wait_for_links(installation, numbers)
                    targets = [links[n] for n in numbers if n in links]
                    visits: dict[str, Visit] = {}
                    steps.append(
                        run_step(
                            Step("open invitation page", level), targets, open_page(visits), port
                        )
                    )
                    steps.append(
                        run_step(Step("accept (DA + POR)", level), targets, accept(visits), port)
                    )
                    queries = [SEARCHES[i % len(SEARCHES)] for i in range(len(numbers))]
                    steps.append(run_step(Step("search", level), queries, search, port))
                wait_for_outbox(installation)
            problems = check_invariants(installation)
            floor_url = url
            if db_kind == "sqlite":
                floor_url = f"sqlite:///{root / 'floor.sqlite3'}"
            from benchmarks.floor_app import prepare

            prepare(floor_url)
            floor_env = {**os.environ, "MARKETPLACE_DATABASE_URL": floor_url}
            port = free_port()
            with server(server_kind, "benchmarks.floor_app:app", floor_env, port):
                for level, numbers in plans:
                    steps.append(
                        run_step(Step("floor: one INSERT", level), numbers, floor_insert, port)
                    )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{server_kind} + {db_kind}:")
    for step in steps:
        print(step.line())
    for level in levels:
        accept_rate = next(
            s.throughput for s in steps if s.name.startswith("accept") and s.concurrency == level
        )
        floor_rate = next(
            s.throughput for s in steps if s.name.startswith("floor") and s.concurrency == level
        )
        share = f"{accept_rate / floor_rate:.0%}" if floor_rate else "-"
        print(f"  c={level}: accept decisions at {share} of the floor's throughput")
    print("  invariants: " + ("all hold" if not problems else "; ".join(problems)))
    idle = [f"{s.name} at c={s.concurrency}: nothing completed" for s in steps if not s.latencies]
    return steps, problems + idle


# --- one accept in process ----------------------------------------------------------------------


@dataclass(frozen=True)
class InProcess:
    """CPU milliseconds of each accept, and the profile when one was taken."""

    cpu_ms: list[float]
    profile: str = ""
    delivery_ms: float = 0.0  # CPU per accept of delivering its mails afterwards

    def lines(self) -> list[str]:
        ordered = sorted(self.cpu_ms)
        p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
        return [
            f"in process (SQLite, Flask test client, mail delivery off): "
            f"{len(ordered)} accepts with DA + POR",
            f"  CPU per accept: median {statistics.median(ordered):.2f} ms, "
            f"p90 {p90:.2f} ms, min {ordered[0]:.2f} ms",
            f"  then delivering their mail (composed at delivery, .eml files): "
            f"{self.delivery_ms:.2f} ms CPU per accept",
        ]


def measure_in_process(accepts: int, profile: bool = False) -> InProcess:
    """CPU time of `accepts` decisions, each the POST of one invitation's page (accept, DA,
    POR) through the Flask test client on a fresh SQLite installation. Creating the
    invitations, delivering their mail and opening each page happen before, unmeasured."""
    import cProfile
    import io
    import pstats

    from consent_app.backend import backend_of
    from tests.consent_app.conftest import Marketplace, csrf_token, make_app

    root = Path(tempfile.mkdtemp(prefix="accept-cpu-"))
    app = make_app(
        root,
        f"sqlite:///{root / 'instance' / 'marketplace.sqlite3'}",
        MARKETPLACE_MAIL_DELIVERY="off",
        MARKETPLACE_RATE_LIMITS="off",
    )
    market = Marketplace(app)
    backend = backend_of(app)
    try:
        partners = list(DA_OFFERS)
        keys = {slug: market.key(slug) for slug in partners}
        for number in range(accepts):
            domain, admin = f"t{number}.example", f"admin@t{number}.example"
            market.add_tenant(domain, f"T{number}", (admin,))
            partner = partners[number % len(partners)]
            created = market.invite(
                keys[partner], tenant=domain, offer_id=DA_OFFERS[partner], delegated_admin=True
            )
            assert created.status_code == 201, created.get_data(as_text=True)
        while backend.deliver_now().sent:
            pass
        links = {}  # each tenant's one invitation link (`market.link` reads every mail a call)
        for mail in market.mails():
            links.update((mail.to, link) for link in mail.links() if link.startswith("/inv"))
        forms = []
        for number in range(accepts):
            client = app.test_client()
            link = links[f"admin@t{number}.example"]
            page = client.get(link)
            form = {
                "csrf_token": csrf_token(page.get_data(as_text=True)),
                "decision": "accept",
                "authorize_delegated_admin": "y",
                "make_partner_of_record": "y",
            }
            forms.append((client, link, form))
        # CPU time, like the figures: a wall-clock profile would count the fsync of each commit.
        profiler = cProfile.Profile(time.process_time) if profile else None
        cpu_ms = []
        for client, link, form in forms:
            started = time.process_time()
            if profiler:
                profiler.enable()
            response = client.post(link, data=form)
            if profiler:
                profiler.disable()
            cpu_ms.append((time.process_time() - started) * 1000)
            assert response.status_code == 200, response.get_data(as_text=True)[:2000]
        # Then the delivery the accepts left (measured apart: a server does it in its mail
        # thread, so over HTTP it shares the CPU with the decisions).
        started = time.process_time()
        while backend.deliver_now().sent:
            pass
        delivery_ms = (time.process_time() - started) * 1000 / len(forms)
        text = ""
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(60)
            text = out.getvalue()
        return InProcess(cpu_ms, text, delivery_ms)
    finally:
        backend.close()
        shutil.rmtree(root, ignore_errors=True)


def build_site(root: Path) -> Path:
    from marketplace_app.build import BuildPaths, build

    site = root / "site"
    build(BuildPaths(PROJECT / "listings", site, root / "instance"))
    return site


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", choices=["serve", "gunicorn", "both"], default="both")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--per-client", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="serve + SQLite, 6 requests per step")
    parser.add_argument(
        "--mail-apart",
        action="store_true",
        help="the server with MARKETPLACE_MAIL_DELIVERY=off, `marketplace mail send --every` "
        "delivering beside it",
    )
    parser.add_argument(
        "--in-process", action="store_true", help="CPU per accept in this process, then stop"
    )
    parser.add_argument("--accepts", type=int, default=300, help="accepts measured in process")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process accepts")
    args = parser.parse_args()
    if args.in_process or args.smoke:  # the smoke run measures 5 accepts, then the load
        measured = measure_in_process(5 if args.smoke else args.accepts, args.profile)
        print("\n".join(measured.lines()))
        if measured.profile:
            print(measured.profile)
        if args.in_process:
            return
    levels = [int(x) for x in args.concurrency.split(",")]
    servers = ["serve", "gunicorn"] if args.server == "both" else [args.server]
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    per_client, at_least = args.per_client, 40
    if args.smoke:
        servers, dbs, levels, per_client, at_least = ["serve"], ["sqlite"], [2], 3, 0
    problems: list[str] = []
    shared = Path(tempfile.mkdtemp(prefix="load-site-"))
    try:
        site = build_site(shared)
        for server_kind in servers:
            for db_kind in dbs:
                steps, found = run(
                    server_kind, db_kind, levels, per_client, site, at_least, args.mail_apart
                )
                problems += found
                if args.smoke:
                    problems += [f"{s.name}: {s.errors} errors" for s in steps if s.errors]
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    if problems:
        sys.exit("failed: " + "; ".join(problems))


if __name__ == "__main__":
    main()
