"""Each validation rule: a bad listing and the exact located message it produces."""

from __future__ import annotations

import pytest

from marketplace import lookalike
from tests.conftest import VALID_LISTING, ListingsFolder


def test_the_base_listing_is_valid(listings: ListingsFolder) -> None:
    listings.write()
    assert listings.problems() == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # Keys: unknown, with a suggestion; missing; duplicate.
        (
            "summary:",
            "summery:",
            [
                "acme.yaml:1:1: summary: missing required field 'summary'",
                "acme.yaml:4:1: summery: unknown field 'summery'; did you mean 'summary'?",
            ],
        ),
        (
            "name: Acme Cloud\n",
            "name: Acme Cloud\nname: Acme Two\n",
            [
                "acme.yaml:4:1: name: duplicate key 'name' (first written on line 3)",
            ],
        ),
        (
            "    trial_days: 30\n",
            "    trial_dayz: 30\n",
            [
                "acme.yaml:18:5: offers[0]: a trial offer needs trial_days",
                "acme.yaml:22:5: offers[0].trial_dayz: unknown field 'trial_dayz'; "
                "did you mean 'trial_days'?",
            ],
        ),
        # Slug.
        (
            "slug: acme",
            "slug: acme-cloud",
            [
                "acme.yaml:1:7: slug: must equal the file name 'acme' "
                "(or rename the file to acme-cloud.yaml)",
            ],
        ),
        (
            "slug: acme",
            "slug: Acme_Cloud",
            [
                "acme.yaml:1:7: slug: 'Acme_Cloud' is not valid: use lower-case letters, digits "
                "and single hyphens, like contoso-cloud",
                "acme.yaml:1:7: slug: must equal the file name 'acme' "
                "(or rename the file to Acme_Cloud.yaml)",
            ],
        ),
        # Catalog values, with suggestions.
        (
            "[exchange-online, teams]",
            "[exchang-online, teams]",
            [
                "acme.yaml:13:12: services[0]: unknown service 'exchang-online'; "
                "did you mean 'exchange-online'?",
            ],
        ),
        (
            "programs: [cloud-essentials]",
            "programs: [cloud-essential]",
            [
                "acme.yaml:12:12: programs[0]: unknown program 'cloud-essential'; "
                "did you mean 'cloud-essentials'?",
                "acme.yaml:16:18: delegated_admin: delegated administration needs one of the "
                "programs cloud-accelerate, cloud-deployment, cloud-essentials",
                "acme.yaml:23:22: offers[0].delegated_admin: delegated administration needs one "
                "of the programs cloud-accelerate, cloud-deployment, cloud-essentials",
            ],
        ),
        (
            "capabilities: [migration]",
            "capabilities: [migraton]",
            [
                "acme.yaml:14:16: capabilities[0]: unknown capability 'migraton'; "
                "did you mean 'migration'?",
            ],
        ),
        (
            "industries: [retail]",
            "industries: [banking]",
            [
                "acme.yaml:15:14: industries[0]: unknown industry 'banking'",
            ],
        ),
        (
            "services: [exchange-online, teams]",
            "services: [teams, teams]",
            [
                "acme.yaml:13:11: services: 'teams' is listed twice",
                "acme.yaml:21:16: offers[0].services[0]: 'exchange-online' is not among the "
                "listing's services; add it there first",
            ],
        ),
        # ISO codes.
        (
            "headquarters: US",
            "headquarters: UK",
            [
                "acme.yaml:9:15: headquarters: 'UK' is not an ISO 3166-1 alpha-2 country code; "
                "did you mean 'GB'?",
            ],
        ),
        (
            "regions: [US, CA]",
            "regions: [us, XX]",
            [
                "acme.yaml:10:11: regions[0]: 'us' is not an ISO 3166-1 alpha-2 country code; "
                "did you mean 'US'?",
                "acme.yaml:10:15: regions[1]: 'XX' is not an ISO 3166-1 alpha-2 country code",
            ],
        ),
        (
            "regions: [US, CA]",
            "regions: [worldwide, CA]",
            [
                "acme.yaml:10:10: regions: 'worldwide' already covers every country; list it alone",
            ],
        ),
        (
            "languages: [en]",
            "languages: [english, EN]",
            [
                "acme.yaml:11:13: languages[0]: 'english' is not an ISO 639-1 language code; "
                "did you mean 'en'?",
                "acme.yaml:11:22: languages[1]: 'EN' is not an ISO 639-1 language code; "
                "did you mean 'en'?",
            ],
        ),
        # YAML 1.1 booleans stay words: Norway and Norwegian are codes, `yes` is not true.
        ("headquarters: US", "headquarters: NO", []),
        (
            "delegated_admin: true\noffers",
            "delegated_admin: yes\noffers",
            [
                "acme.yaml:16:18: delegated_admin: expected true or false, found the text 'yes' "
                "(write true or false)",
                "acme.yaml:23:22: offers[0].delegated_admin: set delegated_admin: true on the "
                "listing to offer it here",
            ],
        ),
        # Delegated administration needs an eligible program.
        (
            "programs: [cloud-essentials]",
            "programs: [cloud-referral]",
            [
                "acme.yaml:16:18: delegated_admin: delegated administration needs one of the "
                "programs cloud-accelerate, cloud-deployment, cloud-essentials",
                "acme.yaml:23:22: offers[0].delegated_admin: delegated administration needs one "
                "of the programs cloud-accelerate, cloud-deployment, cloud-essentials",
            ],
        ),
        (
            "    delegated_admin: optional",
            "    delegated_admin: always",
            [
                "acme.yaml:23:22: offers[0].delegated_admin: must be one of 'none' or 'optional', "
                "found the text 'always'",
            ],
        ),
        # URLs and e-mail.
        (
            "website: https://acme.example",
            "website: javascript:alert(1)",
            [
                "acme.yaml:7:10: website: must be an http:// or https:// address",
            ],
        ),
        (
            "website: https://acme.example",
            "website: https://localhost",
            [
                "acme.yaml:7:10: website: must be a full web address such as "
                "https://contoso.example",
            ],
        ),
        (
            "email: sales@acme.example",
            "email: sales.acme.example",
            [
                "acme.yaml:8:18: contact.email: value is not a valid email address: An email "
                "address must have an @-sign.",
            ],
        ),
        (
            'phone: "+1 555 0100"',
            'phone: "call us"',
            [
                "acme.yaml:8:45: contact.phone: 'call us' is not valid: write it in "
                "international form, like +1 555 0100",
            ],
        ),
        # Lengths and text.
        (
            "summary: Cloud mail and Teams for small offices, set up in a day.",
            "summary: " + "x" * 201,
            [
                "acme.yaml:4:10: summary: is 201 characters long; at most 200 are allowed",
            ],
        ),
        (
            "name: Acme Cloud",
            "name: ",
            [
                "acme.yaml:3:6: name: a value is required here, but it is empty",
            ],
        ),
        (
            "name: Acme Cloud",
            'name: "Acme\\nCloud"',
            [
                "acme.yaml:3:7: name: must be one line of text without control or invisible "
                "characters; U+000A is character 5",
            ],
        ),
        (
            "maintainers: [acme-team]",
            "maintainers: []",
            [
                "acme.yaml:2:14: maintainers: needs at least 1 item(s)",
            ],
        ),
        (
            "maintainers: [acme-team]",
            "maintainers: [-acme]",
            [
                "acme.yaml:2:15: maintainers[0]: '-acme' is not valid: a GitHub user or team "
                "name, like contoso-web-team",
            ],
        ),
        # Offers.
        (
            "    trial_days: 30",
            "    trial_days: 365",
            [
                "acme.yaml:22:17: offers[0].trial_days: input should be less than or equal to 90",
            ],
        ),
        (
            "    trial_days: 30",
            "    trial_days: '30'",
            [
                "acme.yaml:22:17: offers[0].trial_days: expected a whole number, found the text "
                "'30'",
            ],
        ),
        (
            "    type: trial",
            "    type: purchase",
            [
                "acme.yaml:22:17: offers[0].trial_days: only trial offers have trial_days",
            ],
        ),
        (
            "    type: trial",
            "    type: trail",
            [
                "acme.yaml:19:11: offers[0].type: must be one of 'trial' or 'purchase', found the "
                "text 'trail'; did you mean 'trial'?",
            ],
        ),
        (
            "    services: [exchange-online]",
            "    services: [intune]",
            [
                "acme.yaml:21:16: offers[0].services[0]: 'intune' is not among the listing's "
                "services; add it there first",
            ],
        ),
        (
            VALID_LISTING[VALID_LISTING.index("offers:") :],
            VALID_LISTING[VALID_LISTING.index("offers:") :]
            + "  - id: starter\n    type: purchase\n    title: Again\n    services: [teams]\n",
            [
                "acme.yaml:24:9: offers[1].id: offer id 'starter' is already used by offers[0]",
            ],
        ),
        # Translations.
        (
            "offers:",
            "translations:\n  de: {name: Acme}\noffers:",
            [
                "acme.yaml:18:3: translations.de: must be one of 'ru', found the text 'de'",
            ],
        ),
        (
            "offers:",
            "translations:\n  ru: {summary: Коротко}\noffers:",
            [
                "acme.yaml:18:17: translations.ru.summary: is 7 characters long; at least 20 are "
                "needed",
            ],
        ),
        # Logos.
        (
            "industries: [retail]",
            "industries: [retail]\nlogo: acme.png",
            [
                "acme.yaml:16:7: logo: logo file 'acme.png' not found beside the listing",
            ],
        ),
        (
            "industries: [retail]",
            "industries: [retail]\nlogo: ../other/acme.gif",
            [
                "acme.yaml:16:7: logo: logo must be a file beside the listing named acme.png, "
                ".jpg, .jpeg, .webp or .svg",
            ],
        ),
        (
            "industries: [retail]",
            "industries: [retail]\nlogo: contoso.png",
            [
                "acme.yaml:16:7: logo: logo must be named acme.png (after the slug)",
            ],
        ),
        # YAML features that are refused.
        (
            "industries: [retail]",
            "industries: &i [retail]\nalso: *i",
            [
                # libyaml gives an alias the anchored node itself, so it points at the anchor.
                "acme.yaml:15:13: also: YAML anchors and aliases (&name, *name) are not allowed; "
                "write the value out",
                "acme.yaml:16:1: also: unknown field 'also'",
            ],
        ),
        (
            "industries: [retail]",
            "industries: !!python/object:os.system [retail]",
            [
                "acme.yaml:15:13: industries: YAML tags such as 'tag:yaml.org,2002:python/object:"
                "os.system' are not allowed",
            ],
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 40 else None,
)
def test_rule(listings: ListingsFolder, old: str, new: str, expected: list[str]) -> None:
    listings.write_variant(old, new)
    assert listings.problems() == expected


