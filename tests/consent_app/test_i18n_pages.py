"""The customer pages and mail in each language: counts agree with their nouns (CLDR plural
rules), numbers and dates are written the language's way, offer titles are translated."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select, update

from consent_app.models import Invitation
from marketplace.i18n import format_day, format_moment
from tests.consent_app.conftest import ADMIN, Marketplace, csrf_token

OFFER_EN = "Collaboration starter trial"
OFFER_RU = "Стартовая пробная версия для совместной работы"  # listings/contoso-cloud.yaml


@pytest.fixture
def contoso(market: Marketplace) -> str:
    market.add_tenant()
    return market.key("contoso-cloud")


def page(market: Marketplace, path: str, language: str) -> str:
    return html.unescape(market.client.get(f"{path}?lang={language}").get_data(as_text=True))


def text(markup: str) -> str:
    """A page's text: tags dropped, runs of spaces and line ends (not no-break spaces) as one."""
    return re.sub(r"[ \t\r\n]+", " ", re.sub(r"<[^>]+>", "", markup))


def english_and_russian(body: str) -> tuple[str, str]:
    """A customer mail's English and Russian parts, with plain line ends."""
    english, russian = body.replace("\r\n", "\n").split("\n-----\n")
    return english, russian


@pytest.mark.parametrize(
    ("days", "english", "russian"),
    [
        (11, "A free trial for 11 days of:", "Бесплатная пробная версия на 11 дней:"),
        (21, "A free trial for 21 days of:", "Бесплатная пробная версия на 21 день:"),
        (22, "A free trial for 22 days of:", "Бесплатная пробная версия на 22 дня:"),
        (30, "A free trial for 30 days of:", "Бесплатная пробная версия на 30 дней:"),
    ],
)
def test_trial_length_on_the_invitation_page(
    market: Marketplace, contoso: str, days: int, english: str, russian: str
) -> None:
    market.invite(contoso)
    with market.backend.write() as session:
        session.execute(update(Invitation).values(trial_days=days))
    link = market.link()
    assert english in page(market, link, "en")
    assert russian in page(market, link, "ru")


def test_license_counts_in_the_invitation_mail(market: Marketplace, contoso: str) -> None:
    licenses = {"teams": 21, "exchange-online": 2, "sharepoint-online": 111, "onedrive": 11}
    market.invite(contoso, type="purchase", offer_id=None, licenses=licenses)
    market.invite(contoso, type="purchase", offer_id=None, licenses={"teams": 1})
    first, second = market.mails(ADMIN)
    english, russian = english_and_russian(first.body)
    for count, noun in ((21, "licenses"), (2, "licenses"), (111, "licenses"), (11, "licenses")):
        assert f": {count} {noun}\n" in english
    for count, noun in ((21, "лицензия"), (2, "лицензии"), (111, "лицензий"), (11, "лицензий")):
        assert f": {count} {noun}\n" in russian
    english, russian = english_and_russian(second.body)
    assert ": 1 license\n" in english and ": 1 лицензия\n" in russian


def test_license_counts_on_the_page_are_grouped(market: Marketplace, contoso: str) -> None:
    market.invite(contoso, type="purchase", offer_id=None, licenses={"teams": 12345})
    link = market.link()
    assert "<td>12,345</td>" in page(market, link, "en")
    assert "<td>12\N{NO-BREAK SPACE}345</td>" in page(market, link, "ru")


def test_expiry_and_trial_in_the_customer_s_language(market: Marketplace, contoso: str) -> None:
    market.invite(contoso)
    with market.backend.read() as session:
        expires = session.execute(select(Invitation.expires_at)).scalar_one()
    link = market.link()
    english, russian = text(page(market, link, "en")), text(page(market, link, "ru"))
    assert f"This invitation expires on {format_moment(expires, 'en')}." in english
    assert f"Приглашение действует до {format_moment(expires, 'ru')}." in russian
    assert "марта" in format_moment(expires.replace(month=3), "ru")  # the month in words
    [mail] = market.mails(ADMIN)
    mail_en, mail_ru = english_and_russian(mail.body)
    assert f"until {format_moment(expires, 'en')}." in mail_en
    assert f"действует до {format_moment(expires, 'ru')}." in mail_ru
    assert "a 30-day free trial of:" in mail_en
    assert "бесплатную пробную версию на 30 дней:" in mail_ru


