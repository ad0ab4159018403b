"""The partner's pages (README: Partner pages): sign-in by a mailed link, the overview, the
customers, the API keys; the base the other partner pages build on (`partner_required`,
`PartnerUser`, `templates/partner/base.html`).

The session cookie holds only the id of a session kept on the server (`partner_sessions`),
under a key of its own: a partner's session opens nothing under /account/, and a customer's
nothing under /partner/. Every request checks that the session has not ended, that its user is
still registered and that the partner is still listed: a removed user or a delisted partner is
signed out at the next request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from consent_app.addresses import normalized_domain, normalized_email
from consent_app.audit import Actor
from consent_app.backend import backend
from consent_app.consent import end_delegated_admin, partner_relationships
from consent_app.forms import ConfirmForm, EndDelegatedAdminForm, RevokeKeyForm, SignInForm
from consent_app.i18n import N_, language
from consent_app.leads import count_new_leads
from consent_app.models import Invitation, PartnerKey
from consent_app.pages import words_page
from consent_app.partner_sessions import (
    claim_sign_in,
    end_session,
    request_sign_in,
    session_user,
    sign_in_link,
    start_session,
)
from consent_app.partners import (
    MAX_ACTIVE_KEYS,
    IssuedKey,
    PartnerDirectory,
    issue_key,
    revoke_key,
)
from consent_app.refusals import AlreadyRevoked, InvalidInput, NotFound, TooManyKeys
from consent_app.rules import State, Status, delegated_admin_refusal
from consent_app.security import LINK_LIMITS, SIGN_IN_LIMITS, SIGN_IN_PER_ADDRESS, limiter
from consent_app.tenants import find_tenant
from consent_app.work import UnitOfWork

bp = Blueprint("partner", __name__, url_prefix="/partner")

SESSION_KEY = "partner"
"""The Flask session key of a partner's session id (the customers' is "customer")."""


@dataclass(frozen=True)
class PartnerUser:
    """The signed-in partner user: which partner it works for, its address, and the opaque
    reference the audit log names it by (never its address: `partner_sessions`)."""

    slug: str
    email: str
    ref: str = ""

    @property
    def actor(self) -> Actor:
        """The audit log's record of who acted: the partner, and which of its users."""
        return Actor("partner", self.slug, request.remote_addr, f"user {self.ref or '?'}")


def signed_in_partner() -> PartnerUser | None:
    """The signed-in partner user, if the session is still good (not ended, the user still
    registered, the partner still listed)."""
    session_id = session.get(SESSION_KEY)
    if not isinstance(session_id, str):
        return None
    found = backend()
    with found.read() as db:
        user = session_user(db, found.directory, session_id)
        if user is None:
            return None
        return PartnerUser(user.partner_slug, user.email, user.ref)


def partner_required(
    view: Callable[..., ResponseReturnValue],
) -> Callable[..., ResponseReturnValue]:
    """A page for signed-in partner users only: anyone else is sent to sign in (and a session
    that stopped being good is forgotten). The view gets the `PartnerUser` first."""

    @wraps(view)
    def wrapped(*args: Any, **values: Any) -> ResponseReturnValue:
        user = signed_in_partner()
        if user is None:
            session.pop(SESSION_KEY, None)
            return redirect(url_for("partner.sign_in"))
        g.partner_user = user  # for partner/base.html (`_partner_frame`)
        return view(user, *args, **values)

    return wrapped


def _address_asked() -> str:
    raw = (request.form.get("email") or "")[:254]
    try:
        return "partner:" + normalized_email(raw, smtputf8=True)  # one bucket per address
    except InvalidInput:
        return "partner:" + (raw.strip().lower() or "none")


