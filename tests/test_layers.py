"""The layers as users feel them: `marketplace validate` (every partner's pull request runs
it) loads no web framework, database, site generator or search engine. The import contracts
themselves are checked by `lint-imports` in CI (pyproject.toml, ARCHITECTURE.md)."""

from __future__ import annotations

import subprocess
import sys

from marketplace_app.cli import OPERATOR_COMMANDS
from tests.conftest import EXAMPLE_LISTINGS, PROJECT_ROOT

HEAVY = ("flask", "sqlalchemy", "alembic", "mkdocs", "material", "whoosh", "numpy", "waitress")


def test_validate_loads_no_framework() -> None:
    script = (
        "import sys\n"
        "from marketplace_app.cli import main\n"
        "try:\n"
        f"    main(['validate', {str(EXAMPLE_LISTINGS)!r}])\n"
        "except SystemExit as done:\n"
        "    assert done.code == 0, done.code\n"
        "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded = set(result.stdout.split())
    assert "marketplace" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
    assert loaded.isdisjoint({"consent_app", "search", "sitegen"})


def test_every_operator_command_is_reachable() -> None:
    from marketplace_app.operators import COMMANDS

    assert {command.name for command in COMMANDS} == set(OPERATOR_COMMANDS)