def test_offer_titles_in_the_customer_s_language(market: Marketplace, contoso: str) -> None:
    market.invite(contoso)
    link = market.link()
    english, russian = page(market, link, "en"), page(market, link, "ru")
    assert OFFER_EN in english and OFFER_RU not in english
    assert OFFER_RU in russian and OFFER_EN not in russian
    [mail] = market.mails(ADMIN)
    mail_en, mail_ru = english_and_russian(mail.body)
    assert f"Offer: {OFFER_EN}" in mail_en
    assert f"Предложение: {OFFER_RU}" in mail_ru


def test_a_closed_invitation_gives_the_date_in_words(market: Marketplace, contoso: str) -> None:
    market.invite(contoso)
    link = market.link()
    market.decide(link, "decline")
    with market.backend.read() as session:
        decided = session.execute(select(Invitation.decided_at)).scalar_one()
    assert decided is not None
    assert f"It was declined on {format_day(decided, 'en')}." in page(market, link, "en")
    assert f"Оно отклонено {format_day(decided, 'ru')}." in page(market, link, "ru")


def test_sign_in_minutes_agree_with_their_noun(market: Marketplace) -> None:
    market.add_tenant()
    for language, expected in (
        ("en", "It works once, for 30 minutes."),
        ("ru", "Она срабатывает один раз и действует 30 минут."),
    ):
        client = market.app.test_client()
        form = client.get(f"/signin?lang={language}").get_data(as_text=True)
        sent = client.post("/signin", data={"csrf_token": csrf_token(form), "email": ADMIN})
        assert expected in html.unescape(sent.get_data(as_text=True))
    mail = market.mails(ADMIN)[-1]
    mail_en, mail_ru = english_and_russian(mail.body)
    assert "Each link works once, for 30 minutes." in mail_en
    assert "Каждая ссылка срабатывает один раз и действует 30 минут." in mail_ru


def test_the_customer_page_in_russian(market: Marketplace, contoso: str) -> None:
    market.invite(contoso, delegated_admin=True)
    market.decide(market.link(), authorize_delegated_admin="y", make_partner_of_record="y")
    client = market.sign_in()
    account = html.unescape(client.get("/account/?lang=ru").get_data(as_text=True))
    assert "Партнёр с делегированным администрированием:" in account
    assert "\N{NARROW NO-BREAK SPACE}г., " in account  # "с 12 марта 2026 г., 14:05 UTC"
    assert 'href="/ru/partners/contoso-cloud/"' in account  # partner links stay in Russian


@pytest.mark.parametrize(
    ("language", "required", "address"),
    [
        ("ru", "Обязательное поле.", "Неверный адрес электронной почты."),
        ("en", "This field is required.", "Invalid email address."),
    ],
)
def test_the_form_library_s_own_messages_in_the_request_s_language(
    market: Marketplace, language: str, required: str, address: str
) -> None:
    """WTForms' messages (its validators' defaults) come from its catalog, read once per
    language for the whole process (`consent_app.i18n.form_translations`): each request still
    gets its own language's."""
    from werkzeug.datastructures import MultiDict

    from consent_app.forms import SignInForm

    for _ in range(2):  # the second time from the cache
        with market.app.test_request_context("/signin", headers={"Accept-Language": language}):
            empty = SignInForm(formdata=MultiDict({"email": ""}), meta={"csrf": False})
            assert not empty.validate()
            assert empty.email.errors == [required]
            wrong = SignInForm(
                formdata=MultiDict({"email": "not-an-address"}), meta={"csrf": False}
            )
            assert not wrong.validate()
            assert wrong.email.errors == [address]


def test_a_form_outside_a_request_has_the_library_s_own_words(market: Marketplace) -> None:
    """A form built with no request (a script, a shell) gets WTForms' English messages, as a
    plain Flask-WTF form would, rather than fail looking for the request's language."""
    from werkzeug.datastructures import MultiDict

    from consent_app.forms import SignInForm

    with market.app.app_context():
        form = SignInForm(formdata=MultiDict({"email": ""}), meta={"csrf": False})
        assert not form.validate()
        assert form.email.errors == ["This field is required."]
