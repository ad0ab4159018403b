"""The least-privilege rules of delegated administration, without a database: which roles and
how many days a request asks for, when a grant may extend itself, which reminder is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from consent_app.grants import (
    DelegatedAdminRequest,
    GrantTerms,
    grant_end,
    grant_terms,
    may_extend_itself,
    reminder_due,
)
from consent_app.refusals import InvalidInput
from marketplace.catalog import FULL_ACCESS_ROLE, Catalog
from marketplace.model import Offer
from marketplace.snapshot import read_snapshot
from tests.conftest import install_example_snapshot

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


Examples = tuple[Catalog, dict[str, Offer]]


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Examples:
    """The example listings' catalog, and their offers by `slug/offer id`."""
    instance = tmp_path_factory.mktemp("instance")
    snapshot = read_snapshot(install_example_snapshot(instance))
    offers = {
        f"{listing.slug}/{offer.id}": offer
        for listing in snapshot.listings.values()
        for offer in listing.offers
    }
    return snapshot.catalog, offers


def terms(examples: Examples, offer: str | None, requested: object) -> GrantTerms:
    catalog, offers = examples
    if isinstance(requested, dict):
        requested = DelegatedAdminRequest.model_validate(requested)
    assert isinstance(requested, bool | DelegatedAdminRequest)
    return grant_terms(catalog, offers[offer] if offer else None, requested, 365, 730)


def test_true_asks_for_the_offers_roles_or_full_access(examples: Examples) -> None:
    assert terms(examples, "taiga-cloud/teams-start", True) == GrantTerms(
        ("teams-admin", "user-admin"), 365
    )
    full = terms(examples, "contoso-cloud/trial-collab", True)
    assert full == GrantTerms((FULL_ACCESS_ROLE,), 365) and full.full_access
    assert terms(examples, None, True).roles == (FULL_ACCESS_ROLE,)  # a purchase, no offer


def test_an_object_names_roles_and_days(examples: Examples) -> None:
    asked = {"roles": ["user-admin"], "duration_days": 30}
    assert terms(examples, "taiga-cloud/teams-start", asked) == GrantTerms(("user-admin",), 30)
    anything = {"roles": ["security-reader", "helpdesk-admin"], "duration_days": 730}
    assert terms(examples, None, anything).roles == ("security-reader", "helpdesk-admin")


@pytest.mark.parametrize(
    ("offer", "asked", "field", "says"),
    [
        (
            None,
            {"roles": ["user-admn"], "duration_days": 5},
            "roles.0",
            "did you mean 'user-admin'",
        ),
        (None, {"roles": ["a", "b"], "duration_days": 5}, "roles.0", "unknown admin role 'a'"),
        (
            None,
            {"roles": ["user-admin", "user-admin"], "duration_days": 5},
            "roles.1",
            "named twice",
        ),
        (
            "taiga-cloud/teams-start",
            {"roles": ["exchange-admin"], "duration_days": 5},
            "roles.0",
            "the offer asks for teams-admin, user-admin only",
        ),
        (
            None,
            {"roles": ["global-admin", "user-admin"], "duration_days": 5},
            "roles",
            "name it alone",
        ),
        (None, {"roles": ["user-admin"], "duration_days": 0}, "duration_days", "from 1 to 730"),
        (None, {"roles": ["user-admin"], "duration_days": 731}, "duration_days", "from 1 to 730"),
    ],
)
def test_what_a_request_may_not_ask(
    examples: Examples, offer: str | None, asked: dict[str, object], field: str, says: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        terms(examples, offer, asked)
    assert refused.value.field == f"delegated_admin.{field}"
    assert says in str(refused.value)


def test_the_request_object_is_strict() -> None:
    for body in (
        {"roles": [], "duration_days": 5},
        {"roles": ["user-admin"]},
        {"roles": ["user-admin"], "duration_days": "5"},
        {"roles": ["user-admin"], "duration_days": 5, "forever": True},
    ):
        with pytest.raises(ValueError):
            DelegatedAdminRequest.model_validate(body)


def test_full_access_never_extends_itself() -> None:
    assert not may_extend_itself([FULL_ACCESS_ROLE])
    assert may_extend_itself(["user-admin", "teams-admin"])


def test_a_grant_ends_after_its_days() -> None:
    assert grant_end(NOW, 30) == NOW + timedelta(days=30)


@pytest.mark.parametrize(
    ("days_left", "reminded", "due"),
    [
        (40, None, None),
        (30, None, 30),
        (29, None, 30),
        (29, 30, None),
        (7, 30, 7),
        (6, None, 7),  # a short grant gets the nearest reminder only
        (6, 7, None),
        (0, None, None),  # ended: the sweep ends it instead
    ],
)
def test_reminders_30_and_7_days_before(
    days_left: int, reminded: int | None, due: int | None
) -> None:
    granted = NOW - timedelta(days=300)
    assert reminder_due(NOW + timedelta(days=days_left), reminded, NOW, granted) == due


def test_a_short_grant_is_not_reminded_of_a_date_it_never_had() -> None:
    ends = NOW + timedelta(days=10)
    assert reminder_due(ends, None, NOW, NOW) is None  # just granted for 10 days
    assert reminder_due(ends, None, NOW + timedelta(days=4), NOW) == 7
