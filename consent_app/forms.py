"""The customer pages' forms (Flask-WTF: every one carries and checks a CSRF token).

Field names are a public contract (README: Customer pages): `decision`,
`authorize_delegated_admin`, `make_partner_of_record`, `confirm_replace_delegated_admin`,
`accept_terms`.
"""

from __future__ import annotations

from flask import current_app, has_request_context
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import AnyOf, DataRequired, Email, Length
from wtforms.widgets import CheckboxInput, ListWidget

from consent_app.i18n import form_translations


class Form(FlaskForm):  # type: ignore[misc]  # flask_wtf ships no type information
    """A form of these pages: Flask-WTF's, with WTForms' messages read once per language."""

    class Meta(FlaskForm.Meta):  # type: ignore[misc]
        def get_translations(self, form: FlaskForm) -> object:
            if not has_request_context() or not current_app.config.get("WTF_I18N_ENABLED", True):
                return super().get_translations(form)
            return form_translations()


class DecisionForm(Form):
    """Accept or decline an invitation, with separate DA and POR choices."""

    decision = StringField(validators=[DataRequired(), AnyOf(["accept", "decline"])])
    authorize_delegated_admin = BooleanField()
    make_partner_of_record = BooleanField()
    confirm_replace_delegated_admin = BooleanField()
    auto_extend_delegated_admin = BooleanField()  # offered only for grants without full access
    # "I accept these terms": needed to accept a priced offer. What a script might send for
    # "not ticked" ("0", "off", "no") must not be recorded as the customer's acceptance.
    accept_terms = BooleanField(false_values=(False, "false", "", "0", "off", "no"))
    # The DA partner the page showed: a replacement is confirmed for that partner only.
    seen_delegated_admin = HiddenField()


class SignInForm(Form):
    """Ask for a sign-in link."""

    email = EmailField(validators=[DataRequired(), Email(), Length(max=254)])


class ConfirmForm(Form):
    """A button that only needs its CSRF token (use a sign-in link, sign out)."""


class RevokeDelegatedAdminForm(Form):
    """Revoke the DA partner the page showed."""

    partner = HiddenField(validators=[DataRequired()])
    confirm = BooleanField()  # the second step: the customer confirms the partner's access ends


class PartnerOfRecordForm(Form):
    """Name a partner of record from those the customer worked with, or clear it."""

    partner = SelectField(choices=[], validate_choice=True)
    action = StringField(validators=[DataRequired(), AnyOf(["set", "clear"])])
    confirm_clear = BooleanField()  # clearing asks for this confirmation


class ContactPartnerForm(Form):
    """A visitor's "Contact this partner" (README: Leads): the details and consent, checked by
    `consent_app.leads.contact_details` (each problem shown beside its field)."""

    name = StringField()
    email = EmailField()
    company = StringField()
    country = SelectField(choices=[], validate_choice=False)
    message = TextAreaField()
    consent = BooleanField(false_values=(False, "false", "", "0", "off", "no"))
    # The honeypot: hidden from people (and from screen readers), filled in by the robots
    # that fill in every field. A filled one is answered like a sent request; nothing is kept.
    website = StringField()


class LeadStatusForm(Form):
    """A partner records how a lead is going (`consent_app.leads.set_lead_status` checks it)."""

    status = SelectField(choices=[], validate_choice=False)


class NewInvitationForm(Form):
    """A partner's new invitation (README: Partner overview). Only the CSRF token is checked
    here: every field goes to the partner API's own checks (`consent_app.invitation_form`),
    so the form and the API refuse the same things with the same words. The per-service
    fields `licenses-<service>` and `price-<service>` are read from the request as they come."""

    type = HiddenField()
    offer_id = RadioField(choices=[], validate_choice=False)
    tenant = StringField()
    customer_email = EmailField()
    customer_company = StringField()
    currency = StringField()
    billing = RadioField(choices=[], validate_choice=False)
    delegated_admin = BooleanField()
    delegated_admin_roles = SelectMultipleField(
        choices=[],
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    delegated_admin_days = StringField()
    # One per preview: "Send" derives the invitation's id from it, so a second click (or a
    # resubmitted page) finds the invitation the first one made instead of making another.
    send_token = HiddenField()


class CancelInvitationForm(Form):
    """Cancel a pending invitation: the box confirms it."""

    confirm = BooleanField()


class EndDelegatedAdminForm(Form):
    """A partner ends its own delegated administration of a customer (the confirmation step's
    button; the tenant is in the address)."""

    confirm = BooleanField(false_values=(False, "false", "", "0", "off", "no"))


class RevokeKeyForm(Form):
    """A partner revokes one of its API keys (the key is in the address): the box confirms
    that programs using it stop working."""

    confirm = BooleanField(false_values=(False, "false", "", "0", "off", "no"))


class WebhookForm(Form):
    """Register a webhook endpoint (README: Webhooks): `url` and the `events` ticked. Only the
    CSRF token is checked here: `consent_app.webhooks` checks the fields, as for the API."""

    url = StringField()
    events = SelectMultipleField(choices=[], validate_choice=False)


class DeleteWebhookForm(Form):
    """Delete a webhook endpoint, once the box is ticked."""

    confirm = BooleanField()
