"""Operator commands of `marketplace`: configuration, database, tenants, keys, partner users,
audit, mail.

Each command builds the installation's settings once (`--instance`, `MARKETPLACE_*` variables,
the instance folder: `marketplace_app.config`), opens it, does one thing in one transaction,
and prints what it did. Partners come from the snapshot `marketplace build` wrote, read only by
the commands that need them: a listing that does not validate in the working tree stops
`build`, never these. Mistakes get a one-line message and exit status 1 (2 for a usage
error, as click answers it), never a traceback (README: Command line).
"""

from __future__ import annotations

import getpass
import json
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from click.core import ParameterSource

from consent_app.refusals import NotFound, Refused
from consent_app.rules import Cloud
from marketplace_app.options import instance_option

if TYPE_CHECKING:
    from consent_app.backend import Backend
    from consent_app.outbox import DeliveryReport
    from consent_app.settings import Settings
    from marketplace_app.config import Configuration

F = TypeVar("F", bound=Callable[..., Any])


def configuration(instance: Path | None, **options: Any) -> Configuration:
    """The installation's configuration for this command (`load_configuration`); a setting
    that does not fit ends the command with one line naming its variable."""
    from consent_app.settings import SettingsError
    from marketplace_app.config import load_configuration

    context = click.get_current_context(silent=True)
    if context is not None and context.get_parameter_source("instance") in (
        ParameterSource.DEFAULT,
        ParameterSource.DEFAULT_MAP,
    ):
        instance = None  # not given: the configuration finds it ($MARKETPLACE_INSTANCE or default)
    try:
        return load_configuration(instance, **options)
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


def installation(command: F) -> F:
    """Give a command `--instance` and, instead of it, the installation's `settings`; turn
    refusals and a missing partner snapshot into clean exits."""
    return _installation(command, reads_only=False)


def reading_installation(command: F) -> F:
    """`installation` for a command that only reads: it refuses an instance without its
    database instead of creating a new, empty one there (a mistyped `--instance` must not make
    `audit verify` or `mail status` report an empty, healthy system)."""
    return _installation(command, reads_only=True)


