"""How fast the find page answers in Chromium, with the search API and on a static host.

    python -m benchmarks.find_page [N ...] [--smoke]      (default: 10000)

For each N: generate N listings, start `marketplace serve` on them (which builds the site, the
index and the snapshot, then serves the site and the API in one process, as in production on
one machine), and open `find/` in the system's headless Chromium.

- "API": from the moment an action starts (a query submitted from the box, a facet value
  ticked, the sort changed, the next page clicked) until its results are in the page and one
  frame has been painted. The box's typing delay (250 ms after the last keystroke) is left out:
  it is a choice of the page, not a cost. The first round asks each query's words for the
  first time since the index opened ("first use": whoosh scores a term on its first use, see
  search/whoosh_engine.py), later rounds are "warm"; each action is also reported alone.
- "static": the same page served by a plain static file server (no API: the page filters
  directory.json in the browser): the time from navigation to the first result cards, and the
  same actions as above (name matching in the box). "data" is what the page downloads besides
  the site's own assets (its JSON files), in gzip bytes per listing.

`--smoke` runs once on 14 listings (the tests do, so the script cannot rot); it needs Chromium
and chromedriver (Debian: chromium chromium-driver) and says so when they are missing.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from benchmarks.generate import generate_listings
from tests.browser import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS, static_server
from tests.smtp import free_port

QUERIES = [
    "migration",
    "teams training",
    "north",
    "security compliance",
    "mailbox migration to exchange",
    "summit harbor",
    "devices",
    "sharepoint intranet",
    "миграция почты",
    "secruity",
]
"""Texts submitted from the box: single words, phrases, names, Russian, a typo."""

NAME_QUERIES = ["north", "river", "atlas 12", "Contoso"]
"""Texts for the static page, which matches names only."""

ACT = """
const [action, argument, done] = arguments;
const results = document.querySelector(".mp-find__results");
const start = performance.now();
let seen = false;
const finish = () => requestAnimationFrame(() => setTimeout(() => {
  done({ms: performance.now() - start, cards: document.querySelectorAll(".mp-find__card").length});
}, 0));
const observer = new MutationObserver(() => {
  if (results.hasAttribute("aria-busy")) { seen = true; return; }
  if (seen) { observer.disconnect(); finish(); }
});
observer.observe(results, {attributes: true, attributeFilter: ["aria-busy"]});
if (action === "query") {
  const box = document.getElementById("mp-find-query");
  box.value = argument;
  box.form.requestSubmit();
} else if (action === "tick") {
  const boxes = [...document.querySelectorAll(`input[type=checkbox][name="${argument}"]`)];
  const box = boxes.find(b => !b.checked && !b.closest("[hidden]"));
  if (!box) { observer.disconnect(); done({ms: null, cards: 0}); return; }
  box.click();
} else if (action === "sort") {
  const select = document.querySelector(".mp-find select");
  select.value = argument;
  select.dispatchEvent(new Event("change"));
} else if (action === "next") {
  const next = document.querySelector(".mp-find__pages a[rel=next]");
  if (!next) { observer.disconnect(); done({ms: null, cards: 0}); return; }
  next.click();
}
if (results.hasAttribute("aria-busy")) seen = true;
"""
"""Run one action on the find page and report when its results are painted (async script)."""

FIRST_CARDS = """
window.__firstCards = null;
new MutationObserver((changes, observer) => {
  if (document.querySelector(".mp-find__card")) {
    window.__firstCards = performance.now();
    observer.disconnect();
  }
}).observe(document, {childList: true, subtree: true});
"""
"""Installed before any page script runs: when the first result card appears (ms after the
navigation started)."""

ACTIONS = [("tick", "service"), ("tick", "region"), ("sort", "newest"), ("next", "")]


@contextlib.contextmanager
def serving(listings: Path, root: Path) -> Iterator[str]:
    """`marketplace serve` on `listings` (building first); yields its base URL."""
    port = free_port()
    log = (root / "serve.log").open("wb")
    command = [
        sys.executable, "-m", "marketplace_app", "serve",
        "--listings", str(listings), "--site-dir", str(root / "site"),
        "--instance", str(root / "instance"), "--port", str(port),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 900
        while True:
            if process.poll() is not None:
                sys.exit(f"serve stopped: {(root / 'serve.log').read_text()[-2000:]}")
            probe = base + "api/v1/search?per_page=1"  # http on loopback, built here
            with contextlib.suppress(OSError), urllib.request.urlopen(probe, timeout=5):  # noqa: S310
                break
            if time.monotonic() > deadline:
                sys.exit("serve did not answer within 15 minutes")
            time.sleep(0.5)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def chromium() -> Any:
    """The system's headless Chromium through selenium, or exit saying what is missing."""
    if not (CHROMIUM and CHROMEDRIVER):
        sys.exit("needs Chromium and chromedriver (Debian: chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:  # the tests' flags: the same browser the tests drive
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_script_timeout(60)
    return browser


def wait_for_cards(browser: Any, timeout: float = 60) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, timeout).until(
        lambda driver: driver.execute_script(
            "const r = document.querySelector('.mp-find__results');"
            "return r && !r.hasAttribute('aria-busy') && "
            "document.querySelectorAll('.mp-find__card').length > 0"
        )
    )


