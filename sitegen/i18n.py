"""The generated pages' own words: gettext messages of the one catalog (`marketplace.i18n`).

Material translates its own interface (search box, dark-mode toggle) through `theme.language`;
these are the words of the pages this package writes. Catalog, country and language names come
from the catalog module; partner text from the listing's translations. Templates call `_()`
and `ngettext()` (Jinja's i18n extension, newstyle: placeholders are `%(name)s`, filled and
escaped by the call), and the `count`, `day` filters for numbers and dates. Partner text that
has no translation is shown in English and marked so (`untranslated`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache

import jinja2
from babel import Locale
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream
from markupsafe import Markup

from marketplace.i18n import SOURCE_LANGUAGE, format_count, format_day, translations
from marketplace.urls import partner_url, value_url


def N_(message: str) -> str:
    """Marks `message` for extraction; it is translated where it is shown."""
    return message


FACET_LABELS = {
    "service": N_("Services"),
    "capability": N_("Capabilities"),
    "industry": N_("Industries"),
    "region": N_("Regions"),
    "language": N_("Languages"),
    "program": N_("Programs"),
}
"""What each facet is called on the site (`marketplace.catalog.FACETS` names)."""


def facet_label(facet_name: str, language: str) -> str:
    """A facet's name on the site, e.g. "Services"."""
    return translations(language).gettext(FACET_LABELS[facet_name])


def _count_messages(language: str) -> dict[str, Callable[[int], str]]:
    t = translations(language)
    return {
        # The find page's result count without a query, as filters change.
        "matching": lambda n: t.ngettext("%(num)s partner matches", "%(num)s partners match", n),
        # The find page's result count for a query.
        "found": lambda n: t.ngettext("%(num)s partner found", "%(num)s partners found", n),
        # The find page's hints on an empty result: what removing one filter would give.
        "partners": lambda n: t.ngettext("%(num)s partner", "%(num)s partners", n),
        # The header search's status line: how many hand-written pages matched.
        "pages": lambda n: t.ngettext("%(num)s page", "%(num)s pages", n),
    }


def count_texts(name: str, language: str) -> str:
    """The forms of a count message for the page scripts, as JSON: {CLDR plural category:
    text with "{count}"}, e.g. {"one": "{count} partner found", "other": "{count} partners
    found"}. The script picks the form with `Intl.PluralRules`, which follows the same CLDR
    rules as the catalog's Plural-Forms."""
    message = _count_messages(language)[name]
    plural_form = Locale.parse(language).plural_form
    forms: dict[str, str] = {}
    for number in range(200):  # every integer category shows up below 200
        forms.setdefault(plural_form(number), message(number) % {"num": "{count}"})
    return json.dumps(forms, ensure_ascii=False, sort_keys=True)


_IN_ENGLISH = Markup(' lang="{}"').format(SOURCE_LANGUAGE)
_AS_THE_PAGE = Markup("")


def shown_in_english(shown: str | None, english: str | None, language: str) -> bool:
    """Whether partner text on a page in `language` is the listing's English text (the
    listing has no translation of it), so its element must say `lang="en"`.

    A listing falls back to English field by field (`Listing.text`, `Listing.offer_title`);
    comparing with the English text, rather than deciding again which fields fall back, keeps
    that rule in the model. A translation identical to the English is English anyway.
    """
    return language != SOURCE_LANGUAGE and shown == english


def untranslated_marker(language: str) -> Callable[[str | None, str | None], Markup]:
    """The templates' `untranslated(shown, english)`: ` lang="en"` for an element holding
    partner text shown in English on a page in `language` (`shown_in_english`), else nothing."""
    return lambda shown, english: (
        _IN_ENGLISH if shown_in_english(shown, english, language) else _AS_THE_PAGE
    )


class ConstantMessages(Extension):
    """Translates `_("literal")` once, when a template is compiled, instead of on every render.

    The environment is per language, so a message without placeholders has one translation for
    the environment's life; the partner and browse templates say ~40 of them per page, and the
    i18n extension's run-time call (context lookup, Markup, `%` formatting) was a fifth of the
    pages' time at 10,000 partners. The folded text is exactly what the call returns: the
    translation, marked safe like newstyle gettext marks it under autoescape, with `%%` made
    `%` by the same `% {}`. Calls with placeholders, and `ngettext`, stay run-time calls.
    """

    def __init__(self, environment: jinja2.Environment) -> None:
        super().__init__(environment)
        environment.extend(constant_gettext=None)

    def filter_stream(self, stream: TokenStream) -> list[Token]:
        """The template's tokens with `_ ( "literal" )` replaced by `( "translation" | safe )`."""
        translate: Callable[[str], str] | None = self.environment.constant_gettext  # type: ignore[attr-defined]
        tokens = list(stream)
        if translate is None:
            return tokens
        folded: list[Token] = []
        position = 0
        while position < len(tokens):
            window = tokens[position : position + 4]
            if (
                [token.type for token in window] == ["name", "lparen", "string", "rparen"]
                and window[0].value == "_"
                and (not folded or folded[-1].type != "dot")
            ):
                line = window[0].lineno
                # The catalog's own text, marked safe as newstyle gettext marks it.
                text = str(Markup(translate(window[2].value)) % {})  # noqa: S704
                folded += [
                    Token(line, "lparen", "("),
                    Token(line, "string", text),
                    Token(line, "pipe", "|"),
                    Token(line, "name", "safe"),
                    Token(line, "rparen", ")"),
                ]
                position += 4
            else:
                folded.append(tokens[position])
                position += 1
        return folded


@cache
def environment(language: str) -> jinja2.Environment:
    """The page templates with the words, numbers and dates of `language`."""
    templates = jinja2.Environment(
        loader=jinja2.PackageLoader("sitegen", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n", ConstantMessages],
        # The templates are the package's own files: a process that stays (`serve`'s build
        # process) starts anew when our code changes. Checking each one's modification time
        # at every page it renders was a stat call per page.
        auto_reload=False,
    )
    words = translations(language)
    templates.install_gettext_translations(words, newstyle=True)  # type: ignore[attr-defined]
    templates.constant_gettext = words.gettext  # type: ignore[attr-defined]
    templates.globals.update(
        partner_url=partner_url,
        value_url=value_url,
        facet_label=lambda name: facet_label(name, language),
        untranslated=untranslated_marker(language),
    )
    templates.filters.update(
        count=lambda number: format_count(number, language),
        day=lambda moment: format_day(moment, language),
    )
    return templates
