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


def test_with_delivery_off_another_process_sends_the_mail(
    app_factory: Callable[..., Flask],
) -> None:
    """`MARKETPLACE_MAIL_DELIVERY=off`: a server's background thread (started by `serve`, and
    by gunicorn's `post_fork`, whatever the setting) records expiries but sends nothing;
    `marketplace mail send --every` in a process of its own does, until it is stopped (exit
    status 0)."""
    import os
    import signal
    import subprocess
    import sys

    from consent_app.outbox import DeliveryReport

    with smtp_server() as (url, received):
        market = smtp_app(app_factory, url, delivery="off")
        backend = market.backend
        backend.start_background()
        market.add_tenant()
        market.invite(market.key())
        assert backend.background_round() == DeliveryReport(0, 0)
        time.sleep(0.3)
        assert not received.messages and outbox_status(backend.database).unsent == 1
        settings = backend.settings
        sender = subprocess.Popen(
            [sys.executable, "-m", "marketplace_app", "mail", "send", "--every", "0.2"],
            env={
                **os.environ,
                "MARKETPLACE_INSTANCE": str(settings.instance_dir),
                "MARKETPLACE_DATABASE_URL": settings.database_url,
                "MARKETPLACE_SMTP_URL": url,
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while not received.messages and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(received.messages) == 1
            time.sleep(0.5)  # a round after it: nothing more to say
            sender.send_signal(signal.SIGTERM)  # a service manager stopping it
            output, _ = sender.communicate(timeout=30)
        finally:
            sender.kill()
        assert sender.returncode == 0, output
        assert output.count("Sent 1 message(s)") == 1 and "Sent 0" not in output, output
    assert outbox_status(backend.database).unsent == 0


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


# --- decision mails composed at delivery -------------------------------------------------------


def _accept_with_da_and_por(market: Marketplace) -> str:
    """A trial with DA accepted with both roles; the invitation's id."""
    market.add_tenant(admins=(ADMIN, "second@fabrikam.example"))
    created = market.invite(market.key(), delegated_admin=True)
    assert created.status_code == 201, created.get_data(as_text=True)
    market.backend.deliver_now()  # the invitation (delivery may be off)
    done = market.decide(market.link(), authorize_delegated_admin="y", make_partner_of_record="y")
    assert done.status_code == 200, done.get_data(as_text=True)
    invitation_id: str = created.get_json()["id"]
    return invitation_id


def test_a_decision_stores_its_mails_as_payloads_that_delivery_composes(
    app_factory: Callable[..., Flask],
) -> None:
    """The decision's transaction writes each mail's template, languages and context (a small
    JSON payload, no rendered text); delivery composes it, stores the subject it was sent
    with and drops the payload, like any delivered message."""
    market = Marketplace(app_factory(MARKETPLACE_MAIL_DELIVERY="off"))
    _accept_with_da_and_por(market)
    waiting = [row for row in outbox(market) if row.payload is not None]
    assert sorted(row.recipient for row in waiting) == sorted(
        [ADMIN, "second@fabrikam.example", "partners@contoso.example"]
    )
    assert all(row.raw == "" and len(row.payload or "") < 2000 for row in waiting)
    while market.backend.deliver_now().sent:
        pass
    for row in outbox(market):
        assert row.sent_at is not None and row.payload is None
    delivered = {mail.to: mail for mail in market.mails()}
    assert delivered[ADMIN].subject.startswith("You accepted a trial from Contoso")
    assert "Вы приняли" in delivered[ADMIN].subject  # both languages, as before
    assert "Partner of record: Contoso" in delivered[ADMIN].body
    stored = {row.recipient: row.subject for row in outbox(market)}
    assert stored[ADMIN] == delivered[ADMIN].subject


def test_the_stored_payload_composes_the_same_message_as_the_objects_did(
    market: Marketplace,
) -> None:
    """Byte for byte: each delivered decision mail equals what composing it in the request
    from the ORM objects (as before migration 0012) gives, with its Message-ID and Date."""
    from email.utils import parsedate_to_datetime

    from consent_app.consent import decision_mail_context
    from consent_app.mail import CUSTOMER_LANGUAGES, PARTNER_LANGUAGES, _compose
    from consent_app.models import DelegatedAdminGrant, Invitation
    from consent_app.rules import Outcome, Roles, State

    invitation_id = _accept_with_da_and_por(market)
    backend = market.backend
    with backend.read() as session:
        invitation = session.get(Invitation, invitation_id)
        grant_row = session.execute(select(DelegatedAdminGrant)).scalar_one()
        assert invitation is not None
        outcome = Outcome(State.ACCEPTED, Roles("contoso-cloud", "contoso-cloud"), True, True)
        grant = {"roles": list(grant_row.roles), "expires_at": grant_row.expires_at}
        plain = decision_mail_context(backend.directory, invitation, None, outcome, grant)
        plain["company"] = "Fabrikam"
        # The context as it was before: the invitation and the outcome themselves.
        objects = {**plain, "invitation": invitation, "outcome": outcome}
    folder = backend.settings.mail_dir
    compared = 0
    for path in sorted(folder.glob("*.eml")):
        raw = path.read_bytes()
        message = message_from_bytes(raw, policy=default)
        subject = str(message["Subject"])
        if "accepted" not in subject:
            continue  # the invitation itself
        template, languages = (
            ("decision_partner", PARTNER_LANGUAGES)
            if "invitation" in subject
            else ("decision_customer", CUSTOMER_LANGUAGES)
        )
        date = parsedate_to_datetime(str(message["Date"]))
        _, before = _compose(
            backend.settings,
            str(message["To"]),
            template,
            objects,
            languages,
            str(message["Message-ID"]),
            date,
        )
        assert raw == before.encode("utf-8"), template
        compared += 1
    assert compared == 3  # two admins and the partner


def test_mail_queued_before_the_payloads_is_delivered_as_it_is(market: Marketplace) -> None:
    """A message composed when it was written (every message before migration 0012, and
    those outside a decision now) has no payload: delivery sends its stored text."""
    from consent_app.mail import enqueue

    backend = market.backend
    with backend.database.write() as session:
        row = enqueue(
            session,
            backend.settings,
            ADMIN,
            "sign_in",
            {"links": [("Fabrikam", TENANT, "http://x/")], "minutes": 30, "email": ADMIN},
        )
        raw = row.raw
    assert row.payload is None and raw
    report = deliver_pending(backend.database, backend.transport, settings=backend.settings)
    assert report.sent == 1
    delivered = MailFolder(backend.settings.mail_dir).path_for(row.message_id).read_bytes()
    assert delivered == raw.encode("utf-8")


def test_a_payload_that_cannot_be_composed_fails_for_good_with_the_reason(
    market: Marketplace,
) -> None:
    """A template gone since the message was stored: marked failed (the operator sees it
    in `mail status`), not retried for ever; the decision itself was committed."""
    from consent_app.mail import enqueue

    backend = market.backend
    with backend.database.write() as session:
        enqueue(session, backend.settings, ADMIN, "no_such_template", {}, at_delivery=True)
    report = deliver_pending(backend.database, backend.transport, settings=backend.settings)
    assert (report.sent, report.undeliverable) == (0, 1)
    [row] = [row for row in outbox(market) if row.recipient == ADMIN]
    assert row.failed_at is not None and "could not compose" in (row.last_error or "")
    assert row.payload is None  # kept like any failed message: nothing of what it said


def test_a_stored_message_says_what_the_installation_said_when_it_was_written(
    app_factory: Callable[..., Flask],
) -> None:
    """Links, sender and support contacts are stored with the payload: delivering with other
    settings (`mail send` from a shell without the installation's environment) changes
    nothing in the message."""
    market = Marketplace(
        app_factory(
            MARKETPLACE_MAIL_DELIVERY="off",
            MARKETPLACE_SUPPORT_PHONE="+44 20 7946 0000",
            MARKETPLACE_MAIL_FROM="Marketplace <mp@partners.example>",
        )
    )
    _accept_with_da_and_por(market)
    backend = market.backend
    other = backend.settings.model_copy(
        update={"support_phone": "+1 800 555 0199", "mail_from": "x@localhost"}
    )
    while deliver_pending(backend.database, backend.transport, settings=other).sent:
        pass
    delivered = {mail.to: mail for mail in market.mails()}
    assert "+44 20 7946 0000" in delivered[ADMIN].body
    assert "+1 800 555 0199" not in delivered[ADMIN].body
    folder = backend.settings.mail_dir
    senders = {message_from_bytes(path.read_bytes())["From"] for path in folder.glob("*.eml")}
    assert senders == {"Marketplace <mp@partners.example>"}