def test_every_problem_in_every_file_is_reported_at_once(listings: ListingsFolder) -> None:
    listings.write_variant("headquarters: US", "headquarters: XX")
    listings.write(
        "beta",
        VALID_LISTING.replace("slug: acme", "slug: beta")
        .replace("name: Acme Cloud", "name: Beta")
        .replace("[en]", "[zz]")
        .replace("[retail]", "[retial]"),
    )
    assert listings.problems() == [
        "acme.yaml:9:15: headquarters: 'XX' is not an ISO 3166-1 alpha-2 country code",
        "beta.yaml:11:13: languages[0]: 'zz' is not an ISO 639-1 language code",
        "beta.yaml:15:14: industries[0]: unknown industry 'retial'; did you mean 'retail'?",
    ]


def test_names_are_unique_across_files_ignoring_case(listings: ListingsFolder) -> None:
    listings.write()
    listings.write(
        "beta",
        VALID_LISTING.replace("slug: acme", "slug: beta").replace(
            "name: Acme Cloud", "name: ACME cloud"
        ),
    )
    (problem,) = listings.problems()
    assert problem.startswith("beta.yaml:3:7: name: the name 'ACME cloud' is already used by ")
    assert problem.endswith("acme.yaml (line 3)")


def write_beta(listings: ListingsFolder, name: str) -> None:
    listings.write(
        "beta",
        VALID_LISTING.replace("slug: acme", "slug: beta").replace(
            "name: Acme Cloud", f"name: {name}"
        ),
    )


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        # Cyrillic А, с, е among Latin letters.
        ("\u0410\u0441m\u0435 Cloud", "'А' (U+0410 CYRILLIC CAPITAL LETTER A), 'с' (U+0441"),
        ("ACM\u0415 CLOUD", "'Е' (U+0415 CYRILLIC CAPITAL LETTER IE)"),  # and other case
        ("Acme C\u0406oud", "'І' (U+0406 CYRILLIC CAPITAL LETTER BYELORUSSIAN-UKRAINIAN I)"),
        ("Acme CIoud", ""),  # capital I for the l, all ASCII
        ("Acrne Cloud", ""),  # "rn" for "m"
        ("Acme Cl0ud", ""),  # digit zero for o
    ],
)
def test_look_alike_names_are_refused(listings: ListingsFolder, name: str, shown: str) -> None:
    listings.write()
    write_beta(listings, name)
    (problem,) = listings.problems()
    assert problem.startswith(f"beta.yaml:3:7: name: the name {name!r} ")
    assert "acme.yaml (line 3)" in problem and "Acme Cloud" in problem
    assert shown in problem


