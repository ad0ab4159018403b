"""The judged query set: what a customer types and which partners must come back on top.

The index is the 14 example listings plus the crafted ones beside this file (`crafted/`),
written to make the hard cases real: a "Hospitality" partner against hospitals, a name made
of common words, a Russian-language partner, Markdown of every kind. tests/search/
test_judged.py requires every query to pass; benchmarks/search_quality.py reports nDCG@5 and
hits@3 over the set (site_src/en/benchmarks.md).

Each query names its `top` partners (grade 2: the answer; all must be in the first three,
and with `first` the first of them must be the first hit) and may name `also` (grade 1:
relevant, not required). A partner not named is judged irrelevant.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from marketplace.validate import listing_files

CRAFTED = Path(__file__).resolve().parent / "crafted"
EXAMPLES = Path(__file__).resolve().parents[2] / "listings"


@dataclass(frozen=True)
class Judged:
    """One judged query and what a good answer has on top."""

    text: str
    top: tuple[str, ...]
    also: tuple[str, ...] = ()
    language: str = "en"
    first: bool = False  # the query names a partner: it must be the first hit
    kind: str = "topic"  # topic | name | typo | russian, for the benchmark's breakdown

    def grade(self, slug: str) -> int:
        """2 for an answer, 1 for a relevant partner, 0 otherwise."""
        return 2 if slug in self.top else 1 if slug in self.also else 0

    def passes(self, ranked: list[str]) -> bool:
        """Every answer in the first three (and the named partner first, for a name)."""
        if self.first and ranked[:1] != [self.top[0]]:
            return False
        return set(self.top) <= set(ranked[:3])


def _ru(text: str, top: tuple[str, ...], **more: object) -> Judged:
    return Judged(text, top, language="ru", kind="russian", **more)  # type: ignore[arg-type]


JUDGED: tuple[Judged, ...] = (
    # Topics, as customers describe a need.
    Judged("migrate our mailboxes", ("fabrikam-migrations",), ("taiga-cloud", "contoso-cloud")),
    Judged("mailbox migration", ("fabrikam-migrations", "taiga-cloud"), ("contoso-cloud",)),
    Judged("tenant-to-tenant merger", ("fabrikam-migrations",)),
    Judged("Teams training for employees", ("tailspin-learning",), ("taiga-cloud",)),
    Judged("licensing advice", ("woodgrove-advisory",), ("mercado-nube",)),
    Judged("hospital", ("proseware-health", "clinicare-cloud")),
    Judged("hospitals", ("proseware-health", "clinicare-cloud")),
    Judged("banks compliance", ("northwind-secure",)),
    Judged("Power BI dashboards", ("litware-analytics",), ("tailspin-learning",)),
    Judged("kiosk tablets factory", ("kanto-device-works",)),
    Judged(
        "Intune",
        ("kanto-device-works",),
        ("adventure-works-it", "nordlys-consulting", "harbor-hospitality"),
    ),
    Judged("migrations", ("fabrikam-migrations",), ("contoso-cloud", "cloud-nine-migration")),
    Judged("dashboard", ("litware-analytics",)),
    Judged(
        "hotels and restaurants", ("adventure-works-it", "mercado-nube"), ("harbor-hospitality",)
    ),
    Judged("nurses", ("clinicare-cloud",)),
    Judged("security reviews", ("northwind-secure", "securitas-identity")),
    Judged("file server migration", ("contoso-cloud", "cloud-nine-migration")),
    Judged("hotel tablets", ("harbor-hospitality", "adventure-works-it")),
    Judged("accounting", ("baikal-soft",)),
    Judged("charities", ("cape-collaboration",)),
    Judged("schools non-profits", ("cape-collaboration", "tailspin-learning")),
    Judged("Nordic energy", ("nordlys-consulting",)),
    Judged("conditional access", ("northwind-secure", "securitas-identity")),
    Judged("retention labels", ("proseware-health", "clinicare-cloud")),
    # Partner names, exact and nearly.
    Judged("Contoso", ("contoso-cloud",), first=True, kind="name"),
    Judged("Fabrikam migrations", ("fabrikam-migrations",), first=True, kind="name"),
    Judged("Cloud Nine", ("cloud-nine-migration",), first=True, kind="name"),
    Judged("tailspin", ("tailspin-learning",), first=True, kind="name"),
    Judged("Woodgrove Advisory", ("woodgrove-advisory",), first=True, kind="name"),
    Judged("Proseware Health", ("proseware-health",), first=True, kind="name"),
    Judged("adventure works", ("adventure-works-it",), first=True, kind="name"),
    Judged("harbour hospitality", ("harbor-hospitality",), first=True, kind="name"),
    Judged("contso", ("contoso-cloud",), first=True, kind="name"),
    Judged("nortwind", ("northwind-secure",), first=True, kind="name"),
    Judged("litwre", ("litware-analytics",), first=True, kind="name"),
    Judged("contso migration", ("contoso-cloud",), first=True, kind="name"),
    Judged(
        "clinicare hospital", ("clinicare-cloud",), ("proseware-health",), first=True, kind="name"
    ),
    # Typos in topic words.
    Judged("migraton", ("fabrikam-migrations",), ("contoso-cloud", "taiga-cloud"), kind="typo"),
    Judged("licencing advise", ("woodgrove-advisory",), ("mercado-nube",), kind="typo"),
    Judged("hospitel", ("proseware-health",), ("clinicare-cloud",), kind="typo"),
    Judged("dashbords", ("litware-analytics",), kind="typo"),
    Judged("acounting", ("baikal-soft",), kind="typo"),
    # Russian: word forms, translations, catalog names, names.
    _ru("миграция почтовых ящиков", ("taiga-cloud",), also=("contoso-cloud",)),
    _ru("перенос почтовых ящиков при слиянии", ("fabrikam-migrations",)),
    _ru("обучение сотрудников Teams", ("taiga-cloud",), also=("baikal-soft",)),
    _ru("защита от угроз", ("northwind-secure",)),
    _ru("банков", ("northwind-secure",)),
    _ru("Центральная Азия", ("taiga-cloud",)),
    _ru("бухгалтерия", ("baikal-soft",)),
    _ru("склады", ("baikal-soft",)),
    _ru("Байкал", ("baikal-soft",), first=True),
    _ru("байкл софт", ("baikal-soft",), first=True),
    _ru("тайга", ("taiga-cloud",), first=True),
    _ru("облачные партнёры", ("taiga-cloud",)),
)


def judged_listings(target: Path) -> Path:
    """Write the judged set's listings (examples, their logos, the catalog, the crafted
    ones) into `target`; returns it."""
    target.mkdir(parents=True, exist_ok=True)
    for path in EXAMPLES.iterdir():
        if path.is_file():
            shutil.copy(path, target / path.name)
    for path in listing_files(CRAFTED):
        shutil.copy(path, target / path.name)
    return target
