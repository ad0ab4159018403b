"""Web security for every response: headers, Content-Security-Policy, rate limits, proxies.

- Customer pages use no script at all: `default-src 'none'`, styles from this origin, never
  framed, never cached, and no Referer, so a secret link cannot leak.
- Site pages (MkDocs + Material) allow scripts from this origin and, by hash, the few inline
  scripts Material writes into each page (never 'unsafe-inline' for scripts). The hashes are
  read from the page being served; `marketplace csp` prints one policy for a whole built site,
  for static hosts.
- API answers are data: `default-src 'none'`; the partner API is never cached.
- Rate limits (Flask-Limiter) on sign-in and secret-link endpoints (per client address) and on
  the partner API (per API key, see `partner_api`) answer 429 with a page (or JSON under
  /api/) and a Retry-After header that say when to try again.
- Redirects never name the host the request claimed to be for: a Location on the request's
  own host becomes relative (Werkzeug's slash redirects are absolute, built from Host).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from flask import Flask, Response, g, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from werkzeug.middleware.proxy_fix import ProxyFix

from consent_app.http_errors import error_response
from consent_app.pages import is_customer_page, words_page

CUSTOMER_PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
_SITE_POLICY = (
    "default-src 'self'; script-src 'self'{hashes}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'{connect}; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)
"""Material sets a few styles from script (CSSOM), hence 'unsafe-inline' for styles only."""
LOGO_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    "X-Content-Type-Options": "nosniff",
}
"""Partner logos and any SVG of the site, opened on their own: an SVG is a document of this
origin, so nothing in it may load, run or navigate (its own <style> still applies). The second
layer behind the logo checks in marketplace.logo; static hosts send it too (`marketplace csp
--logos`)."""

_SECRET_PATH = re.compile(
    r"^(/(?:invitations|signin|partner/signin|leads/confirm|leads/withdraw)/)[^/?#\s]+"
)
"""Paths whose last part is a secret link's token: invitations, customers' and partners'
sign-in links, a visitor's confirm and withdraw links for a lead."""
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)([^>]*)>(.*?)</script>", re.S)

SIGN_IN_LIMITS = "10 per minute; 50 per hour"
"""Asking for sign-in links, per client address."""
SIGN_IN_PER_ADDRESS = "5 per hour"
"""Sign-in links mailed to one address: no one can flood an administrator's mailbox."""
LINK_LIMITS = "60 per minute"
"""Opening or submitting secret links (invitations, sign-in), per client address."""
CONTACT_LIMITS = "5 per minute; 20 per hour; 50 per day"
"""Requests sent with "Contact this partner", per client address (each mails a confirmation)."""
CONTACT_PER_MAILBOX = "3 per hour; 10 per day"
"""Confirmation mails to one address: over it, the form answers as if it had sent one, so it
cannot be used to flood a mailbox, nor to learn that someone else used the address."""


def client_key(address: str | None) -> str:
    """Whom a per-client limit counts: an IPv4 address, or the /64 network of an IPv6 one (one
    subscriber usually holds a whole /64, so counting each address would let it pass any
    limit)."""
    if not address:
        return "unknown"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


limiter = Limiter(
    key_func=lambda: client_key(request.remote_addr),
    headers_enabled=True,
    default_limits=[],
)


def _partner_of_request() -> str:
    """The partner a request acts for: the partner API's caller or the signed-in partner user
    (both set by the time a view's own limits are counted)."""
    acting = g.get("partner_caller") or g.get("partner_user")
    return f"partner:{acting.slug}" if acting is not None else "partner:none"


TEST_EVENT_LIMITS = "10 per minute; 100 per day"
"""Webhook test events a partner may ask for, on its pages and by API together: each one makes
the Marketplace send a request somewhere, and however many keys the partner has."""
test_event_limit = limiter.shared_limit(
    TEST_EVENT_LIMITS, scope="webhook-test-events", key_func=_partner_of_request
)


def redacted(path: str) -> str:
    """A request path fit for logs: the secret of a link (/invitations/…, /signin/…) removed."""
    return _SECRET_PATH.sub(r"\1[redacted]", path)


def inline_script_hashes(html: bytes) -> list[str]:
    """CSP source expressions ('sha256-…') for the executable inline scripts of a page."""
    found = []
    for attributes, body in _INLINE_SCRIPT.findall(html):
        if b"application/json" in attributes:
            continue  # data, not script: CSP does not apply to it
        digest = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
        found.append(f"'sha256-{digest}'")
    return found


def site_policy(hashes: Iterable[str], connect: Iterable[str] = ()) -> str:
    """The Content-Security-Policy of site pages that carry inline scripts with `hashes` and
    may call the search API at the origins `connect` (besides their own)."""
    unique = sorted(set(hashes))
    return _SITE_POLICY.format(
        hashes="".join(f" {h}" for h in unique),
        connect="".join(f" {origin}" for origin in sorted(set(connect))),
    )


@lru_cache(maxsize=4096)
def _file_policy(path: str, modified: float, size: int) -> str:
    return site_policy(inline_script_hashes(Path(path).read_bytes()))


def policy_for_file(path: Path) -> str:
    """The policy for one built page (cached until the file changes)."""
    stat = path.stat()
    return _file_policy(str(path), stat.st_mtime, stat.st_size)


def policy_for_site(site_dir: Path, connect: Iterable[str] = ()) -> str:
    """One policy that fits every page of a built site (for a static host's configuration)."""
    hashes: set[str] = set()
    for page in site_dir.rglob("*.html"):
        hashes.update(inline_script_hashes(page.read_bytes()))
    return site_policy(hashes, connect)


def relative_location(location: str, request_host: str) -> str:
    """`location` without scheme and host when it points at `request_host` (a Host header
    anyone can forge); other locations unchanged."""
    parts = urlsplit(location)
    if not parts.netloc or parts.netloc.lower() != request_host.lower():
        return location
    path = "/" + parts.path.lstrip("/")  # never "//…", which a browser reads as another host
    return urlunsplit(("", "", path, parts.query, parts.fragment))


def init_app(app: Flask, trusted_proxies: int, https: bool, rate_limits: bool) -> None:
    """Install the headers, the rate limiter and, behind proxies, the client address fix."""
    if trusted_proxies:
        # X-Forwarded-For/-Proto from that many proxies in front: the client's real address
        # (for rate limits and the audit log) and scheme.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies, x_host=trusted_proxies
        )
    app.config.setdefault("RATELIMIT_ENABLED", rate_limits)
    limiter.init_app(app)

    @app.errorhandler(RateLimitExceeded)
    def too_many(error: RateLimitExceeded) -> Response | tuple[str, int]:
        if request.path.startswith("/api/"):
            return error_response(429, "too_many_requests", f"rate limit: {error.description}")
        page, status = words_page("too_many", 429)
        return page, status

    @app.after_request
    def security_headers(response: Response) -> Response:
        headers = response.headers
        if "Location" in headers:
            headers["Location"] = relative_location(headers["Location"], request.host)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        if https:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        if request.path.startswith("/api/"):
            headers.setdefault("Content-Security-Policy", API_POLICY)
            if not request.path.startswith("/api/v1/search"):
                headers.setdefault("Cache-Control", "no-store")
        elif is_customer_page():
            headers["Content-Security-Policy"] = CUSTOMER_PAGE_POLICY
            headers.setdefault("Referrer-Policy", "no-referrer")
            headers.setdefault("X-Frame-Options", "DENY")
            if not request.path.startswith("/_consent/static/"):
                # Reached through a secret link or showing a tenant's roles: never cached.
                headers["Cache-Control"] = "no-store"
        else:
            headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
            headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response