@pytest.mark.parametrize("name", ["Acme Clouds", "Acme Cloud Services", "Акме Облако"])
def test_different_names_are_not_look_alikes(listings: ListingsFolder, name: str) -> None:
    listings.write()
    write_beta(listings, name)
    assert listings.problems() == []


INVISIBLE = [
    pytest.param("Acme\u034f Cloud", "U+034F COMBINING GRAPHEME JOINER", id="U+034F"),
    pytest.param("Acme\u3164Cloud", "U+3164 HANGUL FILLER", id="U+3164"),
    pytest.param("Acme Clou\u17b5d", "U+17B5 KHMER VOWEL INHERENT AA", id="U+17B5"),
    pytest.param("Acme Cloud\u180b", "U+180B MONGOLIAN FREE VARIATION SELECTOR ONE", id="U+180B"),
    pytest.param("Acme Cloud\ufe0f", "U+FE0F VARIATION SELECTOR-16", id="U+FE0F"),
]


@pytest.mark.parametrize(("name", "shown"), INVISIBLE)
def test_names_with_invisible_characters_are_refused(
    listings: ListingsFolder, name: str, shown: str
) -> None:
    """Invisible (default-ignorable) characters are not letters or controls: a name with one
    reads exactly like the name without it."""
    listings.write()
    write_beta(listings, name)
    (problem,) = listings.problems()
    assert problem.startswith(
        "beta.yaml:3:7: name: must be one line of text without control or invisible characters; "
        + shown
    )


