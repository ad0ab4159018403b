"""The consent backend's parts, put together once per app or CLI run.

Views and operator commands reach the database, settings, partner directory and mail through
one `Backend`; `Backend.write()` is the transaction every change goes through, and it starts
mail delivery once a transaction that wrote mail has committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from flask import Flask, current_app
from sqlalchemy.orm import Session

from consent_app.db import CLOCK, Database, utcnow
from consent_app.grant_sweep import sweep_delegated_admin
from consent_app.invitations import expire_invitations
from consent_app.mail import MAIL_ENQUEUED
from consent_app.outbox import DeliveryReport, MailWorker, Transport, deliver_pending, transport_for
from consent_app.partners import PartnerDirectory, load_partner_directory
from consent_app.refusals import ConcurrentChange
from consent_app.settings import Settings
from consent_app.webhook_delivery import deliver_webhooks
from consent_app.webhooks import WEBHOOKS_ENQUEUED
from consent_app.work import ATTEMPTS, Clock, UnitOfWork, lost_a_race

log = logging.getLogger(__name__)
T = TypeVar("T")
EXTENSION = "marketplace_backend"
EXPIRY_INTERVAL = 60.0
"""Seconds between two sweeps that record expired invitations in the audit log."""


@dataclass
class Backend:
    """Settings, database, partners and mail delivery of one installation."""

    settings: Settings
    database: Database
    transport: Transport
    clock: Clock = utcnow
    _directory: PartnerDirectory | None = field(default=None, repr=False)
    _worker: MailWorker | None = field(default=None, repr=False)
    _webhook_worker: MailWorker | None = field(default=None, repr=False)
    _last_expiry: float = field(default=float("-inf"), repr=False)

    @classmethod
    def open(cls, settings: Settings, directory: PartnerDirectory | None = None) -> Backend:
        """Connect to the database; partners come from `directory`, else from the partner
        snapshot when first asked for (so commands that need none run without one)."""
        return cls(
            settings=settings,
            database=Database(
                settings.database_url, settings.audit_key.get_secret_value().encode("utf-8")
            ),
            transport=transport_for(settings.smtp_url, settings.mail_dir),
            _directory=directory,
        )

    @property
    def directory(self) -> PartnerDirectory:
        """The listed partners, read from the snapshot `marketplace build` wrote on first use
        (`SnapshotMissing` when there is none yet)."""
        if self._directory is None:
            self._directory = load_partner_directory(self.settings.partners_snapshot)
        return self._directory

    @directory.setter
    def directory(self, directory: PartnerDirectory) -> None:
        self._directory = directory

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction that changes data; mail it wrote is delivered after the commit."""
        with self.database.write() as session:
            session.info[CLOCK] = self.clock
            yield session
            wrote_mail = bool(session.info.get(MAIL_ENQUEUED))
            wrote_webhooks = bool(session.info.get(WEBHOOKS_ENQUEUED))
        if wrote_mail:
            self.deliver_soon()
        if wrote_webhooks:
            self.deliver_webhooks_soon()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A transaction that only reads."""
        with self.database.read() as session:
            session.info[CLOCK] = self.clock
            yield session

    @contextmanager
    def reading(self) -> Iterator[UnitOfWork]:
        """A unit of work that only reads (what a page shows)."""
        with self.read() as session:
            yield UnitOfWork(session, self.settings, self.directory, self.clock)

    def run(self, work: Callable[[UnitOfWork], T]) -> T:
        """Do `work` in one transaction (`write`), all or nothing. A transaction that lost a
        race (`consent_app.work.lost_a_race`) is rolled back and `work` runs again from the
        start, up to `ATTEMPTS` times; then `ConcurrentChange`. Refusals pass through."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with self.write() as session:
                    return work(UnitOfWork(session, self.settings, self.directory, self.clock))
            except Exception as error:
                if not lost_a_race(error):
                    raise
                log.info("a transaction lost a race (attempt %d): %s", attempt, error)
        log.warning("a transaction lost its race %d times; the caller is asked to retry", ATTEMPTS)
        raise ConcurrentChange(
            "Something changed at the same moment, again and again. Nothing was applied: "
            "look at the page again and retry."
        )

    def deliver_now(self) -> DeliveryReport:
        """Send what is due in the outbox, in this thread."""
        return deliver_pending(
            self.database,
            self.transport,
            lease=self.settings.mail_lease,
            retry_after=self.settings.mail_retry_after,
            settings=self.settings,
        )

    def background_round(self) -> DeliveryReport:
        """What the background thread does each round: record expired invitations and ended
        grants in the audit log (at most once a minute), then deliver due mail, unless
        delivery is `off` here (another process sends it: `marketplace mail send --every`)."""
        now = time.monotonic()
        if now - self._last_expiry >= EXPIRY_INTERVAL:
            self._last_expiry = now
            self.run(expire_invitations)
            self.run(sweep_delegated_admin)
        if self.settings.mail_delivery == "off":
            return DeliveryReport(0, 0, 0)
        return self.deliver_now()

    def start_background(self) -> None:
        """Start the background thread now (the server does, so mail left unsent by a
        previous run goes out without waiting for new mail). With delivery `off` it only
        records expiries; neither mail nor webhooks are sent from this process."""
        if self._worker is None:
            self._worker = MailWorker(self.background_round)
        self._worker.kick()
        if self.settings.mail_delivery != "off":
            self.start_webhook_delivery()

    def deliver_soon(self) -> None:
        """Start delivery as the settings say: a background thread, right here, or not at all."""
        mode = self.settings.mail_delivery
        if mode == "inline":
            try:
                self.deliver_now()
            except Exception:  # the messages stay in the outbox and are retried
                log.exception("inline mail delivery failed")
        elif mode == "background":
            self.start_background()

    def deliver_webhooks_now(self, *, every_due: bool = False) -> DeliveryReport:
        """Send the webhook deliveries that are due, in this thread: one batch, or batches
        until none is due (`every_due`)."""
        report = deliver_webhooks(self.database, self.settings, clock=self.clock)
        while every_due and report.sent + report.failed + report.undeliverable:
            more = deliver_webhooks(self.database, self.settings, clock=self.clock)
            if not more.sent + more.failed + more.undeliverable:
                break
            report = DeliveryReport(
                report.sent + more.sent,
                report.failed + more.failed,
                report.undeliverable + more.undeliverable,
            )
        return report

    def start_webhook_delivery(self) -> None:
        """Deliver webhooks from a thread of this process, whatever `mail_delivery` says (the
        settings' callers check it; `marketplace mail send --every`, the delivery process
        beside servers that send nothing, does not)."""
        # A thread of its own: a slow partner endpoint must not hold up the mail.
        if self._webhook_worker is None:
            self._webhook_worker = MailWorker(self.deliver_webhooks_now)
        self._webhook_worker.kick()

    def deliver_webhooks_soon(self) -> None:
        """Start webhook delivery as `MARKETPLACE_MAIL_DELIVERY` says for mail."""
        mode = self.settings.mail_delivery
        if mode == "inline":
            try:
                self.deliver_webhooks_now()
            except Exception:  # the deliveries stay and are retried
                log.exception("inline webhook delivery failed")
        elif mode == "background":
            self.start_webhook_delivery()

    def close(self) -> None:
        """Stop mail and webhook delivery and close database connections."""
        if self._worker is not None:
            self._worker.stop()
        if self._webhook_worker is not None:
            self._webhook_worker.stop()
        self.database.dispose()


def backend_of(app: Flask) -> Backend:
    """An app's backend."""
    found: Backend = app.extensions[EXTENSION]
    return found


def backend() -> Backend:
    """The running app's backend (inside a request or app context)."""
    return backend_of(current_app)
