"""The one listing model: every field of `listings/<slug>.yaml`, its type and its limits.

The site generator, the search indexer and the consent app all read listings through this
module. Catalog values are checked against the `Catalog` passed as validation context
(`Listing.model_validate(data, context=ListingContext(catalog))`), so the same model serves
any catalog. The JSON Schema partners' editors use is generated from these classes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import unicodedata
import weakref
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

from marketplace.catalog import (
    FACET_ATTRIBUTES,
    FULL_ACCESS_ROLE,
    WORLDWIDE,
    Catalog,
    Facet,
    TranslationLanguage,
    country_codes,
    language_codes,
)
from marketplace.lookalike import DEFAULT_IGNORABLE
from marketplace.money import MAX_WHOLE_DIGITS, AmountError, check_currency, parse_amount
from marketplace.suggest import did_you_mean

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
GITHUB_HANDLE_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$"
PHONE_PATTERN = r"^\+?[0-9][0-9 ().\-]{5,23}[0-9]$"
PRICE_PATTERN = rf"^(?:0|[1-9][0-9]{{0,{MAX_WHOLE_DIGITS - 1}}})(?:\.[0-9]{{1,3}})?$"
"""A price as the JSON Schema describes it (the decimals the currency allows are checked by
`marketplace validate`: JPY none, EUR 2, BHD 3)."""
LOGO_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".svg")
TRIAL_DAYS_MIN, TRIAL_DAYS_MAX = 7, 90
MAX_LICENSES_PER_SERVICE = 100_000
"""The largest license count one purchase offer may carry for one service."""

# Common mistakes for ISO codes that a partner would not find by spelling alone.
_COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}

_CATALOG_ATTRIBUTES = {**FACET_ATTRIBUTES, "admin role": "admin_roles"}
"""Each kind of catalog value, as messages name it, and the `Catalog` attribute of its ids."""


@dataclass(frozen=True)
class ListingContext:
    """What model validation needs beyond the data: the catalog of allowed values."""

    catalog: Catalog


def _fail(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


ASSIGNED_PLANES = (range(0x40000), range(0xE0000, 0xF0000))
"""The code points Unicode assigns characters other than private-use ones in: planes 0-3 and
14. Planes 4-13 are unassigned (Cn) and 15-16 private use (Co), so no character there is in a
category `_code_points` is asked for (a test checks this against every code point, so a
Unicode version assigning one there cannot pass unnoticed)."""


def _code_points(categories: frozenset[str], planes: tuple[range, ...]) -> list[str]:
    """Every character of `planes` whose general category is one of `categories`, in order.
    (One pass over the planes in C-level iterators: 0.06 s. Two list comprehensions over
    every code point, as before, added 0.38 s to the start of every command.)"""
    found: list[str] = []
    for plane in planes:
        characters = list(map(chr, plane))
        wanted = map(categories.__contains__, map(unicodedata.category, characters))
        found += itertools.compress(characters, wanted)
    return found


def _character_class(characters: Iterable[str]) -> str:
    return "[" + "".join(map(re.escape, characters)) + "]"


# Control (Cc), invisible format (Cf: zero-width, bidi overrides) and line/paragraph separator
# (Zl, Zp) characters, and the other default-ignorable ones (drawn as nothing: U+034F, U+3164
# HANGUL FILLER, variation selectors): in a name they break layouts, let one partner's name
# imitate another's, or split a mail header (every character `str.splitlines()` splits on is
# Cc, Zl or Zp). One regex search is ~20x faster than asking unicodedata about every character
# of every listing.
_INVISIBLE = _code_points(frozenset({"Cc", "Cf", "Zl", "Zp"}), ASSIGNED_PLANES)
_CONTROL_OR_FORMAT = re.compile(f"{_character_class(_INVISIBLE)}|{DEFAULT_IGNORABLE.pattern}")
_CONTROL_EXCEPT_NEWLINE_TAB = re.compile(
    _character_class(c for c in _INVISIBLE if unicodedata.category(c) == "Cc" and c not in "\n\t")
)


def _single_line(value: str) -> str:
    if found := _CONTROL_OR_FORMAT.search(value):
        character = f"U+{ord(found[0]):04X} {unicodedata.name(found[0], '')}".rstrip()
        raise _fail(
            "single_line",
            "must be one line of text without control or invisible characters; "
            f"{character} is character {found.start() + 1}",
        )
    if value != value.strip():
        raise _fail("whitespace", "must not start or end with spaces")
    return value


def _multi_line(value: str) -> str:
    if _CONTROL_EXCEPT_NEWLINE_TAB.search(value):
        raise _fail("control_character", "contains control characters")
    return value


def _pattern(pattern: str, hint: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.match(value):
            raise _fail("pattern", f"{value[:60]!r} is not valid: {hint}")
        return value

    return check


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise _fail("url_scheme", "must be an http:// or https:// address")
    if not parts.hostname or "." not in parts.hostname or parts.username or parts.password:
        raise _fail("url_host", "must be a full web address such as https://contoso.example")
    if any(ch.isspace() for ch in value):
        raise _fail("url_space", "must not contain spaces")
    return value


def _catalog_value(kind: str) -> Callable[[str, ValidationInfo], str]:
    attribute = _CATALOG_ATTRIBUTES[kind]

    def check(value: str, info: ValidationInfo) -> str:
        context = info.context
        if not isinstance(context, ListingContext):
            return value  # Validated without a catalog (e.g. generating the schema).
        allowed = getattr(context.catalog, attribute)
        if value not in allowed:
            raise _fail(
                "unknown_" + kind.replace(" ", "_"),
                f"unknown {kind} {value!r}" + did_you_mean(value, allowed),
            )
        return value

    return check


def _country(value: str) -> str:
    if value in country_codes():
        return value
    guess = _COUNTRY_ALIASES.get(value.upper())
    hint = f"; did you mean {guess!r}?" if guess else did_you_mean(value, country_codes())
    raise _fail("unknown_country", f"{value!r} is not an ISO 3166-1 alpha-2 country code{hint}")


def _region(value: str) -> str:
    return value if value == WORLDWIDE else _country(value)


def _language(value: str) -> str:
    if value in language_codes():
        return value
    hint = did_you_mean(value, language_codes())
    if not hint:
        try:
            hint = f"; did you mean {pycountry.languages.lookup(value).alpha_2!r}?"
        except (LookupError, AttributeError):
            hint = ""
    raise _fail("unknown_language", f"{value!r} is not an ISO 639-1 language code{hint}")


def _price_as_text(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise _fail(
            "price_number",
            f'write the price in quotes, such as "12.50": unquoted, {value} is read as a '
            "floating-point number, which cannot hold money exactly",
        )
    return value


def _price(value: str) -> str:
    try:
        parse_amount(value)
    except AmountError as error:
        raise _fail("price", str(error)) from None
    return value


def _currency(value: str) -> str:
    try:
        return check_currency(value)
    except AmountError as error:
        raise _fail("unknown_currency", str(error)) from None


def _some_roles(roles: list[str]) -> list[str]:
    if not roles:
        raise _fail(
            "no_roles",
            "name at least one admin role, or leave delegated_admin_roles out to ask for "
            f"{FULL_ACCESS_ROLE} (full access)",
        )
    return roles


def _unique(values: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise _fail("duplicate", f"{value!r} is listed twice")
        seen.add(value)
    return values


def _schema(**extra: Any) -> dict[str, Any]:
    return extra


OneLine = Annotated[str, AfterValidator(_single_line)]
Markdown = Annotated[str, AfterValidator(_multi_line)]
Slug = Annotated[
    str,
    Field(min_length=2, max_length=64, json_schema_extra=_schema(pattern=SLUG_PATTERN)),
    AfterValidator(
        _pattern(
            SLUG_PATTERN, "use lower-case letters, digits and single hyphens, like contoso-cloud"
        )
    ),
]
GitHubHandle = Annotated[
    str,
    Field(json_schema_extra=_schema(pattern=GITHUB_HANDLE_PATTERN)),
    AfterValidator(
        _pattern(GITHUB_HANDLE_PATTERN, "a GitHub user or team name, like contoso-web-team")
    ),
]
HttpUrl = Annotated[
    str,
    Field(max_length=300, json_schema_extra=_schema(format="uri", pattern=r"^https?://")),
    AfterValidator(_http_url),
]
Phone = Annotated[
    str,
    Field(json_schema_extra=_schema(pattern=PHONE_PATTERN)),
    AfterValidator(_pattern(PHONE_PATTERN, "write it in international form, like +1 555 0100")),
]
CountryCode = Annotated[
    str, Field(json_schema_extra=_schema(pattern=r"^[A-Z]{2}$")), AfterValidator(_country)
]
RegionCode = Annotated[
    str,
    Field(json_schema_extra=_schema(pattern=rf"^(?:[A-Z]{{2}}|{WORLDWIDE})$")),
    AfterValidator(_region),
]
LanguageCode = Annotated[
    str, Field(json_schema_extra=_schema(pattern=r"^[a-z]{2}$")), AfterValidator(_language)
]


def _catalog_id_schema(kind: str) -> Any:
    # Replaced by the catalog's ids in `marketplace.schema`, so editors complete them.
    return Field(json_schema_extra=_schema(**{"x-catalog": _CATALOG_ATTRIBUTES[kind]}))


ServiceId = Annotated[str, _catalog_id_schema("service"), AfterValidator(_catalog_value("service"))]
ProgramId = Annotated[str, _catalog_id_schema("program"), AfterValidator(_catalog_value("program"))]
CapabilityId = Annotated[
    str, _catalog_id_schema("capability"), AfterValidator(_catalog_value("capability"))
]
IndustryId = Annotated[
    str, _catalog_id_schema("industry"), AfterValidator(_catalog_value("industry"))
]
AdminRoleId = Annotated[
    str, _catalog_id_schema("admin role"), AfterValidator(_catalog_value("admin role"))
]

Price = Annotated[
    str,
    BeforeValidator(_price_as_text),
    Field(max_length=20, json_schema_extra=_schema(pattern=PRICE_PATTERN)),
    AfterValidator(_price),
]
"""A price per license per month, a quoted decimal such as "12.50"; never a float."""
CurrencyCode = Annotated[
    str, Field(json_schema_extra=_schema(pattern=r"^[A-Z]{3}$")), AfterValidator(_currency)
]
"""An ISO 4217 currency code in use (`marketplace.money.currencies_in_use`)."""

Item = TypeVar("Item")
UniqueList = Annotated[
    list[Item], Field(json_schema_extra=_schema(uniqueItems=True)), AfterValidator(_unique)
]
"""A list in which no value may appear twice."""

AdminRoles = Annotated[
    UniqueList[AdminRoleId],
    Field(json_schema_extra=_schema(minItems=1)),
    AfterValidator(_some_roles),
]
"""An offer's requested admin roles: at least one, each once, each in the catalog."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Contact(_Strict):
    """How customers reach the partner."""

    email: EmailStr = Field(description="Public address for customer enquiries.")
    phone: Phone | None = Field(
        default=None, description="Phone number in international form, e.g. +1 555 0100."
    )


