"""OPERATIONS.md followed as written: its marked code blocks, run in order in a temporary
folder against loopback services, give a working backend.

A block is run when the line before its fence is an HTML comment (invisible on GitHub, so the
reader and this test see the same commands):

- `<!-- operations-test: run -->`: shell commands, run in one bash session with the blocks
  before them (so `cd`, `export` and the loaded settings carry over), under `set -euo pipefail`;
- `<!-- operations-test: file PATH -->`: a file the reader saves, written as it is;
- `<!-- operations-test: background -->`: the server (gunicorn), started in the background.

What the test changes, and nothing else: `/srv/marketplace` becomes its own folder, `git clone
<this repository>` a copy of this working tree, and in the settings file the values that name
hosts, ports and secrets become loopback services of its own: a PostgreSQL role and database
(dropped afterwards), the Redis server, an SMTP server (tests/smtp.py), a free port, 2
workers. Then it checks what the guide promises: the site, `/api/v1/search`, an invitation
round trip through the partner API, the mail and the customer's form, rate limits kept in
Redis, `/healthz`; and stops gunicorn.

It needs `MARKETPLACE_TEST_POSTGRESQL_URL` (as the PostgreSQL tests do) and a Redis server at
`MARKETPLACE_TEST_REDIS_URL` (default redis://127.0.0.1:6379/0), and skips without them. It
really installs the pinned dependencies into a new virtualenv (about 25 s with pip's cache
warm): the install step is part of what is tested.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from consent_app.security import LOGO_HEADERS
from tests.conftest import PROJECT_ROOT
from tests.smtp import Received, free_port, smtp_server

OPERATIONS = PROJECT_ROOT / "OPERATIONS.md"
PLACEHOLDER_ROOT = "/srv/marketplace"
PLACEHOLDER_CLONE = "git clone <this repository>"
SETTINGS_FILE = f"{PLACEHOLDER_ROOT}/marketplace.env"
REDIS_URL = os.environ.get("MARKETPLACE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TENANT = "fabrikam.onmicrosoft.com"  # what section 7 adds
TENANT_ADMIN = "it@fabrikam.example"
WORKERS = 2
BASH = shutil.which("bash") or "/bin/bash"

_MARKED = re.compile(
    r"^<!-- operations-test: (?P<kind>run|background|file) ?(?P<path>\S*) -->\n"
    r"```[a-z]*\n(?P<text>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)
_KEY = re.compile(r"^(mpk_[0-9a-f]{16}_[A-Za-z0-9_-]{43})$", re.MULTILINE)
_LINK = re.compile(r"https?://[^/\s]+(/invitations/[A-Za-z0-9_-]+)")
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@dataclass(frozen=True)
class Step:
    """One marked block of OPERATIONS.md."""

    kind: str  # run, background or file
    text: str
    path: str = ""


def operations_steps(text: str | None = None) -> list[Step]:
    """The marked blocks of OPERATIONS.md, in order."""
    text = OPERATIONS.read_text(encoding="utf-8") if text is None else text
    return [Step(found["kind"], found["text"], found["path"]) for found in _MARKED.finditer(text)]


def with_settings(text: str, values: dict[str, str]) -> str:
    """The settings file `text` with the `NAME=value` lines of `values` replaced; each must be
    there exactly once (the guide documents every setting the test gives)."""
    for name, value in values.items():
        line = re.compile(rf"^{name}=.*$", re.MULTILINE)
        assert len(line.findall(text)) == 1, f"OPERATIONS.md's settings file has no {name}"
        replacement = f"{name}={value}"
        text = line.sub(lambda _, new=replacement: new, text)
    return text


# --- the guide's structure (fast) -----------------------------------------------------------------


def test_the_guide_marks_the_steps_the_walk_through_runs() -> None:
    steps = operations_steps()
    kinds = [step.kind for step in steps]
    assert kinds.count("background") == 1
    assert kinds.count("file") == 1
    install = steps[0]
    assert install.kind == "run"
    assert PLACEHOLDER_CLONE in install.text
    assert "pip install -c requirements.lock -e '.[redis]'" in install.text
    settings = next(step for step in steps if step.kind == "file")
    assert settings.path == SETTINGS_FILE
    assert "MARKETPLACE_RATE_LIMIT_STORAGE_URL=redis://" in settings.text
    # systemd's EnvironmentFile takes a `#` after a value as part of it: comments stand alone.
    for line in settings.text.splitlines():
        assert line.startswith("#") or "#" not in line, line
    ran = "\n".join(step.text for step in steps if step.kind == "run")
    for command in ("marketplace db upgrade", "marketplace build", "marketplace keys issue"):
        assert command in ran
    server = next(step for step in steps if step.kind == "background")
    assert server.text.strip() == "gunicorn -c deploy/gunicorn.conf.py marketplace_app.wsgi:app"
    # The install comes before the settings, which come before everything that needs them.
    assert kinds.index("file") < kinds.index("background")


def test_settings_lines_are_replaced_once() -> None:
    text = "# a comment\nMARKETPLACE_BIND=127.0.0.1:8000\nMARKETPLACE_WORKERS=4\n"
    assert with_settings(text, {"MARKETPLACE_WORKERS": "2"}) == text.replace("=4", "=2")
    with pytest.raises(AssertionError, match="MARKETPLACE_SMTP_URL"):
        with_settings(text, {"MARKETPLACE_SMTP_URL": "smtp://127.0.0.1:25"})


def test_a_redis_url_without_the_redis_client_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the `redis` extra a worker would die in Flask-Limiter with a traceback; the
    setting says what to install instead (and `marketplace config` says so before a start)."""
    import importlib.util

    from consent_app.settings import SettingsError
    from marketplace_app.config import settings_for

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "redis" else real(name, *a)
    )
    with pytest.raises(SettingsError) as raised:
        settings_for(tmp_path, MARKETPLACE_RATE_LIMIT_STORAGE_URL="redis://127.0.0.1:6379/0")
    assert str(raised.value) == (
        "MARKETPLACE_RATE_LIMIT_STORAGE_URL is a Redis URL, but the Redis client is not "
        "installed: install the Marketplace with its redis extra "
        "(pip install -c requirements.lock -e '.[redis]')"
    )
    assert settings_for(tmp_path, MARKETPLACE_RATE_LIMIT_STORAGE_URL="memory://")


