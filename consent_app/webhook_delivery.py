"""Delivering webhooks: signed POSTs to partners' endpoints, at least once, from the
`webhook_deliveries` table, with leases and backoff like the mail outbox (`consent_app.outbox`).

The HTTP client is a small one of our own over `http.client`, because an endpoint's address is
chosen by a partner and each request must go only where it may (SSRF):
- the host name is resolved once, and every address it resolves to must be public (unless the
  operator allows private ones: `MARKETPLACE_WEBHOOK_ALLOW_PRIVATE`);
- the connection is made to the checked address itself: a second lookup, as any HTTP library
  would make, could answer with another address (DNS rebinding); the request still names the
  host (Host header, TLS SNI and the certificate check);
- redirects are never followed (a 3xx answer is a failed attempt), and one deadline bounds the
  whole exchange, however slowly the other side answers;
- only a short excerpt of an answer's body is read and kept.

A delivery is claimed for a lease before it is sent, so several workers never send it at
once; one a crashed worker had claimed is sent again when its lease runs out, with the same
event id and body (the receiver recognises the repeat by `Marketplace-Event-Id`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

import idna
from sqlalchemy import and_, exists, or_, select, update

from consent_app.db import Database, utcnow
from consent_app.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from consent_app.outbox import DeliveryReport
from consent_app.refusals import InvalidInput, Refused
from consent_app.settings import Settings

log = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int, float], list[str]]
"""(host, port, timeout in seconds) -> the addresses the host name resolves to."""

SIGNATURE_HEADER = "Marketplace-Signature"
EVENT_ID_HEADER = "Marketplace-Event-Id"
EVENT_TYPE_HEADER = "Marketplace-Event-Type"
USER_AGENT = "PartnerMarketplace-Webhooks/1"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every secret, not a secret
MAX_URL_LENGTH = 2000
EXCERPT_CHARACTERS = 200
"""How much of an answer's body is read and kept (in the delivery log's last error)."""
BATCH = 20
MAX_BACKOFF = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(days=3)
"""A delivery still failing this long after its event is given up (`failed_at`)."""
_SECRET_CONTEXT = b"marketplace webhook signing secret v1\x00"
_HOST_NAME = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)*[a-z0-9-]+$")


class WebhookTargetNotAllowed(Refused):
    """A webhook URL that leads to a private, loopback, link-local or otherwise non-public
    address (SSRF), or plain http:// to a public one."""

    code = "webhook_target_not_allowed"


# --- the signing secret and the signature ---------------------------------------------------------


