"""`marketplace serve --port P` serves a site whose absolute links (feeds, sitemap, canonical
links, partners.json) and mail links point at port P, and rebuilds it when the address moves."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_LISTINGS
from tests.smtp import free_port

pytestmark = [pytest.mark.slow]

BUILDING = "Building the site"
PARTNER = "partners/contoso-cloud/"


class Served:
    """`marketplace serve` on a port, in a process of its own, over one site and instance."""

    def __init__(self, root: Path, port: int, *arguments: str, **environment: str) -> None:
        command = [sys.executable, "-m", "marketplace_app", "serve", "--port", str(port)]
        command += ["--listings", str(EXAMPLE_LISTINGS), "--site-dir", str(root / "site")]
        command += ["--instance", str(root / "instance"), *arguments]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MARKETPLACE_")}
        self.base = f"http://127.0.0.1:{port}/"
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**env, **environment},
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.get("healthz")
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"serve did not start: {self.stop()}") from None
                time.sleep(0.2)

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.base + path, timeout=5) as response:
            return str(response.read().decode("utf-8"))

    def stop(self) -> str:
        """Stop the server; everything it printed."""
        self.process.terminate()
        output, _ = self.process.communicate(timeout=10)
        return str(output)


def links(served: Served) -> list[str]:
    """The absolute links of the served site that name the site's address."""
    found = []
    for path in ("feed.xml", "ru/feed.xml", "sitemap.xml", "ru/sitemap.xml"):
        found += re.findall(r'(?:href="|<loc>|<id>)(http[^"<]+)', served.get(path))
    for path in ("", PARTNER, "ru/" + PARTNER):
        found += re.findall(r'<link rel="canonical" href="([^"]+)"', served.get(path))
    for partner in json.loads(served.get("partners.json"))["partners"]:
        found += [partner["url"], *([partner["logo_url"]] if partner["logo_url"] else [])]
    return found


def two_free_ports() -> tuple[int, int]:
    first = free_port()
    while (second := free_port()) == first:
        pass
    return first, second


def test_serve_links_to_its_own_port_and_rebuilds_when_the_port_changes(tmp_path: Path) -> None:
    first, second = two_free_ports()
    served = Served(tmp_path, first)
    try:
        found = links(served)
        assert served.base + PARTNER in found and served.base + "ru/" + PARTNER in found
        assert any(link.startswith(served.base + "logos/") for link in found)
        assert all(link.startswith(served.base) for link in found), found
    finally:
        output = served.stop()
    assert f"{BUILDING} (for {served.base})" in output

    again = Served(tmp_path, first)
    assert BUILDING not in again.stop()  # nothing changed: no build

    moved = Served(tmp_path, second)
    try:
        found = links(moved)
        assert moved.base + PARTNER in found
        assert all(link.startswith(moved.base) for link in found), found
    finally:
        output = moved.stop()
    assert f"{BUILDING} (for {moved.base})" in output


def test_marketplace_site_url_wins_and_mail_links_follow_it(tmp_path: Path) -> None:
    site_url = "https://partners.example/"
    served = Served(tmp_path, free_port(), "--demo", MARKETPLACE_SITE_URL=site_url)
    try:
        found = links(served)
        assert site_url + PARTNER in found
        assert all(link.startswith(site_url) for link in found), found
    finally:
        output = served.stop()
    # This one process serves the site and the pages mail links to: one address for both.
    assert re.search(rf"^ +{re.escape(site_url)}invitations/\S+$", output, re.MULTILINE), output
    assert f"Serving the Marketplace at {served.base}" in output
