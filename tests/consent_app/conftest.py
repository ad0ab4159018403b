"""A fresh consent backend per test: a real SQLite file (or a PostgreSQL schema), the real
Flask test client, mail delivered as .eml files, and helpers for the actions people take.

PostgreSQL tests read the server's URL from `MARKETPLACE_TEST_POSTGRESQL_URL` (for example
`postgresql://postgres@127.0.0.1:5432/test`) and skip cleanly without it; each test gets a
schema of its own, dropped afterwards.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from werkzeug.test import TestResponse

from consent_app.audit import Actor
from consent_app.backend import Backend, backend_of
from consent_app.db import Database, normalized_url, upgrade
from consent_app.partners import issue_key
from consent_app.tenants import NewTenant, add_tenant
from marketplace.snapshot import SNAPSHOT_FILE_NAME, write_snapshot
from marketplace.validate import load_listings
from marketplace_app.cli import main
from marketplace_app.config import settings_for
from marketplace_app.wiring import backend_app
from tests.conftest import EXAMPLE_LISTINGS, install_example_snapshot

POSTGRESQL_URL = os.environ.get("MARKETPLACE_TEST_POSTGRESQL_URL")
OPERATOR = Actor("operator", "pytest", "test")
# Partners whose listing offers delegated administration, with a trial that may ask for it.
DA_OFFERS = {
    "contoso-cloud": "trial-collab",
    "cape-collaboration": "intranet-trial",
    "mercado-nube": "negocio-trial",
    "northwind-secure": "secure-score-trial",
    "fabrikam-migrations": "pilot-trial",
    "adventure-works-it": "devices-trial",
    "taiga-cloud": "teams-start",
}
TENANT = "fabrikam.onmicrosoft.com"
ADMIN = "admin@fabrikam.example"


@contextmanager
def postgresql_schema() -> Iterator[str]:
    """A database URL whose connections use a new, empty schema (dropped afterwards)."""
    if not POSTGRESQL_URL:
        pytest.skip("set MARKETPLACE_TEST_POSTGRESQL_URL to run the PostgreSQL tests")
    base = normalized_url(POSTGRESQL_URL)
    schema = f"test_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def database_kind(request: pytest.FixtureRequest) -> str:
    """The database a test runs on."""
    kind: str = request.param
    return kind


@pytest.fixture
def database_url(database_kind: str, tmp_path: Path) -> Iterator[str]:
    """SQLite in the test's folder, or a fresh PostgreSQL schema: every consent test runs on
    both."""
    if database_kind == "sqlite":
        (tmp_path / "instance").mkdir(exist_ok=True)
        yield f"sqlite:///{tmp_path / 'instance' / 'marketplace.sqlite3'}"
        return
    with postgresql_schema() as url:
        database = Database(url)
        upgrade(database)
        database.dispose()
        yield url


def make_app(tmp_path: Path, database_url: str, **config: Any) -> Flask:
    """A backend app over a test folder: the example listings' partner snapshot (or one built
    from `LISTINGS_DIR`), mail as .eml files. `MARKETPLACE_*` and `SITE_DIR` are settings (the
    environment is not read); anything else is Flask configuration."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    instance = tmp_path / "instance"
    listings = config.pop("LISTINGS_DIR", None)
    if listings is not None:
        catalog, loaded = load_listings(Path(listings))
        write_snapshot(instance / SNAPSHOT_FILE_NAME, catalog, [item.listing for item in loaded])
    elif not (instance / SNAPSHOT_FILE_NAME).exists():
        install_example_snapshot(instance)
    settings = {
        "site_dir": Path(config.pop("SITE_DIR", site)),
        "MARKETPLACE_DATABASE_URL": database_url,
        "MARKETPLACE_MAIL_DELIVERY": "inline",
        "MARKETPLACE_BASE_URL": "http://marketplace.test/",
    }
    settings.update(
        {key: config.pop(key) for key in list(config) if key.startswith("MARKETPLACE_")}
    )
    return backend_app(settings_for(instance, **settings), test_config={"TESTING": True, **config})


@pytest.fixture
def app_factory(tmp_path: Path, database_url: str) -> Iterator[Callable[..., Flask]]:
    """Make apps over the test's folder and database with extra settings; all are closed
    (mail threads stopped, connections returned) when the test ends."""
    made: list[Flask] = []

    def factory(**config: Any) -> Flask:
        made.append(make_app(tmp_path, database_url, **config))
        return made[-1]

    yield factory
    for app in made:
        backend_of(app).close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Marketplace]]:
    """A backend over a SQLite file, served over real HTTP on loopback (for the browser
    tests): its base URL and the `Marketplace` helper; mail is sent right after each change."""
    from werkzeug.serving import make_server

    from tests.browser import running
    from tests.smtp import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    app = make_app(
        tmp_path,
        f"sqlite:///{tmp_path / 'instance' / 'marketplace.sqlite3'}",
        MARKETPLACE_BASE_URL=base,
        MARKETPLACE_MAIL_DELIVERY="inline",
    )
    with running(make_server("127.0.0.1", port, app, threaded=True)):
        yield base, Marketplace(app)
    backend_of(app).close()