def signing_secret(instance_key: str, salt: str) -> str:
    """An endpoint's signing secret, derived from the instance's secret key and the endpoint's
    random salt (HMAC-SHA256 as a key derivation): only the salt is stored, so the database,
    or a backup of it, cannot sign on its own."""
    digest = hmac.new(
        instance_key.encode("utf-8"), _SECRET_CONTEXT + salt.encode("ascii"), hashlib.sha256
    ).digest()
    return SECRET_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def secret_check(secret: str) -> str:
    """A short value that says whether `secret` is still the one an endpoint was given (the
    instance's secret key may have changed since); it reveals nothing of the secret."""
    return hmac.new(secret.encode("ascii"), b"check", hashlib.sha256).hexdigest()[:16]


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `Marketplace-Signature` header: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
    keyed with the secret as shown to the partner (Stripe's scheme)."""
    signed = f"{timestamp}.".encode("ascii") + body
    mac = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


# --- where a webhook may go ---------------------------------------------------------------------


class Reach(Enum):
    """Whether an address may receive webhooks."""

    PUBLIC = "public"
    PRIVATE = "private"  # loopback, private, link-local, shared (CGNAT): only when allowed
    NEVER = "never"  # unspecified, multicast, reserved, broadcast: never a web server


_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and leads to: IPv4-mapped, 6to4, Teredo's
    client, NAT64."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in _NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def reach(address: Address) -> Reach:
    """Whether `address` is public, private (allowed only with `WEBHOOK_ALLOW_PRIVATE`), or
    never a webhook target. Python's `is_global` alone is not enough: it calls multicast
    addresses global, and an IPv6 address may carry an IPv4 one that leads elsewhere."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None and reach(embedded) is not Reach.PUBLIC:
            return reach(embedded)
        if address.ipv4_mapped is not None:
            return Reach.PUBLIC  # a public IPv4 address, written as IPv6
        if address.is_site_local:
            return Reach.PRIVATE
    if address.is_unspecified or address.is_multicast:
        return Reach.NEVER
    if address.is_loopback or address.is_link_local:
        return Reach.PRIVATE
    if address.is_reserved:  # (after loopback: IPv6's ::/8, reserved, holds ::1)
        return Reach.NEVER
    if address.is_private or not address.is_global:  # e.g. 100.64.0.0/10, shared (CGNAT)
        return Reach.PRIVATE
    return Reach.PUBLIC


@dataclass(frozen=True)
class Target:
    """Where a webhook URL leads: scheme, host (an ASCII name or an IP address), port, path."""

    url: str
    scheme: str
    host: str
    port: int
    path: str  # with the query; "/" at least

    @property
    def literal(self) -> Address | None:
        """The host as an IP address, when the URL names one."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None


def _bad_url(message: str) -> InvalidInput:
    return InvalidInput(f"url: {message}", "url")


def parse_target(raw: object, allow_private: bool) -> Target:
    """A webhook URL as stored and delivered to; `InvalidInput` naming `url` when it is not an
    https:// URL (http:// too when private targets are allowed), or `WebhookTargetNotAllowed`
    when it names an address that may not receive webhooks (the name's addresses are checked
    by `checked_addresses`)."""
    if not isinstance(raw, str):
        raise _bad_url("must be a string such as https://example.com/webhooks")
    text = raw.strip()
    if not text or len(text) > MAX_URL_LENGTH:
        raise _bad_url(f"must be a URL of 1 to {MAX_URL_LENGTH} characters")
    if any(character.isspace() or not character.isprintable() for character in text):
        raise _bad_url("must not contain spaces or control characters")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.netloc:
        raise _bad_url("must be an https:// URL such as https://example.com/webhooks")
    if scheme == "http" and not allow_private:
        raise _bad_url("must start with https:// (webhooks are sent over TLS only)")
    if parts.username is not None or parts.password is not None:
        raise _bad_url("must not contain a user name or password")
    if parts.fragment or text.endswith("#"):
        raise _bad_url("must not contain a #fragment")
    try:
        given = parts.port
    except ValueError:
        raise _bad_url("has a port that is not a number from 1 to 65535") from None
    port = given if given is not None else (443 if scheme == "https" else 80)
    if port == 0:
        raise _bad_url("has a port that is not a number from 1 to 65535")
    host = _host(parts.hostname or "")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if not path.isascii():
        raise _bad_url("must be ASCII after the host name (percent-encode other characters)")
    literal = Target(text, scheme, host, port, path).literal
    if literal is not None:
        _check_address(literal, scheme, allow_private)
    return Target(text, scheme, host, port, path)


def _host(raw: str) -> str:
    """The host as connected to: an IP address, or a name in its IDNA ASCII form."""
    host = raw.rstrip(".")
    if not host:
        raise _bad_url("must name a host, as in https://example.com/webhooks")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        host = idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise _bad_url(f"{raw[:80]!r} is not a host name") from None
    if not _HOST_NAME.match(host) or host.replace(".", "").isdigit():
        raise _bad_url(f"{raw[:80]!r} is not a host name")
    return host


def _check_address(address: Address, scheme: str, allow_private: bool) -> None:
    found = reach(address)
    if found is Reach.NEVER:
        raise WebhookTargetNotAllowed(
            f"url: {address} is not an address a web server can have", "url"
        )
    if found is Reach.PRIVATE and not allow_private:
        # Which private address is not said: a partner could map the internal network's names.
        raise WebhookTargetNotAllowed(
            "url: leads to a private, loopback or link-local address: webhooks go to public "
            "addresses only",
            "url",
        )
    if found is Reach.PUBLIC and scheme != "https":
        raise WebhookTargetNotAllowed(
            f"url: leads to {address}, a public address: use https://", "url"
        )


def checked_addresses(target: Target, addresses: list[str], allow_private: bool) -> list[Address]:
    """The addresses to connect to, each checked; `WebhookTargetNotAllowed` when any of them
    may not receive webhooks (a name that resolves to a public and a private address could
    lead to either)."""
    if not addresses:
        raise WebhookTargetNotAllowed(f"url: {target.host} resolves to no address", "url")
    checked = []
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        _check_address(address, target.scheme, allow_private)
        checked.append(address)
    return checked


class ResolutionFailed(Exception):
    """The host name does not resolve (now)."""


def system_resolver(host: str, port: int, timeout: float) -> list[str]:
    """The addresses `host` resolves to, by the system's resolver, within `timeout` (the
    lookup runs in a daemon thread: `getaddrinfo` itself has no timeout)."""
    found: dict[str, Any] = {}
    done = threading.Event()

    def look_up() -> None:
        try:
            found["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            found["error"] = error
        finally:
            done.set()

    threading.Thread(target=look_up, name="webhook-dns", daemon=True).start()
    if not done.wait(timeout):
        raise ResolutionFailed(f"resolving {host} took more than {timeout:g} s")
    if "error" in found:
        raise ResolutionFailed(f"{host} does not resolve ({found['error']})")
    addresses = [str(info[4][0]) for info in found["infos"]]
    return list(dict.fromkeys(addresses))


def resolved(target: Target, resolve: Resolver, timeout: float) -> list[str]:
    """The addresses to check for `target`: its own when it names one, else its name's."""
    if target.literal is not None:
        return [target.host]
    return resolve(target.host, target.port, timeout)


def checked_target(
    raw: object, allow_private: bool, resolve: Resolver = system_resolver, timeout: float = 5.0
) -> Target:
    """A webhook URL as registration accepts it: well formed (`parse_target`), and every
    address its host resolves to now allowed (`InvalidInput` when it does not resolve)."""
    target = parse_target(raw, allow_private)
    try:
        addresses = resolved(target, resolve, timeout)
    except ResolutionFailed as error:
        raise _bad_url(f"{error}; check the host name") from None
    checked_addresses(target, addresses, allow_private)
    return target


# --- one POST --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What an endpoint answered: its status and the start of its body."""

    status: int
    excerpt: str
    location: str | None = None


class DeliveryFailed(Exception):
    """No answer (the message says why, for the delivery log)."""


class _Pinned(http.client.HTTPSConnection):
    """A connection to one checked address that still names the host (Host header, SNI,
    certificate); `abort` ends it from another thread when the deadline passes."""

    def __init__(
        self, target: Target, address: Address, timeout: float, context: ssl.SSLContext | None
    ) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._address = address
        self._tls = target.scheme == "https"
        self.default_port = 443 if self._tls else 80  # the Host header leaves out the default
        self._raw: socket.socket | None = None
        self.aborted = False  # by the deadline: what was read is cut short, not an answer
        self._tls_context = context or ssl.create_default_context()

    def connect(self) -> None:
        raw = socket.create_connection((str(self._address), self.port), self.timeout)
        self._raw = raw
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls:
            self.sock = self._tls_context.wrap_socket(raw, server_hostname=self.host)
        else:
            self.sock = raw

    def abort(self) -> None:
        self.aborted = True
        raw = self._raw
        if raw is not None:
            with suppress(OSError):  # closed already
                raw.shutdown(socket.SHUT_RDWR)


def post(
    target: Target,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    allow_private: bool,
    resolve: Resolver = system_resolver,
    tls: ssl.SSLContext | None = None,
) -> Answer:
    """POST `body` to `target` within `timeout` seconds in all, to an address checked after
    resolving (`WebhookTargetNotAllowed`), never following a redirect; `DeliveryFailed` when
    nothing answered."""
    deadline = time.monotonic() + timeout
    try:
        addresses = checked_addresses(target, resolved(target, resolve, timeout), allow_private)
    except ResolutionFailed as error:
        raise DeliveryFailed(str(error)) from None
    context = tls or ssl.create_default_context()
    problem = "no address to connect to"
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        connection = _Pinned(target, address, remaining, context)
        watchdog = threading.Timer(remaining, connection.abort)
        watchdog.daemon = True
        watchdog.start()
        try:
            try:
                connection.connect()
            except OSError as error:  # this address does not answer: try the next one
                problem = f"cannot connect to {address}: {_reason(error)}"
                continue
            connection.request("POST", target.path, body=body, headers=headers)
            response = connection.getresponse()
            excerpt = response.read(EXCERPT_CHARACTERS * 4)
            if connection.aborted:  # the end of the stream was the deadline's, not theirs
                raise DeliveryFailed(f"no answer within {timeout:g} s")
            text = excerpt.decode("utf-8", "replace")[:EXCERPT_CHARACTERS]
            return Answer(response.status, text, response.getheader("Location"))
        except (OSError, http.client.HTTPException) as error:
            if time.monotonic() >= deadline - 0.01:
                raise DeliveryFailed(f"no answer within {timeout:g} s") from None
            raise DeliveryFailed(f"{address}: {_reason(error)}") from None
        finally:
            watchdog.cancel()
            connection.close()
    if time.monotonic() >= deadline - 0.01:
        raise DeliveryFailed(f"no answer within {timeout:g} s")
    raise DeliveryFailed(problem)


def _reason(error: BaseException) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted ({error.verify_message})"
    if isinstance(error, TimeoutError | socket.timeout):
        return "timed out"
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"


def request_headers(
    secret: str, event_id: str, event_type: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The headers of one attempt: signed anew, with the event's stable id."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: event_id,
        EVENT_TYPE_HEADER: event_type,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


# --- the worker -------------------------------------------------------------------------------


def lease_for(settings: Settings) -> timedelta:
    """How long claimed deliveries are left to their worker: longer than a batch can take."""
    return timedelta(seconds=BATCH * settings.webhook_timeout_seconds + 60)


def backoff(attempts: int, retry_after: timedelta) -> timedelta:
    """The wait after the `attempts`+1-th failure: doubling, at most `MAX_BACKOFF`."""
    delay: timedelta = retry_after * 2 ** min(attempts, 16)
    return min(delay, MAX_BACKOFF)


@dataclass(frozen=True)
class _Claimed:
    delivery: WebhookDelivery
    endpoint: WebhookEndpoint
    event: WebhookEvent


def _claim(database: Database, now: datetime, limit: int, lease_for: timedelta) -> list[_Claimed]:
    """Take the lease on up to `limit` due deliveries in one transaction; another worker's
    claims are skipped, so two workers never send the same delivery at once."""
    due = (
        WebhookDelivery.delivered_at.is_(None),
        WebhookDelivery.failed_at.is_(None),
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
    )
    lease = now + lease_for
    with database.write() as session:
        ids = (
            session.execute(
                select(WebhookDelivery.id).where(*due).order_by(WebhookDelivery.id).limit(limit)
            )
            .scalars()
            .all()
        )
        if not ids:
            return []
        # The same conditions again in the UPDATE: on PostgreSQL another worker may have
        # claimed some of these rows between the SELECT and now.
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids), *due)
            .values(claimed_until=lease)
        )
        rows = session.execute(
            select(WebhookDelivery, WebhookEndpoint, WebhookEvent)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.id.in_(ids), WebhookDelivery.claimed_until == lease)
            .order_by(WebhookDelivery.id)
        )
        return [_Claimed(*row) for row in rows]


