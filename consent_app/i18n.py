"""The customer pages in English and Russian: language choice and the pages' words.

The language comes from `?lang=` (remembered in a cookie), else the cookie, else the browser's
Accept-Language. Like the site's own words (`sitegen.i18n`), every language must have
every string; a test renders each page in each language.
"""

from __future__ import annotations

from typing import Final

from flask import Flask, Response, g, request

from marketplace.catalog import SITE_LANGUAGES

COOKIE = "mp_lang"
LANGUAGE_LABELS = {"en": "English", "ru": "Русский"}

_EN: Final[dict[str, str]] = {
    "site_name": "Partner Marketplace",
    "nav_label": "Customer pages",
    "nav_account": "Your partners",
    "support_footer": "Need help? The provider's support is always open to you directly:",
    # the invitation page
    "heading_trial": "{partner} invites {company} to a free trial",
    "heading_purchase": "{partner} sends {company} a purchase offer",
    "who_asks": "Who is asking",
    "partner_programs": "Partner programs",
    "what_offered": "What is offered",
    "trial_of": "A free trial for {days} days of:",
    "purchase_of": "A purchase offer of:",
    "service": "Service",
    "licenses": "Licenses",
    "for_tenant": "For {company} ({domain}).",
    "expires": "This invitation expires on",
    "new_customer_note": "{domain} is not a customer yet. Accepting creates it, with you "
    "({email}) as its administrator.",
    "your_partners_now": "Your partners today",
    "da_partner": "Delegated admin partner",
    "por_partner": "Partner of record",
    "nobody": "None",
    "da_title": "Delegated administration",
    "da_asks": "{partner} also asks to administer your tenant. This is a separate choice: you "
    "can accept the invitation without it. Delegated administration gives the partner full "
    "administrative access to all of your services and subscriptions. The partner could:",
    "da_means_users": "create, change and delete users and groups, and reset passwords;",
    "da_means_data": "read and move mailboxes, sites and files (for example, during a migration);",
    "da_means_settings": "change any setting of any of your services and subscriptions;",
    "da_means_support": "open service requests with the provider's support on your behalf.",
    "da_limits": "You can revoke it at any time from your customer page, and your own "
    "administrators keep full access. You have at most one delegated admin partner at a time.",
    "da_already": "{partner} already administers your tenant; ticking the box keeps it so.",
    "da_checkbox": "Authorize {partner} to administer my tenant (delegated administration)",
    "da_replace_warning": "{current} administers your tenant now. Authorizing {partner} ends "
    "{current}'s administrative access.",
    "da_replace_checkbox": "Yes, replace {current} with {partner} as my delegated admin partner",
    "por_title": "Partner of record",
    "por_means": "Your partner of record is the partner credited for advising you on your "
    "purchase. It gives the partner no access to your tenant, and it is always optional.",
    "por_replace_note": "Your partner of record today is {current}; ticking the box replaces it.",
    "por_checkbox": "Make {partner} my partner of record",
    "decide_note": "Nothing changes until you press a button. Declining changes nothing at all.",
    "accept_trial": "Accept the trial",
    "accept_offer": "Accept the offer",
    "decline": "Decline",
    # after deciding
    "heading_accepted": "You accepted the invitation from {partner}",
    "heading_declined": "You declined the invitation from {partner}",
    "da_granted_to": "Granted: {partner} now administers your tenant.",
    "da_replaced": "{current}'s administrative access has ended.",
    "da_not_granted": "Not granted: {partner} was not given administrative access.",
    "da_not_requested": "Not requested.",
    "por_now": "{partner} is now your partner of record.",
    "por_unchanged": "Unchanged.",
    "decided_mail_note": "Your administrators and the partner get a confirmation by e-mail. "
    "Your customer page shows your partners, the full history and a receipt of each decision.",
    "manage_partners": "Go to your customer page",
    # links that no longer work
    "closed_unknown_title": "This link does not work",
    "closed_unknown_text": "We do not know this link. Check that you opened the whole link from "
    "the e-mail; if it still fails, ask the partner to send a new invitation.",
    "closed_accepted_title": "This invitation was accepted already",
    "closed_accepted_text": "It was accepted on {date}. Nothing more is needed; your customer "
    "page shows what was decided.",
    "closed_declined_title": "This invitation was declined",
    "closed_declined_text": "It was declined on {date}. If that was a mistake, ask the partner "
    "to send a new invitation.",
    "closed_canceled_title": "The partner withdrew this invitation",
    "closed_canceled_text": "The partner canceled it on {date}; nothing was changed.",
    "closed_expired_title": "This invitation has expired",
    "closed_expired_text": "It expired on {date} without a decision, and nothing was changed. "
    "Ask the partner for a new one if you still want it.",
    "tenant_taken_title": "This invitation can no longer be accepted",
    "tenant_taken_text": "The tenant it was for was created after the invitation was sent, "
    "and you are not one of its administrators. Ask the partner to send a new invitation; it "
    "will go to the tenant's administrators.",
    "not_available_title": "Not available for your tenant",
    "not_available_text": "Partner features (invitations, offers, delegated administration and "
    "partner of record) are not available to tenants in the sovereign cloud operated by "
    "21Vianet. Nothing was changed.",
    # sign-in
    "signin_title": "Sign in to your customer page",
    "signin_intro": "Enter the address of one of your tenant's verified administrators. We "
    "e-mail a one-time sign-in link to it.",
    "signin_email": "Administrator e-mail address",
    "signin_send": "Send me a sign-in link",
    "signin_sent_title": "Check your mail",
    "signin_sent_text": "If {email} is a verified administrator address, a sign-in link is on "
    "its way. It works once, for {minutes} minutes.",
    "signin_confirm": "Sign in to the customer page of {tenant} ({domain}) as {email}.",
    "signin_continue": "Sign in",
    "signin_invalid_title": "This sign-in link does not work",
    "signin_invalid_text": "It was used already, has expired, or is not a link we sent. Ask for "
    "a new one.",
    "signin_again": "Ask for a new sign-in link",
    "signed_out": "You are signed out.",
    # the customer page
    "sign_out": "Sign out",
    "signed_in_as": "Signed in as {email}.",
    "sovereign_account": "Your tenant is in the sovereign cloud operated by 21Vianet, where "
    "partner features are not available.",
    "da_current": "Your delegated admin partner:",
    "since": "since",
    "da_current_means": "This partner has full administrative access to all of your services. "
    "Revoking ends its access at once; your own administrators keep theirs.",
    "da_revoke": "Revoke delegated administration from {partner}",
    "da_none": "No partner administers your tenant.",
    "por_current": "Your partner of record:",
    "por_none": "You have not named a partner of record.",
    "por_choose": "Partner of record (partners whose invitation or offer you accepted)",
    "por_save": "Save partner of record",
    "por_clear": "Clear partner of record",
    "por_no_choices": "Once you accept a partner's invitation or offer, you can name it here.",
    "support_title": "Contact the provider's support directly",
    "support_text": "Whether or not a partner administers your tenant, any of your "
    "administrators can open a request with the provider's support directly, at any time:",
    "history_title": "Consent history",
    "history_empty": "Nothing has happened yet.",
    "when": "When",
    "what": "What",
    "who": "Who",
    "receipt": "Receipt",
    "flash_da_revoked": "{partner} no longer administers your tenant.",
    "flash_por_set": "{partner} is now your partner of record.",
    "flash_por_cleared": "You have no partner of record now.",
    # errors
    "csrf_title": "Please try again",
    "csrf_text": "This form expired or did not come from this site, so nothing was changed. "
    "Go back, reload the page and submit it again.",
    "too_many_title": "Too many requests",
    "too_many_text": "You (or someone sharing your network) tried this too often. Nothing was "
    "changed. Wait a minute, then try again.",
    "not_found_title": "Page not found",
    "not_found_text": "There is no page at this address.",
    "error_title": "Something went wrong on our side",
    "error_text": "Nothing was changed. Please try again in a moment.",
    "refused.replacement_needs_confirmation": "Another partner administers your tenant. To "
    "authorize this partner instead, tick the box that confirms the replacement.",
    "refused.delegated_admin_changed": "Your delegated admin partner changed since you opened "
    "this page. Review the page again, then decide.",
    "refused.delegated_admin_not_requested": "This invitation does not ask for delegated "
    "administration, so it cannot be granted.",
    "refused.cloud_not_supported": "Partner features are not available to tenants in the "
    "sovereign cloud operated by 21Vianet. Nothing was changed.",
    "refused.tenant_exists": "This tenant was created after the invitation was sent. Ask the "
    "partner to send a new invitation; it will go to the tenant's administrators.",
    "refused.conflict": "Something changed at the same moment. Nothing was applied: review the "
    "page again, then decide.",
    "refused.unchanged": "That is your partner of record already.",
    "refused.validation_error": "Choose one of the partners in the list.",
    "refused.not_found": "That partner does not hold this role any more.",
    "refused.invalid_state": "This invitation can no longer be decided.",
    "refused.partner_not_listed": "This partner is no longer listed in the Marketplace, so its "
    "invitation can no longer be accepted. You can decline it.",
    "refused.offer_withdrawn": "The partner has changed its listing since it sent this "
    "invitation, and what it offered is no longer available, so it can no longer be accepted. "
    "You can decline it.",
    "refused.customer_is_partner": "This invitation was sent to an address in the partner's own "
    "domain, so it can no longer be accepted. You can decline it.",
    "refused.not_eligible_for_delegated_admin": "Delegated administration can no longer be "
    "granted to this partner. You can accept without it, or decline.",
    "da_unavailable": "{partner} asked for delegated administration, but it can no longer be "
    "granted: the partner's listing no longer allows it. You can accept the rest without it.",
    # history
    "event.tenant.created": "Customer account created",
    "event.tenant.admin_added": "Administrator added",
    "event.invitation.created": "{partner} sent an invitation",
    "event.invitation.accepted": "Invitation from {partner} accepted",
    "event.invitation.declined": "Invitation from {partner} declined",
    "event.invitation.canceled": "{partner} withdrew an invitation",
    "event.invitation.expired": "Invitation from {partner} expired",
    "event.delegated_admin.granted": "Delegated administration granted to {partner}",
    "event.delegated_admin.ended": "Delegated administration by {partner} ended",
    "event.partner_of_record.set": "{partner} named partner of record",
    "event.partner_of_record.ended": "{partner} no longer partner of record",
    "event.partner_of_record.cleared": "Partner of record cleared",
    "event.customer.signed_in": "Signed in to the customer page",
}

