"""JSON text from outside, checked for what Python's parser takes but nothing after it can.

Python's `json` accepts `NaN` and `Infinity` (not JSON numbers in RFC 8259: PostgreSQL's JSONB
refuses them and no JSON response can carry them back) and recurses once per nesting level
(a deep enough document raises `RecursionError`, and every recursive walk after the parser has
the same problem). One rule for every edge that reads JSON from outside: the HTTP middleware
for request bodies, the import for its JSON lines and CSV cells.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Generous for real documents (webhook envelopes, attributes, campaign configs are < 10 deep)
# and far below any recursion limit on the way (parser, pydantic, SQLAlchemy's serialiser).
MAX_DEPTH = 64

# A JSON string with its escapes: its content is text, never structure.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_NUMBERS = re.compile(rb"NaN|Infinity")
_BRACKETS_ONLY = bytes(range(256)).translate(None, b"[]{}")
_OPENING = frozenset(b"[{")


class JsonShapeError(ValueError):
    """Valid for Python's parser, refused here: too deep, or NaN/Infinity."""


def shape_problem(text: bytes | str, *, max_depth: int = MAX_DEPTH) -> str | None:
    """Why this JSON text is refused (nesting or non-numbers outside strings), or None.

    It does not validate the JSON: a malformed text is left to the parser to report.
    """
    raw = text.encode() if isinstance(text, str) else text
    # Most texts are cleared by counting alone (C speed): the scan below only runs when the
    # words appear somewhere, or when there are more brackets than levels allowed.
    words = b"NaN" in raw or b"Infinity" in raw
    if not words and raw.count(b"[") + raw.count(b"{") <= max_depth:
        return None
    structure = _STRING.sub(b"", raw)
    if words and _NOT_NUMBERS.search(structure):
        return "NaN and Infinity are not JSON numbers"
    if _deeper_than(structure.translate(None, _BRACKETS_ONLY), max_depth):
        return f"JSON may not be nested more than {max_depth} levels deep"
    return None


def _deeper_than(brackets: bytes, limit: int) -> bool:
    depth = 0
    for bracket in brackets:
        depth += 1 if bracket in _OPENING else -1
        if depth > limit:
            return True
    return False


def loads(text: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads` for text from outside: `JsonShapeError` for what `shape_problem` refuses,
    `json.JSONDecodeError` (or `UnicodeDecodeError`) for text that is not JSON at all."""
    problem = shape_problem(text, max_depth=max_depth)
    if problem:
        raise JsonShapeError(problem)
    return json.loads(text)
