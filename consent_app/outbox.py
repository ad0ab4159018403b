"""Delivering the outbox: by SMTP when `MARKETPLACE_SMTP_URL` is set, else as .eml files.

A message is claimed for a short lease before it is sent, so several workers (threads or
processes) never send the same message at once; a failed send is retried later with a growing
delay and is never dropped. If a worker dies between sending and marking a message sent, the
lease runs out and it is sent again: delivery is at least once, and the stable Message-ID lets
the receiving side recognise the repeat (the .eml folder does: one file per Message-ID).
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy import case, func, or_, select, update

from consent_app.db import Database, utcnow
from consent_app.mail import NotComposable, compose_stored
from consent_app.models import OutboxMessage
from consent_app.settings import Settings

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=300)
"""How long claimed messages are left to their worker before another may send them: longer
than a batch can take (BATCH x the SMTP timeout), short enough that mail a crashed worker had
claimed goes out soon after (`MARKETPLACE_MAIL_LEASE_SECONDS`, passed in by the backend)."""
RETRY_AFTER = timedelta(seconds=30)
"""The wait after a first failed send; it doubles with each further failure
(`MARKETPLACE_MAIL_RETRY_SECONDS`, passed in by the backend)."""
MAX_BACKOFF = timedelta(hours=1)
BATCH = 20


class Undeliverable(Exception):
    """A message that can never be delivered as it is (the server refused its recipient for
    good, or cannot carry its address): marked failed, not retried."""


REMOVED_BODY = "[The body of this message was removed after delivery.]\r\n"


ERASED_SUBJECT = "(erased on request)"
"""The stored subject of a message that named data since removed (`consent_app.removal`):
once delivered, it keeps no headers either."""
ERASED_MESSAGE = "[This message named data that was erased on request.]\r\n"


def without_body(raw: str) -> str:
    """A delivered message as the outbox keeps it: the headers (who, what, when) without the
    body, whose sign-in and invitation links would otherwise sit in every database backup."""
    headers = raw.split("\r\n\r\n", 1)[0]
    return f"{headers}\r\n\r\n{REMOVED_BODY}"


def _kept(raw: str) -> Any:
    """What delivery keeps of a message, decided in the UPDATE itself: nothing at all when the
    message was marked erased meanwhile (a removal during the send), else `without_body`."""
    return case((OutboxMessage.subject == ERASED_SUBJECT, ERASED_MESSAGE), else_=without_body(raw))


def _kept_subject(subject: str) -> Any:
    """The subject a message composed at delivery keeps: the one it was sent with, unless a
    removal marked it erased meanwhile."""
    erased = OutboxMessage.subject == ERASED_SUBJECT
    return case((erased, ERASED_SUBJECT), else_=subject[:300])


class Transport(Protocol):
    """Somewhere messages can be delivered."""

    def send(self, message_id: str, recipient: str, raw: bytes) -> None:
        """Deliver one message or raise."""
        ...


class MailFolder:
    """Delivery into a folder as `.eml` files, one per Message-ID (a repeat overwrites)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, message_id: str) -> Path:
        """The file a message is written to."""
        safe = "".join(ch if ch.isalnum() or ch in "-._" else "_" for ch in message_id.strip("<>"))
        return self.folder / f"{safe}.eml"

    def send(self, message_id: str, recipient: str, raw: bytes) -> None:
        """Write the message atomically (a reader never sees half a file)."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(raw)
            os.replace(temporary, self.path_for(message_id))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


class SmtpServer:
    """Delivery to an SMTP server: `smtp://[user:password@]host[:port][?starttls=true]` or
    `smtps://…` (TLS from the start)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("MARKETPLACE_SMTP_URL must look like smtp://host:25 or smtps://host")
        self.tls = parts.scheme == "smtps"
        self.starttls = parse_qs(parts.query).get("starttls", ["false"])[0] in ("true", "1")
        self.host = parts.hostname
        self.port = parts.port or (465 if self.tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout

    def send(self, message_id: str, recipient: str, raw: bytes) -> None:
        """Send one message; any failure raises."""
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.tls:
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.starttls:
                client.starttls(context=context)
            if self.username:
                client.login(self.username, self.password or "")
            # A non-ASCII local part travels only over SMTPUTF8 (RFC 6531).
            options = [] if recipient.isascii() else ["SMTPUTF8"]
            try:
                client.sendmail(_envelope_sender(raw), [recipient], raw, mail_options=options)
            except smtplib.SMTPRecipientsRefused as refused:
                code, reply = refused.recipients[recipient]
                if code >= 500:  # 5xx: permanent (RFC 5321 §4.2.1); 4xx is worth a retry
                    text = reply.decode("utf-8", "replace")
                    raise Undeliverable(f"{code} {text}") from None
                raise
            except smtplib.SMTPDataError as refused:
                if refused.smtp_code >= 500:  # the message itself is refused for good
                    answer = refused.smtp_error
                    if isinstance(answer, bytes):
                        answer = answer.decode("utf-8", "replace")
                    raise Undeliverable(f"{refused.smtp_code} {answer}") from None
                raise
            except smtplib.SMTPNotSupportedError as error:
                raise Undeliverable(
                    f"the SMTP server does not support SMTPUTF8 ({error})"
                ) from None


def _envelope_sender(raw: bytes) -> str:
    from email import message_from_bytes
    from email.utils import parseaddr

    return parseaddr(str(message_from_bytes(raw).get("From", "")))[1]


def transport_for(smtp_url: str | None, mail_dir: Path) -> Transport:
    """SMTP when a server is configured, otherwise the mail folder."""
    return SmtpServer(smtp_url) if smtp_url else MailFolder(mail_dir)


@dataclass(frozen=True)
class DeliveryReport:
    """What one delivery round did."""

    sent: int
    failed: int  # will be retried
    undeliverable: int = 0  # failed for good (`OutboxMessage.failed_at`)


def _backoff(attempts: int, retry_after: timedelta) -> timedelta:
    delay: timedelta = retry_after * 2 ** min(attempts, 10)
    return min(delay, MAX_BACKOFF)


def _claim(database: Database, limit: int, lease_for: timedelta) -> list[OutboxMessage]:
    """Take the lease on up to `limit` due messages in one transaction; another worker's
    claims are skipped, so two workers never hold the same message."""
    now = utcnow()
    due = (
        OutboxMessage.sent_at.is_(None),
        OutboxMessage.failed_at.is_(None),
        OutboxMessage.next_attempt_at <= now,
        or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
    )
    lease = now + lease_for
    with database.write() as session:
        ids = (
            session.execute(
                select(OutboxMessage.id).where(*due).order_by(OutboxMessage.id).limit(limit)
            )
            .scalars()
            .all()
        )
        if not ids:
            return []
        # The same conditions again in the UPDATE: on PostgreSQL another worker may have
        # claimed some of these rows between the SELECT and now.
        session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(ids), *due).values(claimed_until=lease)
        )
        query = select(OutboxMessage).where(
            OutboxMessage.id.in_(ids), OutboxMessage.claimed_until == lease
        )
        return list(session.execute(query).scalars())


