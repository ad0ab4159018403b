"""The audit log: each chain is keyed (HMAC under a key kept outside the database), the state
of tenants, invitations and roles implies events that must be there, anchors kept outside the
database catch a rewound chain, and `audit verify` reports every bad row and never crashes
(README: Mail, audit and data)."""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from click.testing import CliRunner, Result
from sqlalchemy import delete, func, select, text, update

from consent_app.audit import (
    DECIDED_STATES,
    GENESIS,
    MAX_DEPTH,
    event_hash,
    record,
    tenant_chain,
    verify,
)
from consent_app.db import (
    AUDIT_KEY,
    MIGRATIONS_DIR,
    Database,
    alembic_config,
    current_revision,
    upgrade,
    utcnow,
)
from consent_app.instance import audit_key, secret_key
from consent_app.models import (
    INVITATION_STATES,
    AuditChainHead,
    AuditEvent,
    PartnerKey,
    Tenant,
    TenantAdmin,
)
from consent_app.partners import revoke_key
from consent_app.tenants import add_admin, find_tenant
from marketplace_app.cli import main
from tests.consent_app.conftest import CHECKED, OPERATOR, TENANT, Marketplace, csrf_token


def chain_of(market: Marketplace, domain: str = TENANT) -> str:
    """The audit chain of a tenant: named by its opaque subject, not by its domain."""
    with market.backend.read() as session:
        chain = tenant_chain(session, domain)
    assert chain is not None and domain not in chain
    return chain


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


def tenant_events(market: Marketplace, chain: str | None = None) -> list[AuditEvent]:
    chain = chain or chain_of(market)
    with market.backend.read() as session:
        query = select(AuditEvent).where(AuditEvent.chain == chain)
        return list(session.execute(query.order_by(AuditEvent.seq)).scalars())


def problems(market: Marketplace) -> list[str]:
    with market.backend.read() as session:
        return verify(session).problems


def cli(market: Marketplace, *args: str) -> Result:
    """Run a command that must end with an exit code and a message, never a traceback."""
    return market.run_cli(*args)


def cli_verify(market: Marketplace, *args: str) -> tuple[int, str]:
    result = cli(market, "audit", "verify", *args)
    return result.exit_code, result.output


def on_customer_page(market: Marketplace, path: str, **form: str) -> None:
    """What the signed-in customer does on their page (revoke DA, name a partner of record)."""
    client = market.sign_in()
    token = csrf_token(client.get("/account/").get_data(as_text=True))
    response = client.post(path, data={"csrf_token": token, **form})
    assert response.status_code == 302, response.get_data(as_text=True)


def revoke(market: Marketplace, partner: str) -> None:
    on_customer_page(market, "/account/delegated-admin/revoke", partner=partner, confirm="y")


def restore_role(market: Marketplace, table: str, partner: str, *, every_trace: bool) -> None:
    """What someone with write access to the database does to undo a role's end: clear its
    end time (and, with `every_trace`, who ended it and why)."""
    clear = "ended_at = NULL" + (", ended_by = NULL, end_reason = NULL" if every_trace else "")
    query = f"UPDATE {table} SET {clear} WHERE partner_slug = :p AND ended_at IS NOT NULL"  # noqa: S608
    with market.backend.write() as session:
        restored = session.execute(text(query), {"p": partner})
        assert restored.rowcount == 1  # type: ignore[attr-defined]


def rewind(market: Marketplace, chain: str, to_seq: int) -> None:
    """What someone with write access to the database does to hide the newest events: delete
    them and move the head back to the event before."""
    with market.backend.write() as session:
        session.execute(
            delete(AuditEvent).where(AuditEvent.chain == chain, AuditEvent.seq > to_seq)
        )
        kept = session.execute(
            select(AuditEvent).where(AuditEvent.chain == chain, AuditEvent.seq == to_seq)
        ).scalar_one()
        session.execute(
            update(AuditChainHead)
            .where(AuditChainHead.chain == chain)
            .values(seq=kept.seq, hash=kept.hash)
        )


