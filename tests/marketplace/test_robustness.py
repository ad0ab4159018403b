"""The validator never raises, and every kind of junk gets one located message, quickly."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketplace.catalog import CATALOG_FILE_NAME, Catalog
from marketplace.validate import validate_file
from tests.conftest import VALID_LISTING, ListingsFolder, own_cpu_time


def problems_for(listings: ListingsFolder, content: bytes) -> list[str]:
    (listings.root / "acme.yaml").write_bytes(content)
    return listings.problems()


def test_empty_file(listings: ListingsFolder) -> None:
    assert problems_for(listings, b"") == ["acme.yaml:1:1: the file is empty"]
    assert problems_for(listings, b"# only a comment\n") == ["acme.yaml:1:1: the file is empty"]


def test_not_a_mapping(listings: ListingsFolder) -> None:
    assert problems_for(listings, b"- slug: acme\n") == [
        "acme.yaml:1:1: a listing must be a mapping of fields (slug: …, name: …), found a list"
    ]
    assert problems_for(listings, b"just words\n") == [
        "acme.yaml:1:1: a listing must be a mapping of fields (slug: …, name: …), "
        "found a single value"
    ]


def test_invalid_utf8_is_located(listings: ListingsFolder) -> None:
    content = VALID_LISTING.replace("Acme Cloud", "Acme \udcffCloud").encode(
        "utf-8", "surrogateescape"
    )
    assert problems_for(listings, content) == [
        "acme.yaml:3:12: the file is not UTF-8 text (byte 0xff)"
    ]


def test_binary_junk_is_located(listings: ListingsFolder) -> None:
    (problem,) = problems_for(listings, b"slug: acme\n\x00\x01\x02PNG")
    assert problem == (
        "acme.yaml:2:1: character U+0000 is not allowed in YAML (control characters are not "
        "allowed)"
    )


def test_syntax_error_is_located(listings: ListingsFolder) -> None:
    (problem,) = problems_for(listings, b"slug: acme\nregions: [US, CA\nname: x\n")
    assert problem.startswith("acme.yaml:3:5: YAML syntax error: while parsing a flow sequence")


def test_two_documents(listings: ListingsFolder) -> None:
    (problem,) = problems_for(listings, b"slug: a\n---\nslug: b\n")
    assert problem.startswith("acme.yaml:2:1: YAML syntax error: expected a single document")


def test_alias_bomb_is_refused_quickly(listings: ListingsFolder) -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 10):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 9)}]")
    with own_cpu_time() as spent:
        found = problems_for(listings, "\n".join(lines).encode())
    assert spent.seconds < 2
    assert any("YAML anchors and aliases (&name, *name) are not allowed" in p for p in found)


def test_huge_file_is_refused_before_parsing(listings: ListingsFolder) -> None:
    with own_cpu_time() as spent:
        found = problems_for(listings, b"a: " + b"x" * 50_000_000)
    assert found == ["acme.yaml:1:1: the file is 48828 KB; a listing may be at most 128 KB"]
    assert spent.seconds < 2


def test_deep_nesting(listings: ListingsFolder) -> None:
    (problem,) = problems_for(listings, b"a: " + b"[" * 100_000)
    assert problem.startswith("acme.yaml:1:")
    assert "exceeded maximum nesting depth" in problem


def test_many_problems_in_one_big_file_stay_fast(listings: ListingsFolder) -> None:
    body = "".join(f"unknown_{i}: {i}\n" for i in range(5000))
    with own_cpu_time() as spent:  # CPU of this thread: not a speed test, a blow-up catcher
        found = problems_for(listings, body.encode())
    assert spent.seconds < 3
    assert len(found) > 5000


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(content=st.binary(max_size=2000))
def test_never_raises_on_bytes(tmp_path: Path, example_catalog: Catalog, content: bytes) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(content)
    loaded, problems = validate_file(path, example_catalog)
    assert loaded is None
    assert problems and all(p.line >= 1 and p.column >= 1 for p in problems)


yaml_like_text = st.lists(
    st.one_of(
        st.sampled_from(VALID_LISTING.splitlines()),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=60),
        st.sampled_from(
            [
                "- ",
                "  ",
                ": ",
                "[",
                "]",
                "{",
                "}",
                "&a ",
                "*a",
                "!!",
                "? ",
                "|",
                ">",
                "'",
                '"',
                "#",
                "---",
                "...",
                "%YAML 1.2",
                "\t",
                "\r",
                "<<: ",
            ]
        ),
    ),
    max_size=40,
).map("\n".join)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=yaml_like_text)
def test_never_raises_on_yaml_like_text(
    tmp_path: Path, example_catalog: Catalog, text: str
) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    loaded, problems = validate_file(path, example_catalog)
    assert (loaded is None) == bool(problems)
    assert all(p.line >= 1 and p.column >= 1 for p in problems)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=10), children, max_size=4)
        ),
        max_leaves=20,
    ),
    field=st.sampled_from(
        [
            "name",
            "regions",
            "offers",
            "contact",
            "translations",
            "logo",
            "delegated_admin",
            "services",
            "website",
        ]
    ),
)
def test_never_raises_on_any_value_in_any_field(
    tmp_path: Path, example_catalog: Catalog, value: object, field: str
) -> None:
    import json

    lines = [line for line in VALID_LISTING.split("\n") if not line.startswith(f"{field}:")]
    if field in ("offers", "contact"):  # drop the block's indented lines too
        text = VALID_LISTING.split(f"{field}:")[0] if field == "offers" else "\n".join(lines)
    else:
        text = "\n".join(lines)
    text += f"\n{field}: {json.dumps(value)}\n"
    path = tmp_path / "acme.yaml"
    path.write_text(text, encoding="utf-8")
    validate_file(path, example_catalog)


@pytest.mark.timeout(30)
def test_a_listing_or_catalog_that_is_a_link_is_refused_unread(
    listings: ListingsFolder, tmp_path: Path
) -> None:
    """Links in a pull request are refused, not followed (a link to /dev/zero read forever)."""
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(VALID_LISTING, encoding="utf-8")
    refused = "acme.yaml:1:1: a listing must be a file itself, not a link or a special file"
    for target in (elsewhere, Path("/dev/zero")):
        (listings.root / "acme.yaml").unlink(missing_ok=True)
        (listings.root / "acme.yaml").symlink_to(target)
        assert listings.problems() == [refused]
    catalog = listings.root / CATALOG_FILE_NAME
    catalog.unlink()
    catalog.symlink_to("/dev/zero")
    assert listings.problems() == [
        f"{CATALOG_FILE_NAME}:1:1: the catalog must be a file itself, not a link or a special file"
    ]
