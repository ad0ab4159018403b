"""The instance folder: the state of one installation (database, index, secret key, mail)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name, not a secret


def ensure_instance(instance_dir: Path) -> None:
    """Create the instance folder, readable by its owner only."""
    instance_dir.mkdir(parents=True, exist_ok=True, mode=0o700)


def secret_key(instance_dir: Path) -> str:
    """`MARKETPLACE_SECRET_KEY`, or a key generated once and kept in the instance folder."""
    from_environment = os.environ.get("MARKETPLACE_SECRET_KEY")
    if from_environment:
        return from_environment
    path = instance_dir / SECRET_KEY_FILE
    try:
        # O_EXCL: when several workers start at once, exactly one writes the key.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty; delete it to generate a new secret key")
    return key
