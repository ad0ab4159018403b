"""Generate N realistic, valid listings from the examples, for the benchmarks."""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

from marketplace.catalog import CATALOG_FILE_NAME
from marketplace.validate import listing_files

EXAMPLES = Path(__file__).resolve().parent.parent / "listings"
WORDS = (
    "north",
    "blue",
    "river",
    "summit",
    "harbor",
    "cedar",
    "bright",
    "pioneer",
    "atlas",
    "orbit",
    "maple",
    "granite",
    "silver",
    "lumen",
    "vertex",
    "quartz",
    "aurora",
    "delta",
)

_TRANSLATED_NAME = re.compile(r"^( +)name: .*$", re.MULTILINE)


def generate_listings(count: int, target: Path, seed: int = 7) -> Path:
    """Write `count` valid listings (and logos for those whose template has one) into target."""
    rng = random.Random(seed)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLES / CATALOG_FILE_NAME, target / CATALOG_FILE_NAME)
    templates = [(path, path.read_text(encoding="utf-8")) for path in listing_files(EXAMPLES)]
    for number in range(count):
        path, text = templates[number % len(templates)]
        words = "-".join(rng.sample(WORDS, 2))
        slug = f"{words}-{number}"
        name = f"{words.replace('-', ' ').title()} {number}"
        old_name = next(line for line in text.splitlines() if line.startswith("name: "))
        body = text.replace(f"slug: {path.stem}", f"slug: {slug}", 1).replace(
            old_name, f"name: {name}", 1
        )
        # A translated name must be unique too: it takes the generated name.
        body = _TRANSLATED_NAME.sub(rf"\1name: {name}", body)
        logo_line = next((line for line in body.splitlines() if line.startswith("logo: ")), None)
        if logo_line:
            old_logo = logo_line.removeprefix("logo: ")
            new_logo = slug + Path(old_logo).suffix
            body = body.replace(logo_line, f"logo: {new_logo}")
            shutil.copy(EXAMPLES / old_logo, target / new_logo)
        (target / f"{slug}.yaml").write_text(body, encoding="utf-8")
    return target