@pytest.mark.parametrize(
    "name",
    [
        *(param.values[0] for param in INVISIBLE),
        "Acme  Cloud",
        " Acme\u3000Cloud ",  # ideographic space
        "ACME\u00a0\u00a0CLOUD",
        "Ac\u200bme Cloud",  # zero-width space (a format character)
    ],
)
def test_the_look_alike_key_ignores_invisible_characters_and_extra_spaces(name: str) -> None:
    """UTS #39: the skeleton drops default-ignorable code points; runs of spaces read as one."""
    assert lookalike.name_key(name) == lookalike.name_key("Acme Cloud")
    assert lookalike.name_key(name) != lookalike.name_key("Acme Clouds")


def test_doubled_spaces_are_a_look_alike(listings: ListingsFolder) -> None:
    listings.write()
    write_beta(listings, "Acme  Cloud")
    assert listings.problems() == [
        "beta.yaml:3:7: name: the name 'Acme  Cloud' looks like 'Acme Cloud', already used by "
        f"{listings.root / 'acme.yaml'} (line 3); it uses extra or unusual spaces; choose a "
        "name customers cannot mistake for another partner's"
    ]


def with_russian_name(name: str, slug: str = "beta", own: str = "Beta Cloud") -> str:
    """The valid listing as `slug`, named `own`, with `name` as its Russian name."""
    return (
        VALID_LISTING.replace("slug: acme", f"slug: {slug}").replace("Acme Cloud", own)
        + f"translations:\n  ru:\n    name: {name}\n"
    )


