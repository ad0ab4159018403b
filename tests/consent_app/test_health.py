"""`/livez` and `/healthz` (OPERATIONS.md: Monitoring): liveness answers whenever the process
does; readiness is 200 only when all is well, else 503 `degraded` with a reason per problem:
no search index, an index built from another partner snapshot, an unreachable database, mail
waiting longer than `MARKETPLACE_HEALTH_MAIL_AGE_SECONDS`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from consent_app.db import utcnow
from consent_app.models import OutboxMessage
from consent_app.settings import SettingsError
from marketplace.catalog import Catalog
from marketplace.snapshot import SNAPSHOT_FILE_NAME, read_snapshot
from marketplace.validate import LoadedListing
from marketplace_app.build import BuildPaths, build_search_index
from marketplace_app.config import settings_for
from search.whoosh_engine import SNAPSHOT_HASH_FILE, current_index, index_root
from tests.conftest import EXAMPLE_LISTINGS
from tests.consent_app.conftest import Marketplace

Loaded = tuple[Catalog, list[LoadedListing]]


def build_index(tmp_path: Path, loaded: Loaded) -> None:
    """What `marketplace build` leaves in the test's instance folder for search."""
    paths = BuildPaths(EXAMPLE_LISTINGS, tmp_path / "site", tmp_path / "instance")
    build_search_index(paths, loaded)


def health(app: Flask) -> tuple[int, dict[str, Any]]:
    response = app.test_client().get("/healthz")
    assert response.json is not None
    return response.status_code, response.json


def codes(body: dict[str, Any]) -> list[str]:
    return [reason["code"] for reason in body["reasons"]]


def test_ready_when_all_is_well(
    app_factory: Callable[..., Flask], tmp_path: Path, loaded_examples: Loaded
) -> None:
    build_index(tmp_path, loaded_examples)
    status, body = health(app_factory())
    served = read_snapshot(tmp_path / "instance" / SNAPSHOT_FILE_NAME).stamp.content_hash
    assert (status, body["status"], body["reasons"]) == (200, "ok", [])
    assert body["search_index"] is True and body["database"] == "ok"
    assert body["search_index_snapshot"] == body["partner_snapshot"]["content_hash"] == served
    assert body["outbox"] == {"unsent": 0, "failing": 0, "oldest_unsent_seconds": None}


def test_livez_answers_while_not_ready(app_factory: Callable[..., Flask]) -> None:
    app = app_factory()
    live = app.test_client().get("/livez")
    assert (live.status_code, live.json) == (200, {"status": "alive"})
    assert health(app)[0] == 503


def test_no_search_index(app_factory: Callable[..., Flask]) -> None:
    status, body = health(app_factory())
    assert (status, body["status"], codes(body)) == (503, "degraded", ["search_index_missing"])
    assert "marketplace build" in body["reasons"][0]["message"]
    assert body["search_index"] is False and body["search_index_snapshot"] is None
    assert body["database"] == "ok" and body["outbox"]["unsent"] == 0


def test_an_index_of_other_partners_is_stale(
    app_factory: Callable[..., Flask], tmp_path: Path, loaded_examples: Loaded
) -> None:
    build_index(tmp_path, loaded_examples)
    app = app_factory()
    assert health(app)[0] == 200
    # A new build swaps in an index of other listings; this worker still serves the old ones.
    catalog, listings = loaded_examples
    build_index(tmp_path, (catalog, listings[:-1]))
    status, body = health(app)
    served = body["partner_snapshot"]["content_hash"]
    assert (status, body["status"], codes(body)) == (503, "degraded", ["search_index_stale"])
    assert body["search_index_snapshot"] not in (None, served)
    assert served in body["reasons"][0]["message"]


def test_an_index_that_does_not_name_its_snapshot_is_stale(
    app_factory: Callable[..., Flask], tmp_path: Path, loaded_examples: Loaded
) -> None:
    build_index(tmp_path, loaded_examples)
    folder = current_index(index_root(tmp_path / "instance"))
    assert folder is not None
    (folder / SNAPSHOT_HASH_FILE).unlink()  # as an index built by an older version
    status, body = health(app_factory())
    assert (status, codes(body)) == (503, ["search_index_stale"])
    assert body["search_index"] is True and body["search_index_snapshot"] is None


@pytest.mark.parametrize("database_kind", ["sqlite"])
def test_an_unreachable_database(
    app_factory: Callable[..., Flask], tmp_path: Path, loaded_examples: Loaded
) -> None:
    build_index(tmp_path, loaded_examples)
    market = Marketplace(app_factory())
    assert health(market.app)[0] == 200
    # The database file gives way to something SQLite cannot open.
    market.backend.database.engine.dispose()
    database = tmp_path / "instance" / "marketplace.sqlite3"
    for path in database.parent.glob(database.name + "*"):
        path.unlink()
    database.mkdir()
    status, body = health(market.app)
    assert (status, body["status"], codes(body)) == (503, "degraded", ["database_unreachable"])
    assert (body["database"], body["outbox"]) == ("unreachable", None)
    assert market.client.get("/livez").status_code == 200
    database.rmdir()


def test_mail_waiting_too_long(
    app_factory: Callable[..., Flask], tmp_path: Path, loaded_examples: Loaded
) -> None:
    build_index(tmp_path, loaded_examples)
    market = Marketplace(app_factory(MARKETPLACE_MAIL_DELIVERY="off"))
    market.add_tenant()
    assert market.invite(market.key()).status_code == 201
    status, body = health(market.app)
    assert (status, body["outbox"]["unsent"]) == (200, 1)  # waiting, but not for long
    with market.backend.write() as session:
        session.execute(update(OutboxMessage).values(created_at=utcnow() - timedelta(seconds=901)))
    status, body = health(market.app)
    assert (status, body["status"], codes(body)) == (503, "degraded", ["mail_backlog"])
    assert "900 s" in body["reasons"][0]["message"]
    patient = app_factory(MARKETPLACE_MAIL_DELIVERY="off", MARKETPLACE_HEALTH_MAIL_AGE_SECONDS=3600)
    assert health(patient)[0] == 200


def test_several_reasons_at_once(app_factory: Callable[..., Flask]) -> None:
    market = Marketplace(app_factory(MARKETPLACE_MAIL_DELIVERY="off"))
    market.add_tenant()
    market.invite(market.key())
    with market.backend.write() as session:
        session.execute(update(OutboxMessage).values(created_at=utcnow() - timedelta(hours=1)))
    status, body = health(market.app)
    assert (status, codes(body)) == (503, ["search_index_missing", "mail_backlog"])


def test_the_mail_age_setting_is_checked(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="MARKETPLACE_HEALTH_MAIL_AGE_SECONDS must be"):
        settings_for(tmp_path / "instance", MARKETPLACE_HEALTH_MAIL_AGE_SECONDS="soon")
    assert settings_for(tmp_path / "instance").health_mail_age_seconds == 900
