"""Delegated-admin roles: defined by the catalog, named by offers, checked with located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketplace.catalog import FULL_ACCESS_ROLE, Catalog, CatalogError, load_catalog
from marketplace.validate import validate_directory
from tests.conftest import VALID_LISTING, ListingsFolder

REQUIRED_ROLES = {
    "global-admin",
    "user-admin",
    "exchange-admin",
    "sharepoint-admin",
    "teams-admin",
    "device-admin",
    "helpdesk-admin",
    "security-reader",
    "billing-admin",
    "service-support-admin",
}


def test_the_catalog_defines_the_roles_in_both_languages(example_catalog: Catalog) -> None:
    roles = example_catalog.admin_roles
    assert roles.keys() >= REQUIRED_ROLES
    assert next(iter(roles)) == FULL_ACCESS_ROLE  # catalog order is kept: full access first
    assert [key for key, role in roles.items() if role.full_access] == [FULL_ACCESS_ROLE]
    for role in roles.values():
        for text in (role.name, role.description):
            assert text.en and text.ru and text.en != text.ru
    assert roles["teams-admin"].name.in_language("ru") == "Администратор Teams"
    assert "everything" in roles[FULL_ACCESS_ROLE].description.en
    assert "ко всему" in roles[FULL_ACCESS_ROLE].description.ru


CATALOG = """\
services: {exchange-online: {name: {en: Mail, ru: Почта}}}
programs:
  cloud-essentials: {name: {en: E, ru: E}, delegated_admin: true}
  cloud-accelerate: {name: {en: A, ru: A}, delegated_admin: true}
  cloud-deployment: {name: {en: D, ru: D}, delegated_admin: true}
capabilities: {migration: {name: {en: Migration, ru: Миграция}}}
industries: {retail: {name: {en: Retail, ru: Розница}}}
admin_roles:
  global-admin:
    name: {en: Global administrator, ru: Глобальный администратор}
    description: {en: Everything., ru: Всё.}
    full_access: true
  user-admin:
    name: {en: User administrator, ru: Администратор пользователей}
    description: {en: Users and groups., ru: Пользователи и группы.}
"""
"""A small catalog whose admin roles start on line 8."""


def catalog_problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "_catalog.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as raised:
        load_catalog(path)
    return [f"{line}:{col}: {message}" for _, line, col, message in raised.value.problems]


def test_the_small_catalog_loads(tmp_path: Path) -> None:
    path = tmp_path / "_catalog.yaml"
    path.write_text(CATALOG, encoding="utf-8")
    assert list(load_catalog(path).admin_roles) == ["global-admin", "user-admin"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  global-admin:",
            "  global-admn:",
            [
                "8:1: missing admin role 'global-admin' (full access to everything, asked for "
                "when an offer names no roles)",
                "12:18: admin role 'global-admn': only 'global-admin' has full access; "
                "remove full_access: true",
            ],
        ),
        (
            "    full_access: true\n",
            "",
            ["10:5: admin role 'global-admin' allows everything: mark it full_access: true"],
        ),
        (
            "    description: {en: Users and groups., ru: Пользователи и группы.}\n",
            "    description: {en: Users and groups., ru: Пользователи и группы.}\n"
            "    full_access: true\n",
            [
                "16:18: admin role 'user-admin': only 'global-admin' has full access; "
                "remove full_access: true"
            ],
        ),
        (
            "    description: {en: Users and groups., ru: Пользователи и группы.}\n",
            "",
            ["14:5: missing required field 'description'"],
        ),
        (
            "  user-admin:",
            "  User_Admin:",
            ["13:3: 'User_Admin' is not a lower-case-hyphenated id"],
        ),
        (
            "admin_roles:\n",
            "admin_roles: {}\nold_roles:\n",
            ["8:14: needs at least 1 item(s)", "9:1: unknown field 'old_roles'"],
        ),
    ],
    ids=[
        "no-global-admin",
        "global-admin-not-full",
        "second-full-access",
        "no-description",
        "bad-id",
        "empty",
    ],
)
def test_the_catalog_enforces_the_role_policy(
    tmp_path: Path, old: str, new: str, expected: list[str]
) -> None:
    assert old in CATALOG
    assert catalog_problems(tmp_path, CATALOG.replace(old, new)) == expected


OFFER_DA = "    delegated_admin: optional\n"
"""The last line (23) of the valid listing's only offer."""


