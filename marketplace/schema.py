"""The JSON Schema of the listing format, generated from the model and filled from the catalog."""

from __future__ import annotations

from typing import Any

from marketplace.catalog import Catalog
from marketplace.model import Listing

SCHEMA_ID = "https://marketplace.example/schema/listing.json"


def listing_json_schema(catalog: Catalog) -> dict[str, Any]:
    """The listing JSON Schema, with every catalog-backed field an enum of the catalog's ids."""
    schema = Listing.model_json_schema()
    _fill_catalog_enums(schema, catalog)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
    }


def _fill_catalog_enums(node: Any, catalog: Catalog) -> None:
    if isinstance(node, dict):
        facet = node.pop("x-catalog", None)
        if facet is not None:
            entries = getattr(catalog, facet)
            node["enum"] = sorted(entries)
            node["description"] = "; ".join(
                f"{key}: {entries[key].name.en}" for key in sorted(entries)
            )
        for value in node.values():
            _fill_catalog_enums(value, catalog)
    elif isinstance(node, list):
        for value in node:
            _fill_catalog_enums(value, catalog)
