"""Writing mail: every message goes into the outbox table in the caller's transaction.

So a message exists exactly when the change it tells of was committed; `consent_app.outbox`
delivers it afterwards. Texts are Jinja templates `templates/mail/<name>.txt`, one per message,
whose first line is the subject; their words are gettext messages of the one catalog
(`marketplace.i18n`), rendered once per language. Customers get English and Russian in one
message (we do not know which their administrators read); partners get English.

A message is either composed when it is written (`raw` holds the whole message), or, for the
messages a customer's decision writes, stored as a small payload (`OutboxMessage.payload`: the
template, the languages and the context as JSON, `payload_of`) and composed by delivery
(`compose_stored`): rendering two bilingual mails was a quarter of an accept's CPU. Both give
the same message, Date included (the moment the change was committed to the outbox).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from email.header import Header
from email.message import EmailMessage
from email.policy import SMTP, default
from email.utils import format_datetime, make_msgid
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, TemplateError
from sqlalchemy.orm import Session

from consent_app.db import append_row, utcnow
from consent_app.models import OutboxMessage
from consent_app.settings import Settings
from marketplace.i18n import (
    SOURCE_LANGUAGE,
    format_count,
    format_moment,
    format_money,
    translations,
)

log = logging.getLogger(__name__)

MAIL_ENQUEUED = "mail_enqueued"
"""Set in `Session.info` when a transaction wrote mail, so delivery can start after commit."""

CUSTOMER_LANGUAGES = ("en", "ru")
PARTNER_LANGUAGES = ("en",)


@cache
def _templates(language: str) -> Environment:
    """The mail templates with the words, numbers and dates of `language`."""
    templates = Environment(
        loader=PackageLoader("consent_app", "templates/mail"),
        autoescape=False,  # noqa: S701 - plain-text mail: nothing here is HTML
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    templates.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    templates.filters.update(
        count=lambda number: format_count(number, language),
        moment=lambda moment: format_moment(moment, language),
        money=lambda amount, currency: format_money(amount, currency, language),
    )
    return templates


def render(name: str, languages: tuple[str, ...], context: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of template `name` in each of `languages`, joined.

    A value given per language as `<name>_<language>` (`lines_ru`) stands for `<name>` in
    that language.
    """
    subjects, bodies = [], []
    for language in languages:
        suffix = f"_{language}"
        localized = {
            **context,
            **{
                key.removesuffix(suffix): value
                for key, value in context.items()
                if key.endswith(suffix)
            },
            "lang": language,
            "lang_query": "" if language == SOURCE_LANGUAGE else f"?lang={language}",
        }
        text = _templates(language).get_template(f"{name}.txt").render(localized)
        subject, _, body = text.partition("\n")
        subjects.append(subject.strip())
        bodies.append(body.strip("\n"))
    return " / ".join(subjects), "\n\n-----\n\n".join(bodies) + "\n"


def header_text(value: str) -> str:
    """Text made safe for a mail header: every control, format or separator character (line
    breaks of any kind, bidi controls) becomes a space, and runs of spaces one. Names come
    from listings, tenants and requests; none may split or forge a header."""
    printable = "".join(ch if ch.isprintable() else " " for ch in value)
    return " ".join(printable.split())


def enqueue(
    session: Session,
    settings: Settings,
    recipient: str,
    template: str,
    context: dict[str, Any],
    languages: tuple[str, ...] = CUSTOMER_LANGUAGES,
    tenant_ref: str | None = None,
    *,
    at_delivery: bool = False,
) -> OutboxMessage:
    """Write one message to the outbox, in the caller's transaction (`tenant_ref`: the audit
    subject of the tenant it is about, so that removing the tenant finds it). With
    `at_delivery`, only its payload is stored (`payload_of`: `context` must be plain values,
    dates and amounts) and delivery composes it; its subject is stored then.

    Composing never fails the caller: a consent change (a revocation, a decline) must go
    through whatever text a partner or a request put into its names. A message that cannot
    be composed is stored as failed, with the reason, for the operator to see.
    """
    now = utcnow()
    message_id = make_msgid(domain=urlsplit(settings.base_url).hostname or "localhost")
    payload = None
    if at_delivery:
        try:
            payload = payload_of(template, languages, context, settings)
        except TypeError:  # a value the payload cannot hold: composed now, as any other
            log.exception("mail %s to %s: composed now, not at delivery", template, recipient)

    def queued(**fields: Any) -> OutboxMessage:
        row = OutboxMessage(
            message_id=message_id,
            created_at=now,
            next_attempt_at=now,
            tenant_ref=tenant_ref,
            **fields,
        )
        return append_row(session, row)

    if payload is not None:
        # The rendered subject is stored on delivery.
        row = queued(recipient=recipient, subject=f"({template})", raw="", payload=payload)
        session.info[MAIL_ENQUEUED] = True
        return row
    try:
        subject, raw = _compose(settings, recipient, template, context, languages, message_id)
    except Exception as error:
        log.exception("mail %r to %s could not be composed", template, recipient)
        return queued(
            recipient=recipient[:254],
            subject=f"({template})",
            raw="",
            failed_at=now,
            last_error=f"could not compose: {type(error).__name__}: {error}"[:500],
        )
    row = queued(recipient=recipient, subject=subject[:300], raw=raw)
    session.info[MAIL_ENQUEUED] = True
    return row


