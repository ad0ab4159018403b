"""Options several `marketplace` commands share (the build commands and the operator ones)."""

from __future__ import annotations

import os
from pathlib import Path

import click

DEFAULT_LISTINGS = Path("listings")

listings_dir_option = click.option(
    "--listings",
    "listings_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_LISTINGS,
    show_default=True,
    help="Folder of listing YAML files and the catalog (partners come from it).",
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
    default=Path("site"),
    show_default=True,
    help="Where the static site is written.",
)
