"""How long one partner description takes to render, at its worst.

    python -m benchmarks.markdown_cost [--smoke]

Each case is a valid description of the longest allowed length made of what Markdown parsers
handle worst (unclosed brackets, emphasis runs, nested quotes, backtick runs, chains of links…),
rendered by `render_partner_markdown` (parser + sanitiser), best of 5. "half" is the same case at
half the length: a ratio near 2 means the cost grows linearly with the text. `--smoke` runs
every case once on short texts (the tests do, so the script cannot rot).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from marketplace.model import Listing
from sitegen.markdown import render_partner_markdown

MAX_DESCRIPTION = int(Listing.model_json_schema()["properties"]["description"]["maxLength"])
"""The longest description a valid listing may have."""


def _repeat(unit: str) -> Callable[[int], str]:
    return lambda length: (unit * (length // len(unit) + 1))[:length]


def _lines(line: Callable[[int], str]) -> Callable[[int], str]:
    def text(length: int) -> str:
        out, index = "", 1
        while len(out) + len(line(index)) <= length:
            out, index = out + line(index), index + 1
        return out

    return text


PATHOLOGICAL: dict[str, Callable[[int], str]] = {
    "unclosed [": _repeat("["),
    "unclosed ![": _repeat("!["),
    "[a](": _repeat("[a]("),
    "[]( chain": _repeat("[]("),
    "link chain [a][b]": _repeat("[a]"),
    "links [a](b)": _repeat("[a](b)"),
    "* run": _repeat("*"),
    "*a emphasis": _repeat("*a "),
    "**_ mix": _repeat("**_"),
    "_ intraword a_b": _repeat("a_"),
    "nested >": _repeat(">"),
    "nested > lines": _lines(lambda depth: ">" * depth + " x\n"),
    "` run": _repeat("`"),
    "` runs of growing length": _lines(lambda size: "`" * size + " "),
    "< run": _repeat("<"),
    "<a unclosed tags": _repeat("<a"),
    "&# entities": _repeat("&#"),
    "\\ escapes": _repeat("\\"),
    "nested lists": _lines(lambda depth: "  " * depth + "- x\n"),
    "table rows": lambda length: ("|a|b|\n|-|-|\n" + "|x|y|\n" * length)[:length],
    # A row with fewer cells than the header is padded: 625 columns over 2,500 one-letter rows.
    "wide table, short rows": lambda length: (
        "a|" * (length // 8) + "\n" + "-|" * (length // 8) + "\n" + "x\n" * length
    )[:length],
    # Each level of quote or list scans every following "lazy" line again.
    "20 > then lazy lines": lambda length: ("> " * 20 + "a\n" + "b\n" * length)[:length],
    "10 - > then lazy lines": lambda length: ("- > " * 10 + "a\n" + "b\n" * length)[:length],
    "one-letter lines": _repeat("x\n"),
}
"""Valid descriptions that made Python-Markdown (or a naive parser) slow, by what they repeat."""


def render_seconds(text: str, repeats: int) -> float:
    """Best wall time of `repeats` renders of `text`."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        render_partner_markdown(text)
        best = min(best, time.perf_counter() - started)
    return best


def main(smoke: bool = False) -> None:
    length, repeats = (200, 1) if smoke else (MAX_DESCRIPTION, 5)
    render_partner_markdown("warm *up*")
    print(f"{'description':<26} {'chars':>6} {'ms':>8} {'half ms':>8} {'ratio':>6}")
    worst = 0.0
    for name, make in PATHOLOGICAL.items():
        text, half = make(length), make(length // 2)
        seconds, half_seconds = render_seconds(text, repeats), render_seconds(half, repeats)
        worst = max(worst, seconds)
        ratio = seconds / half_seconds if half_seconds else 0.0
        print(
            f"{name:<26} {len(text):>6} {seconds * 1000:>8.1f} "
            f"{half_seconds * 1000:>8.1f} {ratio:>6.2f}"
        )
    print(f"worst: {worst * 1000:.1f} ms")


if __name__ == "__main__":
    main(smoke="--smoke" in sys.argv[1:])
