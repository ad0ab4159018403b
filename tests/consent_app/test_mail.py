"""Mail: written to the outbox with the change, then delivered by SMTP (a real server on
loopback) or as .eml files; failed sends wait and are retried, never lost or sent twice."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP, default
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, update

from consent_app.db import utcnow
from consent_app.mail import set_subject
from consent_app.models import OutboxMessage
from consent_app.outbox import MailFolder, deliver_pending, outbox_status
from tests.consent_app.conftest import ADMIN, TENANT, Marketplace
from tests.smtp import free_port, smtp_server


def outbox(market: Marketplace) -> list[OutboxMessage]:
    with market.backend.read() as session:
        return list(session.execute(select(OutboxMessage).order_by(OutboxMessage.id)).scalars())


def smtp_app(factory: Callable[..., Flask], url: str, delivery: str = "inline") -> Marketplace:
    return Marketplace(factory(MARKETPLACE_SMTP_URL=url, MARKETPLACE_MAIL_DELIVERY=delivery))


def test_invitation_mail_goes_through_smtp(app_factory: Callable[..., Flask]) -> None:
    with smtp_server() as (url, received):
        market = smtp_app(app_factory, url)
        market.add_tenant(admins=(ADMIN, "second@fabrikam.example"))
        market.invite(market.key())
        assert sorted(rcpt[0] for rcpt, _ in received.messages) == [
            ADMIN,
            "second@fabrikam.example",
        ]
        [(_, message), *_] = received.messages
        assert "invites Fabrikam" in str(message["Subject"])
        assert message["From"] and message["Message-ID"]
        assert all(row.sent_at is not None and row.attempts == 1 for row in outbox(market))
        assert not market.backend.settings.mail_dir.exists()  # SMTP, not files


def test_smtp_down_only_delays_mail(app_factory: Callable[..., Flask]) -> None:
    port = free_port()
    market = smtp_app(app_factory, f"smtp://127.0.0.1:{port}")
    market.add_tenant()
    response = market.invite(market.key())
    assert response.status_code == 201  # the partner's call succeeds regardless
    [waiting] = outbox(market)
    assert waiting.sent_at is None and waiting.attempts == 1
    assert waiting.last_error and "Connection" in waiting.last_error
    assert waiting.next_attempt_at > utcnow()
    assert outbox_status(market.backend.database).failing == 1
    # not due yet: nothing is tried
    assert market.backend.deliver_now().failed == 0
    with smtp_server(port) as (_, received):
        with market.backend.write() as session:
            session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
        report = market.backend.deliver_now()
        assert (report.sent, report.failed) == (1, 0)
        assert received.message_ids() == [waiting.message_id]
        assert market.backend.deliver_now().sent == 0  # delivered once, not again
    assert outbox_status(market.backend.database).unsent == 0


def test_concurrent_workers_send_each_message_once(app_factory: Callable[..., Flask]) -> None:
    with smtp_server() as (url, received):
        market = smtp_app(app_factory, url, delivery="off")
        market.add_tenant()
        key = market.key()
        for _ in range(12):
            market.invite(key)
        backend = market.backend
        with ThreadPoolExecutor(4) as pool:
            reports = list(
                pool.map(lambda _: deliver_pending(backend.database, backend.transport), range(4))
            )
        assert sum(r.sent for r in reports) == 12
        ids = received.message_ids()
        assert len(ids) == 12 and len(set(ids)) == 12


def test_background_delivery(app_factory: Callable[..., Flask]) -> None:
    with smtp_server() as (url, received):
        market = smtp_app(app_factory, url, delivery="background")
        market.add_tenant()
        market.invite(market.key())
        deadline = time.monotonic() + 10
        while not received.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(received.messages) == 1


def test_mail_folder_is_idempotent_per_message_id(tmp_path: Path) -> None:
    folder = MailFolder(tmp_path / "mail")
    folder.send("<1.2@x>", "a@b.example", b"Subject: one\n\nbody\n")
    folder.send("<1.2@x>", "a@b.example", b"Subject: one\n\nbody\n")
    assert [p.name for p in (tmp_path / "mail").iterdir()] == ["1.2_x.eml"]


def test_nothing_is_written_when_the_change_fails(market: Marketplace) -> None:
    market.add_tenant()
    key = market.key()
    market.invite(key, offer_id="no-such-offer")
    assert outbox(market) == []


def test_failed_sends_back_off(app_factory: Callable[..., Flask]) -> None:
    class Broken:
        def send(self, message_id: str, recipient: str, raw: bytes) -> None:
            raise OSError("mail server on fire")

    market = Marketplace(app_factory(MARKETPLACE_MAIL_DELIVERY="off"))
    market.add_tenant()
    with market.backend.write() as session:
        from consent_app.mail import enqueue

        enqueue(
            session,
            market.backend.settings,
            ADMIN,
            "sign_in",
            {"email": ADMIN, "links": [], "minutes": 30},
        )
    delays = []
    for _ in range(3):
        with market.backend.write() as session:
            session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
        deliver_pending(market.backend.database, Broken())
        [row] = outbox(market)
        delays.append(row.next_attempt_at - utcnow())
    assert row.attempts == 3 and row.sent_at is None and "on fire" in (row.last_error or "")
    assert delays[0] < delays[1] < delays[2] <= timedelta(hours=1)


def test_healthz_shows_the_outbox_backlog(app_factory: Callable[..., Flask]) -> None:
    market = Marketplace(app_factory(MARKETPLACE_SMTP_URL=f"smtp://127.0.0.1:{free_port()}"))
    market.add_tenant()
    market.invite(market.key())
    health = market.client.get("/healthz").get_json()
    assert health["database"] == "ok"
    assert health["outbox"]["unsent"] == 1 and health["outbox"]["failing"] == 1


@pytest.mark.parametrize(
    "subject",
    [
        "New lead lead_bb9cc0861c968d99364e from the Partner Marketplace / Новая заявка "
        "lead_bb9cc0861c968d99364e из Маркетплейса партнёров",
        "Contoso Cloud Services invites Fabrikam to a free trial / Contoso Cloud Services "
        "приглашает Fabrikam на бесплатную пробную версию",
        "Fabrikam",
        "Тема",
    ],
)
def test_every_subject_reads_back_with_its_spaces(subject: str) -> None:
    """CPython folds some long mixed subjects so that two Russian words run together."""
    message = EmailMessage(policy=SMTP)
    set_subject(message, subject)
    message.set_content("text", cte="8bit")
    raw = message.as_bytes()
    assert all(len(line) <= 78 for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n"))
    assert message_from_bytes(raw, policy=default)["Subject"] == subject


def test_a_body_line_longer_than_smtp_allows_still_arrives(
    app_factory: Callable[..., Flask],
) -> None:
    """A 2,000-letter line someone typed would be refused for good by an SMTP server (998
    octets at most); such a body goes as quoted-printable and arrives whole."""
    from consent_app.mail import enqueue

    typed = "Ж" * 1999
    with smtp_server() as (url, received):
        market = smtp_app(app_factory, url)
        with market.backend.write() as session:
            context = {"links": [(typed, TENANT, "http://x/")], "minutes": 30, "email": ADMIN}
            enqueue(session, market.backend.settings, ADMIN, "sign_in", context)
        market.backend.deliver_now()
        [(_, message)] = received.messages
    assert message["Content-Transfer-Encoding"] == "quoted-printable"
    assert typed in message.get_payload(decode=True).decode("utf-8")
