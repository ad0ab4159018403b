"""axe-core, the accessibility rules engine, run inside the test browser on the page it shows.

The engine is the npm package `axe-core` at the exact version package-lock.json pins
(`npm ci --ignore-scripts` installs it into node_modules; `.ci/run` does). It is injected with
WebDriver's script execution, which bypasses the page's Content-Security-Policy: the site's
own policy (script-src 'self') stays exactly as served.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PROJECT_ROOT

AXE_PACKAGE = PROJECT_ROOT / "node_modules" / "axe-core"

BLOCKING_IMPACTS = ("serious", "critical")
"""The impacts that fail a test (issue 14: no serious or critical violations)."""

# WCAG 2.x A and AA plus axe's best practices (landmarks, one h1, region): what a customer
# with a screen reader or a keyboard meets on these pages.
RUN_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"],
    },
    "resultTypes": ["violations"],
}

_RUN = """
const [options, done] = arguments;
axe.run(document, options).then(
  (results) => done(JSON.stringify(results.violations.map((rule) => ({
    rule: rule.id, impact: rule.impact, help: rule.help, help_url: rule.helpUrl,
    nodes: rule.nodes.map((node) => ({
      target: node.target.map((part) => Array.isArray(part) ? part.join(" >>> ") : part),
      html: node.html,
      summary: node.failureSummary || "",
    })),
  })))),
  (error) => done(JSON.stringify({error: String(error)})),
);
"""


@dataclass(frozen=True)
class Node:
    """One element that breaks a rule."""

    target: tuple[str, ...]
    html: str
    summary: str


@dataclass(frozen=True)
class Violation:
    """One axe rule the page breaks, with every element that breaks it."""

    rule: str
    impact: str
    help: str
    help_url: str
    nodes: tuple[Node, ...]

    def describe(self) -> str:
        """The rule, its impact, where, and the page that explains the fix."""
        lines = [f"{self.rule} ({self.impact}): {self.help} — {self.help_url}"]
        for node in self.nodes[:8]:
            lines.append(f"    {' '.join(node.target)}: {' '.join(node.html.split())[:160]}")
            lines.extend(
                f"      {line.strip()}" for line in node.summary.splitlines()[1:3] if line.strip()
            )
        if len(self.nodes) > 8:
            lines.append(f"    … and {len(self.nodes) - 8} more elements")
        return "\n".join(lines)


@functools.cache
def _source(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def axe_version() -> str:
    """The installed axe-core's version (skips the test where `npm ci` has not run)."""
    manifest = AXE_PACKAGE / "package.json"
    if not (AXE_PACKAGE / "axe.min.js").is_file() or not manifest.is_file():
        pytest.skip("axe-core is not installed: run `npm ci --ignore-scripts` (see .ci/run)")
    version: str = json.loads(_source(manifest))["version"]
    return version


def run_axe(driver: Any) -> list[Violation]:
    """Run axe-core on the page `driver` shows; the rules it breaks."""
    axe_version()
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(_source(AXE_PACKAGE / "axe.min.js"))
    answer = json.loads(driver.execute_async_script(_RUN, RUN_OPTIONS))
    if isinstance(answer, dict):
        raise RuntimeError(f"axe-core failed on {driver.current_url}: {answer['error']}")
    return [
        Violation(
            rule=item["rule"],
            impact=item["impact"] or "minor",
            help=item["help"],
            help_url=item["help_url"],
            nodes=tuple(
                Node(tuple(node["target"]), node["html"], node["summary"]) for node in item["nodes"]
            ),
        )
        for item in answer
    ]


def blocking(violations: list[Violation]) -> list[Violation]:
    """The violations of serious or critical impact."""
    return [item for item in violations if item.impact in BLOCKING_IMPACTS]


def report(page: str, violations: list[Violation]) -> str:
    """A failure message: the page, then each violation with its elements and help page."""
    return f"{page}: {len(violations)} violations (axe-core {axe_version()})\n" + "\n".join(
        item.describe() for item in violations
    )
