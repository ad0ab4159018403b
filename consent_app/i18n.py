"""The customer pages' language, and the texts views choose by key.

One i18n system for the whole project (`marketplace.i18n`): gettext catalogs whose msgids are
the English text. Templates say `_("…")` and `ngettext("…", "…", n)` (Flask-Babel's Jinja
set-up, newstyle: `%(name)s` placeholders are filled, and escaped, by the call) and format
with the `count`, `day` and `moment` filters. Views that choose a text by a code (a refusal,
an audit event, a message page) name it by key: `translate(language, key, **values)`, and
`MESSAGES` is that one table from key to message.

The language comes from `?lang=` (remembered in a cookie), else the cookie, else the browser's
Accept-Language.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Final

from babel.support import NullTranslations, Translations
from flask import Flask, Response, g, request
from flask_babel import Babel, Domain, get_locale
from wtforms.i18n import messages_path

from marketplace.catalog import SITE_LANGUAGES
from marketplace.i18n import (
    SOURCE_LANGUAGE,
    format_count,
    format_day,
    format_moment,
    format_money,
    translations,
)

COOKIE = "mp_lang"
LANGUAGE_LABELS = {"en": "English", "ru": "Русский"}


def N_(message: str) -> str:
    """Marks `message` for extraction; `translate` translates it where it is shown."""
    return message


@dataclass(frozen=True)
class Plural:
    """A message with a count in it: `forms` asks `ngettext` for the form the count needs."""

    forms: Callable[[NullTranslations, int], str]
    count: str
    """The name of the value that is the count."""


MESSAGES: Final[dict[str, str | Plural]] = {
    "heading_trial": N_("%(partner)s invites %(company)s to a free trial"),
    "heading_purchase": N_("%(partner)s sends %(company)s a purchase offer"),
    "heading_accepted": N_("You accepted the invitation from %(partner)s"),
    "heading_declined": N_("You declined the invitation from %(partner)s"),
    "closed_unknown_title": N_("This link does not work"),
    "closed_unknown_text": N_(
        "We do not know this link. Check that you opened the whole link from the e-mail; if it "
        "still fails, ask the partner to send a new invitation."
    ),
    "closed_accepted_title": N_("This invitation was accepted already"),
    "closed_accepted_text": N_(
        "It was accepted on %(date)s. Nothing more is needed; your customer page shows what was "
        "decided."
    ),
    "closed_declined_title": N_("This invitation was declined"),
    "closed_declined_text": N_(
        "It was declined on %(date)s. If that was a mistake, ask the partner to send a new "
        "invitation."
    ),
    "closed_canceled_title": N_("The partner withdrew this invitation"),
    "closed_canceled_text": N_("The partner canceled it on %(date)s; nothing was changed."),
    "closed_expired_title": N_("This invitation has expired"),
    "closed_expired_text": N_(
        "It expired on %(date)s without a decision, and nothing was changed. Ask the partner for "
        "a new one if you still want it."
    ),
    "tenant_taken_title": N_("This invitation can no longer be accepted"),
    "tenant_taken_text": N_(
        "The tenant it was for was created after the invitation was sent, and you are not one of "
        "its administrators. Ask the partner to send a new invitation; it will go to the tenant's "
        "administrators."
    ),
    "not_available_title": N_("Not available for your tenant"),
    "not_available_text": N_(
        "Partner features (invitations, offers, delegated administration and partner of record) "
        "are not available to tenants in the sovereign cloud operated by 21Vianet. Nothing was "
        "changed."
    ),
    "signin_sent_title": N_("Check your mail"),
    "signin_sent_text": Plural(
        lambda t, n: t.ngettext(
            "If %(email)s is a verified administrator address, a sign-in link is on its way. "
            "It works once, for %(minutes)s minute.",
            "If %(email)s is a verified administrator address, a sign-in link is on its way. "
            "It works once, for %(minutes)s minutes.",
            n,
        ),
        count="minutes",
    ),
    "signin_invalid_title": N_("This sign-in link does not work"),
    "signin_invalid_text": N_(
        "It was used already, has expired, or is not a link we sent. Ask for a new one."
    ),
    "signin_again": N_("Ask for a new sign-in link"),
    "flash_da_revoked": N_("%(partner)s no longer administers your tenant."),
    "flash_por_set": N_("%(partner)s is now your partner of record."),
    "flash_por_cleared": N_("You have no partner of record now."),
    "csrf_title": N_("Please try again"),
    "csrf_text": N_(
        "This form expired or did not come from this site, so nothing was changed. Go back, "
        "reload the page and submit it again."
    ),
    "too_many_title": N_("Too many requests"),
    "too_many_text": N_(
        "You (or someone sharing your network) tried this too often. Nothing was changed. Wait a "
        "minute, then try again."
    ),
    "not_found_title": N_("Page not found"),
    "not_found_text": N_("There is no page at this address."),
    "error_title": N_("Something went wrong on our side"),
    "error_text": N_("Nothing was changed. Please try again in a moment."),
    "refused.not_confirmed": N_("Nothing was changed: tick the box that confirms it first."),
    "refused.replacement_needs_confirmation": N_(
        "Another partner administers your tenant. To authorize this partner instead, tick the box "
        "that confirms the replacement."
    ),
    "refused.delegated_admin_changed": N_(
        "Your delegated admin partner changed since you opened this page. Review the page again, "
        "then decide."
    ),
    "refused.delegated_admin_not_requested": N_(
        "This invitation does not ask for delegated administration, so it cannot be granted."
    ),
    "refused.cloud_not_supported": N_(
        "Partner features are not available to tenants in the sovereign cloud operated by "
        "21Vianet. Nothing was changed."
    ),
    "refused.tenant_exists": N_(
        "This tenant was created after the invitation was sent. Ask the partner to send a new "
        "invitation; it will go to the tenant's administrators."
    ),
    "refused.conflict": N_(
        "Something changed at the same moment. Nothing was applied: review the page again, then "
        "decide."
    ),
    "refused.unchanged": N_("That is your partner of record already."),
    "refused.validation_error": N_("Choose one of the partners in the list."),
    "refused.not_found": N_("That partner does not hold this role any more."),
    "refused.invalid_state": N_("This invitation can no longer be decided."),
    "refused.partner_not_listed": N_(
        "This partner is no longer listed in the Marketplace, so its invitation can no longer be "
        "accepted. You can decline it."
    ),
    "refused.offer_withdrawn": N_(
        "The partner has changed its listing since it sent this invitation, and what it offered "
        "is no longer available, so it can no longer be accepted. You can decline it."
    ),
    "refused.key_revoked": N_(
        "The partner has revoked the API key this invitation was sent with, so it can no "
        "longer be accepted. You can decline it; the partner can send a new one."
    ),
    "refused.domain_not_verified": N_(
        "This invitation would create a tenant for a domain only the Marketplace operators can "
        "add once they have verified it, so it can no longer be accepted. You can decline it."
    ),
    "refused.customer_is_partner": N_(
        "This invitation was sent to an address in the partner's own domain, so it can no longer "
        "be accepted. You can decline it."
    ),
    "refused.terms_not_accepted": N_(
        'This offer has prices. To accept it, tick "I accept these terms" after reading them; '
        "nothing was changed."
    ),
    "refused.price_terms_invalid": N_(
        "The prices stored with this offer are not valid, so it can no longer be accepted. You "
        "can decline it; the partner can send a new one."
    ),
    "refused.not_eligible_for_delegated_admin": N_(
        "Delegated administration can no longer be granted to this partner. You can accept "
        "without it, or decline."
    ),
    "event.tenant.created": N_("Customer account created"),
    "event.tenant.admin_added": N_("Administrator added"),
    "event.tenant.admin_removed": N_("Administrator removed, their personal data erased"),
    "event.invitation.created": N_("%(partner)s sent an invitation"),
    "event.invitation.accepted": N_("Invitation from %(partner)s accepted"),
    "event.invitation.declined": N_("Invitation from %(partner)s declined"),
    "event.invitation.canceled": N_("%(partner)s withdrew an invitation"),
    "event.invitation.expired": N_("Invitation from %(partner)s expired"),
    "event.invitation.resent": N_("%(partner)s sent an invitation again, with a new link"),
    "event.delegated_admin.granted": N_("Delegated administration granted to %(partner)s"),
    "event.delegated_admin.ended": N_("Delegated administration by %(partner)s ended"),
    "event.partner_of_record.set": N_("%(partner)s named partner of record"),
    "event.partner_of_record.ended": N_("%(partner)s no longer partner of record"),
    "event.partner_of_record.cleared": N_("Partner of record cleared"),
    "event.customer.signed_in": N_("Signed in to the customer page"),
}
"""Every text a view chooses by key: message pages are `<key>_title` and `<key>_text`,
refusals `refused.<code>`, history lines `event.<action>`."""


def translate(language: str, key: str, **values: object) -> str:
    """The text `key` in `language` with `values` filled in; numbers and dates in `values`
    are written the language's way."""
    message = MESSAGES[key]
    catalog = translations(language)
    if isinstance(message, Plural):
        count = values[message.count]
        text = message.forms(catalog, count if isinstance(count, int) else 0)
    else:
        text = catalog.gettext(message)
    if not values:
        return text
    return text % {name: _shown(value, language) for name, value in values.items()}