def _installation(command: F, reads_only: bool) -> F:
    from marketplace.snapshot import SnapshotError

    @instance_option
    # Operator commands once read partners from the listings; old scripts may still pass it.
    @click.option("--listings", hidden=True, expose_value=False, type=click.Path(path_type=Path))
    @wraps(command)
    def wrapper(*args: Any, instance: Path, **kwargs: Any) -> Any:
        from consent_app.db import SQLITE_FILE_NAME

        settings = configuration(instance).settings
        database = settings.instance_dir / SQLITE_FILE_NAME
        if reads_only and settings.database_url.endswith(f"/{database}") and not database.exists():
            raise click.ClickException(
                f"there is no installation at {settings.instance_dir} (no database): check "
                "--instance or MARKETPLACE_INSTANCE, or create it with `marketplace db upgrade`"
            )
        try:
            return command(*args, settings=settings, **kwargs)
        except Refused as refused:
            where = f"{refused.field}: " if refused.field and refused.field.isupper() else ""
            if refused.message.startswith(where):
                where = ""  # the message names the option already
            click.echo(f"Error: {where}{refused.message}", err=True)
            sys.exit(1)
        except SnapshotError as error:
            click.echo(f"Error: {error}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


@contextmanager
def opened(settings: Settings, migrate: bool = False) -> Iterator[Backend]:
    """The installation's Backend; its database is brought up to date when `migrate`."""
    from sqlalchemy.exc import DatabaseError, IntegrityError

    from consent_app import DatabaseNotReady, prepare_database
    from consent_app.backend import Backend
    from consent_app.db import upgrade
    from consent_app.instance import ensure_instance

    try:
        ensure_instance(settings.instance_dir)
    except OSError as error:
        raise click.ClickException(
            f"cannot use the instance folder {settings.instance_dir}: {error.strerror or error}"
        ) from None
    backend = Backend.open(settings)
    try:
        if migrate:
            upgrade(backend.database)
        else:
            prepare_database(backend.database, settings.instance_dir)
        yield backend
    except DatabaseNotReady as error:
        raise click.ClickException(str(error)) from None
    except IntegrityError:
        raise  # a constraint refused a change: a bug or a race, not the database's state
    except DatabaseError as error:
        # The server is down or refuses us, or the file is not a database: one line, the
        # driver's own reason, no traceback.
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise click.ClickException(f"cannot use the database: {reason}") from None
    finally:
        backend.close()


def operator() -> Any:
    """Who runs the command, for the audit log."""
    from consent_app.audit import Actor

    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return Actor("operator", name, "cli")


# --- config ------------------------------------------------------------------------------------


@click.command("config")
@instance_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def config(instance: Path, as_json: bool) -> None:
    """Print the effective configuration: each setting's variable, value (secrets masked) and
    where it came from (default, environment, instance file, command line)."""
    from dataclasses import asdict

    from marketplace_app.config import shown_settings

    shown = shown_settings(configuration(instance))
    if as_json:
        click.echo(json.dumps([asdict(setting) for setting in shown], indent=2))
        return
    width = max(len(setting.variable) for setting in shown)
    for setting in shown:
        click.echo(f"{setting.variable:<{width}}  {setting.value}  ({setting.origin})")


# --- db ----------------------------------------------------------------------------------------


@click.group()
def db() -> None:
    """The consent database."""


@db.command("upgrade")
@installation
def db_upgrade(settings: Settings) -> None:
    """Create the database or migrate it to this version's schema."""
    from consent_app.db import current_revision, head_revision

    with opened(settings, migrate=True) as backend:
        revision = current_revision(backend.database)
        shown = backend.database.engine.url.render_as_string(hide_password=True)
        click.echo(f"Database {shown} is at revision {revision} (newest: {head_revision()}).")


@db.command("backup")
@click.argument("target", type=click.Path(path_type=Path, dir_okay=False))
@reading_installation
def db_backup(target: Path, settings: Settings) -> None:
    """Copy the SQLite database to TARGET while it is in use (SQLite's online backup).

    For PostgreSQL use pg_dump (see OPERATIONS.md); this command refuses.
    """
    import os
    import sqlite3

    from consent_app.instance import create_private

    with opened(settings) as backend:
        if not backend.database.is_sqlite:
            raise click.ClickException("the database is PostgreSQL: back it up with pg_dump")
        source_path = backend.database.engine.url.database
    if not target.parent.is_dir():
        raise click.ClickException(f"{target.parent} is not a folder; create it first")
    try:  # created here, readable by its owner only: a backup holds everything the database does
        os.close(create_private(target))
    except FileExistsError:
        raise click.ClickException(f"{target} exists already; choose a new file") from None
    except OSError as error:
        raise click.ClickException(f"cannot create {target}: {error.strerror}") from None
    try:
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True)
        copy = sqlite3.connect(target)
        try:
            with copy:
                source.backup(copy)
        finally:
            source.close()
            copy.close()
    except sqlite3.Error as error:
        target.unlink(missing_ok=True)
        raise click.ClickException(f"the backup failed: {error}") from None
    click.echo(f"Backed up {source_path} to {target}.")


# --- tenants -----------------------------------------------------------------------------------


@click.group()
def tenants() -> None:
    """Customers' tenants and their verified administrators."""


@tenants.command("add")
@click.argument("domain")
@click.option("--name", required=True, help="The customer's display name.")
@click.option(
    "--admin",
    "admins",
    multiple=True,
    required=True,
    help="A verified administrator address (repeat for several).",
)
@click.option(
    "--cloud",
    type=click.Choice([str(cloud) for cloud in Cloud]),
    default=str(Cloud.GLOBAL),
    show_default=True,
)
@installation
def tenants_add(
    domain: str, name: str, admins: tuple[str, ...], cloud: str, settings: Settings
) -> None:
    """Add a tenant, e.g. `tenants add fabrikam.onmicrosoft.com --name Fabrikam --admin a@b.c`."""
    from consent_app.addresses import normalized_domain, normalized_email
    from consent_app.tenants import NewTenant, add_tenant

    with opened(settings) as backend, backend.write() as session:
        smtputf8 = backend.settings.smtputf8
        new = NewTenant(
            normalized_domain(domain, "DOMAIN"),
            name,
            tuple(normalized_email(a, "ADMIN", smtputf8=smtputf8) for a in admins),
            cloud,
        )
        add_tenant(session, new, operator())
    click.echo(f"Added {new.domain} ({name}, {cloud} cloud) with admins {', '.join(new.admins)}.")