# --- services on loopback -----------------------------------------------------------------------


def _redis_command(url: str, *words: str) -> bytes:
    """Send one command (after SELECT of the URL's database) in RESP and return the raw reply
    of the last command: the test needs no Redis client of its own."""
    parts = urllib.parse.urlsplit(url)
    database = parts.path.strip("/") or "0"

    def encoded(*command: str) -> bytes:
        out = f"*{len(command)}\r\n"
        for word in command:
            out += f"${len(word.encode())}\r\n{word}\r\n"
        return out.encode()

    with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 3) as s:
        s.sendall(encoded("SELECT", database) + encoded(*words))
        s.settimeout(3)
        reply = b""
        while reply.count(b"\r\n") < 1 or not _complete(reply.split(b"\r\n", 1)[1]):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
        return reply.split(b"\r\n", 1)[1]


def _complete(reply: bytes) -> bool:
    """Whether `reply` holds one whole RESP reply (simple, integer, bulk or array of bulk)."""
    if not reply.endswith(b"\r\n"):
        return False
    if reply[:1] in (b"+", b"-", b":"):
        return True
    if reply[:1] == b"$":
        return reply.startswith(b"$-1") or reply.count(b"\r\n") >= 2
    if reply[:1] == b"*":
        count = int(reply[1 : reply.index(b"\r\n")])
        return count <= 0 or reply.count(b"\r\n") >= 1 + 2 * count
    return True


def _redis_keys(url: str, pattern: str) -> set[str]:
    reply = _redis_command(url, "KEYS", pattern).split(b"\r\n")
    return {line.decode() for line in reply[2::2] if line}


def _redis_or_skip() -> str:
    parts = urllib.parse.urlsplit(REDIS_URL)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        pytest.skip(f"MARKETPLACE_TEST_REDIS_URL must be a loopback server, not {REDIS_URL}")
    try:
        pong = _redis_command(REDIS_URL, "PING")
    except OSError as error:
        pytest.skip(f"no Redis server at {REDIS_URL}: {error}")
    if not pong.startswith(b"+PONG"):
        pytest.skip(f"the Redis server at {REDIS_URL} answered {pong[:80]!r}")
    return REDIS_URL