def unkeyed_hash(row: dict[str, Any]) -> str:
    """The hash this log used before it was keyed (plain SHA-256 of the canonical JSON): what
    anyone can compute without the audit key."""
    content = {
        "chain": row["chain"],
        "seq": row["seq"],
        "occurred_at": row["occurred_at"],
        "actor": row["actor"],
        "action": row["action"],
        "tenant": row["tenant_domain"],
        "partner": row["partner_slug"],
        "invitation": row["invitation_id"],
        "details": row["details"],
        "remote_addr": row["remote_addr"],
        "prev_hash": row["prev_hash"],
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def rehash_with_sha256(market: Marketplace, chain: str | None = None) -> None:
    """Recompute chains (one, or all) and their heads with the unkeyed scheme, as an attacker
    without the key (or the code before the key) would."""
    with market.backend.write() as session:
        query = select(AuditEvent).order_by(AuditEvent.chain, AuditEvent.seq)
        if chain:
            query = query.where(AuditEvent.chain == chain)
        previous: dict[str, str] = {}
        for event in session.execute(query).scalars():
            event.prev_hash = previous.get(event.chain, GENESIS)
            event.hash = unkeyed_hash(
                {
                    **{c: getattr(event, c) for c in ("chain", "seq", "actor", "action")},
                    "occurred_at": event.occurred_at.isoformat(),
                    "tenant_domain": event.tenant_ref,
                    "partner_slug": event.partner_slug,
                    "invitation_id": event.invitation_id,
                    "details": event.details,
                    "remote_addr": event.remote_addr,
                    "prev_hash": event.prev_hash,
                }
            )
            previous[event.chain] = event.hash
        for name, newest in previous.items():
            session.execute(
                update(AuditChainHead).where(AuditChainHead.chain == name).values(hash=newest)
            )


# --- an intact log ------------------------------------------------------------------------------


def test_an_untouched_log_verifies(history: Marketplace) -> None:
    events = tenant_events(history)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert problems(history) == []
    code, output = cli_verify(history)
    assert code == 0 and "Audit log intact" in output


def test_chains_are_per_tenant(history: Marketplace) -> None:
    history.add_tenant("other.onmicrosoft.com", "Other", ("it@other.example",))
    with history.backend.read() as session:
        chains = set(session.execute(select(AuditChainHead.chain)).scalars())
        other = session.execute(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.chain == tenant_chain(session, "other.onmicrosoft.com")
            )
        ).scalar_one()
    assert {chain_of(history), chain_of(history, "other.onmicrosoft.com")} <= chains
    assert "partner:contoso-cloud" in chains  # key issuance
    assert other == 1  # its own chain starts at its own first event
    assert problems(history) == []


def test_every_event_says_who_and_from_where(history: Marketplace) -> None:
    for event in tenant_events(history):
        assert event.actor.split(":")[0] in {"operator", "partner", "customer", "system"}
        if event.actor.startswith(("partner:", "customer:")):
            assert event.remote_addr  # the test client's address


def test_cli_verify_on_an_empty_installation(tmp_path: Path) -> None:
    instance = ["--instance", str(tmp_path / "i")]
    # A mistyped --instance is no installation, not an empty and healthy one.
    missing = CliRunner().invoke(main, ["audit", "verify", *instance])
    assert missing.exit_code == 1 and "no installation" in missing.output
    assert not (tmp_path / "i" / "marketplace.sqlite3").exists()
    assert CliRunner().invoke(main, ["db", "upgrade", *instance]).exit_code == 0
    result = CliRunner().invoke(main, ["audit", "verify", *instance])
    assert result.exit_code == 0 and "0 events" in result.output


# --- edited, inserted and deleted rows ----------------------------------------------------------


def test_an_edited_row_is_found(history: Marketplace) -> None:
    target = tenant_events(history)[3]
    with history.backend.write() as session:
        session.execute(
            update(AuditEvent)
            .where(AuditEvent.id == target.id)
            .values(actor="customer:someone-else")
        )
    [problem] = problems(history)
    assert f"event {target.seq} (id {target.id})" in problem and "changed" in problem
    code, output = cli_verify(history)
    assert code == 1 and "changed after it was written" in output


def test_an_edited_row_with_a_recomputed_hash_is_found(history: Marketplace) -> None:
    """Rewriting one event's hash to match its new content breaks the link to the next one."""
    events = tenant_events(history)
    target = events[2]
    key = audit_key(history.backend.settings.instance_dir)
    with history.backend.write() as session:
        row = session.get(AuditEvent, target.id)
        assert row is not None
        row.details = {**row.details, "delegated_admin_granted": False}
        row.hash = event_hash(key, row)
    found = problems(history)
    assert any(f"event {target.seq + 1}" in p and "does not link" in p for p in found)


def test_an_edit_with_every_later_hash_recomputed_is_found(history: Marketplace) -> None:
    """Without the audit key, nobody can recompute a chain that verifies: the plain SHA-256
    chain the log used before it was keyed could be rewritten end to end, head included."""
    target = tenant_events(history)[4]
    assert target.action == "invitation.accepted"
    with history.backend.write() as session:
        row = session.get(AuditEvent, target.id)
        assert row is not None
        row.details = {**row.details, "delegated_admin_granted": False}
    rehash_with_sha256(history, chain_of(history))
    found = problems(history)
    assert found, "a chain recomputed without the key verified"
    assert any(f"(id {target.id})" in p for p in found)
    assert cli_verify(history)[0] == 1


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
    found = problems(history)
    assert any("should end at event" in p for p in found)


def test_a_deleted_chain_is_found(history: Marketplace) -> None:
    with history.backend.write() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.chain == chain_of(history)))
    assert any(chain_of(history) in p for p in problems(history))


