"""`marketplace partners add-user | list-users | remove-user`: audited, one clear line and exit
status 1 for every mistake, nothing changed by a refused command."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import func, select

from consent_app.models import AuditEvent, PartnerUserAccount
from marketplace_app.cli import main
from tests.consent_app.conftest import Marketplace
from tests.consent_app.partner_portal import partner_client


def users(market: Marketplace) -> list[tuple[str, str]]:
    with market.backend.read() as session:
        rows = session.execute(
            select(PartnerUserAccount.partner_slug, PartnerUserAccount.email).order_by(
                PartnerUserAccount.id
            )
        )
        return [(slug, email) for slug, email in rows]


def events(market: Marketplace) -> int:
    with market.backend.read() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def test_add_list_and_remove_users(market: Marketplace) -> None:
    added = market.run_cli("partners", "add-user", "contoso-cloud", "Sales@Contoso.Example")
    assert added.exit_code == 0, added.output
    assert "sales@contoso.example may now sign in" in added.output
    assert "/partner/signin)" in added.output
    market.run_cli("partners", "add-user", "cape-collaboration", "ops@cape.example")
    listed = market.run_cli("partners", "list-users")
    assert listed.exit_code == 0
    lines = listed.output.strip().splitlines()
    assert lines[0].startswith("cape-collaboration  ops@cape.example  pu_")
    assert lines[1].startswith("contoso-cloud  sales@contoso.example  pu_")
    one = json.loads(market.run_cli("partners", "list-users", "contoso-cloud", "--json").output)
    assert [(row["partner"], row["email"], row["listed"]) for row in one] == [
        ("contoso-cloud", "sales@contoso.example", True)
    ]
    assert one[0]["ref"].startswith("pu_") and "created_at" in one[0]
    removed = market.run_cli("partners", "remove-user", "contoso-cloud", "SALES@contoso.example")
    assert removed.exit_code == 0, removed.output
    assert "can no longer sign in" in removed.output
    assert users(market) == [("cape-collaboration", "ops@cape.example")]
    with market.backend.read() as session:
        actions = [
            (action, slug, actor)
            for action, slug, actor in session.execute(
                select(AuditEvent.action, AuditEvent.partner_slug, AuditEvent.actor).where(
                    AuditEvent.action.like("partner_user.%")
                )
            )
        ]
    assert [(a, s) for a, s, _ in actions] == [
        ("partner_user.added", "contoso-cloud"),
        ("partner_user.added", "cape-collaboration"),
        ("partner_user.removed", "contoso-cloud"),
    ]
    assert all(actor.startswith("operator:") for _, _, actor in actions)
    assert market.run_cli("audit", "verify").exit_code == 0


def test_empty_list(market: Marketplace) -> None:
    result = market.run_cli("partners", "list-users")
    assert result.exit_code == 0 and "No partner users" in result.output
    assert json.loads(market.run_cli("partners", "list-users", "--json").output) == []


def test_mistakes_are_one_line_and_change_nothing(market: Marketplace) -> None:
    market.run_cli("partners", "add-user", "contoso-cloud", "sales@contoso.example")
    before = (users(market), events(market))
    cases = {
        ("add-user", "no-such-partner", "a@b.example"): "no listing has the slug 'no-such-partner'",
        (
            "add-user",
            "contoso-cloud",
            "not-an-address",
        ): "'not-an-address' is not an e-mail address",
        (
            "add-user",
            "contoso-cloud",
            "SALES@contoso.example",
        ): "is a user of contoso-cloud already",
        (
            "remove-user",
            "contoso-cloud",
            "nobody@contoso.example",
        ): "is not a user of contoso-cloud",
        ("remove-user", "no-such-partner", "a@b.example"): "no listing has the slug",
        ("remove-user", "contoso-cloud", "bad address"): "is not an e-mail address",
    }
    for args, message in cases.items():
        result = market.run_cli("partners", *args)
        assert result.exit_code == 1, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
        assert message in lines[0], (args, lines)
        assert "Traceback" not in result.output
    assert (users(market), events(market)) == before
    assert market.run_cli("partners", "add-user", "contoso-cloud").exit_code == 2  # usage


def test_delisted_partners_users_are_listed_as_such_and_can_be_removed(
    market: Marketplace,
) -> None:
    from dataclasses import replace

    market.run_cli("partners", "add-user", "contoso-cloud", "sales@contoso.example")
    directory = market.backend.directory
    listings = {slug: item for slug, item in directory.listings.items() if slug != "contoso-cloud"}
    # The CLI reads the installation's snapshot; the in-process domain sees the new directory.
    market.backend.directory = replace(directory, listings=listings)
    from consent_app.partner_sessions import remove_user
    from tests.consent_app.conftest import OPERATOR

    market.backend.run(
        lambda uow: remove_user(uow, "contoso-cloud", "sales@contoso.example", OPERATOR)
    )
    assert users(market) == []


def test_help_texts(market: Marketplace) -> None:
    for command in ("add-user", "list-users", "remove-user"):
        result = market.run_cli("partners", command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output
    top = CliRunner().invoke(main, ["partners", "--help"]).output
    assert "contact address is not a user" in top.replace("\n", " ").replace("  ", " ")


def test_a_user_added_on_the_command_line_signs_in(market: Marketplace) -> None:
    market.run_cli("partners", "add-user", "contoso-cloud", "sales@contoso.example")
    client = partner_client(market, register=False)
    assert client.get("/partner/").status_code == 200
