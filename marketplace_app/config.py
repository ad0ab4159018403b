"""The one configuration, built at the edge: defaults, the instance folder's key files and
`MARKETPLACE_*` variables (through pydantic-settings) become one `Settings`, once per process.

The app (`create_app(settings)`) and the operator commands receive it; nothing else reads the
environment. Which source won is kept beside it, so `marketplace config` can say where each
value came from. Values a command line gives win over the environment; values a command only
suggests (`serve`'s own address as the base URL) lose to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import SecretStr
from pydantic_settings import EnvSettingsSource

from consent_app.instance import AUDIT_KEY_FILE, SECRET_KEY_FILE, audit_key, ensure_instance
from consent_app.instance import secret_key as instance_secret_key
from consent_app.settings import VARIABLES, Settings, SettingsError, variable

DEFAULT = "default"
ENVIRONMENT = "environment"
INSTANCE_FILE = "instance file"
COMMAND_LINE = "command line"

MASKED = "********"
URL_SETTINGS = ("database_url", "smtp_url", "rate_limit_storage_url")
"""Settings that are URLs and may carry a password."""
_SECRET_QUERY_WORDS = ("pass", "secret", "token", "key")


@dataclass(frozen=True)
class Configuration:
    """The settings and, for each field, where its value came from."""

    settings: Settings
    origins: Mapping[str, str]


def _by_field(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` keyed by field name, whether given by field or by variable name."""
    return {VARIABLES.get(key.upper(), key): value for key, value in values.items()}


def _instance_key(instance_dir: Path, field: str) -> str:
    read, file = (
        (instance_secret_key, SECRET_KEY_FILE)
        if field == "secret_key"
        else (lambda folder: audit_key(folder).decode("utf-8"), AUDIT_KEY_FILE)
    )
    try:
        return read(instance_dir)
    except (OSError, RuntimeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise SettingsError(
            f"{variable(field)} is not set and {instance_dir / file} cannot be used: {reason}"
        ) from None


def load_configuration(
    instance_dir: Path | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    fallbacks: Mapping[str, Any] | None = None,
    environment: bool = True,
) -> Configuration:
    """The configuration from, first to last: `overrides` (and `instance_dir`) from a command
    line, the `MARKETPLACE_*` environment, a command's `fallbacks`, the key files in the
    instance folder (created when missing), the defaults. `SettingsError` (one line naming the
    variable) when a value does not fit."""
    given = _by_field(overrides or {})
    if instance_dir is not None:
        given["instance_dir"] = instance_dir
    from_environment = _by_field(EnvSettingsSource(Settings)()) if environment else {}
    suggested = _by_field(fallbacks or {})
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for layer, origin in (
        (suggested, COMMAND_LINE),
        (from_environment, ENVIRONMENT),
        (given, COMMAND_LINE),
    ):
        values.update(layer)
        origins.update(dict.fromkeys(layer, origin))
    # An empty MARKETPLACE_SECRET_KEY means "not set" (as it always did); an empty audit key
    # is refused below rather than silently replaced, since every worker must share it.
    if values.get("secret_key") == "":
        del values["secret_key"], origins["secret_key"]
    folder = Path(values.get("instance_dir") or Settings.model_fields["instance_dir"].default)
    for field in ("secret_key", "audit_key"):
        if field not in values:
            try:
                ensure_instance(folder.absolute())
            except OSError as error:
                raise SettingsError(
                    f"MARKETPLACE_INSTANCE: cannot use the folder {folder}: "
                    f"{error.strerror or error}"
                ) from None
            values[field] = _instance_key(folder.absolute(), field)
            origins[field] = INSTANCE_FILE
    settings = Settings.from_values(values)
    for field in Settings.model_fields:
        origins.setdefault(field, DEFAULT)
    return Configuration(settings, origins)


def load_settings(instance_dir: Path | None = None, **overrides: Any) -> Settings:
    """The settings of this process (see `load_configuration`)."""
    return load_configuration(instance_dir, overrides=overrides).settings


def settings_for(instance_dir: Path, **overrides: Any) -> Settings:
    """Settings for an instance folder and the given values (by field or variable name),
    ignoring the environment: what tests and benchmarks build."""
    return load_configuration(instance_dir, overrides=overrides, environment=False).settings


def masked_url(url: str) -> str:
    """`url` with any password (in the user part or the query) replaced by asterisks."""
    parts = urlsplit(url)
    netloc, query = parts.netloc, parts.query
    user, at, host = netloc.rpartition("@")
    name, colon, _password = user.partition(":")
    if at and colon:
        netloc = f"{name}:{MASKED}@{host}"
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(word in key.lower() for key, _ in pairs for word in _SECRET_QUERY_WORDS):
        masked = [
            (key, MASKED if any(word in key.lower() for word in _SECRET_QUERY_WORDS) else value)
            for key, value in pairs
        ]
        query = urlencode(masked, safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return url  # untouched: urlunsplit would also drop an empty authority (sqlite:////…)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def shown_value(field: str, value: object) -> str:
    """A setting's value as `marketplace config` prints it: secrets masked."""
    if isinstance(value, SecretStr):
        return MASKED
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "on" if value else "off"
    if field in URL_SETTINGS:
        return masked_url(str(value))
    return str(value)


@dataclass(frozen=True)
class ShownSetting:
    """One line of `marketplace config`."""

    variable: str
    value: str
    origin: str


def shown_settings(configuration: Configuration) -> list[ShownSetting]:
    """Every setting: its variable, its value (secrets masked) and where it came from."""
    settings = configuration.settings
    shown = []
    for field in Settings.model_fields:
        origin = configuration.origins[field]
        if origin == INSTANCE_FILE:
            file = SECRET_KEY_FILE if field == "secret_key" else AUDIT_KEY_FILE
            origin = f"{INSTANCE_FILE} {settings.instance_dir / file}"
        shown.append(
            ShownSetting(variable(field), shown_value(field, getattr(settings, field)), origin)
        )
    return shown