# --- what the state implies ---------------------------------------------------------------------


def test_a_chain_deleted_with_its_head_is_found(history: Marketplace) -> None:
    """The tenant and its invitations are still there: their events must be too."""
    with history.backend.write() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.chain == chain_of(history)))
        session.execute(delete(AuditChainHead).where(AuditChainHead.chain == chain_of(history)))
    found = problems(history)
    assert any(TENANT in p and "tenant.created" in p for p in found)
    assert any("invitation.accepted" in p for p in found)
    code, output = cli_verify(history)
    assert code == 1 and "tenant.created" in output


def test_the_last_events_deleted_and_the_head_rewound_are_found(history: Marketplace) -> None:
    """A keyed chain cut short and its head moved back is a valid shorter chain; the accepted
    invitation and the active grant it leaves behind without their events give it away."""
    events = tenant_events(history)
    granted = next(
        e for e in reversed(events) if e.action == "delegated_admin.granted"
    )  # cape-collaboration's
    rewind(history, chain_of(history), granted.seq - 1)
    found = problems(history)
    assert granted.invitation_id is not None
    assert any("invitation.accepted" in p and granted.invitation_id in p for p in found)
    assert any("delegated_admin.granted" in p and "cape-collaboration" in p for p in found)


def test_a_partner_of_record_named_on_the_customer_page_implies_its_event(
    history: Marketplace,
) -> None:
    set_partner_of_record(history, "cape-collaboration")
    last = tenant_events(history)[-1]
    assert last.action == "partner_of_record.set", last.action
    rewind(history, chain_of(history), last.seq - 1)
    assert any("partner_of_record.set" in p for p in problems(history))


def set_partner_of_record(market: Marketplace, partner: str | None) -> None:
    form = (
        {"action": "set", "partner": partner}
        if partner
        else {"action": "clear", "confirm_clear": "y"}
    )
    on_customer_page(market, "/account/partner-of-record", **form)


def test_a_hidden_api_key_is_found(history: Marketplace) -> None:
    """A key whose issuance was cut from its partner's chain is a key nobody knows about."""
    history.key("contoso-cloud")
    rewind(history, "partner:contoso-cloud", 1)
    assert any("key.issued" in p and "contoso-cloud" in p for p in problems(history))


def test_a_hidden_revocation_is_found(history: Marketplace) -> None:

    with history.backend.read() as session:
        key_id = session.execute(select(PartnerKey.key_id).limit(1)).scalar_one()
    with history.backend.write() as session:
        slug = revoke_key(session, key_id, OPERATOR)
    newest = tenant_events(history, f"partner:{slug}")[-1]
    assert newest.action == "key.revoked"
    rewind(history, f"partner:{slug}", newest.seq - 1)
    assert any("key.revoked" in p and key_id in p for p in problems(history))


def test_every_implied_event_is_there_after_each_kind_of_change(history: Marketplace) -> None:
    contoso = history.key("contoso-cloud")
    history.invite(contoso)
    history.decide(history.link(), decision="decline")
    created = history.invite(contoso).get_json()["id"]
    assert history.api(contoso, "POST", f"/invitations/{created}/cancel").status_code == 200
    assert problems(history) == []


# --- roles and admins the log says were ended or never given ------------------------------------


def test_an_undone_revocation_is_found(history: Marketplace) -> None:
    """The customer revoked DA; the grant's end is cleared in the database, its event kept."""
    revoke(history, "cape-collaboration")
    assert problems(history) == []
    restore_role(history, "delegated_admin_grants", "cape-collaboration", every_trace=True)
    found = problems(history)
    assert any(
        "cape-collaboration" in p and "delegated_admin.ended" in p and "undone" in p for p in found
    ), found
    code, output = cli_verify(history)
    assert code == 1 and "cape-collaboration" in output


def test_an_undone_revocation_with_its_event_cut_is_found(
    history: Marketplace, tmp_path: Path
) -> None:
    """The end is cleared and its event cut with the head moved back: the row still says who
    ended it; once that is cleared too, the chain is a valid shorter one and only an anchor
    taken after the revocation can tell."""
    revoke(history, "cape-collaboration")
    ended = tenant_events(history)[-1]
    assert ended.action == "delegated_admin.ended"
    anchors = tmp_path / "anchors.jsonl"
    anchor(history, anchors)
    restore_role(history, "delegated_admin_grants", "cape-collaboration", every_trace=False)
    rewind(history, chain_of(history), ended.seq - 1)
    found = problems(history)
    assert any("cape-collaboration" in p and "undone" in p for p in found), found
    with history.backend.write() as session:
        session.execute(
            text("UPDATE delegated_admin_grants SET ended_by = NULL, end_reason = NULL")
        )
    assert problems(history) == []
    code, output = cli_verify(history, "--anchors", str(anchors))
    assert code == 1 and chain_of(history) in output and "rewound" in output