def _shown(value: object, language: str) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return format_count(value, language)
    if isinstance(value, date):  # a datetime too: the day it fell on, in UTC
        return format_day(value, language)
    return value


class _Texts(Mapping[str, str]):
    """The texts of `MESSAGES` in one language, without values filled in."""

    def __init__(self, language: str) -> None:
        self._language = language

    def __getitem__(self, key: str) -> str:
        message = MESSAGES[key]
        if isinstance(message, Plural):
            return message.forms(translations(self._language), 2)
        return translations(self._language).gettext(message)

    def __iter__(self) -> Iterator[str]:
        return iter(MESSAGES)

    def __len__(self) -> int:
        return len(MESSAGES)


WORDS: Final[dict[str, Mapping[str, str]]] = {code: _Texts(code) for code in SITE_LANGUAGES}
"""`WORDS[language][key]`: kept for the views that ask `key in WORDS[language]`."""


def choose_language() -> str:
    """The language of this request: ?lang=, then the cookie, then Accept-Language."""
    asked = request.args.get("lang")
    if asked in SITE_LANGUAGES:
        return asked
    remembered = request.cookies.get(COOKIE)
    if remembered in SITE_LANGUAGES:
        return remembered
    return request.accept_languages.best_match(list(SITE_LANGUAGES), default="en") or "en"


