"""Turn pydantic's validation errors into messages a partner can act on."""

from __future__ import annotations

import types
import typing
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from marketplace.suggest import did_you_mean
from marketplace.yamlsource import FieldPath, looks_like_yaml11_bool

_TYPE_WORDS = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping (key: value lines)",
    "model_type": "a mapping (key: value lines)",
    "model_attributes_type": "a mapping (key: value lines)",
    "literal_error": None,
}


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    return f"the number {value!r}"


def describe_validation_error(
    error: ValidationError, model: type[BaseModel] | None = None
) -> list[tuple[FieldPath, str, bool]]:
    """Each error as (location path, message, whether to point at the key rather than value)."""
    described = []
    for item in error.errors(include_url=False):
        loc: FieldPath = tuple(item["loc"])
        kind, value = item["type"], item.get("input")
        if isinstance(value, str) and kind in ("too_long", "too_short"):
            kind = "string_" + kind  # constrained Annotated strings report the list-like kind
        key_error = bool(loc) and loc[-1] == "[key]"
        if key_error:
            loc = loc[:-1]
        ctx = item.get("ctx") or {}
        as_key = False
        if kind == "missing":
            message = f"missing required field {loc[-1]!r}"
        elif kind == "extra_forbidden":
            allowed = _field_names_at(model, loc[:-1]) if model else []
            message = f"unknown field {loc[-1]!r}" + did_you_mean(str(loc[-1]), allowed)
            as_key = True
        elif kind in _TYPE_WORDS and kind != "literal_error":
            if value is None:
                message = "a value is required here, but it is empty"
            else:
                message = f"expected {_TYPE_WORDS[kind]}, found {_kind(value)}"
                if kind == "bool_type" and looks_like_yaml11_bool(value):
                    message += " (write true or false)"
        elif kind == "literal_error":
            expected = ctx.get("expected", "")
            message = f"must be one of {expected}, found {_kind(value)}"
            if isinstance(value, str):
                choices = [c.strip(" '") for c in str(expected).replace(" or ", ", ").split(",")]
                message += did_you_mean(value, [c for c in choices if c])
        elif kind == "string_too_long":
            message = f"is {len(value)} characters long; at most {ctx['max_length']} are allowed"
        elif kind == "string_too_short":
            message = (
                f"is {len(value)} characters long; at least {ctx['min_length']} are needed"
                if value
                else "must not be empty"
            )
        elif kind == "too_long":
            message = f"has {len(value)} items; at most {ctx['max_length']} are allowed"
        elif kind == "too_short":
            message = f"needs at least {ctx['min_length']} item(s)"
        else:
            message = str(item["msg"])
            if message.startswith("Value error, "):
                message = message.removeprefix("Value error, ")
            message = message[:1].lower() + message[1:]
        described.append((loc, message, as_key or key_error))
    return described


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types inside Optional/Union/Annotated."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [t for arg in get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _field_names_at(model: type[BaseModel], path: FieldPath) -> list[str]:
    """The field names of the model found by walking `path` from `model`, for suggestions."""
    current: list[Any] = [model]
    for step in path:
        following: list[Any] = []
        for annotation in current:
            for concrete in _unwrap(annotation):
                origin = get_origin(concrete)
                if (
                    isinstance(step, str)
                    and isinstance(concrete, type)
                    and issubclass(concrete, BaseModel)
                    and step in concrete.model_fields
                ):
                    following.append(concrete.model_fields[step].annotation)
                elif origin in (list, tuple) and isinstance(step, int):
                    following.append(get_args(concrete)[0])
                elif origin is dict and isinstance(step, str):
                    following.append(get_args(concrete)[1])
        current = following
    names: list[str] = []
    for annotation in current:
        for concrete in _unwrap(annotation):
            if isinstance(concrete, type) and issubclass(concrete, BaseModel):
                names.extend(concrete.model_fields)
    return names
