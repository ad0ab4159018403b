"""The theme's templates are compiled once per process (`sitegen.plugin.CompiledTemplates`):
a build with them compiled renders the same bytes as one that compiled them, and a template
whose source, or whose environment's compiling settings, changed is compiled again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import pytest

from marketplace_app.build import BuildPaths, build
from sitegen.plugin import THEME_CODE, CompiledTemplates
from tests.conftest import EXAMPLE_LISTINGS
from tests.site.conftest import site_files


def _compiled_names(monkeypatch: pytest.MonkeyPatch, cache: CompiledTemplates) -> list[str]:
    """The names of the templates Jinja compiles from now on, in this process, in environments
    that keep their code in `cache`. (Material's search plugin makes environments of its own,
    without it, to read its language partials.)"""
    names: list[str] = []
    compile_ = jinja2.Environment.compile

    def counted(self: jinja2.Environment, source: Any, name: Any = None, *args: Any) -> Any:
        if self.bytecode_cache is cache:
            names.append(str(name))
        return compile_(self, source, name, *args)

    monkeypatch.setattr(jinja2.Environment, "compile", counted)
    return names


def test_a_build_with_the_theme_compiled_renders_what_compiling_it_renders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    THEME_CODE.clear()
    compiled = _compiled_names(monkeypatch, THEME_CODE)
    cold = BuildPaths(EXAMPLE_LISTINGS, tmp_path / "cold" / "site", tmp_path / "cold" / "instance")
    build(cold)
    assert "main.html" in compiled and "404.html" in compiled  # English, in this process
    compiled.clear()
    warm = BuildPaths(EXAMPLE_LISTINGS, tmp_path / "warm" / "site", tmp_path / "warm" / "instance")
    build(warm)
    assert compiled == []
    assert site_files(warm.site_dir) == site_files(cold.site_dir)


def _environment(
    cache: CompiledTemplates, sources: dict[str, str], **options: Any
) -> jinja2.Environment:
    # Not escaping by default, as MkDocs' theme environment: escaping is a setting compared.
    environment = jinja2.Environment(loader=jinja2.DictLoader(sources), **options)  # noqa: S701
    environment.bytecode_cache = cache
    return environment


def test_a_template_is_compiled_again_when_its_source_or_environment_differs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = CompiledTemplates()
    compiled = _compiled_names(monkeypatch, cache)
    sources = {"page.html": "{{ '<b>' | upper }} {{ value | shout }}"}

    def render(**options: Any) -> str:
        filters: dict[str, Callable[..., str]] = options.pop("filters", {"shout": str.upper})
        policies: dict[str, Any] = options.pop("policies", {})
        environment = _environment(cache, sources, **options)
        environment.filters.update(filters)
        environment.policies.update(policies)
        return environment.get_template("page.html").render(value="hi")

    assert render() == "<B> HI"
    assert render() == "<B> HI"
    assert compiled == ["page.html"]  # the second environment took the code compiled
    sources["page.html"] = "{{ value | shout }}!"
    assert render() == "HI!"
    assert len(compiled) == 2
    # Settings the compiled code depends on: escaping, and how a filter is called.
    assert render(autoescape=True) == "HI!"
    assert len(compiled) == 3

    @jinja2.pass_context
    def shout_in_context(context: Any, value: str) -> str:
        return f"{value.upper()} ({context['value']})"

    assert render(filters={"shout": shout_in_context}) == "HI (hi)!"
    assert len(compiled) == 4
    assert render() == "HI!"  # the first environment's code, kept beside the others
    assert len(compiled) == 4
    # A policy a constant is filtered by when compiling (truncate's leeway).
    sources["page.html"] = "{{ 'abcdefghijklmnop' | truncate(12) }}"
    assert render() == "abcdefghijklmnop"  # within the default leeway of 5
    assert render(policies={"truncate.leeway": 0}) == "abcdefghi..."
    assert len(compiled) == 6
