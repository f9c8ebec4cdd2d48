"""Cosmos-style JSON patch semantics (set/add/replace/remove/incr) applied in memory."""

from __future__ import annotations

import copy
from typing import Any

from shared.errors import InvalidInput
from shared.storage.documents import Document, PatchOp

PROTECTED = ("/id", "/pk")


def _segments(path: str) -> list[str]:
    if not path.startswith("/") or path == "/":
        raise InvalidInput(f"patch path {path!r} must start with '/' and name a field")
    if path in PROTECTED or path.startswith("/_"):
        raise InvalidInput(f"patch path {path!r} names a key or system field; it cannot change")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(parent: list[Any], token: str, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(parent)
    if not token.isdigit():
        raise InvalidInput(f"array index {token!r} is not a non-negative integer")
    index = int(token)
    if index > len(parent) or (index == len(parent) and not allow_end):
        raise InvalidInput(f"array index {index} is out of range")
    return index


def _number(value: Any, what: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"incr needs numbers; {what} is {value!r}")
    return value


def _apply(doc: Document, operation: PatchOp) -> None:
    parts = _segments(operation.path)
    parent: Any = doc
    for token in parts[:-1]:
        if isinstance(parent, dict) and token in parent:
            parent = parent[token]
        elif isinstance(parent, list) and token.isdigit() and int(token) < len(parent):
            parent = parent[int(token)]
        else:
            raise InvalidInput(f"patch path {operation.path!r}: {token!r} does not exist")
    last = parts[-1]
    op, value = operation.op, operation.value
    if isinstance(parent, dict):
        exists = last in parent
        if op in ("set", "add"):
            parent[last] = value
        elif op == "replace":
            if not exists:
                raise InvalidInput(f"replace: {operation.path!r} does not exist")
            parent[last] = value
        elif op == "remove":
            if not exists:
                raise InvalidInput(f"remove: {operation.path!r} does not exist")
            del parent[last]
        else:
            step = _number(value, "the increment")
            parent[last] = _number(parent[last], operation.path) + step if exists else step
    elif isinstance(parent, list):
        if op == "add":
            parent.insert(_index(parent, last, allow_end=True), value)
        elif op == "set":
            index = _index(parent, last, allow_end=True)
            if index == len(parent):
                parent.append(value)
            else:
                parent[index] = value
        elif op == "replace":
            parent[_index(parent, last, allow_end=False)] = value
        elif op == "remove":
            del parent[_index(parent, last, allow_end=False)]
        else:
            index = _index(parent, last, allow_end=False)
            parent[index] = _number(parent[index], operation.path) + _number(value, "increment")
    else:
        raise InvalidInput(f"patch path {operation.path!r} goes through a scalar")


def apply_patch(doc: Document, operations: list[PatchOp]) -> Document:
    """A patched copy of `doc`; `InvalidInput` if an operation does not fit the document."""
    if not operations:
        raise InvalidInput("patch needs at least one operation")
    patched = copy.deepcopy(doc)
    for operation in operations:
        _apply(patched, operation)
    return patched