def test_an_ended_role_without_its_end_event_is_found(history: Marketplace) -> None:
    revoke(history, "cape-collaboration")
    ended = tenant_events(history)[-1]
    rewind(history, chain_of(history), ended.seq - 1)
    found = problems(history)
    assert any("cape-collaboration" in p and "delegated_admin.ended" in p for p in found), found


def test_an_undone_end_of_a_partner_of_record_is_found(history: Marketplace) -> None:
    set_partner_of_record(history, "cape-collaboration")  # ends contoso-cloud's
    set_partner_of_record(history, None)  # ends cape-collaboration's
    assert problems(history) == []
    restore_role(history, "partners_of_record", "cape-collaboration", every_trace=True)
    found = problems(history)
    assert any("cape-collaboration" in p and "partner_of_record.cleared" in p for p in found), found


def test_a_partner_of_record_replaced_on_the_page_needs_that_event(history: Marketplace) -> None:
    set_partner_of_record(history, "cape-collaboration")
    changed = tenant_events(history)[-1]
    assert changed.details["previous"] == "contoso-cloud"
    rewind(history, chain_of(history), changed.seq - 1)
    with history.backend.write() as session:  # hide that cape-collaboration holds it now
        session.execute(
            text("DELETE FROM partners_of_record WHERE partner_slug = 'cape-collaboration'")
        )
    found = problems(history)
    assert any("contoso-cloud" in p and "partner_of_record" in p for p in found), found


def test_roles_ended_and_given_again_verify(history: Marketplace) -> None:
    """Legitimate histories raise no alarm: DA revoked and granted again to the same partner,
    a partner of record changed, cleared and named again."""
    revoke(history, "cape-collaboration")
    cape = history.key("cape-collaboration")
    history.invite(cape, offer_id="intranet-trial", delegated_admin=True)
    accepted = history.decide(history.link(), authorize_delegated_admin=CHECKED)
    assert accepted.status_code in (200, 302), accepted.get_data(as_text=True)
    set_partner_of_record(history, "cape-collaboration")
    set_partner_of_record(history, None)
    set_partner_of_record(history, "contoso-cloud")
    set_partner_of_record(history, "cape-collaboration")
    actions = [e.action for e in tenant_events(history)]
    assert actions.count("delegated_admin.granted") == 3
    assert actions.count("delegated_admin.ended") == 2
    assert problems(history) == []


def test_an_admin_added_in_the_database_is_found(history: Marketplace) -> None:
    with history.backend.write() as session:
        tenant = find_tenant(session, TENANT)
        assert tenant is not None
        session.add(
            TenantAdmin(tenant_id=tenant.id, email="mallory@evil.example", verified_at=utcnow())
        )
    found = problems(history)
    assert any(TENANT in p and "mallory@evil.example" in p for p in found), found
    code, output = cli_verify(history)
    assert code == 1 and "mallory@evil.example" in output


def test_an_added_admin_implies_its_event(history: Marketplace) -> None:
    with history.backend.write() as session:
        tenant = find_tenant(session, TENANT)
        assert tenant is not None
        add_admin(session, tenant, "second@fabrikam.example", OPERATOR)
    assert problems(history) == []
    added = tenant_events(history)[-1]
    assert added.action == "tenant.admin_added"
    rewind(history, chain_of(history), added.seq - 1)
    assert any("second@fabrikam.example" in p for p in problems(history))


# --- anchors ------------------------------------------------------------------------------------


def anchor(market: Marketplace, to: Path) -> Result:
    result = cli(market, "audit", "anchor", "--to", str(to))
    assert result.exit_code == 0, result.output
    return result


def test_anchor_appends_one_line_of_heads_per_run(history: Marketplace, tmp_path: Path) -> None:
    anchors = tmp_path / "elsewhere" / "anchors.jsonl"
    anchors.parent.mkdir()
    anchor(history, anchors)
    history.add_tenant("other.onmicrosoft.com", "Other", ("it@other.example",))
    anchor(history, anchors)
    first, second = (json.loads(line) for line in anchors.read_text().splitlines())
    heads = {head["chain"]: head for head in second["heads"]}
    newest = tenant_events(history)[-1]
    assert (
        heads[chain_of(history)]["seq"] == newest.seq
        and heads[chain_of(history)]["hash"] == newest.hash
    )
    assert chain_of(history, "other.onmicrosoft.com") in heads
    assert chain_of(history, "other.onmicrosoft.com") not in {
        head["chain"] for head in first["heads"]
    }
    assert first["anchored_at"] <= second["anchored_at"]
    code, output = cli_verify(history, "--anchors", str(anchors))
    assert code == 0, output


def test_anchor_without_a_file_prints_the_line(history: Marketplace) -> None:
    result = cli(history, "audit", "anchor")
    assert result.exit_code == 0
    line = json.loads(result.stdout.strip())
    assert chain_of(history) in {head["chain"] for head in line["heads"]}