MAX_LINE_OCTETS = 998
"""The longest line SMTP carries (RFC 5321 4.5.3.1.6), line end excluded."""


def set_subject(message: EmailMessage, subject: str) -> None:
    """Set the Subject so that every reader decodes it as `subject`.

    CPython's folding of a long subject that mixes plain and encoded words can split a
    non-ASCII phrase into two encoded words and drop the space between them, which readers
    then show joined ("Новаязаявка", RFC 2047 ignores space between encoded words). When the
    policy's folding does not read back as the subject, the whole subject is written as
    encoded words (`email.header.Header`), which keep every space inside them.
    """
    folded = SMTP.fold("Subject", subject).partition(":")[2].replace("\r\n", "").strip()
    if str(default.header_factory("Subject", folded)) == subject:
        message["Subject"] = subject
    else:
        message.set_raw(
            "Subject", Header(subject, "utf-8", header_name="Subject").encode(linesep="\r\n")
        )


def _compose(
    settings: Settings,
    recipient: str,
    template: str,
    context: dict[str, Any],
    languages: tuple[str, ...],
    message_id: str,
    date: datetime | None = None,
) -> tuple[str, str]:
    """(subject, the whole RFC 5322 message with CRLF line ends), dated `date` (now)."""
    subject, body = render(template, languages, {**context, "settings": settings})
    subject = header_text(subject)
    # SMTP policy (CRLF) from the start and as_bytes(): the str generator deep-copies the
    # whole message to re-encode 8bit text, which made composing mail half of an acceptance.
    message = EmailMessage(policy=SMTP)
    message["From"] = settings.mail_from
    message["To"] = recipient
    set_subject(message, subject)
    message["Date"] = format_datetime(date or utcnow())
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    # 8bit, not quoted-printable: the links stay whole and readable in a raw .eml file. But
    # SMTP allows lines of at most 998 octets (servers refuse longer ones for good), and a
    # text someone typed (a lead's message) may be one long line: that body is folded by
    # quoted-printable instead, which every mail reader undoes.
    longest = max((len(line.encode("utf-8")) for line in body.splitlines()), default=0)
    message.set_content(body, cte="8bit" if longest <= MAX_LINE_OCTETS else "quoted-printable")
    return subject, message.as_bytes().decode("utf-8")


# --- messages composed at delivery ---------------------------------------------------------------

_MOMENT, _AMOUNT = "$moment", "$amount"
"""How a stored payload marks a date and time, and an amount, inside its JSON."""


def _plain(value: Any) -> Any:
    """`value` as JSON: texts, numbers, lists and mappings as they are (an enum of texts is
    its text), a datetime and a Decimal marked; anything else is a `TypeError`."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return {_MOMENT: value.isoformat()}
    if isinstance(value, Decimal):
        return {_AMOUNT: str(value)}
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    raise TypeError(f"a stored mail payload cannot hold {type(value).__name__}")


def _revived(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and _MOMENT in value:
            return datetime.fromisoformat(value[_MOMENT])
        if len(value) == 1 and _AMOUNT in value:
            return Decimal(value[_AMOUNT])
        return {key: _revived(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_revived(item) for item in value]
    return value


FROZEN_SETTINGS = ("base_url", "mail_from", "support_url", "support_phone")
"""The settings a message reads (its links, sender and support contacts), stored with its
payload: the message says what the installation said when the change was made, whichever
process delivers it (`marketplace mail send` from a shell without the installation's
environment would otherwise write default links)."""


def payload_of(
    template: str, languages: tuple[str, ...], context: dict[str, Any], settings: Settings
) -> str:
    """What the outbox stores of a message composed at delivery: the template, the languages,
    the context (plain values: the templates read `invitation.kind` from a mapping as from an
    object) and the settings it reads. Non-ASCII stays as it is, so that a removal finds the
    names in it. `TypeError` for a value it cannot hold."""
    stored = {
        "template": template,
        "languages": list(languages),
        "context": _plain(context),
        "settings": {name: getattr(settings, name) for name in FROZEN_SETTINGS},
    }
    return json.dumps(stored, ensure_ascii=False, separators=(",", ":"))


class NotComposable(Exception):
    """A stored payload that cannot be composed (a template or a value it needs is gone)."""


def compose_stored(settings: Settings, message: OutboxMessage) -> tuple[str, str]:
    """(subject, the whole message) of an outbox message stored as a payload, exactly as
    `enqueue` would have composed it when it was written (same Message-ID, dated then)."""
    assert message.payload is not None
    try:
        stored = json.loads(message.payload)
        frozen = {name: stored["settings"][name] for name in FROZEN_SETTINGS}
        return _compose(
            settings.model_copy(update=frozen),
            message.recipient,
            stored["template"],
            _revived(stored["context"]),
            tuple(stored["languages"]),
            message.message_id,
            message.created_at,
        )
    except TemplateError as error:  # a template gone or broken (TemplateNotFound is an OSError)
        raise NotComposable(f"could not compose: {type(error).__name__}: {error}") from error
    except (OSError, MemoryError):  # may pass: delivery tries again later
        raise
    except Exception as error:
        raise NotComposable(f"could not compose: {type(error).__name__}: {error}") from error
