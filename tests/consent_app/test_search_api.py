"""`GET /api/v1/search` through the Flask test client, over a real index in the instance."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from marketplace.validate import load_listings
from marketplace_app.build import BuildPaths, build, build_search_index
from marketplace_app.config import settings_for
from marketplace_app.wiring import backend_app
from search.engine import MAX_FILTER_VALUES, SORTS
from tests.conftest import EXAMPLE_LISTINGS, install_example_snapshot

HIT_FIELDS = {
    *("slug", "name", "summary", "url", "score", "highlights"),
    *("logo", "regions", "programs", "delegated_admin", "trial", "published", "lang"),
}


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The index `marketplace build` writes for the examples (logos, dates from git)."""
    root = tmp_path_factory.mktemp("build")
    paths = BuildPaths(EXAMPLE_LISTINGS, root / "site", root / "instance")
    build_search_index(paths, load_listings(EXAMPLE_LISTINGS))
    install_example_snapshot(paths.instance_dir)
    return paths.instance_dir


@pytest.fixture
def client(instance: Path, tmp_path: Path) -> FlaskClient:
    app = backend_app(settings_for(instance, site_dir=tmp_path), test_config={"TESTING": True})
    return app.test_client()


def test_answers_in_the_documented_shape(client: FlaskClient) -> None:
    response = client.get("/api/v1/search?q=migration&service=exchange-online&per_page=2")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"total", "hits", "facets", "suggestion"}
    assert body["total"] >= 2 and len(body["hits"]) == 2
    hit = body["hits"][0]
    assert set(hit) == HIT_FIELDS
    assert hit["url"] == f"/partners/{hit['slug']}/"
    assert set(body["facets"]) == {
        "service",
        "capability",
        "industry",
        "region",
        "language",
        "program",
        "delegated_admin",
    }
    assert body["facets"]["service"]["exchange-online"] == body["total"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_russian_answers(client: FlaskClient) -> None:
    body = client.get("/api/v1/search?q=обучение&lang=ru").get_json()
    assert body["hits"][0]["url"].startswith("/ru/partners/")
    assert body["hits"][0]["name"] == "Тайга Облачные Партнёры"


def test_suggestion(client: FlaskClient) -> None:
    assert client.get("/api/v1/search?q=secruity").get_json()["suggestion"] == "security"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("q=" + "x" * 501, "q"),
        ("q=a%00b", "q"),
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("per_page=1000", "per_page"),
        ("page=１", "page"),
        ("lang=xx", "lang"),
        ("delegated_admin=maybe", "delegated_admin"),
        ("sort=popular", "sort"),
        ("sort=NAME", "sort"),
        ("region=de", "region"),
        ("region=DE&region=Germany", "region"),
        ("service=teams&service=Exchange", "service"),
        ("language=eng", "language"),
        ("program=%3Cscript%3E", "program"),
        (
            "industry=" + "&industry=".join(f"i{n}" for n in range(MAX_FILTER_VALUES + 1)),
            "industry",
        ),
    ],
)
def test_bad_parameters_get_a_400_naming_them(client: FlaskClient, query: str, field: str) -> None:
    response = client.get("/api/v1/search?" + query)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "validation_error" and body["field"] == field and body["message"]


@pytest.mark.parametrize(
    "q",
    ['"', "((", "*", "name:contoso", "slug:*", "a" * 500, "%25", "<script>", "OR", "NOT AND"],
)
def test_hostile_queries_answer(client: FlaskClient, q: str) -> None:
    response = client.get("/api/v1/search", query_string={"q": q})
    assert response.status_code == 200
    assert "<script>" not in response.get_data(as_text=True)


def test_unknown_facet_value_finds_nothing(client: FlaskClient) -> None:
    body = client.get("/api/v1/search?service=no-such-service").get_json()
    assert body["total"] == 0 and body["hits"] == []


def test_without_an_index_the_api_says_so(tmp_path: Path) -> None:
    install_example_snapshot(tmp_path / "empty")
    app = backend_app(
        settings_for(tmp_path / "empty", site_dir=tmp_path), test_config={"TESTING": True}
    )
    response = app.test_client().get("/api/v1/search?q=x")
    assert response.status_code == 503
    assert response.get_json()["error"] == "search_unavailable"


