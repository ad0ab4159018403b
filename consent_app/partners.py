"""Partners as the backend knows them: their listings, and the API keys they call with.

Partners come from the partner snapshot `marketplace build` writes (the listings it validated,
as the one listing model); a partner whose listing is removed can no longer call the API. A
key reads `mpk_<key id>_<secret>`: the id finds the row, the secret is compared with the
stored SHA-256 in constant time.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from consent_app.audit import Actor, record
from consent_app.db import session_now
from consent_app.models import PartnerKey
from consent_app.refusals import (
    AlreadyRevoked,
    NotFound,
    PartnerNotListed,
    TooManyKeys,
    Unauthorized,
    UnknownPartner,
)
from consent_app.tokens import matches, new_token, token_hash
from marketplace.catalog import Catalog
from marketplace.model import Listing
from marketplace.snapshot import PartnerSnapshot, SnapshotStamp, read_snapshot

KEY_PREFIX = "mpk"
_KEY = re.compile(rf"^{KEY_PREFIX}_([0-9a-f]{{16}})_([A-Za-z0-9_-]{{43}})$")


@dataclass(frozen=True)
class PartnerDirectory:
    """Every listed partner by slug, the catalog their listings name, and which snapshot they
    came from (None when made in code, e.g. by a test)."""

    catalog: Catalog
    listings: dict[str, Listing]
    snapshot: SnapshotStamp | None = None
    read_from: PartnerSnapshot | None = field(default=None, repr=False, compare=False)
    """The snapshot read (None when made in code): the next read reuses what did not change."""

    def get(self, slug: str) -> Listing | None:
        """The partner's listing, or None when it is not listed (any more)."""
        return self.listings.get(slug)

    def display_name(self, slug: str, language: str = "en") -> str:
        """The partner's name in `language`, or its slug once its listing is gone."""
        listing = self.listings.get(slug)
        return listing.text(language)[0] if listing else slug

    def service_name(self, service: str, language: str = "en") -> str:
        """A service's display name (its id when the catalog no longer has it)."""
        entry = self.catalog.services.get(service)
        return entry.name.in_language(language) if entry else service


def load_partner_directory(
    snapshot_file: Path, previous: PartnerDirectory | None = None
) -> PartnerDirectory:
    """The partners of the snapshot `marketplace build` wrote (`SnapshotError` when there is
    none or it cannot be read; `SnapshotMissing` says to run the build). `previous`: the
    directory read before, whose unchanged listings are taken as they are
    (`marketplace.snapshot.decode_snapshot`)."""
    snapshot = read_snapshot(snapshot_file, previous.read_from if previous else None)
    return PartnerDirectory(snapshot.catalog, snapshot.listings, snapshot.stamp, snapshot)


@dataclass(frozen=True)
class IssuedKey:
    """A new key: `secret` is shown once and never stored."""

    key_id: str
    partner_slug: str
    secret: str


MAX_ACTIVE_KEYS = 20
"""API keys one partner may have in use at once: each is a way in, and partners issue them on
their own pages."""


def issue_key(session: Session, directory: PartnerDirectory, slug: str, actor: Actor) -> IssuedKey:
    """Create a key for a listed partner."""
    if directory.get(slug) is None:
        raise UnknownPartner(f"no listing has the slug {slug!r}")
    in_use = session.execute(
        select(func.count())
        .select_from(PartnerKey)
        .where(PartnerKey.partner_slug == slug, PartnerKey.revoked_at.is_(None))
    ).scalar_one()
    if in_use >= MAX_ACTIVE_KEYS:
        raise TooManyKeys(
            f"{slug} has {MAX_ACTIVE_KEYS} API keys in use, the most it may have: revoke one "
            "it no longer needs first"
        )
    key_id = secrets.token_hex(8)
    secret = new_token()
    session.add(
        PartnerKey(
            key_id=key_id,
            partner_slug=slug,
            secret_hash=token_hash(secret),
            created_at=session_now(session),
        )
    )
    record(session, actor, "key.issued", partner_slug=slug, details={"key_id": key_id})
    return IssuedKey(key_id, slug, f"{KEY_PREFIX}_{key_id}_{secret}")


def revoke_key(session: Session, key_id: str, actor: Actor) -> str:
    """Revoke a key at once; returns the partner it belonged to."""
    key = session.execute(
        select(PartnerKey).where(PartnerKey.key_id == key_id).with_for_update()
    ).scalar_one_or_none()
    if key is None:
        raise NotFound(f"no key has the id {key_id!r}")
    if key.revoked_at is not None:
        raise AlreadyRevoked(f"key {key_id} was revoked already")
    session.execute(
        update(PartnerKey).where(PartnerKey.id == key.id).values(revoked_at=session_now(session))
    )
    record(session, actor, "key.revoked", partner_slug=key.partner_slug, details={"key_id": key_id})
    return key.partner_slug


def authenticate(session: Session, directory: PartnerDirectory, presented: str) -> PartnerKey:
    """The key row for a presented API key; else `Unauthorized` (or `PartnerNotListed`)."""
    found = _KEY.match(presented)
    key = None
    if found:
        key = session.execute(
            select(PartnerKey).where(PartnerKey.key_id == found.group(1))
        ).scalar_one_or_none()
    # Compare even when there is no such key, so a miss costs the same as a wrong secret.
    secret = found.group(2) if found else presented
    valid = matches(secret, key.secret_hash if key else "0" * 64)
    if key is None or not valid or key.revoked_at is not None:
        raise Unauthorized("the API key is missing, unknown or revoked")
    if directory.get(key.partner_slug) is None:
        raise PartnerNotListed(
            f"the partner {key.partner_slug!r} is not listed in the Marketplace any more"
        )
    return key