@contextmanager
def postgresql_database() -> Iterator[str]:
    """A role and a database it owns on the test server, as section 3 makes (dropped
    afterwards); yields the database URL for the settings file."""
    server = os.environ.get("MARKETPLACE_TEST_POSTGRESQL_URL")
    if not server:
        pytest.skip("set MARKETPLACE_TEST_POSTGRESQL_URL to follow OPERATIONS.md on PostgreSQL")
    import psycopg

    parts = urllib.parse.urlsplit(server.replace("postgresql+psycopg://", "postgresql://"))
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        pytest.skip(f"MARKETPLACE_TEST_POSTGRESQL_URL must be on loopback, not {parts.hostname}")
    try:
        admin = psycopg.connect(parts.geturl(), autocommit=True, connect_timeout=5)
    except psycopg.Error as error:
        pytest.skip(f"PostgreSQL at {parts.hostname}:{parts.port} is not reachable: {error}")
    name = f"ops_{secrets.token_hex(5)}"
    with admin:
        admin.execute(f'CREATE ROLE "{name}" LOGIN')
        try:
            admin.execute(f'CREATE DATABASE "{name}" OWNER "{name}"')
            try:
                yield f"postgresql://{name}@{parts.hostname}:{parts.port or 5432}/{name}"
            finally:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        finally:
            admin.execute(f'DROP ROLE "{name}"')


# --- running the guide --------------------------------------------------------------------------

ANYWHERE = shutil.ignore_patterns(
    "__pycache__", "*.egg-info", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".hypothesis"
)
NOT_IN_A_CLONE = {".venv", "site", "instance", ".git", "build"}


def _clone(target: Path) -> None:
    """What `git clone` of this working tree would give (with the changes not committed yet)."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        ignored = set(ANYWHERE(folder, names))
        if Path(folder) == PROJECT_ROOT:
            ignored |= NOT_IN_A_CLONE & set(names)
        return ignored

    shutil.copytree(PROJECT_ROOT, target, ignore=ignore, symlinks=True)


def _base_environment(tmp_path: Path) -> dict[str, str]:
    """The machine's environment without this test run's: no MARKETPLACE_* variables, no
    virtualenv on PATH; `python3` is the interpreter this venv was made from."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    base = getattr(sys, "_base_executable", sys.executable)
    (bin_dir / "python3").symlink_to(base)
    venv_bin = str(Path(sys.prefix) / "bin")
    path = [
        entry
        for entry in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
        if entry and entry != venv_bin
    ]
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MARKETPLACE_", "PYTEST", "VIRTUAL_ENV", "PYTHON"))
    }
    environment["PATH"] = os.pathsep.join([str(bin_dir), *path])
    environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return environment