def test_a_rewind_behind_an_anchor_is_found(history: Marketplace, tmp_path: Path) -> None:
    """Events nothing else implies (a customer's sign-in) cut off behind an anchored head."""
    anchors = tmp_path / "anchors.jsonl"
    history.sign_in()
    anchor(history, anchors)
    newest = tenant_events(history)[-1]
    assert newest.action == "customer.signed_in"
    rewind(history, chain_of(history), newest.seq - 1)
    assert problems(history) == []  # a valid, shorter chain: only the anchor knows
    code, output = cli_verify(history, "--anchors", str(anchors))
    assert code == 1 and chain_of(history) in output and "rewound" in output


def test_a_chain_rewritten_with_the_key_is_found_by_its_anchor(
    history: Marketplace, tmp_path: Path
) -> None:
    """Even someone holding the audit key cannot rewrite what an anchor has recorded."""
    anchors = tmp_path / "anchors.jsonl"
    anchor(history, anchors)
    key = audit_key(history.backend.settings.instance_dir)
    with history.backend.write() as session:
        events = session.execute(
            select(AuditEvent).where(AuditEvent.chain == chain_of(history)).order_by(AuditEvent.seq)
        ).scalars()
        previous = GENESIS
        for event in events:
            if event.action == "invitation.accepted":
                event.details = {**event.details, "partner_of_record": False}
            event.prev_hash = previous
            event.hash = previous = event_hash(key, event)
        session.execute(
            update(AuditChainHead)
            .where(AuditChainHead.chain == chain_of(history))
            .values(hash=previous)
        )
    assert problems(history) == []
    code, output = cli_verify(history, "--anchors", str(anchors))
    assert code == 1 and "differs from the anchor" in output


def test_a_chain_removed_with_everything_that_implied_it_is_found_by_its_anchor(
    history: Marketplace, tmp_path: Path
) -> None:
    history.add_tenant("other.onmicrosoft.com", "Other", ("it@other.example",))
    anchors = tmp_path / "anchors.jsonl"
    anchor(history, anchors)
    other = chain_of(history, "other.onmicrosoft.com")
    with history.backend.write() as session:
        session.execute(delete(Tenant).where(Tenant.domain == "other.onmicrosoft.com"))
        session.execute(delete(AuditEvent).where(AuditEvent.chain == other))
        session.execute(delete(AuditChainHead).where(AuditChainHead.chain == other))
    assert problems(history) == []
    code, output = cli_verify(history, "--anchors", str(anchors))
    assert code == 1 and other in output and "gone" in output


def test_a_broken_anchor_file_is_reported_not_a_traceback(
    history: Marketplace, tmp_path: Path
) -> None:
    anchors = tmp_path / "anchors.jsonl"
    anchor(history, anchors)
    with anchors.open("a") as handle:
        handle.write('{"heads": [{"chain": 1}]}\nnot json\n')
    code, output = cli_verify(history, "--anchors", str(anchors))
    assert code == 1 and "line 2" in output and "line 3" in output
    missing = cli(history, "audit", "verify", "--anchors", str(tmp_path / "nope.jsonl"))
    assert missing.exit_code != 0 and "Traceback" not in missing.output
    assert "nope.jsonl" in missing.output


def test_anchor_to_a_missing_folder_is_one_line(history: Marketplace, tmp_path: Path) -> None:
    result = cli(history, "audit", "anchor", "--to", str(tmp_path / "no" / "anchors.jsonl"))
    assert result.exit_code != 0 and result.exception is not None
    assert isinstance(result.exception, SystemExit)
    assert len(result.output.strip().splitlines()) == 1


# --- malformed rows -----------------------------------------------------------------------------


def test_malformed_rows_are_reported_by_id_and_verify_goes_on(
    history: Marketplace, database_kind: str
) -> None:
    if database_kind != "sqlite":
        pytest.skip("PostgreSQL's column types refuse such values")
    events = tenant_events(history)
    bad_details, bad_time, bad_seq = events[1], events[3], events[5]
    with history.backend.write() as session:
        session.execute(
            text("UPDATE audit_events SET details = '{not json' WHERE id = :id"),
            {"id": bad_details.id},
        )
        session.execute(
            text("UPDATE audit_events SET occurred_at = 'last tuesday' WHERE id = :id"),
            {"id": bad_time.id},
        )
        session.execute(
            text("UPDATE audit_events SET seq = 'six' WHERE id = :id"), {"id": bad_seq.id}
        )
        session.execute(
            text("UPDATE audit_events SET details = 'null', remote_addr = NULL WHERE id = :id"),
            {"id": events[7].id},
        )
    found = problems(history)
    for event in (bad_details, bad_time, bad_seq, events[7]):
        assert any(f"(id {event.id})" in p for p in found), (event.id, found)
    code, output = cli_verify(history)
    assert code == 1 and "Traceback" not in output
    assert f"(id {bad_details.id})" in output and "JSON" in output
    assert f"(id {bad_time.id})" in output and "last tuesday" in output