class Offer(_Strict):
    """A trial or purchase offer the partner can send to customers."""

    # A rule across fields the schema can state, so editors flag it while partners type.
    model_config = ConfigDict(
        json_schema_extra=_schema(
            **{
                "if": {
                    "required": ["delegated_admin_roles"],
                    "properties": {"delegated_admin_roles": {"type": "array"}},
                },
                "then": {
                    "required": ["delegated_admin"],
                    "properties": {"delegated_admin": {"const": "optional"}},
                },
                "dependentRequired": {
                    "prices": ["currency", "billing"],
                    "currency": ["prices"],
                    "billing": ["prices"],
                },
            }
        )
    )

    id: Slug = Field(description="Unique within the listing; partners name it in API calls.")
    type: Literal["trial", "purchase"] = Field(
        description="`trial`: a free trial of the services; `purchase`: licenses to buy."
    )
    title: Annotated[OneLine, Field(min_length=3, max_length=100)]
    description: Annotated[OneLine | None, Field(default=None, max_length=300)]
    services: Annotated[
        UniqueList[ServiceId],
        Field(
            min_length=1, max_length=20, description="Services included; a subset of the listing's."
        ),
    ]
    trial_days: Annotated[
        int | None,
        Field(
            default=None,
            ge=TRIAL_DAYS_MIN,
            le=TRIAL_DAYS_MAX,
            description=f"Trial length in days ({TRIAL_DAYS_MIN}-{TRIAL_DAYS_MAX}); "
            "required for trials, not allowed for purchases.",
        ),
    ]
    delegated_admin: Literal["none", "optional"] = Field(
        default="none",
        description="`optional`: the invitation may ask the customer for delegated "
        "administration (needs a DA-eligible program).",
    )
    delegated_admin_roles: Annotated[
        AdminRoles | None,
        Field(
            default=None,
            description="The admin roles (catalog ids) delegated administration with this offer "
            "asks for; only with `delegated_admin: optional`. Left out, it asks for "
            f"{FULL_ACCESS_ROLE} (full access).",
        ),
    ]
    prices: Annotated[
        dict[ServiceId, Price] | None,
        Field(
            default=None,
            description="Purchase offers only: the default price per license per month of "
            'each of the offer\'s services, quoted ("12.50"), with no more decimals than the '
            "currency has; needs currency and billing. A purchase request naming this offer "
            "without prices of its own takes these.",
        ),
    ]
    currency: CurrencyCode | None = Field(
        default=None, description="The prices' ISO 4217 currency code (EUR, USD, JPY)."
    )
    billing: Literal["monthly", "annual"] | None = Field(
        default=None,
        description="How the customer is billed: `monthly`, or `annual` (12 months at once).",
    )


