"""Options several `marketplace` commands share (the build commands and the operator ones)."""

from __future__ import annotations

import os
from pathlib import Path

import click

DEFAULT_LISTINGS = Path("listings")

# The folder defaults follow MARKETPLACE_INSTANCE / _LISTINGS / _SITE_DIR, the settings the
# backend is configured with (marketplace_app.config), so `build` writes where it reads.
listings_dir_option = click.option(
    "--listings",
    "listings_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=lambda: os.environ.get("MARKETPLACE_LISTINGS", str(DEFAULT_LISTINGS)),
    show_default="./listings or $MARKETPLACE_LISTINGS",
    help="Folder of listing YAML files and the catalog.",
)
instance_option = click.option(
    "--instance",
    type=click.Path(path_type=Path, file_okay=False),
    default=lambda: os.environ.get("MARKETPLACE_INSTANCE", "instance"),
    show_default="./instance or $MARKETPLACE_INSTANCE",
    help="Folder for the database, search index, secret key and mail.",
)
site_dir_option = click.option(
    "--site-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=lambda: os.environ.get("MARKETPLACE_SITE_DIR", "site"),
    show_default="./site or $MARKETPLACE_SITE_DIR",
    help="Where the static site is written (and served from).",
)
