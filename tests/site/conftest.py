"""A real two-language MkDocs build of the example listings plus a hostile one, shared by the
site tests (one build per test session: it takes a few seconds)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from marketplace_app.build import BuildPaths, build
from tests.conftest import EXAMPLE_LISTINGS

XSS = [
    "<script>alert('name')</script>",
    '<img src=x onerror="alert(1)">',
    "<svg onload=alert(1)>",
    "javascript:alert(1)",
    '"><script>alert(2)</script>',
    "</textarea><iframe srcdoc='<script>alert(3)</script>'>",
]
"""Payloads that must come out as inert text wherever a partner can write."""

HOSTILE_LISTING = f"""\
slug: zz-hostile
maintainers: [mallory]
name: >-
  Hostile {XSS[0]}
summary: >-
  Summary {XSS[1]} {XSS[2]} {XSS[4]}
description: |
  # Heading <script>alert('h1')</script>

  Raw block:

  <div onclick="alert(4)"><script>alert(5)</script></div>

  <svg><script>alert(6)</script><foreignObject></foreignObject></svg>

  [js link](javascript:alert(7)) [data link](data:text/html;base64,PHNjcmlwdD5hbGVydCg4KTwvc2NyaXB0Pg==)
  [vb](vbscript:msgbox(1)) <a href="javascript:alert(9)">raw a</a>
  ![img](javascript:alert(10)) ![x](https://img.example/x.png "t\\" onerror=\\"alert(11)")
  <style>body{{display:none}}</style> {XSS[5]} <b onmouseover=alert(12)>bold
  [ok](https://safe.example/) <https://auto.example/> <mailto:a@b.example>
website: https://hostile.example/?q=<script>
contact: {{email: sales@hostile.example}}
headquarters: US
regions: [worldwide]
languages: [en]
programs: [cloud-essentials]
services: [teams]
capabilities: [migration]
delegated_admin: true
offers:
  - id: trial
    type: trial
    title: >-
      Trial {XSS[0]}
    description: >-
      Offer {XSS[1]}
    services: [teams]
    trial_days: 30
translations:
  ru:
    name: >-
      Враждебный {XSS[4]}
    summary: >-
      Русское описание {XSS[2]} для проверки экранирования.
    description: >-
      <script>alert('ru')</script> [x](javascript:alert(13))
"""


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built from the examples plus HOSTILE_LISTING; returns the site folder."""
    root = tmp_path_factory.mktemp("site-build")
    listings = root / "listings"
    shutil.copytree(EXAMPLE_LISTINGS, listings)
    (listings / "zz-hostile.yaml").write_text(HOSTILE_LISTING, encoding="utf-8")
    site = root / "site"
    build(BuildPaths(listings_dir=listings, site_dir=site, instance_dir=root / "instance"))
    return site


def site_files(site: Path) -> dict[str, bytes]:
    """Every file of a site; partners.json without its "generated" time (two builds of the
    same listings compare equal)."""
    files = {}
    for path in sorted(site.rglob("*")):
        if path.is_file():
            content = path.read_bytes()
            if path.name == "partners.json":
                document = json.loads(content)
                document.pop("generated")
                content = json.dumps(document).encode()
            files[path.relative_to(site).as_posix()] = content
    return files