_RU: Final[dict[str, str]] = {
    "site_name": "Маркетплейс партнёров",
    "nav_label": "Страницы клиента",
    "nav_account": "Ваши партнёры",
    "support_footer": "Нужна помощь? Служба поддержки провайдера всегда доступна вам напрямую:",
    "heading_trial": "{partner} приглашает {company} попробовать сервисы бесплатно",
    "heading_purchase": "{partner} отправляет {company} предложение о покупке",
    "who_asks": "Кто приглашает",
    "partner_programs": "Партнёрские программы",
    "what_offered": "Что предлагается",
    "trial_of": "Бесплатная пробная версия на {days} дн.:",
    "purchase_of": "Предложение о покупке:",
    "service": "Сервис",
    "licenses": "Лицензии",
    "for_tenant": "Для {company} ({domain}).",
    "expires": "Приглашение действует до",
    "new_customer_note": "{domain} ещё не клиент. Приняв приглашение, вы создадите клиента, "
    "а вы ({email}) станете его администратором.",
    "your_partners_now": "Ваши партнёры сейчас",
    "da_partner": "Партнёр с делегированным администрированием",
    "por_partner": "Партнёр по записи",
    "nobody": "Нет",
    "da_title": "Делегированное администрирование",
    "da_asks": "{partner} также просит права администратора вашего клиента. Это отдельный "
    "выбор: принять приглашение можно и без него. Делегированное администрирование даёт "
    "партнёру полный административный доступ ко всем вашим сервисам и подпискам. Партнёр сможет:",
    "da_means_users": "создавать, изменять и удалять пользователей и группы, сбрасывать пароли;",
    "da_means_data": "читать и переносить почтовые ящики, сайты и файлы (например, при миграции);",
    "da_means_settings": "менять любые настройки любых ваших сервисов и подписок;",
    "da_means_support": "обращаться в службу поддержки провайдера от вашего имени.",
    "da_limits": "Вы можете отозвать его в любой момент на странице клиента, а ваши "
    "администраторы сохраняют полный доступ. Такой партнёр у вас может быть только один.",
    "da_already": "{partner} уже администрирует вашего клиента; отметка сохранит это.",
    "da_checkbox": "Разрешить {partner} администрировать моего клиента "
    "(делегированное администрирование)",
    "da_replace_warning": "Сейчас вашего клиента администрирует {current}. Если разрешить это "
    "{partner}, административный доступ {current} прекратится.",
    "da_replace_checkbox": "Да, заменить {current} на {partner} в роли партнёра "
    "с делегированным администрированием",
    "por_title": "Партнёр по записи",
    "por_means": "Партнёр по записи — это партнёр, который консультировал вас при покупке. "
    "Он не получает доступа к вашему клиенту, а выбирать его необязательно.",
    "por_replace_note": "Сейчас ваш партнёр по записи — {current}; отметка заменит его.",
    "por_checkbox": "Сделать {partner} моим партнёром по записи",
    "decide_note": "Пока вы не нажмёте кнопку, ничего не меняется. Отказ ничего не меняет.",
    "accept_trial": "Принять пробную версию",
    "accept_offer": "Принять предложение",
    "decline": "Отказаться",
    "heading_accepted": "Вы приняли приглашение {partner}",
    "heading_declined": "Вы отклонили приглашение {partner}",
    "da_granted_to": "Предоставлено: {partner} теперь администрирует вашего клиента.",
    "da_replaced": "Административный доступ {current} прекращён.",
    "da_not_granted": "Не предоставлено: {partner} не получил административного доступа.",
    "da_not_requested": "Не запрашивалось.",
    "por_now": "{partner} теперь ваш партнёр по записи.",
    "por_unchanged": "Без изменений.",
    "decided_mail_note": "Ваши администраторы и партнёр получат подтверждение по почте. На "
    "странице клиента — ваши партнёры, вся история и квитанция о каждом решении.",
    "manage_partners": "Перейти на страницу клиента",
    "closed_unknown_title": "Ссылка не работает",
    "closed_unknown_text": "Мы не знаем такой ссылки. Проверьте, что открыли ссылку из письма "
    "целиком; если не помогает, попросите партнёра отправить новое приглашение.",
    "closed_accepted_title": "Приглашение уже принято",
    "closed_accepted_text": "Оно принято {date}. Больше ничего делать не нужно; решение видно "
    "на странице клиента.",
    "closed_declined_title": "Приглашение отклонено",
    "closed_declined_text": "Оно отклонено {date}. Если это ошибка, попросите партнёра "
    "отправить новое приглашение.",
    "closed_canceled_title": "Партнёр отозвал приглашение",
    "closed_canceled_text": "Партнёр отменил его {date}; ничего не изменилось.",
    "closed_expired_title": "Срок приглашения истёк",
    "closed_expired_text": "Срок истёк {date}, решение не принято, ничего не изменилось. "
    "Попросите партнёра прислать новое приглашение, если оно вам нужно.",
    "tenant_taken_title": "Это приглашение больше нельзя принять",
    "tenant_taken_text": "Клиент, для которого оно было, создан уже после отправки "
    "приглашения, и вы не его администратор. Попросите партнёра отправить новое приглашение: "
    "оно придёт администраторам клиента.",
    "not_available_title": "Недоступно для вашего клиента",
    "not_available_text": "Партнёрские функции (приглашения, предложения, делегированное "
    "администрирование и партнёр по записи) недоступны клиентам в суверенном облаке, "
    "которым управляет 21Vianet. Ничего не изменилось.",
    "signin_title": "Вход на страницу клиента",
    "signin_intro": "Укажите адрес одного из подтверждённых администраторов вашего клиента. "
    "Мы отправим на него одноразовую ссылку для входа.",
    "signin_email": "Адрес администратора",
    "signin_send": "Отправить ссылку для входа",
    "signin_sent_title": "Проверьте почту",
    "signin_sent_text": "Если {email} — подтверждённый адрес администратора, ссылка для входа "
    "уже отправлена. Она срабатывает один раз и действует {minutes} мин.",
    "signin_confirm": "Войти на страницу клиента {tenant} ({domain}) как {email}.",
    "signin_continue": "Войти",
    "signin_invalid_title": "Ссылка для входа не работает",
    "signin_invalid_text": "Она уже использована, устарела или не от нас. Запросите новую.",
    "signin_again": "Запросить новую ссылку",
    "signed_out": "Вы вышли.",
    "sign_out": "Выйти",
    "signed_in_as": "Вы вошли как {email}.",
    "sovereign_account": "Ваш клиент находится в суверенном облаке, которым управляет "
    "21Vianet: партнёрские функции там недоступны.",
    "da_current": "Партнёр с делегированным администрированием:",
    "since": "с",
    "da_current_means": "У этого партнёра полный административный доступ ко всем вашим "
    "сервисам. Отзыв сразу прекращает его доступ; ваши администраторы сохраняют свой.",
    "da_revoke": "Отозвать делегированное администрирование у {partner}",
    "da_none": "Ни один партнёр не администрирует вашего клиента.",
    "por_current": "Ваш партнёр по записи:",
    "por_none": "Партнёр по записи не выбран.",
    "por_choose": "Партнёр по записи (партнёры, чьи приглашения или предложения вы приняли)",
    "por_save": "Сохранить партнёра по записи",
    "por_clear": "Убрать партнёра по записи",
    "por_no_choices": "Когда вы примете приглашение или предложение партнёра, его можно "
    "будет выбрать здесь.",
    "support_title": "Обратиться в службу поддержки провайдера напрямую",
    "support_text": "Независимо от того, администрирует ли вашего клиента партнёр, любой ваш "
    "администратор может в любой момент обратиться в службу поддержки провайдера напрямую:",
    "history_title": "История согласий",
    "history_empty": "Пока ничего не происходило.",
    "when": "Когда",
    "what": "Что",
    "who": "Кто",
    "receipt": "Квитанция",
    "flash_da_revoked": "{partner} больше не администрирует вашего клиента.",
    "flash_por_set": "{partner} теперь ваш партнёр по записи.",
    "flash_por_cleared": "Теперь у вас нет партнёра по записи.",
    "csrf_title": "Попробуйте ещё раз",
    "csrf_text": "Форма устарела или отправлена не с этого сайта, поэтому ничего не изменилось. "
    "Вернитесь, обновите страницу и отправьте форму снова.",
    "too_many_title": "Слишком много запросов",
    "too_many_text": "Вы (или кто-то в вашей сети) пытались слишком часто. Ничего не изменилось. "
    "Подождите минуту и попробуйте снова.",
    "not_found_title": "Страница не найдена",
    "not_found_text": "По этому адресу ничего нет.",
    "error_title": "Что-то пошло не так на нашей стороне",
    "error_text": "Ничего не изменилось. Попробуйте ещё раз чуть позже.",
    "refused.replacement_needs_confirmation": "Вашего клиента администрирует другой партнёр. "
    "Чтобы вместо него разрешить это новому партнёру, отметьте подтверждение замены.",
    "refused.delegated_admin_changed": "Партнёр с делегированным администрированием сменился, "
    "пока страница была открыта. Посмотрите страницу ещё раз и решите.",
    "refused.delegated_admin_not_requested": "Это приглашение не запрашивает делегированное "
    "администрирование, поэтому его нельзя предоставить.",
    "refused.cloud_not_supported": "Партнёрские функции недоступны клиентам в суверенном "
    "облаке, которым управляет 21Vianet. Ничего не изменилось.",
    "refused.tenant_exists": "Этот клиент был создан уже после отправки приглашения. Попросите "
    "партнёра отправить новое приглашение: оно придёт администраторам клиента.",
    "refused.conflict": "В этот же момент что-то изменилось. Ничего не применено: посмотрите "
    "страницу ещё раз и решите.",
    "refused.unchanged": "Это уже ваш партнёр по записи.",
    "refused.validation_error": "Выберите одного из партнёров в списке.",
    "refused.not_found": "У этого партнёра больше нет этой роли.",
    "refused.invalid_state": "По этому приглашению решение принять уже нельзя.",
    "refused.partner_not_listed": "Этого партнёра больше нет в каталоге, поэтому его "
    "приглашение больше нельзя принять. Вы можете его отклонить.",
    "refused.offer_withdrawn": "Партнёр изменил своё описание после отправки приглашения, и "
    "предложенного больше нет, поэтому приглашение больше нельзя принять. Вы можете его "
    "отклонить.",
    "refused.customer_is_partner": "Это приглашение отправлено на адрес в домене самого "
    "партнёра, поэтому его больше нельзя принять. Вы можете его отклонить.",
    "refused.not_eligible_for_delegated_admin": "Делегированное администрирование этому "
    "партнёру больше предоставить нельзя. Вы можете принять приглашение без него или "
    "отклонить его.",
    "da_unavailable": "{partner} запросил делегированное администрирование, но предоставить его "
    "больше нельзя: описание партнёра этого больше не допускает. Остальное вы можете принять "
    "без него.",
    "event.tenant.created": "Создана учётная запись клиента",
    "event.tenant.admin_added": "Добавлен администратор",
    "event.invitation.created": "{partner} отправил приглашение",
    "event.invitation.accepted": "Принято приглашение {partner}",
    "event.invitation.declined": "Отклонено приглашение {partner}",
    "event.invitation.canceled": "{partner} отозвал приглашение",
    "event.invitation.expired": "Истёк срок приглашения {partner}",
    "event.delegated_admin.granted": "Делегированное администрирование предоставлено {partner}",
    "event.delegated_admin.ended": "Делегированное администрирование {partner} прекращено",
    "event.partner_of_record.set": "{partner} назначен партнёром по записи",
    "event.partner_of_record.ended": "{partner} больше не партнёр по записи",
    "event.partner_of_record.cleared": "Партнёр по записи убран",
    "event.customer.signed_in": "Вход на страницу клиента",
}

