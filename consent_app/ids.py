"""Ids taken from URLs and queries: one that no row can have is "not found" before any query.

A database answers an id it cannot hold with an error, not with "no such row": SQLite raises
OverflowError beyond 64 bits, PostgreSQL refuses an INTEGER beyond 32 bits and any text with
a NUL character. So a URL rule takes ids only in the range and alphabet rows really have.
"""

from __future__ import annotations

import re

from flask import Flask
from werkzeug.routing import BaseConverter, IntegerConverter, Map

MAX_ROW_ID = 2**31 - 1
"""The largest integer primary key (the columns are INTEGER: 32 bits on PostgreSQL)."""
PUBLIC_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
"""What a shown id (`tokens.new_public_id`, e.g. an invitation id) can look like."""


class RowIdConverter(IntegerConverter):
    """`<row_id:name>`: a whole number from 1 to `MAX_ROW_ID`; anything else does not match."""

    regex = r"[0-9]{1,10}"

    def __init__(self, map: Map) -> None:
        super().__init__(map, min=1, max=MAX_ROW_ID)


class PublicIdConverter(BaseConverter):
    """`<public_id:name>`: a shown id such as an invitation id; anything else does not match."""

    regex = PUBLIC_ID.pattern


def is_public_id(raw: str) -> bool:
    """True when `raw` can be a shown id (for ids taken from a query string)."""
    return PUBLIC_ID.fullmatch(raw) is not None


def init_app(app: Flask) -> None:
    """Make the converters available to URL rules (before any blueprint is registered)."""
    app.url_map.converters["row_id"] = RowIdConverter
    app.url_map.converters["public_id"] = PublicIdConverter