@tenants.command("add-admin")
@click.argument("domain")
@click.argument("email")
@installation
def tenants_add_admin(domain: str, email: str, settings: Settings) -> None:
    """Add a verified administrator address to a tenant."""
    from consent_app.addresses import normalized_domain, normalized_email
    from consent_app.tenants import add_admin, find_tenant

    with opened(settings) as backend, backend.write() as session:
        domain = normalized_domain(domain, "DOMAIN")
        email = normalized_email(email, "EMAIL", smtputf8=backend.settings.smtputf8)
        tenant = find_tenant(session, domain)
        if tenant is None:
            raise NotFound(f"no tenant {domain}")
        added = add_admin(session, tenant, email, operator())
    click.echo(f"{email} {'added to' if added else 'was already an admin of'} {domain}.")


@tenants.command("remove")
@click.argument("domain")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@installation
def tenants_remove(domain: str, yes: bool, settings: Settings) -> None:
    """Remove a tenant and erase its personal data on request: admins, sessions, invitations
    and mail are deleted, its DA and partner of record end (the partners are told), and its
    audit events keep only references to erased data (`audit verify` still passes)."""
    from consent_app.addresses import normalized_domain
    from consent_app.removal import remove_tenant

    domain = normalized_domain(domain, "DOMAIN")
    if not yes:
        click.confirm(f"Remove {domain} and erase its personal data for good?", abort=True)
    with opened(settings) as backend:
        done = backend.run(lambda uow: remove_tenant(uow, domain, operator()))
    ended = "; ended " + ", ".join(done.ended) if done.ended else ""
    canceled = f"; canceled {len(done.canceled)} pending invitation(s)" if done.canceled else ""
    told = f"; told {', '.join(done.partners_told)}" if done.partners_told else ""
    if done.partners_not_told:
        told += f"; not told (no longer listed): {', '.join(done.partners_not_told)}"
    click.echo(
        f"Removed {domain}: {done.admins} admin(s), {done.invitations} invitation(s), "
        f"{done.messages_deleted} message(s) deleted, {done.headers_blanked} mail header(s) "
        f"blanked, {done.data_erased} audit reference(s) erased{ended}{canceled}{told}."
    )


@tenants.command("remove-admin")
@click.argument("domain")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@installation
def tenants_remove_admin(domain: str, email: str, yes: bool, settings: Settings) -> None:
    """Remove one admin of a tenant and erase their personal data on request (their address,
    the addresses they acted from, their sessions, links and mail)."""
    from consent_app.addresses import normalized_domain, normalized_email
    from consent_app.removal import remove_admin

    domain = normalized_domain(domain, "DOMAIN")
    email = normalized_email(email, "EMAIL", smtputf8=settings.smtputf8)
    if not yes:
        click.confirm(f"Remove {email} from {domain} and erase their personal data?", abort=True)
    with opened(settings) as backend:
        done = backend.run(lambda uow: remove_admin(uow, domain, email, operator()))
    click.echo(
        f"Removed {email} from {domain}: {done.messages_deleted} message(s) deleted, "
        f"{done.messages_blanked} naming them blanked, {done.data_erased} audit reference(s) "
        "erased."
    )