@bp.route("/signin", methods=["GET", "POST"])
@limiter.limit(SIGN_IN_LIMITS, methods=["POST"])
@limiter.limit(SIGN_IN_PER_ADDRESS, methods=["POST"], key_func=_address_asked)
def sign_in() -> ResponseReturnValue:
    """Ask for a one-time sign-in link; the answer is the same for known and unknown
    addresses."""
    form = SignInForm()
    if form.validate_on_submit():
        email = form.email.data.strip()  # request_sign_in normalises it
        found = backend()
        found.run(lambda uow: request_sign_in(uow, email))
        minutes = int(found.settings.sign_in_lifetime.total_seconds() // 60)
        return render_template("partner/signin_sent.html", email=email, minutes=minutes)
    status = 400 if request.method == "POST" else 200
    return render_template("partner/signin.html", form=form), status


def _invalid_link() -> ResponseReturnValue:
    return render_template("partner/signin_invalid.html"), 410


@bp.get("/signin/<token>")
@limiter.limit(LINK_LIMITS)
def confirm_sign_in(token: str) -> ResponseReturnValue:
    """Show whom the link signs in, for which partner; signing in needs the button (POST)."""
    found = backend()
    with found.read() as db:
        link = sign_in_link(db, found.directory, token)
    if link is None or not link.usable:
        return _invalid_link()
    name = found.directory.display_name(link.slug, _language())
    return render_template(
        "partner/signin_confirm.html", link=link, partner_name=name, form=ConfirmForm()
    )


@bp.post("/signin/<token>")
@limiter.limit(LINK_LIMITS)
def use_sign_in(token: str) -> ResponseReturnValue:
    """Use the link once and start the partner user's session."""
    form = ConfirmForm()
    if not form.validate():
        return render_template("partner/signin_invalid.html", csrf=True), 400
    found = backend()
    lifetime = current_app.permanent_session_lifetime  # the cookie's, so both end together
    with found.write() as db:
        link = claim_sign_in(db, found.directory, token, request.remote_addr)
        session_id = None if link is None else start_session(db, link.user_id, lifetime)
    if session_id is None:
        return _invalid_link()
    session.clear()  # a new session: nothing from before sign-in carries over (nor a customer's)
    session[SESSION_KEY] = session_id
    session.permanent = True
    return redirect(url_for("partner.overview"))


@bp.post("/signout")
def sign_out() -> ResponseReturnValue:
    """End the partner user's session."""
    if ConfirmForm().validate():
        session_id = session.pop(SESSION_KEY, None)
        if isinstance(session_id, str):
            with backend().write() as db:
                end_session(db, session_id)
    return redirect(url_for("partner.sign_in"))


def _language() -> str:
    return language()


def translate_text(message: str, **values: Any) -> str:
    """A message marked with `N_`, in the page's language."""
    return str(gettext(message, **values))


@bp.app_context_processor
def _partner_frame() -> dict[str, Any]:
    """What `partner/base.html` shows on every partner page (of any blueprint whose view is
    `partner_required`): the signed-in user, the partner's name, the sign-out form."""
    user = g.get("partner_user")
    if not isinstance(user, PartnerUser):
        return {}
    return {
        "partner_user": user,
        "partner_name": backend().directory.display_name(user.slug, _language()),
        "signout_form": ConfirmForm(formdata=None),
    }


def partner_page(template: str, user: PartnerUser, nav: str, **context: Any) -> str:
    """Render a partner page whose navigation marks `nav` (the header comes from
    `_partner_frame`)."""
    return render_template(template, partner_nav=nav, **context)


# --- the overview -------------------------------------------------------------------------------


def invitation_counts(session: Session, slug: str, now: datetime) -> dict[str, int]:
    """How many of the partner's invitations are pending, accepted, declined, expired (and
    canceled): the status everyone is told (`rules.status`)."""
    counts = {str(status): 0 for status in Status}
    expired: ColumnElement[bool] = case((Invitation.expires_at <= now, True), else_=False)
    rows = session.execute(
        select(Invitation.state, expired, func.count(Invitation.id))
        .where(Invitation.partner_slug == slug)
        .group_by(Invitation.state, expired)
    )
    for state, past, number in rows:
        shown = Status.EXPIRED if state == State.PENDING and past else Status(state)
        counts[str(shown)] += int(number)
    return counts


def new_leads_count(session: Session, slug: str) -> int:
    """The partner's leads still marked "new" (`consent_app.leads`)."""
    return count_new_leads(session, slug)


@dataclass(frozen=True)
class Eligibility:
    """What the partner may offer: its programmes, and whether (and why not) it may ask for
    delegated administration; the trial offers that may ask for it."""

    programs: list[str]
    delegated_admin: bool
    reason: str | None  # a key of `_DA_REASONS` when it may not
    da_offers: list[str]  # titles of the offers that allow a DA request


_DA_REASONS = {
    "listing": N_(
        "Your listing does not offer delegated administration. Partners in a programme whose "
        "partners may administer customers' tenants can offer it by setting delegated_admin: "
        "true in their listing."
    ),
    "program": N_(
        "Your partner programmes do not allow delegated administration. It can be requested by "
        "partners in one of these programmes: %(programs)s."
    ),
}


def eligibility(directory: PartnerDirectory, slug: str, current: str) -> Eligibility:
    """The partner's eligibility as the rules see it (`rules.delegated_admin_refusal`)."""
    listing = directory.get(slug)
    assert listing is not None  # partner_required checked it
    catalog = directory.catalog

    def program_name(key: str) -> str:
        program = catalog.programs.get(key)
        return program.name.in_language(current) if program else key

    refusal = delegated_admin_refusal(catalog, listing, None)
    reason = None
    if refusal is not None:
        reason = "listing" if not listing.delegated_admin else "program"
    da_offers = [
        listing.offer_title(offer.id, current) or offer.title
        for offer in listing.offers
        if refusal is None and delegated_admin_refusal(catalog, listing, offer) is None
    ]
    return Eligibility(
        [program_name(key) for key in listing.programs],
        refusal is None,
        reason,
        da_offers,
    )


@bp.get("/")
@partner_required
def overview(user: PartnerUser) -> ResponseReturnValue:
    """Counts of invitations by status, customers, new leads; the partner's eligibility."""
    found = backend()
    current = _language()
    with found.reading() as uow:
        counts = invitation_counts(uow.session, user.slug, uow.now())
        relationships = partner_relationships(uow.session, user.slug)
        leads = new_leads_count(uow.session, user.slug)
    allowed = eligibility(found.directory, user.slug, current)
    eligible_programs = sorted(
        program.name.in_language(current)
        for key, program in found.directory.catalog.programs.items()
        if key in found.directory.catalog.delegated_admin_programs
    )
    reason = None
    if allowed.reason is not None:
        reason = translate_text(_DA_REASONS[allowed.reason], programs=", ".join(eligible_programs))
    return partner_page(
        "partner/overview.html",
        user,
        "overview",
        counts=counts,
        delegated_admin_customers=sum(1 for item in relationships if item.delegated_admin),
        por_customers=sum(1 for item in relationships if item.partner_of_record),
        customers=len(relationships),
        new_leads=leads,
        eligibility=allowed,
        da_reason=reason,
    )


# --- customers ----------------------------------------------------------------------------------


@bp.get("/customers/")
@partner_required
def customers(user: PartnerUser) -> ResponseReturnValue:
    """The tenants where the partner is DA partner or partner of record, since when."""
    with backend().read() as db:
        found = partner_relationships(db, user.slug)
    return partner_page("partner/customers.html", user, "customers", relationships=found)


def _held_delegated_admin(user: PartnerUser, tenant: str) -> str | None:
    """The tenant's domain when the partner holds its DA now; None otherwise (bad input,
    unknown tenant, another partner's: one answer)."""
    try:
        domain = normalized_domain(tenant)
    except InvalidInput:
        return None
    with backend().read() as db:
        held = partner_relationships(db, user.slug)
    return domain if any(r.tenant == domain and r.delegated_admin for r in held) else None


@bp.route("/customers/<tenant>/end-delegated-admin", methods=["GET", "POST"])
@partner_required
def end_own_delegated_admin(user: PartnerUser, tenant: str) -> ResponseReturnValue:
    """The confirmation step (GET), then ending the partner's own DA of the tenant (POST, the
    box ticked): the same rule and audit event as the API's DELETE."""
    domain = _held_delegated_admin(user, tenant)
    if domain is None:
        return _not_found()
    form = EndDelegatedAdminForm()
    refusal = None
    if request.method == "POST":
        if not form.validate():
            return words_page("csrf", 400)
        if form.confirm.data:

            def end(uow: UnitOfWork) -> None:
                row = find_tenant(uow.session, domain)
                if row is None:
                    raise NotFound(f"you are not the delegated admin of {domain}")
                end_delegated_admin(uow, row, user.slug, user.actor, "ended_by_partner")

            try:
                backend().run(end)
            except NotFound:
                return _not_found()
            flash(gettext("Your delegated administration of %(tenant)s has ended.", tenant=domain))
            return redirect(url_for("partner.customers"))
        refusal = gettext("Nothing was changed: tick the box that confirms it first.")
    page = partner_page(
        "partner/customers_end_da.html",
        user,
        "customers",
        tenant=domain,
        form=form,
        refusal=refusal,
    )
    return page, 400 if refusal else 200


# --- API keys -----------------------------------------------------------------------------------


def _keys(user: PartnerUser) -> list[PartnerKey]:
    with backend().read() as db:
        query = (
            select(PartnerKey)
            .where(PartnerKey.partner_slug == user.slug)
            .order_by(PartnerKey.created_at.desc(), PartnerKey.key_id)
        )
        return list(db.execute(query).scalars())


def _keys_page(
    user: PartnerUser,
    issued: IssuedKey | None = None,
    refusal: str | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    page = partner_page(
        "partner/keys.html",
        user,
        "keys",
        keys=_keys(user),
        issued=issued,
        refusal=refusal,
        issue_form=ConfirmForm(formdata=None),
        revoke_form=RevokeKeyForm(formdata=None),
    )
    return page, status


@bp.get("/keys/")
@partner_required
def keys(user: PartnerUser) -> ResponseReturnValue:
    """The partner's API keys: when each was made, whether it is revoked."""
    return _keys_page(user)


@bp.post("/keys/")
@partner_required
def issue(user: PartnerUser) -> ResponseReturnValue:
    """Issue a new key: its secret is on this answer only, never shown again."""
    if not ConfirmForm().validate():
        return words_page("csrf", 400)
    found = backend()
    try:
        issued = found.run(lambda uow: issue_key(uow.session, uow.directory, user.slug, user.actor))
    except TooManyKeys:
        refusal = gettext(
            "You have %(max)s API keys in use, the most a partner may have: revoke one you no "
            "longer need first.",
            max=MAX_ACTIVE_KEYS,
        )
        return _keys_page(user, refusal=refusal, status=422)
    return _keys_page(user, issued=issued, status=201)


@bp.post("/keys/<key_id>/revoke")
@partner_required
def revoke(user: PartnerUser, key_id: str) -> ResponseReturnValue:
    """Revoke one of the partner's own keys (the box ticked); another partner's is unknown."""
    form = RevokeKeyForm()
    if not form.validate():
        return words_page("csrf", 400)
    if not any(key.key_id == key_id for key in _keys(user)):
        return _not_found()
    if not form.confirm.data:
        message = gettext("Nothing was changed: tick the box that confirms it first.")
        return _keys_page(user, refusal=message, status=400)

    def revoke_own(uow: UnitOfWork) -> None:
        owner = uow.session.execute(
            select(PartnerKey.partner_slug).where(PartnerKey.key_id == key_id)
        ).scalar_one_or_none()
        if owner != user.slug:
            raise NotFound(f"you have no key {key_id}")
        revoke_key(uow.session, key_id, user.actor)

    try:
        backend().run(revoke_own)
    except NotFound:
        return _not_found()
    except AlreadyRevoked:
        message = gettext("Key %(key)s was revoked already.", key=key_id)
        return _keys_page(user, refusal=message, status=409)
    flash(gettext("Key %(key)s is revoked: calls with it are refused from now on.", key=key_id))
    return redirect(url_for("partner.keys"))


def _not_found() -> ResponseReturnValue:
    return words_page("not_found", 404)
