"""`GET /api/v1/search` through the Flask test client, over a real index in the instance."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from marketplace.validate import load_listings
from marketplace_app.config import settings_for
from marketplace_app.wiring import backend_app
from search.documents import partner_documents
from search.whoosh_engine import build_index
from search.whoosh_engine import index_root as search_index_root
from tests.conftest import EXAMPLE_LISTINGS, install_example_snapshot


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Path:
    instance = tmp_path_factory.mktemp("instance")
    catalog, loaded = load_listings(EXAMPLE_LISTINGS)
    build_index(
        search_index_root(instance), partner_documents(catalog, [i.listing for i in loaded])
    )
    install_example_snapshot(instance)
    return instance


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
    assert set(hit) == {"slug", "name", "summary", "url", "score", "highlights"}
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
