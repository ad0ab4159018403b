"""Headless Chromium for tests of pages a person clicks (the system Chromium, never a download).

Tests take the `browser` fixture and carry the `browser` marker; both skip cleanly where
Chromium, its driver or selenium is absent. `.ci/run` installs Debian's chromium and
chromium-driver so that they run in CI.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import socketserver
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

# The flags this machine needs: no sandbox as root, and no background network traffic (the
# network is closed and Chromium's attempts would be refused many at a time).
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
)


def start_chromium():  # type: ignore[no-untyped-def]
    """A selenium WebDriver for the system Chromium, or a pytest skip."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip(
            "Chromium and chromedriver are not installed (Debian: chromium chromium-driver)"
        )
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def wait_for(browser, timeout: float = 10):  # type: ignore[no-untyped-def]
    """A WebDriverWait that asks again when Chromium answers a question about an element
    with an error instead of the answer: while one page replaces another, it may say
    "Node with given id does not belong to the document" rather than "stale element" (seen
    in CI, in a wait for a heading after a form's button was pressed)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout, ignored_exceptions=(WebDriverException,))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def running(server: socketserver.TCPServer) -> Iterator[str]:
    """Run an HTTP server (stdlib or werkzeug) in a thread; yields its base URL."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def static_server(folder: Path) -> AbstractContextManager[str]:
    """Serve `folder` over HTTP on loopback, like a static host; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    return running(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler))