def test_unknown_api_urls_answer_json(client: FlaskClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"] == "not_found"
    response = client.post("/api/v1/search")
    assert response.status_code == 405
    assert response.get_json()["error"] == "method_not_allowed"


def slugs(client: FlaskClient, query: str) -> set[str]:
    body = client.get(f"/api/v1/search?per_page=50&{query}").get_json()
    assert body["total"] == len(body["hits"]) < 50
    return {hit["slug"] for hit in body["hits"]}


@pytest.mark.parametrize("q", ["", "q=cloud&"])
def test_repeated_facets_are_or_and_different_facets_and(client: FlaskClient, q: str) -> None:
    teams = slugs(client, q + "service=teams")
    exchange = slugs(client, q + "service=exchange-online")
    either = slugs(client, q + "service=teams&service=exchange-online")
    assert either == teams | exchange and either > teams and either > exchange
    in_gb_or_de = slugs(client, q + "region=GB&region=DE")
    assert in_gb_or_de == slugs(client, q + "region=GB") | slugs(client, q + "region=DE")
    both = slugs(client, q + "service=teams&region=GB&service=exchange-online&region=DE")
    assert both == either & in_gb_or_de and both
    worldwide = slugs(client, q + "region=worldwide")
    assert worldwide <= slugs(client, q + "region=JP&region=NZ")
    assert worldwide or q, "the examples have a worldwide partner"
    assert slugs(client, q + "service=&service=teams&service=") == teams, "empty values: none"


def test_counts_with_several_values_are_disjunctive(client: FlaskClient) -> None:
    asked = "q=cloud&service=teams&service=exchange-online&region=GB&region=DE"
    body = client.get(f"/api/v1/search?{asked}").get_json()
    unfiltered = client.get("/api/v1/search?q=cloud&region=GB&region=DE").get_json()
    assert body["facets"]["service"] == unfiltered["facets"]["service"], "its own filter aside"
    for service, count in body["facets"]["service"].items():
        alone = f"q=cloud&service={service}&region=GB&region=DE"
        assert client.get(f"/api/v1/search?{alone}").get_json()["total"] == count
    for region, count in body["facets"]["region"].items():
        alone = f"q=cloud&service=teams&service=exchange-online&region={region}"
        assert client.get(f"/api/v1/search?{alone}").get_json()["total"] == count
    assert sum(body["facets"]["delegated_admin"].values()) == body["total"]


@pytest.mark.parametrize("sort", [*SORTS, ""])
@pytest.mark.parametrize("asked", ["", "q=cloud", "service=teams&service=exchange-online"])
@pytest.mark.parametrize("lang", ["en", "ru"])
def test_paging_through_every_sort_shows_each_partner_once(
    client: FlaskClient, sort: str, asked: str, lang: str
) -> None:
    seen: list[str] = []
    for page in range(1, 20):
        query = f"/api/v1/search?{asked}&sort={sort}&lang={lang}&per_page=2&page={page}"
        body = client.get(query).get_json()
        if not body["hits"]:
            break
        seen += [hit["slug"] for hit in body["hits"]]
    assert len(seen) == len(set(seen)) == body["total"] > 2
    whole = client.get(f"/api/v1/search?{asked}&sort={sort}&lang={lang}&per_page=50").get_json()
    assert seen == [hit["slug"] for hit in whole["hits"]]


def hits(client: FlaskClient, query: str) -> list[dict[str, Any]]:
    body: dict[str, Any] = client.get(f"/api/v1/search?per_page=50&{query}").get_json()
    return list(body["hits"])


def test_sorts(client: FlaskClient) -> None:
    for lang in ("en", "ru"):
        names = [hit["name"] for hit in hits(client, f"sort=name&lang={lang}")]
        assert names == sorted(names, key=str.casefold)
        assert [hit["name"] for hit in hits(client, f"lang={lang}")] == names, "the default"
    newest = [(hit["published"], hit["name"].casefold()) for hit in hits(client, "sort=newest")]
    assert newest == sorted(newest, key=lambda key: (-int(key[0].replace("-", "")), key[1]))
    scores = [hit["score"] for hit in hits(client, "q=migration")]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    assert hits(client, "q=migration") == hits(client, "q=migration&sort=relevance")


def test_hits_describe_the_partner_card(client: FlaskClient) -> None:
    _, loaded = load_listings(EXAMPLE_LISTINGS)
    listings = {item.listing.slug: item for item in loaded}
    for lang, root in (("en", "/"), ("ru", "/ru/")):
        for hit in hits(client, f"lang={lang}"):
            item = listings[hit["slug"]]
            if item.logo_path is None:
                assert hit["logo"] is None
            else:
                assert re.fullmatch(
                    rf"{root}logos/{hit['slug']}-[0-9a-f]{{12}}{item.logo_path.suffix}", hit["logo"]
                )
            assert hit["regions"] == item.listing.regions
            assert hit["programs"] == item.listing.programs
            assert hit["delegated_admin"] is item.listing.delegated_admin
            assert hit["trial"] is any(offer.type == "trial" for offer in item.listing.offers)
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", hit["published"])
    russian = {hit["slug"]: hit for hit in hits(client, "lang=ru")}
    assert russian["kanto-device-works"]["lang"] == "en", "untranslated: English text"
    assert (
        russian["kanto-device-works"]["summary"] == listings["kanto-device-works"].listing.summary
    )
    assert russian["taiga-cloud"]["lang"] == "ru"
    assert {hit["lang"] for hit in hits(client, "lang=en")} == {"en"}


GIT = shutil.which("git")


def git(folder: Path, *args: str, when: str | None = None) -> None:
    assert GIT is not None
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}
    if when:
        env |= {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when}
    subprocess.run(
        [GIT, "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
    )


@pytest.mark.slow
@pytest.mark.skipif(GIT is None, reason="needs git")
def test_a_real_build_serves_the_logos_and_dates_its_hits_name(tmp_path: Path) -> None:
    """`marketplace build` of a listings folder with a git history: each hit's logo is the file
    the site serves, in both languages, and its first-published date is the site's."""
    listings = tmp_path / "listings"
    shutil.copytree(EXAMPLE_LISTINGS, listings)
    later = {"contoso-cloud.yaml", "contoso-cloud.png", "taiga-cloud.yaml", "taiga-cloud.png"}
    git(listings, "init", "-q")
    git(listings, "add", "--", *sorted({p.name for p in listings.iterdir()} - later))
    git(listings, "commit", "-q", "-m", "first listings", when="2023-05-01T10:00:00+00:00")
    git(listings, "add", "--", "contoso-cloud.yaml", "contoso-cloud.png")
    git(listings, "commit", "-q", "-m", "contoso", when="2024-02-10T23:30:00+00:00")
    edited = datetime(2025, 1, 15, 12, tzinfo=UTC).timestamp()
    os.utime(listings / "taiga-cloud.yaml", (edited, edited))  # not committed: its mtime
    paths = BuildPaths(listings, tmp_path / "site", tmp_path / "instance")
    build(paths)
    settings = settings_for(paths.instance_dir, site_dir=paths.site_dir)
    client = backend_app(settings, test_config={"TESTING": True}).test_client()
    with client.get("/partners.json") as exported:
        partners = exported.get_json()["partners"]
    site_published = {partner["slug"]: partner["published"][:10] for partner in partners}
    logo_files = {item.listing.slug: item.logo_path for item in load_listings(listings)[1]}
    for lang, root in (("en", "/"), ("ru", "/ru/")):
        found = hits(client, f"lang={lang}&sort=newest")
        assert [hit["slug"] for hit in found[:2]] == ["taiga-cloud", "contoso-cloud"]
        assert [hit["published"] for hit in found[:3]] == ["2025-01-15", "2024-02-10", "2023-05-01"]
        assert {hit["slug"]: hit["published"] for hit in found} == site_published
        with_logo = [hit for hit in found if hit["logo"]]
        assert len(with_logo) == sum(1 for path in logo_files.values() if path) > 0
        for hit in with_logo:
            with client.get(hit["logo"]) as served:
                assert served.status_code == 200, hit["logo"]
                assert served.data == logo_files[hit["slug"]].read_bytes()
            with client.get(hit["url"]) as page:
                shown = page.get_data(as_text=True)
            assert hit["logo"].removeprefix(root) in shown, "the partner page shows that file"


def test_the_openapi_document_describes_every_parameter_and_hit_field(
    client: FlaskClient,
) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    search = document["paths"]["/api/v1/search"]["get"]
    parameters = {parameter["name"]: parameter for parameter in search["parameters"]}
    assert parameters["sort"]["schema"]["enum"] == list(SORTS)
    for facet in ("service", "capability", "industry", "region", "language", "program"):
        assert parameters[facet]["explode"] and parameters[facet]["schema"]["type"] == "array"
    hit_schema = document["components"]["schemas"]["SearchResult"]["properties"]["hits"]["items"]
    assert set(hit_schema["required"]) == set(hit_schema["properties"]) == HIT_FIELDS
