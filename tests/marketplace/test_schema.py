"""The published JSON Schema: generated from the model, committed for editors, and correct.

Regenerate the committed copy after changing the model or the catalog with:

    marketplace schema > site_src/schema/listing.json
"""

from __future__ import annotations

import json

import jsonschema
import pytest

from marketplace.catalog import CATALOG_FILE_NAME, load_catalog
from marketplace.schema import listing_json_schema
from marketplace.validate import listing_files
from marketplace.yamlsource import parse_document
from tests.conftest import EXAMPLE_LISTINGS, PROJECT_ROOT, VALID_LISTING

COMMITTED = PROJECT_ROOT / "site_src" / "schema" / "listing.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, object]:
    return listing_json_schema(load_catalog(EXAMPLE_LISTINGS / CATALOG_FILE_NAME))


def test_committed_schema_is_current(schema: dict[str, object]) -> None:
    assert json.loads(COMMITTED.read_text(encoding="utf-8")) == schema, (
        "run: marketplace schema > site_src/schema/listing.json"
    )


def test_examples_satisfy_the_schema(schema: dict[str, object]) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    for path in listing_files(EXAMPLE_LISTINGS):
        # Read as YAML 1.2 (like yaml-language-server), where `NO` is Norway, not false.
        document = parse_document(path.read_text(encoding="utf-8")).value
        errors = [error.message for error in validator.iter_errors(document)]
        assert errors == [], path.name


def test_schema_rejects_what_the_validator_rejects(schema: dict[str, object]) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    document = parse_document(VALID_LISTING).value
    assert list(validator.iter_errors(document)) == []
    for field, bad in [
        ("services", ["exchang-online"]),
        ("slug", "Bad Slug"),
        ("regions", ["usa"]),
        ("summery", "typo"),
        ("website", "ftp://x.example"),
    ]:
        assert list(validator.iter_errors({**document, field: bad})), field


def test_schema_offers_catalog_values_for_completion(schema: dict[str, object]) -> None:
    services = schema["properties"]["services"]["items"]  # type: ignore[index]
    assert "exchange-online" in services["enum"]
    assert "exchange-online: Exchange Online (hosted mail)" in services["description"]


def test_schema_offers_the_catalog_admin_roles(schema: dict[str, object]) -> None:
    roles = schema["$defs"]["Offer"]["properties"]["delegated_admin_roles"]  # type: ignore[index]
    listed = next(option for option in roles["anyOf"] if option.get("type") == "array")
    assert listed["minItems"] == 1 and listed["uniqueItems"] is True
    assert "global-admin" in listed["items"]["enum"]
    assert "teams-admin: Teams administrator" in listed["items"]["description"]


@pytest.mark.parametrize(
    ("change", "valid"),
    [
        ({"delegated_admin_roles": ["user-admin", "exchange-admin"]}, True),
        ({"delegated_admin_roles": ["user-admn"]}, False),
        ({"delegated_admin_roles": []}, False),
        ({"delegated_admin_roles": ["user-admin", "user-admin"]}, False),
        ({"delegated_admin_roles": ["user-admin"], "delegated_admin": "none"}, False),
    ],
)
def test_schema_checks_an_offers_admin_roles(
    schema: dict[str, object], change: dict[str, object], valid: bool
) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    document = parse_document(VALID_LISTING).value
    offer = {**document["offers"][0], **change}
    errors = list(validator.iter_errors({**document, "offers": [offer]}))
    assert (errors == []) is valid, errors


def test_schema_wants_delegated_admin_optional_beside_admin_roles(
    schema: dict[str, object],
) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    document = parse_document(VALID_LISTING).value
    offer = {k: v for k, v in document["offers"][0].items() if k != "delegated_admin"}
    offer["delegated_admin_roles"] = ["user-admin"]
    assert list(validator.iter_errors({**document, "offers": [offer]}))
