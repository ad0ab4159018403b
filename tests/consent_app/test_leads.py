"""Leads: "Contact this partner", confirmed by the visitor by mail (double opt-in), withdrawn
by the visitor, listed and updated by the partner (pages and API)."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from email.message import Message

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text, update
from werkzeug.test import TestResponse

from consent_app import lead_pages
from consent_app.audit import verify
from consent_app.leads import CONFIRM_HOURS, count_new_leads, withdraw_for_address
from consent_app.models import AuditEvent, Lead, OutboxMessage
from tests.consent_app.conftest import CHECKED, OPERATOR, Marketplace, csrf_token
from tests.consent_app.partner_portal import PARTNER_USER, partner_client
from tests.smtp import smtp_server

PARTNER = "contoso-cloud"
PARTNER_MAIL = "partners@contoso.example"
OTHER = "northwind-secure"
VISITOR = "ada@example.org"
FIELDS = {
    "name": "Ada Lovelace",
    "email": VISITOR,
    "company": "Analytical Engines Ltd",
    "country": "GB",
    "message": "We need Teams for 40 people.\nCan you help before March?",
    "consent": CHECKED,
}
_LEAD_LINK = re.compile(r"https?://[^/\s]+(/leads/(confirm|withdraw)/[A-Za-z0-9_-]+)")


class Visitor:
    """What a visitor does: the contact form, then the links in the mail."""

    def __init__(self, market: Marketplace) -> None:
        self.market = market

    def client(self, address: str = "192.0.2.10") -> FlaskClient:
        client = self.market.app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        return client

    def contact(
        self,
        slug: str = PARTNER,
        client: FlaskClient | None = None,
        query: str = "",
        **fields: str | None,
    ) -> TestResponse:
        """Open the form and send it with FIELDS, changed by `fields` (None: left out)."""
        client = client or self.client()
        url = f"/partners/{slug}/contact{query}"
        page = client.get(url)
        assert page.status_code == 200, page.get_data(as_text=True)
        form = {"csrf_token": csrf_token(page.get_data(as_text=True)), **FIELDS, **fields}
        return client.post(url, data={k: v for k, v in form.items() if v is not None})

    def links(self, to: str = VISITOR) -> dict[str, str]:
        """The newest confirm and withdraw links mailed to `to`."""
        found: dict[str, str] = {}
        for mail in self.market.mails(to):
            for path, kind in _LEAD_LINK.findall(mail.body):
                found[kind] = path
        assert set(found) == {"confirm", "withdraw"}, found
        return found

    def use(self, link: str, client: FlaskClient | None = None) -> TestResponse:
        """Open a link (GET must show, and change nothing), then press its button."""
        client = client or self.client()
        page = client.get(link)
        assert page.status_code == 200, page.get_data(as_text=True)
        return client.post(link, data={"csrf_token": csrf_token(page.get_data(as_text=True))})

    def confirmed(self, **fields: str | None) -> str:
        """A confirmed lead of the partner: returns its id."""
        assert self.contact(**fields).status_code == 200
        to = fields.get("email") or VISITOR
        assert self.use(self.links(to)["confirm"]).status_code == 200
        with self.market.backend.read() as session:
            newest = (
                session.execute(
                    select(Lead.id)
                    .where(Lead.confirmed_at.is_not(None))
                    .order_by(Lead.confirmed_at.desc())
                )
                .scalars()
                .first()
            )
        assert newest is not None
        return newest


@pytest.fixture
def visitor(market: Marketplace) -> Visitor:
    return Visitor(market)


def leads(market: Marketplace) -> list[Lead]:
    with market.backend.read() as session:
        return list(session.execute(select(Lead).order_by(Lead.requested_at)).scalars())


def events(market: Marketplace, action: str) -> list[AuditEvent]:
    with market.backend.read() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list(session.execute(query).scalars())


def body(response: TestResponse) -> str:
    return response.get_data(as_text=True)


# --- the double opt-in ---------------------------------------------------------------------------


def test_double_opt_in_over_a_real_smtp_server(app_factory: Callable[..., Flask]) -> None:
    with smtp_server() as (url, received):
        market = Marketplace(app_factory(MARKETPLACE_SMTP_URL=url))
        visitor = Visitor(market)
        sent = visitor.contact()
        assert sent.status_code == 200
        assert "Check your mail" in body(sent) and VISITOR in body(sent)
        assert [rcpt for rcpt, _ in received.messages] == [[VISITOR]]
        confirmation = received.messages[0][1]
        text_ = _plain(confirmation)
        # The mail repeats nothing the visitor typed (a stranger's text in someone's mailbox).
        assert "Ada" not in text_ and "Teams for 40" not in text_
        assert "Contoso" in str(confirmation["Subject"])
        paths = dict((kind, path) for path, kind in _LEAD_LINK.findall(text_))
        assert set(paths) == {"confirm", "withdraw"}
        key = market.key(PARTNER)
        client = visitor.client()
        preview = client.get(paths["confirm"])
        assert preview.status_code == 200
        for value in ("Ada Lovelace", VISITOR, "Analytical Engines Ltd", "United Kingdom", "Teams"):
            assert value in body(preview)
        assert market.api(key, "GET", "/leads").get_json() == {"leads": []}  # GET confirmed nothing
        done = client.post(paths["confirm"], data={"csrf_token": csrf_token(body(preview))})
        assert done.status_code == 200 and "Sent to Contoso" in body(done)
        assert [rcpt for rcpt, _ in received.messages] == [[VISITOR], [PARTNER_MAIL]]
        partner_mail = _plain(received.messages[1][1])
        for value in ("Ada Lovelace", VISITOR, "Analytical Engines Ltd", "United Kingdom"):
            assert value in partner_mail
        assert "    We need Teams for 40 people.\n    Can you help before March?" in partner_mail
        listed = market.api(key, "GET", "/leads").get_json()["leads"]
        assert len(listed) == 1
        lead = listed[0]
        assert lead["id"] in str(received.messages[1][1]["Subject"])
        assert {k: lead[k] for k in ("name", "email", "company", "country", "status")} == {
            "name": "Ada Lovelace",
            "email": VISITOR,
            "company": "Analytical Engines Ltd",
            "country": "GB",
            "status": "new",
        }
        assert lead["message"] == FIELDS["message"]
        with market.backend.read() as session:
            assert verify(session).ok


def _plain(message: Message) -> str:
    part = message.get_payload(decode=True)
    assert isinstance(part, bytes)
    return part.decode("utf-8").replace("\r\n", "\n")


def test_an_unconfirmed_request_is_no_lead(market: Marketplace, visitor: Visitor) -> None:
    assert visitor.contact().status_code == 200
    key = market.key(PARTNER)
    assert market.api(key, "GET", "/leads").get_json() == {"leads": []}
    assert [mail.to for mail in market.mails()] == [VISITOR]  # nothing to the partner
    with market.backend.read() as session:
        assert count_new_leads(session, PARTNER) == 0
    assert events(market, "lead.created") == []


def test_a_confirm_link_works_once(market: Marketplace, visitor: Visitor) -> None:
    visitor.contact()
    link = visitor.links()["confirm"]
    assert visitor.use(link).status_code == 200
    again = visitor.client().get(link)
    assert again.status_code == 410 and "You confirmed this request already" in body(again)
    other = visitor.client("192.0.2.77")
    token = csrf_token(body(other.get("/partners/contoso-cloud/contact")))
    second = other.post(link, data={"csrf_token": token})
    assert second.status_code == 410 and "confirmed this request already" in body(second)
    assert [mail.to for mail in market.mails()] == [VISITOR, PARTNER_MAIL]
    assert len(events(market, "lead.created")) == 1


def test_an_expired_confirm_link_shares_nothing(market: Marketplace, visitor: Visitor) -> None:
    visitor.contact()
    links = visitor.links()
    with market.backend.write() as session:
        session.execute(
            update(Lead).values(expires_at=market.backend.clock() - timedelta(seconds=1))
        )
    page = visitor.client().get(links["confirm"])
    assert page.status_code == 410 and "This link has expired" in body(page)
    client = visitor.client()
    token = csrf_token(body(client.get("/partners/contoso-cloud/contact")))
    assert client.post(links["confirm"], data={"csrf_token": token}).status_code == 410
    assert [mail.to for mail in market.mails()] == [VISITOR]
    assert events(market, "lead.created") == []
    # The next request from anyone deletes the expired one, and the mail that named it.
    visitor.contact(email="grace@example.org", name="Grace Hopper")
    assert [lead.email for lead in leads(market)] == ["grace@example.org"]
    with market.backend.read() as session:
        recipients = session.execute(select(OutboxMessage.recipient)).scalars().all()
    assert VISITOR not in recipients
    gone = visitor.client().get(links["confirm"])
    assert gone.status_code == 404 and "This link does not work" in body(gone)
    assert visitor.client().get(links["withdraw"]).status_code == 404


def test_the_link_lasts_as_long_as_the_mail_says(market: Marketplace, visitor: Visitor) -> None:
    visitor.contact()
    (lead,) = leads(market)
    assert lead.expires_at - lead.requested_at == timedelta(hours=CONFIRM_HOURS)
    (mail,) = market.mails(VISITOR)
    assert f"for {CONFIRM_HOURS} hours" in mail.body


def test_withdrawing_before_confirming(market: Marketplace, visitor: Visitor) -> None:
    visitor.contact()
    links = visitor.links()
    preview = visitor.client().get(links["withdraw"])
    assert preview.status_code == 200
    assert "Ada Lovelace" in body(preview) and "nothing was shared" in body(preview)
    done = visitor.use(links["withdraw"])
    assert done.status_code == 200 and "Request withdrawn" in body(done)
    (lead,) = leads(market)
    assert lead.withdrawn_at is not None and lead.confirmed_at is None
    assert (lead.name, lead.email, lead.company, lead.country, lead.message) == (None,) * 5
    with market.backend.read() as session:
        assert session.execute(select(func.count(OutboxMessage.id))).scalar_one() == 0
    confirm = visitor.client().get(links["confirm"])
    assert confirm.status_code == 410 and "This request was withdrawn" in body(confirm)
    assert visitor.client().get(links["withdraw"]).status_code == 410
    assert events(market, "lead.withdrawn") == []  # never a lead: nothing in the partner's chain
    key = market.key(PARTNER)
    assert market.api(key, "GET", "/leads").get_json() == {"leads": []}


def test_withdrawing_a_lead(market: Marketplace, visitor: Visitor) -> None:
    key = market.key(PARTNER)
    lead_id = visitor.confirmed()
    links = visitor.links()
    preview = visitor.client().get(links["withdraw"])
    assert "has received these details" in body(preview)
    assert visitor.use(links["withdraw"]).status_code == 200
    (shown,) = market.api(key, "GET", "/leads").get_json()["leads"]
    assert shown["id"] == lead_id and shown["status"] == "withdrawn"
    assert [shown[k] for k in ("name", "email", "company", "country", "message")] == [None] * 5
    notice = market.mails(PARTNER_MAIL)[-1]
    assert lead_id in notice.subject and "withdrawn" in notice.subject
    assert "Ada" not in notice.body and "delete the copy" in notice.body
    refused = market.api(key, "PATCH", f"/leads/{lead_id}", {"status": "won"})
    assert refused.status_code == 409 and refused.get_json()["error"] == "lead_withdrawn"
    # The audit log knows the lead's life by its id, and nothing of the person.
    with market.backend.read() as session:
        stored = session.execute(text("SELECT * FROM audit_events")).all()
        assert verify(session).ok
    assert "Ada" not in repr(stored) and VISITOR not in repr(stored)
    assert [e.details for e in events(market, "lead.withdrawn")] == [{"lead": lead_id}]
    assert events(market, "lead.withdrawn")[0].remote_addr is None
    # The visitor's mail is gone from the outbox (its headers name them).
    with market.backend.read() as session:
        assert VISITOR not in session.execute(select(OutboxMessage.recipient)).scalars().all()


def test_confirming_and_withdrawing_at_the_same_moment(
    market: Marketplace, visitor: Visitor
) -> None:
    """Four confirms and two withdrawals of one request race: one withdrawal wins, at most
    one lead was created, and what is left is consistent."""
    visitor.contact()
    links = visitor.links()
    opened = []
    for kind in ("confirm",) * 4 + ("withdraw",) * 2:
        client = visitor.client()
        token = csrf_token(body(client.get(links[kind])))
        opened.append((kind, client, token))
    barrier = threading.Barrier(len(opened))

    def submit(item: tuple[str, FlaskClient, str]) -> tuple[str, int]:
        kind, client, token = item
        barrier.wait()
        return kind, client.post(links[kind], data={"csrf_token": token}).status_code

    with ThreadPoolExecutor(len(opened)) as pool:
        answers = list(pool.map(submit, opened))
    confirms = sorted(status for kind, status in answers if kind == "confirm")
    withdrawals = sorted(status for kind, status in answers if kind == "withdraw")
    assert withdrawals == [200, 410]
    assert confirms in ([200, 410, 410, 410], [410] * 4)
    (lead,) = leads(market)
    assert lead.withdrawn_at is not None and lead.email is None and lead.message is None
    created = len(events(market, "lead.created"))
    assert created == (1 if lead.confirmed_at else 0) == (1 if 200 in confirms else 0)
    assert len(events(market, "lead.withdrawn")) == created
    with market.backend.read() as session:
        assert verify(session).ok


def test_an_operator_withdraws_for_a_visitor_who_lost_the_link(
    market: Marketplace, visitor: Visitor
) -> None:
    lead_id = visitor.confirmed()
    visitor.contact(slug=OTHER)  # not confirmed
    visitor.contact(email="grace@example.org")
    done = market.backend.run(lambda uow: withdraw_for_address(uow, " ADA@example.org", OPERATOR))
    assert len(done) == 2 and lead_id in done
    assert [lead.email for lead in leads(market)] == [None, None, "grace@example.org"]
    (event,) = events(market, "lead.withdrawn")
    assert event.details == {"lead": lead_id} and event.actor.startswith("operator:")
    assert market.backend.run(lambda uow: withdraw_for_address(uow, VISITOR, OPERATOR)) == []


def test_marketplace_leads_remove(market: Marketplace, visitor: Visitor) -> None:
    """The operator's command for it: asks first, names what it withdrew, says when nothing."""
    lead_id = visitor.confirmed()
    asked = market.run_cli("leads", "remove", "ada@example.org", answer="n\n")
    assert asked.exit_code == 1 and "Withdraw every request" in asked.output
    assert [lead.email for lead in leads(market)] == ["ada@example.org"]
    done = market.run_cli("leads", "remove", " ADA@example.org", "--yes")
    assert (
        done.exit_code == 0
        and f"Withdrew 1 request(s) from ada@example.org: {lead_id}." in done.output
    )
    assert [lead.email for lead in leads(market)] == [None]
    again = market.run_cli("leads", "remove", "ada@example.org", "--yes")
    assert again.exit_code == 0 and "nothing to remove" in again.output