def with_roles(roles: str, offer_da: str = OFFER_DA) -> str:
    """The valid listing, its offer naming `roles` on line 24 (value at column 28)."""
    return VALID_LISTING.replace(OFFER_DA, f"{offer_da}    delegated_admin_roles: {roles}\n")


@pytest.mark.parametrize(
    "roles", ["[user-admin, exchange-admin]", "[global-admin]", "\n      - teams-admin"]
)
def test_an_offer_may_name_catalog_roles(listings: ListingsFolder, roles: str) -> None:
    listings.write(text=with_roles(roles))
    assert listings.problems() == []


def test_named_roles_are_loaded_in_order_and_absent_means_none(listings: ListingsFolder) -> None:
    listings.write(text=with_roles("[user-admin, exchange-admin]"))
    listings.write(
        "beta", VALID_LISTING.replace("slug: acme", "slug: beta").replace("Acme Cloud", "Beta")
    )
    acme, beta = validate_directory(listings.root).listings
    assert acme.listing.offers[0].delegated_admin_roles == ["user-admin", "exchange-admin"]
    assert beta.listing.offers[0].delegated_admin_roles is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            with_roles("[user-admn, exchange-admin]"),
            [
                "acme.yaml:24:29: offers[0].delegated_admin_roles[0]: unknown admin role "
                "'user-admn'; did you mean 'user-admin'?"
            ],
        ),
        (
            with_roles("[teams-admin, Exchange-Admin]"),
            [
                "acme.yaml:24:42: offers[0].delegated_admin_roles[1]: unknown admin role "
                "'Exchange-Admin'; did you mean 'exchange-admin'?"
            ],
        ),
        (
            with_roles("[domain-admin]"),
            [
                "acme.yaml:24:29: offers[0].delegated_admin_roles[0]: unknown admin role "
                "'domain-admin'"
            ],
        ),
        (
            with_roles("[user-admin, exchange-admin, user-admin]"),
            ["acme.yaml:24:28: offers[0].delegated_admin_roles: 'user-admin' is listed twice"],
        ),
        (
            with_roles("[]"),
            [
                "acme.yaml:24:28: offers[0].delegated_admin_roles: name at least one admin role, "
                "or leave delegated_admin_roles out to ask for global-admin (full access)"
            ],
        ),
        (
            with_roles("user-admin"),
            [
                "acme.yaml:24:28: offers[0].delegated_admin_roles: expected a list, found the text "
                "'user-admin'"
            ],
        ),
        (
            with_roles("[global-admin, user-admin]"),
            [
                "acme.yaml:24:28: offers[0].delegated_admin_roles: 'global-admin' already allows "
                "everything; list it alone"
            ],
        ),
        (
            # The offer does not ask for delegated administration at all (default `none`) ...
            with_roles("[user-admin]", offer_da=""),
            [
                "acme.yaml:23:28: offers[0].delegated_admin_roles: admin roles need "
                "delegated_admin: optional on this offer; add it, or remove delegated_admin_roles"
            ],
        ),
        (
            # ... or says so explicitly.
            with_roles("[user-admin]", offer_da="    delegated_admin: none\n"),
            [
                "acme.yaml:24:28: offers[0].delegated_admin_roles: admin roles need "
                "delegated_admin: optional on this offer; add it, or remove delegated_admin_roles"
            ],
        ),
        (
            with_roles("[user-admin]").replace(
                "    delegated_admin_roles", "    delegated_admin_role"
            ),
            [
                "acme.yaml:24:5: offers[0].delegated_admin_role: unknown field "
                "'delegated_admin_role'; did you mean 'delegated_admin_roles'?"
            ],
        ),
    ],
    ids=[
        "typo",
        "case",
        "unknown",
        "duplicate",
        "empty",
        "not-a-list",
        "global-admin-and-more",
        "offer-without-da",
        "offer-da-none",
        "field-typo",
    ],
)
def test_bad_roles_are_reported_where_they_are_written(
    listings: ListingsFolder, text: str, expected: list[str]
) -> None:
    listings.write(text=text)
    assert listings.problems() == expected


def test_roles_on_a_listing_without_da_add_no_second_problem(listings: ListingsFolder) -> None:
    """The offer's `delegated_admin: optional` is already refused; the roles are not again."""
    listings.write(text=with_roles("[user-admin]").replace("delegated_admin: true\n", ""))
    assert listings.problems() == [
        "acme.yaml:22:22: offers[0].delegated_admin: set delegated_admin: true on the "
        "listing to offer it here"
    ]
