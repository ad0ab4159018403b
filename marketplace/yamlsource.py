"""Load one YAML document into plain Python values plus the position of every value.

PyYAML's libyaml parser composes a node tree whose marks carry line and column; we build the
values ourselves from that tree instead of using a constructor, for four reasons:

* every value and every mapping key keeps its position, so any later problem can be located;
* duplicate keys, anchors/aliases (the "billion laughs" bomb), merge keys and explicit tags are
  reported as problems instead of being silently accepted or expanded;
* scalars follow YAML 1.2's core schema for booleans: only true/false are booleans, so
  `headquarters: NO` (Norway) or `languages: [no]` (Norwegian) stay strings;
* timestamps stay the text the partner wrote (the listing format has no date type).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml is in every PyYAML wheel we support
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

FieldPath = tuple[str | int, ...]
"""Where a value sits in a document: the mapping keys and sequence indexes from its root."""
Position = tuple[int, int]  # 1-based line, 1-based column

_TAG = "tag:yaml.org,2002:"
_TRUE_FALSE = {
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
}
_YAML11_BOOL_WORDS = re.compile(r"^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF)$")
# Used only for its int/float conversions, which read nothing but the node it is given.
_SCALARS = SafeConstructor()


class YamlProblem(Exception):
    """A document that cannot be turned into values; carries where and why."""

    def __init__(self, message: str, position: Position = (1, 1)) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass
class LocatedDocument:
    """A document's values, and its node tree to say where any of them was written.

    Positions are looked up only when a problem needs one: most documents are valid, and
    recording the position of every value up front cost more than parsing them.
    """

    value: Any
    root: Node
    problems: list[tuple[FieldPath, Position, str]] = field(default_factory=list)

    def locate(self, path: FieldPath, *, key: bool = False) -> Position:
        """The position of the value at `path` (or of its key), or of its nearest ancestor."""
        node, key_node = self.root, None
        for step in path:
            child = None
            if isinstance(node, MappingNode) and isinstance(step, str):
                for candidate_key, candidate_value in node.value:
                    if isinstance(candidate_key, ScalarNode) and candidate_key.value == step:
                        key_node, child = candidate_key, candidate_value
                        break
            elif (
                isinstance(node, SequenceNode)
                and isinstance(step, int)
                and 0 <= step < len(node.value)
            ):
                key_node, child = None, node.value[step]
            if child is None:
                return _position(node)
            node = child
        return _position(key_node if key and key_node is not None else node)


def offset_position(text: str, offset: int) -> Position:
    """The 1-based line and column of character `offset` in `text`."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _position(node: Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


def parse_document(text: str) -> LocatedDocument:
    """Parse `text` as exactly one YAML document; raise YamlProblem when that is impossible.

    Problems that still leave a usable value (a duplicate key, an alias) are collected in
    `problems` rather than raised, so the caller can report them alongside model errors.
    """
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        detail = " ".join(str(part) for part in (error.context, error.problem) if part)
        raise YamlProblem(f"YAML syntax error: {detail}", where) from None
    except ReaderError as error:
        character = error.character if isinstance(error.character, int) else ord(error.character)
        raise YamlProblem(
            f"character U+{character:04X} is not allowed in YAML ({error.reason})",
            offset_position(text, error.position),
        ) from None
    except yaml.YAMLError as error:
        raise YamlProblem(f"YAML error: {error}") from None
    if root is None:
        raise YamlProblem("the file is empty")
    document = LocatedDocument(value=None, root=root)
    # An alias needs an anchor, and an anchor needs '&': without one, no node can repeat.
    document.value = _Builder(document, track_aliases="&" in text).build(root, ())
    return document


class _Builder:
    def __init__(self, document: LocatedDocument, *, track_aliases: bool) -> None:
        self.document = document
        self.track_aliases = track_aliases
        self.seen: set[int] = set()

    def problem(self, path: FieldPath, node: Node, message: str) -> None:
        self.document.problems.append((path, _position(node), message))

    def build(self, node: Node, path: FieldPath) -> Any:
        if self.track_aliases:
            if id(node) in self.seen:
                # libyaml hands back the very same node object for an alias.
                self.problem(
                    path,
                    node,
                    "YAML anchors and aliases (&name, *name) are not allowed; write the value out",
                )
                return None
            self.seen.add(id(node))
        if isinstance(node, MappingNode):
            return self.build_mapping(node, path)
        if isinstance(node, SequenceNode):
            if node.tag != _TAG + "seq":
                self.problem(path, node, f"YAML tags such as {node.tag!r} are not allowed")
            return [self.build(item, (*path, index)) for index, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self.build_scalar(node, path)

    def build_mapping(self, node: MappingNode, path: FieldPath) -> dict[str, Any]:
        if node.tag != _TAG + "map":
            self.problem(path, node, f"YAML tags such as {node.tag!r} are not allowed")
        result: dict[str, Any] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                self.problem(path, key_node, "YAML merge keys (<<) are not allowed")
                continue
            if not isinstance(key_node, ScalarNode) or id(key_node) in self.seen:
                self.problem(path, key_node, "mapping keys must be plain words")
                continue
            if self.track_aliases:
                self.seen.add(id(key_node))
            key = key_node.value
            if key in result:
                self.problem(
                    (*path, key),
                    key_node,
                    f"duplicate key {key!r} (first written on line {key_lines[key]})",
                )
                continue
            key_lines[key] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, (*path, key))
        return result

    def build_scalar(self, node: ScalarNode, path: FieldPath) -> Any:
        tag, text = node.tag, node.value
        if not tag.startswith(_TAG):
            self.problem(path, node, f"YAML tags such as {tag!r} are not allowed")
            return text
        # A plain scalar's style is None (pure-Python parser) or '' (libyaml).
        if node.style or tag == _TAG + "str":
            return text
        if tag == _TAG + "null":
            return None
        if tag == _TAG + "bool":
            if text in _TRUE_FALSE:
                return _TRUE_FALSE[text]
            return text  # yes/no/on/off are words, not booleans (YAML 1.2)
        try:
            if tag == _TAG + "int":
                return _SCALARS.construct_yaml_int(node)
            if tag == _TAG + "float":
                return _SCALARS.construct_yaml_float(node)
        except (ConstructorError, ValueError):
            return text
        # Timestamps, binary and any other core tag stay the text that was written.
        return text


def looks_like_yaml11_bool(value: object) -> bool:
    """True for words YAML 1.1 tools read as booleans (yes/no/on/off), to hint `true`/`false`."""
    return isinstance(value, str) and bool(_YAML11_BOOL_WORDS.match(value))