# --- robots, limits and bad input ----------------------------------------------------------------


def test_a_filled_honeypot_is_answered_like_anyone_and_nothing_is_kept(
    market: Marketplace, visitor: Visitor
) -> None:
    robot = visitor.contact(website="https://spam.example/")
    person = visitor.contact()
    assert robot.status_code == person.status_code == 200
    assert body(robot) == body(person)
    assert len(leads(market)) == 1
    assert [mail.to for mail in market.mails()] == [VISITOR]
    page = body(visitor.client().get("/partners/contoso-cloud/contact"))
    trap = re.search(r'<div class="cp-field" hidden>.*?</div>', page, re.S)
    assert trap and 'name="website"' in trap.group() and 'autocomplete="off"' in trap.group()
    assert "Leave this field empty" in trap.group()


def test_a_mailbox_gets_a_few_links_and_the_answer_never_says_so(
    app_factory: Callable[..., Flask],
) -> None:
    market = Marketplace(app_factory(MARKETPLACE_RATE_LIMITS="on"))
    visitor = Visitor(market)
    answers = [body(visitor.contact(client=visitor.client(f"192.0.2.{n}"))) for n in range(1, 6)]
    assert len(set(answers)) == 1  # the same page, mailed or held back
    assert len(market.mails(VISITOR)) == 3  # CONTACT_PER_MAILBOX: 3 per hour
    assert len(leads(market)) == 3
    # Another mailbox is not held back by that one.
    assert visitor.contact(email="grace@example.org").status_code == 200
    assert len(market.mails("grace@example.org")) == 1