TRANSLATED_NAME = "translations.ru.name"
RUSSIAN_NAME_AT = "26:11"
"""Where `with_russian_name` writes the Russian name."""


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Acme Cloud", "the name 'Acme Cloud' is already used by {acme} (line 3)"),
        ("ACME CLOUD", "the name 'ACME CLOUD' is already used by {acme} (line 3)"),
        (
            "\u0410\u0441m\u0435 Cloud",
            "the name 'Асmе Cloud' looks like 'Acme Cloud', already used by {acme} (line 3); "
            "it uses the look-alike characters 'А' (U+0410",
        ),
    ],
)
def test_a_translated_name_may_not_copy_another_partners_name(
    listings: ListingsFolder, name: str, message: str
) -> None:
    """A Russian name is what /ru/ pages and Russian invitation mail show."""
    listings.write()
    listings.write("beta", with_russian_name(name))
    (problem,) = listings.problems()
    assert problem.startswith(
        f"beta.yaml:{RUSSIAN_NAME_AT}: {TRANSLATED_NAME}: "
        + message.format(acme=listings.root / "acme.yaml")
    )


def test_the_translation_is_reported_whichever_file_comes_first(listings: ListingsFolder) -> None:
    listings.write("zeta", VALID_LISTING.replace("slug: acme", "slug: zeta"))
    listings.write("alpha", with_russian_name("Acme Cloud", slug="alpha", own="Alpha Cloud"))
    assert listings.problems() == [
        f"alpha.yaml:{RUSSIAN_NAME_AT}: {TRANSLATED_NAME}: the name 'Acme Cloud' is already used "
        f"by {listings.root / 'zeta.yaml'} (line 3)"
    ]


def test_translated_names_compare_with_each_other(listings: ListingsFolder) -> None:
    listings.write("alpha", with_russian_name("Облако Альфа", slug="alpha", own="Alpha Cloud"))
    listings.write("beta", with_russian_name("облако альфа"))
    assert listings.problems() == [
        f"beta.yaml:{RUSSIAN_NAME_AT}: {TRANSLATED_NAME}: the name 'облако альфа' is already "
        f"used by {listings.root / 'alpha.yaml'} ({TRANSLATED_NAME}, line 26)"
    ]
    # A partner's own name comes first: the translation is what must change.
    listings.write(
        "beta", VALID_LISTING.replace("slug: acme", "slug: beta"), **{"Acme Cloud": "Облако Альфа"}
    )
    assert listings.problems() == [
        f"alpha.yaml:{RUSSIAN_NAME_AT}: {TRANSLATED_NAME}: the name 'Облако Альфа' is already "
        f"used by {listings.root / 'beta.yaml'} (line 3)"
    ]


def test_a_listing_may_repeat_its_own_name_in_a_translation(listings: ListingsFolder) -> None:
    listings.write()
    listings.write("beta", with_russian_name("Beta Cloud"))
    assert listings.problems() == []


def test_yml_extension_is_refused_with_the_fix(listings: ListingsFolder) -> None:
    (listings.root / "acme.yml").write_text(VALID_LISTING)
    assert listings.problems() == [
        "acme.yml:1:1: listing files must end in .yaml; rename to acme.yaml",
    ]
