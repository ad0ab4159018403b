"""The catalog the marketplace owners keep: services, programs, capabilities, industries, and
the admin roles delegated administration may grant.

Regions and languages are ISO codes (ISO 3166-1 alpha-2 and ISO 639-1); their lists and
their English and Russian names come from the maintained `pycountry` package.
"""

from __future__ import annotations

import gettext
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal, get_args

import pycountry
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from marketplace.errors import describe_validation_error
from marketplace.files import plain_file
from marketplace.yamlsource import LocatedDocument, Position, YamlProblem, parse_document

TranslationLanguage = Literal["ru"]
"""The languages a listing may be translated into (English is the listing's own language)."""

SITE_LANGUAGES: tuple[str, ...] = ("en", *get_args(TranslationLanguage))
"""The languages the Marketplace is published in; English is the default."""

WORLDWIDE = "worldwide"
"""The `regions` value for a partner that serves customers in every country."""

CATALOG_FILE_NAME = "_catalog.yaml"
"""The catalog sits in the listings folder; its leading '_' keeps it from being a slug."""

DELEGATED_ADMIN_PROGRAMS = frozenset({"cloud-essentials", "cloud-accelerate", "cloud-deployment"})
"""The programs whose partners may request delegated administration (README: Consent backend).

The catalog marks them; loading a catalog that disagrees with this policy is an error.
"""

FULL_ACCESS_ROLE = "global-admin"
"""The admin role that allows everything: the original full delegated administration, and the
role a DA request gets when its offer names no `delegated_admin_roles`.

The catalog must define it, marked `full_access: true`, and mark no other role so.
"""

_ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


class LocalizedText(BaseModel):
    """A text in each site language."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    en: str = Field(min_length=1, max_length=200)
    ru: str = Field(min_length=1, max_length=200)

    def in_language(self, language: str) -> str:
        """The text in `language`, falling back to English."""
        return self.ru if language == "ru" else self.en


class CatalogEntry(BaseModel):
    """A service, capability or industry."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    name: LocalizedText
    description: LocalizedText | None = None


class Program(CatalogEntry):
    """A partner program; `delegated_admin` says whether it allows requesting DA."""

    delegated_admin: bool = False


class AdminRole(CatalogEntry):
    """A delegated-admin role; `description` says in plain words what it lets a partner do in
    the customer's tenant, and `full_access` marks the role that allows everything."""

    description: LocalizedText  # required: the customer reads it before consenting
    full_access: bool = False


class CatalogFile(BaseModel):
    """The shape of `_catalog.yaml`."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    services: dict[str, CatalogEntry] = Field(min_length=1)
    programs: dict[str, Program] = Field(min_length=1)
    capabilities: dict[str, CatalogEntry] = Field(min_length=1)
    industries: dict[str, CatalogEntry] = Field(min_length=1)
    admin_roles: dict[str, AdminRole] = Field(min_length=1)


@dataclass(frozen=True)
class Catalog:
    """The allowed values of every facet a listing can name, with display names, and the admin
    roles an offer's delegated administration may ask for (by id, in catalog order)."""

    services: dict[str, CatalogEntry]
    programs: dict[str, Program]
    capabilities: dict[str, CatalogEntry]
    industries: dict[str, CatalogEntry]
    admin_roles: dict[str, AdminRole]

    @classmethod
    def from_file(cls, document: CatalogFile) -> Catalog:
        """The catalog a checked catalog document defines."""
        return cls(
            document.services,
            document.programs,
            document.capabilities,
            document.industries,
            document.admin_roles,
        )

    def to_file(self) -> CatalogFile:
        """The catalog as a document (what the partner snapshot carries)."""
        return CatalogFile(
            services=self.services,
            programs=self.programs,
            capabilities=self.capabilities,
            industries=self.industries,
            admin_roles=self.admin_roles,
        )

    @property
    def delegated_admin_programs(self) -> frozenset[str]:
        """Programs whose partners may request delegated administration."""
        return frozenset(key for key, program in self.programs.items() if program.delegated_admin)

    def name(self, facet: str, key: str, language: str = "en") -> str:
        """Display name of a value of any facet, in `language`."""
        if facet == "region":
            return country_name(key, language)
        if facet == "language":
            return language_name(key, language)
        entries: dict[str, CatalogEntry] = getattr(self, FACET_ATTRIBUTES[facet])
        return entries[key].name.in_language(language)


@dataclass(frozen=True)
class Facet:
    """A dimension partners are browsed, filtered and counted by."""

    name: str  # singular, as in the search API: "service"
    segment: str  # plural: the Listing attribute, the site's URL segment (and Catalog attribute)
    in_catalog: bool  # values come from the catalog file (else ISO codes)


FACETS: tuple[Facet, ...] = (
    Facet("service", "services", in_catalog=True),
    Facet("capability", "capabilities", in_catalog=True),
    Facet("industry", "industries", in_catalog=True),
    Facet("region", "regions", in_catalog=False),
    Facet("language", "languages", in_catalog=False),
    Facet("program", "programs", in_catalog=True),
)
"""Every facet, in the order the site and the search API show them."""