def test_a_plus_tag_is_the_same_mailbox(app_factory: Callable[..., Flask]) -> None:
    """ada+1@, ada+2@ … reach ada@'s mailbox: they share its limit."""
    market = Marketplace(app_factory(MARKETPLACE_RATE_LIMITS="on"))
    visitor = Visitor(market)
    for n in range(1, 7):
        tagged = VISITOR.replace("@", f"+{n}@")
        assert (
            visitor.contact(email=tagged, client=visitor.client(f"192.0.2.{n}")).status_code == 200
        )
    assert sum(len(market.mails(VISITOR.replace("@", f"+{n}@"))) for n in range(1, 7)) == 3


def test_one_client_address_is_limited(app_factory: Callable[..., Flask]) -> None:
    market = Marketplace(app_factory(MARKETPLACE_RATE_LIMITS="on"))
    visitor = Visitor(market)
    client = visitor.client("198.51.100.7")
    statuses = [
        visitor.contact(client=client, email=f"person{n}@example.org").status_code for n in range(6)
    ]
    assert statuses == [200] * 5 + [429]
    assert visitor.contact(client=visitor.client("198.51.100.8")).status_code == 200


BAD_INPUT = [
    ("name", "", "Enter your name."),
    ("name", "   ", "Enter your name."),
    ("name", "x" * 101, "at most 100 characters"),
    ("name", "Ada\nLovelace", "on one line"),
    ("name", "Ada\u0007", "without control characters"),
    ("email", "", "Enter an e-mail address"),
    ("email", "not an address", "Enter an e-mail address"),
    ("email", "ada@", "Enter an e-mail address"),
    ("email", "äda@example.org", "Enter an e-mail address"),  # no SMTPUTF8 server
    ("company", "x" * 201, "at most 200 characters"),
    ("company", "Acme\u202e", "on one line"),
    ("country", "", "Choose your country"),
    ("country", "XX", "Choose your country"),
    ("country", "united kingdom", "Choose your country"),
    ("message", "", "Write a few words"),
    ("message", " \n ", "Write a few words"),
    ("message", "x" * 2001, "longer than 2,000 characters"),
    ("message", "Hello\u0000there", "control characters"),
    ("message", "Pay \u202eto\u202c us", "control characters"),
    ("consent", None, "Tick the box"),
    ("consent", "0", "Tick the box"),
]