def set_details(market: Marketplace, database_kind: str, event_id: int, details: str) -> None:
    """Write `details` as raw text into a row, past every check the application makes."""
    value = "CAST(:d AS JSON)" if database_kind == "postgresql" else ":d"
    with market.backend.write() as session:
        session.execute(
            text(f"UPDATE audit_events SET details = {value} WHERE id = :id"),  # noqa: S608
            {"d": details, "id": event_id},
        )


def test_deeply_nested_details_are_reported_not_a_traceback(
    history: Marketplace, database_kind: str
) -> None:
    events = tenant_events(history)
    deepest, deep, edited = events[1], events[3], events[5]
    set_details(history, database_kind, deepest.id, "[" * 5000 + "]" * 5000)
    set_details(history, database_kind, deep.id, "[" * (MAX_DEPTH + 50) + "]" * (MAX_DEPTH + 50))
    with history.backend.write() as session:
        session.execute(
            update(AuditEvent).where(AuditEvent.id == edited.id).values(actor="operator:x")
        )
    found = problems(history)
    for event in (deepest, deep, edited):  # each row reported, and verify went on
        assert any(f"(id {event.id})" in p for p in found), (event.id, found)
    code, output = cli_verify(history)
    assert code == 1 and f"(id {deepest.id})" in output and "nested" in output


def test_hostile_values_in_rows_are_reported_not_a_traceback(
    history: Marketplace, database_kind: str
) -> None:
    events = tenant_events(history)
    with history.backend.write() as session:
        session.execute(  # hmac.compare_digest refuses non-ASCII text
            text("UPDATE audit_events SET hash = :h WHERE id = :id"),
            {"h": "é" * 64, "id": events[1].id},
        )
        if database_kind == "sqlite":  # PostgreSQL's column types refuse these
            session.execute(
                text("UPDATE audit_events SET actor = X'00ff' WHERE id = :id"),
                {"id": events[3].id},
            )
            session.execute(  # a lone surrogate: valid JSON, but no UTF-8 to hash
                text("UPDATE audit_events SET details = :d WHERE id = :id"),
                {"d": '{"x": "\\ud800"}', "id": events[5].id},
            )
            session.execute(  # not UTF-8: SQLite's driver refuses to read it as text
                text("UPDATE audit_events SET actor = CAST(X'FF' AS TEXT) WHERE id = :id"),
                {"id": events[7].id},
            )
        tenant = find_tenant(session, TENANT)
        assert tenant is not None
        forged = "x\x1b[2J\nAudit log intact: 0 events@evil.example"
        session.add(TenantAdmin(tenant_id=tenant.id, email=forged, verified_at=utcnow()))
    found = problems(history)
    bad = [events[1]] + ([events[3], events[5], events[7]] if database_kind == "sqlite" else [])
    for event in bad:
        assert any(f"(id {event.id})" in p for p in found), (event.id, found)
    assert all(p.isprintable() for p in found), found  # stored text cannot forge lines
    code, output = cli_verify(history)
    assert code == 1 and "\x1b" not in output
    assert not any(line.startswith("Audit log intact") for line in output.splitlines())


def test_a_deeply_nested_anchor_line_is_reported(history: Marketplace, tmp_path: Path) -> None:
    anchors = tmp_path / "anchors.jsonl"
    anchor(history, anchors)
    with anchors.open("a") as handle:
        handle.write("[" * 100_000 + "\n")
        handle.write('{"anchored_at": "x", "heads": ' + "[" * 200 + "]" * 200 + "}\n")
    code, output = cli_verify(history, "--anchors", str(anchors))
    assert code == 1 and "line 2" in output and "line 3" in output
    assert "line 1" not in output


def test_a_malformed_head_row_is_reported(history: Marketplace, database_kind: str) -> None:
    if database_kind != "sqlite":
        pytest.skip("PostgreSQL's column types refuse such values")
    with history.backend.write() as session:
        session.execute(
            text("UPDATE audit_chain_heads SET seq = 'x', hash = 'nonsense' WHERE chain = :c"),
            {"c": chain_of(history)},
        )
    code, output = cli_verify(history)
    assert code == 1 and chain_of(history) in output and "Traceback" not in output


# --- the key ------------------------------------------------------------------------------------