def deliver_pending(
    database: Database,
    transport: Transport,
    limit: int = BATCH,
    *,
    lease: timedelta = LEASE,
    retry_after: timedelta = RETRY_AFTER,
    settings: Settings | None = None,
) -> DeliveryReport:
    """Send the messages that are due, at most `limit`: claimed together, each marked sent (or
    failed) as soon as its send returns, so a crash re-sends at most the one in flight.

    A message stored as a payload is composed here (`consent_app.mail.compose_stored`, with
    `settings`), then kept like any other: headers only, and its payload dropped."""
    sent = failed = undeliverable = 0
    for message in _claim(database, limit, lease):
        values: dict[str, object]
        raw = message.raw
        composed: dict[str, object] = {}
        try:
            if message.payload is not None:
                if settings is None:
                    raise NotComposable("a stored payload needs the settings to be composed")
                subject, raw = compose_stored(settings, message)
                composed = {"subject": _kept_subject(subject), "payload": None}
            transport.send(message.message_id, message.recipient, raw.encode("utf-8"))
        except NotComposable as error:
            log.error("mail %s to %s: %s", message.message_id, message.recipient, error)
            undeliverable += 1
            # Failed for good, kept like any failed message: headers only, so its payload
            # (names, addresses) goes.
            values = {"failed_at": utcnow(), "last_error": str(error)[:500], "payload": None}
        except Undeliverable as error:
            log.warning(
                "mail %s to %s failed for good: %s", message.message_id, message.recipient, error
            )
            undeliverable += 1
            values = {
                "failed_at": utcnow(),
                "last_error": f"undeliverable: {error}"[:500],
                "raw": _kept(raw),
                **composed,
            }
        except Exception as error:  # any other failure: keep the message and try again later
            log.warning("mail %s to %s not sent: %s", message.message_id, message.recipient, error)
            failed += 1
            values = {
                "next_attempt_at": utcnow() + _backoff(message.attempts, retry_after),
                "last_error": f"{type(error).__name__}: {error}"[:500],
            }
        else:
            sent += 1
            values = {"sent_at": utcnow(), "raw": _kept(raw), **composed}
        with database.write() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == message.id)
                .values(attempts=message.attempts + 1, claimed_until=None, **values)
            )
    return DeliveryReport(sent, failed, undeliverable)


@dataclass(frozen=True)
class OutboxStatus:
    """The backlog an operator watches."""

    unsent: int
    failing: int  # unsent messages that failed at least once
    oldest_unsent_seconds: float | None
    failed: int = 0  # messages that can never be delivered (`mail status` lists them)


def undeliverable_messages(database: Database, limit: int = 20) -> list[OutboxMessage]:
    """The newest messages that failed for good, with their reasons (for `mail status`)."""
    with database.read() as session:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.failed_at.is_not(None))
            .order_by(OutboxMessage.failed_at.desc())
            .limit(limit)
        )
        return list(session.execute(query).scalars())


def outbox_status(database: Database) -> OutboxStatus:
    """How many messages wait, how many failed, and how old the oldest waiting one is."""
    with database.read() as session:
        unsent, failing, oldest = session.execute(
            select(
                func.count(OutboxMessage.id),
                func.count(OutboxMessage.id).filter(OutboxMessage.attempts > 0),
                func.min(OutboxMessage.created_at),
            ).where(OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None))
        ).one()
        failed = session.execute(
            select(func.count(OutboxMessage.id)).where(OutboxMessage.failed_at.is_not(None))
        ).scalar_one()
    age = (utcnow() - oldest).total_seconds() if oldest is not None else None
    return OutboxStatus(int(unsent), int(failing), age, int(failed))


class MailWorker:
    """Delivers the outbox in a background thread: right after a commit that wrote mail, and
    every `interval` seconds for retries and messages other processes wrote."""

    def __init__(
        self,
        deliver: Callable[[], DeliveryReport],
        interval: float = 5.0,
    ) -> None:
        self._deliver = deliver
        self._interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def kick(self) -> None:
        """Deliver soon (starting the thread on first use)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="marketplace-mail", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                report = self._deliver()
                if report.sent == BATCH:
                    continue  # more may be waiting
            except Exception:
                log.exception("mail delivery round failed; retrying")
            self._wake.wait(self._interval)

    def stop(self) -> None:
        """Stop the thread after its current round."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