@pytest.mark.parametrize(("field", "value", "problem"), BAD_INPUT)
def test_bad_input_is_shown_beside_its_field_and_nothing_is_kept(
    market: Marketplace, visitor: Visitor, field: str, value: str | None, problem: str
) -> None:
    answer = visitor.contact(**{field: value})
    assert answer.status_code == 400
    page = body(answer)
    beside = re.search(
        rf'<div class="cp-field[^"]*cp-field--error">(?:(?!</div>).)*?name="{field}".*?</div>',
        page,
        re.S,
    )
    assert beside, page
    assert problem in beside.group().replace("&#39;", "'")
    assert page.count('class="cp-error"') == 1  # only the bad field
    assert leads(market) == [] and market.mails() == []
    # What the visitor typed in the other fields is still there.
    if field != "name":
        assert 'value="Ada Lovelace"' in page


def test_every_problem_at_once(market: Marketplace, visitor: Visitor) -> None:
    answer = visitor.contact(name="", email="x", country="", message="", consent=None)
    assert answer.status_code == 400
    assert body(answer).count('class="cp-error"') == 5
    assert leads(market) == []


def test_a_message_keeps_its_lines_and_unicode(market: Marketplace, visitor: Visitor) -> None:
    message = "Привет! 👩‍💻 We need help.\r\n\tLine two"
    visitor.confirmed(message=message, name="Łukasz Żółć", company="")
    key = market.key(PARTNER)
    (lead,) = market.api(key, "GET", "/leads").get_json()["leads"]
    assert lead["message"] == "Привет! 👩‍💻 We need help.\n\tLine two"
    assert lead["name"] == "Łukasz Żółć" and lead["company"] is None


