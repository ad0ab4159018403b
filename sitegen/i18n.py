"""The generated pages' own words, in every site language.

Material translates its own interface (search box, dark-mode toggle) through `theme.language`;
these are the words of the pages this package writes. Catalog, country and language names come
from the catalog module; partner text from the listing's translations.
"""

from __future__ import annotations

from typing import Final

from marketplace.catalog import SITE_LANGUAGES

_WORDS: Final[dict[str, dict[str, str]]] = {
    "en": {
        "facet.service": "Services",
        "facet.capability": "Capabilities",
        "facet.industry": "Industries",
        "facet.region": "Regions",
        "facet.language": "Languages",
        "facet.program": "Programs",
        "partners_for": "Partners for {value}",
        "partners_in_program": "Partners in {value}",
        "partners_count": "{count} partners",
        "partner_count_one": "1 partner",
        "browse_by": "Browse partners by {facet}",
        "page_n_of": "Page {page} of {pages}",
        "previous": "Previous page",
        "next": "Next page",
        "da_badge": "Delegated administration",
        "da_badge_title": "This partner can ask to administer your tenant; you decide.",
        "headquarters": "Headquarters",
        "website": "Website",
        "contact": "Contact",
        "details": "Details",
        "email": "E-mail",
        "phone": "Phone",
        "offers": "Offers",
        "no_offers": "This partner publishes no standard offers; contact them for a proposal.",
        "trial": "Trial",
        "purchase": "Purchase offer",
        "trial_days": "{days}-day free trial",
        "includes": "Includes",
        "offer_da_optional": "May ask you for delegated administration (you choose).",
        "offer_da_none": "Does not ask for delegated administration.",
        "logo_alt": "{name} logo",
        "about": "About {name}",
        "working_title": "Working with this partner",
        "working_trials": "A trial invitation or purchase offer arrives by e-mail to your"
        " tenant's administrators. Nothing changes until you accept it.",
        "working_da": "Delegated administration gives a partner full administrative access to"
        " all your services. It is always a separate choice on the invitation; you can revoke"
        " it at any time, and you can always contact support directly.",
        "working_no_da": "This partner does not offer delegated administration: they work"
        " with you, but never administer your tenant.",
        "working_por": "Partner of record is separate and optional: it only credits the partner"
        " that advised you on a purchase.",
        "working_more": "Delegated administration and partner of record, explained",
        "updated": "Listing updated {date}",
        "newest_title": "Newest partners",
        "directory": "Partner directory",
        "all_values": "All {facet}",
        "worldwide_note": "Serves customers worldwide",
    },
    "ru": {
        "facet.service": "Сервисы",
        "facet.capability": "Услуги",
        "facet.industry": "Отрасли",
        "facet.region": "Регионы",
        "facet.language": "Языки",
        "facet.program": "Программы",
        "partners_for": "Партнёры: {value}",
        "partners_in_program": "Партнёры программы {value}",
        "partners_count": "Партнёров: {count}",
        "partner_count_one": "Партнёров: 1",
        "browse_by": "Партнёры по разделу «{facet}»",
        "page_n_of": "Страница {page} из {pages}",
        "previous": "Предыдущая страница",
        "next": "Следующая страница",
        "da_badge": "Делегированное администрирование",
        "da_badge_title": "Партнёр может попросить права администратора вашего клиента;"
        " решаете вы.",
        "headquarters": "Головной офис",
        "website": "Сайт",
        "contact": "Контакты",
        "details": "Подробности",
        "email": "Эл. почта",
        "phone": "Телефон",
        "offers": "Предложения",
        "no_offers": "Партнёр не публикует типовых предложений; свяжитесь с ним напрямую.",
        "trial": "Пробная версия",
        "purchase": "Предложение о покупке",
        "trial_days": "Бесплатно {days} дн.",
        "includes": "Включает",
        "offer_da_optional": "Может запросить делегированное администрирование (решаете вы).",
        "offer_da_none": "Не запрашивает делегированное администрирование.",
        "logo_alt": "Логотип {name}",
        "about": "О компании {name}",
        "working_title": "Как работать с этим партнёром",
        "working_trials": "Приглашение на пробную версию или предложение о покупке приходит"
        " по почте администраторам вашего клиента. Ничего не меняется, пока вы его не примете.",
        "working_da": "Делегированное администрирование даёт партнёру полный административный"
        " доступ ко всем вашим сервисам. Это всегда отдельное решение в приглашении; его можно"
        " отозвать в любой момент, а в службу поддержки всегда можно обратиться напрямую.",
        "working_no_da": "Этот партнёр не предлагает делегированное администрирование: он"
        " работает с вами, но не управляет вашим клиентом.",
        "working_por": "Партнёр по записи — отдельный и необязательный выбор: он лишь отмечает"
        " партнёра, который консультировал вас при покупке.",
        "working_more": "Делегированное администрирование и партнёр по записи: объяснение",
        "updated": "Обновлено {date}",
        "newest_title": "Новые партнёры",
        "directory": "Каталог партнёров",
        "all_values": "Все: {facet}",
        "worldwide_note": "Работает с клиентами по всему миру",
    },
}

if {*_WORDS} != {*SITE_LANGUAGES} or any(
    _WORDS[lang].keys() != _WORDS["en"].keys() for lang in _WORDS
):
    raise RuntimeError("every site language needs every UI string")


def words(language: str) -> dict[str, str]:
    """The UI strings for a site language."""
    return _WORDS[language]