@dataclass
class Session:
    """A shell session following the guide: its folder, environment and what it printed."""

    cwd: Path
    environment: dict[str, str]
    log: Path

    def run(self, script: str, state: Path, timeout: float) -> str:
        """Run `script` as the next part of the session; keep its cwd and environment."""
        state.mkdir()
        full = (
            "set -euo pipefail\n"
            + script
            + f'\npwd > "{state}/cwd"\nenv -0 > "{state}/environment"\n'
        )
        with self.log.open("a") as log:
            log.write(f"\n===== {state.name} =====\n")
        started = len(self.log.read_text())
        with self.log.open("a") as log:
            finished = subprocess.run(
                [BASH, "-c", full],
                cwd=self.cwd,
                env=self.environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        printed = self.log.read_text()[started:]
        assert finished.returncode == 0, f"OPERATIONS.md's commands failed:\n{printed[-6000:]}"
        self.cwd = Path((state / "cwd").read_text().strip())
        pairs = (state / "environment").read_bytes().split(b"\0")
        self.environment = dict(pair.decode().split("=", 1) for pair in pairs if b"=" in pair)
        return printed


def _shell(step: Step) -> str:
    """A run or file step as shell text (a file is written as the reader saves it)."""
    if step.kind == "run":
        return f"# --- a block of OPERATIONS.md\n{step.text}"
    return f"cat > '{step.path}' <<'OPERATIONS_EOF'\n{step.text}OPERATIONS_EOF\n"


# --- talking to the running backend -------------------------------------------------------------


class Client:
    """HTTP to the backend with a cookie jar (the form's CSRF token is tied to the session)."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def request(
        self,
        path: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        method: str | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        url = path if path.startswith("http") else self.base + path
        request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
        try:
            with self.opener.open(request, timeout=15) as response:
                return response.status, dict(response.headers.items()), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers.items()), error.read()

    def json(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        status, _, body = self.request(path, **kwargs)
        return status, json.loads(body)

    def api(self, key: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {key}"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        return self.json(f"/api/v1{path}", data=data, headers=headers, method=method)


def _wait_until_up(client: Client, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        assert server.poll() is None, f"gunicorn stopped:\n{log.read_text()[-6000:]}"
        try:
            status, _, _ = client.request("/healthz")
        except OSError:
            status = 0
        if status:
            return
        time.sleep(0.2)
    raise AssertionError(f"gunicorn did not answer in 40 s:\n{log.read_text()[-6000:]}")


def _wait_for_mail(received: Received, to: str, count: int = 1) -> list[Message]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with received.lock:
            found = [message for rcpt, message in received.messages if to in rcpt]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no mail to {to} reached the SMTP server in 20 s")


def _body(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    raise AssertionError("the message has no text part")


def _stop(server: subprocess.Popen[bytes]) -> None:
    """Stop the gunicorn master this test started (TERM, then its whole session)."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=25)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


# --- the walk-through ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.postgresql
@pytest.mark.timeout(360)
def test_operations_md_followed_literally_gives_a_working_backend(tmp_path: Path) -> None:
    started = time.monotonic()
    redis_url = _redis_or_skip()
    steps = operations_steps()
    root = tmp_path / "srv"
    clone = tmp_path / "clone"
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    limiter_keys_before = _redis_keys(redis_url, "LIMITS:LIMITER*")

    with postgresql_database() as database_url, smtp_server() as (smtp_url, received):
        _clone(clone)
        settings = {
            "MARKETPLACE_SITE_URL": base,
            "MARKETPLACE_DATABASE_URL": database_url,
            "MARKETPLACE_SMTP_URL": smtp_url,
            "MARKETPLACE_BASE_URL": base,
            "MARKETPLACE_SECRET_KEY": secrets.token_urlsafe(48),
            "MARKETPLACE_AUDIT_KEY": secrets.token_urlsafe(48),
            "MARKETPLACE_RATE_LIMIT_STORAGE_URL": redis_url,
            "MARKETPLACE_BIND": f"127.0.0.1:{port}",
            "MARKETPLACE_WORKERS": str(WORKERS),
        }

        def ours(text: str) -> str:
            return text.replace(PLACEHOLDER_CLONE, f"mv '{clone}'").replace(
                PLACEHOLDER_ROOT, str(root)
            )

        before: list[str] = []
        after: list[str] = []
        server_step: Step | None = None
        for step in steps:
            if step.kind == "background":
                server_step = step
                continue
            text = step.text
            if step.kind == "file":
                text = with_settings(text, settings)
            shell = _shell(Step(step.kind, ours(text), ours(step.path)))
            (after if server_step else before).append(shell)
        assert server_step is not None
        assert f"mv '{clone}'" in before[0], "the install step no longer clones the repository"

        root.mkdir()
        log = tmp_path / "operations.log"
        session = Session(tmp_path, _base_environment(tmp_path), log)
        # Sections 1-4 up to the server: install, settings, keys, database, build.
        session.run("\n".join(before), tmp_path / "state-1", timeout=180)
        installed = time.monotonic()

        server_log = tmp_path / "gunicorn.log"
        with server_log.open("wb") as output:
            server = subprocess.Popen(
                [BASH, "-c", f"set -euo pipefail\nexec {server_step.text.strip()}"],
                cwd=session.cwd,
                env=session.environment,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        client = Client(base)
        try:
            _wait_until_up(client, server, server_log)
            # The rest: the health check with curl, mail by hand, tenants and partner keys.
            printed = session.run("\n".join(after), tmp_path / "state-2", timeout=120)
            keys = _KEY.findall(printed)
            assert keys, f"`marketplace keys issue` printed no key:\n{printed}"
            _check_the_backend(client, base, keys[0], received, root)
            _check_rate_limits_in_redis(redis_url, limiter_keys_before)
        finally:
            _stop(server)
            # Leave Redis as it was: only the counters this run added go.
            for key in _redis_keys(redis_url, "LIMITS:LIMITER*") - limiter_keys_before:
                _redis_command(redis_url, "DEL", key)
        served = server_log.read_text()
        assert "Traceback" not in served, served[-6000:]
        # The access log redacts the secret of invitation links (section 4).
        assert "/invitations/[redacted]" in served
        assert server.returncode == 0, served[-3000:]
    total = time.monotonic() - started
    print(f"install to build {installed - started:.0f} s, all {total:.0f} s")
    assert total < 200


def _check_the_backend(client: Client, base: str, key: str, received: Received, root: Path) -> None:
    # /healthz, from every worker: ok, with the snapshot the build wrote.
    snapshot = json.loads((root / "instance" / "partners.snapshot.json").read_text())
    for _ in range(2 * WORKERS):
        status, health = client.json("/healthz")
        assert status == 200, health
        assert health["status"] == "ok"
        assert health["database"] == "ok"
        assert health["search_index"] is True
        assert health["partner_snapshot"]["content_hash"] == snapshot["content_hash"]
        assert health["partner_snapshot"]["partners"] == len(snapshot["listings"])

    # The site, served by the backend from MARKETPLACE_SITE_DIR, built for MARKETPLACE_SITE_URL.
    status, headers, page = client.request("/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert b"Partner Marketplace" in page
    assert "Content-Security-Policy" in headers
    status, exported = client.json("/partners.json")
    assert status == 200
    assert exported["partners"], exported
    first = exported["partners"][0]
    assert first["url"].startswith(base), first["url"]
    logo = next(partner["logo_url"] for partner in exported["partners"] if partner["logo_url"])
    assert logo.startswith(base)
    status, headers, _ = client.request(logo)
    assert status == 200
    for name, value in LOGO_HEADERS.items():  # what `marketplace csp --logos` prints
        assert headers[name] == value

    # Search, from the index the build wrote on this host.
    status, headers, body = client.request("/api/v1/search?q=migrate%20mailboxes")
    found = json.loads(body)
    assert status == 200, found
    assert found["total"] >= 1 and found["hits"][0]["url"].startswith("/partners/")
    assert headers["Access-Control-Allow-Origin"] == "*"
    status, found = client.json(f"/api/v1/search?q={urllib.parse.quote('партнёр')}&lang=ru")
    assert status == 200 and found["total"] >= 1, found

    # An invitation round trip: the partner asks through the API (with the key section 7
    # issued), the mail reaches the SMTP server, the customer accepts with DA on the form.
    status, created = client.api(
        key,
        "POST",
        "/invitations",
        {"type": "trial", "tenant": TENANT, "offer_id": "trial-collab", "delegated_admin": True},
    )
    assert status == 201, created
    invitation = created["id"]
    mail = _wait_for_mail(received, TENANT_ADMIN)[-1]
    link = _LINK.search(_body(mail))
    assert link, _body(mail)
    assert link.group(0).startswith(base)  # MARKETPLACE_BASE_URL
    customer = Client(base)
    status, _, form = customer.request(link.group(1))
    assert status == 200
    token = _CSRF.search(form.decode())
    assert token, "the invitation page has no form with a CSRF token"
    assert b"authorize_delegated_admin" in form
    decision = urllib.parse.urlencode(
        {
            "csrf_token": token.group(1),
            "decision": "accept",
            "authorize_delegated_admin": "y",
            "make_partner_of_record": "y",
        }
    ).encode()
    status, _, done = customer.request(
        link.group(1),
        data=decision,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200, done.decode()[-2000:]
    status, shown = client.api(key, "GET", f"/invitations/{invitation}")
    assert status == 200, shown
    assert shown["status"] == "accepted"
    assert shown["delegated_admin_granted"] is True
    assert shown["partner_of_record"] is True
    status, relationships = client.api(key, "GET", "/relationships")
    assert status == 200
    assert {
        "tenant": TENANT,
        "delegated_admin": True,
        "partner_of_record": True,
    }.items() <= relationships["relationships"][0].items()
    # The confirmation reaches the customer's admin too.
    _wait_for_mail(received, TENANT_ADMIN, count=2)


def _check_rate_limits_in_redis(redis_url: str, before: set[str]) -> None:
    """The workers count in Redis (shared), not each in its own memory."""
    added = _redis_keys(redis_url, "LIMITS:LIMITER*") - before
    assert added, "no rate-limit counter reached Redis"