def test_a_wrong_key_says_so(history: Marketplace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKETPLACE_AUDIT_KEY", "x" * 43)
    code, output = cli_verify(history)
    assert code == 1 and "audit key" in output


def test_the_key_from_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from marketplace_app.config import load_settings

    monkeypatch.setenv("MARKETPLACE_AUDIT_KEY", "k" * 43)
    assert load_settings(tmp_path).audit_key.get_secret_value() == "k" * 43
    assert not (tmp_path / "audit_key").exists()
    monkeypatch.setenv("MARKETPLACE_AUDIT_KEY", "short")
    with pytest.raises(ValueError, match="MARKETPLACE_AUDIT_KEY"):
        load_settings(tmp_path)


def test_the_key_is_generated_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MARKETPLACE_AUDIT_KEY", raising=False)
    first = audit_key(tmp_path)
    assert len(first) >= 32 and audit_key(tmp_path) == first
    assert (tmp_path / "audit_key").stat().st_mode & 0o777 == 0o600
    assert first != secret_key(tmp_path).encode()  # a key of its own


def test_the_key_is_not_in_the_database(history: Marketplace) -> None:
    key = audit_key(history.backend.settings.instance_dir).decode()
    with history.backend.read() as session:
        for table in ("audit_events", "audit_chain_heads"):
            for row in session.execute(text(f"SELECT * FROM {table}")):  # noqa: S608
                assert key not in " ".join(map(str, row))


# --- receipts -----------------------------------------------------------------------------------


def receipt_of(market: Marketplace, action: str) -> dict[str, Any]:
    client = market.sign_in()
    event = next(e for e in tenant_events(market) if e.action == action)
    response = client.get(f"/account/receipts/{event.id}.json")
    assert response.status_code == 200
    body: dict[str, Any] = json.loads(response.get_data(as_text=True))
    return body


def test_a_receipt_says_who_can_check_it(history: Marketplace, tmp_path: Path) -> None:
    receipt = receipt_of(history, "invitation.accepted")
    assert receipt["hash_algorithm"] == "HMAC-SHA256"
    assert "operator" in receipt["how_to_verify"]
    assert "audit check-receipt" in receipt["how_to_verify"]
    saved = tmp_path / "receipt.json"
    saved.write_text(json.dumps(receipt))
    checked = cli(history, "audit", "check-receipt", str(saved))
    assert checked.exit_code == 0, checked.output
    assert "genuine" in checked.output


def test_a_forged_receipt_is_refused(history: Marketplace, tmp_path: Path) -> None:
    receipt = receipt_of(history, "invitation.accepted")
    receipt["details"]["delegated_admin_granted"] = False
    saved = tmp_path / "receipt.json"
    saved.write_text(json.dumps(receipt))
    checked = cli(history, "audit", "check-receipt", str(saved))
    assert checked.exit_code == 1 and "not made with this installation's audit key" in (
        checked.output
    )
    saved.write_text("{")
    broken = cli(history, "audit", "check-receipt", str(saved))
    assert broken.exit_code == 1 and "Traceback" not in broken.output


def test_a_receipt_whose_event_was_changed_in_the_log_is_reported(
    history: Marketplace, tmp_path: Path
) -> None:
    receipt = receipt_of(history, "invitation.accepted")
    saved = tmp_path / "receipt.json"
    saved.write_text(json.dumps(receipt))
    with history.backend.write() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id == receipt["event_id"]))
    checked = cli(history, "audit", "check-receipt", str(saved))
    assert checked.exit_code == 1 and "no longer" in checked.output


def test_a_deeply_nested_receipt_is_refused(history: Marketplace, tmp_path: Path) -> None:
    saved = tmp_path / "receipt.json"
    saved.write_text("[" * 100_000)
    checked = cli(history, "audit", "check-receipt", str(saved))
    assert checked.exit_code == 1 and "not a consent receipt" in checked.output
    receipt = receipt_of(history, "invitation.accepted")
    receipt["details"] = json.loads("[" * 500 + "]" * 500)
    saved.write_text(json.dumps(receipt))
    checked = cli(history, "audit", "check-receipt", str(saved))
    assert checked.exit_code == 1 and "not a consent receipt" in checked.output


def test_a_receipt_is_looked_up_by_its_signed_chain_and_number(
    history: Marketplace, tmp_path: Path
) -> None:
    """`event_id` is not covered by the hash: whatever it says, the receipt names its event by
    chain and number, and ids or numbers no database could hold are reported plainly."""
    receipt = receipt_of(history, "invitation.accepted")
    real = receipt["event_id"]
    other = tenant_events(history)[0].id
    saved = tmp_path / "receipt.json"
    for event_id in (2**70, -(2**70), other, "1; DROP TABLE audit_events"):
        saved.write_text(json.dumps({**receipt, "event_id": event_id}))
        checked = cli(history, "audit", "check-receipt", str(saved))
        assert checked.exit_code == 0, (event_id, checked.output)
        assert "genuine" in checked.output and f"(id {real})" in checked.output
    for changes in ({"hash": "é" * 64}, {"seq": 2**70}, {"chain": "tenant:\u0000"}):
        saved.write_text(json.dumps({**receipt, **changes}))
        checked = cli(history, "audit", "check-receipt", str(saved))
        assert checked.exit_code == 1, (changes, checked.output)
    # a version 1 receipt (plain SHA-256, which anyone can compute) naming numbers out of range
    for seq, chain in (
        (2**70, chain_of(history)),
        (0, chain_of(history)),
        (1, "x" * 10_000),
        (1, "tenant:\u0000"),
    ):
        forged = {**receipt, "receipt_version": 1, "seq": seq, "chain": chain}
        forged["hash"] = unkeyed_hash(
            {
                **{name: forged[name] for name in ("chain", "seq", "occurred_at", "actor")},
                **{name: forged[name] for name in ("action", "details", "remote_addr")},
                "tenant_domain": forged["tenant"],
                "partner_slug": forged["partner"],
                "invitation_id": forged["invitation"],
                "prev_hash": forged["prev_hash"],
            }
        )
        saved.write_text(json.dumps(forged))
        checked = cli(history, "audit", "check-receipt", str(saved))
        assert checked.exit_code == 1 and "could hold" in checked.output, (seq, checked.output)