def test_the_address_is_stored_in_its_one_form(market: Marketplace, visitor: Visitor) -> None:
    visitor.contact(email="  Ada@Example.ORG ")
    (lead,) = leads(market)
    assert lead.email == VISITOR
    assert [mail.to for mail in market.mails()] == [VISITOR]


# --- which partner -------------------------------------------------------------------------------


def test_only_a_listed_partner_has_a_contact_page(market: Marketplace, visitor: Visitor) -> None:
    client = visitor.client()
    assert client.get("/partners/no-such-partner/contact").status_code == 404
    token = csrf_token(body(client.get("/partners/contoso-cloud/contact")))
    refused = client.post("/partners/no-such-partner/contact", data={"csrf_token": token, **FIELDS})
    assert refused.status_code == 404
    assert leads(market) == []


def test_a_delisted_partner_gets_no_lead(market: Marketplace, visitor: Visitor) -> None:
    visitor.contact()
    links = visitor.links()
    directory = market.backend.directory
    listings = {slug: item for slug, item in directory.listings.items() if slug != PARTNER}
    market.backend.directory = replace(directory, listings=listings)
    assert visitor.client().get("/partners/contoso-cloud/contact").status_code == 404
    page = visitor.client().get(links["confirm"])
    assert page.status_code == 410 and "no longer listed" in body(page)
    client = visitor.client()
    token = csrf_token(body(client.get("/partners/northwind-secure/contact")))
    done = client.post(links["confirm"], data={"csrf_token": token})
    assert done.status_code == 410 and "no longer listed" in body(done)
    (lead,) = leads(market)
    assert lead.confirmed_at is None
    assert [mail.to for mail in market.mails()] == [VISITOR]
    # The visitor can still withdraw (and so delete) what they sent.
    assert visitor.use(links["withdraw"]).status_code == 200


