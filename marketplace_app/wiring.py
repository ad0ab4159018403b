"""The backend app with its parts chosen: the consent backend over the whoosh search engine.

`consent_app` knows only the search interface (`search.engine.SearchEngine`); this is where
the engine is picked, for `marketplace serve`, the WSGI entry point and the tests alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from consent_app import create_app
from consent_app.settings import Settings
from search.whoosh_engine import WhooshSearch, index_root


def open_search(instance_dir: Path) -> WhooshSearch:
    """The whoosh engine over an installation's index (opened lazily, on the first query)."""
    return WhooshSearch(index_root(instance_dir))


def backend_app(
    settings: Settings,
    engine: WhooshSearch | None = None,
    test_config: Mapping[str, Any] | None = None,
) -> Flask:
    """The backend app (`consent_app.create_app`) answering searches with whoosh."""
    return create_app(
        settings, search=(lambda _: engine) if engine else open_search, test_config=test_config
    )
