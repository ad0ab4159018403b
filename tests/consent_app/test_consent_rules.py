"""The rule book as a plain function: `decide(partner, what is asked, cloud, roles, decision)`."""

from __future__ import annotations

import pytest

from consent_app.refusals import PartnerNotListed, Refused
from consent_app.rules import Asked, Decision, Outcome, Roles, decide

A, B, C = "partner-a", "partner-b", "partner-c"


def refused(code: str, *args: object) -> None:
    with pytest.raises(Refused) as caught:
        decide(*args)  # type: ignore[arg-type]
    assert caught.value.code == code


def test_decline_changes_nothing_whatever_is_ticked() -> None:
    before = Roles(B, C)
    decision = Decision(False, authorize_delegated_admin=True, make_partner_of_record=True)
    assert decide(A, Asked(True), "global", before, decision) == Outcome(
        "declined", before, False, False
    )


def test_accept_without_roles() -> None:
    outcome = decide(A, Asked(True), "global", Roles(), Decision(True))
    assert outcome == Outcome("accepted", Roles(), False, False)


def test_accept_with_da_and_por() -> None:
    outcome = decide(A, Asked(True), "global", Roles(), Decision(True, True, True))
    assert outcome.roles == Roles(A, A)
    assert outcome.delegated_admin_granted and outcome.partner_of_record


def test_da_cannot_be_granted_when_not_requested() -> None:
    refused(
        "delegated_admin_not_requested", A, Asked(False), "global", Roles(), Decision(True, True)
    )


def test_replacing_da_needs_confirmation_of_the_partner_seen() -> None:
    before = Roles(delegated_admin=B)
    refused(
        "replacement_needs_confirmation", A, Asked(True), "global", before, Decision(True, True)
    )
    refused(
        "delegated_admin_changed",
        A,
        Asked(True),
        "global",
        before,
        Decision(True, True, confirm_replace_delegated_admin=True, seen_delegated_admin=C),
    )
    outcome = decide(
        A,
        Asked(True),
        "global",
        before,
        Decision(True, True, confirm_replace_delegated_admin=True, seen_delegated_admin=B),
    )
    assert outcome.roles.delegated_admin == A and outcome.replaced_delegated_admin == B


def test_same_partner_keeps_da_without_confirmation() -> None:
    outcome = decide(A, Asked(True), "global", Roles(A, None), Decision(True, True))
    assert outcome.roles == Roles(A, None) and outcome.replaced_delegated_admin is None


def test_accepting_without_da_keeps_the_current_da_partner() -> None:
    outcome = decide(
        A, Asked(True), "global", Roles(B, None), Decision(True, make_partner_of_record=True)
    )
    assert outcome.roles == Roles(B, A)


def test_por_is_independent_and_needs_no_confirmation() -> None:
    outcome = decide(
        A, Asked(False), "global", Roles(B, C), Decision(True, make_partner_of_record=True)
    )
    assert outcome.roles == Roles(B, A) and outcome.replaced_partner_of_record == C


def test_sovereign_cloud_is_refused_even_for_a_decline() -> None:
    refused("cloud_not_supported", A, Asked(True), "21vianet", Roles(), Decision(False))
    refused("cloud_not_supported", A, Asked(True), "21vianet", Roles(), Decision(True))


def test_a_partner_that_may_no_longer_be_accepted_can_still_be_declined() -> None:
    gone = PartnerNotListed("no longer listed")
    asked = Asked(True, acceptance_refusal=gone, delegated_admin_refusal="no longer listed")
    refused("partner_not_listed", A, asked, "global", Roles(), Decision(True))
    outcome = decide(A, asked, "global", Roles(), Decision(False))
    assert outcome.state == "declined"


def test_delegated_admin_no_longer_allowed() -> None:
    asked = Asked(True, delegated_admin_refusal="left the DA programmes")
    refused("not_eligible_for_delegated_admin", A, asked, "global", Roles(), Decision(True, True))
    # the rest can still be accepted
    assert decide(A, asked, "global", Roles(), Decision(True, False, True)).partner_of_record


def test_expiry_is_computed_from_the_link_lifetime() -> None:
    from datetime import UTC, datetime, timedelta

    from consent_app.rules import Status, status

    now = datetime(2026, 11, 26, tzinfo=UTC)
    assert status("pending", now + timedelta(seconds=1), now) == Status.PENDING
    assert status("pending", now, now) == Status.EXPIRED
    # a decided invitation stays what it was, whatever the clock says
    assert status("accepted", now - timedelta(days=1), now) == Status.ACCEPTED


@pytest.mark.parametrize(
    ("current", "to", "by", "allowed"),
    [
        ("pending", "accepted", "customer", True),
        ("pending", "declined", "customer", True),
        ("pending", "canceled", "partner", True),
        ("pending", "canceled", "customer", False),  # a customer declines; a partner cancels
        ("pending", "accepted", "partner", False),  # a partner never accepts for a customer
        ("expired", "accepted", "customer", False),
        ("accepted", "declined", "customer", False),
        ("canceled", "accepted", "customer", False),
        ("declined", "canceled", "partner", False),
    ],
)
def test_the_transition_table(current: str, to: str, by: str, allowed: bool) -> None:
    from consent_app.refusals import InvalidState
    from consent_app.rules import By, Status, check_transition

    if allowed:
        check_transition(Status(current), Status(to), By(by))
    else:
        with pytest.raises(InvalidState):
            check_transition(Status(current), Status(to), By(by))


def test_the_eligibility_rule(loaded_examples) -> None:  # type: ignore[no-untyped-def]
    """One rule for "may this partner ask for delegated administration (with this offer)",
    asked by the API, the invitation page and the decision."""
    from consent_app.rules import delegated_admin_refusal, find_offer

    catalog, loaded = loaded_examples
    contoso = next(item.listing for item in loaded if item.listing.slug == "contoso-cloud")
    trial = find_offer(contoso, "trial-collab", "trial")
    assert delegated_admin_refusal(catalog, contoso, trial) is None
    assert delegated_admin_refusal(catalog, contoso, None) is None
    dropped = contoso.model_copy(update={"delegated_admin": False})
    assert "does not offer delegated administration" in (
        delegated_admin_refusal(catalog, dropped, trial) or ""
    )
    left = contoso.model_copy(update={"programs": ["cloud-referral"]})
    assert "none of the DA-eligible programs" in (
        delegated_admin_refusal(catalog, left, trial) or ""
    )
    closed = trial.model_copy(update={"delegated_admin": "none"})
    assert "does not allow" in (delegated_admin_refusal(catalog, contoso, closed) or "")
