"""Faults during a load run: the server is killed (SIGKILL) at random moments and restarted,
and the SMTP server is down for a while; afterwards nothing may be half-applied or lost.

    python -m benchmarks.consent_faults [--db sqlite|postgresql] [--seconds 40] [--kills 4]
                                        [--clients 8] [--seed 1]

Clients keep creating DA invitations through the partner API, reading the link from the mail
the SMTP server (aiosmtpd, in this process) received, opening it and accepting with DA and POR.
Meanwhile the server process group gets SIGKILL at random times and is started again, and the
SMTP server is stopped for a few seconds once. Then the run stops, the outbox is left to
drain, and the report checks:

- every invitation is either pending, or accepted with everything that belongs to it
  (its DA grant, its audit events, its two confirmation mails): nothing half-accepted;
- every audit chain verifies; SQLite's integrity check passes;
- every message in the outbox reached the SMTP server; a message id received twice is
  counted (a kill between "sent" and "marked sent" re-sends it; receivers recognise the
  repeat by its Message-ID).

Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from benchmarks.consent_load import (
    ACCEPTED_EVENTS,
    BIN,
    CSRF_FIELD,
    DA_OFFERS,
    INVITATION_LINK,
    Client,
    Installation,
    database_url,
    events_by_invitation,
    seed,
    wait_for_outbox,
)
from tests.smtp import Received, free_port


class Server:
    """`marketplace serve` as a process group that can be killed and started again."""

    def __init__(self, installation: Installation, port: int, smtp_url: str) -> None:
        self.environment = {
            **installation.environment(port),
            "MARKETPLACE_SMTP_URL": smtp_url,
            "MARKETPLACE_MAIL_LEASE_SECONDS": "5",
            "MARKETPLACE_MAIL_RETRY_SECONDS": "1",
        }
        self.installation = installation
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(BIN / "marketplace"),
                "serve",
                "--port",
                str(self.port),
                "--threads",
                "16",
                "--instance",
                str(self.installation.instance),
                "--site-dir",
                str(self.installation.site),
            ],
            env=self.environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.starts += 1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status, _ = Client(self.port).request("GET", "/healthz")
                if status == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the server did not come back")

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)


def link_for(received: Received, admin: str) -> str | None:
    with received.lock:
        messages = list(received.messages)
    for recipients, message in reversed(messages):
        if admin in recipients:
            payload = message.get_payload(decode=True)
            found = INVITATION_LINK.search(payload.decode("utf-8", "replace") if payload else "")
            if found:
                return found.group(1)
    return None


def customer_journey(
    port: int, installation: Installation, received: Received, number: int, outcome: Counter[str]
) -> None:
    """Create an invitation, wait for its mail, open it, accept it; errors are expected while
    the server is down, and the journey retries each step."""
    partner = list(DA_OFFERS)[number % len(DA_OFFERS)]
    admin = f"admin@t{number}.example"
    body, headers = installation.invitation_request(number, partner)
    client = Client(port)
    deadline = time.monotonic() + 120
    link = None
    created = False
    while time.monotonic() < deadline:
        try:
            if not created:
                status, _ = client.request("POST", "/api/v1/invitations", body, headers)
                created = status == 201
                if not created:
                    outcome[f"create {status}"] += 1
                    time.sleep(0.2)
                    continue
            link = link or link_for(received, admin)
            if link is None:
                time.sleep(0.2)
                continue
            status, page = client.request("GET", link)
            if status == 410:
                outcome["already decided"] += 1
                return
            token = CSRF_FIELD.search(page.decode("utf-8", "replace"))
            if status != 200 or not token:
                time.sleep(0.2)
                continue
            form = (
                f"csrf_token={token.group(1)}&decision=accept&authorize_delegated_admin=y"
                "&make_partner_of_record=y"
            ).encode()
            cookie = "; ".join(f"{k}={v}" for k, v in client.last_cookies.items())
            status, _ = client.request(
                "POST",
                link,
                form,
                {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
            )
            if status in (200, 410):
                outcome["accepted" if status == 200 else "already decided"] += 1
                return
        except OSError:
            outcome["connection error (server down)"] += 1
            client.close()
            client = Client(port)
            time.sleep(0.2)
    outcome["gave up"] += 1


def check(installation: Installation, received: Received) -> list[str]:
    from sqlalchemy import func, select, text

    from consent_app.audit import verify
    from consent_app.db import Database
    from consent_app.instance import audit_key
    from consent_app.models import DelegatedAdminGrant, Invitation, OutboxMessage

    problems: list[str] = []
    database = Database(installation.url, audit_key(installation.instance))
    with database.read() as session:
        if database.is_sqlite:
            integrity = session.execute(text("PRAGMA integrity_check")).scalar_one()
            if integrity != "ok":
                problems.append(f"SQLite integrity check: {integrity}")
        events = events_by_invitation(session)
        grants = Counter(session.execute(select(DelegatedAdminGrant.invitation_id)).scalars())
        states = Counter()
        for invitation in session.execute(select(Invitation)).scalars():
            states[invitation.state] += 1
            have = events.get(invitation.id, set())
            if invitation.state == "accepted":
                if (
                    not have >= ACCEPTED_EVENTS
                    or grants[invitation.id] != 1
                    or not invitation.delegated_admin_granted
                ):
                    problems.append(f"{invitation.id}: accepted but incomplete")
            elif invitation.state == "pending" and (
                have - {"invitation.created"} or grants[invitation.id]
            ):
                problems.append(f"{invitation.id}: pending but partly applied")
            if "invitation.created" not in have:
                problems.append(f"{invitation.id}: no creation event")
        report = verify(session)
        problems.extend(report.problems[:10])
        messages = dict(
            session.execute(select(OutboxMessage.message_id, OutboxMessage.sent_at)).all()
        )
        unsent = [m for m, sent in messages.items() if sent is None]
        decision_mails = session.execute(
            select(func.count(OutboxMessage.id)).where(
                OutboxMessage.subject.like("You accepted%")
                | OutboxMessage.subject.like("%accepted invitation%")
            )
        ).scalar_one()
    database.dispose()
    if unsent:
        problems.append(f"{len(unsent)} messages never left the outbox")
    if decision_mails != 2 * states["accepted"]:
        problems.append(f"{decision_mails} confirmation mails for {states['accepted']} acceptances")
    got = Counter(received.message_ids())
    missing = set(messages) - set(got)
    if missing:
        problems.append(f"{len(missing)} outbox messages never reached the SMTP server")
    print(f"  invitations: {dict(states)}; audit: {report.events} events in {report.chains} chains")
    repeats = sum(count - 1 for count in got.values() if count > 1)
    print(
        f"  outbox: {len(messages)} messages; SMTP received {sum(got.values())} "
        f"({len(got)} distinct Message-IDs, {repeats} repeated after a kill)"
    )
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="faults-"))
    smtp_port = free_port()
    outcome: Counter[str] = Counter()
    try:
        from benchmarks.consent_load import build_site

        site = build_site(root / "build")
        with database_url(args.db, root) as url:
            installation = seed(root, url, 5000, site)
            port = free_port()
            received = Received()
            smtp = _Smtp(smtp_port, received)
            smtp.start()
            server = Server(installation, port, f"smtp://127.0.0.1:{smtp_port}")
            server.start()
            stop = threading.Event()
            numbers = iter(range(5000))
            lock = threading.Lock()

            def client_loop() -> None:
                while not stop.is_set():
                    with lock:
                        number = next(numbers)
                    customer_journey(port, installation, received, number, outcome)

            threads = [threading.Thread(target=client_loop) for _ in range(args.clients)]
            for thread in threads:
                thread.start()
            started = time.monotonic()
            kill_times = sorted(rng.uniform(2, args.seconds - 4) for _ in range(args.kills))
            outage_at = rng.uniform(3, args.seconds - 10)
            events = [(t, "kill") for t in kill_times] + [(outage_at, "smtp down")]
            for moment, what in sorted(events):
                time.sleep(max(0.0, moment - (time.monotonic() - started)))
                if what == "kill":
                    server.kill()
                    print(f"  {moment:5.1f} s: SIGKILL to the server; restarting")
                    server.start()
                else:
                    smtp.stop()
                    print(f"  {moment:5.1f} s: SMTP server down for 6 s")
                    threading.Timer(6, smtp.start).start()
            time.sleep(max(0.0, args.seconds - (time.monotonic() - started)))
            stop.set()
            for thread in threads:
                thread.join()
            print(f"  clients: {dict(outcome)}")
            wait_for_outbox(installation, timeout=90)
            server.stop()
            problems = check(installation, received)
            smtp.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("  result: " + ("every check passed" if not problems else "; ".join(problems)))
    sys.exit(1 if problems else 0)


class _Smtp:
    """The SMTP server on a fixed port, which can be stopped and started again."""

    def __init__(self, port: int, received: Received) -> None:
        self.port, self.received = port, received
        self._context = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self._context = Controller(self.received, hostname="127.0.0.1", port=self.port)
        self._context.start()

    def stop(self) -> None:
        if self._context is not None:
            self._context.stop()
            self._context = None


if __name__ == "__main__":
    main()