@tenants.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@reading_installation
def tenants_list(as_json: bool, settings: Settings) -> None:
    """List tenants with their admins, DA partner and partner of record."""
    from sqlalchemy import select

    from consent_app.consent import current_roles
    from consent_app.models import Invitation, Tenant
    from consent_app.tenants import admin_emails

    rows: list[dict[str, Any]] = []
    with opened(settings) as backend, backend.read() as session:
        query = (
            select(Tenant, Invitation.partner_slug)
            .outerjoin(Invitation, Invitation.id == Tenant.created_by_invitation)
            .order_by(Tenant.domain)
        )
        for tenant, inviting_partner in session.execute(query):
            roles = current_roles(session, tenant)
            rows.append(
                {
                    "domain": tenant.domain,
                    "name": tenant.name,
                    "cloud": tenant.cloud,
                    "admins": admin_emails(session, tenant.id),
                    "delegated_admin": roles.delegated_admin,
                    "partner_of_record": roles.partner_of_record,
                    # A tenant a partner's new-customer invitation created (None: an operator).
                    "created_by_invitation": tenant.created_by_invitation,
                    "created_by_partner": inviting_partner,
                }
            )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No tenants yet. Add one with `marketplace tenants add`.")
    for row in rows:
        click.echo(
            f"{row['domain']}  {row['name']}  [{row['cloud']}]  admins: {', '.join(row['admins'])}"
            f"  DA: {row['delegated_admin'] or '-'}  POR: {row['partner_of_record'] or '-'}"
            + (
                f"  created by invitation {row['created_by_invitation']} from "
                f"{row['created_by_partner']}"
                if row["created_by_invitation"]
                else ""
            )
        )


# --- keys --------------------------------------------------------------------------------------


@click.group()
def keys() -> None:
    """Partners' API keys."""


@keys.command("issue")
@click.argument("slug")
@installation
def keys_issue(slug: str, settings: Settings) -> None:
    """Print a new API key for the partner SLUG, once: only its hash is kept."""
    from consent_app.partners import issue_key

    with opened(settings) as backend, backend.write() as session:
        issued = issue_key(session, backend.directory, slug, operator())
    click.echo(
        f"New key {issued.key_id} for {slug}. Give it to the partner now; it is not shown again:",
        err=True,
    )
    click.echo(issued.secret)


@keys.command("list")
@click.argument("slug", required=False)
@reading_installation
def keys_list(slug: str | None, settings: Settings) -> None:
    """List key ids (never secrets), optionally of one partner."""
    from sqlalchemy import select

    from consent_app.models import PartnerKey

    query = select(PartnerKey).order_by(PartnerKey.partner_slug, PartnerKey.created_at)
    if slug:
        query = query.where(PartnerKey.partner_slug == slug)
    with opened(settings) as backend, backend.read() as session:
        found = list(session.execute(query).scalars())
    if not found:
        click.echo("No keys.")
    for key in found:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        click.echo(
            f"{key.key_id}  {key.partner_slug}  issued {key.created_at:%Y-%m-%d %H:%M}  {state}"
        )


@keys.command("revoke")
@click.argument("key_id")
@installation
def keys_revoke(key_id: str, settings: Settings) -> None:
    """Revoke a key at once (by the id `keys list` shows)."""
    from consent_app.partners import revoke_key

    with opened(settings) as backend, backend.write() as session:
        slug = revoke_key(session, key_id, operator())
    click.echo(f"Key {key_id} of {slug} is revoked.")


# --- partners ----------------------------------------------------------------------------------


@click.group()
def partners() -> None:
    """Partner users: the people who may sign in to a partner's pages (README: Partner pages).
    A listing's contact address is not a user unless added here."""


@partners.command("add-user")
@click.argument("slug")
@click.argument("email")
@installation
def partners_add_user(slug: str, email: str, settings: Settings) -> None:
    """Let EMAIL sign in to the partner pages of the listed partner SLUG (audited). They sign
    in at /partner/signin with a link mailed to that address."""
    from consent_app.partner_sessions import add_user

    with opened(settings) as backend:
        added = backend.run(lambda uow: add_user(uow, slug, email, operator()).email)
    click.echo(
        f"{added} may now sign in to the partner pages of {slug} "
        f"({backend.settings.link('partner/signin')})."
    )


