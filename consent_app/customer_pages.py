"""Customer sign-in by e-mailed link and the customer page (README: Consent backend).

The session cookie holds only the id of a session kept on the server (`customer_sessions`);
every request checks that the session has not ended and that its address is still one of the
tenant's verified admins. Signing out ends the session on the server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from consent_app.addresses import normalized_email
from consent_app.audit import Actor, receipt, tenant_chain
from consent_app.backend import backend
from consent_app.consent import (
    active_delegated_admin,
    active_partner_of_record,
    eligible_partners_of_record,
    end_delegated_admin,
    set_partner_of_record,
)
from consent_app.customer_sessions import end_session, session_customer, start_session
from consent_app.customers import (
    claim_sign_in,
    history,
    pending_for,
    request_sign_in,
    sign_in_link,
)
from consent_app.forms import (
    ConfirmForm,
    PartnerOfRecordForm,
    RevokeDelegatedAdminForm,
    SignInForm,
)
from consent_app.http_errors import status_for
from consent_app.i18n import WORDS, language, translate
from consent_app.models import AuditEvent, Tenant
from consent_app.pages import message_page, refusal_text, words_page
from consent_app.personal import references, resolve, shown
from consent_app.refusals import InvalidInput, NotConfirmed, NotFound, Refused
from consent_app.rules import partner_features
from consent_app.security import LINK_LIMITS, SIGN_IN_LIMITS, SIGN_IN_PER_ADDRESS, limiter
from marketplace.catalog import FULL_ACCESS_ROLE

bp = Blueprint("account", __name__)

SESSION_KEY = "customer"


def _signed_in() -> tuple[Tenant, str] | None:
    """The signed-in customer's tenant and address, if the sign-in is still good."""
    session_id = session.get(SESSION_KEY)
    if not isinstance(session_id, str):
        return None
    with backend().read() as db:
        return session_customer(db, session_id)


def _to_sign_in() -> ResponseReturnValue:
    return redirect(url_for("account.sign_in"))


@dataclass(frozen=True)
class Customer:
    """The signed-in administrator and their tenant."""

    tenant: Tenant
    email: str

    @property
    def actor(self) -> Actor:
        """The audit log's record of who acted."""
        return Actor("customer", self.email, request.remote_addr)


def customer_required(
    view: Callable[..., ResponseReturnValue],
) -> Callable[..., ResponseReturnValue]:
    """A page for signed-in customers only: anyone else is sent to sign in. The view gets the
    `Customer`."""

    @wraps(view)
    def wrapped(**values: Any) -> ResponseReturnValue:
        found = _signed_in()
        if found is None:
            return _to_sign_in()
        return view(Customer(*found), **values)

    return wrapped


def _address_asked() -> str:
    raw = (request.form.get("email") or "")[:254]
    try:
        return normalized_email(raw, smtputf8=True)  # one bucket for every spelling
    except InvalidInput:
        return raw.strip().lower() or "none"