@pytest.fixture
def app(app_factory: Callable[..., Flask]) -> Flask:
    return app_factory()


_LINK = re.compile(r"https?://[^/\s]+/((?:invitations|signin)/[A-Za-z0-9_-]+)")
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(html: str) -> str:
    """The CSRF token of the (first) form on a page."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


@dataclass
class Mail:
    """One delivered message."""

    to: str
    subject: str
    body: str
    message_id: str

    def links(self) -> list[str]:
        """The app paths of the secret links in the message, in order, without duplicates."""
        return list(dict.fromkeys("/" + path for path in _LINK.findall(self.body)))


class Marketplace:
    """Actions on one running backend: what operators, partners and customers do."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()

    @property
    def backend(self) -> Backend:
        return backend_of(self.app)

    # operators
    def add_tenant(
        self,
        domain: str = TENANT,
        name: str = "Fabrikam",
        admins: tuple[str, ...] = (ADMIN,),
        cloud: str = "global",
    ) -> None:
        with self.backend.write() as session:
            add_tenant(session, NewTenant(domain, name, admins, cloud), OPERATOR)

    def key(self, slug: str = "contoso-cloud") -> str:
        with self.backend.write() as session:
            return issue_key(session, self.backend.directory, slug, OPERATOR).secret

    def run_cli(self, *args: str, answer: str | None = None) -> Result:
        """`marketplace` on this backend's installation, as an operator runs it; `answer` is
        what the operator types at a prompt. It ends with an exit code, never a traceback."""
        result = CliRunner().invoke(
            main,
            [
                *args,
                "--instance",
                str(self.backend.settings.instance_dir),
                "--listings",
                str(EXAMPLE_LISTINGS),
            ],
            env={"MARKETPLACE_DATABASE_URL": self.backend.settings.database_url},
            input=answer,
        )
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(
            result.exception
        )
        return result

    # partners
    def api(
        self, key: str | None, method: str, path: str, json: Any = None, **kwargs: Any
    ) -> TestResponse:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return self.client.open(
            f"/api/v1{path}", method=method, json=json, headers=headers, **kwargs
        )

    def invite(self, key: str, **body: Any) -> TestResponse:
        request = {"type": "trial", "tenant": TENANT, "offer_id": "trial-collab"}
        request.update(body)
        return self.api(key, "POST", "/invitations", request)

    # mail
    def mails(self, to: str | None = None) -> list[Mail]:
        folder = self.backend.settings.mail_dir
        found = []
        for path in sorted(folder.glob("*.eml")) if folder.exists() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            body = message.get_body(("plain",))
            assert body is not None
            found.append(
                Mail(
                    str(message["To"]),
                    str(message["Subject"]),
                    body.get_content(),
                    str(message["Message-ID"]),
                )
            )
        return [mail for mail in found if to is None or mail.to == to]

    def link(self, to: str = ADMIN, kind: str = "invitations") -> str:
        """The newest secret link of `kind` mailed to `to`."""
        for mail in reversed(self.mails(to)):
            for link in mail.links():
                if link.startswith(f"/{kind}/"):
                    return link
        raise AssertionError(f"no {kind} link was mailed to {to}")

    # customers
    def decide(
        self,
        link: str,
        decision: str = "accept",
        client: FlaskClient | None = None,
        **fields: str,
    ) -> TestResponse:
        """Open the invitation page, then submit it with `decision` and the given fields."""
        client = client or self.app.test_client()
        page = client.get(link)
        assert page.status_code == 200, page.get_data(as_text=True)
        form = {"csrf_token": csrf_token(page.get_data(as_text=True)), "decision": decision}
        form.update(fields)
        return client.post(link, data=form)

    def sign_in(self, email: str = ADMIN) -> FlaskClient:
        """A client signed in to the customer page as `email`."""
        client = self.app.test_client()
        page = client.get("/signin")
        client.post(
            "/signin", data={"csrf_token": csrf_token(page.get_data(as_text=True)), "email": email}
        )
        link = self.link(email, "signin")
        confirm = client.get(link)
        assert confirm.status_code == 200, confirm.get_data(as_text=True)
        done = client.post(link, data={"csrf_token": csrf_token(confirm.get_data(as_text=True))})
        assert done.status_code == 302, done.get_data(as_text=True)
        return client


@pytest.fixture
def market(app: Flask) -> Marketplace:
    return Marketplace(app)


CHECKED = "y"
"""What a browser sends for a ticked checkbox."""