def act(browser: Any, action: str, argument: str) -> float | None:
    """Milliseconds from an action to its painted results (None: nothing to do)."""
    answer = browser.execute_async_script(ACT, action, argument)
    return None if answer["ms"] is None else float(answer["ms"])


def session(browser: Any, url: str, queries: list[str], rounds: int) -> list[dict[str, float]]:
    """Open `url`, then time every query and the follow-up actions, `rounds` times: one
    {action: milliseconds} per query and round."""
    rounds_times: list[dict[str, float]] = []
    for _ in range(rounds):
        for query in queries:
            browser.get(url)
            wait_for_cards(browser)
            measured: dict[str, float] = {}
            for action, argument in [("query", query), *ACTIONS]:
                taken = act(browser, action, argument)
                if taken is not None:
                    measured[f"{action} {argument}".strip()] = taken
            rounds_times.append(measured)
    return rounds_times


def report(label: str, measured: list[dict[str, float]], per_round: int) -> None:
    """Print every action's figures: the first round (each query's words used for the first
    time since the index opened, so partly cold) apart from the rest (warm)."""
    first, warm = measured[:per_round], measured[per_round:]
    for name, group in (("first use", first), ("warm", warm)):
        times = [ms for row in group for ms in row.values()]
        if times:
            print(f"  {label} {name:9} all actions:  {summary(times)}")
    for action in dict.fromkeys(key for row in warm or first for key in row):
        times = [row[action] for row in warm or first if action in row]
        print(f"  {label}   {action:16} {summary(times)}")


def first_cards(browser: Any, url: str) -> float:
    """Milliseconds from navigation to the first result cards of a fresh page load."""
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    browser.get(url)
    wait_for_cards(browser)
    return float(browser.execute_script("return window.__firstCards"))


def downloaded_json(browser: Any, site: Path, base: str) -> int:
    """Gzip bytes of the JSON files the page fetched (what a static host would send)."""
    urls = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => n.split('?')[0].endsWith('.json'))"
    )
    total = 0
    for url in dict.fromkeys(urls):
        path = site / urlsplit(url).path.removeprefix(urlsplit(base).path)
        if path.is_file():
            total += len(gzip.compress(path.read_bytes(), 6))
    return total


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"median {statistics.median(ordered):6.1f} ms  p95 {p95:6.1f} ms  "
        f"max {ordered[-1]:6.1f} ms  ({len(ordered)} actions)"
    )


def run(count: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        listings = generate_listings(count, root / "listings")
        started = time.perf_counter()
        browser = chromium()
        try:
            with serving(listings, root) as base:
                ready = time.perf_counter() - started
                print(f"{count} listings: serve ready (build included) in {ready:.1f} s")
                report("API   ", session(browser, base + "find/", QUERIES, rounds), len(QUERIES))
                russian = session(browser, base + "ru/find/", QUERIES[-2:], rounds)
                report("API ru", russian, 2)
            site = root / "site"
            browser.execute_cdp_cmd(
                "Page.addScriptToEvaluateOnNewDocument", {"source": FIRST_CARDS}
            )
            with static_server(site) as base:
                loads = [first_cards(browser, base + "find/") for _ in range(3)]
                data = downloaded_json(browser, site, base)
                print(
                    f"  static  first cards after navigation: median "
                    f"{statistics.median(loads):.0f} ms (of {', '.join(f'{t:.0f}' for t in loads)})"
                    f"; data {data:,} B gzip = {data / count:.0f} B/listing"
                )
                measured = session(browser, base + "find/", NAME_QUERIES, rounds)
                report("static", measured, len(NAME_QUERIES))
        finally:
            browser.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("counts", nargs="*", type=int, default=[10_000])
    parser.add_argument("--rounds", type=int, default=3, help="times each query is run")
    parser.add_argument("--smoke", action="store_true", help="14 listings, one round")
    args = parser.parse_args()
    if args.smoke:
        run(14, 1)
        return
    for count in args.counts:
        run(count, args.rounds)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