def language() -> str:
    """The current request's language."""
    chosen: str = g.get("language") or choose_language()
    return chosen


@functools.cache
def _wtforms_translations(language: str) -> NullTranslations:
    return Translations.load(messages_path(), [language], domain="wtforms")


def form_translations() -> NullTranslations:
    """WTForms' own messages (its validators' defaults) in the current request's language.

    Flask-WTF reads WTForms' catalog from disk in every request that builds a form (~1 ms,
    an eighth of an accept's time under load); it never changes while the process runs."""
    return _wtforms_translations(language())


class _CatalogDomain(Domain):  # type: ignore[misc]  # flask_babel ships no type information
    """Flask-Babel's translations from the project's catalogs (read from `.po`), not from
    compiled `.mo` files in the app's folder."""

    def get_translations(self) -> NullTranslations:
        locale = get_locale()  # None outside a request
        return translations(locale.language if locale is not None else SOURCE_LANGUAGE)


class _Babel(Babel):  # type: ignore[misc]  # flask_babel ships no type information
    domain_instance = _CatalogDomain()


babel = _Babel()


def init_app(app: Flask) -> None:
    """Pick each request's language; give templates gettext, the formatting filters, `lang`
    and `languages`."""
    babel.init_app(
        app, default_locale=SOURCE_LANGUAGE, default_timezone="UTC", locale_selector=language
    )
    # Flask-Babel's template gettext looks the catalog up again on every call (its domain, the
    # locale, the catalog): a tenth of a decision page's render. The request's language names
    # the (cached) catalog directly; the texts are the same.
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]  # Jinja's i18n
        gettext=lambda message: translations(language()).gettext(message),
        ngettext=lambda singular, plural, n: translations(language()).ngettext(singular, plural, n),
        newstyle=True,
    )
    app.jinja_env.filters.update(
        count=lambda number: format_count(number, language()),
        day=lambda moment: format_day(moment, language()),
        moment=lambda moment: format_moment(moment, language()),
        money=lambda amount, currency: format_money(amount, currency, language()),
    )

    @app.before_request
    def pick_language() -> None:
        g.language = choose_language()

    @app.after_request
    def remember_language(response: Response) -> Response:
        asked = request.args.get("lang")
        if asked in SITE_LANGUAGES and request.cookies.get(COOKIE) != asked:
            response.set_cookie(
                COOKIE,
                asked,
                max_age=365 * 86400,
                samesite="Lax",
                httponly=True,
                secure=bool(app.config.get("SESSION_COOKIE_SECURE")),
            )
        return response

    @app.context_processor
    def languages() -> dict[str, object]:
        return {
            "lang": language(),
            "languages": [(code, LANGUAGE_LABELS[code]) for code in SITE_LANGUAGES],
        }
