"""A located problem in a listing or catalog file, and the ways a run reports them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong in one file, at a 1-based line and column."""

    file: str
    line: int
    column: int
    field: str
    message: str

    def as_text(self) -> str:
        """Render as the compiler-style `path:line:col: message` line."""
        where = f"{self.field}: " if self.field else ""
        return f"{self.file}:{self.line}:{self.column}: {where}{self.message}"


def format_text(problems: Iterable[Problem]) -> str:
    """One `path:line:col: message` per problem."""
    return "".join(p.as_text() + "\n" for p in problems)


def _escape_github_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_github_property(text: str) -> str:
    return _escape_github_data(text).replace(":", "%3A").replace(",", "%2C")


def format_github(problems: Iterable[Problem]) -> str:
    """GitHub Actions workflow commands, so each problem is annotated on its line in a PR."""
    lines = []
    for p in problems:
        props = f"file={_escape_github_property(p.file)},line={p.line},col={p.column}"
        if p.field:
            props += f",title={_escape_github_property(p.field)}"
        lines.append(f"::error {props}::{_escape_github_data(p.message)}\n")
    return "".join(lines)


def format_json(problems: Iterable[Problem]) -> str:
    """A JSON list of {file, line, column, field, message}."""
    return json.dumps([asdict(p) for p in problems], ensure_ascii=False, indent=2) + "\n"


FORMATTERS = {"text": format_text, "github": format_github, "json": format_json}
