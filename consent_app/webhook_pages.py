"""The partner's webhook pages (README: Webhooks), under /partner/webhooks/: the endpoints,
registering one (its signing secret shown once), deleting one (after a confirmation), an
endpoint's delivery log, and "send a test event".

The pages go through the same functions as `POST/GET/DELETE /api/v1/webhooks`
(`consent_app.webhooks`): the same checks, refusals and audit events. A refusal is shown
beside the field it names: the rule's own words on the English page, the catalog's on others.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from consent_app import webhooks
from consent_app.backend import backend
from consent_app.forms import ConfirmForm, DeleteWebhookForm, WebhookForm
from consent_app.http_errors import status_for
from consent_app.i18n import N_, language
from consent_app.models import WebhookEndpoint
from consent_app.pages import words_page
from consent_app.partner_pages import PartnerUser, partner_page, partner_required
from consent_app.refusals import NotFound, Refused
from consent_app.security import test_event_limit
from marketplace.i18n import SOURCE_LANGUAGE

bp = Blueprint("webhooks", __name__, url_prefix="/partner/webhooks")

NAV = "webhooks"

EVENT_WORDS = {
    "invitation.accepted": N_("A customer accepted one of your invitations or offers"),
    "invitation.declined": N_("A customer declined one of your invitations or offers"),
    "invitation.expired": N_("One of your invitations expired unanswered"),
    "invitation.canceled": N_("One of your invitations was canceled"),
    "delegated_admin.granted": N_("A customer granted you delegated administration"),
    "delegated_admin.ended": N_("Your delegated administration of a customer ended"),
    "partner_of_record.changed": N_("You became, or stopped being, a customer's partner of record"),
    "lead.created": N_("A visitor confirmed a request to contact you (a new lead)"),
    webhooks.TEST_EVENT: N_("Test event"),
}
"""What each event means, for people (the pages show its name for programs beside it)."""

STATE_WORDS = {
    "pending": N_("waiting to be sent again"),
    "delivered": N_("delivered"),
    "failed": N_("given up"),
}

_REFUSAL_WORDS = {
    ("url", "validation_error"): N_(
        "Enter an address such as https://example.com/webhooks: at most 2,000 characters, "
        "without spaces, a user name, a password or a #fragment, with a host name that exists."
    ),
    ("url", "webhook_target_not_allowed"): N_(
        "This address leads to a private, loopback or link-local network: webhooks are sent "
        "to public addresses over https:// only."
    ),
    ("events", "validation_error"): N_("Choose at least one event."),
    ("", "too_many_webhooks"): N_(
        "You have %(max)s webhook endpoints already: delete one before adding another."
    ),
}


def _refusal_words(refused: Refused) -> str:
    """A refusal in the page's language: the rule's own words on the English page (which
    name the value at fault), the catalog's words for its field and code on others."""
    if language() == SOURCE_LANGUAGE:
        field = refused.field
        return refused.message.removeprefix(f"{field}: ") if field else refused.message
    words = _REFUSAL_WORDS.get((refused.field or "", refused.code))
    if words is None:
        return str(gettext("This cannot be done as it is: %(reason)s", reason=refused.message))
    return str(gettext(words, max=webhooks.MAX_ENDPOINTS))


def _event_choices() -> list[tuple[str, str]]:
    return [(name, gettext(EVENT_WORDS[name])) for name in webhooks.EVENT_TYPES]


