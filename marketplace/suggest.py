"""'Did you mean …?' for near-misses of keys and catalog values."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(value: str, choices: Iterable[str]) -> str | None:
    """The choice `value` was most likely meant to be, or None when nothing is close."""
    options = list(choices)
    folded = {option.casefold(): option for option in options}
    if value.casefold() in folded:
        return folded[value.casefold()]
    matches = difflib.get_close_matches(value, options, n=1, cutoff=0.75)
    return matches[0] if matches else None


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """'; did you mean 'x'?' or '' — ready to append to a message."""
    guess = closest(value, choices)
    return f"; did you mean {guess!r}?" if guess else ""
