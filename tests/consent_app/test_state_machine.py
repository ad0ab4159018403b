"""The consent state machine under random sequences of what people do (hypothesis stateful):
create, open, accept (with any mix of DA, POR and replacement confirmation), decline, cancel,
revoke, end, expire. After every step the database agrees with a simple model of the rules and
no invariant is broken: at most one DA partner, a decided invitation stays decided, and the
audit chains verify."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)
from sqlalchemy import select, update

from consent_app.audit import verify
from consent_app.backend import backend_of
from consent_app.db import utcnow
from consent_app.models import DelegatedAdminGrant, Invitation, PartnerOfRecord
from tests.consent_app.conftest import TENANT, Marketplace, csrf_token, make_app

OFFERS = {  # partner -> (trial offer, may ask for DA)
    "contoso-cloud": ("trial-collab", True),
    "cape-collaboration": ("intranet-trial", True),
    "kanto-device-works": ("kiosk-trial", False),
}


@dataclass
class Sent:
    """An invitation as the model knows it."""

    id: str
    partner: str
    link: str
    da_requested: bool
    state: str = "pending"


class ConsentMachine(RuleBasedStateMachine):
    invitations = Bundle("invitations")

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="consent-sm-"))
        app = make_app(self.folder, f"sqlite:///{self.folder / 'instance' / 'db.sqlite3'}")
        self.market = Marketplace(app)
        self.da: str | None = None
        self.por: str | None = None
        self.sent: list[Sent] = []
        self.customer: FlaskClient | None = None

    @initialize()
    def tenant_and_keys(self) -> None:
        self.market.add_tenant()
        self.keys = {partner: self.market.key(partner) for partner in OFFERS}

    def teardown(self) -> None:
        backend_of(self.market.app).close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # --- partners ---------------------------------------------------------------------------

    @rule(target=invitations, partner=st.sampled_from(sorted(OFFERS)), ask_da=st.booleans())
    def create(self, partner: str, ask_da: bool) -> Sent:
        offer, may_ask = OFFERS[partner]
        response = self.market.invite(self.keys[partner], offer_id=offer, delegated_admin=ask_da)
        if ask_da and not may_ask:
            assert response.status_code == 403
            return Sent("refused", partner, "", ask_da, state="refused")
        assert response.status_code == 201, response.get_json()
        sent = Sent(response.get_json()["id"], partner, self.market.link(), ask_da)
        self.sent.append(sent)
        return sent

    @rule(sent=invitations)
    def cancel(self, sent: Sent) -> None:
        if sent.state == "refused":
            return
        response = self.market.api(
            self.keys[sent.partner], "POST", f"/invitations/{sent.id}/cancel"
        )
        if sent.state == "pending":
            assert response.status_code == 200
            sent.state = "canceled"
        else:
            assert response.status_code == 409

    @rule(partner=st.sampled_from(sorted(OFFERS)))
    def partner_ends_da(self, partner: str) -> None:
        path = f"/relationships/{TENANT}/delegated-admin"
        response = self.market.api(self.keys[partner], "DELETE", path)
        if self.da == partner:
            assert response.status_code == 204
            self.da = None
        else:
            assert response.status_code == 404

    # --- customers --------------------------------------------------------------------------

    @rule(sent=invitations)
    def open_link(self, sent: Sent) -> None:
        if sent.state == "refused":
            return
        status = self.market.client.get(sent.link).status_code
        assert status == (200 if sent.state == "pending" else 410)

    @rule(
        sent=invitations,
        accept=st.booleans(),
        grant=st.booleans(),
        por=st.booleans(),
        confirm=st.booleans(),
    )
    def decide(self, sent: Sent, accept: bool, grant: bool, por: bool, confirm: bool) -> None:
        if sent.state == "refused":
            return
        client = self.market.app.test_client()
        page = client.get(sent.link)
        if sent.state != "pending":
            assert page.status_code == 410
            return
        form = {"csrf_token": csrf_token(page.get_data(as_text=True))}
        form["decision"] = "accept" if accept else "decline"
        if grant:
            form["authorize_delegated_admin"] = "y"
        if por:
            form["make_partner_of_record"] = "y"
        if confirm:
            form["confirm_replace_delegated_admin"] = "y"
            form["seen_delegated_admin"] = self.da or ""
        status = client.post(sent.link, data=form).status_code
        expected = self.expected(sent, accept, grant, por, confirm)
        assert status == expected, (status, expected, sent, self.da, self.por)

    def expected(self, sent: Sent, accept: bool, grant: bool, por: bool, confirm: bool) -> int:
        """The model: the consent rules as the customer sees them."""
        if not accept:
            sent.state = "declined"
            return 200
        if grant and not sent.da_requested:
            return 400
        if grant and self.da not in (None, sent.partner) and not confirm:
            return 409
        sent.state = "accepted"
        if grant:
            self.da = sent.partner
        if por:
            self.por = sent.partner
        return 200

    @rule()
    def customer_revokes_da(self) -> None:
        if self.customer is None:  # one sign-in (links per address are rate limited)
            self.customer = self.market.sign_in()
        client = self.customer
        page = client.get("/account/").get_data(as_text=True)
        if self.da is None:
            assert "No partner administers your tenant." in page
            return
        response = client.post(
            "/account/delegated-admin/revoke",
            data={"csrf_token": csrf_token(page), "partner": self.da, "confirm": "y"},
        )
        assert response.status_code == 302
        self.da = None

    @rule(sent=consumes(invitations))
    def expire(self, sent: Sent) -> None:
        if sent.state != "pending":
            return
        with self.market.backend.write() as session:
            session.execute(
                update(Invitation)
                .where(Invitation.id == sent.id)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        sent.state = "expired"

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def database_agrees_with_the_model(self) -> None:
        if not hasattr(self, "keys"):
            return
        with self.market.backend.read() as session:
            da = (
                session.execute(
                    select(DelegatedAdminGrant.partner_slug).where(
                        DelegatedAdminGrant.ended_at.is_(None)
                    )
                )
                .scalars()
                .all()
            )
            por = (
                session.execute(
                    select(PartnerOfRecord.partner_slug).where(PartnerOfRecord.ended_at.is_(None))
                )
                .scalars()
                .all()
            )
            assert len(da) <= 1 and len(por) <= 1
            assert (da[0] if da else None) == self.da
            assert (por[0] if por else None) == self.por
            states = dict(session.execute(select(Invitation.id, Invitation.state)).all())
            for sent in self.sent:
                stored = states[sent.id]
                assert stored == ("pending" if sent.state == "expired" else sent.state)
            report = verify(session)
            assert report.ok, report.problems


ConsentMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestConsentStateMachine = ConsentMachine.TestCase