@partners.command("list-users")
@click.argument("slug", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@reading_installation
def partners_list_users(slug: str | None, as_json: bool, settings: Settings) -> None:
    """List partner users (of one partner SLUG, or of all), with whether the partner is
    still listed (a delisted partner's users cannot sign in)."""
    from consent_app.partner_sessions import list_users

    with opened(settings) as backend, backend.read() as session:
        rows: list[dict[str, Any]] = [
            {
                "partner": user.partner_slug,
                "email": user.email,
                "ref": user.ref,
                "created_at": user.created_at.isoformat(),
                "listed": backend.directory.get(user.partner_slug) is not None,
            }
            for user in list_users(session, slug)
        ]
    if slug is not None and not rows and backend.directory.get(slug) is None:
        raise click.ClickException(
            f"no listing has the slug {slug!r}, and it has no partner users: check the slug "
            "(`marketplace partners list-users` lists every partner's)"
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No partner users. Add one with `marketplace partners add-user SLUG EMAIL`.")
    for row in rows:
        listed = "" if row["listed"] else "  (partner not listed: cannot sign in)"
        click.echo(
            f"{row['partner']}  {row['email']}  {row['ref']}  added {row['created_at'][:16]}"
            f"{listed}"
        )


@partners.command("remove-user")
@click.argument("slug")
@click.argument("email")
@installation
def partners_remove_user(slug: str, email: str, settings: Settings) -> None:
    """Remove a partner user (audited): their sessions end at once, their unused sign-in
    links stop working, and their address is erased from the mail the outbox kept."""
    from consent_app.partner_sessions import remove_user

    with opened(settings) as backend:
        removed = backend.run(lambda uow: remove_user(uow, slug, email, operator()).email)
    click.echo(f"{removed} can no longer sign in to the partner pages of {slug}.")


# --- leads -------------------------------------------------------------------------------------


@click.group()
def leads() -> None:
    """Requests visitors sent partners from the Marketplace ("Contact this partner")."""


@leads.command("remove")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@installation
def leads_remove(email: str, yes: bool, settings: Settings) -> None:
    """On a visitor's request (who lost the mail with the withdraw link): withdraw every
    request still holding EMAIL and erase its details; partners that had the lead are told
    to delete their copy (audited)."""
    from consent_app.addresses import normalized_email
    from consent_app.leads import withdraw_for_address

    email = normalized_email(email, "EMAIL", smtputf8=True)
    if not yes:
        click.confirm(f"Withdraw every request from {email} and erase its details?", abort=True)
    with opened(settings) as backend:
        withdrawn = backend.run(lambda uow: withdraw_for_address(uow, email, operator()))
    if not withdrawn:
        click.echo(f"No request holds {email}: nothing to remove.")
        return
    click.echo(f"Withdrew {len(withdrawn)} request(s) from {email}: {', '.join(withdrawn)}.")


# --- audit -------------------------------------------------------------------------------------


@click.group()
def audit() -> None:
    """The hash-chained audit log."""


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise click.ClickException(f"cannot read {what} {path}: {error.strerror}") from None


@audit.command("verify")
@click.option(
    "--anchors",
    "anchors_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A file written by `audit anchor`: also find any chain rewound or rewritten behind an "
    "anchored head.",
)
@reading_installation
def audit_verify(anchors_file: Path | None, settings: Settings) -> None:
    """Check every audit chain, the events the data implies, and anchors; exit 1 and name
    each break (by row id) when rows were edited, inserted or deleted."""
    from consent_app.audit import Anchor, read_anchors, verify

    anchors: list[Anchor] = []
    problems: list[str] = []
    if anchors_file is not None:
        lines = _read_text(anchors_file, "the anchor file").splitlines()
        anchors, problems = read_anchors(lines, str(anchors_file))
        if problems and not anchors:  # a wrong file, not a broken log
            raise click.ClickException(
                f"{anchors_file} holds no anchor written by `marketplace audit anchor`: check "
                "--anchors"
            )
    with opened(settings) as backend, backend.read() as session:
        report = verify(session, anchors)
    problems += report.problems
    for problem in problems:
        click.echo(problem)
    if not problems:
        held = f"; {report.anchors} anchored heads hold" if anchors_file else ""
        click.echo(f"Audit log intact: {report.events} events in {report.chains} chains{held}.")
        return
    click.echo(f"Audit log BROKEN: {len(problems)} problem(s).", err=True)
    sys.exit(1)


@audit.command("anchor")
@click.option(
    "--to",
    "target",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Append the anchor to this file (keep it away from the database); else print it.",
)
@reading_installation
def audit_anchor(target: Path | None, settings: Settings) -> None:
    """Record every chain's head outside the database: one JSON line per run, for
    `audit verify --anchors FILE` to find any later rewind."""
    from consent_app.audit import anchor_line

    with opened(settings) as backend, backend.read() as session:
        line, heads = anchor_line(session)
    if target is None:
        click.echo(line)
        return
    try:
        with target.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError as error:
        raise click.ClickException(f"cannot append to {target}: {error.strerror}") from None
    click.echo(f"Anchored {heads} chain heads in {target}.")


@audit.command("check-receipt")
@click.argument("receipt_file", type=click.Path(path_type=Path, dir_okay=False))
@reading_installation
def audit_check_receipt(receipt_file: Path, settings: Settings) -> None:
    """Check a consent receipt a customer sent: made with this installation's audit key, and
    its event still in the log as the receipt shows it."""
    from consent_app.audit import check_receipt, parse_json

    try:
        given = parse_json(_read_text(receipt_file, "the receipt"))
    except ValueError as error:
        raise click.ClickException(f"{receipt_file} is not a consent receipt: {error}") from None
    with opened(settings) as backend, backend.read() as session:
        checked = check_receipt(session, given)
    for problem in checked.problems:
        click.echo(problem)
    if checked.problems:
        sys.exit(1)
    click.echo(checked.summary)


# --- mail --------------------------------------------------------------------------------------


@click.group()
def mail() -> None:
    """The outbox."""


@dataclass(frozen=True)
class _Delivered:
    """What one `mail send` round delivered: mail until none was due, then webhooks."""

    mail: DeliveryReport
    webhooks: DeliveryReport

    def lines(self) -> list[str]:
        hooks = self.webhooks
        return [
            _mail_line(self.mail),
            f"Webhooks: {hooks.sent} delivered; {hooks.failed} failed and will be retried; "
            f"{hooks.undeliverable} given up.",
        ]


def _mail_line(mail: DeliveryReport) -> str:
    return (
        f"Sent {mail.sent} message(s); {mail.failed} failed and will be retried; "
        f"{mail.undeliverable} can never be delivered (see `marketplace mail status`)."
    )


def _deliver_mail(backend: Backend, stopping: Callable[[], bool] = lambda: False) -> DeliveryReport:
    """Batches of due mail until none is due, one fails, or `stopping()` says so."""
    from consent_app.outbox import DeliveryReport

    sent = failed = undeliverable = 0
    while not stopping():
        report = backend.deliver_now()
        sent, failed = sent + report.sent, failed + report.failed
        undeliverable += report.undeliverable
        if report.sent + report.failed + report.undeliverable == 0 or report.failed:
            break
    return DeliveryReport(sent, failed, undeliverable)


def _deliver_due(backend: Backend) -> _Delivered:
    mail = _deliver_mail(backend)
    hooks = backend.deliver_webhooks_now(every_due=True)  # partners' webhooks go out too
    return _Delivered(mail, hooks)


@mail.command("send")
@click.option(
    "--every",
    type=click.FloatRange(min=0.1),
    metavar="SECONDS",
    help="Keep delivering, a round every SECONDS, until stopped: the delivery process for "
    "servers started with MARKETPLACE_MAIL_DELIVERY=off. Says only what a round delivered.",
)
@installation
def mail_send(settings: Settings, every: float | None) -> None:
    """Deliver every message that is due now (SMTP, or .eml files in <instance>/mail)."""
    with opened(settings) as backend:
        if every is None:
            delivered = _deliver_due(backend)
            for line in delivered.lines():
                click.echo(line)
            sys.exit(1 if delivered.mail.failed or delivered.mail.undeliverable else 0)
        _keep_delivering(backend, every)


def _keep_delivering(backend: Backend, every: float) -> None:
    """`mail send --every`: mail every `every` seconds, webhooks in a thread of their own (a
    slow partner endpoint must not hold up sign-in mail), until SIGINT or SIGTERM (a service
    manager's stop): then the batch under way is finished and marked, and the exit status is
    0. A round that fails (the database unreachable) says why in one line; the next tries
    again, so the service stays up."""
    from sqlalchemy.exc import DBAPIError

    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda _number, _frame: stop.set())
    backend.start_webhook_delivery()
    while not stop.is_set():
        try:
            mail = _deliver_mail(backend, stop.is_set)
        except Exception as error:  # the next round tries again
            reason = error.orig if isinstance(error, DBAPIError) and error.orig else error
            first = (str(reason).strip().splitlines() or [type(reason).__name__])[0]
            click.echo(f"mail send: this round failed, trying again: {first}", err=True)
        else:
            if mail.sent or mail.failed or mail.undeliverable:
                click.echo(_mail_line(mail))
        stop.wait(every)


@mail.command("status")
@reading_installation
def mail_status(settings: Settings) -> None:
    """How many messages wait in the outbox, how many failed, and the oldest's age."""
    from consent_app.outbox import outbox_status, undeliverable_messages

    with opened(settings) as backend:
        status = outbox_status(backend.database)
        failed = undeliverable_messages(backend.database)
    oldest = f"{status.oldest_unsent_seconds:.0f} s" if status.oldest_unsent_seconds else "-"
    click.echo(
        f"unsent: {status.unsent}  failing: {status.failing}  oldest unsent: {oldest}  "
        f"undeliverable: {status.failed}"
    )
    for message in failed:
        assert message.failed_at is not None
        click.echo(
            f"  {message.failed_at:%Y-%m-%d %H:%M} to {message.recipient}: {message.last_error}"
        )


@click.command()
@click.option(
    "--site-dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=Path("site"),
    show_default=True,
)
@click.option(
    "--api-origin",
    "origins",
    multiple=True,
    callback=lambda _ctx, _param, values: tuple(map(_origin, values)),
    help="The backend's origin when the site calls a search API elsewhere "
    "(e.g. https://api.marketplace.example).",
)
@click.option(
    "--logos",
    is_flag=True,
    is_eager=True,  # answered before --site-dir is checked: these headers need no built site
    expose_value=False,
    callback=lambda ctx, _param, wanted: _print_logo_headers(ctx) if wanted else None,
    help="Print instead the headers for logos/ and every .svg file, one 'Name: value' a line.",
)
def csp(site_dir: Path, origins: tuple[str, ...]) -> None:
    """Print the Content-Security-Policy header for the built site (for a static host)."""
    from consent_app.security import policy_for_site

    click.echo(policy_for_site(site_dir, origins))


_ORIGIN = re.compile(
    r"https?://(?:[\w-]+(?:\.[\w-]+)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?", re.ASCII
)


def _origin(value: str) -> str:
    """`value` as a CSP source (`scheme://host[:port]`); anything else could add directives to
    the policy (a space or a `;`), so it is refused."""
    origin = value.strip().removesuffix("/")
    if not _ORIGIN.fullmatch(origin):
        raise click.BadParameter(
            f"{value!r} is not an origin such as https://api.marketplace.example"
        )
    return origin


def _print_logo_headers(ctx: click.Context) -> None:
    from consent_app.security import LOGO_HEADERS

    for name, value in LOGO_HEADERS.items():
        click.echo(f"{name}: {value}")
    ctx.exit()


COMMANDS = (config, db, tenants, keys, partners, leads, audit, mail, csp)
"""The groups `marketplace` adds to its command line (`marketplace_app.cli.OPERATOR_COMMANDS`
names them, so they load only when used)."""