class OfferTranslation(_Strict):
    """An offer's text in another site language."""

    title: Annotated[OneLine, Field(min_length=3, max_length=100, description="The offer's title.")]


class Translation(_Strict):
    """The listing's text in another site language; missing fields fall back to English."""

    name: Annotated[OneLine | None, Field(default=None, min_length=2, max_length=80)]
    summary: Annotated[OneLine | None, Field(default=None, min_length=20, max_length=200)]
    description: Annotated[Markdown | None, Field(default=None, min_length=1, max_length=5000)]
    offers: Annotated[
        dict[Slug, OfferTranslation],
        Field(
            default={},
            max_length=20,
            description="By offer id (an id of the listing's `offers`): the offer's title in "
            "this language.",
        ),
    ]


class Listing(_Strict):
    """A partner's Marketplace listing (`listings/<slug>.yaml`)."""

    slug: Slug = Field(description="Equals the file name without .yaml.")
    maintainers: Annotated[
        UniqueList[GitHubHandle],
        Field(
            min_length=1,
            max_length=10,
            description="GitHub users or teams allowed to change this listing.",
        ),
    ]
    name: Annotated[
        OneLine,
        Field(min_length=2, max_length=80, description="Company name as customers know it."),
    ]
    summary: Annotated[
        OneLine, Field(min_length=20, max_length=200, description="One plain-text sentence.")
    ]
    description: Annotated[
        Markdown,
        Field(
            min_length=1,
            max_length=5000,
            description="Markdown. Raw HTML is neutralised; links must be http(s) or mailto.",
        ),
    ]
    website: HttpUrl
    contact: Contact
    logo: Annotated[
        str | None,
        Field(
            default=None,
            description="File beside the listing named <slug>.png|.jpg|.jpeg|"
            ".webp|.svg, at most 256 KB.",
        ),
    ]
    headquarters: CountryCode = Field(description="ISO 3166-1 alpha-2 country code.")
    regions: Annotated[
        UniqueList[RegionCode],
        Field(
            min_length=1,
            max_length=250,
            description=f"Countries served (ISO 3166-1 alpha-2), or [{WORLDWIDE}].",
        ),
    ]
    languages: Annotated[
        UniqueList[LanguageCode],
        Field(
            min_length=1, max_length=30, description="Languages spoken with customers (ISO 639-1)."
        ),
    ]
    programs: Annotated[
        UniqueList[ProgramId],
        Field(
            min_length=1, max_length=10, description="Partner programs the partner is enrolled in."
        ),
    ]
    services: Annotated[
        UniqueList[ServiceId],
        Field(min_length=1, max_length=50, description="Services the partner is authorized for."),
    ]
    capabilities: Annotated[
        UniqueList[CapabilityId],
        Field(min_length=1, max_length=30, description="What the partner does."),
    ]
    industries: Annotated[
        UniqueList[IndustryId],
        Field(min_length=0, max_length=30, description="Industries the partner specialises in."),
    ] = []
    delegated_admin: bool = Field(
        default=False, description="Offers delegated administration; needs a DA-eligible program."
    )
    offers: Annotated[list[Offer], Field(default=[], max_length=20)]
    translations: Annotated[
        dict[TranslationLanguage, Translation],
        Field(default={}, description="Text in other site languages, by ISO 639-1 code."),
    ]

    def text(self, language: str) -> tuple[str, str, str]:
        """(name, summary, description) in `language`, falling back to English per field."""
        # Any language may be asked for; the untranslated ones simply give None.
        translation = self.translations.get(language)  # type: ignore[call-overload]
        if translation is None:
            return self.name, self.summary, self.description
        return (
            translation.name or self.name,
            translation.summary or self.summary,
            translation.description or self.description,
        )

    def offer_title(self, offer_id: str, language: str) -> str | None:
        """An offer's title in `language` (else in English); None when no offer has the id."""
        offer = next((offer for offer in self.offers if offer.id == offer_id), None)
        if offer is None:
            return None
        translation = self.translations.get(language)  # type: ignore[call-overload]
        translated = translation.offers.get(offer_id) if translation is not None else None
        return translated.title if translated is not None else offer.title


