"""The consent backend's parts, put together once per app or CLI run.

Views and operator commands reach the database, settings, partner directory and mail through
one `Backend`; `Backend.write()` is the transaction every change goes through, and it starts
mail delivery once a transaction that wrote mail has committed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

from flask import Flask, current_app
from sqlalchemy.orm import Session

from consent_app.db import Database
from consent_app.instance import audit_key
from consent_app.invitations import expire_invitations
from consent_app.mail import MAIL_ENQUEUED
from consent_app.outbox import DeliveryReport, MailWorker, Transport, deliver_pending, transport_for
from consent_app.partners import PartnerDirectory, load_partner_directory
from consent_app.settings import Settings

log = logging.getLogger(__name__)
EXTENSION = "marketplace_backend"
EXPIRY_INTERVAL = 60.0
"""Seconds between two sweeps that mark overdue invitations expired."""


@dataclass
class Backend:
    """Settings, database, partners and mail delivery of one installation."""

    settings: Settings
    database: Database
    directory: PartnerDirectory
    transport: Transport
    _worker: MailWorker | None = field(default=None, repr=False)
    _last_expiry: float = field(default=float("-inf"), repr=False)

    @classmethod
    def open(cls, settings: Settings, directory: PartnerDirectory | None = None) -> Backend:
        """Connect to the database and read the listings."""
        return cls(
            settings=settings,
            database=Database(settings.database_url, audit_key(settings.instance_dir)),
            directory=directory or load_partner_directory(settings.listings_dir),
            transport=transport_for(settings.smtp_url, settings.mail_dir),
        )

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction that changes data; mail it wrote is delivered after the commit."""
        with self.database.write() as session:
            yield session
            wrote_mail = bool(session.info.get(MAIL_ENQUEUED))
        if wrote_mail:
            self.deliver_soon()

    def read(self) -> AbstractContextManager[Session]:
        """A transaction that only reads."""
        return self.database.read()

    def deliver_now(self) -> DeliveryReport:
        """Send what is due in the outbox, in this thread."""
        return deliver_pending(self.database, self.transport)

    def background_round(self) -> DeliveryReport:
        """What the background thread does each round: expire overdue invitations (at most
        once a minute), then deliver due mail."""
        now = time.monotonic()
        if now - self._last_expiry >= EXPIRY_INTERVAL:
            self._last_expiry = now
            with self.write() as session:
                expire_invitations(session)
        return self.deliver_now()

    def start_background(self) -> None:
        """Start the background thread now (the server does, so mail left unsent by a
        previous run goes out without waiting for new mail)."""
        if self._worker is None:
            self._worker = MailWorker(self.background_round)
        self._worker.kick()

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

    def close(self) -> None:
        """Stop mail delivery and close database connections."""
        if self._worker is not None:
            self._worker.stop()
        self.database.dispose()


def backend_of(app: Flask) -> Backend:
    """An app's backend."""
    found: Backend = app.extensions[EXTENSION]
    return found


def backend() -> Backend:
    """The running app's backend (inside a request or app context)."""
    return backend_of(current_app)