def test_the_contact_route_wins_over_the_site(market: Marketplace, visitor: Visitor) -> None:
    site = market.backend.settings.site_dir / "partners" / PARTNER
    site.mkdir(parents=True)
    (site / "index.html").write_text("<p>the static page</p>", encoding="utf-8")
    client = visitor.client()
    with client.get(f"/partners/{PARTNER}/") as static:  # a file: close it
        assert "the static page" in body(static)
    form = client.get(f"/partners/{PARTNER}/contact")
    assert form.status_code == 200 and 'name="consent"' in body(form)


def test_the_pages_are_private(market: Marketplace, visitor: Visitor) -> None:
    visitor.contact()
    links = visitor.links()
    client = visitor.client()
    for path in ("/partners/contoso-cloud/contact", links["confirm"], links["withdraw"]):
        response = client.get(path)
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert "<script" not in body(response)


def test_links_need_the_form_token(market: Marketplace, visitor: Visitor) -> None:
    visitor.contact()
    links = visitor.links()
    for link in links.values():
        assert visitor.client().post(link, data={}).status_code == 400
    (lead,) = leads(market)
    assert lead.confirmed_at is None and lead.withdrawn_at is None


# --- Russian -------------------------------------------------------------------------------------


def test_the_form_and_the_mail_in_russian(market: Marketplace, visitor: Visitor) -> None:
    client = visitor.client()
    page = client.get("/partners/contoso-cloud/contact?lang=ru")
    assert page.status_code == 200
    html = body(page)
    assert '<html lang="ru">' in html
    assert "Связаться с" in html and "Соединённое Королевство" in html
    bad = client.post(
        "/partners/contoso-cloud/contact?lang=ru",
        data={"csrf_token": csrf_token(html), **FIELDS, "name": ""},
    )
    assert bad.status_code == 400 and "Укажите ваше имя" in body(bad)
    sent = client.post(
        "/partners/contoso-cloud/contact?lang=ru",
        data={"csrf_token": csrf_token(html), **FIELDS},
    )
    assert "Проверьте почту" in body(sent)
    (mail,) = market.mails(VISITOR)
    assert "Подтвердите" in mail.subject and "-----" not in mail.body  # Russian only
    links = visitor.links()
    assert all(f"{path}?lang=ru" in mail.body for path in links.values())
    preview = client.get(links["confirm"] + "?lang=ru")
    assert "Поделиться" in body(preview)


def test_the_partner_mail_speaks_the_partner_s_languages(
    market: Marketplace, visitor: Visitor
) -> None:
    lead_id = visitor.confirmed()
    (to_contoso,) = market.mails(PARTNER_MAIL)  # Contoso's listing speaks Russian too
    assert to_contoso.subject == f"New lead {lead_id} / Новая заявка {lead_id}"
    assert "Ada Lovelace" in to_contoso.body and "Имя: Ada Lovelace" in to_contoso.body
    assert "Country: United Kingdom" in to_contoso.body
    assert "Страна: Соединённое Королевство" in to_contoso.body
    assert "http://marketplace.test/partner/leads/" in to_contoso.body
    assert f"PATCH /api/v1/leads/{lead_id}" in to_contoso.body
    visitor.contact(slug=OTHER, email="grace@example.org")
    visitor.use(visitor.links("grace@example.org")["confirm"])
    (to_northwind,) = market.mails("kontakt@northwind-secure.example")  # English only
    assert to_northwind.subject.startswith("New lead lead_") and "/" not in to_northwind.subject


# --- the partner API -----------------------------------------------------------------------------


