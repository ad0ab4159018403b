"""The app serves the built static site like a static host would, and answers /healthz."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from marketplace_app.cli import main
from marketplace_app.config import settings_for
from marketplace_app.wiring import backend_app
from tests.conftest import EXAMPLE_LISTINGS, install_example_snapshot
from tests.serving import serve, stop
from tests.smtp import free_port


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    site = tmp_path / "site"
    (site / "partners" / "acme").mkdir(parents=True)
    (site / "index.html").write_text("<h1>home</h1>")
    (site / "404.html").write_text("<h1>not here</h1>")
    (site / "ru").mkdir()
    (site / "ru" / "404.html").write_text("<h1>нет такой</h1>")
    (site / "partners" / "acme" / "index.html").write_text("<h1>Acme</h1>")
    (tmp_path / "secret.txt").write_text("outside the site")
    install_example_snapshot(tmp_path / "instance")
    return backend_app(
        settings_for(tmp_path / "instance", site_dir=site), test_config={"TESTING": True}
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def fetch(client: FlaskClient, path: str) -> tuple[int, bytes, str | None]:
    """Status, body and Location of a GET, with the response (an open file) closed."""
    response = client.get(path)
    try:
        return response.status_code, response.get_data(), response.headers.get("Location")
    finally:
        response.close()


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 503  # this site was never built: no search index
    body = response.get_json()
    assert body.pop("partner_snapshot")["partners"] == 14  # the example listings' snapshot
    assert [reason["code"] for reason in body.pop("reasons")] == ["search_index_missing"]
    assert body == {
        "status": "degraded",
        "database": "ok",
        "search_index": False,
        "search_index_snapshot": None,
        "outbox": {"unsent": 0, "failing": 0, "oldest_unsent_seconds": None},
    }


def test_home_and_folder_pages(client: FlaskClient) -> None:
    assert fetch(client, "/") == (200, b"<h1>home</h1>", None)
    assert fetch(client, "/partners/acme/") == (200, b"<h1>Acme</h1>", None)


def test_folder_without_slash_redirects(client: FlaskClient) -> None:
    status, _, location = fetch(client, "/partners/acme?x=1")
    assert (status, location) == (301, "/partners/acme/?x=1")


def test_unknown_page_is_the_sites_404(client: FlaskClient) -> None:
    assert fetch(client, "/partners/nobody/") == (404, b"<h1>not here</h1>", None)


def test_an_unknown_russian_page_is_the_russian_404(client: FlaskClient) -> None:
    status, body, _ = fetch(client, "/ru/partners/nobody/")
    assert (status, body.decode()) == (404, "<h1>нет такой</h1>")
    assert fetch(client, "/ru/../secret.txt")[0] == 404


@pytest.mark.parametrize("path", ["logos/acme-0123.svg", "ru/logos/acme-0123.svg", "logos/b.png"])
def test_logos_load_nothing_and_run_sandboxed(app: Flask, path: str) -> None:
    """An SVG opened on its own is a document of the site's origin: even one that slipped past
    the logo checks may not load, run or navigate anything."""
    target = Path(app.config["SITE_DIR"]) / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg"/>')
    response = app.test_client().get(f"/{path}")
    response.close()  # the body is an open file
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == (
        "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_static_host_headers_for_logos_are_printed() -> None:
    result = CliRunner().invoke(main, ["csp", "--logos"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; sandbox",
        "X-Content-Type-Options: nosniff",
    ]


def test_paths_outside_the_site_are_refused(client: FlaskClient) -> None:
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/partners/../../secret.txt"):
        status, body, _ = fetch(client, path)
        assert status == 404
        assert b"outside the site" not in body


def test_a_builds_scratch_folders_are_not_served(app: Flask, client: FlaskClient) -> None:
    """While a build runs, the site folder holds `.build-*` folders (the Russian site being
    written, the previous partner pages, withdrawn ones among them): never served."""
    scratch = Path(app.config["SITE_DIR"]) / ".build-en.previous" / "partners" / "gone"
    scratch.mkdir(parents=True)
    for name in ("index.html", "x.html"):
        (scratch / name).write_text("<h1>withdrawn partner</h1>", encoding="utf-8")
    for path in (
        "/.build-en.previous/partners/gone/",
        "/.build-en.previous/partners/gone/index.html",
    ):
        status, body, _ = fetch(client, path)
        assert status == 404 and b"withdrawn partner" not in body


def test_secret_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    install_example_snapshot(tmp_path / "i")
    first = backend_app(settings_for(tmp_path / "i")).config["SECRET_KEY"]
    second = backend_app(settings_for(tmp_path / "i")).config["SECRET_KEY"]
    assert first == second and len(first) >= 32
    assert (tmp_path / "i" / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.slow
def test_marketplace_serve_builds_and_answers(tmp_path: Path) -> None:
    port = free_port()
    server = serve(EXAMPLE_LISTINGS, tmp_path, port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert b"Partner Marketplace" in response.read()
        assert (tmp_path / "site" / "index.html").exists()
        assert (tmp_path / "instance" / "secret_key").exists()
        assert (tmp_path / "instance" / "partners.snapshot.json").exists()
    finally:
        stop(server)
    # One partner's broken listing never takes the running Marketplace down: serve says
    # what is wrong and keeps serving the last good build.
    broken = tmp_path / "broken-listings"
    shutil.copytree(EXAMPLE_LISTINGS, broken)
    (broken / "contoso-cloud.yaml").write_text("slug: [unclosed\n")
    server = serve(broken, tmp_path, port)
    output = stop(server)
    assert "contoso-cloud.yaml" in output and "Serving the last good build" in output