def facet_values(listing: Listing, facet: Facet) -> list[str]:
    """The values a listing has for a facet."""
    values: list[str] = getattr(listing, facet.segment)
    return values


_DERIVED: dict[int, dict[Hashable, Any]] = {}
"""id(listing) -> what was derived from it, by key, while the listing lives (see `derived`)."""
DERIVED_PER_LISTING = 16
"""At most this many values are kept per listing (the least recently used goes first)."""
Derived = TypeVar("Derived")


def derived(listing: Listing, key: Hashable, make: Callable[[], Derived]) -> Derived:
    """`make()`: a value made from `listing` and from what `key` holds, which must be all else
    the value depends on. Made once per listing object and key, and kept while the listing
    lives: a listing is frozen, and `serve --watch`'s build process keeps its listings from
    one build to the next (only an edited file's listing is a new object), so its builds make
    again only what an edit changed. A build asks for a listing's JSON text, page keys and
    export rows in each site language, the index and the snapshot: tens of microseconds each,
    over a second per build at 10,000 listings."""
    memo_key = id(listing)
    memo = _DERIVED.get(memo_key)
    if memo is None:
        memo = _DERIVED[memo_key] = {}
        # Forgotten with the listing, before its id can be another object's.
        weakref.finalize(listing, _DERIVED.pop, memo_key, None)
    try:
        value: Derived = memo.pop(key)
    except KeyError:
        value = make()
        while len(memo) >= DERIVED_PER_LISTING:  # the least recently used: an older catalog's…
            del memo[next(iter(memo))]
    memo[key] = value  # last: the most recently used
    return value


def listing_digest(listing: Listing) -> str:
    """The SHA-256 (hex) of the listing's canonical JSON (`listing_json` with keys sorted),
    made once per listing object: what the keys of its outputs (each language's page, the
    search index's) and the partner snapshot's content hash are digests of, rather than of
    the whole text each time (the index's keys and the snapshot's hash are made in a forked
    process, whose own `derived` values die with it: this one is made in the build process)."""
    return derived(
        listing,
        "digest",
        lambda: hashlib.sha256(listing_json(listing, sort_keys=True).encode()).hexdigest(),
    )


def listing_json(listing: Listing, sort_keys: bool = False) -> str:
    """The listing as compact JSON text: its fields as the file format names them, in the
    model's order (what the snapshot and `partners.json` carry: the order partners wrote
    their prices and translations in stays), or with every object's keys sorted
    (`sort_keys`: the canonical text the snapshot's content hash, the site's page keys and the
    index's keys are computed over). Made once per listing object (`derived`): pydantic's
    dump and the encoder take ~60 µs a listing.
    """

    def make() -> str:
        data = listing.model_dump(mode="json")
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)

    return derived(listing, ("json", sort_keys), make)