def test_the_api_lists_only_the_caller_s_leads(market: Marketplace, visitor: Visitor) -> None:
    mine = visitor.confirmed()
    key, other_key = market.key(PARTNER), market.key(OTHER)
    assert market.api(other_key, "GET", "/leads").get_json() == {"leads": []}
    for method, body_ in (("PATCH", {"status": "won"}),):
        answer = market.api(other_key, method, f"/leads/{mine}", body_)
        assert answer.status_code == 404 and answer.get_json()["error"] == "not_found"
    paged = market.api(other_key, "GET", f"/leads?before={mine}")
    assert paged.status_code == 400 and paged.get_json()["field"] == "before"
    (lead,) = market.api(key, "GET", "/leads").get_json()["leads"]
    assert lead["status"] == "new"


def test_the_api_pages_newest_first(market: Marketplace, visitor: Visitor) -> None:
    ids = [visitor.confirmed(email=f"p{n}@example.org") for n in range(3)]
    key = market.key(PARTNER)
    first = market.api(key, "GET", "/leads?limit=2").get_json()["leads"]
    assert [lead["id"] for lead in first] == ids[::-1][:2]
    rest = market.api(key, "GET", f"/leads?limit=2&before={first[-1]['id']}").get_json()
    assert [lead["id"] for lead in rest["leads"]] == [ids[0]]
    for query in ("limit=0", "limit=101", "limit=x", "before=%00", "before=lead_nope"):
        answer = market.api(key, "GET", f"/leads?{query}")
        assert answer.status_code == 400, query
        assert answer.get_json()["error"] == "validation_error"