@dataclass(frozen=True)
class _Result:
    delivered: bool
    status: int | None = None
    error: str | None = None
    final: bool = False  # can never succeed: not tried again


def _attempt(
    claimed: _Claimed,
    settings: Settings,
    now: datetime,
    resolve: Resolver,
    tls: ssl.SSLContext | None,
) -> _Result:
    endpoint, event = claimed.endpoint, claimed.event
    if endpoint.deleted_at is not None:
        return _Result(False, error="the endpoint was deleted", final=True)
    if event.body is None:
        return _Result(False, error="the event's data was erased on request", final=True)
    secret = signing_secret(settings.secret_key.get_secret_value(), endpoint.secret_salt)
    if secret_check(secret) != endpoint.secret_check:
        return _Result(
            False,
            error="the Marketplace's secret key changed since this endpoint was registered, "
            "so its signing secret is lost: delete the endpoint and register it again",
            final=True,
        )
    body = event.body.encode("utf-8")
    headers = request_headers(secret, event.public_id, event.type, int(now.timestamp()), body)
    try:
        target = parse_target(endpoint.url, settings.webhook_allow_private)
        answer = post(
            target,
            body,
            headers,
            timeout=settings.webhook_timeout_seconds,
            allow_private=settings.webhook_allow_private,
            resolve=resolve,
            tls=tls,
        )
    except Refused as refused:  # checked again now: DNS may answer differently than before
        return _Result(False, error=f"not sent: {refused.message.removeprefix('url: ')}")
    except DeliveryFailed as failed:
        return _Result(False, error=str(failed))
    if 200 <= answer.status < 300:
        return _Result(True, status=answer.status)
    if 300 <= answer.status < 400:
        where = f" to {answer.location[:200]}" if answer.location else ""
        return _Result(False, answer.status, f"HTTP {answer.status}: redirect{where} not followed")
    excerpt = " ".join(answer.excerpt.split())
    return _Result(False, answer.status, f"HTTP {answer.status}: {excerpt}".rstrip(": "))