@bp.route("/signin", methods=["GET", "POST"])
@limiter.limit(SIGN_IN_LIMITS, methods=["POST"])
@limiter.limit(SIGN_IN_PER_ADDRESS, methods=["POST"], key_func=_address_asked)
def sign_in() -> ResponseReturnValue:
    """Ask for a one-time sign-in link; the answer is the same for known and unknown addresses."""
    form = SignInForm()
    if form.validate_on_submit():
        email = form.email.data.strip()  # request_sign_in normalises it
        found = backend()
        found.run(lambda uow: request_sign_in(uow, email))
        minutes = int(found.settings.sign_in_lifetime.total_seconds() // 60)
        return words_page("signin_sent", 200, email=email, minutes=minutes)
    status = 400 if request.method == "POST" else 200
    return render_template("signin.html", form=form), status


def _invalid_link() -> ResponseReturnValue:
    current = language()
    return message_page(
        translate(current, "signin_invalid_title"),
        [translate(current, "signin_invalid_text")],
        410,
        url_for("account.sign_in"),
        translate(current, "signin_again"),
    )


@bp.get("/signin/<token>")
@limiter.limit(LINK_LIMITS)
def confirm_sign_in(token: str) -> ResponseReturnValue:
    """Show which tenant the link signs in to; signing in needs the button (POST)."""
    with backend().read() as db:
        link = sign_in_link(db, token)
    if link is None or not link.usable:
        return _invalid_link()
    return render_template("signin_confirm.html", link=link, form=ConfirmForm())


@bp.post("/signin/<token>")
@limiter.limit(LINK_LIMITS)
def use_sign_in(token: str) -> ResponseReturnValue:
    """Use the link once and start the customer's session."""
    form = ConfirmForm()
    if not form.validate():
        return words_page("csrf", 400)
    lifetime = current_app.permanent_session_lifetime  # the cookie's, so both end together
    with backend().write() as db:
        link = claim_sign_in(db, token, request.remote_addr)
        session_id = None if link is None else start_session(db, link.tenant, link.email, lifetime)
    if session_id is None:
        return _invalid_link()
    session.clear()  # a new session: nothing from before sign-in carries over
    session[SESSION_KEY] = session_id
    session.permanent = True
    return redirect(url_for("account.page"))


@bp.post("/account/signout")
def sign_out() -> ResponseReturnValue:
    """End the customer's session."""
    if ConfirmForm().validate():
        session_id = session.pop(SESSION_KEY, None)
        if isinstance(session_id, str):
            with backend().write() as db:
                end_session(db, session_id)
    return redirect(url_for("account.sign_in"))


def _render(
    tenant: Tenant, email: str, refusal: str | None = None, status: int = 200
) -> tuple[str, int]:
    found = backend()
    directory, current = found.directory, language()
    catalog = directory.catalog
    with found.read() as db:
        da = active_delegated_admin(db, tenant.id)
        por = active_partner_of_record(db, tenant.id)
        eligible = eligible_partners_of_record(db, tenant)
        events = history(db, tenant)
        waiting = pending_for(db, tenant, email, found.clock())
        people = resolve(db, references(e.actor for e in events))
        people |= resolve(db, references(e.remote_addr for e in events))
    por_form = PartnerOfRecordForm(formdata=None)
    por_form.partner.choices = [(slug, directory.display_name(slug, current)) for slug in eligible]
    if por is not None:
        por_form.partner.data = por.partner_slug
    slugs = {event.partner_slug for event in events} | set(eligible)
    slugs |= {invitation.partner_slug for invitation in waiting}
    slugs |= {role.partner_slug for role in (da, por) if role is not None}
    names = {slug: directory.display_name(slug, current) for slug in slugs if slug}

    def describe(event: AuditEvent) -> str:
        key = f"event.{event.action}"
        partner = names.get(event.partner_slug or "", event.partner_slug or "")
        return translate(current, key, partner=partner) if key in WORDS[current] else event.action

    page = render_template(
        "account.html",
        partner_features=partner_features(tenant.cloud),
        tenant=tenant,
        email=email,
        da=da,
        por=por,
        names=names,
        events=events,
        waiting=waiting,
        describe=describe,
        shown=lambda text: shown(text, people),
        da_roles=[
            {
                "name": catalog.admin_roles[role].name.in_language(current)
                if role in catalog.admin_roles
                else role,
                "full_access": role == FULL_ACCESS_ROLE,
            }
            for role in (da.roles if da else [])
        ],
        por_form=por_form,
        revoke_form=RevokeDelegatedAdminForm(formdata=None),
        signout_form=ConfirmForm(formdata=None),
        refusal=refusal,
    )
    return page, status


@bp.get("/account/")
@customer_required
def page(customer: Customer) -> ResponseReturnValue:
    """Current DA partner and partner of record, the controls to change them, support, history."""
    return _render(customer.tenant, customer.email)


@bp.post("/account/delegated-admin/revoke")
@customer_required
def revoke_delegated_admin(customer: Customer) -> ResponseReturnValue:
    """Revoke the DA partner the page showed."""
    form = RevokeDelegatedAdminForm()
    if not form.validate():
        return _refused(customer, NotFound("no such delegated admin"))
    if not form.confirm.data:
        return _refused(customer, NotConfirmed("tick the box to confirm the revocation"))
    found = backend()
    try:
        found.run(
            lambda uow: end_delegated_admin(
                uow, customer.tenant, form.partner.data, customer.actor, "revoked_by_customer"
            )
        )
    except Refused as refused:
        return _refused(customer, refused)
    name = found.directory.display_name(form.partner.data, language())
    flash(translate(language(), "flash_da_revoked", partner=name))
    return redirect(url_for("account.page"))


@bp.post("/account/partner-of-record")
@customer_required
def partner_of_record(customer: Customer) -> ResponseReturnValue:
    """Name a partner of record (from those the customer worked with) or clear it."""
    found = backend()
    with found.read() as db:
        eligible = eligible_partners_of_record(db, customer.tenant)
    form = PartnerOfRecordForm()
    form.partner.choices = [(slug, slug) for slug in eligible]
    clearing = form.action.data == "clear"
    if clearing:
        form.partner.validate_choice = False
    if not form.validate():
        return _refused(customer, InvalidInput("choose a partner", "partner"))
    chosen = None if clearing else form.partner.data
    if clearing and not form.confirm_clear.data:
        return _refused(customer, NotConfirmed("tick the box to confirm clearing it"))
    try:
        found.run(lambda uow: set_partner_of_record(uow, customer.tenant, chosen, customer.actor))
    except Refused as refused:
        return _refused(customer, refused)
    current = language()
    if chosen:
        name = found.directory.display_name(chosen, current)
        flash(translate(current, "flash_por_set", partner=name))
    else:
        flash(translate(current, "flash_por_cleared"))
    return redirect(url_for("account.page"))


def _refused(customer: Customer, refused: Refused) -> ResponseReturnValue:
    """The customer page again, saying why nothing was changed."""
    return _render(customer.tenant, customer.email, refusal_text(refused), status_for(refused))


@bp.get("/account/receipts/<row_id:event_id>.json")
@customer_required
def receipt_download(customer: Customer, event_id: int) -> ResponseReturnValue:
    """A consent receipt: one event of the tenant's own history, as JSON."""
    tenant = customer.tenant
    with backend().read() as db:
        event = db.get(AuditEvent, event_id)
        if event is None or event.chain != tenant_chain(db, tenant.domain):
            return words_page("not_found", 404)
        given = receipt(db, event)
    body = json.dumps(given, indent=2, ensure_ascii=False)
    response = Response(body + "\n", mimetype="application/json")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="consent-receipt-{tenant.domain}-{event.id}.json"'
    )
    return response