def _list_page(
    user: PartnerUser,
    form: WebhookForm | None = None,
    created: dict[str, str] | None = None,
    refusal: str | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    if form is None:
        form = WebhookForm(formdata=None)
    form.events.choices = _event_choices()
    with backend().read() as session:
        endpoints = webhooks.partner_endpoints(session, user.slug)
    page = partner_page(
        "partner/webhooks.html",
        user,
        NAV,
        endpoints=endpoints,
        form=form,
        created=created,
        refusal=refusal,
        event_words=EVENT_WORDS,
        max_endpoints=webhooks.MAX_ENDPOINTS,
    )
    return page, status


@bp.get("/")
@partner_required
def index(user: PartnerUser) -> ResponseReturnValue:
    """The partner's endpoints and the form to register one."""
    return _list_page(user)


@bp.post("/")
@partner_required
def register(user: PartnerUser) -> ResponseReturnValue:
    """Register an endpoint; its secret is on this answer only (201), never shown again."""
    form = WebhookForm()
    if not form.validate():
        return words_page("csrf", 400)
    found = backend()
    url = (form.url.data or "").strip()
    try:
        new = webhooks.checked_endpoint(url, list(form.events.data or []), found.settings)
        endpoint, secret = found.run(
            lambda uow: webhooks.register_endpoint(uow, user.slug, new, user.actor)
        )
    except Refused as refused:
        words = _refusal_words(refused)
        if refused.field in ("url", "events"):
            getattr(form, refused.field).errors = [words]
            words = ""
        return _list_page(user, form, refusal=words or None, status=status_for(refused))
    created = {"id": endpoint.public_id, "url": endpoint.url, "secret": secret}
    return _list_page(user, created=created, status=201)


def _endpoint_or_none(user: PartnerUser, webhook_id: str) -> WebhookEndpoint | None:
    with backend().read() as session:
        try:
            return webhooks.partner_endpoint(session, user.slug, webhook_id)
        except NotFound:
            return None


@bp.get("/<public_id:webhook_id>/")
@partner_required
def deliveries(user: PartnerUser, webhook_id: str) -> ResponseReturnValue:
    """One endpoint: what it receives, its delivery log, "send a test event"."""
    with backend().read() as session:
        try:
            endpoint = webhooks.partner_endpoint(session, user.slug, webhook_id)
        except NotFound:
            return words_page("not_found", 404)
        log = webhooks.delivery_log(session, user.slug, webhook_id)
    return partner_page(
        "partner/webhooks_log.html",
        user,
        NAV,
        endpoint=endpoint,
        log=log,
        event_words=EVENT_WORDS,
        state_words=STATE_WORDS,
        test_form=ConfirmForm(formdata=None),
    )


@bp.post("/<public_id:webhook_id>/test")
@partner_required
@test_event_limit
def send_test(user: PartnerUser, webhook_id: str) -> ResponseReturnValue:
    """Send a `test` event to the endpoint; the log shows how it went."""
    if not ConfirmForm().validate():
        return words_page("csrf", 400)
    try:
        event_id = backend().run(lambda uow: webhooks.send_test_event(uow, user.slug, webhook_id))
    except NotFound:
        return words_page("not_found", 404)
    flash(
        gettext(
            "A test event (%(event)s) was sent; its delivery is in the log below.", event=event_id
        )
    )
    return redirect(url_for("webhooks.deliveries", webhook_id=webhook_id))


@bp.route("/<public_id:webhook_id>/delete", methods=["GET", "POST"])
@partner_required
def delete(user: PartnerUser, webhook_id: str) -> ResponseReturnValue:
    """The confirmation step (GET), then deleting the endpoint (POST, the box ticked)."""
    endpoint = _endpoint_or_none(user, webhook_id)
    if endpoint is None:
        return words_page("not_found", 404)
    form = DeleteWebhookForm()
    refusal = None
    if request.method == "POST":
        if not form.validate():
            return words_page("csrf", 400)
        if form.confirm.data:
            try:
                backend().run(
                    lambda uow: webhooks.delete_endpoint(uow, user.slug, webhook_id, user.actor)
                )
            except NotFound:
                return words_page("not_found", 404)
            flash(
                gettext(
                    "The webhook endpoint %(url)s was deleted: nothing more is sent to it.",
                    url=endpoint.url,
                )
            )
            return redirect(url_for("webhooks.index"))
        refusal = gettext("Nothing was changed: tick the box that confirms it first.")
    page = partner_page(
        "partner/webhooks_delete.html", user, NAV, endpoint=endpoint, form=form, refusal=refusal
    )
    return page, 400 if refusal else 200