FACET_ATTRIBUTES = {facet.name: facet.segment for facet in FACETS if facet.in_catalog}
"""Catalog facets by singular name (as in the search API) and their `Catalog` attribute."""


class CatalogError(Exception):
    """The catalog file is unusable; `problems` says where and why."""

    def __init__(self, problems: list[tuple[str, int, int, str]]) -> None:
        super().__init__("; ".join(f"{f}:{line}:{col}: {m}" for f, line, col, m in problems))
        self.problems = problems


def load_catalog(path: Path) -> Catalog:
    """Read and check the catalog file; raise CatalogError with located problems."""
    shown = str(path)
    if os.path.lexists(path) and not plain_file(path):  # missing: said below
        problem = "the catalog must be a file itself, not a link or a special file"
        raise CatalogError([(shown, 1, 1, problem)])
    try:
        document = parse_document(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError([(shown, 1, 1, "catalog file not found")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise CatalogError([(shown, 1, 1, f"cannot read the catalog: {error}")]) from None
    except YamlProblem as problem:
        raise CatalogError([(shown, *problem.position, problem.message)]) from None
    problems = [(shown, *where, message) for _, where, message in document.problems]
    try:
        parsed = CatalogFile.model_validate(document.value)
    except ValidationError as error:
        for loc, message, as_key in describe_validation_error(error, CatalogFile):
            problems.append((shown, *document.locate(loc, key=as_key), message))
        raise CatalogError(problems) from None
    for facet in ("services", "programs", "capabilities", "industries", "admin_roles"):
        for key in getattr(parsed, facet):
            if not re.match(_ID_PATTERN, key):
                where = document.locate((facet, key), key=True)
                problems.append((shown, *where, f"{key!r} is not a lower-case-hyphenated id"))
    policy = ", ".join(sorted(DELEGATED_ADMIN_PROGRAMS))
    for key, program in parsed.programs.items():
        if program.delegated_admin != (key in DELEGATED_ADMIN_PROGRAMS):
            where = document.locate(("programs", key, "delegated_admin"))
            problems.append(
                (shown, *where, f"program {key!r}: only {policy} may allow delegated admin")
            )
    missing = DELEGATED_ADMIN_PROGRAMS - parsed.programs.keys()
    if missing:
        where = document.locate(("programs",), key=True)
        problems.append((shown, *where, f"missing programs: {', '.join(sorted(missing))}"))
    problems.extend((shown, *where, message) for where, message in _role_problems(parsed, document))
    if problems:
        raise CatalogError(problems)
    return Catalog.from_file(parsed)


def _role_problems(
    parsed: CatalogFile, document: LocatedDocument
) -> Iterator[tuple[Position, str]]:
    """The full-access policy: `global-admin` exists, marked full access, and no other role is."""
    full = parsed.admin_roles.get(FULL_ACCESS_ROLE)
    if full is None:
        yield (
            document.locate(("admin_roles",), key=True),
            f"missing admin role {FULL_ACCESS_ROLE!r} (full access to everything, asked for "
            "when an offer names no roles)",
        )
    elif not full.full_access:
        yield (
            document.locate(("admin_roles", FULL_ACCESS_ROLE, "full_access")),
            f"admin role {FULL_ACCESS_ROLE!r} allows everything: mark it full_access: true",
        )
    for key, role in parsed.admin_roles.items():
        if role.full_access and key != FULL_ACCESS_ROLE:
            yield (
                document.locate(("admin_roles", key, "full_access")),
                f"admin role {key!r}: only {FULL_ACCESS_ROLE!r} has full access; "
                "remove full_access: true",
            )


@cache
def country_codes() -> frozenset[str]:
    """All ISO 3166-1 alpha-2 codes."""
    return frozenset(country.alpha_2 for country in pycountry.countries)


@cache
def language_codes() -> frozenset[str]:
    """All ISO 639-1 (two-letter) language codes."""
    return frozenset(lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2"))


@cache
def _translations(domain: str, language: str) -> gettext.NullTranslations:
    if language == "en":
        return gettext.NullTranslations()
    return gettext.translation(domain, pycountry.LOCALES_DIR, languages=[language], fallback=True)


def country_name(code: str, language: str = "en") -> str:
    """A country's common name in `language` (or "Worldwide" for the worldwide value)."""
    if code == WORLDWIDE:
        return "Весь мир" if language == "ru" else "Worldwide"
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    english = getattr(country, "common_name", None) or country.name
    if language == "en":
        return str(english)
    return _translations("iso3166-1", language).gettext(country.name)


def language_name(code: str, language: str = "en") -> str:
    """A language's name in `language`, capitalised for display."""
    entry = pycountry.languages.get(alpha_2=code)
    if entry is None:
        return code
    name = _translations("iso639-3", language).gettext(entry.name)
    return name[:1].upper() + name[1:]