# --- logs written before the key ----------------------------------------------------------------


def previous_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS_DIR)).get_revision("0004")
    assert script is not None and isinstance(script.down_revision, str)
    return script.down_revision


def back_to_unkeyed(market: Marketplace) -> None:
    """Make the database look like one written before the key: SHA-256 chains, at the
    revision before the re-chaining migration."""
    rehash_with_sha256(market)
    with market.backend.write() as session:
        session.execute(
            text("UPDATE alembic_version SET version_num = :v"), {"v": previous_revision()}
        )


def upgrade_again(market: Marketplace) -> None:
    """Upgrade a database `back_to_unkeyed` made: run the re-chaining migration again, and
    only it (the later ones are applied already, and cannot run twice)."""
    database = market.backend.database
    if current_revision(database) == previous_revision():
        command.upgrade(alembic_config(database), "0004")
        command.stamp(alembic_config(database), "head")
    upgrade(database)


def rechained(market: Marketplace) -> list[AuditEvent]:
    with market.backend.read() as session:
        return list(
            session.execute(
                select(AuditEvent).where(AuditEvent.action == "audit.rechained")
            ).scalars()
        )


def test_an_unkeyed_log_is_rechained_by_the_upgrade(history: Marketplace) -> None:
    events = len(tenant_events(history))
    back_to_unkeyed(history)
    assert problems(history)  # unkeyed hashes do not verify under the key
    upgrade_again(history)
    assert problems(history) == []
    [event] = rechained(history)
    assert event.chain == "operator" and event.actor == "system:upgrade"
    assert event.details["chains_rechained"] >= 3
    assert event.details["chains_left_unkeyed"] == []
    assert len(tenant_events(history)) == events
    upgrade_again(history)  # once only
    assert len(rechained(history)) == 1


def test_a_broken_unkeyed_chain_is_not_laundered(history: Marketplace) -> None:
    """A chain already broken before the upgrade stays broken: re-chaining it would make an
    old edit look genuine."""
    back_to_unkeyed(history)
    target = tenant_events(history)[2]
    with history.backend.write() as session:
        session.execute(
            update(AuditEvent).where(AuditEvent.id == target.id).values(actor="operator:x")
        )
    upgrade_again(history)
    [event] = rechained(history)
    assert event.details["chains_left_unkeyed"] == [chain_of(history)]
    found = problems(history)
    assert found and all(chain_of(history) in p for p in found)
    assert any(f"(id {target.id})" in p for p in found)


def test_the_upgrade_needs_the_key_only_when_there_are_events(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    upgrade(database)  # no key, no events: nothing to re-chain
    database.dispose()


def test_every_decided_state_implies_an_event() -> None:
    assert set(DECIDED_STATES) == set(INVITATION_STATES) - {"pending"}


def test_a_session_reused_after_a_rollback_continues_the_stored_chain(
    history: Marketplace,
) -> None:
    """A transaction moves the heads of the chains it appends to in memory; when it rolls
    back, the session's next transaction must start again from the stored heads (and lock
    them again), or it would chain onto events that were never stored."""
    from sqlalchemy.orm import Session

    database = history.backend.database
    with Session(database.engine, info={AUDIT_KEY: database.audit_key}) as session:
        with session.begin():
            record(session, OPERATOR, "customer.signed_in", tenant_domain=TENANT)
            session.flush()
            session.rollback()
        with session.begin():
            record(session, OPERATOR, "customer.signed_in", tenant_domain=TENANT)
    assert problems(history) == []
    code, output = cli_verify(history)
    assert code == 0 and "Audit log intact" in output


def test_no_event_is_recorded_inside_a_savepoint(history: Marketplace) -> None:
    """A savepoint rolled back would leave the chain's head moved past an event that no
    longer exists, so recording inside one is refused, and the chain stays whole."""
    refused = pytest.raises(RuntimeError, match="savepoint")
    with refused, history.backend.write() as session, session.begin_nested():
        record(session, OPERATOR, "customer.signed_in", tenant_domain=TENANT)
    assert problems(history) == []