WORDS: Final[dict[str, dict[str, str]]] = {"en": _EN, "ru": _RU}

if set(WORDS) != set(SITE_LANGUAGES) or any(w.keys() != _EN.keys() for w in WORDS.values()):
    raise RuntimeError("every site language needs every customer-page string")


def translate(language: str, key: str, **values: object) -> str:
    """The string `key` in `language` with `values` filled in."""
    return WORDS[language][key].format(**values)


def choose_language() -> str:
    """The language of this request: ?lang=, then the cookie, then Accept-Language."""
    asked = request.args.get("lang")
    if asked in WORDS:
        return asked
    remembered = request.cookies.get(COOKIE)
    if remembered in WORDS:
        return remembered
    return request.accept_languages.best_match(list(SITE_LANGUAGES), default="en") or "en"


def language() -> str:
    """The current request's language."""
    chosen: str = g.get("language") or choose_language()
    return chosen


def init_app(app: Flask) -> None:
    """Pick each request's language and give templates `_`, `lang` and `languages`."""

    @app.before_request
    def pick_language() -> None:
        g.language = choose_language()

    @app.after_request
    def remember_language(response: Response) -> Response:
        asked = request.args.get("lang")
        if asked in WORDS and request.cookies.get(COOKIE) != asked:
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
    def words() -> dict[str, object]:
        current = language()
        return {
            "_": lambda key, **values: translate(current, key, **values),
            "lang": current,
            "languages": [(code, LANGUAGE_LABELS[code]) for code in SITE_LANGUAGES],
        }
