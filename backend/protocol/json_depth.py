"""How deeply a JSON document nests, measured before it is parsed.

Python's JSON decoder recurses: a hostile document nested thousands deep
costs stack, and whether it raises RecursionError depends on the
interpreter's recursion limit, which other libraries raise. Every JSON input
from outside (meter readings, bridge statuses, API bodies) is measured here
first and refused above its own limit, so the answer never depends on that.
"""

from __future__ import annotations

_QUOTE, _BACKSLASH = 0x22, 0x5C
_OPEN, _CLOSE = frozenset(b"[{"), frozenset(b"]}")


def nesting_depth(raw: bytes, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays and objects in ``raw``, brackets inside strings ignored.

    With ``stop_above``, the walk ends as soon as the depth passes it (the
    answer is then ``stop_above + 1``): a hostile document is not read to its end.
    """
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    return deepest
        elif byte in _CLOSE:
            depth -= 1
    return deepest


def nests_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether ``raw`` nests arrays and objects deeper than ``limit``; C-fast when it has few brackets."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    return nesting_depth(raw, stop_above=limit) > limit