def test_the_api_changes_a_lead_s_status(market: Marketplace, visitor: Visitor) -> None:
    lead_id = visitor.confirmed()
    key = market.key(PARTNER)
    answer = market.api(key, "PATCH", f"/leads/{lead_id}", {"status": "contacted"})
    assert answer.status_code == 200
    assert answer.get_json()["status"] == "contacted" and answer.get_json()["id"] == lead_id
    assert market.api(key, "PATCH", f"/leads/{lead_id}", {"status": "contacted"}).status_code == 200
    (event,) = events(market, "lead.status_changed")
    assert event.details == {"lead": lead_id, "from": "new", "to": "contacted"}
    assert event.partner_slug == PARTNER and event.actor.startswith("partner:contoso-cloud")
    for bad in (
        {"status": "withdrawn"},
        {"status": "WON"},
        {"status": 1},
        {},
        [],
        "won",
        {"status": "won", "name": "x"},
    ):
        refused = market.api(key, "PATCH", f"/leads/{lead_id}", bad)
        assert refused.status_code == 400, bad
        assert refused.get_json()["error"] == "validation_error"
    broken = market.client.patch(
        f"/api/v1/leads/{lead_id}",
        data="{not json",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert broken.status_code == 400 and broken.get_json()["error"] == "validation_error"
    assert market.api(key, "PATCH", "/leads/lead_nope", {"status": "won"}).status_code == 404
    assert market.api(None, "GET", "/leads").status_code == 401
    (shown,) = market.api(key, "GET", "/leads").get_json()["leads"]
    assert shown["status"] == "contacted"
    with market.backend.read() as session:
        assert verify(session).ok


def test_an_unconfirmed_request_is_not_found_by_the_api(
    market: Marketplace, visitor: Visitor
) -> None:
    visitor.contact()
    (lead,) = leads(market)
    key = market.key(PARTNER)
    answer = market.api(key, "PATCH", f"/leads/{lead.id}", {"status": "won"})
    assert answer.status_code == 404


def test_the_api_shape(market: Marketplace, visitor: Visitor) -> None:
    visitor.confirmed()
    key = market.key(PARTNER)
    (lead,) = market.api(key, "GET", "/leads").get_json()["leads"]
    assert set(lead) == {
        "id",
        "created_at",
        "name",
        "email",
        "company",
        "country",
        "message",
        "status",
    }
    assert lead["id"].startswith("lead_")
    document = market.client.get("/api/v1/openapi.json").get_json()
    assert {"/api/v1/leads", "/api/v1/leads/{lead_id}"} <= set(document["paths"])
    schema = document["components"]["schemas"]["Lead"]
    assert set(schema["required"]) == set(lead)


# --- the partner's pages -------------------------------------------------------------------------


def test_the_partner_sees_its_leads_and_records_how_they_go(
    market: Marketplace, visitor: Visitor
) -> None:
    lead_id = visitor.confirmed()
    client = partner_client(market)
    page = client.get("/partner/leads/")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = body(page)
    for value in ("Ada Lovelace", "Analytical Engines Ltd", VISITOR, "United Kingdom", lead_id):
        assert value in html
    assert "We need Teams for 40 people.<br>Can you help before March?" in html
    assert 'aria-current="page">Leads<' in html
    token = csrf_token(html)
    changed = client.post(
        f"/partner/leads/{lead_id}/status", data={"csrf_token": token, "status": "won"}
    )
    assert changed.status_code == 302 and changed.headers["Location"] == "/partner/leads/"
    after = body(client.get("/partner/leads/"))
    assert "Ada Lovelace: the status is now Won." in after
    assert '<option value="won" selected>' in after
    key = market.key(PARTNER)
    assert market.api(key, "GET", "/leads").get_json()["leads"][0]["status"] == "won"
    (event,) = events(market, "lead.status_changed")
    assert "user pu_" in event.actor and PARTNER_USER not in event.actor
    won = body(client.get("/partner/leads/?status=won"))
    assert lead_id in won
    assert lead_id not in body(client.get("/partner/leads/?status=new"))


def test_the_partner_pages_refuse_what_cannot_be(market: Marketplace, visitor: Visitor) -> None:
    lead_id = visitor.confirmed()
    client = partner_client(market)
    token = csrf_token(body(client.get("/partner/leads/")))
    url = f"/partner/leads/{lead_id}/status"
    bad = client.post(url, data={"csrf_token": token, "status": "withdrawn"})
    assert bad.status_code == 400 and "Choose one of the statuses" in body(bad)
    assert client.post(url, data={"status": "won"}).status_code == 400  # no form token
    assert (
        client.post(
            "/partner/leads/lead_nope/status", data={"csrf_token": token, "status": "won"}
        ).status_code
        == 404
    )
    visitor.use(visitor.links()["withdraw"])
    page = body(client.get("/partner/leads/"))
    assert "Withdrawn lead" in page and "Ada" not in page and VISITOR not in page
    assert f'action="/partner/leads/{lead_id}/status"' not in page  # no form for it
    refused = client.post(url, data={"csrf_token": token, "status": "won"})
    assert refused.status_code == 409 and "withdrew this lead" in body(refused)
    assert lead_id in body(client.get("/partner/leads/?status=withdrawn"))
    assert events(market, "lead.status_changed") == []


def test_a_partner_never_sees_another_partner_s_leads(
    market: Marketplace, visitor: Visitor
) -> None:
    contoso_lead = visitor.confirmed()
    northwind = partner_client(market, OTHER, "sales@northwind-secure.example")
    page = body(northwind.get("/partner/leads/"))
    assert contoso_lead not in page and "Ada" not in page and "No leads yet" in page
    token = csrf_token(page)
    answer = northwind.post(
        f"/partner/leads/{contoso_lead}/status", data={"csrf_token": token, "status": "lost"}
    )
    assert answer.status_code == 404
    assert "Ada" not in body(northwind.get(f"/partner/leads/?before={contoso_lead}"))
    key = market.key(PARTNER)
    assert market.api(key, "GET", "/leads").get_json()["leads"][0]["status"] == "new"
    # Nor does a visitor, or a customer: the list is for the partner's signed-in users.
    anonymous = market.app.test_client().get("/partner/leads/")
    assert anonymous.status_code == 302 and "/partner/signin" in anonymous.headers["Location"]


def test_the_partner_list_pages(
    market: Marketplace, visitor: Visitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lead_pages, "PER_PAGE", 2)
    ids = [visitor.confirmed(email=f"p{n}@example.org") for n in range(3)]
    client = partner_client(market)
    first = body(client.get("/partner/leads/"))
    assert ids[2] in first and ids[1] in first and ids[0] not in first
    older = re.search(r'href="(/partner/leads/\?before=[^"]+)">Older leads', first)
    assert older
    second = body(client.get(older.group(1).replace("&amp;", "&")))
    assert ids[0] in second and ids[1] not in second and "Older leads" not in second


def test_the_partner_list_in_russian(market: Marketplace, visitor: Visitor) -> None:
    visitor.confirmed()
    client = partner_client(market)
    page = body(client.get("/partner/leads/?lang=ru"))
    assert "<h1>Заявки</h1>" in page
    assert "Новая" in page and "Выиграна" in page and "Отозвана посетителем" in page
    assert "Соединённое Королевство" in page