def deliver_webhooks(
    database: Database,
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utcnow,
    limit: int = BATCH,
    resolve: Resolver = system_resolver,
    tls: ssl.SSLContext | None = None,
) -> DeliveryReport:
    """Send the deliveries that are due, at most `limit`: claimed together, each marked as
    soon as its attempt ends, so a crash repeats at most the one in flight. A failed one is
    tried again after a doubling wait, and given up `GIVE_UP_AFTER` its event.

    An endpoint that just failed is not tried again in the same round: its other deliveries
    wait for its retry without counting an attempt, so an endpoint that hangs costs one
    timeout per round, not one per event, and cannot hold up other partners' webhooks."""
    sent = failed = given_up = 0
    retry_after = timedelta(seconds=settings.webhook_retry_seconds)
    failing: dict[int, datetime] = {}  # endpoint id -> when it may be tried again
    for claimed in _claim(database, clock(), limit, lease_for(settings)):
        delivery, event = claimed.delivery, claimed.event
        if delivery.endpoint_id in failing:
            with database.write() as session:
                session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == delivery.id)
                    .values(claimed_until=None, next_attempt_at=failing[delivery.endpoint_id])
                )
            continue
        started = clock()
        result = _attempt(claimed, settings, started, resolve, tls)
        now = clock()
        values: dict[str, Any] = {
            "attempts": delivery.attempts + 1,
            "claimed_until": None,
            "last_attempt_at": started,
            "last_status": result.status,
        }
        if result.delivered:
            sent += 1
            values.update(delivered_at=now, last_error=None)
        else:
            error = (result.error or "failed")[:500]
            log.warning(
                "webhook %s to %s not delivered: %s", event.public_id, claimed.endpoint.url, error
            )
            next_attempt = now + backoff(delivery.attempts, retry_after)
            if result.final or next_attempt > event.created_at + GIVE_UP_AFTER:
                given_up += 1
                values.update(failed_at=now, last_error=error)
            else:
                failed += 1
                values.update(next_attempt_at=next_attempt, last_error=error)
            failing[delivery.endpoint_id] = max(next_attempt, now)
        with database.write() as session:
            session.execute(
                update(WebhookDelivery).where(WebhookDelivery.id == delivery.id).values(**values)
            )
            drop_finished_bodies(session, [event.id])
    return DeliveryReport(sent, failed, given_up)


def drop_finished_bodies(session: Any, event_ids: list[int]) -> None:
    """Empty the body of each of these events whose deliveries are all done (delivered or
    given up): nothing will send it again, and backups need not keep it."""
    unfinished = exists().where(
        WebhookDelivery.event_id == WebhookEvent.id,
        and_(WebhookDelivery.delivered_at.is_(None), WebhookDelivery.failed_at.is_(None)),
    )
    session.execute(
        update(WebhookEvent)
        .where(WebhookEvent.id.in_(event_ids), WebhookEvent.body.is_not(None), ~unfinished)
        .values(body=None)
    )
