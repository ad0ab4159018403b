"""Secrets handed to people and programs: only their hashes are stored.

A token is 32 random bytes (256 bits). Such a value cannot be guessed, so a plain SHA-256 of it
is enough to store (a slow password hash buys nothing) and lets the database find the row by
the hash. Comparisons of a presented secret against a stored hash are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token() -> str:
    """A fresh URL-safe secret (43 characters)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The stored form of a secret."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def matches(token: str, stored_hash: str) -> bool:
    """True when `token` hashes to `stored_hash`, compared in constant time."""
    return hmac.compare_digest(token_hash(token), stored_hash)


def new_public_id(prefix: str) -> str:
    """An identifier that may be shown (invitation ids, key ids): random, not secret."""
    return f"{prefix}_{secrets.token_hex(10)}"
