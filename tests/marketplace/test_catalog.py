"""The owners' catalog: loaded with located errors, DA policy enforced, ISO names translated."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketplace.catalog import CatalogError, country_name, language_name, load_catalog
from tests.conftest import EXAMPLE_LISTINGS


def catalog_problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "_catalog.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as raised:
        load_catalog(path)
    return [f"{line}:{col}: {message}" for _, line, col, message in raised.value.problems]


def test_real_catalog_loads() -> None:
    catalog = load_catalog(EXAMPLE_LISTINGS / "_catalog.yaml")
    assert catalog.delegated_admin_programs == {
        "cloud-essentials",
        "cloud-accelerate",
        "cloud-deployment",
    }
    assert (
        catalog.name("service", "exchange-online", "ru") == "Exchange Online (корпоративная почта)"
    )


def test_catalog_must_mark_exactly_the_eligible_programs(tmp_path: Path) -> None:
    text = (EXAMPLE_LISTINGS / "_catalog.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "      ru: Рекомендует сервисы своим клиентам; не администрирует клиентов.\n"
        "    delegated_admin: false",
        "      ru: Рекомендует сервисы своим клиентам; не администрирует клиентов.\n"
        "    delegated_admin: true",
    )
    assert catalog_problems(tmp_path, text) == [
        "59:22: program 'cloud-referral': only cloud-accelerate, cloud-deployment, "
        "cloud-essentials may allow delegated admin"
    ]


def test_catalog_errors_are_located(tmp_path: Path) -> None:
    text = (
        "services:\n  Bad_Id: {name: {en: X}}\nprograms: {}\ncapabilities: {}\n"
        "industries: {}\nadmin_roles: {}\nextra: 1\n"
    )
    assert catalog_problems(tmp_path, text) == [
        "2:18: missing required field 'ru'",
        "3:11: needs at least 1 item(s)",
        "4:15: needs at least 1 item(s)",
        "5:13: needs at least 1 item(s)",
        "6:14: needs at least 1 item(s)",
        "7:1: unknown field 'extra'",
    ]


def test_catalog_must_define_the_eligible_programs(tmp_path: Path) -> None:
    entry = "{name: {en: X, ru: Х}}"
    role = "{name: {en: X, ru: Х}, description: {en: X, ru: Х}, full_access: true}"
    text = (
        f"services: {{a: {entry}}}\nprograms: {{b: {entry}}}\n"
        f"capabilities: {{c: {entry}}}\nindustries: {{d: {entry}}}\n"
        f"admin_roles: {{global-admin: {role}}}\n"
    )
    assert catalog_problems(tmp_path, text) == [
        "2:1: missing programs: cloud-accelerate, cloud-deployment, cloud-essentials"
    ]


def test_missing_catalog(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as raised:
        load_catalog(tmp_path / "_catalog.yaml")
    assert raised.value.problems[0][1:] == (1, 1, "catalog file not found")


def test_iso_names_in_both_languages() -> None:
    assert country_name("DE") == "Germany"
    assert country_name("DE", "ru") == "Германия"
    assert country_name("worldwide", "ru") == "Весь мир"
    assert language_name("ru") == "Russian"
    assert language_name("de", "ru") == "Немецкий"
