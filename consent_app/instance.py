"""The instance folder: the state of one installation (database, search index, partner
snapshot, keys, mail).

Whatever holds a secret (the database, its backups, the secret key, the audit key) is created
readable by its owner only (0600), whatever the umask.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from contextlib import suppress
from pathlib import Path

SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a secret
AUDIT_KEY_FILE = "audit_key"
PRIVATE = 0o600


def ensure_instance(instance_dir: Path) -> None:
    """Create the instance folder, readable by its owner only."""
    instance_dir.mkdir(parents=True, exist_ok=True, mode=0o700)


def create_private(path: Path) -> int:
    """Create `path` (it must not exist yet) with mode 0600 whatever the umask; its descriptor,
    open for writing. `FileExistsError` when it exists."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    os.fchmod(descriptor, PRIVATE)  # the umask may have taken the owner's bits too
    return descriptor


def _generated_once(path: Path) -> str:
    """The content of `path`, written once with a new random value if it does not exist.

    The value is written to a private temporary file first and published with link(), which
    fails when the file exists: when several workers start at once, exactly one key wins and
    nobody ever reads a half-written one.
    """
    if not path.exists():
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            os.fchmod(descriptor, PRIVATE)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
                handle.flush()
                os.fsync(handle.fileno())
            with suppress(FileExistsError):  # another worker was first: its key is the key
                os.link(temporary, path)
        finally:
            os.unlink(temporary)
    value = path.read_text().strip()
    if not value:
        raise RuntimeError(
            f"{path} is empty: restore the key from a backup (or delete the file for a new key)"
        )
    return value


def secret_key(instance_dir: Path) -> str:
    """The secret key kept in the instance folder (generated on first use).

    `MARKETPLACE_SECRET_KEY`, when set, takes its place: `marketplace_app.config` decides.
    """
    return _generated_once(instance_dir / SECRET_KEY_FILE)


def audit_key(instance_dir: Path) -> bytes:
    """The key of the audit log's HMAC chain kept in the instance folder (generated on first
    use; `MARKETPLACE_AUDIT_KEY`, when set, takes its place). Never in the database: whoever
    can change the database must not be able to recompute the chain."""
    return _generated_once(instance_dir / AUDIT_KEY_FILE).encode("utf-8")
