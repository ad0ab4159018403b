"""The audit log is append-only and hash-chained: `marketplace audit verify` finds an edited,
deleted or inserted row (SPEC §5)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, func, select, update

from consent_app.audit import GENESIS, verify
from consent_app.models import AuditChainHead, AuditEvent
from marketplace.cli import main
from tests.conftest import EXAMPLE_LISTINGS
from tests.consent_app.conftest import CHECKED, TENANT, Marketplace


@pytest.fixture
def history(market: Marketplace) -> Marketplace:
    """A tenant with a few decisions: tenant created, invitations, DA granted and replaced."""
    market.add_tenant()
    contoso, cape = market.key("contoso-cloud"), market.key("cape-collaboration")
    market.invite(contoso, delegated_admin=True)
    market.decide(market.link(), authorize_delegated_admin=CHECKED, make_partner_of_record=CHECKED)
    market.invite(cape, offer_id="intranet-trial", delegated_admin=True)
    market.decide(
        market.link(),
        authorize_delegated_admin=CHECKED,
        confirm_replace_delegated_admin=CHECKED,
        seen_delegated_admin="contoso-cloud",
    )
    return market


def tenant_events(market: Marketplace) -> list[AuditEvent]:
    with market.backend.read() as session:
        query = select(AuditEvent).where(AuditEvent.chain == f"tenant:{TENANT}")
        return list(session.execute(query.order_by(AuditEvent.seq)).scalars())


def problems(market: Marketplace) -> list[str]:
    with market.backend.read() as session:
        return verify(session).problems


def cli_verify(market: Marketplace) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        [
            "audit",
            "verify",
            "--instance",
            str(market.backend.settings.instance_dir),
            "--listings",
            str(EXAMPLE_LISTINGS),
        ],
        env={"MARKETPLACE_DATABASE_URL": market.backend.settings.database_url},
    )
    return result.exit_code, result.output


def test_an_untouched_log_verifies(history: Marketplace) -> None:
    events = tenant_events(history)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert problems(history) == []
    code, output = cli_verify(history)
    assert code == 0 and "Audit log intact" in output


def test_an_edited_row_is_found(history: Marketplace) -> None:
    target = tenant_events(history)[3]
    with history.backend.write() as session:
        session.execute(
            update(AuditEvent)
            .where(AuditEvent.id == target.id)
            .values(actor="customer:someone-else")
        )
    [problem] = problems(history)
    assert f"event {target.seq}" in problem and "changed" in problem
    code, output = cli_verify(history)
    assert code == 1 and "changed after it was written" in output


def test_an_edited_row_with_a_recomputed_hash_is_found(history: Marketplace) -> None:
    """Rewriting one event's hash to match its new content breaks the link to the next one."""
    from consent_app.audit import event_hash

    events = tenant_events(history)
    target = events[2]
    with history.backend.write() as session:
        row = session.get(AuditEvent, target.id)
        assert row is not None
        row.details = {**row.details, "delegated_admin_granted": False}
        row.hash = event_hash(row)
    found = problems(history)
    assert any(f"event {target.seq + 1}" in p and "does not link" in p for p in found)


def test_a_deleted_middle_row_is_found(history: Marketplace) -> None:
    target = tenant_events(history)[2]
    with history.backend.write() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id == target.id))
    found = problems(history)
    assert any("rows are missing" in p for p in found)
    assert cli_verify(history)[0] == 1


def test_a_deleted_last_row_is_found(history: Marketplace) -> None:
    last = tenant_events(history)[-1]
    with history.backend.write() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id == last.id))
    [problem] = problems(history)
    assert "should end at event" in problem


def test_a_deleted_chain_is_found(history: Marketplace) -> None:
    with history.backend.write() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.chain == f"tenant:{TENANT}"))
    assert any(f"tenant:{TENANT}" in p for p in problems(history))


def test_chains_are_per_tenant(history: Marketplace) -> None:
    history.add_tenant("other.onmicrosoft.com", "Other", ("it@other.example",))
    with history.backend.read() as session:
        chains = set(session.execute(select(AuditChainHead.chain)).scalars())
        other = session.execute(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.tenant_domain == "other.onmicrosoft.com"
            )
        ).scalar_one()
    assert {f"tenant:{TENANT}", "tenant:other.onmicrosoft.com"} <= chains
    assert "partner:contoso-cloud" in chains  # key issuance
    assert other == 1  # its own chain starts at its own first event
    assert problems(history) == []


def test_every_event_says_who_and_from_where(history: Marketplace) -> None:
    for event in tenant_events(history):
        assert event.actor.split(":")[0] in {"operator", "partner", "customer", "system"}
        if event.actor.startswith(("partner:", "customer:")):
            assert event.remote_addr  # the test client's address


def test_cli_verify_on_an_empty_installation(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["audit", "verify", "--instance", str(tmp_path / "i"), "--listings", str(EXAMPLE_LISTINGS)],
    )
    assert result.exit_code == 0 and "0 events" in result.output
